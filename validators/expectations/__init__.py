"""Batch-level data quality: Great Expectations suites for what row rules cannot see.

Volume against the source's recent history, quarantine and duplicate rates, values a source never
sent before, empty fields a source usually fills, and the freshness of ``updated_at``. History comes
in as plain data (:class:`BatchHistory`); the result (:class:`QualityResult`) is a verdict PASS / WARN
/ BLOCK and a JSON summary naming each failed expectation. See docs/observability.md.
"""

from __future__ import annotations

from validators.expectations.model import (
    BLOCK,
    PASS,
    SEVERITY_BLOCK,
    SEVERITY_WARN,
    WARN,
    BatchHistory,
    CheckFailure,
    CheckSpec,
    QualityResult,
    Thresholds,
)
from validators.expectations.run import check_batch, quality_frame
from validators.expectations.suites import DRIFT_COLUMNS, NULL_WATCH_COLUMNS, SUITES, build_suite

__all__ = [
    "BLOCK",
    "DRIFT_COLUMNS",
    "NULL_WATCH_COLUMNS",
    "PASS",
    "SEVERITY_BLOCK",
    "SEVERITY_WARN",
    "SUITES",
    "WARN",
    "BatchHistory",
    "CheckFailure",
    "CheckSpec",
    "QualityResult",
    "Thresholds",
    "build_suite",
    "check_batch",
    "quality_frame",
]
