"""Supervision stage: read the warehouse into frames, compute events and statistics, store events."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
from sqlalchemy import Engine, select

from sanheyi.cycle_lock import cycle_lock
from sanheyi.pipeline import require_initialised, warehouse_engine
from sanheyi.settings import Settings
from supervision.arrays import SHANGHAI
from supervision.calendar import WorkCalendar
from supervision.events import compute_events
from supervision.model import REQUIRED, SupervisionData, SupervisionSettings
from supervision.statistics import compute_statistics
from warehouse.events_store import sync_events
from warehouse.source_reads import incomplete_reads
from warehouse.tables import (
    dim_department,
    dim_power_item,
    dim_power_item_history,
    fct_case,
    fct_case_step,
    fct_complaint,
)

_MONEY = {"power_items": ("fee", "penalty_min", "penalty_max"), "cases": ("fee_paid", "penalty_amount")}

log = logging.getLogger(__name__)


def _money_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return format(value, "f") if not isinstance(value, str) else value


def _frame(engine: Engine, table, columns: tuple[str, ...]) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        rows = conn.execute(select(*[table.c[name] for name in columns])).all()
    frame = pd.DataFrame(rows, columns=list(columns))
    for name in columns:
        if name.endswith("_at"):
            frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame


# Besides what the engine reads (supervision.model.REQUIRED): item names and limits for the reports,
# and record versions for whoever inspects the frames. Personal data columns are never read.
_EXTRA_COLUMNS = {
    "departments": (),
    "power_items": ("name", "legal_limit", "promised_limit", "state", "version", "updated_at"),
    "cases": ("version", "updated_at"),
    "steps": ("version",),
    "complaints": ("version",),
}
_TABLES = {
    "departments": dim_department,
    "power_items": dim_power_item,
    "cases": fct_case,
    "steps": fct_case_step,
    "complaints": fct_complaint,
}


def _item_versions(engine: Engine, latest: pd.DataFrame) -> pd.DataFrame:
    """Every recorded version of the items with what a case is judged by, and the latest version
    of each item in any case (versions recorded before migration 0006 lack those columns: unused)."""
    columns = [*REQUIRED["power_items"], "version", "valid_from_at"]
    recorded = _frame(engine, dim_power_item_history, tuple(columns))
    recorded = recorded[recorded["time_unit"].notna()]
    known = pd.MultiIndex.from_frame(recorded[["power_code", "version"]])
    latest = latest.assign(valid_from_at=latest["updated_at"])
    unrecorded = latest[~pd.MultiIndex.from_frame(latest[["power_code", "version"]]).isin(known)]
    return pd.concat([recorded, unrecorded[columns]], ignore_index=True)


def load_supervision_data(engine: Engine) -> SupervisionData:
    """The loaded (valid, latest-version) records, and every version of the items a case may have
    been received under; personal data columns are not read at all."""
    frames = {name: _frame(engine, table, REQUIRED[name] + _EXTRA_COLUMNS[name]) for name, table in _TABLES.items()}
    frames["power_item_versions"] = _item_versions(engine, frames["power_items"])
    for name, columns in {**_MONEY, "power_item_versions": _MONEY["power_items"]}.items():
        for column in columns:
            frames[name][column] = frames[name][column].map(_money_text).astype(object)
    return SupervisionData(**frames)


def work_calendar(
    settings: Settings, data: SupervisionData | None = None, as_of: datetime | None = None
) -> WorkCalendar:
    """The working-day calendar, its span wide enough for every date the records hold."""
    override = settings.calendar_override
    covering = _dates_held(data) if data is not None else []
    if as_of is not None:
        covering.append(pd.Timestamp(as_of).tz_convert(SHANGHAI).date())
    calendar = WorkCalendar.load(override if override.exists() else None, covering=covering)
    for year, days in calendar.disputed.items():
        shown = ", ".join(d.isoformat() for d in days[:6]) + (f" and {len(days) - 6} more" if len(days) > 6 else "")
        log.warning(
            "日历包不一致, %d 年按推定日历计算 / the calendar packages disagree on %s: %d is counted as a "
            "provisional year until its official schedule is entered in the calendar override file %s",
            year,
            shown,
            year,
            override,
        )
    return calendar


def _dates_held(data: SupervisionData) -> list[date]:
    """The earliest and latest Liyang date of every instant column of the records."""
    dates = []
    for frame in (data.cases, data.steps, data.complaints):
        for column in frame.columns:
            values = frame[column]
            if isinstance(values.dtype, pd.DatetimeTZDtype) and values.notna().any():
                local = values.dt.tz_convert(SHANGHAI)
                dates += [local.min().date(), local.max().date()]
    return dates


def supervision_options(settings: Settings) -> SupervisionSettings:
    return SupervisionSettings(
        warn_days=settings.supervision.warn_days,
        complaint_limit_workdays=settings.supervision.complaint_limit_workdays,
    )


def supervision_waits_for(settings: Settings, engine: Engine | None = None) -> str | None:
    """Why supervision must not judge the warehouse now, or None: a source whose last read stopped
    partway (its cases loaded, their steps not) or is still running. Completed cases without their
    steps would be LC01 red cards sent to Changzhou and withdrawn on the next cycle."""
    from sanheyi.pipeline import sources_to_read

    own = engine is None
    engine = engine or warehouse_engine(settings)
    try:
        waiting = incomplete_reads(engine, [source.system_code for source in sources_to_read(engine, settings)])
    finally:
        if own:
            engine.dispose()
    if not waiting:
        return None
    return "数据源读取未完成, 本轮暂不监察 / supervision waits for a complete read of " + "; ".join(
        read.describe() for read in waiting
    )


def supervise_stage(settings: Settings, as_of: datetime) -> dict:
    """Compute every event that holds as of ``as_of`` and store the differences; when a source's
    read is incomplete, nothing (``{"skipped": why}``)."""
    require_initialised(settings)
    engine = warehouse_engine(settings)
    try:
        with cycle_lock(settings, "supervision"):  # never beside a read that is loading
            waits = supervision_waits_for(settings, engine)
            if waits:
                log.warning("%s", waits)
                return {"skipped": waits}
            data = load_supervision_data(engine)
            events = compute_events(data, as_of, work_calendar(settings, data, as_of), supervision_options(settings))
            with engine.begin() as conn:
                sync = sync_events(conn, events, as_of)
    finally:
        engine.dispose()
    return {
        "active": len(events),
        "yellow": int((events["card"] == "YELLOW").sum()) if len(events) else 0,
        "red": int((events["card"] == "RED").sum()) if len(events) else 0,
        "new": sync.new,
        "changed": sync.changed,
        "withdrawn": sync.withdrawn,
        "provisional": bool(events["provisional"].any()) if len(events) else False,
        **({"skipped": sync.skipped} if sync.skipped else {}),
    }


@dataclass(frozen=True)
class SupervisionView:
    """The warehouse's records with the events that hold as of one instant: what statistics and
    reports are computed from."""

    data: SupervisionData
    events: pd.DataFrame
    calendar: WorkCalendar
    options: SupervisionSettings
    as_of: datetime

    def statistics(self, period_from: date, period_to: date) -> dict:
        return compute_statistics(
            self.data, self.events, period_from, period_to, self.as_of, self.calendar, self.options
        )


def supervision_view(settings: Settings, as_of: datetime) -> SupervisionView:
    """Read the warehouse and compute the events as of ``as_of`` (a pure function of both)."""
    require_initialised(settings)
    engine = warehouse_engine(settings)
    try:
        data = load_supervision_data(engine)
    finally:
        engine.dispose()
    calendar = work_calendar(settings, data, as_of)
    options = supervision_options(settings)
    return SupervisionView(data, compute_events(data, as_of, calendar, options), calendar, options, as_of)


def statistics_for(settings: Settings, period_from: date, period_to: date, as_of: datetime) -> dict:
    """§7 statistics for a period as of ``as_of`` (events recomputed for that instant)."""
    if period_from > period_to:
        from sanheyi.errors import UsageError

        raise UsageError(f"--from {period_from} is after --to {period_to}")
    return supervision_view(settings, as_of).statistics(period_from, period_to)
