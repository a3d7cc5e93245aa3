"""The unified platform is read through the interface its setting names (REST in production)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from sanheyi.settings import load_settings
from simulators.rest_server import RestSimulator
from simulators.source_records import SourceRecords
from warehouse.db import make_engine
from warehouse.tables import fct_case, ops_load_batch

AS_OF = "2026-11-06T18:00:00+08:00"
TOKEN = "unified-platform-token"


def test_the_unified_platform_is_read_over_rest_when_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, examples_dir: Path, cli
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("SANHEYI_HOME", str(home))
    monkeypatch.delenv("SANHEYI_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("SANHEYI_CRED_UNIFIED_REST", TOKEN)
    assert cli("init")[0] == 0
    unified = examples_dir / "inbox" / "UNIFIED"
    records = SourceRecords.from_dir(unified)
    with RestSimulator(records, token=TOKEN) as platform:
        config = home / "config.yaml"
        text = config.read_text(encoding="utf-8")
        configured = text.replace(
            "  type: file\n  address: null\n  credential: null",
            f"  type: rest\n  address: {platform.url}\n  credential: UNIFIED_REST",
        )
        assert configured != text
        config.write_text(configured, encoding="utf-8")

        code, out = cli("run", "--as-of", AS_OF, "--stage", "ingest")
        assert code == 0, out

    engine = make_engine(load_settings(home).warehouse_url)
    try:
        with engine.connect() as conn:
            origins = conn.execute(select(ops_load_batch.c.origin, ops_load_batch.c.received_count)).all()
            cases = set(conn.execute(select(fct_case.c.case_id)).scalars())
    finally:
        engine.dispose()
    assert origins and all(origin.startswith("rest:") for origin, _ in origins)
    sent = sum(len(path.read_text(encoding="utf-8").splitlines()) for path in unified.glob("*.jsonl"))
    assert sum(received for _, received in origins) == sent  # every record the platform served, once
    served_cases = {json.loads(line)["case_id"] for line in (unified / "case.20261125a.jsonl").read_text().splitlines()}
    assert {c for c in served_cases if c.startswith("LY")} <= cases
