"""An interface source is not read past a held page: the REST connector's updated_at cursor stops
before it, nothing after it is asked for, and after a release every record arrives once."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from rest_platform import ENTITIES, PAGE_SIZE, catalogue, home, lines, serving
from sqlalchemy import func, select

from connectors.remote import Position, record_position
from sanheyi.quality import release_batch
from schemas.standard import KEY_FIELDS
from warehouse.cursors import load_cursor
from warehouse.quality_store import list_holds
from warehouse.tables import fct_case, fct_case_step

WRONG_CLOCK = "2027-01-01T10:00:00+08:00"  # a case the source's wrong clock stamped weeks ahead


def _position(entity: str, record: dict[str, Any]) -> Position:
    position = record_position(record, KEY_FIELDS[entity])
    assert position is not None
    return position


def test_a_held_page_stops_the_rest_source_until_released(tmp_path: Path, examples_dir: Path) -> None:
    settings = home(tmp_path)
    inbox = examples_dir / "inbox" / "UNIFIED"
    # The unified platform's catalogue and its valid cases with their steps, served over REST.
    cases = sorted(
        (c for c in lines(inbox, "case.20261125a.jsonl") if not c["case_id"].startswith("BAD")),
        key=lambda c: c["updated_at"],
    )
    steps = [s for s in lines(inbox, "case_step.20261125a.jsonl") if s["case_id"] in {c["case_id"] for c in cases}]
    assert (len(cases), len(steps)) == (41, 152)
    cases[20] = dict(cases[20], updated_at=WRONG_CLOCK)  # served last: on the third page of cases
    records = catalogue(inbox)
    records.add("case", cases)
    records.add("case_step", steps)
    served = {entity: [r.record for r in records.all(entity)] for entity in ENTITIES}
    catalogue_cursor = {
        entity: _position(entity, served[entity][-1]).to_json() for entity in ("department", "power_item")
    }
    with serving(settings, records) as (sim, engine, cycle):

        def stored() -> tuple[int, int, Any]:
            with engine.connect() as conn:
                return (
                    conn.execute(select(func.count()).select_from(fct_case)).scalar_one(),
                    conn.execute(select(func.count()).select_from(fct_case_step)).scalar_one(),
                    load_cursor(conn, "UNIFIED"),
                )

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
        held_cursor = {**catalogue_cursor, "case": _position("case", served["case"][2 * PAGE_SIZE - 1]).to_json()}
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
                **catalogue_cursor,
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


def test_a_release_lasts_one_read_when_the_held_record_was_corrected_meanwhile(
    tmp_path: Path, examples_dir: Path
) -> None:
    settings = home(tmp_path)
    inbox = examples_dir / "inbox" / "UNIFIED"
    cases = [c for c in lines(inbox, "case.20261125a.jsonl") if not c["case_id"].startswith("BAD")]
    stamped = dict(cases[0], updated_at=WRONG_CLOCK)
    records = catalogue(inbox)
    records.add("case", [stamped, *cases[1:]])
    with serving(settings, records) as (sim, engine, cycle):

        def holds() -> list[tuple[int, str]]:
            with engine.connect() as conn:
                return [(h.batch_id, h.status) for h in list_holds(conn, include_loaded=True)]

        first = cycle("2026-11-06T18:00:00+08:00")
        (held,) = first.held
        # the department corrects its clock and the record, then the project office releases the hold
        records.correct("case", dict(stamped, version=2, updated_at="2026-11-06T18:30:00+08:00"))
        release_batch(settings, held.batch_id, by="王工", reason="时钟已更正",
                      now=datetime.fromisoformat("2026-11-06T18:45:00+08:00"))  # fmt: skip
        second = cycle("2026-11-06T19:00:00+08:00")
        assert second.held == [] and all(b.status == "LOADED" for b in second.batches)
        # no page reached 2027 any more: the end of the read ended the release all the same
        assert holds() == [(held.batch_id, "LOADED")]

        # so the next record stamped ahead is judged, not let through on the old release
        records.add("case", [dict(cases[1], case_id="LY3204810009998", updated_at=WRONG_CLOCK)])
        third = cycle("2026-11-06T19:30:00+08:00")
        assert [(h.entity, h.status) for h in third.held] == [("case", "HELD_GE")]


def test_a_release_ends_at_the_page_that_reaches_the_held_one_and_later_pages_are_checked(
    tmp_path: Path, examples_dir: Path
) -> None:
    settings = home(tmp_path)
    inbox = examples_dir / "inbox" / "UNIFIED"
    template = next(c for c in lines(inbox, "case.20261125a.jsonl") if c["status"] == "IN_PROGRESS")

    def cases(first: int, hour: int, id_no: str) -> list[dict[str, Any]]:
        return [
            dict(
                template,
                case_id=f"LY32048100{first + i:05d}",
                applicant_id_no=id_no,
                updated_at=f"2026-11-06T{hour:02d}:00:{i:02d}+08:00",
            )  # fmt: skip
            for i in range(60)
        ]

    bad_check_digit = "320481199001011231"  # the right one is 0: every such record goes to quarantine
    page_size = 60  # the quarantine-rate check applies from 50 records on
    records = catalogue(inbox)
    records.add("case", cases(0, 10, template["applicant_id_no"]))  # a good page
    records.add("case", cases(100, 11, bad_check_digit))  # a page held: all quarantined
    records.add("case", [*cases(200, 12, bad_check_digit), *cases(300, 13, bad_check_digit)])  # after it
    with serving(settings, records, page_size) as (sim, engine, cycle):
        first = cycle("2026-11-06T18:00:00+08:00")
        (held,) = first.held
        assert held.status == "HELD_GE" and "quarantined" in held.reason
        release_batch(settings, held.batch_id, by="王工", reason="已与报送单位核实",
                      now=datetime.fromisoformat("2026-11-06T18:15:00+08:00"))  # fmt: skip
        second = cycle("2026-11-06T18:30:00+08:00")
        released = [b for b in second.batches if b.release_of == held.batch_id]
        # let through: the good page again (the look-back repeats it), then the held page, once
        assert [(b.counts.duplicate, b.counts.quarantined) for b in released] == [(60, 0), (0, 60)]
        # the page after it is checked again, and held on its own
        assert [(h.entity, h.status) for h in second.held] == [("case", "HELD_GE")]
        assert second.held[0].batch_id != held.batch_id
