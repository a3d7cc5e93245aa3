"""Values of the batch-level checks: what the warehouse tells about earlier batches, and what a run found.

Everything here is plain data: the warehouse side reads the history and passes it in, the pipeline
stores the summary; this package never touches the warehouse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PASS = "PASS"  # noqa: S105 - a verdict, not a password
WARN = "WARN"
BLOCK = "BLOCK"

# Severities of a check: a failed ``warn`` check is recorded and the batch loads; a failed ``block``
# check holds the whole batch until a data engineer releases it.
SEVERITY_WARN = "warn"
SEVERITY_BLOCK = "block"


@dataclass(frozen=True)
class BatchHistory:
    """Earlier batches of the same source and entity, newest first (what the checks compare with).

    ``volumes``: records received by earlier batches that were whole files; ``null_fractions``: per
    watched column, the share of empty values among the valid records of earlier batches;
    ``seen_values``: per drift column, every value the source has sent before; ``earlier_batches``:
    how many checked batches were loaded before (the drift check waits for a few).
    """

    volumes: tuple[int, ...] = ()
    null_fractions: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    seen_values: Mapping[str, frozenset[str]] = field(default_factory=dict)
    earlier_batches: int = 0


@dataclass(frozen=True)
class Thresholds:
    """Where each check draws its line (docs/observability.md explains each)."""

    history_batches: int = 10  # earlier batches a comparison looks at
    min_history: int = 3  # earlier batches needed before volume, null-rate and drift checks apply
    volume_drop_ratio: float = 0.2  # warn below this share of the mean volume of earlier whole files
    quarantine_min_rows: int = 50  # quarantine-rate checks apply from this batch size on
    quarantine_warn_rate: float = 0.10
    quarantine_block_rate: float = 0.50
    duplicate_warn_rate: float = 0.10  # share of records repeating a key and version within the batch
    null_rise: float = 0.50  # warn when a watched field is empty this much more often than usual
    future_tolerance_minutes: int = 60  # updated_at after the run's instant plus this blocks
    stale_after_days: int = 30  # newest updated_at older than this warns (transactional entities)


@dataclass(frozen=True)
class CheckSpec:
    """One batch-level check of a suite: a Great Expectations expectation with a severity."""

    name: str  # stable id used in summaries: "volume_drop", "new_value:channel", ...
    kind: str  # volume / quarantine_rate / duplicates / future / stale / new_value / null_rate
    severity: str  # SEVERITY_WARN or SEVERITY_BLOCK
    expectation: str  # the Great Expectations expectation type
    column: str | None
    what_zh: str
    what_en: str


@dataclass(frozen=True)
class CheckFailure:
    """A failed check, described without any record value beyond codes and counts (§9)."""

    check: str
    severity: str
    expectation: str
    column: str | None
    observed: Any  # JSON-serialisable
    expected: str
    message_zh: str
    message_en: str

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "expectation": self.expectation,
            "column": self.column,
            "observed": self.observed,
            "expected": self.expected,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
        }


@dataclass(frozen=True)
class QualityResult:
    """The outcome of one batch's suite run."""

    entity: str
    verdict: str  # PASS / WARN / BLOCK
    failures: tuple[CheckFailure, ...]
    skipped: Mapping[str, str]  # check -> why it did not apply
    observed: Mapping[str, Any]  # metrics the history of later batches is made of
    seen_values: Mapping[str, tuple[str, ...]]  # drift columns: values of this batch's valid records
    rows: int
    seconds: float
    engine: str
    overridden: tuple[str, ...] = ()  # blocking checks that failed but were waived by a release

    @property
    def blocks(self) -> bool:
        return self.verdict == BLOCK

    def blocking_failures(self) -> tuple[CheckFailure, ...]:
        return tuple(f for f in self.failures if f.severity == SEVERITY_BLOCK)

    def reason(self) -> str:
        """One line naming the failed checks (blocking ones first), for logs and listings."""
        ordered = sorted(self.failures, key=lambda f: f.severity != SEVERITY_BLOCK)
        return "; ".join(f"{f.check} ({f.severity}): {f.message_en}" for f in ordered)

    def summary(self) -> dict[str, Any]:
        """The JSON stored in ``ops_load_batch.ge_summary``."""
        return {
            "suite": f"sanheyi.{self.entity}",
            "engine": self.engine,
            "verdict": self.verdict,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "failed": [f.to_json() for f in self.failures],
            "overridden": list(self.overridden),
            "skipped": dict(self.skipped),
            "observed": dict(self.observed),
        }
