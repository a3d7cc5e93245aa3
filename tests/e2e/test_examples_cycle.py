"""The command line on the standard's example dataset: quarantine, statistics and events exactly as
the standard prescribes, for the unified platform alone and with the self-built system SELF_GA."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sanheyi.settings import load_settings
from sanheyi.supervise import load_supervision_data, supervision_options, work_calendar
from supervision.events import compute_events
from validators import FAMILY
from warehouse.db import make_engine
from warehouse.tables import fct_case, fct_case_step, fct_complaint, ops_load_batch

AS_OF = "2026-11-06T18:00:00+08:00"
PERIODS = (("2026-10-01", "2026-10-31"), ("2026-06-01", "2026-11-30"))


@pytest.fixture
def home(examples_home: Path, examples_dir: Path) -> Path:
    shutil.copytree(examples_dir / "inbox" / "SELF_GA", examples_home / "inbox" / "SELF_GA")
    return examples_home


def expected(examples_dir: Path, name: str) -> object:
    return json.loads((examples_dir / "expected" / name).read_text(encoding="utf-8"))


def quarantined(cli) -> list[dict]:
    code, out = cli("quarantine", "list", "--format", "json")
    assert code == 0
    return json.loads(out)


def record_case_key(entry: dict) -> tuple[str, str]:
    """(source_system, case_id) as the record states them (a spoofed record names another system
    than the one it arrived from)."""
    source_system, case_id = entry["record_key"].split("/")[:2]
    return source_system, case_id


def assert_statistics_match(cli_streams, examples_dir: Path, scenario: str) -> None:
    for period_from, period_to in PERIODS:
        code, out, err = cli_streams(
            "stats", "--from", period_from, "--to", period_to, "--as-of", AS_OF, "--format", "json"
        )
        assert code == 0
        want = expected(examples_dir, f"statistics_{period_from}_{period_to}_{scenario}.json")
        # exactly the file: no key more or less, and 1 is not 1.0
        assert json.dumps(json.loads(out), sort_keys=True) == json.dumps(want, sort_keys=True)
        assert "含推定日历" not in err


def stored_events(home: Path) -> set[tuple]:
    settings = load_settings(home)
    engine = make_engine(settings.warehouse_url)
    data = load_supervision_data(engine)
    engine.dispose()
    from datetime import datetime

    events = compute_events(data, datetime.fromisoformat(AS_OF), work_calendar(settings), supervision_options(settings))
    return {
        (
            e["rule"],
            e["complaint_id"] if e["rule"] == "TS01" else (e["case_source_system"], e["case_id"]),
            e["event_date"].isoformat(),
        )
        for e in events.to_dict("records")
    }


def expected_events(examples_dir: Path, scenario: str) -> set[tuple]:
    return {
        (e["rule"], e["complaint_id"] if e["rule"] == "TS01" else (e["source_system"], e["case_id"]), e["event_date"])
        for e in expected(examples_dir, f"events_{scenario}.json")
    }


def test_unified_cycle_matches_the_standard(home: Path, examples_dir: Path, cli, cli_streams) -> None:
    code, out = cli("run", "--as-of", AS_OF)
    assert code == 0, out

    # every invalid record is in quarantine with the family of rule it breaks, and nothing else is
    entries = quarantined(cli)
    want = {
        (q["source_system"], q["case_id"]): q["rule_family"]
        for q in expected(examples_dir, "quarantine.json")
        if q["rule_family"] != "SCOPE"
    }
    got = {record_case_key(e): {FAMILY.get(v["rule_id"], v["rule_id"]) for v in e["violations"]} for e in entries}
    assert set(got) == set(want)
    for key, family in want.items():
        assert family in got[key], (key, family, got[key])
    # the quarantine shows no personal data
    listing = json.dumps(entries, ensure_ascii=False)
    for line in (home / "archive" / "UNIFIED" / "case.20261125a.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        assert record["applicant_id_no"] not in listing
        assert f'"{record["applicant_name"]}"' not in listing

    assert_statistics_match(cli_streams, examples_dir, "unified-only")
    assert stored_events(home) == expected_events(examples_dir, "unified-only")

    # the self-built system is not approved: its files wait untouched
    assert sorted(p.name for p in (home / "inbox" / "SELF_GA").iterdir()) == [
        "case.20261125.jsonl",
        "case_step.20261125.jsonl",
    ]
    # the unified files were archived, none deleted
    assert len(list((home / "archive" / "UNIFIED").iterdir())) == 9


def test_every_batch_balances_and_a_second_run_changes_nothing(home: Path, cli) -> None:
    assert cli("run", "--as-of", AS_OF, "--stage", "ingest")[0] == 0
    engine = make_engine(load_settings(home).warehouse_url)

    def snapshot() -> tuple:
        with engine.connect() as conn:
            batches = conn.execute(select(ops_load_batch)).mappings().all()
            tables = tuple(
                tuple(conn.execute(select(t.c.payload_sha256).order_by(t.c.payload_sha256)).scalars())
                for t in (fct_case, fct_case_step, fct_complaint)
            )
        return batches, tables

    batches, first = snapshot()
    for b in batches:
        assert b["received_count"] == (
            b["loaded_count"] + b["quarantined_count"] + b["duplicate_count"] + b["stale_count"] + b["held_count"]
        )
    assert sum(b["duplicate_count"] for b in batches) > 0  # the examples re-send exact duplicates
    code, out = cli("run", "--as-of", AS_OF, "--stage", "ingest")
    assert code == 0 and "no new data" in out
    batches_again, second = snapshot()
    assert second == first and len(batches_again) == len(batches)
    with engine.connect() as conn:
        # 41 + 41 valid cases in the two case files; the 12 loaded updates are newer versions of them
        assert conn.execute(select(func.count()).select_from(fct_case)).scalar_one() == 82
    engine.dispose()


def test_self_built_system_after_approval(home: Path, examples_dir: Path, cli, cli_streams, tmp_path: Path) -> None:
    assert cli("run", "--as-of", AS_OF, "--stage", "ingest")[0] == 0
    application = tmp_path / "application.SELF_GA.yaml"
    shutil.copy(examples_dir / "application.SELF_GA.yaml", application)
    assert cli("systems", "apply", str(application))[0] == 0

    code, _ = cli("systems", "approve", "SELF_GA", "--by", "项目办", "--reason", "涉密")
    assert code == 1  # refused without a passing conformance check
    code, out = cli("systems", "list", "--format", "json")
    assert [s["state"] for s in json.loads(out) if s["system_code"] == "SELF_GA"] == ["APPLIED"]

    code, out = cli("systems", "check", "SELF_GA")
    assert code == 0, out
    assert cli("systems", "approve", "SELF_GA", "--by", "项目办", "--reason", "涉密, 检查通过")[0] == 0
    shutil.copy(examples_dir / "later" / "case.20261126.jsonl", home / "inbox" / "SELF_GA" / "case.20261126.jsonl")

    assert cli("run", "--as-of", AS_OF)[0] == 0
    scope = {record_case_key(e) for e in quarantined(cli) if e["reason"] == "SCOPE"}
    assert scope == {
        (q["source_system"], q["case_id"])
        for q in expected(examples_dir, "quarantine.json")
        if q["rule_family"] == "SCOPE"
    }
    assert_statistics_match(cli_streams, examples_dir, "with-SELF_GA")
    assert stored_events(home) == expected_events(examples_dir, "with-SELF_GA")
    code, out = cli("systems", "verify-log")
    assert code == 0 and "intact" in out
    head = re.search(r"head (\d+:[0-9a-f]{64})", out)
    assert head is not None, out  # printed for the record, as every report prints it
    code, out = cli("systems", "verify-log", "--head", head[1])
    assert code == 0 and "published head(s) given are in it" in out
    code, out = cli("report", "--from", "2026-10-01", "--to", "2026-10-31", "--as-of", AS_OF)
    html = next(Path(line) for line in out.split() if line.endswith(".html"))
    assert code == 0 and head[1] in html.read_text(encoding="utf-8")  # the report publishes the head
    code, out = cli("systems", "verify-log", "--head", f"99:{'0' * 64}")
    assert code == 1 and "decision 99 is no longer in the log" in out
    code, out = cli("systems", "verify-log", "--head", "latest")
    assert code == 2 and "id:sha256" in out
