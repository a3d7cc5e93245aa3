"""Steps whose case is not known yet are held (§3.4), counted by the version rules of §4, and loaded once
their case arrives; releasing them is all or nothing with their load (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ingest_files import batches, counts, drop, example_case, example_steps, held_steps, stored_steps, warehouse

import sanheyi.ingest

T0 = "2026-11-06T18:00:00+08:00"
T1 = "2026-11-06T19:00:00+08:00"
T2 = "2026-11-06T20:00:00+08:00"


def quarantined(cli) -> list[dict]:
    code, out, _ = cli("quarantine", "list", "--format", "json")
    assert code == 0
    return json.loads(out)


def hold_two_cases_steps(home: Path, examples_dir: Path, cli) -> None:
    """Two step files for two unknown cases: every step is held, and the files share line numbers."""
    drop(home, "case_step.20261101a.jsonl", example_steps(examples_dir, "CASEA000001"))
    drop(home, "case_step.20261101b.jsonl", example_steps(examples_dir, "CASEB000001"))
    code, _, err = cli("run", "--stage", "ingest", "--as-of", T0)
    assert code == 0, err
    engine = warehouse(home)
    assert [counts(b) for b in batches(engine) if b["entity"] == "case_step"] == [(4, 0, 0, 0, 0, 4)] * 2
    assert len(held_steps(engine)) == 8
    engine.dispose()


def send_the_two_cases(home: Path, examples_dir: Path) -> None:
    """The cases of the held steps arrive."""
    drop(
        home,
        "case.20261102.jsonl",
        [example_case(examples_dir, "CASEA000001"), example_case(examples_dir, "CASEB000001")],
    )


def test_released_steps_load_and_a_conflicting_one_is_quarantined_at_its_own_file_and_line(
    home: Path, examples_dir: Path, cli
) -> None:
    hold_two_cases_steps(home, examples_dir, cli)
    # the cases arrive, with a correction of a held step that keeps its version (a conflict with it)
    send_the_two_cases(home, examples_dir)
    correction = {**example_steps(examples_dir, "CASEA000001")[0], "opinion": "更正后的意见"}
    drop(home, "case_step.20261102.jsonl", [correction])

    code, out, err = cli("run", "--stage", "ingest", "--as-of", T1)
    assert code == 0, err
    engine = warehouse(home)
    released = [b for b in batches(engine) if b["origin"] == "held steps (released)"]
    assert [counts(b) for b in released] == [(8, 7, 1, 0, 0, 0)]
    assert "held steps (released)" in out
    # nothing lost: every step is stored (the correction, which arrived first, for step 1 of A) ...
    steps = stored_steps(engine)
    assert len(steps) == 8 and steps[("CASEA000001", 1)] == (1, "更正后的意见")
    assert held_steps(engine) == {}
    engine.dispose()
    # ... and the held step that conflicts with it is quarantined where the department sent it
    [entry] = quarantined(cli)
    assert (entry["reason"], entry["record_key"]) == ("VERSION_CONFLICT", "UNIFIED/CASEA000001/1")
    assert (Path(entry["origin"]).name, entry["line_no"]) == ("case_step.20261101a.jsonl", 1)


def test_a_release_that_fails_leaves_the_steps_held_for_the_next_run(
    home: Path, examples_dir: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    hold_two_cases_steps(home, examples_dir, cli)
    send_the_two_cases(home, examples_dir)
    upsert = sanheyi.ingest.upsert_records

    def failing(conn, entity, *args, **kwargs):  # type: ignore[no-untyped-def]
        if entity == "case_step":
            raise OSError("disk full")
        return upsert(conn, entity, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(sanheyi.ingest, "upsert_records", failing)
        code, _, err = cli("run", "--stage", "ingest", "--as-of", T1)
    assert code == 1 and "unexpected failure" in err
    engine = warehouse(home)
    assert stored_steps(engine) == {}
    assert len(held_steps(engine)) == 8  # still held, not lost
    assert all(b["origin"] != "held steps (released)" for b in batches(engine))

    code, _, err = cli("run", "--stage", "ingest", "--as-of", T2)
    assert code == 0, err
    assert len(stored_steps(engine)) == 8 and held_steps(engine) == {}
    assert [counts(b) for b in batches(engine) if b["origin"] == "held steps (released)"] == [(8, 8, 0, 0, 0, 0)]
    engine.dispose()


def test_held_steps_are_counted_by_the_version_rules_of_loaded_records(home: Path, examples_dir: Path, cli) -> None:
    first, second = example_steps(examples_dir, "CASEA000001")[:2]
    drop(
        home,
        "case_step.20261101a.jsonl",
        [
            {**first, "version": 2, "opinion": "甲"},
            {**first, "version": 2, "opinion": "乙"},  # same version, other content: the earlier line wins
            second,
        ],
    )
    drop(
        home,
        "case_step.20261101b.jsonl",
        [
            first,  # version 1, below the held version 2: stale
            {**first, "version": 2, "opinion": "甲"},  # the held step again: duplicate
            {**first, "version": 2, "opinion": "丙"},  # same version as the held one, other content
            {**second, "version": 2},  # newer than the held one: it replaces it
        ],
    )
    code, _, err = cli("run", "--stage", "ingest", "--as-of", T0)
    assert code == 0, err
    engine = warehouse(home)
    # (received, loaded, quarantined, duplicate, stale, held)
    assert [counts(b) for b in batches(engine) if b["entity"] == "case_step"] == [
        (3, 0, 1, 0, 0, 2),
        (4, 0, 1, 1, 1, 1),
    ]
    assert held_steps(engine) == {
        ("CASEA000001", 1): (2, "case_step.20261101a.jsonl", 1, "甲"),
        ("CASEA000001", 2): (2, "case_step.20261101b.jsonl", 4, second["opinion"]),
    }
    conflicts = sorted((Path(e["origin"]).name, e["line_no"], e["reason"]) for e in quarantined(cli))
    assert conflicts == [
        ("case_step.20261101a.jsonl", 2, "VERSION_CONFLICT"),
        ("case_step.20261101b.jsonl", 3, "VERSION_CONFLICT"),
    ]

    drop(home, "case.20261102.jsonl", [example_case(examples_dir, "CASEA000001")])
    code, _, err = cli("run", "--stage", "ingest", "--as-of", T1)
    assert code == 0, err
    assert stored_steps(engine) == {("CASEA000001", 1): (2, "甲"), ("CASEA000001", 2): (2, second["opinion"])}
    assert held_steps(engine) == {}
    engine.dispose()
