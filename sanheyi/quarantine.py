"""The quarantine as the data engineers and departments see it: list, export, replay."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from connectors.base import RecordBatch, records_to_frame
from sanheyi.ingest import IngestSummary, store_batch
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
    """Quarantine entries with their violations; the raw payload (personal data) is left out."""
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
            "violations": row["violations"],
        }
        for row in rows
    ]


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


def replay_quarantine(settings: Settings, as_of: datetime) -> tuple[int, int]:
    """Validate open entries again against what the warehouse knows now; load those that pass.

    Entries that pass are marked ``REPLAYED``; the others stay open with their original reasons.
    Returns (replayed, still open).
    """
    require_initialised(settings)
    engine = warehouse_engine(settings)
    scopes = {source.system_code: source.scope for source in sources_to_read(engine, settings)}
    references = ReferenceCache(engine)
    summary = IngestSummary()
    with engine.connect() as conn:
        entries = pd.DataFrame(open_quarantine(conn))
    replayed = 0
    if not entries.empty:
        entries = entries[entries["reason"] != "PARSE"]
        for entity in ("department", "power_item", "case", "case_step", "complaint"):
            for system, group in entries[entries["entity"] == entity].groupby("source_system", sort=True):
                if system not in scopes:
                    continue  # a system no longer approved: its records wait
                batch = _batch_from_entries(str(system), entity, group)
                outcome = validate_batch(batch, references.for_system(scopes[system]))
                failing = {item.line_no for item in outcome.quarantined}
                passing = group[~group["quarantine_id"].isin(failing)]
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
                )
                if report is not None:
                    summary.batches.append(report)
                with engine.begin() as conn:
                    resolve(conn, passing["quarantine_id"].tolist(), "REPLAYED", as_of)
                replayed += len(passing)
    with engine.connect() as conn:
        still = len(open_quarantine(conn))
    engine.dispose()
    return replayed, still


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
