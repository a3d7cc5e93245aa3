"""Each rule of §5.4 firing and not firing, on hand-made cases."""

from __future__ import annotations

import datetime as dt

import pytest
from sv_builders import AS_OF, DEPT, DEPT2, at, bundle, case, complaint, done, flow_steps, item, step

from supervision import EVENT_COLUMNS, SupervisionSettings, compute_events

D = dt.date.fromisoformat
FEE_ITEM = item("XK3204810010002000", fee="150.00")
CF_ITEM = item("CF3204810010003000", penalty_min="1000.00", penalty_max="5000", flow=["LA", "DC", "GZ", "JD"])
ITEMS = [item(), FEE_ITEM, CF_ITEM]


def events(calendar, settings, cases=(), steps=(), complaints=(), as_of=AS_OF):
    data = bundle(cases=list(cases), steps=list(steps), complaints=list(complaints), items=ITEMS)
    return compute_events(data, as_of, calendar, settings)


def fired(frame, rule):
    sub = frame[frame.rule == rule]
    return dict(zip(sub.case_id.where(sub.case_id.notna(), sub.complaint_id), sub.event_date, strict=True))


def with_flow(c):
    return flow_steps(c["case_id"], c["received_at"][:10])


# received 2026-09-30, 3 WD: warn day w = D(2) = 10-09, deadline 10-10, overdue day 10-11
def test_sx01_warns_on_the_day_before_the_deadline_while_open(calendar, settings):
    cases = [case("LY01"), done("LY02", finished="2026-10-08"), done("LY03", finished="2026-10-09")]
    ev = events(calendar, settings, cases, steps=[s for c in cases for s in with_flow(c)])
    assert fired(ev, "SX01") == {"LY01": D("2026-10-09"), "LY03": D("2026-10-09")}
    row = ev[ev.rule == "SX01"].iloc[0]
    assert (row.event_key, row.card, row.dept_code, row.power_type) == ("SX01:UNIFIED:LY01", "YELLOW", DEPT, "XK")


def test_sx01_with_zero_or_one_day_limit_warns_on_the_received_date(calendar, settings):
    ev = events(calendar, settings, [case("LY01", promised_limit=1), case("LY02", promised_limit=0)])
    assert fired(ev, "SX01") == {"LY01": D("2026-09-30"), "LY02": D("2026-09-30")}


def test_warn_days_is_configurable(calendar):
    ev = events(calendar, SupervisionSettings(warn_days=2), [case("LY01")])
    assert fired(ev, "SX01") == {"LY01": D("2026-10-08")}


def test_sx02_fires_the_day_after_the_deadline(calendar, settings):
    cases = [case("LY01"), done("LY02", finished="2026-10-10"), done("LY03", finished="2026-10-12")]
    ev = events(calendar, settings, cases, steps=[s for c in cases for s in with_flow(c)])
    assert fired(ev, "SX02") == {"LY01": D("2026-10-11"), "LY03": D("2026-10-11")}
    assert set(ev[ev.rule == "SX02"].card) == {"RED"}


def test_no_event_after_the_as_of_date(calendar, settings):
    as_of = dt.datetime(2026, 10, 10, 23, 59, tzinfo=AS_OF.tzinfo)
    ev = events(calendar, settings, [case("LY01")], as_of=as_of)
    assert fired(ev, "SX01") == {"LY01": D("2026-10-09")}
    assert fired(ev, "SX02") == {}


def test_lc01_missing_mandatory_step_only_for_completed_cases(calendar, settings):
    c1, c2, c3 = done("LY01"), done("LY02"), case("LY03")
    steps = (
        flow_steps("LY01", codes=("SL", "SH", "BJ"))
        + flow_steps("LY02", codes=("SL", "SH", "PZ", "GZ", "BJ"))
        + flow_steps("LY03", codes=("SL",))
    )
    ev = events(calendar, settings, [c1, c2, c3], steps)
    assert fired(ev, "LC01") == {"LY01": D("2026-10-09")}
    assert set(ev[ev.rule == "LC01"].card) == {"RED"}


def test_lc01_completed_without_any_step(calendar, settings):
    assert fired(events(calendar, settings, [done("LY01")]), "LC01") == {"LY01": D("2026-10-09")}


def test_lc02_flow_order_broken_dates_the_first_offending_step(calendar, settings):
    steps = [
        step("LY01", 1, "SL", at("2026-09-30", "10:00:00")),
        step("LY01", 2, "PZ", at("2026-10-08", "10:00:00")),
        step("LY01", 3, "SH", at("2026-10-09", "10:00:00")),  # SH after PZ
        step("LY01", 4, "BJ", at("2026-10-09", "11:00:00")),
    ]
    ev = events(calendar, settings, [done("LY01")], steps)
    assert fired(ev, "LC02") == {"LY01": D("2026-10-09")}


