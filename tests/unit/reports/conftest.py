"""Report fixtures (helpers live in rp_bundles.py so test modules can import them by a unique name)."""

from __future__ import annotations

from typing import Any

import pytest
from rp_bundles import make_bundle


@pytest.fixture
def bundle() -> dict[str, Any]:
    return make_bundle()
