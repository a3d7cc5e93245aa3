"""§7 statistics: definitions on hand-made data, rounding, null rates, score and grade."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest
from sv_builders import AS_OF, DEPT, DEPT2, at, bundle, case, complaint, done, flow_steps, item

from supervision import compute_events, compute_statistics, format_statistics_table
from supervision.statistics import grade_of, round_half_away, score_of

D = dt.date.fromisoformat
OCT = (D("2026-10-01"), D("2026-10-31"))


def stats(calendar, settings, cases=(), steps=(), complaints=(), period=OCT, as_of=AS_OF, items=None):
    data = bundle(cases=list(cases), steps=list(steps), complaints=list(complaints), items=items)
    events = compute_events(data, as_of, calendar, settings)
    return compute_statistics(data, events, period[0], period[1], as_of, calendar, settings)


def dept(result, code=DEPT):
    return next(d for d in result["departments"] if d["dept_code"] == code)


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (Fraction(12345, 100000), 4, 0.1235),
        (Fraction(2, 3), 4, 0.6667),
        (Fraction(1, 3), 4, 0.3333),
        (Fraction(5, 100000), 4, 0.0001),
        (Fraction(-5, 100000), 4, -0.0001),
        (Fraction(61625, 1000), 2, 61.63),
        (Fraction(1, 8), 2, 0.13),
        (Fraction(1), 4, 1.0),
        (0, 2, 0.0),
    ],
)
def test_rounding_is_half_away_from_zero(value, places, expected):
    assert round_half_away(value, places) == expected


def test_score_uses_full_weight_for_null_rates_and_caps_card_deductions():
    nulls = dict.fromkeys(
        (
            "on_time_rate",
            "early_rate",
            "process_ok_rate",
            "content_ok_rate",
            "satisfaction_rate",
            "complaint_on_time_rate",
        )
    )
    assert score_of(nulls, red=0, yellow=0) == 100.0
    assert score_of(nulls, red=1, yellow=1) == 97.5
    assert score_of(nulls, red=30, yellow=0) == 80.0  # at most 20 deducted
    zeros = dict.fromkeys(nulls, Fraction(0))
    assert score_of(zeros, red=5, yellow=0) == 0.0  # clamped at 0
    mixed = {
        **nulls,
        "on_time_rate": Fraction(1, 2),
        "early_rate": Fraction(1, 2),
        "process_ok_rate": Fraction(3, 4),
        "content_ok_rate": Fraction(3, 4),
        "satisfaction_rate": Fraction(7, 8),
        "complaint_on_time_rate": Fraction(1),
    }
    assert score_of(mixed, red=3, yellow=1) == 61.63  # 68.125 - 6.5 = 61.625, half away from zero


def test_score_is_computed_from_unrounded_rates():
    # 35 * 2/3 = 23.333..; with the rounded 0.6667 it would be 23.3345 -> 88.33 vs 88.34
    rates = {
        "on_time_rate": Fraction(2, 3),
        "early_rate": None,
        "process_ok_rate": None,
        "content_ok_rate": None,
        "satisfaction_rate": None,
        "complaint_on_time_rate": None,
    }
    assert score_of(rates, red=0, yellow=0) == 88.33


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        (100.0, "优秀"),
        (90.0, "优秀"),
        (89.99, "良好"),
        (80.0, "良好"),
        (79.99, "合格"),
        (60.0, "合格"),
        (59.99, "不合格"),
        (0.0, "不合格"),
    ],
)
def test_grade_boundaries(score, grade):
    assert grade_of(score) == grade


def test_empty_department_has_null_rates_and_full_score(calendar, settings):
    result = stats(calendar, settings, [done("LY01", finished="2026-10-09")], flow_steps("LY01"))
    empty = dept(result, DEPT2)
    assert empty["received"] == 0 and empty["completed"] == 0
    for key in (
        "on_time_rate",
        "early_rate",
        "denial_rate",
        "overdue_rate",
        "satisfaction_rate",
        "process_ok_rate",
        "content_ok_rate",
        "complaint_on_time_rate",
    ):
        assert empty[key] is None, key
    assert (empty["score"], empty["grade"]) == (100.0, "优秀")
    assert [t["power_type"] for t in result["power_types"]] == [
        "XK",
        "SP",
        "CF",
        "QZ",
        "ZS",
        "QR",
        "CJ",
        "JC",
        "GF",
        "ZY",
        "JL",
        "QT",
    ]
    assert "score" not in result["power_types"][0]


def test_case_counts_of_a_period(calendar, settings):
    cases = [
        done("LY01", finished="2026-10-08", satisfaction="S"),  # on time, early
        done("LY02", finished="2026-10-12", satisfaction="B", result="DENIED", result_note="不符合条件"),  # overdue
        done("LY03", finished="2026-11-02", received_at=at("2026-10-28"), satisfaction="U"),  # completed after e
        case("LY04", received_at=at("2026-10-20")),  # open at end, deadline 10-23 < e: open overdue
        case("LY05", received_at=at("2026-10-29")),  # open at end, deadline 11-03: not overdue
        done("LY06", finished="2026-09-30", received_at=at("2026-09-29"), promised_limit=1),  # before the period
    ]
    steps = [s for c in cases for s in flow_steps(c["case_id"], c["received_at"][:10])]
    t = stats(calendar, settings, cases, steps)["total"]
    assert (t["received"], t["completed"], t["on_time"], t["early"], t["overdue"]) == (3, 2, 1, 1, 1)
    assert (t["denied"], t["denial_rate"]) == (1, 0.5)
    assert (t["open_at_end"], t["open_overdue"]) == (3, 1)  # LY03 was still open on 11-01
    assert t["overdue_rate"] == 0.4  # (1 + 1) / (2 + 3)
    assert t["satisfaction_rate"] == 0.75  # (1 + 0.5) / 2
    assert (t["process_ok_rate"], t["content_ok_rate"]) == (1.0, 1.0)


def test_period_end_is_capped_at_the_as_of_date(calendar, settings):
    cases = [case("LY01", received_at=at("2026-11-05")), case("LY02", received_at=at("2026-11-07"))]
    t = stats(calendar, settings, cases, period=(D("2026-11-01"), D("2026-11-30")))["total"]
    assert t["received"] == 1  # e = 2026-11-06
    assert t["open_at_end"] == 1


def test_process_and_content_rates_count_completed_cases_with_events(calendar, settings):
    items = [item(), item("XK3204810010002000", fee="150.00")]
    cases = [
        done("LY01"),  # no steps: LC01
        done("LY02", fee_paid="1.00"),  # NR01
        done("LY03", result="DENIED", result_note=None),  # LC03
        done("LY04"),
    ]
    steps = [s for c in cases[1:] for s in flow_steps(c["case_id"])]
    t = stats(calendar, settings, cases, steps, items=items)["total"]
    assert t["completed"] == 4
    assert t["process_ok_rate"] == 0.75
    assert t["content_ok_rate"] == 0.5


def test_cards_are_counted_by_event_date_in_the_period(calendar, settings):
    # SX01 on 10-09 and SX02 on 10-11 for an open case; complaint TS01 on 10-27
    result = stats(calendar, settings, [case("LY01", received_at=at("2026-09-30"))], complaints=[complaint("TS01")])
    t = result["total"]
    assert (t["yellow_cards"], t["red_cards"]) == (2, 1)
    sept = stats(calendar, settings, [case("LY01")], period=(D("2026-09-01"), D("2026-09-30")))["total"]
    assert (sept["yellow_cards"], sept["red_cards"]) == (0, 0)


def test_complaint_figures(calendar, settings):
    complaints = [
        complaint("TS01", status="CLOSED", closed_at=at("2026-10-20"), result="SUBSTANTIATED"),  # due 10-26
        complaint("TS02", status="CLOSED", closed_at=at("2026-10-28"), result="PARTIAL"),  # late
        complaint("TS03", status="CLOSED", closed_at=at("2026-10-15"), result="UNFOUNDED", dept_code=DEPT2),
        complaint(
            "TS04", received_at=at("2026-09-01"), status="CLOSED", closed_at=at("2026-10-02"), result="UNFOUNDED"
        ),
    ]
    result = stats(calendar, settings, complaints=complaints)
    a, b = dept(result, DEPT), dept(result, DEPT2)
    assert (a["complaints"], a["complaints_substantiated"]) == (2, 2)
    assert a["complaint_on_time_rate"] == 0.3333  # TS01 of TS01, TS02, TS04 (closed in October)
    assert (b["complaints"], b["complaint_on_time_rate"]) == (1, 1.0)
    assert result["total"]["complaints"] == 3
    assert sum(t["complaints"] for t in result["power_types"]) == 0  # no case behind them


def test_document_head_and_key_order(calendar, settings):
    result = stats(calendar, settings)
    assert list(result) == [
        "standard_version",
        "region",
        "period",
        "as_of",
        "departments",
        "power_types",
        "total",
        "provisional",
    ]
    assert result["standard_version"] == "1.0" and result["region"] == "320481"
    assert result["period"] == {"from": "2026-10-01", "to": "2026-10-31"}
    assert result["as_of"] == "2026-11-06T18:00:00+08:00"
    assert [d["dept_code"] for d in result["departments"]] == sorted([DEPT, DEPT2])
    assert list(result["total"])[-2:] == ["score", "grade"]
    assert result["provisional"] is False


def test_as_of_in_another_zone_is_shown_in_liyang_time(calendar, settings):
    as_of = dt.datetime(2026, 11, 6, 10, 0, tzinfo=dt.UTC)
    assert stats(calendar, settings, as_of=as_of)["as_of"] == "2026-11-06T18:00:00+08:00"


def test_provisional_when_a_figure_rests_on_an_unofficial_year(calendar, settings):
    as_of = dt.datetime(2027, 1, 29, 18, 0, tzinfo=AS_OF.tzinfo)
    jan = (D("2027-01-01"), D("2027-01-31"))
    result = stats(
        calendar, settings, [done("LY01", received_at=at("2026-12-28"), finished="2027-01-08")], as_of=as_of, period=jan
    )
    assert result["provisional"] is True
    table = format_statistics_table(result)
    assert "含推定日历" in table
    # a period whose figures need no 2027 day is not provisional
    dec = stats(
        calendar,
        settings,
        [done("LY01", received_at=at("2026-12-01"), finished="2026-12-03")],
        as_of=as_of,
        period=(D("2026-12-01"), D("2026-12-31")),
    )
    assert dec["provisional"] is False
    assert "含推定日历" not in format_statistics_table(dec)


def test_table_lists_departments_total_and_power_types(calendar, settings):
    result = stats(calendar, settings, [done("LY01", finished="2026-10-08", satisfaction="S")], flow_steps("LY01"))
    table = format_statistics_table(result)
    lines = table.splitlines()
    assert "统计期 2026-10-01 至 2026-10-31" in lines[1]
    assert any(line.startswith("溧阳市市场监督管理局") and line.rstrip().endswith("优秀") for line in lines)
    total = next(line for line in lines if line.startswith("合计"))
    assert total.split()[1:6] == ["0", "1", "1", "1", "0"]  # received in September, completed in October
    assert "100.00%" in total and total.split()[-2:] == ["100.00", "优秀"]
    assert any(line.startswith("XK 行政许可") for line in lines)
    assert any(line.startswith("ZY 行政征用") and "—" in line for line in lines)


DEC = (D("2026-12-01"), D("2026-12-31"))
END_OF_YEAR = dt.datetime(2026, 12, 31, 18, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def test_next_years_provisional_calendar_marks_only_figures_it_could_change(calendar, settings):
    # 2026 is official, 2027 provisional: a December figure is provisional only when a 2027 day decides it
    def december(*cases, complaints=()):
        steps = [s for c in cases for s in flow_steps(c["case_id"], c["received_at"][:10])]
        return stats(calendar, settings, cases, steps, complaints, period=DEC, as_of=END_OF_YEAR)

    # finished in December before a deadline in January: on time and early whatever 2027's schedule says
    finished = done("LY01", received_at=at("2026-12-21"), finished="2026-12-29", promised_limit=15)
    # still open with a deadline in January: not overdue at 12-31 whatever 2027's schedule says
    open_case = case("LY02", received_at=at("2026-12-21"), promised_limit=15)
    # a complaint closed in December, due in January
    closed = complaint("TS01", received_at=at("2026-12-24"), status="CLOSED", closed_at=at("2026-12-30"))
    result = december(finished, open_case, complaints=[closed])
    assert result["provisional"] is False
    total = result["total"]
    assert (total["on_time"], total["early"], total["open_overdue"], total["complaint_on_time_rate"]) == (1, 1, 0, 1.0)

    # the same figures a year on, in a year the calendar only knows by rule: provisional
    later = stats(
        calendar,
        settings,
        [done("LY01", received_at=at("2027-12-01"), finished="2027-12-29", promised_limit=15)],
        flow_steps("LY01", "2027-12-01"),
        period=(D("2027-12-01"), D("2027-12-31")),
        as_of=END_OF_YEAR.replace(year=2027),
    )
    assert later["provisional"] is True
