"""The example dataset's prescribed results (tests/fixtures/examples/expected) reproduced exactly."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sv_golden as golden

from supervision import compute_events, compute_statistics
from supervision.reference import reference_events

AS_OF = dt.datetime.fromisoformat(golden.AS_OF)
PERIODS = [("2026-10-01", "2026-10-31"), ("2026-06-01", "2026-11-30")]


@pytest.fixture(scope="module", params=golden.SCENARIOS)
def scenario(request, calendar, settings):
    data = golden.load_scenario(request.param)
    events = compute_events(data, AS_OF, calendar, settings)
    return request.param, data, events


def test_events_equal_the_expected_set(scenario):
    name, _, events = scenario
    got = {(r.rule, r.event_key, r.event_date.isoformat()) for r in events.itertuples()}
    expected = golden.expected_events(name)
    assert sorted(got - expected) == [] and sorted(expected - got) == []
    assert len(events) == len(expected)  # one event per key


def test_events_carry_department_power_type_and_no_provisional_day(scenario):
    _, data, events = scenario
    items = data.power_items.set_index("power_code")["power_type"]
    cases = data.cases.set_index(["source_system", "case_id"])
    for ev in events[events.rule != "TS01"].itertuples():
        case = cases.loc[(ev.case_source_system, ev.case_id)]
        assert ev.dept_code == case["dept_code"]
        assert ev.power_type == items[case["power_code"]]
        assert ev.complaint_id is None
    assert set(events.card) == {"YELLOW", "RED"}
    assert not events.provisional.any()  # every day of 2026 is covered by the official schedule


def test_reference_reading_gives_the_same_events(scenario, calendar, settings):
    _, data, events = scenario
    ref = reference_events(data, AS_OF, calendar, settings)
    assert [(e["event_key"], e["event_date"], e["power_type"]) for e in ref] == list(
        zip(events.event_key, events.event_date, events.power_type, strict=True)
    )


@pytest.mark.parametrize(("period_from", "period_to"), PERIODS)
def test_statistics_equal_the_expected_file(scenario, calendar, settings, period_from, period_to):
    name, data, events = scenario
    stats = compute_statistics(
        data, events, dt.date.fromisoformat(period_from), dt.date.fromisoformat(period_to), AS_OF, calendar, settings
    )
    assert stats.pop("provisional") is False
    expected = golden.expected_statistics(name, period_from, period_to)
    assert stats == expected
    # same keys in the same order, same JSON numbers (0.5 stays 0.5, 82.0 stays 82.0)
    assert json.dumps(stats, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)
