"""Ingest: read every approved source, validate, load — one transaction per batch.

Each batch (a file, or a chunk of a large file, or a page range of an interface) is validated and
then loaded together with its quarantine entries, its held steps, its counts and its cursor in one
transaction: a crash leaves the warehouse as it was before the batch. A file is archived only after
its last batch committed; a file that was committed but not archived (a crash in between) is
recognised by its SHA-256 and only archived on the next run.

Records the hub kept itself (held steps whose case arrived, quarantine entries replayed) are stored
as batches the same way; taking them from where they were kept is part of the batch's transaction
(``Reload``), so a failure leaves them where they were.
"""

from __future__ import annotations

import hashlib
import json
import logging
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Connection, Engine, delete, insert, select

from connectors.base import Connector, RecordBatch, UnavailableConnector, records_to_frame
from connectors.credentials import CredentialResolver
from connectors.file_drop import FileRejected, archive_file, reject_file
from connectors.registry import build_interface_connector
from sanheyi import quality
from sanheyi.errors import HeldStepsChanged
from sanheyi.logs import describe_failure, log_context, mask_text
from sanheyi.overlap import store_in_order
from sanheyi.references import ReferenceCache
from sanheyi.settings import Settings
from schemas.errors import HubError
from validators import QuarantineItem, ValidationOutcome, canonical_payload, validate_batch
from validators.expectations import QualityResult
from warehouse import source_reads
from warehouse.batches import BatchCounts, close_batch, file_already_loaded, open_batch, record_file_loaded
from warehouse.checkpoints import background_checkpoints
from warehouse.cursors import load_cursor, save_cursor
from warehouse.loader import rows_to_stage, rows_with_keys, upsert_records, weigh_versions
from warehouse.quality_store import HoldRow
from warehouse.quarantine_store import QuarantineRow, add_to_quarantine
from warehouse.staging import StagedRows, batch_transaction, stage_rows
from warehouse.tables import ops_held_step

log = logging.getLogger(__name__)

UNIFIED = "UNIFIED"


@dataclass(frozen=True)
class Source:
    """One system to read: the unified platform or an approved self-built system."""

    system_code: str
    connector: Connector
    scope: frozenset[str] | None  # approved power codes; None for the unified platform


@dataclass(frozen=True)
class BatchReport:
    batch_id: int
    source_system: str
    entity: str
    origin: str
    counts: BatchCounts
    status: str = "LOADED"  # HELD_GE: held by a blocking data quality check now; HELD: skipped, held before
    reason: str = ""
    quarantined_lines: frozenset[int] = frozenset()  # the batch's lines (``_line``) that went to quarantine
    release_of: int | None = None  # the held batch whose release let this one through, if any


#: Where each line of a batch first arrived: line -> (origin, line in that origin).
Places = Mapping[int, tuple[str, int | None]]


@dataclass(frozen=True)
class Reload:
    """A batch of records the hub kept itself (held steps, quarantine entries), stored again.

    ``places`` says where each of its lines first arrived: a record quarantined (or held) again is
    entered there, not at the reload. ``take`` runs in the batch's transaction before its records are
    stored and removes them from where they were kept; ``settle`` runs in it once they are stored,
    with the batch's report. Either is all or nothing with the load.
    """

    places: Places
    take: Callable[[Connection], None] | None = None
    settle: Callable[[Connection, BatchReport], None] | None = None


@dataclass
class IngestSummary:
    batches: list[BatchReport] = field(default_factory=list)
    held: list[BatchReport] = field(default_factory=list)  # batches held by data quality checks, not loaded
    rejected_files: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    failed_sources: list[tuple[str, str]] = field(default_factory=list)  # (system, message)

    def total(self) -> BatchCounts:
        sums = [0] * 6
        for report in self.batches:
            c = report.counts
            for i, value in enumerate((c.received, c.loaded, c.quarantined, c.duplicate, c.stale, c.held)):
                sums[i] += value
        return BatchCounts(*sums)


def unified_source(settings: Settings, credentials: CredentialResolver | None = None) -> Source:
    """The unified platform through the interface of the ``unified`` setting: in the embedded
    default the file drop ``inbox/UNIFIED/``, in production its REST (or SOAP, SQL) address."""
    resolver = credentials or CredentialResolver()
    connector = connector_or_unavailable(
        UNIFIED, lambda: build_interface_connector(UNIFIED, settings.unified, settings.home, resolver)
    )
    return Source(UNIFIED, connector, None)


