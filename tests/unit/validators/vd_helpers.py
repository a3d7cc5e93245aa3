"""Shared helpers of the validator tests: example records, batches, reference data."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from connectors.base import RecordBatch, json_line, records_to_frame
from validators import ReferenceData, validate_batch
from validators.expectations import BatchHistory

# A run's instant and a source's steady history, for the data quality suite tests.
SUITE_NOW = datetime.fromisoformat("2026-11-06T18:00:00+08:00")
STEADY_HISTORY = BatchHistory(
    volumes=(120, 100, 110),
    earlier_batches=5,
    seen_values={
        "channel": frozenset("1234"),
        "status": frozenset({"IN_PROGRESS", "COMPLETED", "WITHDRAWN", "TERMINATED"}),
    },
    null_fractions={"result_note": (0.2, 0.25, 0.2), "satisfaction": (0.5, 0.5, 0.5)},
)


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of an example file, CSV typed like the file drop types it."""
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            rec: dict[str, Any] = {}
            for k, v in row.items():
                if v == "":
                    rec[k] = None
                elif k in ("version", "promised_limit", "step_no", "legal_limit"):
                    rec[k] = int(v)
                else:
                    rec[k] = v
            rows.append(rec)
    return rows


def good_records(examples: Path, entity: str) -> list[dict[str, Any]]:
    """Records of the UNIFIED example inbox that are not in the expected quarantine."""
    out = []
    for path in sorted((examples / "inbox" / "UNIFIED").glob(f"{entity}.*")):
        for rec in read_records(path):
            if not str(rec.get("case_id", "")).startswith("BAD"):
                out.append(rec)
    return out


def batch_of(entity: str, records: list[Any], system: str = "UNIFIED") -> RecordBatch:
    """A batch like a connector would hand over (frame + raw text)."""
    dicts = [r for r in records if isinstance(r, dict)]
    frame = records_to_frame(entity, dicts, list(range(1, len(dicts) + 1)))
    return RecordBatch(
        source_system=system, entity=entity, origin=f"test:{entity}", frame=frame, raw=[json_line(r) for r in dicts]
    )


def example_refs(examples: Path, scope: frozenset[str] | None = None) -> ReferenceData:
    """References as the warehouse would know them after the UNIFIED example cycle."""
    deps = frozenset(r["dept_code"] for r in good_records(examples, "department"))
    items = pd.DataFrame(good_records(examples, "power_item"))
    items = items.assign(valid_from_at=pd.to_datetime(items["updated_at"], utc=True))[
        ["power_code", "version", "state", "dept_code", "promised_limit", "power_type", "valid_from_at"]
    ]
    cases = pd.DataFrame(good_records(examples, "case"))
    cases = cases.assign(received_at=pd.to_datetime(cases["received_at"], utc=True, format="ISO8601"))[
        ["source_system", "case_id", "received_at"]
    ].drop_duplicates(["source_system", "case_id"])
    return ReferenceData(deps, items, cases, scope)


def rules_of(outcome_or_list: Any) -> list[list[tuple[str, str]]]:
    items = outcome_or_list.quarantined if hasattr(outcome_or_list, "quarantined") else outcome_or_list
    return [[(v.path, v.rule_id) for v in q.violations] for q in items]


def validate_one(
    entity: str, record: dict[str, Any], refs: ReferenceData | None = None, system: str = "UNIFIED"
) -> list[tuple[str, str]]:
    out = validate_batch(batch_of(entity, [record], system), refs)
    return [(v.path, v.rule_id) for q in out.quarantined for v in q.violations]
