"""A plain per-case reading of §5 and §7, one Python loop per case and day.

It is the executable form of the standard's text, kept deliberately naive: the tests check the
vectorised engine against it on generated data, and the benchmark uses it as the baseline.
It is far too slow for production use.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from supervision.calendar import WorkCalendar
from supervision.events import CARDS
from supervision.model import SupervisionData, SupervisionSettings

SH = ZoneInfo("Asia/Shanghai")
ONE = dt.timedelta(days=1)
POWER_TYPES = ("XK", "SP", "CF", "QZ", "ZS", "QR", "CJ", "JC", "GF", "ZY", "JL", "QT")


def _day(x: Any) -> dt.date | None:
    if x is None or x is pd.NaT or (isinstance(x, float) and x != x):
        return None
    return x.astimezone(SH).date()


def _none(x: Any) -> Any:
    return None if x is None or (isinstance(x, float) and x != x) or x is pd.NA else x


def _money(x: Any) -> Decimal | None:
    x = _none(x)
    return None if x is None or str(x).strip() == "" else Decimal(str(x))


def _blank(x: Any) -> bool:
    x = _none(x)
    return x is None or str(x).strip() == ""


class _Case:
    """One case with its item and steps, answering the §5.2 questions by walking day by day."""

    def __init__(self, rec: dict, item: dict, steps: list[dict], t: dt.date, cal: WorkCalendar) -> None:
        self.rec, self.item, self.cal = rec, item, cal
        self.steps = sorted(steps, key=lambda s: s["step_no"])
        self.r = _day(rec["received_at"])
        self.f = _day(rec["finished_at"])
        self.cd = item["time_unit"] == "CD"
        self.limit = int(rec["promised_limit"])
        self.status = rec["status"]
        raw = []
        for s in steps:
            if s["step_code"] in ("TB", "BZ"):
                start = max(_day(s["started_at"]), self.r)
                end = _day(s["finished_at"]) or t
                if end > start:
                    raw.append([start, end])
        raw.sort()
        merged: list[list[dt.date]] = []
        for s, e in raw:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        self.suspended = merged

    def countable(self, d: dt.date) -> bool:
        if any(s < d <= e for s, e in self.suspended):
            return False
        return self.cd or self.cal.is_workday(d)

    def nth(self, k: int) -> dt.date:
        d, seen = self.r, 0
        while seen < k:
            d += ONE
            if self.countable(d):
                seen += 1
        return d

    def elapsed(self, x: dt.date) -> int:
        n, d = 0, self.r
        while d < x:
            d += ONE
            n += self.countable(d)
        return n

    def provisional(self, upto: dt.date | None) -> bool:
        if self.cd or upto is None:
            return False
        d = self.r
        while d < upto:
            d += ONE
            if self.cal.is_provisional(d):
                return True
        return False

    def open_on(self, x: dt.date) -> bool:
        return self.status == "IN_PROGRESS" or (self.f is not None and self.f >= x)

    @property
    def deadline(self) -> dt.date:
        return self.nth(self.limit)


def _load(data: SupervisionData, as_of: dt.datetime, cal: WorkCalendar):
    t = as_of.astimezone(SH).date()
    items = {r["power_code"]: r for r in data.power_items.to_dict("records")}
    versions: dict[str, list[dict]] = defaultdict(list)
    if data.power_item_versions is not None:
        for r in sorted(data.power_item_versions.to_dict("records"), key=lambda r: (r["valid_from_at"], r["version"])):
            versions[r["power_code"]].append(r)
    steps: dict[tuple, list[dict]] = defaultdict(list)
    for s in data.steps.to_dict("records"):
        steps[(s["source_system"], s["case_id"])].append(s)
    cases = []
    for rec in data.cases.to_dict("records"):
        key = (rec["source_system"], rec["case_id"])
        known = versions.get(rec["power_code"])
        if known:  # the version in force when the case was received, else the earliest known
            in_force = [v for v in known if v["valid_from_at"] <= rec["received_at"]]
            item = in_force[-1] if in_force else known[0]
        else:
            item = items[rec["power_code"]]
        cases.append(_Case(rec, item, steps.get(key, []), t, cal))
    return t, items, cases


def reference_events(
    data: SupervisionData, as_of: dt.datetime, calendar: WorkCalendar, settings: SupervisionSettings
) -> list[dict[str, Any]]:
    """Every event as a dict (event_key, rule, card, event_date, dept_code, power_type, provisional)."""
    t, items, cases = _load(data, as_of, calendar)
    out = []
    for c in cases:
        out += _case_events(c, t, settings)
    case_type = {(c.rec["source_system"], c.rec["case_id"]): c.item["power_type"] for c in cases}
    for rec in data.complaints.to_dict("records"):
        due, prov = _complaint_due(rec, calendar, settings)
        day = due + ONE
        closed = _day(rec["closed_at"])
        if (rec["status"] == "OPEN" or (closed is not None and closed >= day)) and day <= t:
            out.append(
                {
                    "event_key": f"TS01:{rec['complaint_id']}",
                    "rule": "TS01",
                    "card": CARDS["TS01"],
                    "event_date": day,
                    "dept_code": rec["dept_code"],
                    "power_type": case_type.get((_none(rec["case_source_system"]), _none(rec["case_id"]))),
                    "provisional": prov,
                }
            )
    return sorted(out, key=lambda e: e["event_key"])


def _complaint_due(rec: dict, cal: WorkCalendar, settings: SupervisionSettings) -> tuple[dt.date, bool]:
    d, seen, prov = _day(rec["received_at"]), 0, False
    while seen < settings.complaint_limit_workdays:
        d += ONE
        prov |= cal.is_provisional(d)
        if cal.is_workday(d):
            seen += 1
    return d, prov


def _case_events(c: _Case, t: dt.date, settings: SupervisionSettings) -> list[dict[str, Any]]:
    rec, item = c.rec, c.item
    found: list[tuple[str, dt.date, bool]] = []
    w = c.nth(max(c.limit - settings.warn_days, 0))
    if c.open_on(w):
        found.append(("SX01", w, c.provisional(w)))
    dl = c.deadline
    if c.open_on(dl + ONE):
        found.append(("SX02", dl + ONE, c.provisional(dl)))
    completed = rec["status"] == "COMPLETED"
    codes = {s["step_code"] for s in c.steps}
    if completed and any(code not in codes for code in item["flow"]):
        found.append(("LC01", c.f, False))
    flow = list(item["flow"])
    top, prev_start = 0, None
    for s in c.steps:
        # a code the flow names twice has two positions: the step takes the first one not behind
        # the previous step's (none: out of order)
        positions = [i for i, code in enumerate(flow) if code == s["step_code"]]
        ahead = [i for i in positions if i >= top]
        if (positions and not ahead) or (prev_start is not None and s["started_at"] < prev_start):
            found.append(("LC02", _day(s["started_at"]), False))
            break
        if ahead:
            top = ahead[0]
        prev_start = s["started_at"]
    if _none(rec["result"]) == "DENIED" and _blank(rec["result_note"]):
        found.append(("LC03", c.f, False))
    if completed:
        fee, paid = _money(item["fee"]), _money(rec["fee_paid"]) or Decimal(0)
        if (fee is None and paid > 0) or (
            fee is not None and (paid > fee or (paid < fee and _blank(rec["relief_reason"])))
        ):
            found.append(("NR01", c.f, False))
        amount, lo, hi = _money(rec["penalty_amount"]), _money(item["penalty_min"]), _money(item["penalty_max"])
        if amount is not None and lo is not None and hi is not None and not lo <= amount <= hi:
            found.append(("CL01", c.f, False))
    out = []
    for rule, day, prov in found:
        if day is None or day > t:
            continue
        if rec["status"] in ("WITHDRAWN", "TERMINATED") and day > c.f:
            continue
        out.append(
            {
                "event_key": f"{rule}:{rec['source_system']}:{rec['case_id']}",
                "rule": rule,
                "card": CARDS[rule],
                "event_date": day,
                "dept_code": rec["dept_code"],
                "power_type": item["power_type"],
                "provisional": prov,
            }
        )
    return out


def reference_deadlines(
    data: SupervisionData, as_of: dt.datetime, calendar: WorkCalendar, settings: SupervisionSettings
) -> list[dict[str, Any]]:
    _, _, cases = _load(data, as_of, calendar)
    out = []
    for c in cases:
        dl = c.deadline
        done = c.status == "COMPLETED"
        out.append(
            {
                "source_system": c.rec["source_system"],
                "case_id": c.rec["case_id"],
                "received_date": c.r,
                "deadline_date": dl,
                "finish_date": c.f,
                "on_time": (c.f <= dl) if done else None,
                "early": (c.elapsed(c.f) < c.limit) if done else None,
                "overdue": (c.f > dl) if done else None,
                "provisional": c.provisional(dl) or (done and c.provisional(c.f)),
            }
        )
    return out


def reference_statistics(
    data: SupervisionData,
    events: list[dict[str, Any]],
    period_from: dt.date,
    period_to: dt.date,
    as_of: dt.datetime,
    calendar: WorkCalendar,
    settings: SupervisionSettings,
) -> dict[str, Any]:
    """§7 by loops; the shaping of rows (rates, score, grade) is shared with the engine."""
    from supervision.statistics import REGION, STANDARD_VERSION, _as_of_text, _metrics, _public, _with_score

    t, items, cases = _load(data, as_of, calendar)
    e = min(period_to, t)
    depts = sorted(data.departments.to_dict("records"), key=lambda d: d["dept_code"])
    zero = dict.fromkeys(
        (
            "received",
            "completed",
            "on_time",
            "early",
            "overdue",
            "denied",
            "open_at_end",
            "open_overdue",
            "yellow_cards",
            "red_cards",
            "complaints",
            "complaints_substantiated",
            "rated",
            "rated_points",
            "process_bad",
            "content_bad",
            "complaints_closed",
            "complaints_closed_on_time",
        ),
        0,
    )
    groups: dict[Any, dict[str, int]] = defaultdict(lambda: dict(zero))

    def bump(dept: str | None, ptype: str | None, name: str, by: int = 1) -> None:
        for g in (("D", dept), ("T", ptype), ("ALL", None)):
            if g[0] != "ALL" and g[1] is None:
                continue
            groups[g][name] += by

    flagged: dict[tuple, set[str]] = defaultdict(set)
    for ev in events:
        if ev["rule"] != "TS01":
            flagged[tuple(ev["event_key"].split(":", 1)[1].split(":", 1))].add(ev["rule"])
        if period_from <= ev["event_date"] <= e:
            bump(ev["dept_code"], ev["power_type"], "yellow_cards" if ev["card"] == "YELLOW" else "red_cards")
    for c in cases:
        rec, dept, ptype = c.rec, c.rec["dept_code"], c.item["power_type"]
        if period_from <= c.r <= e:
            bump(dept, ptype, "received")
        dl = c.deadline
        if rec["status"] == "COMPLETED" and period_from <= c.f <= e:
            bump(dept, ptype, "completed")
            if c.f <= dl:
                bump(dept, ptype, "on_time")
            else:
                bump(dept, ptype, "overdue")
            if c.elapsed(c.f) < c.limit:
                bump(dept, ptype, "early")
            if _none(rec["result"]) == "DENIED":
                bump(dept, ptype, "denied")
            sat = _none(rec["satisfaction"])
            if sat in ("S", "B", "U"):
                bump(dept, ptype, "rated")
                bump(dept, ptype, "rated_points", {"S": 2, "B": 1, "U": 0}[sat])
            rules = flagged.get((rec["source_system"], rec["case_id"]), set())
            if rules & {"LC01", "LC02"}:
                bump(dept, ptype, "process_bad")
            if rules & {"NR01", "CL01", "LC03"}:
                bump(dept, ptype, "content_bad")
        if c.r <= e and c.open_on(e + ONE):
            bump(dept, ptype, "open_at_end")
            if dl < e:
                bump(dept, ptype, "open_overdue")
    case_type = {(c.rec["source_system"], c.rec["case_id"]): c.item["power_type"] for c in cases}
    for rec in data.complaints.to_dict("records"):
        ptype = case_type.get((_none(rec["case_source_system"]), _none(rec["case_id"])))
        r, closed = _day(rec["received_at"]), _day(rec["closed_at"])
        if period_from <= r <= e:
            bump(rec["dept_code"], ptype, "complaints")
            if _none(rec["result"]) in ("SUBSTANTIATED", "PARTIAL"):
                bump(rec["dept_code"], ptype, "complaints_substantiated")
        if closed is not None and period_from <= closed <= e:
            bump(rec["dept_code"], ptype, "complaints_closed")
            if closed <= _complaint_due(rec, calendar, settings)[0]:
                bump(rec["dept_code"], ptype, "complaints_closed_on_time")
    return {
        "standard_version": STANDARD_VERSION,
        "region": REGION,
        "period": {"from": period_from.isoformat(), "to": period_to.isoformat()},
        "as_of": _as_of_text(as_of),
        "departments": [
            {
                "dept_code": d["dept_code"],
                "dept_name": d["name"],
                **_with_score(_metrics(groups[("D", d["dept_code"])])),
            }
            for d in depts
        ],
        "power_types": [{"power_type": pt, **_public(_metrics(groups[("T", pt)]))} for pt in POWER_TYPES],
        "total": _with_score(_metrics(groups[("ALL", None)])),
    }


__all__ = ["reference_deadlines", "reference_events", "reference_statistics"]