def connector_or_unavailable(system_code: str, build: Callable[[], Connector]) -> Connector:
    """The system's connector; if it cannot be built (a credential not configured), one that fails
    when read, so that only this system fails in the cycle."""
    try:
        return build()
    except HubError as exc:  # logged when the source is read (and fails), not each time it is listed
        return UnavailableConnector(system_code, exc)


def ingest_sources(
    engine: Engine,
    settings: Settings,
    sources: Iterable[Source],
    *,
    cycle_id: str,
    now: datetime,
    release_held: bool = True,
) -> IngestSummary:
    """Read the sources in order (unified platform first), then release or expire held steps."""
    summary = IngestSummary()
    references = ReferenceCache(engine)
    with background_checkpoints(engine):
        for source in sources:
            done = len(summary.batches)
            incomplete_before: bool | None = None  # None: the start of the read was never recorded
            try:
                with log_context(cycle=cycle_id, system=source.system_code):
                    incomplete_before = source_reads.start_read(engine, source.system_code, cycle_id)
                    _ingest_source(engine, settings, source, references, summary, cycle_id=cycle_id, now=now)
                    # a release of an interface's hold lasts one complete read of the source
                    quality.end_releases(engine, summary.batches[done:], now=now)
                failure = None
            except Exception as exc:  # one failing system must not stop the others
                failure = describe_failure(exc, warehouse_url=settings.warehouse_url)
                if not isinstance(exc, HubError):
                    log.error(
                        "source %s failed:\n%s",
                        source.system_code,
                        mask_text(traceback.format_exc()),
                        extra={"file_only": True},
                    )
                log.error("source %s failed: %s", source.system_code, failure)
                summary.failed_sources.append((source.system_code, failure))
            if incomplete_before is not None:  # else the last read's record stands (PARTIAL stays PARTIAL)
                _record_read_end(engine, source.system_code, len(summary.batches) - done, failure, incomplete_before)
        if release_held:
            release_held_steps(engine, settings, references, summary, cycle_id=cycle_id, now=now)
    return summary


def _record_read_end(
    engine: Engine, system_code: str, batches: int, failure: str | None, incomplete_before: bool
) -> None:
    try:
        state = source_reads.finish_read(
            engine, system_code, batches=batches, failure=failure, incomplete_before=incomplete_before
        )
    except Exception as exc:  # the read stays READING, which holds supervision back: the safe side
        log.error("source %s: its read could not be recorded as ended: %s", system_code, type(exc).__name__)
        return
    if state == source_reads.PARTIAL:
        log.warning("source %s stopped partway: supervision waits until a read of it completes", system_code)


def _ingest_source(
    engine: Engine,
    settings: Settings,
    source: Source,
    references: ReferenceCache,
    summary: IngestSummary,
    *,
    cycle_id: str,
    now: datetime,
) -> None:
    # A file that cannot be parsed at all ends the connector's iteration: move it aside and start
    # reading again, which picks up from the next file (the ones done are archived already).
    while True:
        try:
            for batch, report in _stored(engine, settings, _read(engine, source), references, source, cycle_id, now):
                from_interface = batch.file_path is None
                del batch  # not kept while the next batches are read and prepared
                if report is not None and report.status != "HELD":
                    summary.batches.append(report)
                if report is not None and report.status != "LOADED":
                    if all(h.batch_id != report.batch_id for h in summary.held):
                        summary.held.append(report)
                    if from_interface:
                        return  # an interface is not read past a held page: its cursor would pass it
            return
        except FileRejected as exc:
            reject_file(exc.path, settings.rejected, source.system_code, exc.message)
            log.warning("file rejected: %s: %s", exc.path.name, exc.message)
            summary.rejected_files.append((exc.path.name, exc.message))


