"""Values that validation takes and gives: violations, quarantine items, references, outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Violation:
    """One broken rule of one record. Messages never contain field values (personal data, §9)."""

    path: str  # field name, "flow[2]" for an array item, "" for the whole record
    rule_id: str
    message_zh: str
    message_en: str


@dataclass(frozen=True)
class QuarantineItem:
    """A record that is kept aside with every rule it breaks."""

    source_system: str  # the system it arrived from
    entity: str
    record_key: str  # "UNIFIED/LY3204810000001", "UNIFIED/LY.../3", dept_code, power_code, complaint_id
    origin: str
    line_no: int | None
    raw_payload: str
    violations: tuple[Violation, ...]

    @property
    def reason(self) -> str:
        """The main rule id (the first violation)."""
        return self.violations[0].rule_id if self.violations else ""


@dataclass(frozen=True, eq=False)
class ReferenceData:
    """What the warehouse knows, for the rules that look beyond one record.

    ``power_items`` holds every loaded version (power_code, version, state, dept_code, promised_limit,
    power_type, valid_from_at tz-aware): a case is checked against the version with the latest
    ``valid_from_at`` not after its ``received_at`` (the earliest version if there is none).
    ``cases`` holds known cases (source_system, case_id, received_at; optionally power_code, which
    lets a step be checked against its system's scope). ``scope`` is the approved power codes of a
    self-built system, ``None`` for the unified platform.
    """

    departments: frozenset[str] = frozenset()
    power_items: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            columns=["power_code", "version", "state", "dept_code", "promised_limit", "power_type", "valid_from_at"]
        )
    )
    cases: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["source_system", "case_id", "received_at"])
    )
    scope: frozenset[str] | None = None


@dataclass(frozen=True, eq=False)
class ValidationOutcome:
    """The valid/held/quarantined split of one batch.

    ``valid`` (and ``held``) have the standard fields typed — integers int64 (``Int64`` when the field
    may be null), ``*_at`` tz-aware UTC datetimes, ``flow`` as a list, and codes, text and money
    (decimal strings) as Arrow strings (``pd.ArrowDtype(pa.string())``, null ``<NA>``; blank free
    text is null) — plus ``payload`` (canonical JSON: standard field order, every field, original
    values, compact, ``ensure_ascii=False``; an Arrow string too), ``payload_sha256`` and ``_line``.
    The strings stay in Arrow's buffers from parsing to the load: no Python object per value until
    a driver needs one.
    """

    entity: str
    received: int  # parsed records of the batch (unparsed lines are counted by the caller)
    valid: pd.DataFrame
    held: pd.DataFrame  # case_step only: valid steps whose case is not known yet
    quarantined: list[QuarantineItem]

    @property
    def counts(self) -> dict[str, int]:
        return {
            "received": self.received,
            "valid": len(self.valid),
            "held": len(self.held),
            "quarantined": len(self.quarantined),
        }
