"""Batch-level data quality in the pipeline: history from the warehouse, the suite run, holds and releases.

``store_batch`` (sanheyi/ingest.py) calls :func:`open_hold`, :func:`start_check` (the suite runs in
a worker process while the batch loads in its own, still open, transaction), then either rolls the
batch back and calls :func:`hold_batch` (a blocking check failed: nothing of the batch is loaded) or
calls :func:`record` inside the batch's transaction and commits. Only batches read from a source are
checked; re-loads of held steps and quarantine replays were checked when they first arrived.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine

from connectors.base import RecordBatch
from sanheyi.settings import Settings
from validators import ValidationOutcome
from validators.expectations import BLOCK, BatchHistory, QualityResult, Thresholds
from validators.expectations.run import prepare_check, quality_frame
from validators.expectations.worker import PendingCheck
from validators.expectations.worker import start_check as start_suite
from warehouse.batches import BatchCounts, close_batch, open_batch
from warehouse.loader import stored_copies
from warehouse.quality_store import (
    BATCH_HELD,
    HELD,
    RELEASED,
    HoldRow,
    add_hold,
    find_hold,
    list_holds,
    mark_hold_loaded,
    recent_checked_batches,
    record_verdict,
    release_hold,
    remember_values,
    seen_values,
)

log = logging.getLogger(__name__)

THRESHOLDS = Thresholds()


def applies(batch: RecordBatch) -> bool:
    """Batches read from a source carry the cursor to commit after them; internal re-loads carry none."""
    return batch.next_cursor is not None


def content_sha256(batch: RecordBatch, file_sha: str | None) -> str:
    """What a hold names: the whole file (it stays in the inbox, to be found again by its digest), or an
    interface's feed of one entity from its cursor on (a page is not read the same way twice: the next
    read starts a little before the cursor, so its pages fall elsewhere)."""
    if file_sha is not None:
        return file_sha
    if batch.file_path is None:
        return hashlib.sha256(f"interface feed\n{batch.entity}".encode()).hexdigest()
    digest = hashlib.sha256()
    for raw in batch.raw:
        digest.update(raw.encode("utf-8"))
        digest.update(b"\n")
    for line in batch.unparsed:
        digest.update(line.raw.encode("utf-8", "replace"))
        digest.update(b"\n")
    return digest.hexdigest()


def whole_origin(batch: RecordBatch) -> bool:
    """The batch is a whole file (a file read in one chunk); interface pages and chunks are parts."""
    if batch.file_path is None or not batch.is_last_of_file or batch.next_cursor is None:
        return False
    return int(batch.next_cursor.get("position", -1)) == batch.received


def reach(batch: RecordBatch) -> datetime | None:
    """How far an interface page reaches: the newest ``updated_at`` of its records, a record stamped
    later than the read included (``None`` for a file). The cursor stops before such a record, so
    the page that holds it is always the last of a read; a release must reach it."""
    if batch.file_path is not None or "updated_at" not in batch.frame.columns:
        return None
    newest = pd.to_datetime(batch.frame["updated_at"], utc=True, errors="coerce", format="ISO8601").max()
    return None if pd.isna(newest) else newest.to_pydatetime()


def _release_ends_with(batch: RecordBatch, release: HoldRow) -> bool:
    """Is this batch the last one a release lets through: the file's last chunk, or the interface
    page that reaches as far as the held page did."""
    if batch.file_path is not None:
        return batch.is_last_of_file
    # a hold from before migration 0007 knows no reach: the end of the read ends it (end_releases)
    reached = reach(batch)
    return release.through_at is not None and reached is not None and reached >= release.through_at


def end_releases(engine: Engine, reports: Sequence[Any], *, now: datetime) -> None:
    """After a complete read of a source: the releases it used are over, even those whose held page
    it did not reach (the source sent other records meanwhile), so that no release outlasts it."""
    last: dict[int, int] = {}
    for report in reports:
        if report.release_of is not None:
            last[report.release_of] = report.batch_id
    if not last:
        return
    with engine.begin() as conn:
        for hold in list_holds(conn):
            if hold.batch_id in last and hold.status == RELEASED:
                mark_hold_loaded(conn, hold.batch_id, last[hold.batch_id], now)


def stored_until(engine: Engine, batch: RecordBatch, outcome: ValidationOutcome, now: datetime) -> datetime | None:
    """For an interface page whose records stamped later than the future check allows are all held by
    the warehouse already in that very version: the newest of them, for the check to tolerate.

    The cursor stops before a record stamped later than the read (a wrong clock), so it is read on
    every cycle until the department corrects it: let through once, it must not hold the feed again.
    A page with one such record not stored yet is judged as usual, as are the other checks."""
    if batch.file_path is not None or outcome.valid.empty:
        return None
    bound = pd.Timestamp(now) + timedelta(minutes=THRESHOLDS.future_tolerance_minutes)
    held = outcome.held
    if held is not None and len(held) and (pd.to_datetime(held["updated_at"], utc=True) > bound).any():
        return None  # a late step held for its case is new by definition: the page is judged as usual
    updated = pd.to_datetime(outcome.valid["updated_at"], utc=True)
    late = (updated > bound).to_numpy()
    if not late.any():
        return None
    with engine.connect() as conn:
        again = stored_copies(conn, batch.entity, outcome.valid[late])
    return updated[late].max().to_pydatetime() if again.all() else None


def open_hold(engine: Engine, batch: RecordBatch, file_sha: str | None) -> HoldRow | None:
    """The hold on this batch's content that is not loaded yet (HELD: skip it; RELEASED: load it)."""
    with engine.connect() as conn:
        return find_hold(conn, batch.source_system, content_sha256(batch, file_sha))


