"""A log file that cannot be opened or written costs the operator one line on stderr, not the command:
``sanheyi`` goes on with stderr only, without a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

AS_OF = "2026-11-06T18:00:00+08:00"
SANHEYI = str(Path(sys.executable).with_name("sanheyi"))


def sanheyi(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SANHEYI_HOME": str(home)}
    env.pop("SANHEYI_WAREHOUSE_URL", None)
    return subprocess.run([SANHEYI, *args], env=env, capture_output=True, text=True, timeout=300)


def directory_in_place_of_the_log_file(logs: Path) -> None:
    shutil.rmtree(logs)
    (logs / "sanheyi.log").mkdir(parents=True)


def regular_file_in_place_of_the_log_directory(logs: Path) -> None:
    shutil.rmtree(logs)
    logs.write_text("not a directory\n", encoding="utf-8")


@pytest.mark.parametrize("spoil", [directory_in_place_of_the_log_file, regular_file_in_place_of_the_log_directory])
def test_a_log_file_that_cannot_be_opened_leaves_the_command_working_with_one_warning(
    examples_home: Path, spoil: Callable[[Path], None]
) -> None:
    spoil(examples_home / "logs")
    done = sanheyi(examples_home, "status")
    assert done.returncode == 0, done.stderr
    assert "UNIFIED" in done.stdout  # the status itself
    [warning] = done.stderr.splitlines()
    assert f"cannot open the log file {examples_home / 'logs' / 'sanheyi.log'}" in warning
    assert "logging to stderr only" in warning


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full to fill the disk")
def test_a_full_disk_under_the_log_file_is_told_once(examples_home: Path) -> None:
    log_file = examples_home / "logs" / "sanheyi.log"
    log_file.unlink(missing_ok=True)
    log_file.symlink_to("/dev/full")  # every write fails with ENOSPC, as on a full disk
    done = sanheyi(examples_home, "run", "--stage", "ingest", "--as-of", AS_OF)
    assert done.returncode == 0, done.stderr
    assert "total" in done.stdout  # the batches were loaded and counted
    assert done.stderr.splitlines() == [
        f"sanheyi: 日志无法写入 / cannot write the log file {log_file} (No space left on device); "
        "log lines are lost while it cannot be written"
    ]
