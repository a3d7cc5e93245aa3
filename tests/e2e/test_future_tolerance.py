"""The future check's tolerance: only for late records the warehouse holds already in that version."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from connectors.base import RecordBatch
from sanheyi.quality import stored_until
from sanheyi.settings import load_settings
from validators.model import ValidationOutcome
from warehouse.db import make_engine
from warehouse.tables import fct_case_step

AS_OF = "2026-11-06T18:00:00+08:00"
LATE = pd.Timestamp("2027-01-01T10:00:00+08:00")


def test_a_late_step_held_for_its_case_is_never_tolerated(examples_home: Path, cli) -> None:
    assert cli("run", "--as-of", AS_OF, "--stage", "ingest")[0] == 0
    engine = make_engine(load_settings(examples_home).warehouse_url)
    try:
        with engine.connect() as conn:
            columns = [
                fct_case_step.c[name] for name in ("source_system", "case_id", "step_no", "version", "payload_sha256")
            ]
            stored = pd.DataFrame(conn.execute(select(*columns).limit(1)).all(), columns=[c.name for c in columns])
        # a page re-reading a step stored already, as if its stamp were late (released once, say)
        valid = stored.assign(updated_at=LATE, _line=1)
        page = RecordBatch("UNIFIED", "case_step", "rest:case_step?since=&page=1", valid, [], next_cursor={})
        now = datetime.fromisoformat(AS_OF)
        alone = ValidationOutcome(entity="case_step", received=1, valid=valid, held=valid.iloc[0:0], quarantined=[])
        assert stored_until(engine, page, alone, now) == LATE.to_pydatetime()  # tolerated: stored already
        # the same page with a new late step held for its case: new by definition, judged as usual
        held = valid.assign(case_id="LY3204819999999", updated_at=pd.Timestamp("2026-12-15T09:00:00+08:00"))
        both = ValidationOutcome(entity="case_step", received=2, valid=valid, held=held, quarantined=[])
        assert stored_until(engine, page, both, now) is None
        # and a late record not stored in that very version is not tolerated
        changed = ValidationOutcome(
            entity="case_step", received=1, valid=valid.assign(version=99), held=valid.iloc[0:0], quarantined=[]
        )
        assert stored_until(engine, page, changed, now) is None
    finally:
        engine.dispose()
