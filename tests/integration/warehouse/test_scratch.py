"""Arrow tables staged for SQL on a SQLite warehouse connection (warehouse/scratch.py)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import Engine

from warehouse import scratch
from warehouse.db import make_engine
from warehouse.scratch import stage_arrow


@pytest.fixture
def engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    yield engine
    engine.dispose()


def _total(conn, name: str) -> int:
    return conn.exec_driver_sql(f"SELECT sum(v) FROM {name}").scalar_one()


def test_a_staged_table_reads_back_exactly_within_the_transaction(engine: Engine) -> None:
    table = pa.table(
        {"k": ["甲", "b", None], "n": pa.array([1, None, 3], pa.int64()), "blank": pa.nulls(3)},
    )
    with engine.begin() as conn:
        name = stage_arrow(conn, "stg_t", table)
        rows = conn.exec_driver_sql(f"SELECT k, n, blank FROM {name} ORDER BY rowid").all()
    assert name.startswith("scratch.")  # written by ADBC, not row by row through the connection
    assert [tuple(r) for r in rows] == [("甲", 1, None), ("b", None, None), (None, 3, None)]


def test_a_second_staging_after_a_read_in_one_transaction_leaves_the_first_intact(engine: Engine) -> None:
    with engine.begin() as conn:
        first = stage_arrow(conn, "stg_a", pa.table({"v": [1, 2]}))
        assert _total(conn, first) == 3
        # the scratch file is locked by this transaction now: ADBC must not write it
        second = stage_arrow(conn, "stg_b", pa.table({"v": [10, 20, 30]}))
        assert second.startswith("temp.")
        assert _total(conn, second) == 60
        assert _total(conn, first) == 3
    with engine.begin() as conn:  # the next transaction may use the scratch file again
        assert stage_arrow(conn, "stg_c", pa.table({"v": [5]})).startswith("scratch.")


def test_the_scratch_file_goes_with_its_connection(engine: Engine) -> None:
    with engine.connect() as conn:
        path = Path(conn.connection.info["scratch_path"])
    assert path.exists()
    engine.dispose()
    assert not path.exists()


def test_without_a_usable_temporary_directory_staging_goes_through_the_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-directory"))
    engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    try:
        with caplog.at_level(logging.WARNING), engine.begin() as conn:
            name = stage_arrow(conn, "stg_t", pa.table({"v": [1, 2]}))
            assert _total(conn, name) == 3
    finally:
        engine.dispose()
    assert name.startswith("temp.")
    assert "no scratch database for bulk loads" in caplog.text


def test_scratch_files_of_killed_processes_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(scratch, "_swept", False)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"sanheyi-scratch-{finished.stdout.strip()}-abc.sqlite"
    alive = tmp_path / f"sanheyi-scratch-{os.getppid()}-def.sqlite"  # our parent runs: not ours, still in use
    for path in (dead, alive):
        path.write_bytes(b"")
    engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()
    assert not dead.exists()
    assert alive.exists()
