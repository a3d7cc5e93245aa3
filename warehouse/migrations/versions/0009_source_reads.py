"""the last read of each source, so that supervision never judges a half-loaded change

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 17:00:00.000000

A source's change is loaded batch by batch, each batch in its own transaction. A read that fails
after some batches (the cases loaded, the steps not), or a process killed mid-read, leaves the
warehouse holding part of it; completed cases without their steps then look like LC01 red cards.
``ops_source_read`` keeps each source's last read: READING while it runs, COMPLETE, FAILED (nothing
of it loaded) or PARTIAL. Supervision runs only when no active source's last read is READING or
PARTIAL. Sources read before this revision have no row and count as complete.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import warehouse.tables

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _code(length: int) -> sa.types.TypeEngine:
    # as warehouse.tables.Key: compared byte for byte on PostgreSQL (migration 0004)
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ops_source_read",
        sa.Column("source_system", _code(32), nullable=False),
        sa.Column("cycle_id", _code(64), nullable=False),
        sa.Column("started_at", warehouse.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", warehouse.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("state", _code(10), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("source_system", name=op.f("pk_ops_source_read")),
    )


def downgrade() -> None:
    op.drop_table("ops_source_read")
