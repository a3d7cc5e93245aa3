"""A generated dataset with known invalid records: each is quarantined with the rule it breaks,
none is loaded, every valid record is loaded exactly once, and the counts balance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from sanheyi.settings import load_settings
from simulators.generator import GeneratorSpec, generate, write_inbox
from validators import FAMILY
from warehouse.db import make_engine
from warehouse.tables import fct_case, fct_case_step, ops_load_batch


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("SANHEYI_HOME", str(home))
    monkeypatch.delenv("SANHEYI_WAREHOUSE_URL", raising=False)
    assert cli("init")[0] == 0
    return home


def test_known_invalid_records_end_in_quarantine_with_their_rule(home: Path, cli) -> None:
    data = generate(GeneratorSpec(cases=300, complaints=20, invalid_cases=12, seed=5))
    write_inbox(data, home / "inbox")
    code, out = cli("run", "--as-of", "2026-11-28T09:00:00+08:00", "--stage", "ingest")
    assert code == 0, out

    code, out = cli("quarantine", "list", "--format", "json")
    entries = json.loads(out)
    got = {
        tuple(e["record_key"].split("/")): {FAMILY.get(v["rule_id"], v["rule_id"]) for v in e["violations"]}
        for e in entries
    }
    want = {tuple(str(k) for k in invalid.key): invalid.rule_family for invalid in data.manifest}
    assert set(got) == set(want)
    for key, family in want.items():
        assert family in got[key], (key, family, got[key])

    engine = make_engine(load_settings(home).warehouse_url)
    with engine.connect() as conn:
        cases = conn.execute(select(fct_case.c.source_system, fct_case.c.case_id, fct_case.c.version)).all()
        steps = conn.execute(select(fct_case_step.c.case_id)).all()
        batches = conn.execute(select(ops_load_batch)).mappings().all()
    engine.dispose()
    latest = {(c["source_system"], c["case_id"]): c["version"] for c in data.latest("case")}
    assert {(s, c): v for s, c, v in cases} == latest  # every valid case once, in its highest version
    # nothing of an invalid case is loaded (a VERSION_CONFLICT is a bad re-send of a valid case)
    invalid_cases = {k[1] for k, family in want.items() if family != "VERSION_CONFLICT"}
    assert not {c for (c,) in steps} & invalid_cases
    assert len(steps) == len(data.latest("case_step"))
    for b in batches:
        assert b["received_count"] == (
            b["loaded_count"] + b["quarantined_count"] + b["duplicate_count"] + b["stale_count"] + b["held_count"]
        )
    assert sum(b["duplicate_count"] for b in batches if b["entity"] == "case") == data.counts["case"]["duplicate"]
    assert sum(b["stale_count"] for b in batches if b["entity"] == "case") == data.counts["case"]["stale"]
