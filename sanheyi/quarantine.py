"""The quarantine as the data engineers and departments see it: list, export, replay."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, select

from connectors.base import RecordBatch, records_to_frame
from reports.masking import mask_ids_in_text, mask_key
from sanheyi.ingest import BatchReport, Reload, store_batch
from sanheyi.pipeline import require_initialised, sources_to_read, warehouse_engine
from sanheyi.references import ReferenceCache
from sanheyi.settings import Settings
from validators import validate_batch
from warehouse.quarantine_store import open_quarantine, resolve
from warehouse.tables import ops_quarantine

_LISTED = (
    "quarantine_id",
    "source_system",
    "entity",
    "record_key",
    "origin",
    "line_no",
    "reason",
    "status",
    "standard_version",
    "quarantined_at",
)


def list_quarantine(settings: Settings, *, system: str | None = None, include_resolved: bool = False) -> list[dict]:
    """Quarantine entries with their violations, masked as reports mask them (§9): the raw payload
    (personal data) is left out, and a key part, origin or message that is an ID number is masked."""
    require_initialised(settings)
    engine = warehouse_engine(settings)
    query = select(ops_quarantine).order_by(ops_quarantine.c.quarantine_id)
    if not include_resolved:
        query = query.where(ops_quarantine.c.status == "OPEN")
    if system:
        query = query.where(ops_quarantine.c.source_system == system)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    engine.dispose()
    return [
        {
            **{k: (row[k].isoformat() if isinstance(row[k], datetime) else row[k]) for k in _LISTED},
            "record_key": mask_key(row["record_key"]),
            "origin": mask_ids_in_text(row["origin"]),
            "violations": [_masked_violation(v) for v in row["violations"]],
        }
        for row in rows
    ]


def _masked_violation(violation: dict) -> dict:
    return {
        **violation,
        "message_zh": mask_ids_in_text(violation.get("message_zh")),
        "message_en": mask_ids_in_text(violation.get("message_en")),
    }


def export_quarantine(settings: Settings, system: str, out: Path) -> int:
    """Write a system's open entries as JSON Lines for the department to correct and send again.

    The raw payload is included: it is the department's own data going back to it, to a file the
    operator chose, never to a log.
    """
    require_initialised(settings)
    engine = warehouse_engine(settings)
    with engine.connect() as conn:
        entries = open_quarantine(conn, source_system=system)
    engine.dispose()
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".part")
    with temporary.open("w", encoding="utf-8") as handle:
        for entry in entries:
            handle.write(
                json.dumps(
                    {
                        "entity": entry["entity"],
                        "record_key": entry["record_key"],
                        "origin": entry["origin"],
                        "line_no": entry["line_no"],
                        "standard_version": entry["standard_version"],
                        "violations": entry["violations"],
                        "record": entry["raw_payload"],
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    temporary.replace(out)
    return len(entries)


@dataclass(frozen=True)
class ReplayResult:
    """What a replay did with the open entries that validate now."""

    loaded: int = 0  # closed: loaded
    duplicate: int = 0  # closed: the warehouse holds this version with this content already
    stale: int = 0  # closed: the warehouse holds a newer version
    held: int = 0  # closed: a step held again until its case arrives
    quarantined: int = 0  # kept open, with the rules they break now (VERSION_CONFLICT)
    still_open: int = 0  # open entries after the replay

    @property
    def replayed(self) -> int:
        return self.closed + self.quarantined

    @property
    def closed(self) -> int:
        return self.loaded + self.duplicate + self.stale + self.held


def replay_quarantine(settings: Settings, as_of: datetime) -> ReplayResult:
    """Validate open entries again against what the warehouse knows now; store those that pass.

    An entry that passes is stored as a record of a batch of its own: once it is loaded, or found a
    duplicate or stale, the entry is marked ``REPLAYED`` (in the batch's transaction). One that is
    quarantined again (a ``VERSION_CONFLICT``) stays the same open entry, with its original file and
    line and the rules it breaks now. Entries that still fail validation, and steps whose case is
    still unknown, stay open with their reasons.
    """
    require_initialised(settings)
    engine = warehouse_engine(settings)
    scopes = {source.system_code: source.scope for source in sources_to_read(engine, settings)}
    references = ReferenceCache(engine)
    with engine.connect() as conn:
        entries = pd.DataFrame(open_quarantine(conn))
    counts = {"loaded": 0, "duplicate": 0, "stale": 0, "held": 0, "quarantined": 0}
    if not entries.empty:
        entries = entries[entries["reason"] != "PARSE"]
        for entity in ("department", "power_item", "case", "case_step", "complaint"):
            for system, group in entries[entries["entity"] == entity].groupby("source_system", sort=True):
                if system not in scopes:
                    continue  # a system no longer approved: its records wait
                batch = _batch_from_entries(str(system), entity, group)
                outcome = validate_batch(batch, references.for_system(scopes[system]))
                waiting = {item.line_no for item in outcome.quarantined}
                waiting |= {int(line) for line in outcome.held["_line"]}  # a step whose case is still unknown
                passing = group[~group["quarantine_id"].isin(waiting)]
                if passing.empty:
                    continue  # nothing changed for these: they stay open with their reasons
                report = store_batch(
                    engine,
                    settings,
                    _batch_from_entries(str(system), entity, passing),
                    references,
                    scope=scopes[system],
                    cycle_id=f"replay-{as_of:%Y%m%d%H%M%S}",
                    now=as_of,
                    reload=Reload(
                        {
                            int(e.quarantine_id): (str(e.origin), None if pd.isna(e.line_no) else int(e.line_no))
                            for e in passing.itertuples(index=False)
                        },
                        settle=_closer(passing["quarantine_id"].astype(int).tolist(), as_of),
                    ),
                )
                if report is not None:
                    counts["loaded"] += report.counts.loaded
                    counts["duplicate"] += report.counts.duplicate
                    counts["stale"] += report.counts.stale
                    counts["held"] += report.counts.held
                    counts["quarantined"] += report.counts.quarantined
    with engine.connect() as conn:
        still = len(open_quarantine(conn))
    engine.dispose()
    return ReplayResult(**counts, still_open=still)


def _closer(quarantine_ids: list[int], at: datetime) -> Callable[[Connection, BatchReport], None]:
    """Close, in the replay batch's transaction, the entries that did not go back to quarantine."""

    def settle(conn: Connection, report: BatchReport) -> None:
        resolve(conn, [q for q in quarantine_ids if q not in report.quarantined_lines], "REPLAYED", at)

    return settle


def _batch_from_entries(system: str, entity: str, entries: pd.DataFrame) -> RecordBatch:
    records = [json.loads(raw) for raw in entries["raw_payload"]]
    # the quarantine id stands in for the line: unique within the replayed batch
    frame = records_to_frame(entity, records, entries["quarantine_id"].astype(int).tolist())
    return RecordBatch(
        source_system=system,
        entity=entity,
        origin="quarantine replay",
        frame=frame,
        raw=list(entries["raw_payload"]),
        unparsed=[],
        next_cursor=None,
        file_path=None,
        is_last_of_file=False,
    )
