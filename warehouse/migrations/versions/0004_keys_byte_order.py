"""codes, identifiers and keys compared byte for byte on PostgreSQL (COLLATE "C")

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 12:00:00.000000

Every ``VARCHAR`` column of the hub's tables holds a code, an identifier, a digest or a status, and
``record_key`` and ``file_name`` are keys built from such values. Under the database's locale each
comparison in their primary keys and indexes goes through ``strcoll``; under ``"C"`` it is a
``memcmp``, and the order is the one SQLite's ``BINARY`` gives. Names, notes, payloads and origins
keep the database's collation.

Only PostgreSQL changes (SQLite compares bytes already). The tables are not rewritten; the indexes
on the altered columns are rebuilt, once, as part of the upgrade.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TEXT_KEYS = ("record_key", "file_name")


def _key_columns(conn: sa.Connection) -> dict[str, list[tuple[str, str]]]:
    """Per hub table: (column, its type as PostgreSQL spells it) for every column this revision alters."""
    rows = conn.execute(
        sa.text(
            "SELECT table_name, column_name, data_type, character_maximum_length FROM information_schema.columns"
            " WHERE table_schema = current_schema()"
            " AND (table_name LIKE 'dim\\_%' OR table_name LIKE 'fct\\_%' OR table_name LIKE 'ops\\_%')"
            " AND (data_type = 'character varying' OR (data_type = 'text' AND column_name IN :text_keys))"
            " ORDER BY table_name, ordinal_position"
        ).bindparams(sa.bindparam("text_keys", expanding=True)),
        {"text_keys": list(TEXT_KEYS)},
    )
    columns: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for table, column, data_type, length in rows:
        columns[table].append((column, f"varchar({length})" if data_type == "character varying" else "text"))
    return columns


def _collate(collation: str) -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table, columns in _key_columns(conn).items():
        alters = ", ".join(f'ALTER COLUMN "{c}" TYPE {t} COLLATE "{collation}"' for c, t in columns)
        conn.exec_driver_sql(f'ALTER TABLE "{table}" {alters}')


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