def _stored(
    engine: Engine,
    settings: Settings,
    batches: Iterator[RecordBatch],
    references: ReferenceCache,
    source: Source,
    cycle_id: str,
    now: datetime,
) -> Iterator[tuple[RecordBatch, BatchReport | None]]:
    """Each batch with its report, stored in order; the next batch of the same entity is validated
    while the current one loads (see sanheyi/overlap.py)."""

    def prepare(batch: RecordBatch) -> PreparedBatch:
        return prepare_batch(engine, batch, references, scope=source.scope)

    def commit(prepared: PreparedBatch) -> BatchReport | None:
        return commit_batch(engine, settings, prepared, references, cycle_id=cycle_id, now=now)

    yield from store_in_order(
        batches,
        prepare,
        commit,
        beside=lambda current, following: (
            (current.source_system, current.entity) == (following.source_system, following.entity)
        ),
        redo=lambda report: report is not None and report.status != "LOADED",
        read_past=lambda current: current.file_path is not None,
    )


def _read(engine: Engine, source: Source) -> Iterator[RecordBatch]:
    with engine.connect() as conn:
        cursor = load_cursor(conn, source.system_code)
    yield from source.connector.read(cursor)


def store_batch(
    engine: Engine,
    settings: Settings,
    batch: RecordBatch,
    references: ReferenceCache,
    *,
    scope: frozenset[str] | None,
    cycle_id: str,
    now: datetime,
    reload: Reload | None = None,
) -> BatchReport | None:
    """Validate one batch and store all of it (records, quarantine, held steps, counts, cursor) at once.

    Returns ``None`` when the batch's file was loaded before (it is only archived then).
    """
    prepared = prepare_batch(engine, batch, references, scope=scope)
    return commit_batch(engine, settings, prepared, references, cycle_id=cycle_id, now=now, reload=reload)


@dataclass(frozen=True)
class PreparedBatch:
    """A batch validated and ready to store, or what its storing amounts to without validation."""

    batch: RecordBatch
    file_sha: str | None
    done_before: bool = False  # its file was loaded before: it is only archived
    hold: HoldRow | None = None
    held_report: BatchReport | None = None  # held by a data quality check before: skipped
    outcome: ValidationOutcome | None = None
    staged: StagedRows | None = None  # SQLite: the valid records, ready for the loader
    suite_frame: pd.DataFrame | None = None  # what the data quality suite reads, if the batch is checked


def prepare_batch(
    engine: Engine, batch: RecordBatch, references: ReferenceCache, *, scope: frozenset[str] | None
) -> PreparedBatch:
    """Everything before the batch's transaction: has it been loaded or held before, validation, what
    the data quality suite reads, and on SQLite the valid records staged for the loader
    (warehouse/staging.py).

    Reads the warehouse but writes nothing to it, and moves no file.
    """
    system = batch.source_system
    file_path = batch.file_path
    file_sha = batch.file_sha256
    if file_path is not None and file_sha is not None:
        with engine.connect() as conn:
            if file_already_loaded(conn, system, file_path.name, file_sha):
                return PreparedBatch(batch, file_sha, done_before=True)
    hold = quality.open_hold(engine, batch, file_sha) if quality.applies(batch) else None
    if hold is not None and quality.is_held(hold):
        log.warning(
            "batch %s %s/%s %s is held by a data quality check; skipped until released (sanheyi batches release %s)",
            hold.batch_id,
            system,
            batch.entity,
            batch.origin,
            hold.batch_id,
            extra={"batch_id": hold.batch_id},
        )
        report = BatchReport(
            hold.batch_id,
            system,
            batch.entity,
            batch.origin,
            BatchCounts(batch.received, 0, 0, 0, 0, batch.received),
            status="HELD",
            reason="; ".join(r["message_en"] for r in hold.reason),
        )
        return PreparedBatch(batch, file_sha, hold=hold, held_report=report)
    outcome = validate_batch(batch, references.for_system(scope))
    staged = None
    if engine.dialect.name == "sqlite" and not outcome.valid.empty:
        staged = stage_rows(rows_to_stage(batch.entity, outcome.valid))
    suite_frame = quality.suite_frame(batch, outcome) if quality.applies(batch) else None
    return PreparedBatch(batch, file_sha, hold=hold, outcome=outcome, staged=staged, suite_frame=suite_frame)


