"""The working-day calendar: official years from the packages, provisional years by rule."""

from __future__ import annotations

import datetime as dt

import pytest

from supervision.calendar import WorkCalendar
from supervision.errors import CalendarRangeError

D = dt.date.fromisoformat


def test_2026_is_official_and_2027_provisional_with_the_installed_packages(calendar):
    assert calendar.source_of(2026) == "chinese_calendar"
    assert not calendar.is_provisional(D("2026-12-31"))
    assert calendar.is_provisional(D("2027-01-04"))
    assert calendar.provisional_years(2026, 2028) == (2027, 2028)
    assert 2026 in calendar.official_years() and 2027 not in calendar.official_years()


def test_spring_festival_2026_with_its_saturday_make_up_days(calendar):
    # 2026-02-15..23 off; Saturday 2026-02-14 and Saturday 2026-02-28 are make-up workdays
    assert calendar.is_workday(D("2026-02-13"))
    assert calendar.is_workday(D("2026-02-14"))
    for day in range(15, 24):
        assert not calendar.is_workday(dt.date(2026, 2, day)), day
    assert calendar.is_workday(D("2026-02-24"))
    assert calendar.is_workday(D("2026-02-28"))
    assert not calendar.is_workday(D("2026-03-01"))  # an ordinary Sunday


def test_national_day_2026_and_its_make_up_workdays(calendar):
    assert calendar.is_workday(D("2026-09-20"))  # Sunday, make-up
    assert not calendar.is_workday(D("2026-09-25"))  # Mid-Autumn
    for day in range(1, 8):
        assert not calendar.is_workday(dt.date(2026, 10, day))
    assert calendar.is_workday(D("2026-10-08"))
    assert calendar.is_workday(D("2026-10-10"))  # Saturday, make-up
    assert not calendar.is_workday(D("2026-10-11"))


def test_provisional_year_uses_statutory_holidays_by_rule_and_no_make_up_days(calendar):
    # 2027 by rule: Spring Festival eve 02-05 .. 02-08 plus the weekdays in lieu 02-09, 02-10
    for day in (5, 8, 9, 10):
        assert not calendar.is_workday(dt.date(2027, 2, day)), day
    assert calendar.is_workday(D("2027-02-11"))
    assert not calendar.is_workday(D("2027-10-01"))
    # no make-up Saturday is invented
    assert not any(
        calendar.is_workday(dt.date(2027, 1, 1) + dt.timedelta(days=i))
        for i in range(365)
        if (dt.date(2027, 1, 1) + dt.timedelta(days=i)).weekday() >= 5
    )


def test_add_workdays_and_the_workday_index(calendar):
    assert calendar.add_workdays(D("2026-09-30"), 1) == D("2026-10-08")
    assert calendar.add_workdays(D("2026-09-30"), 3) == D("2026-10-10")
    assert calendar.add_workdays(D("2026-09-30"), 0) == D("2026-09-30")
    idx = calendar.workday_index(D("2026-09-30"), D("2026-10-12"))
    assert idx.tolist() == [1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 4, 4, 5]


def test_dates_outside_the_span_are_refused_clearly(calendar):
    with pytest.raises(CalendarRangeError, match="outside the calendar span"):
        calendar.is_workday(D("1999-05-04"))
    assert calendar.is_provisional(D("2100-01-01"))


def test_every_day_of_2020_to_2026_is_what_both_packages_say(calendar):
    # The years both packages carry officially: each day a workday or not exactly as each of them
    # answers on its own (make-up Saturdays and days in lieu included).
    import chinese_calendar
    import holidays

    assert [calendar.source_of(y) for y in range(2020, 2027)] == ["chinese_calendar"] * 7
    days = [D("2020-01-01") + dt.timedelta(days=i) for i in range((D("2027-01-01") - D("2020-01-01")).days)]
    ours = [calendar.is_workday(d) for d in days]
    table = holidays.China(years=range(2020, 2027))
    assert ours == [chinese_calendar.is_workday(d) for d in days]
    assert ours == [table.is_working_day(d) for d in days]


def test_a_year_the_packages_disagree_on_is_provisional_until_the_override_settles_it(tmp_path):
    # the packages differ on 2005-12-31 (a make-up workday of the 2006 notice that chinesecalendar lacks)
    calendar = WorkCalendar.load(first_year=2005, last_year=2007)
    assert calendar.disputed == {2005: (D("2005-12-31"),)}
    assert calendar.source_of(2005) == "provisional"
    assert calendar.is_provisional(D("2005-06-01"))
    assert not calendar.is_workday(D("2005-12-31"))  # no make-up day in a provisional year
    assert not calendar.is_workday(D("2005-10-03"))  # 国庆 by rule
    assert calendar.is_workday(D("2005-06-01"))
    assert not calendar.is_provisional(D("2006-06-01"))  # the years they agree on stay official

    override = tmp_path / "calendar.yaml"
    override.write_text(
        "years:\n  2005:\n    notice: 国办发明电〔2004〕40号\n    holidays: [2005-10-03]\n    workdays: [2005-12-31]\n",
        encoding="utf-8",
    )
    settled = WorkCalendar.load(override, first_year=2005, last_year=2007)
    assert settled.disputed == {}
    assert settled.source_of(2005) == "override"
    assert settled.is_workday(D("2005-12-31")) and not settled.is_provisional(D("2005-12-31"))


def test_years_outside_the_span_answer_from_the_sources(calendar):
    assert not calendar.is_provisional(D("2010-05-04"))  # chinesecalendar carries 2010
    assert calendar.is_provisional(D("2040-05-04"))


def test_a_deadline_after_the_span_has_no_date_fires_no_card_and_leaves_other_cases_alone(settings):
    # 3,000 workdays (a typo for 30, valid by the standard when the item has no statutory limit) end
    # years after any calendar the hub can know; the other cases' deadlines and cards must not suffer
    from sv_builders import at, bundle, case, done

    from supervision import case_deadlines, compute_events

    short = WorkCalendar.load(last_year=2026)
    as_of = dt.datetime(2026, 12, 31, 18, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    data = bundle(
        cases=[
            case("LY01", received_at=at("2026-12-01"), promised_limit=3000),
            done("LY02", received_at=at("2026-12-01"), finished="2026-12-30", promised_limit=3000),
            case("LY03", received_at=at("2026-12-01"), promised_limit=3),
        ]
    )
    rows = case_deadlines(data, as_of, short, settings).set_index("case_id")
    assert rows.loc["LY01", "deadline_date"] is None and rows.loc["LY02", "deadline_date"] is None
    assert bool(rows.loc["LY01", "provisional"]) and bool(rows.loc["LY02", "provisional"])
    assert bool(rows.loc["LY02", "on_time"]) and not bool(rows.loc["LY02", "overdue"])
    assert rows.loc["LY03", "deadline_date"] == D("2026-12-04")
    events = compute_events(data, as_of, short, settings)
    deadline_cards = events[events.rule.isin(["SX01", "SX02"])]
    assert sorted(deadline_cards.event_key) == ["SX01:UNIFIED:LY03", "SX02:UNIFIED:LY03"]