def test_lc02_started_at_going_back_in_time(calendar, settings):
    steps = [
        step("LY01", 1, "SL", at("2026-10-08", "10:00:00")),
        step("LY01", 2, "GZ", at("2026-10-01", "10:00:00")),  # not in the flow, but starts earlier
        step("LY01", 3, "SH", at("2026-10-09", "10:00:00")),
    ]
    ev = events(calendar, settings, [case("LY01")], steps)
    assert fired(ev, "LC02") == {"LY01": D("2026-10-01")}


def test_lc02_quiet_for_ordered_steps_with_repeats_and_extra_codes(calendar, settings):
    steps = [
        step("LY01", 1, "SL", at("2026-09-30", "10:00:00")),
        step("LY01", 2, "SH", at("2026-09-30", "11:00:00")),
        step("LY01", 3, "BZ", at("2026-09-30", "12:00:00"), at("2026-10-08")),
        step("LY01", 4, "SH", at("2026-10-08", "13:00:00")),
        step("LY01", 5, "PZ", at("2026-10-09", "10:00:00")),
        step("LY01", 6, "BJ", at("2026-10-09", "10:00:00")),  # same instant: not a decrease
    ]
    ev = events(calendar, settings, [done("LY01")], list(reversed(steps)))  # order of rows does not matter
    assert fired(ev, "LC02") == {}
    assert fired(ev, "LC01") == {}


REVIEWED_TWICE = item("XK3204810010004000", flow=["SL", "SH", "PZ", "SH", "BJ"])  # 二次审核


@pytest.mark.parametrize(
    ("codes", "first_offence"),
    [
        (("SL", "SH", "PZ", "SH", "BJ"), None),  # the flow itself
        (("SL", "SH", "SH", "PZ", "BJ"), None),  # a step repeated in place
        (("SL", "PZ", "SH", "BJ"), None),  # the second review only
        (("SL", "SH", "PZ", "SH", "PZ", "BJ"), 5),  # 批准 again after the second review
        (("SL", "PZ", "SH", "SL", "BJ"), 4),  # back to 受理
    ],
)
def test_lc02_with_a_flow_that_names_a_code_twice(calendar, settings, codes, first_offence):
    steps = [step("LY01", i + 1, c, at("2026-10-08", f"1{i}:00:00")) for i, c in enumerate(codes)]
    cases = [done("LY01", power_code=REVIEWED_TWICE["power_code"])]
    data = bundle(cases=cases, steps=steps, items=[*ITEMS, REVIEWED_TWICE])
    ev = compute_events(data, AS_OF, calendar, settings)
    assert fired(ev, "LC02") == ({} if first_offence is None else {"LY01": D("2026-10-08")})
    if first_offence is not None:  # a later offence on another day would not move the event's date
        steps[first_offence - 1]["started_at"] = at("2026-10-09", "19:00:00")
        steps[-1]["started_at"] = at("2026-10-09", "20:00:00")
        data = bundle(cases=cases, steps=steps, items=[*ITEMS, REVIEWED_TWICE])
        ev = compute_events(data, AS_OF, calendar, settings)
        assert fired(ev, "LC02") == {"LY01": D("2026-10-09")}


def test_lc03_denied_without_reason(calendar, settings):
    cases = [
        done("LY01", result="DENIED", result_note="  "),
        done("LY02", result="DENIED", result_note=None),
        done("LY03", result="DENIED", result_note="材料不全"),
        done("LY04", result="GRANTED", result_note=None),
    ]
    ev = events(calendar, settings, cases, [s for c in cases for s in with_flow(c)])
    assert fired(ev, "LC03") == {"LY01": D("2026-10-09"), "LY02": D("2026-10-09")}
    assert set(ev[ev.rule == "LC03"].card) == {"YELLOW"}


def test_nr01_fee_rules(calendar, settings):
    fee = {"power_code": FEE_ITEM["power_code"]}
    cases = [
        done("LY01", fee_paid="10.00"),  # no fee may be charged
        done("LY02", fee_paid="0"),
        done("LY03", fee_paid="150.00", **fee),
        done("LY04", fee_paid="150.01", **fee),  # above the standard
        done("LY05", fee_paid="100", **fee),  # below, no relief reason
        done("LY06", fee_paid="100", relief_reason="低保户减免", **fee),
        done("LY07", fee_paid="0", relief_reason=" ", **fee),  # blank reason is no reason
        case("LY08", fee_paid="999", **fee),  # not completed
    ]
    ev = events(calendar, settings, cases, [s for c in cases for s in with_flow(c)])
    assert sorted(fired(ev, "NR01")) == ["LY01", "LY04", "LY05", "LY07"]


