"""case and step pages keep room for the records' next versions on PostgreSQL (fillfactor 85 and 90)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 14:00:00.000000

A case is stored again at every new version, a step once it finishes. When the page that holds the
old row has room and no indexed column changes, PostgreSQL writes the new row beside it and leaves
the indexes alone (a heap-only tuple update): for a case, its primary key and the department and
received-time indexes. Filled to 100 %, every page is full after the first load and every update
inserts into every index of its table.

Only PostgreSQL changes. The setting applies to pages written from now on; the pages already filled
stay as they are until the table is rewritten (``VACUUM FULL fct_case`` in a maintenance window, if
one wants the room there too). SQLite has no such setting.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


FILLFACTORS = {"fct_case": 85, "fct_case_step": 90}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, percent in FILLFACTORS.items():
            op.execute(f"ALTER TABLE {table} SET (fillfactor = {percent})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in FILLFACTORS:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
