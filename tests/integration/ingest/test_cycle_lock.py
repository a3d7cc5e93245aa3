"""One cycle at a time: a second `sanheyi run` on the same home, or beside a process that holds the
warehouse, waits for the first and then gives up with a line that names it; nothing is read twice."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from sanheyi.cli import main
from sanheyi.settings import load_settings
from warehouse.db import make_engine

AS_OF = "2026-11-06T18:00:00+08:00"


def _short_wait(home: Path) -> None:
    config = home / "config.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "\ncycle_lock_wait_seconds: 2\n", encoding="utf-8")


def _holder(home: Path) -> subprocess.Popen[str]:
    """Another process in the middle of a cycle: it holds the lock until its stdin closes."""
    code = textwrap.dedent(
        """
        import sys
        from sanheyi.cycle_lock import cycle_lock
        from sanheyi.settings import load_settings
        with cycle_lock(load_settings(), "sanheyi run"):
            print("held", flush=True)
            sys.stdin.read()
        """
    )
    env = {**os.environ, "SANHEYI_HOME": str(home)}
    child = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_a_second_run_waits_then_names_the_one_that_runs_and_reads_nothing(
    dialect_home: Path, examples_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    shutil.copytree(examples_dir / "inbox" / "UNIFIED", dialect_home / "inbox" / "UNIFIED", dirs_exist_ok=True)
    _short_wait(dialect_home)
    child = _holder(dialect_home)
    try:
        capsys.readouterr()
        started = time.monotonic()
        assert main(["run", "--as-of", AS_OF]) == 1
        err = capsys.readouterr().err
        assert time.monotonic() - started >= 2  # it waited for the one that runs
        waiting, failure = err.strip().splitlines()  # it says it waits, then why it gave up
        assert "waiting for the cycle that is running" in waiting
        assert failure.startswith("sanheyi: ") and "another cycle is running" in failure
        assert f"pid {child.pid}" in failure
        assert sorted(p.name for p in (dialect_home / "inbox" / "UNIFIED").iterdir()) == sorted(
            p.name for p in (examples_dir / "inbox" / "UNIFIED").iterdir()
        )  # nothing read, nothing archived
    finally:
        child.communicate("")
    assert main(["run", "--as-of", AS_OF, "--stage", "ingest"]) == 0  # once the other has ended


@pytest.mark.postgres
def test_a_process_elsewhere_holding_the_warehouse_holds_the_cycle_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_warehouse_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # an Airflow worker on another machine: it shares the warehouse, not the home's lock file
    monkeypatch.setenv("SANHEYI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SANHEYI_WAREHOUSE_URL", pg_warehouse_url)
    assert main(["init"]) == 0
    _short_wait(tmp_path / "home")
    elsewhere = make_engine(load_settings().warehouse_url)
    try:
        with elsewhere.connect() as conn:
            assert conn.execute(text("SELECT pg_try_advisory_lock(3204810001)")).scalar_one()
            capsys.readouterr()
            assert main(["run", "--as-of", AS_OF, "--stage", "supervise"]) == 1
            err = capsys.readouterr().err
            assert "another cycle holds the warehouse" in err and "PostgreSQL backend pid" in err
            conn.execute(text("SELECT pg_advisory_unlock(3204810001)"))
        assert main(["run", "--as-of", AS_OF, "--stage", "supervise"]) == 0
    finally:
        elsewhere.dispose()


def test_the_lock_is_reentrant_in_its_thread_and_holds_other_threads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from sanheyi.cycle_lock import cycle_lock
    from sanheyi.errors import CycleBusyError

    monkeypatch.delenv("SANHEYI_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("SANHEYI_HOME", str(tmp_path / "home"))
    assert main(["init"]) == 0
    _short_wait(tmp_path / "home")
    settings = load_settings()
    outcome: list[BaseException | None] = []

    def another_thread() -> None:
        try:
            with cycle_lock(settings, "a second cycle"):
                outcome.append(None)
        except CycleBusyError as exc:
            outcome.append(exc)

    with cycle_lock(settings, "sanheyi run"), cycle_lock(settings, "supervision"):  # a stage inside the run
        thread = threading.Thread(target=another_thread)
        thread.start()
        thread.join(30)
    assert isinstance(outcome[0], CycleBusyError) and "sanheyi run" in outcome[0].message
    another_thread()  # free again once the run has ended
    assert outcome[1] is None
