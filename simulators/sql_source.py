"""A self-built system's 前置库: the published exchange views on SQLite or PostgreSQL, filled with records.

The tables and views are created by executing the published DDL
(``schemas/interface_standard/v1/interfaces/exchange_views.sql``) as it is, so a test against
this simulator also tests the DDL that departments receive.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors.remote import parse_instant
from connectors.sql_view import entity_columns

__all__ = ["PUBLISHED_DDL", "create_exchange_views", "fill", "upsert_records"]

PUBLISHED_DDL = (
    Path(__file__).resolve().parent.parent
    / "schemas"
    / "interface_standard"
    / "v1"
    / "interfaces"
    / "exchange_views.sql"
)


def _statements(ddl: str) -> list[str]:
    body = "\n".join(line for line in ddl.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def create_exchange_views(engine: sa.Engine, *, schema: str | None = None) -> None:
    """Execute the published DDL (in ``schema`` on PostgreSQL, which must exist)."""
    with engine.begin() as conn:
        if schema is not None:
            conn.execute(sa.text(f'SET LOCAL search_path TO "{schema}"'))
        for statement in _statements(PUBLISHED_DDL.read_text(encoding="utf-8")):
            conn.execute(sa.text(statement))


def _value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return parse_instant(str(value)) if not isinstance(value, datetime) else value
    if kind == "money":
        return Decimal(str(value))
    if kind == "flow":
        return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return value


def upsert_records(
    engine: sa.Engine, entity: str, records: Iterable[Mapping[str, Any]], *, schema: str | None = None
) -> int:
    """Write records into ``sanheyi_{entity}`` (replacing the row of the same key), as a source would."""
    from schemas.standard import KEY_FIELDS

    columns = entity_columns(entity)
    table = sa.table(f"sanheyi_{entity}", *[sa.column(n, t) for n, _k, t, _d in columns], schema=schema)
    rows = [{n: _value(k, r.get(n)) for n, k, _t, _d in columns} for r in records]
    keys = KEY_FIELDS[entity]
    with engine.begin() as conn:
        for row in rows:
            conn.execute(sa.delete(table).where(*[table.c[k] == row[k] for k in keys]))
        if rows:
            conn.execute(sa.insert(table), rows)
    return len(rows)


def fill(engine: sa.Engine, folder: Path, *, schema: str | None = None, entities: Iterable[str] = ()) -> dict[str, int]:
    """Load ``{entity}.*.jsonl`` files of ``folder`` into the 前置库; counts per entity."""
    wanted = set(entities)
    counts: dict[str, int] = {}
    for path in sorted(folder.glob("*.jsonl")):
        entity = path.name.split(".", 1)[0]
        if wanted and entity not in wanted:
            continue
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        counts[entity] = counts.get(entity, 0) + upsert_records(engine, entity, records, schema=schema)
    return counts
