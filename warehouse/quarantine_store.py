"""The quarantine: invalid records kept with their source, raw payload and every violated rule."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from warehouse.tables import ops_quarantine

STANDARD_VERSION = "1.0"


@dataclass(frozen=True)
class QuarantineRow:
    """One record to quarantine; ``violations`` are dicts with path, rule_id, message_zh, message_en."""

    source_system: str
    entity: str
    record_key: str
    origin: str
    line_no: int | None
    raw_payload: str
    violations: Sequence[dict]


def add_to_quarantine(conn: Connection, batch_id: int, rows: Iterable[QuarantineRow], at: datetime) -> int:
    """Quarantine ``rows``; a record already open in quarantine from the same place (a file read
    again after a crash, an entry replayed) is not entered twice: the open entry stays, with the
    rules the record breaks now. Returns the number of rows given."""
    rows = list(rows)
    origins = {row.origin for row in rows}
    already: dict[tuple, tuple[int, list]] = {}
    if origins:
        already = {
            (r.origin, r.line_no, r.raw_payload): (r.quarantine_id, r.violations)
            for r in conn.execute(
                select(
                    ops_quarantine.c.quarantine_id,
                    ops_quarantine.c.origin,
                    ops_quarantine.c.line_no,
                    ops_quarantine.c.raw_payload,
                    ops_quarantine.c.violations,
                ).where(ops_quarantine.c.status == "OPEN", ops_quarantine.c.origin.in_(origins))
            )
        }
    values = []
    for row in rows:
        place = (row.origin, row.line_no, row.raw_payload)
        violations = list(row.violations)
        reason = violations[0]["rule_id"] if violations else "UNKNOWN"
        if place in already:
            quarantine_id, open_violations = already[place]
            if open_violations != violations:
                conn.execute(
                    update(ops_quarantine)
                    .where(ops_quarantine.c.quarantine_id == quarantine_id)
                    .values(violations=violations, reason=reason)
                )
            continue
        values.append(
            {
                "batch_id": batch_id,
                "source_system": row.source_system,
                "entity": row.entity,
                "record_key": row.record_key,
                "origin": row.origin,
                "line_no": row.line_no,
                "raw_payload": row.raw_payload,
                "standard_version": STANDARD_VERSION,
                "violations": violations,
                "reason": reason,
                "status": "OPEN",
                "quarantined_at": at,
            }
        )
    if values:
        conn.execute(insert(ops_quarantine), values)
    return len(rows)


def open_quarantine(conn: Connection, source_system: str | None = None, entity: str | None = None) -> list[dict]:
    """Open quarantine entries, oldest first (raw payloads included: callers must not print them)."""
    query = select(ops_quarantine).where(ops_quarantine.c.status == "OPEN")
    if source_system:
        query = query.where(ops_quarantine.c.source_system == source_system)
    if entity:
        query = query.where(ops_quarantine.c.entity == entity)
    return [dict(r._mapping) for r in conn.execute(query.order_by(ops_quarantine.c.quarantine_id))]


def resolve(conn: Connection, quarantine_ids: Sequence[int], status: str, at: datetime) -> None:
    if quarantine_ids:
        conn.execute(
            update(ops_quarantine)
            .where(ops_quarantine.c.quarantine_id.in_(list(quarantine_ids)))
            .values(status=status, resolved_at=at)
        )
