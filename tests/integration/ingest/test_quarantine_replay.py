"""``sanheyi quarantine replay`` closes only what it stored, and an entry quarantined again stays the
one entry, at the file and line it came from (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from ingest_files import batches, drop, example_case, example_steps, stored_steps, warehouse
from sqlalchemy import Engine, func, select

from warehouse.batches import open_batch
from warehouse.quarantine_store import QuarantineRow, add_to_quarantine
from warehouse.tables import ops_quarantine

T0 = "2026-11-06T18:00:00+08:00"
EXPIRED = "2026-11-14T18:00:00+08:00"  # 8 days later: steps held since T0 are orphans
LATER = "2026-11-15T18:00:00+08:00"
REPLAY = ("2026-11-15T19:00:00+08:00", "2026-11-15T20:00:00+08:00")


def entries(cli, *options: str) -> list[dict]:
    code, out, _ = cli("quarantine", "list", "--format", "json", *options)
    assert code == 0
    return json.loads(out)


def entry_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(ops_quarantine)).scalar_one()


def test_replay_closes_what_it_stored_and_keeps_a_conflict_as_the_same_entry(
    home: Path, examples_dir: Path, cli
) -> None:
    # a case and a conflicting copy of it (same version, other content); steps of a case not sent yet
    drop(home, "case.20261101a.jsonl", [example_case(examples_dir, "CASEC000001")])
    drop(home, "case.20261101b.jsonl", [example_case(examples_dir, "CASEC000001", result_note="另一份办结意见")])
    steps = example_steps(examples_dir, "CASED000001")
    drop(home, "case_step.20261101.jsonl", steps[:2])
    assert cli("run", "--stage", "ingest", "--as-of", T0)[0] == 0
    # the case of the steps does not come within 7 days: they are quarantined as orphans
    assert cli("run", "--stage", "ingest", "--as-of", EXPIRED)[0] == 0
    before = {(e["reason"], e["record_key"]): e for e in entries(cli)}
    assert set(before) == {
        ("VERSION_CONFLICT", "UNIFIED/CASEC000001"),
        ("ORPHAN_STEP", "UNIFIED/CASED000001/1"),
        ("ORPHAN_STEP", "UNIFIED/CASED000001/2"),
    }
    conflict = before["VERSION_CONFLICT", "UNIFIED/CASEC000001"]
    assert (Path(conflict["origin"]).name, conflict["line_no"]) == ("case.20261101b.jsonl", 1)
    # then the case arrives, and step 2 is sent again and loaded
    drop(home, "case.20261102.jsonl", [example_case(examples_dir, "CASED000001")])
    drop(home, "case_step.20261102.jsonl", [steps[1]])
    assert cli("run", "--stage", "ingest", "--as-of", LATER)[0] == 0

    code, out, err = cli("quarantine", "replay", "--as-of", REPLAY[0])
    assert code == 0, err
    assert "3 record(s) replayed: 1 loaded, 1 duplicate, 0 stale (these entries are closed)" in out
    assert "1 quarantined again (their entries stay open); 1 still in quarantine" in out
    engine = warehouse(home)
    assert set(stored_steps(engine)) == {("CASED000001", 1), ("CASED000001", 2)}
    # the conflict is still the one entry, where the department sent it
    [still] = entries(cli)
    assert still == conflict
    closed = {e["record_key"]: e["status"] for e in entries(cli, "--all") if e["reason"] == "ORPHAN_STEP"}
    assert closed == {"UNIFIED/CASED000001/1": "REPLAYED", "UNIFIED/CASED000001/2": "REPLAYED"}

    # replaying again adds nothing: no new entry per replay
    total = entry_count(engine)
    code, out, _ = cli("quarantine", "replay", "--as-of", REPLAY[1])
    assert code == 0
    assert "1 record(s) replayed: 0 loaded, 0 duplicate, 0 stale" in out and "1 still in quarantine" in out
    assert entries(cli) == [conflict] and entry_count(engine) == total
    batches(engine)  # every batch balances
    engine.dispose()


def test_a_record_quarantined_again_from_the_same_place_keeps_its_entry_with_the_reasons_it_has_now(
    warehouse_engine: Engine,
) -> None:
    at = datetime(2026, 11, 6, 10, tzinfo=UTC)

    def row(rule_id: str) -> QuarantineRow:
        violation = {"path": "power_code", "rule_id": rule_id, "message_zh": rule_id, "message_en": rule_id}
        return QuarantineRow(
            "UNIFIED", "case", "UNIFIED/CASEC000001", "inbox/UNIFIED/case.a.jsonl", 3, "{}", [violation]
        )

    with warehouse_engine.begin() as conn:
        batch_id = open_batch(conn, cycle_id="c", source_system="UNIFIED", entity="case", origin="o", started_at=at)
        add_to_quarantine(conn, batch_id, [row("UNKNOWN_POWER")], at)
        add_to_quarantine(conn, batch_id, [row("UNKNOWN_POWER")], at)
        add_to_quarantine(conn, batch_id, [row("VERSION_CONFLICT")], at)
    with warehouse_engine.connect() as conn:
        stored = conn.execute(select(ops_quarantine.c.reason, ops_quarantine.c.violations)).all()
    assert [(reason, [v["rule_id"] for v in violations]) for reason, violations in stored] == [
        ("VERSION_CONFLICT", ["VERSION_CONFLICT"])
    ]