def test_cl01_penalty_outside_the_range(calendar, settings):
    cf = {"power_code": CF_ITEM["power_code"]}
    cases = [
        done("LY01", penalty_amount="5000.01", **cf),
        done("LY02", penalty_amount="5000.00", **cf),
        done("LY03", penalty_amount="999.99", **cf),
        done("LY04", penalty_amount="1000", **cf),
        done("LY05", penalty_amount=None, **cf),
        done("LY06", penalty_amount="99999"),  # item without a range
    ]
    steps = [s for c in cases for s in flow_steps(c["case_id"], codes=("LA", "DC", "GZ", "JD"))]
    ev = events(calendar, settings, cases, steps)
    assert fired(ev, "CL01") == {"LY01": D("2026-10-09"), "LY03": D("2026-10-09")}


def test_ts01_complaint_not_closed_by_its_due_date(calendar, settings):
    # received 2026-10-12, due = 10 workdays later = 10-26, event on 10-27
    complaints = [
        complaint("TS01"),
        complaint("TS02", status="CLOSED", closed_at=at("2026-10-26", "17:00:00"), result="UNFOUNDED"),
        complaint("TS03", status="CLOSED", closed_at=at("2026-10-27"), result="PARTIAL", dept_code=DEPT2),
        complaint("TS04", received_at=at("2026-11-02")),  # due 11-16: not yet
    ]
    ev = events(calendar, settings, complaints=complaints)
    assert fired(ev, "TS01") == {"TS01": D("2026-10-27"), "TS03": D("2026-10-27")}
    row = ev[ev.complaint_id == "TS03"].iloc[0]
    assert (row.event_key, row.card, row.dept_code, row.power_type, row.case_id) == (
        "TS01:TS03",
        "YELLOW",
        DEPT2,
        None,
        None,
    )


def test_ts01_takes_the_power_type_of_the_complained_case(calendar, settings):
    c = done("LY01", power_code=CF_ITEM["power_code"], penalty_amount="2000")
    comp = complaint("TS01", case_source_system="UNIFIED", case_id="LY01")
    ev = events(calendar, settings, [c], complaints=[comp])
    row = ev[ev.rule == "TS01"].iloc[0]
    assert (row.power_type, row.case_source_system, row.case_id) == ("CF", "UNIFIED", "LY01")


def test_complaint_limit_is_configurable(calendar):
    ev = events(calendar, SupervisionSettings(complaint_limit_workdays=5), complaints=[complaint("TS01")])
    assert fired(ev, "TS01") == {"TS01": D("2026-10-20")}


@pytest.mark.parametrize("status", ["WITHDRAWN", "TERMINATED"])
def test_withdrawn_and_terminated_cases_stop_at_their_finish_date(calendar, settings, status):
    steps = [
        step("LY01", 1, "SL", at("2026-09-30", "10:00:00")),
        step("LY01", 2, "SH", at("2026-10-08", "10:00:00")),
        step("LY01", 3, "SL", at("2026-10-12", "10:00:00")),  # out of order, but after the finish
        step("LY02", 1, "SH", at("2026-09-30", "10:00:00")),
        step("LY02", 2, "SL", at("2026-10-08", "10:00:00")),  # out of order before the finish
    ]
    cases = [
        case("LY01", status=status, finished_at=at("2026-10-09")),
        case("LY02", status=status, finished_at=at("2026-10-09")),
    ]
    ev = events(calendar, settings, cases, steps)
    assert fired(ev, "SX01") == {"LY01": D("2026-10-09"), "LY02": D("2026-10-09")}
    assert fired(ev, "SX02") == {}
    assert fired(ev, "LC02") == {"LY02": D("2026-10-08")}
    assert fired(ev, "LC01") == {}  # not COMPLETED


def test_output_shape_and_determinism(calendar, settings):
    cases = [case("LY02"), done("LY01", result="DENIED", result_note=None, fee_paid="3")]
    a = events(calendar, settings, cases, complaints=[complaint("TS01")])
    b = events(calendar, settings, list(reversed(cases)), complaints=[complaint("TS01")])
    assert tuple(a.columns) == EVENT_COLUMNS
    assert a.event_key.tolist() == sorted(a.event_key)
    assert a.equals(b)
    assert a.event_key.is_unique
    assert all(isinstance(d, dt.date) for d in a.event_date)
    assert a.provisional.dtype == bool
    # no personal data travels with events
    assert not {"applicant_name", "applicant_id_no", "content"} & set(a.columns)


def test_no_cases_no_events(calendar, settings):
    ev = events(calendar, settings)
    assert len(ev) == 0 and tuple(ev.columns) == EVENT_COLUMNS