def history(conn: Connection, source_system: str, entity: str, limits: Thresholds = THRESHOLDS) -> BatchHistory:
    """What earlier checked batches of this source and entity looked like, as plain data."""
    recent = recent_checked_batches(conn, source_system, entity, limits.history_batches)
    volumes = tuple(b["received"] for b in recent if (b["summary"].get("observed") or {}).get("whole_origin"))
    null_fractions: dict[str, list[float]] = {}
    for b in recent:
        for column, share in ((b["summary"].get("observed") or {}).get("null_fraction") or {}).items():
            null_fractions.setdefault(column, []).append(float(share))
    return BatchHistory(
        volumes=volumes,
        null_fractions={column: tuple(values) for column, values in null_fractions.items()},
        seen_values=seen_values(conn, source_system, entity),
        earlier_batches=len(recent),
    )


class PendingVerdict:
    """The data quality check of one batch, running (in the suite worker) while the batch loads."""

    def __init__(self, batch: RecordBatch, pending: PendingCheck) -> None:
        self._batch, self._pending = batch, pending

    def result(self) -> QualityResult:
        """Wait for the suite; log and return the verdict."""
        result = self._pending.result()
        batch = self._batch
        log.info(
            "data quality %s %s/%s %s: %s in %.2f s%s",
            result.verdict,
            batch.source_system,
            batch.entity,
            batch.origin,
            f"{len(result.failures)} failed check(s)",
            result.seconds,
            f" ({result.reason()})" if result.failures else "",
        )
        return result


def suite_frame(batch: RecordBatch, outcome: ValidationOutcome) -> pd.DataFrame:
    """What the suite reads of one validated batch; built while the batch is prepared, since it
    depends on the batch alone (the loader thread then only reads the history and starts the run)."""
    return quality_frame(outcome, len(batch.unparsed))


def start_check(
    engine: Engine,
    batch: RecordBatch,
    outcome: ValidationOutcome,
    *,
    now: datetime,
    release: HoldRow | None,
    frame: pd.DataFrame | None = None,
) -> PendingVerdict:
    """Start the suite on one validated batch (``frame``: its :func:`suite_frame`, if built ahead),
    against the history committed so far."""
    with engine.connect() as conn:
        past = history(conn, batch.source_system, batch.entity)
    prepared = prepare_check(
        outcome,
        history=past,
        now=now,
        unparsed=len(batch.unparsed),
        whole_origin=whole_origin(batch),
        released=release is not None,
        thresholds=THRESHOLDS,
        frame=frame,
        stored_until=stored_until(engine, batch, outcome, now),
    )
    return PendingVerdict(batch, start_suite(prepared))


