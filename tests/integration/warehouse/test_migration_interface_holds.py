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
    "INSERT INTO ops_batch_hold (batch_id, source_system, entity, origin, content_sha256, status, reason, held_at)"
    " VALUES (:id, 'SELF_GA', 'case', :origin, :sha, :status, '[]', :at)"
)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_open_interface_holds_are_named_by_their_feed_after_the_upgrade(dialect, tmp_path, request) -> None:
    if dialect == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    else:
        engine = make_engine(request.getfixturevalue("pg_url"), schema=request.getfixturevalue("pg_schema"))
    at = datetime(2026, 11, 6, 10, tzinfo=UTC)
    holds = {
        "rest:case?since=2026-10-01T00:00:00.000000Z&page=3": "HELD",  # an interface page, still held
        "soap:case?since=&page=1": "LOADED",  # done with: left as it was
        "inbox/SELF_GA/case.20261105.jsonl": "HELD",  # a file: found again by its digest
    }
    try:
        command.upgrade(alembic_config(engine), "0006")
        with engine.begin() as conn:
            for i, (origin, status) in enumerate(holds.items()):
                batch_id = open_batch(
                    conn, cycle_id="c", source_system="SELF_GA", entity="case", origin=origin, started_at=at
                )
                conn.execute(
                    text(HOLD), {"id": batch_id, "origin": origin, "sha": f"{i}" * 64, "status": status, "at": at}
                )
        upgrade_to_head(engine)
        with engine.connect() as conn:
            keys = dict(conn.execute(text("SELECT origin, content_sha256 FROM ops_batch_hold")).all())
    finally:
        engine.dispose()
    page = RecordBatch("SELF_GA", "case", "rest:case?since=&page=1", pd.DataFrame(), [], next_cursor={})
    assert keys == {
        "rest:case?since=2026-10-01T00:00:00.000000Z&page=3": content_sha256(
            page, None
        ),  # what the next read looks for
        "soap:case?since=&page=1": "1" * 64,
        "inbox/SELF_GA/case.20261105.jsonl": "2" * 64,
    }