def commit_batch(
    engine: Engine,
    settings: Settings,
    prepared: PreparedBatch,
    references: ReferenceCache,
    *,
    cycle_id: str,
    now: datetime,
    reload: Reload | None = None,
) -> BatchReport | None:
    """The batch's transaction (with its data quality check), then its file archived if it was the last."""
    batch, file_sha, hold = prepared.batch, prepared.file_sha, prepared.hold
    system = batch.source_system
    file_path = batch.file_path
    if prepared.done_before:
        if batch.is_last_of_file and file_path is not None:
            archive_file(file_path, settings.archive, system)
        return None
    if prepared.held_report is not None:
        return prepared.held_report
    outcome = prepared.outcome
    assert outcome is not None
    # The data quality suite runs in its worker process while the batch loads; the transaction
    # commits only once the verdict lets it (a blocking check rolls the whole batch back). It starts
    # here, not in prepare_batch: it compares with what the batches before this one left.
    pending = (
        quality.start_check(
            engine,
            batch,
            outcome,
            now=now,
            release=hold,
            frame=prepared.suite_frame,
        )
        if quality.applies(batch)
        else None
    )
    try:
        with batch_transaction(engine, prepared.staged) as conn:
            batch_id = open_batch(
                conn,
                cycle_id=cycle_id,
                source_system=system,
                entity=batch.entity,
                origin=batch.origin,
                started_at=now,
                origin_sha256=file_sha,
            )
            if reload is not None and reload.take is not None:
                reload.take(conn)
            counts, loaded_rows, quarantined_lines = _store_outcome(
                conn, batch, outcome, batch_id, now, prepared.staged, reload.places if reload is not None else None
            )
            verdict = pending.result() if pending is not None else None
            if verdict is not None and verdict.blocks:
                raise _BlockedByQuality(verdict)
            max_updated = loaded_rows["updated_at"].max() if not loaded_rows.empty else None
            close_batch(
                conn,
                batch_id,
                counts,
                finished_at=now,
                max_updated_at=None if pd.isna(max_updated) else max_updated.to_pydatetime(),
            )
            if batch.next_cursor is not None:
                save_cursor(conn, system, batch.next_cursor, now)
            if file_path is not None and file_sha is not None and batch.is_last_of_file:
                record_file_loaded(conn, system, file_path.name, file_sha, batch_id, now)
            if verdict is not None:
                quality.record(conn, batch, batch_id, verdict, hold, now=now)
            report = BatchReport(
                batch_id,
                system,
                batch.entity,
                batch.origin,
                counts,
                quarantined_lines=quarantined_lines,
                release_of=hold.batch_id if hold is not None else None,
            )
            if reload is not None and reload.settle is not None:
                reload.settle(conn, report)
    except _BlockedByQuality as blocked:
        return _hold_for_quality(engine, batch, blocked.verdict, file_sha, cycle_id=cycle_id, now=now)
    references.add_loaded(batch.entity, loaded_rows)
    if file_path is not None and batch.is_last_of_file:
        archive_file(file_path, settings.archive, system)
    log.info(
        "batch %s %s/%s %s: received=%d loaded=%d quarantined=%d duplicate=%d stale=%d held=%d",
        batch_id,
        system,
        batch.entity,
        batch.origin,
        counts.received,
        counts.loaded,
        counts.quarantined,
        counts.duplicate,
        counts.stale,
        counts.held,
        extra={"batch_id": batch_id},
    )
    return report


class _BlockedByQuality(Exception):
    """Raised inside a batch's transaction to roll it back: a blocking data quality check failed."""

    def __init__(self, verdict: QualityResult) -> None:
        super().__init__(verdict.reason())
        self.verdict = verdict


def _hold_for_quality(
    engine: Engine,
    batch: RecordBatch,
    verdict: QualityResult,
    file_sha: str | None,
    *,
    cycle_id: str,
    now: datetime,
) -> BatchReport:
    held_id = quality.hold_batch(engine, batch, verdict, file_sha, cycle_id=cycle_id, now=now)
    reason = "; ".join(f.message_en for f in verdict.blocking_failures())
    log.warning(
        "batch %s %s/%s %s held, nothing loaded: %s",
        held_id,
        batch.source_system,
        batch.entity,
        batch.origin,
        reason,
        extra={"batch_id": held_id},
    )
    return BatchReport(
        held_id,
        batch.source_system,
        batch.entity,
        batch.origin,
        BatchCounts(batch.received, 0, 0, 0, 0, batch.received),
        status="HELD_GE",
        reason=reason,
    )


