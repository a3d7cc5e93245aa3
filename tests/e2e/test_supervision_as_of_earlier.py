"""Supervision run as of an instant earlier than the events stored (an old Airflow run cleared and run
again, a clock set back, an operator's --as-of) withdraws nothing and sends nothing to Changzhou."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from sanheyi.settings import load_settings
from sanheyi.supervise import supervision_view
from warehouse.db import make_engine
from warehouse.tables import fct_supervision_event

T1 = "2026-11-10T09:00:00+08:00"
T2 = "2026-11-28T09:00:00+08:00"
T3 = "2026-12-15T09:00:00+08:00"


def stored_events(home: Path) -> dict[str, tuple[str, str]]:
    """event_key → (status, payload SHA-256)."""
    table = fct_supervision_event
    engine = make_engine(load_settings(home).warehouse_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(table.c.event_key, table.c.status, table.c.payload_sha256)).all()
    finally:
        engine.dispose()
    return {key: (status, sha) for key, status, sha in rows}


def test_an_earlier_as_of_leaves_the_stored_events_and_sends_no_withdrawal(
    examples_home: Path, cli_streams: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, err = cli_streams("run", "--as-of", T2)
    assert code == 0, err
    at_t2 = stored_events(examples_home)
    assert at_t2 and all(status == "ACTIVE" for status, _ in at_t2.values())
    packages = sorted((examples_home / "outbox").glob("*.zip"))

    code, out, err = cli_streams("run", "--stage", "supervise", "--stage", "exchange", "--as-of", T1)
    assert code == 0, err
    assert stored_events(examples_home) == at_t2
    assert "supervision skipped: " in out and "no package" in out
    assert sorted((examples_home / "outbox").glob("*.zip")) == packages
    assert (
        "the stored events were computed as of 2026-11-28T09:00:00+08:00, later than 2026-11-10T09:00:00+08:00: "
        "they are left as they are"
    ) in err

    # a later instant is stored as ever, without a warning: the stored events are those that hold then
    code, out, err = cli_streams("run", "--stage", "supervise", "--as-of", T3)
    assert code == 0 and err == ""
    view = supervision_view(load_settings(examples_home), datetime.fromisoformat(T3))
    active = {key for key, (status, _) in stored_events(examples_home).items() if status == "ACTIVE"}
    assert active == set(view.events["event_key"])
