"""Builds the SupervisionData of the example scenarios from the example inbox (test helper)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from supervision.model import SupervisionData

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "examples"
INBOX = DATA / "inbox"
EXPECTED = DATA / "expected"
AS_OF = "2026-11-06T18:00:00+08:00"
SCENARIOS = ("unified-only", "with-SELF_GA")
ENTITIES = ("department", "power_item", "case", "case_step", "complaint")
KEYS = {
    "department": ("dept_code",),
    "power_item": ("power_code",),
    "case": ("source_system", "case_id"),
    "case_step": ("source_system", "case_id", "step_no"),
    "complaint": ("complaint_id",),
}
INT_FIELDS = {"version", "promised_limit", "step_no", "legal_limit"}


def _read(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    with path.open(encoding="utf-8", newline="") as fh:
        rows = []
        for raw in csv.DictReader(fh):
            rows.append({k: (None if v == "" else int(v) if k in INT_FIELDS else v) for k, v in raw.items()})
        return rows


def load_scenario(scenario: str) -> SupervisionData:
    systems = ["UNIFIED"] + (["SELF_GA"] if scenario == "with-SELF_GA" else [])
    quarantine = json.loads((EXPECTED / "quarantine.json").read_text(encoding="utf-8"))
    dropped = {(q["source_system"], q["case_id"]) for q in quarantine if q["rule_family"] != "VERSION_CONFLICT"}
    stored: dict[str, dict[tuple, dict[str, Any]]] = {e: {} for e in ENTITIES}
    for system in systems:
        for entity in ENTITIES:
            for path in sorted((INBOX / system).glob(f"{entity}.*")):
                if path.name.split(".")[0] != entity:
                    continue
                for rec in _read(path):
                    if entity == "case" and (rec["source_system"], rec["case_id"]) in dropped:
                        continue
                    key = tuple(rec[k] for k in KEYS[entity])
                    old = stored[entity].get(key)
                    # highest version wins; equal version: duplicate (same) or conflict (stored one stays)
                    if old is None or rec["version"] > old["version"]:
                        stored[entity][key] = rec
    cases = stored["case"]
    steps = [s for k, s in stored["case_step"].items() if (k[0], k[1]) in cases]
    return SupervisionData.from_records(
        departments=stored["department"].values(),
        power_items=stored["power_item"].values(),
        cases=cases.values(),
        steps=steps,
        complaints=stored["complaint"].values(),
    )


def expected_events(scenario: str) -> set[tuple[str, str, str]]:
    rows = json.loads((EXPECTED / f"events_{scenario}.json").read_text(encoding="utf-8"))
    out = set()
    for r in rows:
        key = (
            f"{r['rule']}:{r['complaint_id']}"
            if "complaint_id" in r
            else f"{r['rule']}:{r['source_system']}:{r['case_id']}"
        )
        out.add((r["rule"], key, r["event_date"]))
    return out


def expected_statistics(scenario: str, period_from: str, period_to: str) -> dict[str, Any]:
    path = EXPECTED / f"statistics_{period_from}_{period_to}_{scenario}.json"
    return json.loads(path.read_text(encoding="utf-8"))