def _store_outcome(
    conn: Connection,
    batch: RecordBatch,
    outcome: ValidationOutcome,
    batch_id: int,
    now: datetime,
    staged: StagedRows | None,
    places: Places | None,
) -> tuple[BatchCounts, pd.DataFrame, frozenset[int]]:
    """Store the batch's records, quarantine entries and held steps; its counts, the rows loaded and
    the lines quarantined."""
    quarantine = [_quarantine_row(item) for item in outcome.quarantined]
    quarantine += [_unparsed_row(batch, line) for line in batch.unparsed]
    result = upsert_records(conn, batch.entity, outcome.valid, batch_id, staged=staged)
    if not result.conflicts.empty:
        quarantine += _conflict_rows(batch, result.conflicts)
    held = _hold_steps(conn, batch, outcome.held, batch_id, now, places)
    quarantine += held.conflicts
    quarantined_lines = frozenset(int(row.line_no) for row in quarantine if row.line_no is not None)
    if places:
        quarantine = [_at_first_place(row, places) for row in quarantine]
    add_to_quarantine(conn, batch_id, quarantine, now)
    received = outcome.received + len(batch.unparsed)
    counts = BatchCounts(
        received=received,
        loaded=result.loaded,
        quarantined=len(quarantine),
        duplicate=result.duplicate + held.duplicate,
        stale=result.stale + held.stale,
        held=held.held,
    )
    return counts, result.loaded_rows, quarantined_lines


def _place(batch: RecordBatch, line: int, places: Places | None) -> tuple[str, int | None]:
    """Where the record of ``line`` first arrived."""
    if places and line in places:
        return places[line]
    return batch.origin, line


def _at_first_place(row: QuarantineRow, places: Places) -> QuarantineRow:
    if row.line_no is None or row.line_no not in places:
        return row
    origin, line_no = places[row.line_no]
    return replace(row, origin=origin, line_no=line_no)


def _quarantine_row(item: QuarantineItem) -> QuarantineRow:
    return QuarantineRow(
        source_system=item.source_system,
        entity=item.entity,
        record_key=item.record_key,
        origin=item.origin,
        line_no=item.line_no,
        raw_payload=item.raw_payload,
        violations=[
            {"path": v.path, "rule_id": v.rule_id, "message_zh": v.message_zh, "message_en": v.message_en}
            for v in item.violations
        ],
    )


def _unparsed_row(batch: RecordBatch, line) -> QuarantineRow:  # type: ignore[no-untyped-def]
    return QuarantineRow(
        source_system=batch.source_system,
        entity=batch.entity,
        record_key=f"line {line.line_no}",
        origin=batch.origin,
        line_no=line.line_no,
        raw_payload=line.raw,
        violations=[{"path": "", "rule_id": "PARSE", "message_zh": line.message, "message_en": line.message}],
    )


def record_key(entity: str, row: dict) -> str:
    if entity == "case":
        return f"{row['source_system']}/{row['case_id']}"
    if entity == "case_step":
        return f"{row['source_system']}/{row['case_id']}/{row['step_no']}"
    return str(row[{"department": "dept_code", "power_item": "power_code", "complaint": "complaint_id"}[entity]])


def _raw_lines(batch: RecordBatch, lines: pd.Series) -> dict[int, str]:
    """The raw text of the given lines of a batch (only those: raw text is decoded lazily)."""
    positions = pd.Index(batch.frame["_line"]).get_indexer(lines)
    return {int(line): batch.raw[int(pos)] for line, pos in zip(lines, positions, strict=True) if pos >= 0}


