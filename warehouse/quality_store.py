"""Warehouse side of the batch-level data quality checks: history, verdicts, seen values and holds.

The checks themselves (``validators.expectations``) never touch the warehouse; this module reads
what they compare with and stores what they found, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from schemas.errors import FatalError
from warehouse.tables import ops_batch_hold, ops_load_batch, ops_seen_value

HELD = "HELD"
RELEASED = "RELEASED"
LOADED = "LOADED"
BATCH_HELD = "HELD_GE"
BATCH_RELEASED = "RELEASED"


class HoldError(FatalError):
    """A hold that does not exist or is not in the state the action needs."""


@dataclass(frozen=True)
class HoldRow:
    """One row of ``ops_batch_hold``."""

    batch_id: int
    source_system: str
    entity: str
    origin: str
    content_sha256: str
    status: str
    reason: list[dict[str, Any]]
    held_at: datetime
    released_by: str | None = None
    release_reason: str | None = None
    released_at: datetime | None = None
    loaded_batch_id: int | None = None
    loaded_at: datetime | None = None
    through_at: datetime | None = None  # an interface page's hold: how far the held page reached


def _hold(row: Any) -> HoldRow:
    return HoldRow(**{name: getattr(row, name) for name in HoldRow.__dataclass_fields__})


def recent_checked_batches(conn: Connection, source_system: str, entity: str, limit: int) -> list[dict[str, Any]]:
    """Loaded batches of a source and entity that were checked, newest first: received count and summary."""
    rows = conn.execute(
        select(ops_load_batch.c.batch_id, ops_load_batch.c.received_count, ops_load_batch.c.ge_summary)
        .where(
            ops_load_batch.c.source_system == source_system,
            ops_load_batch.c.entity == entity,
            ops_load_batch.c.status == "LOADED",
            ops_load_batch.c.ge_verdict.is_not(None),
        )
        .order_by(ops_load_batch.c.batch_id.desc())
        .limit(limit)
    ).all()
    return [{"batch_id": r.batch_id, "received": r.received_count, "summary": r.ge_summary or {}} for r in rows]


def seen_values(conn: Connection, source_system: str, entity: str) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for column, value in conn.execute(
        select(ops_seen_value.c.column_name, ops_seen_value.c.value).where(
            ops_seen_value.c.source_system == source_system, ops_seen_value.c.entity == entity
        )
    ):
        found.setdefault(column, set()).add(value)
    return {column: frozenset(values) for column, values in found.items()}


def remember_values(
    conn: Connection,
    source_system: str,
    entity: str,
    values: Mapping[str, Iterable[str]],
    batch_id: int,
    at: datetime,
) -> int:
    """Add the values not seen before; returns how many were new."""
    known = seen_values(conn, source_system, entity)
    rows = [
        {
            "source_system": source_system,
            "entity": entity,
            "column_name": column,
            "value": value,
            "first_batch_id": batch_id,
            "first_seen_at": at,
        }
        for column, column_values in values.items()
        for value in sorted(set(column_values) - known.get(column, frozenset()))
    ]
    if rows:
        conn.execute(insert(ops_seen_value), rows)
    return len(rows)


def record_verdict(conn: Connection, batch_id: int, verdict: str, summary: Mapping[str, Any]) -> None:
    conn.execute(
        update(ops_load_batch)
        .where(ops_load_batch.c.batch_id == batch_id)
        .values(ge_verdict=verdict, ge_summary=dict(summary))
    )


def find_hold(conn: Connection, source_system: str, content_sha256: str) -> HoldRow | None:
    """The open hold (HELD or RELEASED, not yet loaded) of this content, if any."""
    row = conn.execute(
        select(ops_batch_hold)
        .where(
            ops_batch_hold.c.source_system == source_system,
            ops_batch_hold.c.content_sha256 == content_sha256,
            ops_batch_hold.c.status.in_((HELD, RELEASED)),
        )
        .order_by(ops_batch_hold.c.batch_id.desc())
    ).first()
    return None if row is None else _hold(row)


def add_hold(
    conn: Connection,
    batch_id: int,
    *,
    source_system: str,
    entity: str,
    origin: str,
    content_sha256: str,
    reason: list[dict[str, Any]],
    at: datetime,
    through_at: datetime | None = None,
) -> None:
    conn.execute(
        insert(ops_batch_hold).values(
            batch_id=batch_id,
            source_system=source_system,
            entity=entity,
            origin=origin,
            content_sha256=content_sha256,
            status=HELD,
            reason=reason,
            held_at=at,
            through_at=through_at,
        )
    )


def get_hold(conn: Connection, batch_id: int) -> HoldRow | None:
    row = conn.execute(select(ops_batch_hold).where(ops_batch_hold.c.batch_id == batch_id)).first()
    return None if row is None else _hold(row)


def release_hold(conn: Connection, batch_id: int, *, by: str, reason: str, at: datetime) -> HoldRow:
    """Let a held batch load on the next read, its blocking checks waived; the decision is kept."""
    hold = get_hold(conn, batch_id)
    if hold is None:
        raise HoldError(f"批次 {batch_id} 未被暂停 / batch {batch_id} is not held by a data quality check")
    if hold.status != HELD:
        raise HoldError(
            f"批次 {batch_id} 已放行 / batch {batch_id} was already released "
            f"({hold.status.lower()} by {hold.released_by})"
        )
    if not by.strip() or not reason.strip():
        raise HoldError("放行须注明放行人和理由 / a release needs --by and --reason")
    conn.execute(
        update(ops_batch_hold)
        .where(ops_batch_hold.c.batch_id == batch_id, ops_batch_hold.c.status == HELD)
        .values(status=RELEASED, released_by=by, release_reason=reason, released_at=at)
    )
    conn.execute(update(ops_load_batch).where(ops_load_batch.c.batch_id == batch_id).values(status=BATCH_RELEASED))
    return get_hold(conn, batch_id)  # type: ignore[return-value]


def mark_hold_loaded(conn: Connection, batch_id: int, loaded_batch_id: int, at: datetime) -> None:
    conn.execute(
        update(ops_batch_hold)
        .where(ops_batch_hold.c.batch_id == batch_id)
        .values(status=LOADED, loaded_batch_id=loaded_batch_id, loaded_at=at)
    )


def list_holds(conn: Connection, *, include_loaded: bool = False) -> list[HoldRow]:
    query = select(ops_batch_hold).order_by(ops_batch_hold.c.batch_id)
    if not include_loaded:
        query = query.where(ops_batch_hold.c.status.in_((HELD, RELEASED)))
    return [_hold(r) for r in conn.execute(query)]
