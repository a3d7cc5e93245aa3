"""The input bundle refuses frames the engine could misread, with messages free of personal data."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sv_builders import AS_OF, bundle, case

from schemas.errors import FatalError
from supervision import SupervisionData, SupervisionInputError, SupervisionSettings, compute_events


def test_missing_columns_are_all_named():
    good = bundle(cases=[case()])
    with pytest.raises(SupervisionInputError) as err:
        SupervisionData(
            departments=good.departments,
            power_items=good.power_items.drop(columns=["flow"]),
            cases=good.cases.drop(columns=["status", "fee_paid"]),
            steps=good.steps,
            complaints=good.complaints,
        )
    assert isinstance(err.value, FatalError)
    for name in ("power_items.flow", "cases.status", "cases.fee_paid"):
        assert name in err.value.message


def test_naive_datetimes_are_refused():
    good = bundle(cases=[case()])
    cases = good.cases.copy()
    cases["received_at"] = cases["received_at"].dt.tz_localize(None)
    with pytest.raises(SupervisionInputError, match="cases.received_at must be a tz-aware"):
        SupervisionData(good.departments, good.power_items, cases, good.steps, good.complaints)


def test_records_without_offset_are_refused_without_echoing_them():
    with pytest.raises(SupervisionInputError) as err:
        bundle(cases=[case(received_at="2026-09-30T10:00:00")])
    assert "1 value(s) without a UTC offset" in err.value.message
    assert "2026-09-30" not in err.value.message


def test_as_of_must_be_aware(calendar, settings):
    with pytest.raises(SupervisionInputError, match="as_of must be an aware datetime"):
        compute_events(bundle(cases=[case()]), dt.datetime(2026, 11, 6, 18), calendar, settings)


def test_unknown_power_code_is_reported_by_count(calendar, settings):
    data = bundle(cases=[case(power_code="XK3204810999999000")])
    with pytest.raises(SupervisionInputError, match="1 case\\(s\\) reference a power_code missing"):
        compute_events(data, AS_OF, calendar, settings)


def test_settings_must_not_be_negative():
    with pytest.raises(SupervisionInputError):
        SupervisionSettings(warn_days=-1)


def test_instants_in_any_zone_are_accepted(calendar, settings):
    # 17:00 UTC on 09-29 is 01:00 on 09-30 in Liyang: a frame in UTC (as the warehouse hands it over)
    # must give the events of the Liyang date, not of the UTC one
    data = bundle(cases=[case(received_at="2026-09-29T17:00:00Z")])
    utc = data.cases.copy()
    utc["received_at"] = utc["received_at"].dt.tz_convert("UTC")
    same = SupervisionData(data.departments, data.power_items, utc, data.steps, data.complaints)
    a = compute_events(data, AS_OF, calendar, settings)
    b = compute_events(same, AS_OF, calendar, settings)
    pd.testing.assert_frame_equal(a, b)
    liyang_day = compute_events(
        bundle(cases=[case(received_at="2026-09-30T01:00:00+08:00")]), AS_OF, calendar, settings
    )
    utc_day = compute_events(bundle(cases=[case(received_at="2026-09-29T17:00:00+08:00")]), AS_OF, calendar, settings)
    pd.testing.assert_frame_equal(b, liyang_day)
    assert not b["event_date"].equals(utc_day["event_date"])  # the two dates do give different events
