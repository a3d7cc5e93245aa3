from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from simulators.generator import GeneratedData, GeneratorSpec, generate  # noqa: E402


@pytest.fixture(scope="session")
def data() -> GeneratedData:
    """The default dataset (2,000 cases), generated once."""
    return generate(GeneratorSpec())
