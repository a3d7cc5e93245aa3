"""fct_case pages keep room for a case's next versions on PostgreSQL (fillfactor 85)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 14:00:00.000000

A case is stored again at every new version. When the page that holds the old row has room and no
indexed column changes, PostgreSQL writes the new row beside it and leaves the primary key and the
department and received-time indexes alone (a heap-only tuple update). Filled to 100 %, every page is
full after the first load and every update inserts into all three indexes.

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


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE fct_case SET (fillfactor = 85)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE fct_case RESET (fillfactor)")
