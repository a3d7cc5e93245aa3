"""Stored supervision events (warehouse/events_store.py) follow the latest instant they were computed
for: a computation as of an earlier instant leaves them as they are (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from warehouse.events_store import sync_events
from warehouse.tables import fct_supervision_event

LIYANG = timezone(timedelta(hours=8))
T1 = datetime(2026, 11, 10, 9, 0, tzinfo=LIYANG)
T2 = datetime(2026, 11, 28, 9, 0, tzinfo=LIYANG)
T3 = datetime(2026, 11, 29, 9, 0, tzinfo=LIYANG)


def events(*case_ids: str) -> pd.DataFrame:
    """SX01 events (a deadline near) of the given cases."""
    return pd.DataFrame(
        [
            {
                "event_key": f"SX01:UNIFIED:{case_id}",
                "rule": "SX01",
                "card": "YELLOW",
                "event_date": date(2026, 11, 9),
                "dept_code": "11320481466004118J",
                "power_type": "XK",
                "case_source_system": "UNIFIED",
                "case_id": case_id,
                "complaint_id": None,
            }
            for case_id in case_ids
        ]
    )


def stored(engine: Engine) -> dict[str, tuple[str, datetime]]:
    """event_key → (status, computed_at)."""
    table = fct_supervision_event
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.event_key, table.c.status, table.c.computed_at)).all()
    return {key: (status, computed_at) for key, status, computed_at in rows}


def test_events_computed_as_of_an_earlier_instant_are_not_stored(
    warehouse_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with warehouse_engine.begin() as conn:
        first = sync_events(conn, events("LY01", "LY02", "LY03"), T2)
    assert (first.new, first.withdrawn, first.skipped) == (3, 0, None)
    as_of_t2 = stored(warehouse_engine)

    # a run as of an earlier instant, when LY02 and LY03 were not due yet
    with warehouse_engine.begin() as conn:
        earlier = sync_events(conn, events("LY01"), T1)
    assert (earlier.new, earlier.changed, earlier.withdrawn) == (0, 0, 0)
    assert earlier.skipped is not None
    assert "computed as of 2026-11-28T09:00:00+08:00, later than 2026-11-10T09:00:00+08:00" in earlier.skipped
    assert stored(warehouse_engine) == as_of_t2  # nothing withdrawn, nothing to send to Changzhou
    assert any(r.levelname == "WARNING" and earlier.skipped in r.getMessage() for r in caplog.records)

    # the same instant again, and a later one, are stored as ever
    with warehouse_engine.begin() as conn:
        again = sync_events(conn, events("LY01", "LY02", "LY03"), T2)
        later = sync_events(conn, events("LY01", "LY02"), T3)
    assert (again.unchanged, again.skipped) == (3, None)
    assert (later.withdrawn, later.unchanged, later.skipped) == (1, 2, None)
    assert stored(warehouse_engine) == {
        "SX01:UNIFIED:LY01": ("ACTIVE", T2),
        "SX01:UNIFIED:LY02": ("ACTIVE", T2),
        "SX01:UNIFIED:LY03": ("WITHDRAWN", T3),
    }


def test_events_stored_as_of_a_future_instant_do_not_hold_later_runs_back(warehouse_engine: Engine) -> None:
    # a mistyped --as-of a year ahead, or a clock that jumped: honoured, it would skip every run until then
    ahead = datetime.now(UTC) + timedelta(days=400)
    with warehouse_engine.begin() as conn:
        sync_events(conn, events("LY01", "LY02"), ahead)
    now = datetime.now(UTC)
    with warehouse_engine.begin() as conn:
        today = sync_events(conn, events("LY01"), now)
    assert (today.skipped, today.unchanged, today.withdrawn) == (None, 1, 1)
