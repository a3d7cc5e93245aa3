"""Incremental-read cursors per source system, committed with the batch they follow."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from warehouse.tables import ops_cursor

_ALL_ENTITIES = "*"


def _to_json(cursor: Any) -> Any:
    if hasattr(cursor, "to_json"):
        return cursor.to_json()
    if dataclasses.is_dataclass(cursor):
        return dataclasses.asdict(cursor)
    return cursor


def save_cursor(conn: Connection, source_system: str, cursor: Any, at: datetime) -> None:
    conn.execute(
        delete(ops_cursor).where(ops_cursor.c.source_system == source_system, ops_cursor.c.entity == _ALL_ENTITIES)
    )
    conn.execute(
        insert(ops_cursor).values(
            source_system=source_system, entity=_ALL_ENTITIES, cursor=_to_json(cursor), updated_at=at
        )
    )


def load_cursor(conn: Connection, source_system: str) -> Any:
    """The stored cursor as JSON data (``None`` before the first read); the connector decodes it."""
    return conn.execute(
        select(ops_cursor.c.cursor).where(
            ops_cursor.c.source_system == source_system, ops_cursor.c.entity == _ALL_ENTITIES
        )
    ).scalar_one_or_none()
