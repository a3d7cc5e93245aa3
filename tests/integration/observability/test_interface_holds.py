"""An interface source is not read past a held page: the REST connector's updated_at cursor stops
before it, nothing after it is asked for, and after a release every record arrives once."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from connectors.credentials import Credential
from connectors.remote import Position, record_position
from connectors.rest import RestConnector
from sanheyi.ingest import IngestSummary, Source, ingest_sources
from sanheyi.pipeline import init_home, new_cycle_id
from sanheyi.quality import release_batch
from sanheyi.settings import load_settings
from schemas.standard import KEY_FIELDS
from simulators.rest_server import RestSimulator
from simulators.source_records import SourceRecords
from warehouse.cursors import load_cursor
from warehouse.db import make_engine
from warehouse.quality_store import list_holds
from warehouse.tables import fct_case, fct_case_step

TOKEN = "holds-Tok3n-5mq8-never-shown"
ENTITIES = ("department", "power_item", "case", "case_step")
PAGE_SIZE = 15
WRONG_CLOCK = "2027-01-01T10:00:00+08:00"  # a case the source's wrong clock stamped weeks ahead


def _lines(folder: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / name).read_text("utf-8").splitlines() if line.strip()]


def _position(entity: str, record: dict[str, Any]) -> Position:
    position = record_position(record, KEY_FIELDS[entity])
    assert position is not None
    return position


def test_a_held_page_stops_the_rest_source_until_released(tmp_path: Path, examples_dir: Path) -> None:
    settings = load_settings(tmp_path / "home")
    init_home(settings)
    settings = load_settings(settings.home)
    inbox = examples_dir / "inbox" / "UNIFIED"
    # The unified platform's catalogue and its valid cases with their steps, served over REST.
    cases = sorted(
        (c for c in _lines(inbox, "case.20261125a.jsonl") if not c["case_id"].startswith("BAD")),
        key=lambda c: c["updated_at"],
    )
    steps = [s for s in _lines(inbox, "case_step.20261125a.jsonl") if s["case_id"] in {c["case_id"] for c in cases}]
    assert (len(cases), len(steps)) == (41, 152)
    cases[20] = dict(cases[20], updated_at=WRONG_CLOCK)  # served last: on the third page of cases
    records = SourceRecords()
    for entity, rows in (
        ("department", _lines(inbox, "department.20261125.jsonl")),
        ("power_item", _lines(inbox, "power_item.20261125.jsonl")),
        ("case", cases),
        ("case_step", steps),
    ):
        records.add(entity, rows)
    served = {entity: [r.record for r in records.all(entity)] for entity in ENTITIES}
    catalogue = {entity: _position(entity, served[entity][-1]).to_json() for entity in ("department", "power_item")}
    engine = make_engine(settings.warehouse_url)

    with RestSimulator(records, token=TOKEN) as sim:
        connector = RestConnector(
            "UNIFIED", sim.url, Credential("UNIFIED_REST", token=TOKEN), entities=ENTITIES, page_size=PAGE_SIZE
        )

        def cycle(at: str) -> IngestSummary:
            now = datetime.fromisoformat(at)
            connector.clock = lambda: now
            sim.faults.asked.clear()
            return ingest_sources(engine, settings, [Source("UNIFIED", connector, None)], cycle_id=new_cycle_id(now),
                                  now=now)  # fmt: skip

        def stored() -> tuple[int, int, Any]:
            with engine.connect() as conn:
                return (
                    conn.execute(select(func.count()).select_from(fct_case)).scalar_one(),
                    conn.execute(select(func.count()).select_from(fct_case_step)).scalar_one(),
                    load_cursor(conn, "UNIFIED"),
                )

        try:
            first = cycle("2026-11-06T18:00:00+08:00")
            assert first.failed_sources == []
            assert [(b.entity, b.status) for b in first.batches] == [
                ("department", "LOADED"), ("power_item", "LOADED"), ("power_item", "LOADED"),
                ("case", "LOADED"), ("case", "LOADED"), ("case", "HELD_GE"),
            ]  # fmt: skip
            assert [h.origin for h in first.held] == ["rest:case?since=&page=3"]
            # nothing after the held page was asked for: no further page, no step of any case
            assert sim.faults.asked == ["department", "power_item", "power_item", "case", "case", "case"]
            # the stored cursor stops at the last case of page 2, the steps' cursor was never written
            held_cursor = {**catalogue, "case": _position("case", served["case"][2 * PAGE_SIZE - 1]).to_json()}
            assert stored() == (2 * PAGE_SIZE, 0, held_cursor)

            # the next run asks again from the stored cursor (its look-back included): still held
            second = cycle("2026-11-06T19:00:00+08:00")
            assert [b.entity for b in second.batches if b.status == "LOADED"] == [
                "department",
                "power_item",
                "power_item",
            ]
            # the same hold, not a second one: its pages fall elsewhere now, but it names the feed
            assert [(h.batch_id, h.entity, h.status) for h in second.held] == [(first.held[0].batch_id, "case", "HELD")]
            assert "case_step" not in sim.faults.asked
            assert stored() == (2 * PAGE_SIZE, 0, held_cursor)

            # meanwhile the platform took new cases: in the feed they come before the stamped one, so
            # the release must last past the page that reaches the held page's cursor
            arrived = [
                dict(c, case_id=f"LY32048100099{i:02d}", updated_at="2026-11-06T19:10:00+08:00")
                for i, c in enumerate(cases[:20])
            ]
            records.add("case", arrived)
            served["case"] = [r.record for r in records.all("case")]

            # the project office releases the batch of the first alert
            release_batch(settings, first.held[0].batch_id, by="王工", reason="时钟已核实",
                          now=datetime.fromisoformat("2026-11-06T19:30:00+08:00"))  # fmt: skip
            third = cycle("2026-11-06T20:00:00+08:00")
            assert third.held == [] and third.failed_sources == []
            assert all(b.status == "LOADED" for b in third.batches)
            with engine.connect() as conn:  # the release lasted as far as the held page had reached
                assert [(h.batch_id, h.status) for h in list_holds(conn, include_loaded=True)] == [
                    (first.held[0].batch_id, "LOADED")
                ]
            assert sim.faults.asked.count("case_step") == -(-len(steps) // PAGE_SIZE)
            # every case and step is stored, the stamped case too; the case cursor stays at the latest
            # case not later than the read, so a change made before 2027 is still asked for next time
            assert served["case"][-1]["updated_at"] == WRONG_CLOCK  # served last, as the source sorts
            latest_case = served["case"][-2]
            assert stored() == (
                len(cases) + len(arrived),
                len(steps),
                {
                    **catalogue,
                    "case": _position("case", latest_case).to_json(),
                    "case_step": _position("case_step", served["case_step"][-1]).to_json(),
                },
            )

            # the next read serves the stamped case again (it is later than the cursor, and the
            # look-back repeats a few): stored in that very version, it does not hold the feed again
            fourth = cycle("2026-11-06T20:30:00+08:00")
            assert fourth.held == [] and all(b.status == "LOADED" for b in fourth.batches)
            assert "case" in sim.faults.asked
            assert sum(b.counts.duplicate for b in fourth.batches if b.entity == "case") >= 1  # read again

            # but a new record stamped ahead is judged: the tolerance covers only what was let through
            records.add("case", [dict(cases[0], case_id="LY3204810009999", updated_at="2026-12-15T09:00:00+08:00")])
            fifth = cycle("2026-11-06T21:00:00+08:00")
            assert [(h.entity, h.status) for h in fifth.held] == [("case", "HELD_GE")]
            assert "is after the run's instant 2026-11-06T21:00:00+08:00" in fifth.held[0].reason
        finally:
            engine.dispose()