def _conflict_rows(batch: RecordBatch, conflicts: pd.DataFrame, *, held: bool = False) -> list[QuarantineRow]:
    raw_by_line = _raw_lines(batch, conflicts["_line"])
    other = "已收到、等待办件的环节" if held else "已入库记录"
    rows = []
    for record in conflicts.to_dict("records"):
        rows.append(
            QuarantineRow(
                source_system=batch.source_system,
                entity=batch.entity,
                record_key=record_key(batch.entity, record),
                origin=batch.origin,
                line_no=int(record["_line"]),
                raw_payload=raw_by_line.get(record["_line"], record["payload"]),
                violations=[
                    {
                        "path": "version",
                        "rule_id": "VERSION_CONFLICT",
                        "message_zh": f"同一版本号 {record['version']} 的内容与{other}不同，请提高版本号后重新报送",
                        "message_en": f"version {record['version']} was already received with other content; "
                        "send the change with a higher version",
                    }
                ],
            )
        )
    return rows


_HELD_COLUMNS = [
    "source_system",
    "case_id",
    "step_no",
    "version",
    "batch_id",
    "origin",
    "line_no",
    "raw_payload",
    "held_since_at",
]


_STEP_KEYS = ["source_system", "case_id", "step_no"]


@dataclass(frozen=True)
class _HeldSteps:
    held: int
    duplicate: int
    stale: int
    conflicts: list[QuarantineRow]


def _hold_steps(
    conn: Connection, batch: RecordBatch, held: pd.DataFrame, batch_id: int, now: datetime, places: Places | None
) -> _HeldSteps:
    """Keep steps of unknown cases until their case arrives (§3.4).

    Held steps follow the version rules of stored records (§4), among the batch's lines and against
    the steps held already: per key the highest version is kept (the earliest line on a tie); a lower
    version is stale, the same version with the same content a duplicate, with other content a
    ``VERSION_CONFLICT``.
    """
    if held is None or held.empty:
        return _HeldSteps(0, 0, 0, [])
    kept = _kept_steps(conn, held)
    weighed = weigh_versions(held, kept[[*_STEP_KEYS, "version_stored", "payload_sha256_stored"]], _STEP_KEYS)
    since = {(r.source_system, r.case_id, int(r.step_no)): r.held_since_at for r in kept.itertuples(index=False)}
    newer = weighed.newer
    raw_by_line = _raw_lines(batch, newer["_line"])
    rows = []
    for record in newer.to_dict("records"):
        key = (record["source_system"], record["case_id"], int(record["step_no"]))
        origin, line_no = _place(batch, int(record["_line"]), places)
        rows.append(
            {
                "source_system": key[0],
                "case_id": key[1],
                "step_no": key[2],
                "version": int(record["version"]),
                "batch_id": batch_id,
                "origin": origin,
                "line_no": line_no,
                "raw_payload": raw_by_line.get(record["_line"], record["payload"]),
                # the 7-day clock starts when the step was first held, not at its latest version
                "held_since_at": since.get(key, now),
            }
        )
        if key in since:
            conn.execute(
                delete(ops_held_step).where(
                    ops_held_step.c.source_system == key[0],
                    ops_held_step.c.case_id == key[1],
                    ops_held_step.c.step_no == key[2],
                )
            )
    if rows:
        conn.execute(insert(ops_held_step), rows)
    conflicts = _conflict_rows(batch, weighed.conflicts, held=True) if not weighed.conflicts.empty else []
    return _HeldSteps(len(rows), weighed.duplicate, weighed.stale, conflicts)


def _kept_steps(conn: Connection, held: pd.DataFrame) -> pd.DataFrame:
    """The steps held already under the keys of ``held``: version, content digest, held since."""
    wanted = zip(held["source_system"], held["case_id"], held["step_no"].astype(int), strict=True)
    found = rows_with_keys(conn, ops_held_step, _STEP_KEYS, wanted, "version", "raw_payload", "held_since_at")
    return pd.DataFrame(
        [
            (system, case_id, int(step_no), int(version), _held_sha256(raw), since)
            for system, case_id, step_no, version, raw, since in found
        ],
        columns=[*_STEP_KEYS, "version_stored", "payload_sha256_stored", "held_since_at"],
    )


