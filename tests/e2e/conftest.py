"""The command line driven in-process, on a home of its own."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

Cli = Callable[..., tuple[int, str]]


@pytest.fixture
def cli(cli_streams: Callable[..., tuple[int, str, str]]) -> Cli:
    """``cli("stats", "--from", ...)`` → (exit status, stdout + stderr)."""

    def run(*args: str) -> tuple[int, str]:
        code, out, err = cli_streams(*args)
        return code, out + err

    return run


@pytest.fixture
def examples_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, examples_dir: Path, cli: Cli) -> Path:
    """An initialised SANHEYI_HOME whose unified inbox holds the standard's example files."""
    home = tmp_path / "home"
    monkeypatch.setenv("SANHEYI_HOME", str(home))
    monkeypatch.delenv("SANHEYI_WAREHOUSE_URL", raising=False)
    assert cli("init")[0] == 0
    shutil.copytree(examples_dir / "inbox" / "UNIFIED", home / "inbox" / "UNIFIED", dirs_exist_ok=True)
    return home
