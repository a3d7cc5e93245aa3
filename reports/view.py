"""The display model of a report: what every format shows, formatted once, from the bundle as given.

Nothing here derives a statistic: figures are copied from ``statistics``; events are only
grouped (by rule, by week) for the charts and lists, and changes are plain differences of two
given figures for display.
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import Any

from reports.bundle import ReportBundle, parse_instant
from reports.labels import (
    CARDS,
    ENTITIES,
    EVENT_STATUS,
    METRIC_BY_KEY,
    ORIGINS,
    POWER_TYPES,
    PROVISIONAL_MARK,
    REPORT_TITLE,
    RULE_CARDS,
    RULES,
    SUMMARY_KEYS,
    Metric,
    power_type_label,
    rule_label,
    source_label,
)
from reports.masking import mask_ids_in_text, mask_key

try:
    from zoneinfo import ZoneInfo

    SHANGHAI: tzinfo = ZoneInfo("Asia/Shanghai")
except Exception:  # no tz database on this machine: China has kept UTC+8 without DST since 1991
    SHANGHAI = timezone(timedelta(hours=8))

DASH = "—"


# ---------------------------------------------------------------- formatting


def fmt_value(metric: Metric, value: Any) -> str:
    """A figure as the report prints it: ``61.90%``, ``49.27``, ``21``; ``—`` for a null rate."""
    if value is None:
        return DASH
    if metric.kind == "rate":
        return f"{value * 100:.2f}%"
    if metric.kind == "score":
        return f"{value:.2f}"
    return str(value)


@dataclass(frozen=True)
class Change:
    text: str
    # "good", "bad" or "neutral": how a supervisor should read the direction of the change.
    tone: str
    value: float | int | None  # counts: difference; rates: percentage points; score: points


def change(metric: Metric, current: Any, previous: Any) -> Change:
    """The change of one figure from the previous period, for display."""
    if metric.kind in ("grade",) or current is None or previous is None:
        return Change(DASH, "neutral", None)
    if metric.kind == "rate":
        diff: float | int = round((current - previous) * 100, 2)
        text = f"{_signed(diff, '.2f')} 个百分点"
    elif metric.kind == "score":
        diff = round(current - previous, 2)
        text = f"{_signed(diff, '.2f')} 分"
    else:
        diff = current - previous
        text = _signed(diff, "d")
    if diff == 0:
        return Change("持平", "neutral", diff)
    if metric.higher_is_better is None:
        tone = "neutral"
    else:
        tone = "good" if (diff > 0) == metric.higher_is_better else "bad"
    return Change(text, tone, diff)


def _signed(value: float | int, spec: str) -> str:
    return ("+" if value > 0 else "−") + format(abs(value), spec)


def fmt_instant(value: str) -> str:
    """An RFC 3339 instant as Beijing time, ``2026-11-06 18:00``."""
    parsed = parse_instant(value)
    if parsed is None:
        return value
    return parsed.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def fmt_date_zh(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def period_label(start: date, end: date) -> str:
    """``2026年10月`` for a calendar month, ``2026年第四季度``, ``2026年度``, else the two dates."""
    last_day = calendar.monthrange(end.year, end.month)[1]
    if start.year == end.year and start.day == 1 and end.day == last_day:
        if start.month == end.month:
            return f"{start.year}年{start.month}月"
        if start.month == 1 and end.month == 12:
            return f"{start.year}年度"
        if start.month % 3 == 1 and end.month == start.month + 2:
            return f"{start.year}年第{'一二三四'[start.month // 3]}季度"
        if start.month in (1, 7) and end.month == start.month + 5:
            return f"{start.year}年{'上' if start.month == 1 else '下'}半年"
    return f"{fmt_date_zh(start)}至{fmt_date_zh(end)}"


# ---------------------------------------------------------------- model


@dataclass(frozen=True)
class SummaryItem:
    metric: Metric
    value: Any
    text: str
    previous_text: str
    change: Change


@dataclass(frozen=True)
class DepartmentRow:
    rank: int
    row: dict[str, Any]
    score_change: Change


@dataclass(frozen=True)
class RuleCount:
    rule: str
    label: str
    card: str
    count: int


@dataclass(frozen=True)
class WeekCount:
    label: str
    start: date
    end: date
    yellow: int
    red: int


@dataclass(frozen=True)
class EventView:
    ref: str  # case_id, or the complaint_id of a complaint event
    ref_kind: str  # 办件 / 投诉
    source: str
    dept_name: str
    power_code: str
    power_name: str
    power_type: str
    rule: str
    rule_name: str
    card: str
    card_name: str
    event_date: date
    days_overdue: int | None
    active: bool
    status_name: str
    provisional: bool


@dataclass(frozen=True)
class QuarantineView:
    source: str
    source_system: str
    entity: str
    record_key: str
    origin: str
    rules: str
    message: str


@dataclass(frozen=True)
class QuarantineSource:
    source: str
    count: int
    by_entity: str  # e.g. "办件 12，办理环节 3"
    rows: tuple[QuarantineView, ...]


@dataclass(frozen=True)
class ReportView:
    title: str
    period_from: date
    period_to: date
    period_end: date  # min(to, as-of date): the last day the figures cover
    period_label: str
    period_text: str
    period_incomplete: bool
    previous_label: str | None
    as_of_text: str
    generated_at: datetime
    generated_text: str
    cutoff_text: str
    decision_log_head: str | None  # "{decision_id}:{sha256}" of the self-built systems' decision log
    provisional: bool
    header_base: str  # title, period, as-of and cut-off: the running header of every page
    header_line: str  # the same with the provisional mark when there is one
    summary: tuple[SummaryItem, ...]
    total: dict[str, Any]
    previous_total: dict[str, Any] | None
    departments: tuple[DepartmentRow, ...]
    power_types: tuple[dict[str, Any], ...]
    rule_counts: tuple[RuleCount, ...]
    week_counts: tuple[WeekCount, ...]
    week_unit: str  # 周 or 月
    events: tuple[EventView, ...]
    active_events: int
    withdrawn_events: int
    quarantine: tuple[QuarantineSource, ...]
    quarantine_total: int


def build_view(bundle: ReportBundle) -> ReportView:
    """Turn a checked bundle into the display model (see :func:`reports.bundle.check_bundle`)."""
    stats = bundle["statistics"]
    previous = bundle.get("previous_statistics")
    start = date.fromisoformat(stats["period"]["from"])
    end = date.fromisoformat(stats["period"]["to"])
    as_of = parse_instant(stats["as_of"])
    generated_at = parse_instant(bundle["generated_at"])
    assert as_of is not None and generated_at is not None  # checked by check_bundle
    as_of_date = as_of.astimezone(SHANGHAI).date()
    period_end = min(end, as_of_date)
    incomplete = as_of_date < end

    events = _events(bundle.get("events") or [])
    provisional = bool(stats.get("provisional")) or any(e.provisional for e in events)

    label = period_label(start, end)
    period_text = f"{start.isoformat()} 至 {end.isoformat()}"
    if incomplete:
        period_text += f"（本期未结束，数据计至 {period_end.isoformat()}）"
    as_of_text = fmt_instant(stats["as_of"])
    cutoff_text = fmt_instant(bundle["data_cutoff"])
    header_base = f"{REPORT_TITLE}｜{label}｜统计时点 {as_of_text}｜数据截止 {cutoff_text}"
    header = f"{header_base}｜{PROVISIONAL_MARK}" if provisional else header_base

    previous_label = None
    previous_total = None
    if previous is not None:
        previous_label = period_label(
            date.fromisoformat(previous["period"]["from"]), date.fromisoformat(previous["period"]["to"])
        )
        previous_total = previous["total"]

    total = stats["total"]
    summary = tuple(
        SummaryItem(
            metric=METRIC_BY_KEY[key],
            value=total.get(key),
            text=fmt_value(METRIC_BY_KEY[key], total.get(key)),
            previous_text=fmt_value(METRIC_BY_KEY[key], previous_total.get(key)) if previous_total else DASH,
            change=change(METRIC_BY_KEY[key], total.get(key), previous_total.get(key) if previous_total else None),
        )
        for key in SUMMARY_KEYS
    )

    active = [e for e in events if e.active]
    week_counts, week_unit = _by_period_unit(active, start, period_end)
    return ReportView(
        title=REPORT_TITLE,
        period_from=start,
        period_to=end,
        period_end=period_end,
        period_label=label,
        period_text=period_text,
        period_incomplete=incomplete,
        previous_label=previous_label,
        as_of_text=as_of_text,
        generated_at=generated_at,
        generated_text=fmt_instant(bundle["generated_at"]),
        cutoff_text=cutoff_text,
        decision_log_head=bundle.get("decision_log_head"),
        provisional=provisional,
        header_base=header_base,
        header_line=header,
        summary=summary,
        total=dict(total),
        previous_total=dict(previous_total) if previous_total else None,
        departments=_ranking(stats["departments"], previous["departments"] if previous else None),
        power_types=_power_types(stats["power_types"]),
        rule_counts=_by_rule(active),
        week_counts=week_counts,
        week_unit=week_unit,
        events=tuple(events),
        active_events=len(active),
        withdrawn_events=len(events) - len(active),
        quarantine=_quarantine(bundle.get("quarantine") or []),
        quarantine_total=len(bundle.get("quarantine") or []),
    )


def _ranking(rows: list[Any], previous_rows: list[Any] | None) -> tuple[DepartmentRow, ...]:
    """Departments by score, best first; equal scores share a rank (1, 2, 2, 4)."""
    before = {r["dept_code"]: r for r in previous_rows or []}
    score = METRIC_BY_KEY["score"]
    ordered = sorted(rows, key=lambda r: (-(r.get("score") if r.get("score") is not None else -1.0), r["dept_code"]))
    out: list[DepartmentRow] = []
    for i, row in enumerate(ordered):
        rank = out[-1].rank if out and out[-1].row.get("score") == row.get("score") else i + 1
        prev = before.get(row["dept_code"])
        out.append(DepartmentRow(rank, dict(row), change(score, row.get("score"), prev.get("score") if prev else None)))
    return tuple(out)


def _power_types(rows: list[Any]) -> tuple[dict[str, Any], ...]:
    order = {code: i for i, code in enumerate(POWER_TYPES)}
    ordered = sorted(rows, key=lambda r: (order.get(r["power_type"], len(order)), r["power_type"]))
    return tuple({**r, "label": power_type_label(r["power_type"])} for r in ordered)


def _events(rows: list[Any]) -> list[EventView]:
    out = []
    for r in rows:
        # A complaint event (TS01) may also name the complained-about case; its key is the complaint.
        is_complaint = bool(r.get("complaint_id"))
        out.append(
            EventView(
                ref=mask_key(r.get("complaint_id") if is_complaint else r.get("case_id")) or DASH,
                ref_kind="投诉" if is_complaint else "办件",
                # Complaints come only from the unified platform (§3).
                source=source_label("UNIFIED" if is_complaint else r.get("case_source_system")),
                dept_name=r.get("dept_name") or r.get("dept_code") or DASH,
                power_code=r.get("power_code") or "",
                power_name=r.get("power_name") or DASH,
                power_type=power_type_label(r.get("power_type")),
                rule=r["rule"],
                rule_name=RULES.get(r["rule"], r["rule"]),
                card=r["card"],
                card_name=CARDS.get(r["card"], r["card"]),
                event_date=date.fromisoformat(r["event_date"]),
                days_overdue=r.get("days_overdue"),
                active=r["status"] == "ACTIVE",
                status_name=EVENT_STATUS.get(r["status"], r["status"]),
                provisional=bool(r.get("provisional")),
            )
        )
    out.sort(key=lambda e: (e.event_date, e.dept_name, e.rule, e.ref))
    return out


def _by_rule(events: list[EventView]) -> tuple[RuleCount, ...]:
    counts = Counter((e.rule, e.card) for e in events)
    rules = list(RULES) + sorted({e.rule for e in events} - set(RULES))
    out = []
    for rule in rules:
        cards = [c for (r, c) in counts if r == rule] or [RULE_CARDS.get(rule, "RED")]
        for card in sorted(cards):
            out.append(RuleCount(rule, rule_label(rule), card, counts.get((rule, card), 0)))
    return tuple(out)


def _by_period_unit(events: list[EventView], start: date, end: date) -> tuple[tuple[WeekCount, ...], str]:
    """Cards per week (Monday to Sunday, clipped to the period), or per month for periods over 26 weeks."""
    monthly = (end - start).days > 26 * 7
    bins: list[tuple[date, date]] = []
    cursor = start
    while cursor <= end:
        if monthly:
            stop = date(cursor.year, cursor.month, calendar.monthrange(cursor.year, cursor.month)[1])
        else:
            stop = cursor + timedelta(days=6 - cursor.weekday())
        stop = min(stop, end)
        bins.append((cursor, stop))
        cursor = stop + timedelta(days=1)
    out = []
    for lo, hi in bins:
        inside = [e for e in events if lo <= e.event_date <= hi]
        label = f"{lo.year}-{lo.month:02d}" if monthly else f"{lo.month:02d}-{lo.day:02d}~{hi.month:02d}-{hi.day:02d}"
        out.append(
            WeekCount(label, lo, hi, sum(e.card == "YELLOW" for e in inside), sum(e.card == "RED" for e in inside))
        )
    return tuple(out), "月" if monthly else "周"


def _quarantine(rows: list[Any]) -> tuple[QuarantineSource, ...]:
    by_source: dict[str, list[QuarantineView]] = {}
    for r in rows:
        system = r["source_system"]
        origin = r.get("origin") or ""
        by_source.setdefault(system, []).append(
            QuarantineView(
                source=source_label(system),
                source_system=system,
                entity=ENTITIES.get(r["entity"], r["entity"]),
                record_key=mask_key(r["record_key"]) or DASH,
                origin=ORIGINS.get(origin, mask_ids_in_text(origin) or DASH),
                rules="、".join(r.get("rules") or []) or DASH,
                message=mask_ids_in_text(r.get("message_zh")) or "",
            )
        )
    out = []
    # The unified platform first, then self-built systems by code (the reading order of §10.1).
    for system in sorted(by_source, key=lambda s: (s != "UNIFIED", s)):
        views = sorted(by_source[system], key=lambda v: (v.entity, v.record_key, v.rules))
        per_entity = Counter(v.entity for v in views)
        out.append(
            QuarantineSource(
                source=source_label(system),
                count=len(views),
                by_entity="，".join(f"{k} {n}" for k, n in sorted(per_entity.items(), key=lambda kv: -kv[1])),
                rows=tuple(views),
            )
        )
    return tuple(out)
