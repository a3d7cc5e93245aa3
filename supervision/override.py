"""The project office's calendar override file: official schedules of new years and local closures.

Format (YAML, UTF-8)::

    years:
      2027:
        notice: "国务院办公厅关于2027年部分节假日安排的通知"   # the official notice entered
        holidays:                  # 放假日: days off of that schedule (weekend days inside a block may be listed)
          - 2027-01-01
          - {from: 2027-02-05, to: 2027-02-11}
        workdays:                  # 调休上班日: make-up working days (Saturdays or Sundays)
          - 2027-02-20
    closures:                      # 本地停止办公日: local closures, any year
      - {date: 2026-07-15, reason: 台风停止办公}
      - {from: 2026-07-20, to: 2026-07-21, reason: ...}

A year listed under ``years`` is official and replaces what the packages say about it (days of the
previous December may be listed too: a new year's schedule sometimes moves days there).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from supervision.errors import CalendarOverrideError

MIN_YEAR = 2001
MAX_YEAR = 2100
_TOP_KEYS = {"years", "closures"}
_YEAR_KEYS = {"notice", "holidays", "workdays"}
_CLOSURE_KEYS = {"date", "from", "to", "reason"}
_MAX_RANGE_DAYS = 62


@dataclass(frozen=True)
class YearSchedule:
    """The official holiday schedule of one year, as entered by the project office."""

    year: int
    notice: str
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]


@dataclass(frozen=True)
class Closure:
    """A local closure: a day on which the offices did not work (not a countable workday)."""

    day: dt.date
    reason: str


@dataclass(frozen=True)
class CalendarOverride:
    years: Mapping[int, YearSchedule] = field(default_factory=dict)
    closures: tuple[Closure, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.years and not self.closures


def load_override(path: Path) -> CalendarOverride:
    """Read and validate an override file; raise CalendarOverrideError listing every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CalendarOverrideError(source, ["file not found / 文件不存在"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarOverrideError(source, [f"cannot read file / 无法读取: {type(exc).__name__}"]) from None
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise CalendarOverrideError(source, [f"not valid YAML / YAML 语法错误{where}"]) from None
    return parse_override(obj, source)


def parse_override(obj: Any, source: str = "<override>") -> CalendarOverride:
    """Validate an already-parsed override document (a mapping, or None for an empty file)."""
    problems: list[str] = []
    if obj is None:
        return CalendarOverride()
    if not isinstance(obj, Mapping):
        raise CalendarOverrideError(source, ["the document must be a mapping with keys 'years' and/or 'closures'"])
    for key in obj:
        if key not in _TOP_KEYS:
            problems.append(f"{key}: unknown key (allowed: closures, years) / 未知字段")
    years: dict[int, YearSchedule] = {}
    raw_years = obj.get("years")
    if raw_years is not None:
        if not isinstance(raw_years, Mapping):
            problems.append("years: must be a mapping of year to schedule")
        else:
            for raw_year, body in raw_years.items():
                schedule = _parse_year(raw_year, body, problems)
                if schedule is not None:
                    years[schedule.year] = schedule
    closures: list[Closure] = []
    raw_closures = obj.get("closures")
    if raw_closures is not None:
        if not isinstance(raw_closures, list):
            problems.append("closures: must be a list")
        else:
            for i, item in enumerate(raw_closures):
                closures.extend(_parse_closure(f"closures[{i}]", item, problems))
    if problems:
        raise CalendarOverrideError(source, problems)
    closures.sort(key=lambda c: c.day)
    return CalendarOverride(years=dict(sorted(years.items())), closures=tuple(closures))


def _parse_year(raw_year: Any, body: Any, problems: list[str]) -> YearSchedule | None:
    where = f"years.{raw_year}"
    try:
        year = int(str(raw_year).strip())
    except ValueError:
        problems.append(f"{where}: the key must be a year such as 2027")
        return None
    if not MIN_YEAR <= year <= MAX_YEAR:
        problems.append(f"{where}: year outside {MIN_YEAR}..{MAX_YEAR}")
        return None
    if not isinstance(body, Mapping):
        problems.append(f"{where}: must be a mapping with notice, holidays and workdays")
        return None
    before = len(problems)
    for key in body:
        if key not in _YEAR_KEYS:
            problems.append(f"{where}.{key}: unknown key (allowed: holidays, notice, workdays) / 未知字段")
    notice = body.get("notice")
    if not isinstance(notice, str) or not notice.strip():
        problems.append(f"{where}.notice: required - the official notice this schedule comes from / 必须注明通知文号")
        notice = ""
    holidays = _parse_day_list(f"{where}.holidays", body.get("holidays"), problems, required=True)
    workdays = _parse_day_list(f"{where}.workdays", body.get("workdays", []), problems, required=False)
    allowed = (dt.date(year - 1, 12, 1), dt.date(year, 12, 31))
    for label, days in (("holidays", holidays), ("workdays", workdays)):
        for d in sorted(days):
            if not allowed[0] <= d <= allowed[1]:
                problems.append(f"{where}.{label}: {d.isoformat()} is not in {year} (or December {year - 1})")
    for d in sorted(workdays):
        if d.weekday() < 5:
            problems.append(
                f"{where}.workdays: {d.isoformat()} is a {d.strftime('%A')}, not a weekend day; "
                "only make-up working days (调休上班) belong here"
            )
    for d in sorted(holidays & workdays):
        problems.append(f"{where}: {d.isoformat()} is listed both as holiday and as workday")
    for d in sorted(workdays & _statutory_days(year)):
        problems.append(f"{where}.workdays: {d.isoformat()} is a statutory holiday (法定节假日) by law")
    if len(problems) > before:
        return None
    return YearSchedule(year=year, notice=notice.strip(), holidays=frozenset(holidays), workdays=frozenset(workdays))


def _parse_closure(where: str, item: Any, problems: list[str]) -> list[Closure]:
    if not isinstance(item, Mapping):
        problems.append(f"{where}: must be a mapping with date (or from/to) and reason")
        return []
    for key in item:
        if key not in _CLOSURE_KEYS:
            problems.append(f"{where}.{key}: unknown key (allowed: date, from, reason, to) / 未知字段")
    reason = item.get("reason")
    ok = True
    if not isinstance(reason, str) or not reason.strip():
        problems.append(f"{where}.reason: required / 必须注明停止办公原因")
        ok = False
    if "date" in item and ("from" in item or "to" in item):
        problems.append(f"{where}: give either date or from/to, not both")
        return []
    if "date" in item:
        d = _parse_date(f"{where}.date", item["date"], problems)
        days = [d] if d is not None else []
    else:
        days = _parse_range(where, item, problems)
    if not ok:
        return []
    for d in days:
        if not dt.date(MIN_YEAR, 1, 1) <= d <= dt.date(MAX_YEAR, 12, 31):
            problems.append(f"{where}: {d.isoformat()} outside {MIN_YEAR}..{MAX_YEAR}")
            return []
    return [Closure(day=d, reason=reason.strip()) for d in days]


def _parse_day_list(where: str, raw: Any, problems: list[str], *, required: bool) -> set[dt.date]:
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        problems.append(f"{where}: must be a list of dates or {{from, to}} ranges")
        return set()
    if required and not raw:
        problems.append(f"{where}: required and must not be empty / 不能为空")
    out: set[dt.date] = set()
    for i, item in enumerate(raw):
        here = f"{where}[{i}]"
        if isinstance(item, Mapping):
            for key in item:
                if key not in ("from", "to"):
                    problems.append(f"{here}.{key}: unknown key (allowed: from, to)")
            out.update(_parse_range(here, item, problems))
        else:
            d = _parse_date(here, item, problems)
            if d is not None:
                out.add(d)
    return out


def _parse_range(where: str, item: Mapping[str, Any], problems: list[str]) -> list[dt.date]:
    if "from" not in item or "to" not in item:
        problems.append(f"{where}: a range needs both from and to")
        return []
    start = _parse_date(f"{where}.from", item["from"], problems)
    end = _parse_date(f"{where}.to", item["to"], problems)
    if start is None or end is None:
        return []
    if end < start:
        problems.append(f"{where}: to ({end.isoformat()}) is before from ({start.isoformat()})")
        return []
    n = (end - start).days + 1
    if n > _MAX_RANGE_DAYS:
        problems.append(f"{where}: range of {n} days is implausibly long (max {_MAX_RANGE_DAYS})")
        return []
    return [start + dt.timedelta(days=i) for i in range(n)]


def _parse_date(where: str, raw: Any, problems: list[str]) -> dt.date | None:
    if isinstance(raw, dt.datetime):
        problems.append(f"{where}: expected a date YYYY-MM-DD, got a date-time")
        return None
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, str):
        try:
            if len(raw.strip()) == 10:
                return dt.date.fromisoformat(raw.strip())
        except ValueError:
            pass
    problems.append(f"{where}: {str(raw)[:40]!r} is not a date YYYY-MM-DD")
    return None


def _statutory_days(year: int) -> set[dt.date]:
    """The statutory holidays themselves (not days moved for them), computed by rule."""
    import holidays as holidays_pkg

    table = holidays_pkg.China(years=year, observed=False, language="en_US")
    return {d for d, name in table.items() if d.year == year and "substituted" not in name.lower()}
