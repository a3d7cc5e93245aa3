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
on the altered columns are rebuilt, once, as part of the upgrade. PostgreSQL cannot alter a column a
view reads: such views (a reporting tool's, say) are named in the error, to be dropped and made again
around the upgrade.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from schemas.errors import FatalError

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


def _views_reading(conn: sa.Connection, columns: dict[str, list[tuple[str, str]]]) -> list[str]:
    """Views (plain or materialised, in any schema) that read one of ``columns``."""
    pairs = [f"{table}.{column}" for table, cols in columns.items() for column, _ in cols]
    if not pairs:
        return []
    rows = conn.execute(
        sa.text(
            "SELECT DISTINCT vn.nspname || '.' || v.relname FROM pg_depend d"
            " JOIN pg_rewrite r ON r.oid = d.objid"
            " JOIN pg_class v ON v.oid = r.ev_class"
            " JOIN pg_namespace vn ON vn.oid = v.relnamespace"
            " JOIN pg_class t ON t.oid = d.refobjid"
            " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid"
            " WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass"
            " AND v.oid <> t.oid AND t.relnamespace = current_schema()::regnamespace"
            " AND t.relname || '.' || a.attname IN :pairs ORDER BY 1"
        ).bindparams(sa.bindparam("pairs", expanding=True)),
        {"pairs": pairs},
    )
    return [name for (name,) in rows]


def _collate(collation: str) -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    columns = _key_columns(conn)
    views = _views_reading(conn, columns)
    if views:
        raise FatalError(
            f"warehouse upgrade 0004 changes the collation of key columns that these views read: "
            f"{', '.join(views)}. Save their definitions, drop them, run `sanheyi init` again, then "
            "create them again"
        )
    for table, table_columns in columns.items():
        alters = ", ".join(f'ALTER COLUMN "{c}" TYPE {t} COLLATE "{collation}"' for c, t in table_columns)
        conn.exec_driver_sql(f'ALTER TABLE "{table}" {alters}')


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
