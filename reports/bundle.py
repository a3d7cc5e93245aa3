"""The input of the renderer: a JSON-serialisable bundle, checked up front with every problem listed."""

from __future__ import annotations

import numbers
import re
from datetime import date, datetime
from typing import Any, Literal, NotRequired, TypedDict

from reports.errors import ReportBundleError
from schemas.standard import STATISTICS_COUNTS

__all__ = [
    "DepartmentStats",
    "EventRow",
    "MetricSet",
    "Period",
    "PowerTypeStats",
    "QuarantineRow",
    "ReportBundle",
    "Statistics",
    "check_bundle",
    "parse_instant",
]


# "from" is a Python keyword, hence the functional form.
Period = TypedDict("Period", {"from": str, "to": str})


class MetricSet(TypedDict):
    """Every metric of §7; rates are ``None`` when their denominator is 0."""

    received: int
    completed: int
    on_time: int
    early: int
    overdue: int
    on_time_rate: float | None
    early_rate: float | None
    denied: int
    denial_rate: float | None
    open_at_end: int
    open_overdue: int
    overdue_rate: float | None
    yellow_cards: int
    red_cards: int
    complaints: int
    complaints_substantiated: int
    satisfaction_rate: float | None
    process_ok_rate: float | None
    content_ok_rate: float | None
    complaint_on_time_rate: float | None
    score: NotRequired[float]
    grade: NotRequired[str]


class DepartmentStats(MetricSet):
    dept_code: str
    dept_name: str


class PowerTypeStats(MetricSet):
    power_type: str


class Statistics(TypedDict):
    """``statistics.json`` of §7 plus ``provisional`` (True when any figure rests on a provisional day)."""

    standard_version: str
    region: str
    period: Period
    as_of: str
    departments: list[DepartmentStats]
    power_types: list[PowerTypeStats]
    total: MetricSet
    provisional: bool


class EventRow(TypedDict):
    """One yellow/red card event (§5.4) of the period, with display names already joined in."""

    event_key: str
    rule: str
    card: Literal["YELLOW", "RED"]
    event_date: str
    dept_code: str
    dept_name: str
    power_code: str | None
    power_name: str | None
    power_type: str | None
    case_source_system: str | None
    case_id: str | None
    complaint_id: str | None
    days_overdue: int | None
    status: Literal["ACTIVE", "WITHDRAWN"]
    provisional: bool


class QuarantineRow(TypedDict):
    """One quarantined record: where it came from and which rules it broke (no payload)."""

    source_system: str
    entity: str
    record_key: str
    origin: str
    rules: list[str]
    message_zh: str


class ReportBundle(TypedDict):
    statistics: Statistics
    previous_statistics: Statistics | None
    events: list[EventRow]
    quarantine: list[QuarantineRow]
    generated_at: str
    data_cutoff: str
    # The self-built systems' decision log head, "{decision_id}:{sha256}", printed so that a later
    # `sanheyi systems verify-log --head` can prove no decision up to it was deleted or rewritten.
    # Optional: None or absent when nothing is logged yet.
    decision_log_head: NotRequired[str | None]


_OPTIONAL_KEYS = frozenset({"decision_log_head"})  # NotRequired is not visible under postponed annotations
_CHAIN_HEAD = re.compile(r"[1-9][0-9]*:[0-9a-f]{64}")


_METRIC_KEYS = tuple(MetricSet.__annotations__)
_COUNT_KEYS = STATISTICS_COUNTS
_RATE_KEYS = tuple(k for k in _METRIC_KEYS if k.endswith("_rate"))
_MAX_LISTED = 20


