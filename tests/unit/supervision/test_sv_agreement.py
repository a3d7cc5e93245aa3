"""The vectorised engine agrees with the per-case reading of the standard on generated data.

The data is made to hit the corners: weekends, holidays, make-up days, the provisional year 2027,
instants near midnight in other zones, overlapping/open/empty suspensions, steps out of order,
every status and all fee and penalty cases.
"""

from __future__ import annotations

import datetime as dt
import random

import pandas as pd
import pytest
from sv_builders import DEPT, DEPT2, bundle, item

from supervision import SupervisionData, case_deadlines, compute_events, compute_statistics
from supervision.reference import reference_deadlines, reference_events, reference_statistics

CST = dt.timezone(dt.timedelta(hours=8))
ZONES = [CST, dt.UTC, dt.timezone(dt.timedelta(hours=-5))]
ITEMS = [
    item("XK3204810010001000", promised_limit=10),
    item("XK3204810010002000", fee="150.00", flow=["SL", "SH", "BJ"]),
    item("QR3204810020003000", time_unit="CD", dept_code=DEPT2, fee="0"),
    item("CF3204810010004000", penalty_min="100", penalty_max="5000.50", flow=["LA", "DC", "GZ", "JD", "ZX"]),
    item("JC3204810020005000", time_unit="CD", dept_code=DEPT2, flow=["SL", "BJ"]),
    item("XK3204810010006000", flow=["SL", "SH", "PZ", "SH", "BJ"]),  # 二次审核: SH twice
]
CODES = ["SL", "SH", "PZ", "BJ", "SD", "LA", "DC", "GZ", "JD", "ZX", "TB", "BZ", "TB", "BZ"]


def instant(rng: random.Random, day: dt.date) -> str:
    local = dt.datetime.combine(day, dt.time(rng.choice([0, 1, 9, 15, 23]), rng.randrange(60)), CST)
    return local.astimezone(rng.choice(ZONES)).isoformat()


def generate(seed: int, n: int = 250):
    rng = random.Random(seed)
    start = dt.date(2026, 9, 1)
    cases, steps, complaints = [], [], []
    for i in range(n):
        it = rng.choice(ITEMS)
        received = start + dt.timedelta(days=rng.randrange(150))
        status = rng.choice(["IN_PROGRESS", "COMPLETED", "COMPLETED", "COMPLETED", "WITHDRAWN", "TERMINATED"])
        finished = received + dt.timedelta(days=rng.randrange(0, 40))
        cid = f"LY{seed:02d}{i:06d}"
        completed = status == "COMPLETED"
        result = rng.choice(["GRANTED", "PARTIAL", "DENIED"]) if completed else None
        cases.append(
            {
                "source_system": rng.choice(["UNIFIED", "UNIFIED", "SELF_GA"]),
                "case_id": cid,
                "power_code": it["power_code"],
                "dept_code": it["dept_code"],
                "received_at": instant(rng, received),
                "promised_limit": rng.choice([0, 1, 2, 3, 5, 8, 15, 25]),
                "status": status,
                "finished_at": None if status == "IN_PROGRESS" else instant(rng, finished),
                "result": result,
                "result_note": rng.choice([None, " ", "理由"]) if completed else None,
                "fee_paid": rng.choice(["0", "0.00", "100", "150.00", "150.01", "200"]),
                "relief_reason": rng.choice([None, "", "减免"]),
                "penalty_amount": rng.choice([None, "99.99", "100", "5000.50", "5000.51"])
                if it["power_code"].startswith("CF")
                else None,
                "satisfaction": rng.choice([None, "S", "B", "U"]) if completed else None,
            }
        )
        day = received
        for no in range(1, rng.randrange(0, 8) + 1):
            day = day + dt.timedelta(days=rng.choice([0, 0, 1, 2, 5, -1]))
            code = rng.choice(CODES + it["flow"] * 2)
            end = day + dt.timedelta(days=rng.choice([0, 1, 3, 9]))
            steps.append(
                {
                    "source_system": cases[-1]["source_system"],
                    "case_id": cid,
                    "step_no": no if rng.random() > 0.1 else no * 10,
                    "step_code": code,
                    "started_at": instant(rng, max(day, received)),
                    "finished_at": None if rng.random() < 0.25 else instant(rng, end),
                }
            )
    for j in range(60):
        received = start + dt.timedelta(days=rng.randrange(150))
        closed = rng.random() < 0.6
        linked = rng.random() < 0.5
        target = rng.choice(cases)
        complaints.append(
            {
                "complaint_id": f"TS{seed:02d}{j:04d}",
                "case_source_system": target["source_system"] if linked else None,
                "case_id": target["case_id"] if linked else None,
                "dept_code": rng.choice([DEPT, DEPT2]),
                "received_at": instant(rng, received),
                "status": "CLOSED" if closed else "OPEN",
                "closed_at": instant(rng, received + dt.timedelta(days=rng.randrange(30))) if closed else None,
                "result": rng.choice(["SUBSTANTIATED", "PARTIAL", "UNFOUNDED"]) if closed else None,
            }
        )
    return bundle(cases=cases, steps=steps, complaints=complaints, items=ITEMS)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    "as_of", [dt.datetime(2026, 11, 6, 18, 0, tzinfo=CST), dt.datetime(2027, 2, 10, 9, tzinfo=CST)]
)
def test_engine_matches_the_reference_reading(seed, as_of, calendar, settings):
    data = generate(seed)
    events = compute_events(data, as_of, calendar, settings)
    ref = reference_events(data, as_of, calendar, settings)
    cols = ["event_key", "card", "event_date", "dept_code", "power_type", "provisional"]
    assert events[cols].to_dict("records") == [{k: e[k] for k in cols} for e in ref]
    assert len(events) > 100 and events.rule.nunique() >= 7
    assert events.provisional.any() == (as_of.year == 2027)

    got = case_deadlines(data, as_of, calendar, settings)
    expected = reference_deadlines(data, as_of, calendar, settings)
    rows = got.astype(object).where(got.notna(), None).to_dict("records")
    assert rows == expected

    for period in [(dt.date(2026, 10, 1), dt.date(2026, 10, 31)), (dt.date(2026, 9, 1), dt.date(2027, 3, 31))]:
        stats = compute_statistics(data, events, *period, as_of, calendar, settings)
        stats.pop("provisional")
        assert stats == reference_statistics(data, ref, *period, as_of, calendar, settings)


