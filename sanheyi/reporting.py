"""Report stage: assemble the report bundle from the statistics, events and quarantine, and render it.

The renderer computes nothing; every figure comes from ``compute_statistics`` (the same numbers as
``sanheyi stats``), and the lists are joined with display names here.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
from sqlalchemy import func, select

from reports.render import render_report, report_dir
from sanheyi.pipeline import require_initialised, warehouse_engine
from sanheyi.quarantine import list_quarantine
from sanheyi.settings import Settings
from sanheyi.supervise import supervision_view, supervision_waits_for
from supervision.deadlines import case_deadlines
from warehouse.registry_store import audit_log_head
from warehouse.tables import fct_case, fct_case_step, fct_complaint

SHANGHAI = timezone(timedelta(hours=8))

log = logging.getLogger(__name__)


def previous_period(period_from: date, period_to: date) -> tuple[date, date]:
    """The period of equal kind before this one: the previous month for a whole month, else the
    same number of days just before."""
    next_day = period_to + timedelta(days=1)
    if period_from.day == 1 and next_day.day == 1:
        months = (period_to.year - period_from.year) * 12 + period_to.month - period_from.month + 1
        start_month = period_from.month - months
        start_year = period_from.year + (start_month - 1) // 12
        start = date(start_year, (start_month - 1) % 12 + 1, 1)
        return start, period_from - timedelta(days=1)
    length = (period_to - period_from).days + 1
    return period_from - timedelta(days=length), period_from - timedelta(days=1)


def _event_rows(
    data,
    events: pd.DataFrame,
    deadlines: pd.DataFrame,
    as_of: datetime,  # type: ignore[no-untyped-def]
    period_from: date,
    period_to: date,
) -> list[dict]:
    if events.empty:
        return []
    in_period = events[(events["event_date"] >= period_from) & (events["event_date"] <= period_to)]
    dept_names = dict(zip(data.departments["dept_code"], data.departments["name"], strict=False))
    item_names = dict(zip(data.power_items["power_code"], data.power_items["name"], strict=False))
    case_items = {
        (s, c): p
        for s, c, p in zip(data.cases["source_system"], data.cases["case_id"], data.cases["power_code"], strict=False)
    }
    deadline_of = {
        (s, c): (d, f)
        for s, c, d, f in zip(
            deadlines["source_system"],
            deadlines["case_id"],
            deadlines["deadline_date"],
            deadlines["finish_date"],
            strict=False,
        )
    }
    today = as_of.astimezone(SHANGHAI).date()
    rows = []
    for event in in_period.sort_values(["event_date", "event_key"]).to_dict("records"):
        key = (event.get("case_source_system"), event.get("case_id"))
        power_code = case_items.get(key)
        days_overdue = None
        if event["rule"] == "SX02" and key in deadline_of:
            deadline, finished = deadline_of[key]
            end = finished if finished is not None and not pd.isna(finished) else today
            days_overdue = max((end - deadline).days, 0) if deadline is not None and not pd.isna(deadline) else None
        rows.append(
            {
                "event_key": event["event_key"],
                "rule": event["rule"],
                "card": event["card"],
                "event_date": event["event_date"].isoformat(),
                "dept_code": event["dept_code"],
                "dept_name": dept_names.get(event["dept_code"], event["dept_code"]),
                "power_code": power_code,
                "power_name": item_names.get(power_code) if power_code else None,
                "power_type": _none(event.get("power_type")),
                "case_source_system": _none(event.get("case_source_system")),
                "case_id": _none(event.get("case_id")),
                "complaint_id": _none(event.get("complaint_id")),
                "days_overdue": days_overdue,
                "status": "ACTIVE",
                "provisional": bool(event.get("provisional", False)),
            }
        )
    return rows


def _none(value: object) -> object:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def _cutoff_and_log_head(settings: Settings) -> tuple[str, str | None]:
    """The data cut-off (the latest ``updated_at`` of cases, steps and complaints, "" when there is no
    data) and the decision log head to print, ``"{decision_id}:{sha256}"`` or None."""
    engine = warehouse_engine(settings)
    try:
        with engine.connect() as conn:
            latest = [
                conn.execute(select(func.max(t.c.updated_at))).scalar()
                for t in (fct_case, fct_case_step, fct_complaint)
            ]
        head = audit_log_head(engine)
    finally:
        engine.dispose()
    present = [v for v in latest if v is not None]
    cutoff = max(present).astimezone(SHANGHAI).isoformat() if present else ""
    return cutoff, None if head is None else str(head)


def build_bundle(settings: Settings, period_from: date, period_to: date, as_of: datetime) -> dict:
    view = supervision_view(settings, as_of)
    data, events = view.data, view.events
    statistics = view.statistics(period_from, period_to)
    previous = view.statistics(*previous_period(period_from, period_to))
    deadlines = case_deadlines(data, as_of, view.calendar, view.options)
    quarantine = [
        {
            "source_system": q["source_system"],
            "entity": q["entity"],
            "record_key": q["record_key"],
            "origin": f"{Path(q['origin']).name}:{q['line_no'] or ''}",
            "rules": [v["rule_id"] for v in q["violations"]],
            "message_zh": q["violations"][0]["message_zh"] if q["violations"] else "",
        }
        for q in list_quarantine(settings)
    ]
    cutoff, log_head = _cutoff_and_log_head(settings)
    return {
        "statistics": statistics,
        "previous_statistics": previous,
        "events": _event_rows(data, events, deadlines, as_of, period_from, period_to),
        "quarantine": quarantine,
        "generated_at": datetime.now(SHANGHAI).replace(microsecond=0).isoformat(),
        "data_cutoff": cutoff or as_of.isoformat(),
        "decision_log_head": log_head,
    }


def render_period_report(settings: Settings, period_from: date, period_to: date, as_of: datetime) -> list[Path]:
    require_initialised(settings)
    if period_from > period_to:
        from sanheyi.errors import UsageError

        raise UsageError(f"--from {period_from} is after --to {period_to}")
    bundle = build_bundle(settings, period_from, period_to, as_of)
    files = render_report(bundle, report_dir(settings.reports, period_from, period_to))
    return [p for p in (files.html, files.xlsx, files.pdf) if p is not None]


def month_of(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def render_month_report(settings: Settings, as_of: datetime) -> list[Path]:
    """The report of the as-of month; on the first day of a month also the month just closed. None
    while a source's read is incomplete: the cards of half a change must not reach supervision staff."""
    waits = supervision_waits_for(settings)
    if waits:
        log.warning("month report not rendered: %s", waits)
        return []
    today = as_of.astimezone(SHANGHAI).date()
    files = render_period_report(settings, *month_of(today), as_of)
    if today.day == 1:
        files += render_period_report(settings, *month_of(today - timedelta(days=1)), as_of)
    return files
