"""exchange bookkeeping in ops_exchange_sent instead of exchange_seq in the record tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 09:00:00.000000

What has been sent to Changzhou moves to a narrow table (entity, record key, SHA-256 of the
content sent, package sequence), so that claiming rows for a package no longer rewrites the wide
record tables. The sent state is copied over: every row that had an ``exchange_seq`` gets an
entry with its current ``payload_sha256``; rows without one stay pending.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# table, entity, the record key as ops_exchange_sent spells it (the key columns joined with "/")
RECORD_KEYS = (
    ("dim_department", "department", "dept_code"),
    ("dim_power_item", "power_item", "power_code"),
    ("fct_case", "case", "source_system || '/' || case_id"),
    ("fct_case_step", "case_step", "source_system || '/' || case_id || '/' || CAST(step_no AS VARCHAR)"),
    ("fct_complaint", "complaint", "complaint_id"),
    ("fct_supervision_event", "supervision_event", "event_key"),
)


def upgrade() -> None:
    op.create_table(
        "ops_exchange_sent",
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("record_key", sa.Text(), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("entity", "record_key", name=op.f("pk_ops_exchange_sent")),
        sqlite_with_rowid=False,
    )
    for table, entity, key in RECORD_KEYS:
        op.execute(
            f"INSERT INTO ops_exchange_sent (entity, record_key, payload_sha256, sequence)"
            f" SELECT '{entity}', {key}, payload_sha256, exchange_seq FROM {table} WHERE exchange_seq IS NOT NULL"
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("exchange_seq")


def downgrade() -> None:
    for table, entity, key in RECORD_KEYS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("exchange_seq", sa.Integer(), nullable=True))
        # Only a row whose current content was sent gets its package back; others stay pending (NULL).
        # The key columns are the outer table's: ops_exchange_sent has none of those names.
        op.execute(
            f"UPDATE {table} SET exchange_seq = (SELECT s.sequence FROM ops_exchange_sent s"
            f" WHERE s.entity = '{entity}' AND s.record_key = {key} AND s.payload_sha256 = {table}.payload_sha256)"
        )
    op.drop_table("ops_exchange_sent")
