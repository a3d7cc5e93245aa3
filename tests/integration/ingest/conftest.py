"""A hub home of its own per test, on the embedded SQLite warehouse and on PostgreSQL, driven through
the command line in-process; its inbox holds the example catalogue (departments, power items)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(cli_streams: Cli) -> Cli:
    """``cli("run", ...)`` → (exit status, stdout, stderr)."""
    return cli_streams


@pytest.fixture
def home(dialect_home: Path, examples_dir: Path) -> Path:
    home = dialect_home
    for name in ("department.20261125.jsonl", "power_item.20261125.jsonl"):
        shutil.copy(examples_dir / "inbox" / "UNIFIED" / name, home / "inbox" / "UNIFIED" / name)
    return home
