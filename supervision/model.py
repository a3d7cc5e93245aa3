"""The input bundle of the supervision engine and its settings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from schemas.standard import FIELD_ORDER
from supervision.errors import SupervisionInputError

DEPARTMENT_COLUMNS = ("dept_code", "name")
POWER_ITEM_COLUMNS = (
    "power_code",
    "name",
    "power_type",
    "dept_code",
    "legal_limit",
    "promised_limit",
    "time_unit",
    "fee",
    "penalty_min",
    "penalty_max",
    "flow",
    "state",
)
CASE_COLUMNS = FIELD_ORDER["case"]
STEP_COLUMNS = FIELD_ORDER["case_step"]
COMPLAINT_COLUMNS = FIELD_ORDER["complaint"]

# The columns the engine actually reads; the others may be absent.
REQUIRED = {
    "departments": ("dept_code", "name"),
    "power_items": ("power_code", "power_type", "dept_code", "time_unit", "fee", "penalty_min", "penalty_max", "flow"),
    "cases": (
        "source_system",
        "case_id",
        "power_code",
        "dept_code",
        "received_at",
        "promised_limit",
        "status",
        "finished_at",
        "result",
        "result_note",
        "fee_paid",
        "relief_reason",
        "penalty_amount",
        "satisfaction",
    ),
    "steps": ("source_system", "case_id", "step_no", "step_code", "started_at", "finished_at"),
    "complaints": (
        "complaint_id",
        "case_source_system",
        "case_id",
        "dept_code",
        "received_at",
        "status",
        "closed_at",
        "result",
    ),
}
_INSTANT_COLUMNS = {
    "cases": ("received_at", "finished_at", "updated_at"),
    "steps": ("started_at", "finished_at", "updated_at"),
    "complaints": ("received_at", "closed_at", "updated_at"),
}
_INT_COLUMNS = {
    "power_items": ("legal_limit", "promised_limit"),
    "cases": ("promised_limit", "version"),
    "steps": ("step_no", "version"),
    "complaints": ("version",),
}


@dataclass(frozen=True)
class SupervisionSettings:
    """Configurable parameters of §5.4."""

    warn_days: int = 1
    complaint_limit_workdays: int = 10

    def __post_init__(self) -> None:
        if self.warn_days < 0 or self.complaint_limit_workdays < 0:
            raise SupervisionInputError("supervision settings must not be negative")


@dataclass(frozen=True, eq=False)
class SupervisionData:
    """The records supervision works on: the loaded (valid, latest-version) records of §3.

    ``*_at`` columns are tz-aware datetimes (any zone); money columns are decimal strings or None.

    ``power_item_versions``, when given, holds every known version of the items (the columns of
    ``power_items`` plus ``valid_from_at``): a case is then judged (its deadline's time unit, the
    flow of LC01/LC02, the fee of NR01, the range of CL01) against the version in force when it
    was received, as its promised limit was copied from it (§3.3). Without it, against the latest.
    """

    departments: pd.DataFrame
    power_items: pd.DataFrame
    cases: pd.DataFrame
    steps: pd.DataFrame
    complaints: pd.DataFrame
    power_item_versions: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        missing = []
        for name, cols in REQUIRED.items():
            frame = getattr(self, name)
            if not isinstance(frame, pd.DataFrame):
                raise SupervisionInputError(f"SupervisionData.{name} must be a pandas DataFrame")
            missing += [f"{name}.{c}" for c in cols if c not in frame.columns]
        if self.power_item_versions is not None:
            versions = self.power_item_versions
            wanted = (*REQUIRED["power_items"], "valid_from_at")
            missing += [f"power_item_versions.{c}" for c in wanted if c not in versions.columns]
            if "valid_from_at" in versions.columns and len(versions) and versions["valid_from_at"].isna().any():
                raise SupervisionInputError("SupervisionData.power_item_versions.valid_from_at must not be null")
        if missing:
            raise SupervisionInputError(f"SupervisionData is missing columns: {', '.join(missing)}")
        for name, cols in {**_INSTANT_COLUMNS, "power_item_versions": ("valid_from_at",)}.items():
            frame = getattr(self, name)
            if frame is None:
                continue
            for c in cols:
                if c in frame.columns and not isinstance(frame[c].dtype, pd.DatetimeTZDtype):
                    if len(frame) == 0 or frame[c].isna().all():
                        continue
                    raise SupervisionInputError(
                        f"SupervisionData.{name}.{c} must be a tz-aware datetime column, got {frame[c].dtype}"
                    )

    @classmethod
    def from_records(
        cls,
        *,
        departments: Iterable[Mapping[str, Any]],
        power_items: Iterable[Mapping[str, Any]],
        cases: Iterable[Mapping[str, Any]],
        steps: Iterable[Mapping[str, Any]],
        complaints: Iterable[Mapping[str, Any]],
    ) -> SupervisionData:
        """Build the bundle from records shaped as in §3 (date-times as RFC 3339 strings or datetimes)."""
        frames = {
            "departments": _frame(departments, DEPARTMENT_COLUMNS),
            "power_items": _frame(power_items, POWER_ITEM_COLUMNS),
            "cases": _frame(cases, CASE_COLUMNS),
            "steps": _frame(steps, STEP_COLUMNS),
            "complaints": _frame(complaints, COMPLAINT_COLUMNS),
        }
        for name, cols in _INSTANT_COLUMNS.items():
            for c in cols:
                frames[name][c] = to_instants(frames[name][c], f"{name}.{c}")
        for name, cols in _INT_COLUMNS.items():
            for c in cols:
                frames[name][c] = pd.to_numeric(frames[name][c]).astype("Int64")
        return cls(**frames)


def _frame(records: Iterable[Mapping[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    rows = list(records)
    extra = sorted({k for r in rows for k in r} - set(columns))
    frame = pd.DataFrame.from_records(rows, columns=list(columns) + extra)
    return frame.astype({c: object for c in frame.columns if frame[c].dtype == float and frame[c].isna().all()})


def to_instants(values: pd.Series, label: str = "value") -> pd.Series:
    """RFC 3339 strings (with offsets) or aware datetimes -> a tz-aware column in Asia/Shanghai."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("Asia/Shanghai")
    present = values.notna()
    as_text = values[present].astype(str)
    naive = ~as_text.str.contains(r"(?:[zZ]|[+-]\d\d:?\d\d)$", regex=True)
    if naive.any():
        raise SupervisionInputError(f"{label}: {int(naive.sum())} value(s) without a UTC offset")
    parsed = pd.to_datetime(values.where(present, None), utc=True, format="ISO8601")
    return parsed.dt.tz_convert("Asia/Shanghai")
