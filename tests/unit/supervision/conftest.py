from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from supervision.calendar import WorkCalendar  # noqa: E402
from supervision.model import SupervisionSettings  # noqa: E402


@pytest.fixture(scope="session")
def calendar() -> WorkCalendar:
    return WorkCalendar.load()


@pytest.fixture(scope="session")
def settings() -> SupervisionSettings:
    return SupervisionSettings()
