"""Background WAL checkpoints: committed pages reach the SQLite database file while a load goes on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import text

from warehouse.checkpoints import background_checkpoints
from warehouse.db import make_engine


def _commit_rows_without_checkpointing(engine, rows: int) -> None:
    # a loader whose own autocheckpoint never fires: only someone else can copy its pages
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute(
            text("INSERT INTO t (body) VALUES (:body)"),
            [{"body": "x" * 200} for _ in range(rows)],
        )


def _database_file_grows_within(path: Path, size_before: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.stat().st_size > size_before + 1_000_000:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)")
    yield engine
    engine.dispose()


def test_committed_pages_reach_the_database_file_while_the_block_runs(sqlite_engine, tmp_path):
    database = tmp_path / "warehouse.sqlite"
    size_before = database.stat().st_size
    with background_checkpoints(sqlite_engine, interval=0.05):
        _commit_rows_without_checkpointing(sqlite_engine, 20_000)
        assert _database_file_grows_within(database, size_before, seconds=10)
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 20_000


def test_without_the_checkpointer_the_pages_wait_in_the_log(sqlite_engine, tmp_path):
    # the control for the test above: the database file only grows by a checkpoint
    database = tmp_path / "warehouse.sqlite"
    size_before = database.stat().st_size
    _commit_rows_without_checkpointing(sqlite_engine, 20_000)
    assert not _database_file_grows_within(database, size_before, seconds=0.5)
    assert (tmp_path / "warehouse.sqlite-wal").stat().st_size > 1_000_000


def test_the_log_is_copied_when_the_block_ends(sqlite_engine, tmp_path):
    database = tmp_path / "warehouse.sqlite"
    size_before = database.stat().st_size
    with background_checkpoints(sqlite_engine, interval=3600):  # only the final checkpoint runs
        _commit_rows_without_checkpointing(sqlite_engine, 20_000)
    assert database.stat().st_size > size_before + 1_000_000
