"""Statistics and performance scores of §7 (统计分析与绩效考评)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from schemas.standard import STATISTICS_COUNTS
from supervision import arrays as A
from supervision.calendar import WorkCalendar, epoch_day
from supervision.deadlines import outcomes
from supervision.errors import SupervisionInputError
from supervision.model import SupervisionData, SupervisionSettings
from supervision.prepared import Prepared, PreparedComplaints

STANDARD_VERSION = "1.0"
REGION = "320481"
PROCESS_RULES = ("LC01", "LC02")
CONTENT_RULES = ("NR01", "CL01", "LC03")
COUNTS = STATISTICS_COUNTS
#: Output order of one row (key order of statistics.json).
METRICS = (
    "received",
    "completed",
    "on_time",
    "early",
    "overdue",
    "on_time_rate",
    "early_rate",
    "denied",
    "denial_rate",
    "open_at_end",
    "open_overdue",
    "overdue_rate",
    "yellow_cards",
    "red_cards",
    "complaints",
    "complaints_substantiated",
    "satisfaction_rate",
    "process_ok_rate",
    "content_ok_rate",
    "complaint_on_time_rate",
)
# Counts needed by the rates but not printed.
_HIDDEN = ("rated", "rated_points", "process_bad", "content_bad", "complaints_closed", "complaints_closed_on_time")
SCORE_WEIGHTS = (
    ("on_time_rate", 35),
    ("early_rate", 10),
    ("process_ok_rate", 15),
    ("content_ok_rate", 15),
    ("satisfaction_rate", 15),
    ("complaint_on_time_rate", 10),
)
GRADES = ((90, "优秀"), (80, "良好"), (60, "合格"))
LOWEST_GRADE = "不合格"


def compute_statistics(
    data: SupervisionData,
    events: pd.DataFrame,
    period_from: dt.date,
    period_to: dt.date,
    as_of: dt.datetime,
    calendar: WorkCalendar,
    settings: SupervisionSettings,
) -> dict[str, Any]:
    """§7 for ``[period_from, period_to]`` as of ``as_of``: the statistics.json document plus a top-level
    ``provisional`` flag (true when a figure rests on a provisional calendar day).

    ``events`` is what :func:`supervision.events.compute_events` returned for the same data and as-of.
    """
    if period_to < period_from:
        raise SupervisionInputError(f"period end {period_to} is before its start {period_from}")
    p = Prepared(data, as_of, calendar, settings)
    flagged = _cases_with(p, events)  # also links suspension steps and complaints to their cases
    c = PreparedComplaints(data, p)
    cal = calendar
    start = epoch_day(period_from) - cal.origin
    end = min(epoch_day(period_to) - cal.origin, p.t)  # e = min(to, t)
    n_dept = len(data.departments)
    n_type = len(A.POWER_TYPES)

    counts: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
    provisional = False

    def add(
        name: str,
        case_mask: np.ndarray | None = None,
        *,
        weights: np.ndarray | None = None,
        dept: np.ndarray | None = None,
        ptype: np.ndarray | None = None,
    ) -> None:
        """Count ``case_mask`` rows per department, per power type and in total."""
        d = p.dept if dept is None else dept
        t = p.power_type if ptype is None else ptype
        m = case_mask
        w = np.ones(m.size, dtype=np.int64) if weights is None else weights
        per_dept = np.bincount(d[m & (d >= 0)], weights=w[m & (d >= 0)], minlength=n_dept)[:n_dept]
        per_type = np.bincount(t[m & (t >= 0)], weights=w[m & (t >= 0)], minlength=n_type)[:n_type]
        counts[name] = (per_dept.astype(np.int64), per_type.astype(np.int64), int(w[m].sum()))

    on_time, early, overdue, _ = outcomes(p)
    received = (p.received >= start) & (p.received <= end)
    completed = p.completed & (p.finished >= start) & (p.finished <= end)
    result = A.codes(data.cases["result"], ("GRANTED", "PARTIAL", "DENIED"))
    open_end = (p.received <= end) & p.open_on(end + 1)
    open_overdue = open_end & (p.deadline < end)
    rating = A.codes(data.cases["satisfaction"], ("S", "B", "U"))
    rated = completed & (rating >= 0)
    add("received", received)
    add("completed", completed)
    add("on_time", completed & on_time)
    add("early", completed & early)
    add("overdue", completed & overdue)
    add("denied", completed & (result == 2))
    add("open_at_end", open_end)
    add("open_overdue", open_overdue)
    add("rated", rated)
    add("rated_points", rated, weights=np.select([rating == 0, rating == 1], [2, 1], 0))  # S = 2, B = 1 half points
    add("process_bad", completed & flagged(PROCESS_RULES))
    add("content_bad", completed & flagged(CONTENT_RULES))
    # A figure is provisional only when a provisional day could change it (§5.1). A completed case's
    # outcome is settled by the days up to its finish; whether an open case is overdue at e by the days
    # up to the earlier of its deadline and e. A deadline in next year's provisional calendar does not
    # make this December's figures provisional.
    settled_by = np.minimum(p.deadline, end)
    provisional |= bool(np.any(completed & p.finish_provisional)) or bool(
        np.any(open_end & p.counter.provisional(p.received, settled_by))
    )

    # events: cards by event date, department and power type of the event
    ev_day = _event_days(events) - cal.origin
    in_period = (ev_day >= start) & (ev_day <= end)
    ev_dept = A.lookup(events["dept_code"], data.departments["dept_code"])
    ev_type = A.codes(events["power_type"], A.POWER_TYPES)
    card = A.codes(events["card"], ("YELLOW", "RED"))
    add("yellow_cards", in_period & (card == 0), dept=ev_dept, ptype=ev_type)
    add("red_cards", in_period & (card == 1), dept=ev_dept, ptype=ev_type)
    if len(events) and "provisional" in events.columns:
        provisional |= bool(np.any(in_period & events["provisional"].fillna(False).to_numpy(dtype=bool)))

    # complaints
    c_received = (c.received >= start) & (c.received <= end)
    c_closed = c.closed_valid & (c.closed >= start) & (c.closed <= end)
    add("complaints", c_received, dept=c.dept, ptype=c.power_type)
    add("complaints_substantiated", c_received & c.substantiated, dept=c.dept, ptype=c.power_type)
    add("complaints_closed", c_closed, dept=c.dept, ptype=c.power_type)
    add("complaints_closed_on_time", c_closed & (c.closed <= c.due), dept=c.dept, ptype=c.power_type)
    provisional |= bool(np.any(c_closed & c.closure_provisional))

    def row(kind: int, i: int | None) -> dict[str, Any]:
        vals = {k: (v[kind][i] if i is not None else v[2]) for k, v in counts.items()}
        return _metrics({k: int(x) for k, x in vals.items()})

    depts = data.departments
    order = np.argsort(A.text(depts["dept_code"]).to_numpy(zero_copy_only=False).astype(str), kind="stable")
    dept_codes = A.text(depts["dept_code"]).to_numpy(zero_copy_only=False)
    dept_names = A.text(depts["name"]).to_numpy(zero_copy_only=False)
    departments = []
    for i in order:
        r = row(0, int(i))
        departments.append({"dept_code": dept_codes[i], "dept_name": dept_names[i], **_with_score(r)})
    power_types = [{"power_type": code, **_public(row(1, j))} for j, code in enumerate(A.POWER_TYPES)]
    total = _with_score(row(2, None))
    return {
        "standard_version": STANDARD_VERSION,
        "region": REGION,
        "period": {"from": period_from.isoformat(), "to": period_to.isoformat()},
        "as_of": _as_of_text(as_of),
        "departments": departments,
        "power_types": power_types,
        "total": total,
        "provisional": provisional,
    }


def _cases_with(p: Prepared, events: pd.DataFrame) -> Callable[[tuple[str, ...]], np.ndarray]:
    """rules -> per-case mask: the case has an event of one of those rules."""
    rule = A.codes(events["rule"], PROCESS_RULES + CONTENT_RULES) if len(events) else np.zeros(0, dtype=np.int64)
    sel = np.flatnonzero(rule >= 0)
    sub = events.iloc[sel]
    rows = p.resolve(suspension_steps=True, complaints=True, extra=(sub["case_source_system"], sub["case_id"]))
    rule = rule[sel]

    def flagged(rules: tuple[str, ...]) -> np.ndarray:
        wanted = np.array([(PROCESS_RULES + CONTENT_RULES).index(r) for r in rules])
        mask = np.zeros(p.n, dtype=bool)
        mask[rows[np.isin(rule, wanted) & (rows >= 0)]] = True
        return mask

    return flagged


def _event_days(events: pd.DataFrame) -> np.ndarray:
    """Epoch days of the events' dates (datetime.date objects, or a datetime64 column)."""
    if len(events) == 0:
        return np.zeros(0, dtype=np.int64)
    col = events["event_date"]
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.to_numpy().astype("datetime64[D]").astype(np.int64)
    values = col.to_numpy(dtype=object)
    if not isinstance(values[0], dt.date):
        values = pd.to_datetime(col).dt.date.to_numpy(dtype=object)
    ordinals = np.fromiter((d.toordinal() for d in values), dtype=np.int64, count=len(values))
    return ordinals - dt.date(1970, 1, 1).toordinal()


