"""Deadlines and outcomes (§5.2, §5.3), checked by hand against the calendar."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sv_builders import AS_OF, at, bundle, case, done, item, step

from supervision import case_deadlines

D = dt.date.fromisoformat
CD_ITEM = item("QR3204810010002000", time_unit="CD")


def deadline(calendar, settings, *cases, steps=(), items=None, as_of=AS_OF):
    frame = case_deadlines(bundle(cases=list(cases), steps=list(steps), items=items), as_of, calendar, settings)
    return frame


def test_worked_example_of_the_standard(calendar, settings):
    # received 2026-09-30, 3 WD: D(1) = 10-08, D(2) = 10-09, deadline 10-10 (a Saturday make-up workday)
    row = deadline(calendar, settings, case(received_at=at("2026-09-30"), promised_limit=3)).iloc[0]
    assert row.received_date == D("2026-09-30")
    assert row.deadline_date == D("2026-10-10")
    assert row.finish_date is None
    assert row.on_time is pd.NA and row.early is pd.NA and row.overdue is pd.NA
    assert not row.provisional


def test_spring_festival_2026_is_skipped(calendar, settings):
    # received Friday 2026-02-13, 2 WD: Sat 02-14 (make-up) is D(1); 02-15..23 off; D(2) = 02-24
    row = deadline(calendar, settings, case(received_at=at("2026-02-13"), promised_limit=2)).iloc[0]
    assert row.deadline_date == D("2026-02-24")


def test_calendar_day_items_count_every_day(calendar, settings):
    items = [item(), CD_ITEM]
    row = deadline(
        calendar,
        settings,
        case(power_code=CD_ITEM["power_code"], received_at=at("2026-09-30"), promised_limit=3),
        items=items,
    ).iloc[0]
    assert row.deadline_date == D("2026-10-03")


def test_the_shanghai_date_of_the_instant_counts(calendar, settings):
    # 17:00 UTC on 10-09 is 01:00 on Saturday 10-10 in Liyang: counted 12, 13, 14 (not 10, 12, 13)
    row = deadline(calendar, settings, case(received_at="2026-10-09T17:00:00Z", promised_limit=3)).iloc[0]
    assert row.received_date == D("2026-10-10")
    assert row.deadline_date == D("2026-10-14")


def test_promised_limit_zero(calendar, settings):
    frame = deadline(
        calendar,
        settings,
        done("LY0000000001", finished="2026-09-30", received_at=at("2026-09-30"), promised_limit=0),
        done("LY0000000002", finished="2026-10-08", received_at=at("2026-09-30"), promised_limit=0),
    )
    assert frame.deadline_date.tolist() == [D("2026-09-30")] * 2
    assert frame.on_time.tolist() == [True, False]
    assert frame.overdue.tolist() == [False, True]
    assert frame.early.tolist() == [False, False]  # elapsed(f) < 0 never holds


def test_outcomes_on_time_early_overdue(calendar, settings):
    frame = deadline(
        calendar,
        settings,
        done("LY0000000001", finished="2026-10-08"),  # elapsed 1 < 3
        done("LY0000000002", finished="2026-10-10"),  # elapsed 3: on time, not early
        done("LY0000000003", finished="2026-10-12"),  # overdue
        case("LY0000000004"),
    )
    assert frame.on_time.tolist() == [True, True, False, pd.NA]
    assert frame.early.tolist() == [True, False, False, pd.NA]
    assert frame.overdue.tolist() == [False, False, True, pd.NA]
    assert str(frame.on_time.dtype) == "boolean"


def test_closed_suspension_stops_the_clock(calendar, settings):
    # received Mon 10-12, 3 WD; BZ from 10-13 to 10-15 suspends (13, 15]: counted 13, 16, 19
    c = case(received_at=at("2026-10-12"), promised_limit=3)
    plain = deadline(calendar, settings, c).iloc[0]
    assert plain.deadline_date == D("2026-10-15")
    row = deadline(calendar, settings, c, steps=[step(c["case_id"], 1, "BZ", "2026-10-13", "2026-10-15")]).iloc[0]
    assert row.deadline_date == D("2026-10-19")


def test_open_suspension_runs_to_the_as_of_date(calendar, settings):
    c = case(received_at=at("2026-10-12"), promised_limit=3)
    as_of = dt.datetime(2026, 10, 20, 9, 0, tzinfo=AS_OF.tzinfo)
    row = deadline(calendar, settings, c, steps=[step(c["case_id"], 1, "TB", "2026-10-13")], as_of=as_of).iloc[0]
    # suspended (13, 20]: counted 13, 21, 22
    assert row.deadline_date == D("2026-10-22")
    later = dt.datetime(2026, 10, 26, 9, 0, tzinfo=AS_OF.tzinfo)
    row = deadline(calendar, settings, c, steps=[step(c["case_id"], 1, "TB", "2026-10-13")], as_of=later).iloc[0]
    assert row.deadline_date == D("2026-10-28")


def test_overlapping_and_touching_suspensions_are_merged(calendar, settings):
    c = case(received_at=at("2026-10-12"), promised_limit=3)
    overlapping = [
        step(c["case_id"], 1, "TB", "2026-10-13", "2026-10-15"),
        step(c["case_id"], 2, "BZ", "2026-10-14", "2026-10-16"),
    ]
    # merged (13, 16]: counted 13, 19, 20
    assert deadline(calendar, settings, c, steps=overlapping).iloc[0].deadline_date == D("2026-10-20")
    touching = [
        step(c["case_id"], 1, "TB", "2026-10-13", "2026-10-14"),
        step(c["case_id"], 2, "BZ", "2026-10-14", "2026-10-15"),
    ]
    assert deadline(calendar, settings, c, steps=touching).iloc[0].deadline_date == D("2026-10-19")


def test_suspension_lowers_elapsed_so_the_case_can_finish_early(calendar, settings):
    c = done(received_at=at("2026-10-12"), promised_limit=3, finished="2026-10-16")
    frame = deadline(calendar, settings, c, steps=[step(c["case_id"], 1, "BZ", "2026-10-13", "2026-10-15")])
    # elapsed(10-16) = 13 and 16 = 2 < 3
    assert frame.early.tolist() == [True]
    assert frame.on_time.tolist() == [True]


def test_steps_of_other_cases_and_other_codes_do_not_suspend(calendar, settings):
    c = case(received_at=at("2026-10-12"), promised_limit=3)
    steps = [
        step("LY9999999999", 1, "TB", "2026-10-13", "2026-10-15"),
        step(c["case_id"], 1, "SH", "2026-10-13", "2026-10-15"),
    ]
    assert deadline(calendar, settings, c, steps=steps).iloc[0].deadline_date == D("2026-10-15")
