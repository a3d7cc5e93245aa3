"""Migration 0007: open holds on interface pages are named by their feed, so a release still works."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from alembic import command
from sqlalchemy import text

from connectors.base import RecordBatch
from sanheyi.quality import content_sha256
from warehouse.batches import open_batch
from warehouse.db import make_engine
from warehouse.migrations import alembic_config, upgrade_to_head

HOLD = (
    "INSERT INTO ops_batch_hold (batch_id, source_system, entity, origin, content_sha256, status, reason, held_at,"
    " released_by, release_reason) VALUES (:id, :system, 'case', :origin, :sha, :status, '[]', :at, :by, :why)"
)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_open_interface_holds_are_named_by_their_feed_after_the_upgrade(dialect, tmp_path, request) -> None:
    if dialect == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    else:
        engine = make_engine(request.getfixturevalue("pg_url"), schema=request.getfixturevalue("pg_schema"))
    at = datetime(2026, 11, 6, 10, tzinfo=UTC)
    holds = {  # origin: (system, status)
        # SELF_GA: an older hold, then the newest; the newest stands for the feed
        "rest:case?since=2026-09-01T00:00:00.000000Z&page=2": ("SELF_GA", "HELD"),
        "rest:case?since=2026-10-01T00:00:00.000000Z&page=3": ("SELF_GA", "HELD"),
        "soap:case?since=&page=1": ("SELF_GA", "LOADED"),  # done with: left as it was
        "inbox/SELF_GA/case.20261105.jsonl": ("SELF_GA", "HELD"),  # a file: found again by its digest
        # SELF_CZ: the office released a hold, which never matched, and the next cycle held anew: the
        # release stands, the later hold is superseded by it
        "sql:case?since=2026-10-01T00:00:00.000000Z&page=1": ("SELF_CZ", "RELEASED"),
        "sql:case?since=2026-10-01T00:00:00.000000Z&page=2": ("SELF_CZ", "HELD"),
    }
    try:
        command.upgrade(alembic_config(engine), "0006")
        with engine.begin() as conn:
            for i, (origin, (system, status)) in enumerate(holds.items()):
                batch_id = open_batch(
                    conn, cycle_id="c", source_system=system, entity="case", origin=origin, started_at=at
                )
                released = ("王工", "已核实") if status == "RELEASED" else (None, None)
                conn.execute(
                    text(HOLD),
                    {"id": batch_id, "system": system, "origin": origin, "sha": f"{i}" * 64, "status": status,
                     "at": at, "by": released[0], "why": released[1]},
                )  # fmt: skip
        upgrade_to_head(engine)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT batch_id, origin, content_sha256, status, release_reason FROM ops_batch_hold")
            )
            after = {origin: (batch_id, key, status, reason) for batch_id, origin, key, status, reason in rows}
    finally:
        engine.dispose()
    page = RecordBatch("SELF_GA", "case", "rest:case?since=&page=1", pd.DataFrame(), [], next_cursor={})
    feed = content_sha256(page, None)  # what the next read of the feed looks for
    older, newest, done, file, release, later = (after[origin] for origin in holds)
    assert newest[1:] == (feed, "HELD", None)
    assert older[1:] == ("0" * 64, "LOADED", f"superseded by hold {newest[0]}")
    assert done[1:] == ("2" * 64, "LOADED", None) and file[1:] == ("3" * 64, "HELD", None)
    assert release[1:] == (feed, "RELEASED", "已核实")  # the office's release, who and why kept
    assert later[1:] == ("5" * 64, "LOADED", f"superseded by hold {release[0]}")
