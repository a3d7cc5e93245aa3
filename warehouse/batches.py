"""Load batches: one row per batch read from a source, with the counts that must balance (§4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from warehouse.tables import ops_archived_file, ops_load_batch


@dataclass(frozen=True)
class BatchCounts:
    received: int
    loaded: int
    quarantined: int
    duplicate: int
    stale: int
    held: int

    @property
    def balances(self) -> bool:
        return self.received == self.loaded + self.quarantined + self.duplicate + self.stale + self.held


def open_batch(
    conn: Connection,
    *,
    cycle_id: str,
    source_system: str,
    entity: str,
    origin: str,
    started_at: datetime,
    origin_sha256: str | None = None,
) -> int:
    result = conn.execute(
        insert(ops_load_batch)
        .values(
            cycle_id=cycle_id,
            source_system=source_system,
            entity=entity,
            origin=origin,
            origin_sha256=origin_sha256,
            started_at=started_at,
            status="OPEN",
        )
        .returning(ops_load_batch.c.batch_id)
    )
    return int(result.scalar_one())


def close_batch(
    conn: Connection,
    batch_id: int,
    counts: BatchCounts,
    *,
    finished_at: datetime,
    max_updated_at: datetime | None,
    status: str = "LOADED",
) -> None:
    if not counts.balances:
        # A batch that does not balance means a record was lost or counted twice: refuse to commit it.
        raise AssertionError(f"batch {batch_id} does not balance: {counts}")
    conn.execute(
        update(ops_load_batch)
        .where(ops_load_batch.c.batch_id == batch_id)
        .values(
            status=status,
            finished_at=finished_at,
            max_updated_at=max_updated_at,
            received_count=counts.received,
            loaded_count=counts.loaded,
            quarantined_count=counts.quarantined,
            duplicate_count=counts.duplicate,
            stale_count=counts.stale,
            held_count=counts.held,
        )
    )


def file_already_loaded(conn: Connection, source_system: str, file_name: str, sha256: str) -> bool:
    """True when this exact file was loaded before (a crash came between commit and archiving)."""
    row = conn.execute(
        select(ops_archived_file.c.batch_id).where(
            ops_archived_file.c.source_system == source_system,
            ops_archived_file.c.file_name == file_name,
            ops_archived_file.c.sha256 == sha256,
        )
    ).first()
    return row is not None


def record_file_loaded(
    conn: Connection, source_system: str, file_name: str, sha256: str, batch_id: int, at: datetime
) -> None:
    if not file_already_loaded(conn, source_system, file_name, sha256):
        conn.execute(
            insert(ops_archived_file).values(
                source_system=source_system, file_name=file_name, sha256=sha256, batch_id=batch_id, recorded_at=at
            )
        )