def _metrics(n: dict[str, int]) -> dict[str, Any]:
    """Counts -> one statistics row: the rates as exact fractions, printable values rounded."""
    comp = n["completed"]
    rates = {
        "on_time_rate": _ratio(n["on_time"], comp),
        "early_rate": _ratio(n["early"], comp),
        "denial_rate": _ratio(n["denied"], comp),
        "overdue_rate": _ratio(n["overdue"] + n["open_overdue"], comp + n["open_at_end"]),
        "satisfaction_rate": _ratio(n["rated_points"], 2 * n["rated"]),
        "process_ok_rate": None if comp == 0 else 1 - Fraction(n["process_bad"], comp),
        "content_ok_rate": None if comp == 0 else 1 - Fraction(n["content_bad"], comp),
        "complaint_on_time_rate": _ratio(n["complaints_closed_on_time"], n["complaints_closed"]),
    }
    out: dict[str, Any] = {}
    for key in METRICS:
        out[key] = n[key] if key in COUNTS else (None if rates[key] is None else round_half_away(rates[key], 4))
    out["_rates"] = rates
    return out


def _ratio(num: int, den: int) -> Fraction | None:
    return None if den == 0 else Fraction(num, den)


def _public(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if not k.startswith("_")}


def _with_score(r: dict[str, Any]) -> dict[str, Any]:
    score = score_of(r["_rates"], r["red_cards"], r["yellow_cards"])
    return {**_public(r), "score": score, "grade": grade_of(score)}