def _summary(result: QualityResult, release: HoldRow | None) -> dict[str, Any]:
    summary = result.summary()
    if release is not None:
        summary["released"] = {
            "hold_batch_id": release.batch_id,
            "by": release.released_by,
            "reason": release.release_reason,
            "at": release.released_at.isoformat() if release.released_at else None,
        }
    return summary


def record(
    conn: Connection,
    batch: RecordBatch,
    batch_id: int,
    result: QualityResult,
    release: HoldRow | None,
    *,
    now: datetime,
) -> None:
    """In the batch's transaction: the verdict, the values now seen, and the end of a released hold."""
    record_verdict(conn, batch_id, result.verdict, _summary(result, release))
    remember_values(conn, batch.source_system, batch.entity, result.seen_values, batch_id, now)
    if release is not None and _release_ends_with(batch, release):
        mark_hold_loaded(conn, release.batch_id, batch_id, now)


def hold_batch(
    engine: Engine, batch: RecordBatch, result: QualityResult, file_sha: str | None, *, cycle_id: str, now: datetime
) -> int:
    """Record a blocked batch as HELD_GE with its counts (every record held) and nothing else of it."""
    received = batch.received
    reason = [
        {"check": f.check, "message_zh": f.message_zh, "message_en": f.message_en} for f in result.blocking_failures()
    ]
    with engine.begin() as conn:
        batch_id = open_batch(
            conn,
            cycle_id=cycle_id,
            source_system=batch.source_system,
            entity=batch.entity,
            origin=batch.origin,
            started_at=now,
            origin_sha256=file_sha,
        )
        close_batch(
            conn,
            batch_id,
            BatchCounts(received, 0, 0, 0, 0, received),
            finished_at=now,
            max_updated_at=None,
            status=BATCH_HELD,
        )
        record_verdict(conn, batch_id, BLOCK, _summary(result, None))
        add_hold(
            conn,
            batch_id,
            source_system=batch.source_system,
            entity=batch.entity,
            origin=batch.origin,
            content_sha256=content_sha256(batch, file_sha),
            reason=reason,
            at=now,
            through_at=reach(batch),
        )
    return batch_id


# --- the data engineer's side: sanheyi batches list / release ------------------------------------------


def _hold_json(hold: HoldRow) -> dict[str, Any]:
    return {
        "batch_id": hold.batch_id,
        "source_system": hold.source_system,
        "entity": hold.entity,
        "origin": hold.origin,
        "status": hold.status,
        "held_at": hold.held_at.isoformat(),
        "reason": hold.reason,
        "released_by": hold.released_by,
        "release_reason": hold.release_reason,
        "released_at": hold.released_at.isoformat() if hold.released_at else None,
        "loaded_batch_id": hold.loaded_batch_id,
    }


def list_held_batches(settings: Settings, *, include_loaded: bool = False) -> list[dict[str, Any]]:
    """Batches held by a blocking check (and, with ``include_loaded``, those released and loaded since)."""
    from sanheyi.pipeline import require_initialised, warehouse_engine

    require_initialised(settings)
    engine = warehouse_engine(settings)
    try:
        with engine.connect() as conn:
            return [_hold_json(h) for h in list_holds(conn, include_loaded=include_loaded)]
    finally:
        engine.dispose()


def release_batch(settings: Settings, batch_id: int, *, by: str, reason: str, now: datetime) -> str:
    from sanheyi.pipeline import require_initialised, warehouse_engine

    require_initialised(settings)
    engine = warehouse_engine(settings)
    try:
        with engine.begin() as conn:
            hold = release_hold(conn, batch_id, by=by, reason=reason, at=now)
    finally:
        engine.dispose()
    log.info("batch %s released by %s", batch_id, by, extra={"batch_id": batch_id})
    return (
        f"batch {hold.batch_id} ({hold.source_system}/{hold.entity} {hold.origin}) released by {by}: "
        "the next run loads it once, its blocking checks waived"
    )


def is_held(hold: HoldRow) -> bool:
    """Still held: skip the batch (a released hold loads it)."""
    return hold.status == HELD