def _held_sha256(raw_payload: str) -> str:
    """The digest the loader compares (of the canonical payload) for a step kept as it arrived."""
    payload = canonical_payload("case_step", json.loads(raw_payload))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def release_held_steps(
    engine: Engine,
    settings: Settings,
    references: ReferenceCache,
    summary: IngestSummary,
    *,
    cycle_id: str,
    now: datetime,
) -> None:
    """Load held steps whose case has arrived; quarantine as ORPHAN_STEP those held too long.

    The steps released are taken out of ``ops_held_step`` in the transaction that loads them: should
    the load fail, they stay held.
    """
    with engine.connect() as conn:
        held = pd.DataFrame([dict(r._mapping) for r in conn.execute(select(ops_held_step))])
    if held.empty:
        return
    known = references.for_system(None).cases
    known_keys = set(zip(known["source_system"], known["case_id"], strict=False))
    held["case_known"] = [k in known_keys for k in zip(held["source_system"], held["case_id"], strict=False)]
    held_since = pd.to_datetime(held["held_since_at"], utc=True)
    expired = ~held["case_known"] & (held_since <= pd.Timestamp(now) - timedelta(days=settings.held_step_days))

    for system, group in held[held["case_known"]].groupby("source_system"):
        group = group.reset_index(drop=True)
        # Each step gets a line of its own within the batch (steps held from different files share
        # line numbers); what is quarantined or held again is entered at its first origin and line.
        places = {
            i + 1: (str(r.origin), None if pd.isna(r.line_no) else int(r.line_no))
            for i, r in enumerate(group.itertuples(index=False))
        }
        report = store_batch(
            engine,
            settings,
            _batch_from_held(str(system), group),
            references,
            scope=None,
            cycle_id=cycle_id,
            now=now,
            reload=Reload(places, take=lambda conn, group=group: _take_held(conn, group)),
        )
        if report is not None:
            summary.batches.append(report)
    if expired.any():
        with engine.begin() as conn:
            orphans = held[expired]
            batch_id = open_batch(
                conn,
                cycle_id=cycle_id,
                source_system="*",
                entity="case_step",
                origin="held steps (expired)",
                started_at=now,
            )
            rows = [
                QuarantineRow(
                    source_system=r["source_system"],
                    entity="case_step",
                    record_key=f"{r['source_system']}/{r['case_id']}/{r['step_no']}",
                    origin=r["origin"],
                    line_no=r["line_no"],
                    raw_payload=r["raw_payload"],
                    violations=[
                        {
                            "path": "case_id",
                            "rule_id": "ORPHAN_STEP",
                            "message_zh": f"办件在 {settings.held_step_days} 天内未报送，环节无法挂接",
                            "message_en": f"the step's case did not arrive within {settings.held_step_days} days",
                        }
                    ],
                )
                for r in orphans.to_dict("records")
            ]
            add_to_quarantine(conn, batch_id, rows, now)
            _take_held(conn, orphans)
            counts = BatchCounts(len(rows), 0, len(rows), 0, 0, 0)
            close_batch(conn, batch_id, counts, finished_at=now, max_updated_at=None)
        summary.batches.append(BatchReport(batch_id, "*", "case_step", "held steps (expired)", counts))


def _batch_from_held(system: str, held: pd.DataFrame) -> RecordBatch:
    """The held steps as a batch whose lines are 1, 2, … in the order of ``held``."""
    records = [json.loads(raw) for raw in held["raw_payload"]]
    frame = records_to_frame("case_step", records, list(range(1, len(records) + 1)))
    return RecordBatch(
        source_system=system,
        entity="case_step",
        origin="held steps (released)",
        frame=frame,
        raw=list(held["raw_payload"]),
        unparsed=[],
        next_cursor=None,
        file_path=None,
        is_last_of_file=False,
    )


def _take_held(conn: Connection, held: pd.DataFrame) -> None:
    """Remove these held steps, each only in the version read; raises (so the transaction rolls back)
    when one is not there any more in that version."""
    taken = 0
    for r in held[[*_STEP_KEYS, "version"]].itertuples(index=False):
        taken += conn.execute(
            delete(ops_held_step).where(
                ops_held_step.c.source_system == r.source_system,
                ops_held_step.c.case_id == r.case_id,
                ops_held_step.c.step_no == int(r.step_no),
                ops_held_step.c.version == int(r.version),
            )
        ).rowcount
    if taken != len(held):
        raise HeldStepsChanged(
            f"{len(held) - taken} 个等待中的环节在释放时已变更，留待下次运行 / "
            f"{len(held) - taken} held step(s) changed while being released; they stay held for the next run"
        )
