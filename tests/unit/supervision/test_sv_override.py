"""The project office's override file: a new year's official schedule, local closures, validation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sv_builders import AS_OF, at, bundle, case

from schemas.errors import FatalError
from supervision import CalendarOverrideError, WorkCalendar, case_deadlines, compute_events
from supervision.override import load_override

D = dt.date.fromisoformat

# A 2027 schedule written for the test (the real one had not been entered when this was written).
SCHEDULE_2027 = """\
years:
  2027:
    notice: 测试用2027年放假安排
    holidays:
      - {from: 2027-01-01, to: 2027-01-03}
      - {from: 2027-02-05, to: 2027-02-13}
      - 2027-04-05
      - {from: 2027-05-01, to: 2027-05-05}
      - 2027-06-09
      - 2027-09-15
      - {from: 2027-10-01, to: 2027-10-07}
    workdays:
      - 2027-01-31
      - 2027-02-20
      - 2027-10-09
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "calendar_override.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_entered_year_becomes_official(tmp_path):
    cal = WorkCalendar.load(write(tmp_path, SCHEDULE_2027))
    assert cal.source_of(2027) == "override"
    assert not cal.is_provisional(D("2027-06-01"))
    assert cal.notices[2027] == "测试用2027年放假安排"
    assert cal.is_workday(D("2027-02-20"))  # Saturday make-up
    assert not cal.is_workday(D("2027-02-11"))
    assert not cal.is_workday(D("2027-10-07"))
    assert cal.is_workday(D("2027-10-08"))
    assert cal.provisional_years(2026, 2028) == (2028,)


def test_a_provisional_deadline_changes_when_the_official_schedule_is_entered(tmp_path, calendar, settings):
    # received Monday 2027-02-01, 10 workdays
    data = bundle(cases=[case(received_at=at("2027-02-01"), promised_limit=10)])
    as_of = dt.datetime(2027, 2, 2, 9, 0, tzinfo=AS_OF.tzinfo)
    by_rule = case_deadlines(data, as_of, calendar, settings).iloc[0]
    # by rule: 02-05..02-10 off (eve, festival and the weekdays in lieu), no make-up days
    assert by_rule.deadline_date == D("2027-02-19")
    assert bool(by_rule.provisional) is True
    official = WorkCalendar.load(write(tmp_path, SCHEDULE_2027))
    entered = case_deadlines(data, as_of, official, settings).iloc[0]
    # 2,3,4 | 15..19 | Sat 20 (make-up) | Mon 22
    assert entered.deadline_date == D("2027-02-22")
    assert bool(entered.provisional) is False


def test_events_resting_on_a_provisional_year_are_marked(calendar, settings):
    data = bundle(cases=[case(received_at=at("2026-12-28"), promised_limit=10)])
    as_of = dt.datetime(2027, 1, 20, 9, 0, tzinfo=AS_OF.tzinfo)
    events = compute_events(data, as_of, calendar, settings).set_index("rule")
    assert set(events.index) == {"SX01", "SX02"}
    assert events.loc["SX02", "event_date"] == D("2027-01-13")  # deadline 2027-01-12 + 1
    assert events.provisional.all()


def test_local_closure_is_not_a_workday(tmp_path, settings):
    cal = WorkCalendar.load(write(tmp_path, "closures:\n  - {date: 2026-10-09, reason: 台风停止办公}\n"))
    assert not cal.is_workday(D("2026-10-09"))
    assert cal.source_of(2026) == "chinese_calendar"  # a closure does not replace the year
    data = bundle(cases=[case(received_at=at("2026-09-30"), promised_limit=3)])
    assert case_deadlines(data, AS_OF, cal, settings).iloc[0].deadline_date == D("2026-10-12")


def test_every_problem_is_listed_at_once(tmp_path):
    text = """\
years:
  2027:
    holidays:
      - 2027-02-05
      - {from: 2027-02-10, to: 2027-02-08}
      - 2026-06-01
      - not-a-date
    workdays:
      - 2027-02-09
      - 2027-02-05
      - 2027-02-06
    colour: blue
  99: {}
closures:
  - {date: 2026-07-15}
extra: 1
"""
    with pytest.raises(CalendarOverrideError) as err:
        WorkCalendar.load(write(tmp_path, text))
    exc = err.value
    assert isinstance(exc, FatalError)
    problems = "\n".join(exc.problems)
    for needle in (
        "years.2027.notice: required",
        "to (2027-02-08) is before from (2027-02-10)",
        "2026-06-01 is not in 2027",
        "'not-a-date' is not a date",
        "2027-02-09 is a Tuesday, not a weekend day",
        "2027-02-05 is listed both as holiday and as workday",
        "2027-02-06 is a statutory holiday",
        "years.2027.colour: unknown key",
        "years.99: year outside",
        "closures[0].reason: required",
        "extra: unknown key",
    ):
        assert needle in problems, needle
    assert len(exc.problems) >= 11
    assert str(exc.problems[0]) in exc.message and "calendar_override.yaml" in exc.message


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("years: [2027]\n", "years: must be a mapping"),
        ("- 1\n", "must be a mapping"),
        ("years:\n  2027: {notice: x, holidays: [2027-01-01]\n", "not valid YAML"),
        ("years:\n  2027: {notice: x, holidays: []}\n", "holidays: required and must not be empty"),
        ("years:\n  2027: {notice: x, holidays: [2027-01-01T00:00:00]}\n", "got a date-time"),
        ("closures: {date: 2026-07-15}\n", "closures: must be a list"),
    ],
)
def test_malformed_files_are_refused_with_a_reason(tmp_path, text, needle):
    with pytest.raises(CalendarOverrideError, match="calendar override file") as err:
        load_override(write(tmp_path, text))
    assert any(needle in p for p in err.value.problems), err.value.problems


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CalendarOverrideError, match="file not found"):
        WorkCalendar.load(tmp_path / "nope.yaml")


def test_an_empty_file_changes_nothing(tmp_path, calendar):
    cal = WorkCalendar.load(write(tmp_path, "# nothing entered yet\n"))
    assert cal.sources == calendar.sources


def test_a_schedule_may_move_days_into_the_previous_december(tmp_path):
    text = "years:\n  2027:\n    notice: x\n    holidays: [2027-01-01, 2026-12-31]\n    workdays: [2026-12-26]\n"
    cal = WorkCalendar.load(write(tmp_path, text))
    assert not cal.is_workday(D("2026-12-31"))
    assert cal.is_workday(D("2026-12-26"))