def score_of(rates: dict[str, Fraction | None], red: int, yellow: int) -> float:
    """The §7 score from unrounded rates: a null rate earns its full weight; cards deduct at most 20."""
    total = Fraction(0)
    for key, weight in SCORE_WEIGHTS:
        rate = rates[key]
        total += weight * (Fraction(1) if rate is None else rate)
    total -= min(Fraction(20), 2 * red + Fraction(yellow, 2))
    total = min(max(total, Fraction(0)), Fraction(100))
    return round_half_away(total, 2)


def grade_of(score: float) -> str:
    """Grade of the (rounded, published) score."""
    for bound, name in GRADES:
        if score >= bound:
            return name
    return LOWEST_GRADE


def round_half_away(x: Fraction | int | float, places: int) -> float:
    """Round to ``places`` decimals, halves away from zero, exactly (no binary float on the way)."""
    q = Fraction(x) * 10**places
    sign = -1 if q < 0 else 1
    whole = (abs(q.numerator) * 2 + q.denominator) // (2 * q.denominator)
    return float(Fraction(sign * whole, 10**places))


def _as_of_text(as_of: dt.datetime) -> str:
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise SupervisionInputError("as_of must be an aware datetime (with a UTC offset)")
    return as_of.astimezone(ZoneInfo(A.SHANGHAI)).isoformat()
