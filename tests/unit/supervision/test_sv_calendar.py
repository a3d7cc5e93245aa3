"""The working-day calendar: official years from the packages, provisional years by rule."""

from __future__ import annotations

import datetime as dt

import pytest

from schemas.errors import FatalError
from supervision.calendar import WorkCalendar
from supervision.errors import CalendarError, CalendarRangeError

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


def test_a_disagreement_between_the_packages_stops_the_load():
    # the packages differ on 2005-12-31 (a make-up workday of the 2006 notice that chinesecalendar lacks)
    with pytest.raises(CalendarError, match="2005-12-31") as err:
        WorkCalendar.load(first_year=2005, last_year=2007)
    assert isinstance(err.value, FatalError)
    assert "override" in err.value.message


def test_years_outside_the_span_answer_from_the_sources(calendar):
    assert not calendar.is_provisional(D("2010-05-04"))  # chinesecalendar carries 2010
    assert calendar.is_provisional(D("2040-05-04"))


def test_a_deadline_beyond_the_span_is_a_clear_error(settings):
    from sv_builders import AS_OF, at, bundle, case

    from supervision import case_deadlines

    short = WorkCalendar.load(last_year=2026)
    data = bundle(cases=[case(received_at=at("2026-12-20"), promised_limit=30)])
    with pytest.raises(CalendarRangeError, match="later last_year"):
        case_deadlines(data, AS_OF, short, settings)
