"""A batch's records staged for SQLite in a file of their own (warehouse/staging.py)."""

from __future__ import annotations

import gc
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest
from adbc_driver_manager import AdbcStatusCode
from adbc_driver_manager import Error as AdbcError
from sqlalchemy import Engine, func, select

from sanheyi.ingest import ingest_sources, unified_source
from sanheyi.pipeline import init_home, new_cycle_id
from sanheyi.settings import load_settings
from warehouse import staging
from warehouse.db import make_engine
from warehouse.staging import batch_transaction, stage_rows
from warehouse.tables import fct_case, fct_case_step, fct_complaint

FACTS = (fct_case, fct_case_step, fct_complaint)


@pytest.fixture
def engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE kept (v INTEGER)")
    yield engine
    engine.dispose()


def _kept(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [v for (v,) in conn.exec_driver_sql("SELECT v FROM kept ORDER BY v")]


def test_staged_rows_read_back_exactly_in_the_batch_transaction_and_the_file_goes(engine: Engine) -> None:
    staged = stage_rows(
        pa.table({"k": ["甲", "b", None], "n": pa.array([1, None, 3], pa.int64()), "blank": pa.nulls(3)})
    )
    assert staged is not None and staged.path.exists()
    with batch_transaction(engine, staged) as conn:
        rows = conn.exec_driver_sql(f"SELECT k, n, blank FROM {staged.name} ORDER BY rowid").all()
        conn.exec_driver_sql(f"INSERT INTO kept SELECT n FROM {staged.name} WHERE n IS NOT NULL")
    assert [tuple(r) for r in rows] == [("甲", 1, None), ("b", None, None), (None, 3, None)]
    assert _kept(engine) == [1, 3]
    assert not staged.path.exists()
    with engine.connect() as conn:  # the connection went back to the pool without the stage
        assert [r[1] for r in conn.exec_driver_sql("PRAGMA database_list")] == ["main"]


def test_a_failed_transaction_keeps_nothing_of_the_stage_and_removes_its_file(engine: Engine) -> None:
    staged = stage_rows(pa.table({"n": [7, 8]}))
    assert staged is not None
    with pytest.raises(RuntimeError), batch_transaction(engine, staged) as conn:
        conn.exec_driver_sql(f"INSERT INTO kept SELECT n FROM {staged.name}")
        raise RuntimeError("crash inside the batch")
    assert _kept(engine) == []
    assert not staged.path.exists()


def test_a_batch_staged_but_never_committed_leaves_no_file() -> None:
    staged = stage_rows(pa.table({"n": [1]}))
    assert staged is not None
    path = staged.path
    del staged
    gc.collect()
    assert not path.exists()


def test_without_a_usable_temporary_directory_there_is_no_stage_and_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-directory"))
    with caplog.at_level(logging.WARNING):
        assert stage_rows(pa.table({"n": [1]})) is None
    assert "staging through the warehouse connection" in caplog.text


def test_a_stage_that_cannot_be_written_leaves_no_file_and_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # a full disk cannot be had on demand: the driver's error is raised where it would be
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def full_disk(*_args, **_kwargs):
        raise AdbcError("database or disk is full", status_code=AdbcStatusCode.IO)

    monkeypatch.setattr(staging.adbc, "connect", full_disk)
    with caplog.at_level(logging.WARNING):
        assert stage_rows(pa.table({"n": [1]})) is None
    assert not list(tmp_path.glob("sanheyi-stage-*"))
    assert "disk is full" in caplog.text and "TMPDIR" in caplog.text


def _ingest_examples(home: Path, examples_dir: Path) -> tuple[tuple[int, ...], dict[str, int]]:
    settings = load_settings(home)
    init_home(settings)
    settings = load_settings(home)
    for path in (examples_dir / "inbox" / "UNIFIED").iterdir():
        shutil.copy(path, settings.inbox / "UNIFIED" / path.name)
    engine = make_engine(settings.warehouse_url)
    now = datetime.fromisoformat("2026-11-26T09:00:00+08:00")
    try:
        summary = ingest_sources(engine, settings, [unified_source(settings)], cycle_id=new_cycle_id(now), now=now)
        with engine.connect() as conn:
            stored = {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in FACTS}
    finally:
        engine.dispose()
    total = summary.total()
    return (total.received, total.loaded, total.quarantined, total.duplicate, total.stale, total.held), stored


def test_an_ingest_whose_stages_cannot_be_written_stores_the_same(
    tmp_path: Path, examples_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staged_counts, staged_rows = _ingest_examples(tmp_path / "staged", examples_dir)

    def full_disk(*_args, **_kwargs):
        raise AdbcError("database or disk is full", status_code=AdbcStatusCode.IO)

    monkeypatch.setattr(staging.adbc, "connect", full_disk)
    assert _ingest_examples(tmp_path / "unstaged", examples_dir) == (staged_counts, staged_rows)
    assert staged_counts[1] > 0 and all(staged_rows.values())


def test_staging_files_of_killed_processes_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(staging, "_swept", False)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"sanheyi-stage-{finished.stdout.strip()}-abc.sqlite"
    alive = tmp_path / f"sanheyi-stage-{os.getppid()}-def.sqlite"  # our parent runs: its file stays
    for path in (dead, alive):
        path.write_bytes(b"")
    staged = stage_rows(pa.table({"n": [1]}))
    assert staged is not None
    staged.remove()
    assert not dead.exists()
    assert alive.exists()
