"""Validator tests import their helpers (vd_helpers.py) by a unique module name."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
