"""A read that stops partway (the platform's cases loaded, its steps not) holds supervision and the
month report back until a read of that source completes: judged in between, every completed case
would be an LC01 red card sent to Changzhou and withdrawn on the next cycle."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from rest_platform import catalogue, lines, serving
from sqlalchemy import func, select

from sanheyi.reporting import render_month_report
from sanheyi.settings import load_settings
from sanheyi.status import collect_status, format_status, render_status_html
from sanheyi.supervise import supervise_stage, supervision_view
from simulators.source_records import SourceRecords
from warehouse import source_reads
from warehouse.tables import fct_case, fct_case_step, fct_supervision_event, ops_source_read

AS_OF = "2026-11-06T18:00:00+08:00"


def _platform_records(examples_dir: Path) -> SourceRecords:
    inbox = examples_dir / "inbox" / "UNIFIED"
    cases = [c for c in lines(inbox, "case.20261125a.jsonl") if not c["case_id"].startswith("BAD")]
    ids = {c["case_id"] for c in cases}
    records = catalogue(inbox)
    records.add("case", cases)
    records.add("case_step", [s for s in lines(inbox, "case_step.20261125a.jsonl") if s["case_id"] in ids])
    return records


def _count(engine, table, *where) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def _state(engine) -> str:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(
            select(ops_source_read.c.state).where(ops_source_read.c.source_system == "UNIFIED")
        ).scalar_one()


def test_a_read_that_stops_partway_holds_supervision_back_until_a_read_completes(
    dialect_home: Path, examples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(dialect_home)
    as_of = datetime.fromisoformat(AS_OF)
    with serving(settings, _platform_records(examples_dir)) as (sim, engine, cycle):
        sim.faults.fail_entities = {"case_step"}  # the platform's step endpoint is down
        summary = cycle(AS_OF)
        assert [code for code, _ in summary.failed_sources] == ["UNIFIED"]
        assert _count(engine, fct_case) == 41 and _count(engine, fct_case_step) == 0
        assert _state(engine) == "PARTIAL"
        # what judging this warehouse would do: completed cases without their steps
        half_judged = supervision_view(settings, as_of).events
        assert (half_judged.rule == "LC01").sum() > 20

        skipped = supervise_stage(settings, as_of)
        assert "UNIFIED" in skipped["skipped"] and "stopped partway" in skipped["skipped"]
        assert _count(engine, fct_supervision_event) == 0
        assert render_month_report(settings, as_of) == []
        # the data engineers see why on the status page and in `sanheyi status`
        status = collect_status(settings, as_of)
        unified = next(source for source in status["sources"] if source["system_code"] == "UNIFIED")
        assert "stopped partway" in unified["incomplete_read"]
        assert "INCOMPLETE READ UNIFIED" in format_status(status)
        assert "incomplete read, supervision and the month report wait" in render_status_html(status)

        # the warehouse cannot even record that a read starts: the partial read's record stands
        def cannot_record(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise OSError("disk I/O error")

        with monkeypatch.context() as patch:
            patch.setattr(source_reads, "start_read", cannot_record)
            assert [code for code, _ in cycle(AS_OF).failed_sources] == ["UNIFIED"]
        assert _state(engine) == "PARTIAL"

        # the step endpoint fails again, before anything of this read is loaded: still incomplete
        sim.faults.fail_entities = {"department", "power_item", "case", "case_step"}
        cycle(AS_OF)
        assert _state(engine) == "PARTIAL"
        assert "skipped" in supervise_stage(settings, as_of)

        sim.faults.fail_entities = set()
        assert cycle(AS_OF).failed_sources == []
        assert _state(engine) == "COMPLETE"
        judged = supervise_stage(settings, as_of)
        assert "skipped" not in judged and judged["active"] > 0
        lc01 = _count(engine, fct_supervision_event, fct_supervision_event.c.rule == "LC01")
        assert lc01 < (half_judged.rule == "LC01").sum()
        assert render_month_report(settings, as_of)  # rendered again
        assert "INCOMPLETE READ" not in format_status(collect_status(settings, as_of))

        # a source that fails before loading anything leaves the warehouse as the last complete read did
        sim.faults.fail_always = True
        assert [code for code, _ in cycle(AS_OF).failed_sources] == ["UNIFIED"]
        assert _state(engine) == "FAILED"
        assert "skipped" not in supervise_stage(settings, as_of)


def test_a_read_a_killed_process_never_finished_holds_supervision_back(dialect_home: Path) -> None:
    settings = load_settings(dialect_home)
    from warehouse.db import make_engine

    engine = make_engine(settings.warehouse_url)
    try:
        source_reads.start_read(engine, "UNIFIED", "c-killed")  # what a read records first
        skipped = supervise_stage(settings, datetime.fromisoformat(AS_OF))
        assert "UNIFIED" in skipped["skipped"] and "has not finished" in skipped["skipped"]
        # a system no longer read (suspended, say) does not hold the county's supervision back
        source_reads.start_read(engine, "SELF_GONE", "c-killed")
        source_reads.finish_read(engine, "UNIFIED", batches=3, failure=None, incomplete_before=True)
        assert "skipped" not in supervise_stage(settings, datetime.fromisoformat(AS_OF))
    finally:
        engine.dispose()
