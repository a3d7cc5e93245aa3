"""the load batch every package was claimed through (ops_package.loaded_through_batch_id)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 09:00:00.000000

On SQLite one writer commits at a time and the package builder holds the write lock, so when a
package is claimed every load batch up to the highest batch id has committed (or left nothing).
Every row of those batches is then sent, and after that package only rows of later batches can be
pending: the next package looks those up instead of every row. NULL — every package before this
revision, and every package built on PostgreSQL — means that every row is looked up.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ops_package", sa.Column("loaded_through_batch_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ops_package", schema=None) as batch_op:
        batch_op.drop_column("loaded_through_batch_id")
