"""Records and inbox files for the ingest tests, made from the standard's example dataset (no real people)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, select

from sanheyi.settings import load_settings
from warehouse.db import make_engine
from warehouse.tables import fct_case_step, ops_held_step, ops_load_batch

EXAMPLE_CASE = "LY3204810000002"  # completed, with the four steps SL SH PZ BJ
_UNIFIED = Path("inbox") / "UNIFIED"


def example_case(examples_dir: Path, case_id: str, **changes: object) -> dict:
    """The example case under another id (its applicant is generated, not a real person)."""
    for line in (examples_dir / _UNIFIED / "case.20261125a.jsonl").read_text("utf-8").splitlines():
        record = json.loads(line)
        if record["case_id"] == EXAMPLE_CASE:
            return {**record, "case_id": case_id, **changes}
    raise LookupError(EXAMPLE_CASE)


def example_steps(examples_dir: Path, case_id: str) -> list[dict]:
    """The example case's steps, by step_no, under another case id."""
    steps = []
    for line in (examples_dir / _UNIFIED / "case_step.20261125a.jsonl").read_text("utf-8").splitlines():
        record = json.loads(line)
        if record["case_id"] == EXAMPLE_CASE:
            steps.append({**record, "case_id": case_id})
    return sorted(steps, key=lambda s: s["step_no"])


def drop(home: Path, name: str, records: list[dict]) -> None:
    """A JSON Lines file in the unified platform's inbox."""
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    (home / _UNIFIED / name).write_text(text, encoding="utf-8")


def warehouse(home: Path) -> Engine:
    return make_engine(load_settings(home).warehouse_url)


def batches(engine: Engine) -> list[dict]:
    """Every load batch, oldest first; each must balance."""
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(ops_load_batch).order_by(ops_load_batch.c.batch_id)).mappings()]
    for b in rows:
        assert b["received_count"] == (
            b["loaded_count"] + b["quarantined_count"] + b["duplicate_count"] + b["stale_count"] + b["held_count"]
        ), b
    return rows


def counts(batch: dict) -> tuple[int, ...]:
    """(received, loaded, quarantined, duplicate, stale, held) of a batch."""
    return tuple(batch[f"{c}_count"] for c in ("received", "loaded", "quarantined", "duplicate", "stale", "held"))


def held_steps(engine: Engine) -> dict[tuple[str, int], tuple[int, str, int | None, str]]:
    """(case_id, step_no) → (version, origin file, line, opinion) of every held step."""
    with engine.connect() as conn:
        rows = conn.execute(select(ops_held_step)).mappings().all()
    return {
        (r["case_id"], r["step_no"]): (
            r["version"],
            Path(r["origin"]).name,
            r["line_no"],
            json.loads(r["raw_payload"])["opinion"],
        )
        for r in rows
    }


def stored_steps(engine: Engine) -> dict[tuple[str, int], tuple[int, str | None]]:
    """(case_id, step_no) → (version, opinion) of every stored step."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(fct_case_step.c.case_id, fct_case_step.c.step_no, fct_case_step.c.version, fct_case_step.c.opinion)
        ).all()
    return {(case_id, step_no): (version, opinion) for case_id, step_no, version, opinion in rows}
