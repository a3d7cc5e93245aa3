"""Each source's last read (``ops_source_read``): whether the warehouse holds all of its change.

A read loads batch by batch, each in its own transaction, so a read that stops halfway leaves part
of the source's change loaded: cases without the steps that came with them. Supervision asks
:func:`incomplete_reads` before judging anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, delete, insert, select, update

from warehouse.tables import ops_source_read

READING = "READING"  # running now, or stopped by a killed process
COMPLETE = "COMPLETE"
PARTIAL = "PARTIAL"  # failed after loading part of its change, or after an earlier partial read
FAILED = "FAILED"  # failed before loading anything: the warehouse is as the last complete read left it
INCOMPLETE = (READING, PARTIAL)


@dataclass(frozen=True)
class IncompleteRead:
    source_system: str
    state: str
    cycle_id: str
    started_at: datetime
    message: str | None

    def describe(self) -> str:
        if self.state == READING:
            return f"{self.source_system} (a read started {self.started_at:%Y-%m-%d %H:%M} UTC has not finished)"
        return f"{self.source_system} (its last read stopped partway: {self.message or 'failed'})"


def start_read(engine: Engine, source_system: str, cycle_id: str) -> bool:
    """Record that a read of the source begins; True when the previous one left part of a change
    (then this read is incomplete too unless it finishes)."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        before = conn.execute(
            select(ops_source_read.c.state).where(ops_source_read.c.source_system == source_system)
        ).scalar_one_or_none()
        conn.execute(delete(ops_source_read).where(ops_source_read.c.source_system == source_system))
        conn.execute(
            insert(ops_source_read).values(
                source_system=source_system, cycle_id=cycle_id, started_at=now, state=READING, batches=0
            )
        )
    return before in INCOMPLETE


def finish_read(
    engine: Engine, source_system: str, *, batches: int, failure: str | None, incomplete_before: bool
) -> str:
    """Record how the read ended; returns the state stored."""
    if failure is None:
        state = COMPLETE
    else:
        state = PARTIAL if batches or incomplete_before else FAILED
    with engine.begin() as conn:
        conn.execute(
            update(ops_source_read)
            .where(ops_source_read.c.source_system == source_system)
            .values(finished_at=datetime.now(UTC), state=state, batches=batches, message=failure)
        )
    return state


def incomplete_reads(engine: Engine, sources: Iterable[str]) -> list[IncompleteRead]:
    """The reads of these sources that are running or stopped partway (a source no longer read,
    such as a suspended system, does not hold supervision back)."""
    codes = list(sources)
    if not codes:
        return []
    with engine.connect() as conn:
        rows = conn.execute(
            select(ops_source_read)
            .where(ops_source_read.c.source_system.in_(codes), ops_source_read.c.state.in_(INCOMPLETE))
            .order_by(ops_source_read.c.source_system)
        ).mappings()
        return [
            IncompleteRead(r["source_system"], r["state"], r["cycle_id"], r["started_at"], r["message"]) for r in rows
        ]
