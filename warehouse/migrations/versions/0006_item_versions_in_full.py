"""every version of a power item keeps what a case is judged by (time unit, fee, penalty range, flow)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 15:00:00.000000

A case's promised limit is copied from the item at acceptance (§3.3), and supervision judges the
case by that same version: its time unit for the deadline, its flow (LC01, LC02), its fee (NR01)
and its penalty range (CL01). A later version (a fee raised, a step added) must not turn cases
finished under the earlier one into red cards.

``dim_power_item_history`` had only what validation needs (state, department, promised limit).
The new columns are filled for the current version of every item from ``dim_power_item``; the
earlier versions recorded before this revision stay without them and are not used by supervision,
which falls back to the version it knows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _code(length: int) -> sa.types.TypeEngine:
    # as warehouse.tables.Key: compared byte for byte on PostgreSQL (migration 0004)
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


COLUMNS = (
    ("power_type", lambda: _code(2)),
    ("time_unit", lambda: _code(2)),
    ("fee", lambda: sa.Numeric(precision=15, scale=2)),
    ("penalty_min", lambda: sa.Numeric(precision=15, scale=2)),
    ("penalty_max", lambda: sa.Numeric(precision=15, scale=2)),
    ("flow", lambda: sa.JSON()),
)


def upgrade() -> None:
    with op.batch_alter_table("dim_power_item_history") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind(), nullable=True))
    names = [name for name, _ in COLUMNS]
    op.execute(
        "UPDATE dim_power_item_history SET "
        + ", ".join(
            f"{c} = (SELECT i.{c} FROM dim_power_item i WHERE i.power_code = dim_power_item_history.power_code)"
            for c in names
        )
        + " WHERE version = (SELECT i.version FROM dim_power_item i"
        " WHERE i.power_code = dim_power_item_history.power_code)"
    )


def downgrade() -> None:
    with op.batch_alter_table("dim_power_item_history") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