def parse_instant(value: object) -> datetime | None:
    """An RFC 3339 instant with an explicit offset, or None when ``value`` is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _parse_date(value: object) -> date | None:
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _is_int(value: object) -> bool:
    # numbers.Integral also admits numpy integers, which a caller may pass before JSON encoding.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_metrics(row: Any, where: str, *, scored: bool, problems: list[str]) -> None:
    if not isinstance(row, dict):
        problems.append(f"{where} 不是对象 / is not an object")
        return
    for key in _COUNT_KEYS:
        if not _is_int(row.get(key)):
            problems.append(f"{where}.{key} 缺失或不是整数 / missing or not an integer")
    for key in _RATE_KEYS:
        value = row.get(key, "absent")
        if value is not None and not _is_number(value):
            problems.append(f"{where}.{key} 缺失或不是数值 / missing or not a number")
    if scored:
        if not _is_number(row.get("score")):
            problems.append(f"{where}.score 缺失或不是数值 / missing or not a number")
        if not isinstance(row.get("grade"), str):
            problems.append(f"{where}.grade 缺失 / missing")


def _check_statistics(stats: Any, where: str, *, need_provisional: bool, problems: list[str]) -> None:
    if not isinstance(stats, dict):
        problems.append(f"{where} 不是对象 / is not an object")
        return
    if stats.get("standard_version") != "1.0":
        problems.append(f'{where}.standard_version 应为 "1.0" / must be "1.0"')
    period = stats.get("period")
    start = end = None
    if isinstance(period, dict):
        start, end = _parse_date(period.get("from")), _parse_date(period.get("to"))
    if start is None or end is None:
        problems.append(f"{where}.period 须有 from/to 日期 (YYYY-MM-DD) / needs from and to dates")
    elif start > end:
        problems.append(f"{where}.period 起始日期晚于结束日期 / from is after to")
    if parse_instant(stats.get("as_of")) is None:
        problems.append(f"{where}.as_of 须为带时区的时间 / must be an RFC 3339 instant with offset")
    if need_provisional and not isinstance(stats.get("provisional"), bool):
        problems.append(
            f"{where}.provisional 缺失：须说明是否含推定日历"
            " / missing: must say whether a provisional calendar was used"
        )
    departments = stats.get("departments")
    if not isinstance(departments, list):
        problems.append(f"{where}.departments 不是列表 / is not a list")
    else:
        for i, row in enumerate(departments):
            at = f"{where}.departments[{i}]"
            _check_metrics(row, at, scored=True, problems=problems)
            named = isinstance(row, dict) and all(isinstance(row.get(k), str) for k in ("dept_code", "dept_name"))
            if isinstance(row, dict) and not named:
                problems.append(f"{at} 缺少 dept_code/dept_name / lacks dept_code or dept_name")
    power_types = stats.get("power_types")
    if not isinstance(power_types, list):
        problems.append(f"{where}.power_types 不是列表 / is not a list")
    else:
        for i, row in enumerate(power_types):
            at = f"{where}.power_types[{i}]"
            _check_metrics(row, at, scored=False, problems=problems)
            if isinstance(row, dict) and not isinstance(row.get("power_type"), str):
                problems.append(f"{at}.power_type 缺失 / missing")
    _check_metrics(stats.get("total"), f"{where}.total", scored=True, problems=problems)


def _check_event(row: Any, where: str, problems: list[str]) -> None:
    if not isinstance(row, dict):
        problems.append(f"{where} 不是对象 / is not an object")
        return
    if not isinstance(row.get("rule"), str) or not row.get("rule"):
        problems.append(f"{where}.rule 缺失 / missing")
    if row.get("card") not in ("YELLOW", "RED"):
        problems.append(f"{where}.card 应为 YELLOW 或 RED / must be YELLOW or RED")
    if _parse_date(row.get("event_date")) is None:
        problems.append(f"{where}.event_date 不是有效日期 / is not a YYYY-MM-DD date")
    if row.get("status") not in ("ACTIVE", "WITHDRAWN"):
        problems.append(f"{where}.status 应为 ACTIVE 或 WITHDRAWN / must be ACTIVE or WITHDRAWN")
    if not isinstance(row.get("provisional"), bool):
        problems.append(f"{where}.provisional 缺失 / missing")
    days = row.get("days_overdue")
    if days is not None and not _is_int(days):
        problems.append(f"{where}.days_overdue 应为整数或 null / must be an integer or null")
    if not row.get("case_id") and not row.get("complaint_id"):
        problems.append(f"{where} 须有 case_id 或 complaint_id / needs case_id or complaint_id")


def _check_quarantine(row: Any, where: str, problems: list[str]) -> None:
    if not isinstance(row, dict):
        problems.append(f"{where} 不是对象 / is not an object")
        return
    for key in ("source_system", "entity", "record_key"):
        if not isinstance(row.get(key), str) or not row.get(key):
            problems.append(f"{where}.{key} 缺失 / missing")
    rules = row.get("rules")
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        problems.append(f"{where}.rules 应为规则编号列表 / must be a list of rule ids")


def check_bundle(bundle: Any) -> None:
    """Raise :class:`ReportBundleError` listing every problem of ``bundle``; return when it is usable."""
    problems: list[str] = []
    if not isinstance(bundle, dict):
        raise ReportBundleError("报告数据不是对象 / report bundle is not a mapping")
    for key in ReportBundle.__annotations__:
        if key not in bundle and key not in _OPTIONAL_KEYS:
            problems.append(f"{key} 缺失 / missing")
    _check_statistics(bundle.get("statistics"), "statistics", need_provisional=True, problems=problems)
    previous = bundle.get("previous_statistics")
    if previous is not None:
        _check_statistics(previous, "previous_statistics", need_provisional=False, problems=problems)
    for key in ("generated_at", "data_cutoff"):
        if key in bundle and parse_instant(bundle.get(key)) is None:
            problems.append(f"{key} 须为带时区的时间 / must be an RFC 3339 instant with offset")
    head = bundle.get("decision_log_head")
    if head is not None and not (isinstance(head, str) and _CHAIN_HEAD.fullmatch(head)):
        problems.append("decision_log_head 应为 序号:SHA-256 或 null / must be id:sha256 (64 hex digits) or null")
    events = bundle.get("events", [])
    if not isinstance(events, list):
        problems.append("events 不是列表 / is not a list")
    else:
        for i, row in enumerate(events):
            _check_event(row, f"events[{i}]", problems)
    quarantine = bundle.get("quarantine", [])
    if not isinstance(quarantine, list):
        problems.append("quarantine 不是列表 / is not a list")
    else:
        for i, row in enumerate(quarantine):
            _check_quarantine(row, f"quarantine[{i}]", problems)
    if problems:
        shown = "; ".join(problems[:_MAX_LISTED])
        extra = len(problems) - _MAX_LISTED
        more = f"; 另有 {extra} 处 / and {extra} more" if extra > 0 else ""
        raise ReportBundleError(f"报告数据有误，无法生成报告 / report bundle invalid: {shown}{more}")
