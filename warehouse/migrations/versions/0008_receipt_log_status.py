"""the receipt log keeps each applied receipt's verdict (ops_receipt_log.status)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 09:00:00.000000

A package that is resent after a receipt awaits a receipt again, and the next receipt replaces the
status on ``ops_package``. The log keeps every verdict: ACCEPTED or REJECTED on an applied receipt's
line, NULL on a refused one and on lines logged before this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    key = sa.String(10).with_variant(sa.String(10, collation="C"), "postgresql")
    op.add_column("ops_receipt_log", sa.Column("status", key, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ops_receipt_log", schema=None) as batch_op:
        batch_op.drop_column("status")