def with_item_versions(data: SupervisionData) -> SupervisionData:
    """Every item changed on 2026-10-15 (mid-period): another fee, penalty range, flow and time unit."""
    before = data.power_items.assign(valid_from_at=pd.Timestamp("2026-01-01T09:00:00+08:00"))
    after = data.power_items.assign(
        valid_from_at=pd.Timestamp("2026-10-15T00:00:00+08:00"),
        fee=["200.00" if fee is None else None for fee in data.power_items["fee"]],
        penalty_min=[None if low is None else "1000" for low in data.power_items["penalty_min"]],
        time_unit=["CD" if unit == "WD" else "WD" for unit in data.power_items["time_unit"]],
        flow=[list(reversed(flow)) for flow in data.power_items["flow"]],
    )
    return SupervisionData(
        data.departments,
        after.drop(columns="valid_from_at"),
        data.cases,
        data.steps,
        data.complaints,
        power_item_versions=pd.concat([after, before], ignore_index=True),
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_cases_are_judged_by_the_item_version_in_force_when_received_as_the_reference_does(seed, calendar, settings):
    as_of = dt.datetime(2026, 11, 6, 18, 0, tzinfo=CST)
    data = with_item_versions(generate(seed))
    events = compute_events(data, as_of, calendar, settings)
    ref = reference_events(data, as_of, calendar, settings)
    cols = ["event_key", "card", "event_date", "dept_code", "power_type", "provisional"]
    assert events[cols].to_dict("records") == [{k: e[k] for k in cols} for e in ref]
    got = case_deadlines(data, as_of, calendar, settings)
    rows = got.astype(object).where(got.notna(), None).to_dict("records")
    assert rows == reference_deadlines(data, as_of, calendar, settings)
    # the versions matter: judged by the latest version alone, other cards come out
    latest_only = SupervisionData(data.departments, data.power_items, data.cases, data.steps, data.complaints)
    assert set(events["event_key"]) != set(compute_events(latest_only, as_of, calendar, settings)["event_key"])


def test_of_two_versions_valid_from_the_same_instant_the_higher_is_in_force(calendar, settings):
    from sv_builders import done, flow_steps

    base = bundle(cases=[done(fee_paid="200.00")], steps=flow_steps("LY0000000001"), items=[item(fee="150.00")])
    valid_from = pd.Timestamp("2026-01-01T09:00:00+08:00")
    # listed highest first: the order rows come in must not decide
    versions = pd.concat(
        [base.power_items.assign(fee="200.00", version=2), base.power_items.assign(version=1)], ignore_index=True
    ).assign(valid_from_at=valid_from)
    data = SupervisionData(
        base.departments, base.power_items, base.cases, base.steps, base.complaints, power_item_versions=versions
    )
    as_of = dt.datetime(2026, 11, 6, 18, 0, tzinfo=CST)
    events = compute_events(data, as_of, calendar, settings)
    assert "NR01" not in set(events["rule"])  # 200.00 is the fee of version 2
    assert [e["rule"] for e in reference_events(data, as_of, calendar, settings) if e["rule"] == "NR01"] == []
