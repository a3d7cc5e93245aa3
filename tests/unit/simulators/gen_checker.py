"""An independent checker of Interface Standard v1 records (§1-§4), written from the standard's text
for the generator's tests; it does not use the generator's code or the project's validators.

``record_problems`` returns the rule families a record breaks (the names the generator's manifest
uses); ``dataset_problems`` checks what only shows across records (keys, references, versions).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import defaultdict
from collections.abc import Iterable

from stdnum.cn import ric, uscc

POWER_TYPES = {"XK", "SP", "CF", "QZ", "ZS", "QR", "CJ", "JC", "GF", "ZY", "JL", "QT"}
STEP_CODES = {"SL", "SH", "PZ", "BJ", "SD", "LA", "DC", "GZ", "TZ", "JD", "ZX", "TB", "BZ"}
MONEY = re.compile(r"^(0|[1-9]\d{0,12})(\.\d{1,2})?$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$")
CASE_ID = re.compile(r"^[A-Za-z0-9-]{6,40}$")
POWER_CODE = re.compile(r"^(XK|SP|CF|QZ|ZS|QR|CJ|JC|GF|ZY|JL|QT)320481\d{3}\d{4}\d{3}$")

# field -> (kind, nullable); kinds: str, code:<set>, int, money, datetime, flow, uscc
C = "code"
SCHEMAS: dict[str, dict[str, tuple]] = {
    "department": {
        "dept_code": ("uscc", False),
        "name": ("str", False),
        "source_system": ("str", False),
        "version": ("int", False),
        "updated_at": ("datetime", False),
    },
    "power_item": {
        "power_code": ("power_code", False),
        "name": ("str", False),
        "power_type": (C, False, POWER_TYPES),
        "dept_code": ("uscc", False),
        "legal_basis": ("str", False),
        "legal_limit": ("int", True),
        "promised_limit": ("int", False),
        "time_unit": (C, False, {"WD", "CD"}),
        "fee": ("money", True),
        "penalty_min": ("money", True),
        "penalty_max": ("money", True),
        "flow": ("flow", False),
        "state": (C, False, {"A", "T", "X"}),
        "source_system": ("str", False),
        "version": ("int", False),
        "updated_at": ("datetime", False),
    },
    "case": {
        "source_system": ("str", False),
        "case_id": ("case_id", False),
        "power_code": ("power_code", False),
        "dept_code": ("uscc", False),
        "applicant_type": (C, False, {"1", "2"}),
        "applicant_name": ("str", False),
        "applicant_id_type": (C, False, {"SFZ", "USCC", "HZ", "GAT", "QT"}),
        "applicant_id_no": ("str", False),
        "channel": (C, False, {"1", "2", "3", "4", "9"}),
        "received_at": ("datetime", False),
        "promised_limit": ("int", False),
        "status": (C, False, {"IN_PROGRESS", "COMPLETED", "WITHDRAWN", "TERMINATED"}),
        "finished_at": ("datetime", True),
        "result": (C, True, {"GRANTED", "PARTIAL", "DENIED"}),
        "result_note": ("str", True),
        "fee_paid": ("money", False),
        "relief_reason": ("str", True),
        "penalty_amount": ("money", True),
        "satisfaction": (C, True, {"S", "B", "U"}),
        "version": ("int", False),
        "updated_at": ("datetime", False),
    },
    "case_step": {
        "source_system": ("str", False),
        "case_id": ("case_id", False),
        "step_no": ("int", False),
        "step_code": (C, False, STEP_CODES),
        "handler_id": ("str", False),
        "handler_name": ("str", False),
        "started_at": ("datetime", False),
        "finished_at": ("datetime", True),
        "opinion": ("str", True),
        "version": ("int", False),
        "updated_at": ("datetime", False),
    },
    "complaint": {
        "complaint_id": ("str", False),
        "case_source_system": ("str", True),
        "case_id": ("str", True),
        "dept_code": ("uscc", False),
        "received_at": ("datetime", False),
        "status": (C, False, {"OPEN", "CLOSED"}),
        "closed_at": ("datetime", True),
        "result": (C, True, {"SUBSTANTIATED", "PARTIAL", "UNFOUNDED"}),
        "content": ("str", False),
        "source_system": ("str", False),
        "version": ("int", False),
        "updated_at": ("datetime", False),
    },
}
KEYS = {
    "department": ("dept_code",),
    "power_item": ("power_code",),
    "case": ("source_system", "case_id"),
    "case_step": ("source_system", "case_id", "step_no"),
    "complaint": ("complaint_id",),
}


def ric_ok(number: str) -> bool:
    """GB 11643 check digit and a real birth date (the area code is not checked, §2)."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    if ric.calc_check_digit(number) != number[-1]:
        return False
    try:
        ric.get_birth_date(number)
    except Exception:
        return False
    return True


def instant(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s)


def local_date(s: str) -> dt.date:
    return instant(s).astimezone(dt.timezone(dt.timedelta(hours=8))).date()


def money_cents(s: str) -> int:
    whole, _, frac = s.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def _field_problems(entity: str, rec: dict) -> set[str]:
    out: set[str] = set()
    schema = SCHEMAS[entity]
    if set(rec) - set(schema):
        out.add("EXTRA_FIELD")
    for f, spec in schema.items():
        kind, nullable = spec[0], spec[1]
        if f not in rec:
            if not nullable:
                out.add("MISSING_FIELD")
            continue
        v = rec[f]
        if v is None:
            if not nullable:
                out.add("MISSING_FIELD")
            continue
        if kind == "int":
            if not isinstance(v, int) or isinstance(v, bool) or v < (1 if f in ("version", "step_no") else 0):
                out.add("FORMAT")
        elif kind == "money":
            if not isinstance(v, str) or not MONEY.match(v):
                out.add("MONEY_FORMAT")
        elif kind == "datetime":
            if not isinstance(v, str):
                out.add("FORMAT")
            elif NAIVE.match(v):
                out.add("NAIVE_DATETIME")
            elif not DATETIME.match(v):
                out.add("FORMAT")
        elif kind == C:
            if v not in spec[2]:
                out.add("BAD_CODE")
        elif kind == "uscc":
            if not isinstance(v, str) or not uscc.is_valid(v) or len(v) != 18:
                out.add("ID_CHECKDIGIT")
        elif kind == "case_id":
            if not isinstance(v, str) or not CASE_ID.match(v):
                out.add("FORMAT")
        elif kind == "power_code":
            if not isinstance(v, str) or not POWER_CODE.match(v):
                out.add("FORMAT")
        elif kind == "flow":
            if (
                not isinstance(v, list)
                or not 1 <= len(v) <= 12
                or any(c not in STEP_CODES or c in ("TB", "BZ") for c in v)
            ):
                out.add("FORMAT")
        elif kind == "str":
            if not isinstance(v, str) or not v.strip():
                out.add("FORMAT")
    return out


def record_problems(entity: str, rec: dict, items: dict[str, dict], depts: set[str]) -> set[str]:
    """Rule families that ``rec`` breaks, given the catalogue (power items by code, department codes)."""
    out = _field_problems(entity, rec)
    if out & {"MISSING_FIELD", "NAIVE_DATETIME", "FORMAT"}:
        return out  # the rules below need well-formed fields
    if entity == "power_item":
        if rec["power_code"][:2] != rec["power_type"]:
            out.add("FORMAT")
        if rec["dept_code"] not in depts:
            out.add("UNKNOWN_DEPT")
        if rec["legal_limit"] is not None and rec["promised_limit"] > rec["legal_limit"]:
            out.add("PROMISE_ABOVE_LEGAL")
        pmin, pmax = rec["penalty_min"], rec["penalty_max"]
        if (pmin is None) != (pmax is None):
            out.add("REQUIRED_IFF")
        elif pmin is not None and money_cents(pmin) > money_cents(pmax):
            out.add("PENALTY_RANGE")
    elif entity == "case":
        item = items.get(rec["power_code"])
        if item is None:
            out.add("UNKNOWN_POWER")
        else:
            if rec["dept_code"] != item["dept_code"]:
                out.add("DEPT_MISMATCH")
            if rec["promised_limit"] > item["promised_limit"]:
                out.add("PROMISE_ABOVE_ITEM")
            if item["state"] != "A":
                out.add("ITEM_STATE")
            if rec.get("penalty_amount") is not None and item["power_type"] != "CF":
                out.add("REQUIRED_IFF")
        if rec["dept_code"] not in depts:
            out.add("UNKNOWN_DEPT")
        idt, idn = rec["applicant_id_type"], rec["applicant_id_no"]
        if (idt == "SFZ" and not ric_ok(idn)) or (idt == "USCC" and not (len(idn) == 18 and uscc.is_valid(idn))):
            out.add("ID_CHECKDIGIT")
        done = rec["status"] != "IN_PROGRESS"
        if done != (rec.get("finished_at") is not None):
            out.add("REQUIRED_IFF")
        if (rec["status"] == "COMPLETED") != (rec.get("result") is not None):
            out.add("REQUIRED_IFF")
        if rec.get("satisfaction") is not None and rec["status"] != "COMPLETED":
            out.add("REQUIRED_IFF")
        if rec.get("finished_at") and instant(rec["finished_at"]) < instant(rec["received_at"]):
            out.add("TIME_ORDER")
    elif entity == "case_step":
        if rec.get("finished_at") and instant(rec["finished_at"]) < instant(rec["started_at"]):
            out.add("TIME_ORDER")
    elif entity == "complaint":
        closed = rec["status"] == "CLOSED"
        if closed != (rec.get("closed_at") is not None) or closed != (rec.get("result") is not None):
            out.add("REQUIRED_IFF")
        if (rec.get("case_id") is None) != (rec.get("case_source_system") is None):
            out.add("REQUIRED_IFF")
        if rec["dept_code"] not in depts:
            out.add("UNKNOWN_DEPT")
        if rec.get("closed_at") and instant(rec["closed_at"]) < instant(rec["received_at"]):
            out.add("TIME_ORDER")
    return out


def key_of(entity: str, rec: dict) -> tuple:
    return tuple(rec.get(f) for f in KEYS[entity])


def version_traffic(entity: str, stream: Iterable[dict]) -> dict[str, list]:
    """Replays records in arrival order the way §4 accounts them: loaded, duplicate, stale, conflict."""
    stored: dict[tuple, dict] = {}
    out: dict[str, list] = defaultdict(list)
    for rec in stream:
        k = key_of(entity, rec)
        old = stored.get(k)
        if old is None or rec["version"] > old["version"]:
            stored[k] = rec
            out["loaded"].append(k)
        elif rec["version"] < old["version"]:
            out["stale"].append(k)
        elif rec == old:
            out["duplicate"].append(k)
        else:
            out["conflict"].append(k)
    out["latest"] = list(stored.values())
    return out


# --------------------------------------------------------------------------------------------------
# Day counting of §5.2, straight from the text (slow and simple)


@functools.cache
def is_workday(d: dt.date) -> bool:
    import chinese_calendar

    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError:
        return d.weekday() < 5


def deadline_and_elapsed(case: dict, item: dict, steps: list[dict], as_of: dt.date) -> tuple[dt.date, int | None]:
    """(deadline_date, elapsed(finish date) or None when not finished) of a case."""
    suspended: set[dt.date] = set()
    for s in steps:
        if s["step_code"] in ("TB", "BZ"):
            a = local_date(s["started_at"])
            b = local_date(s["finished_at"]) if s.get("finished_at") else as_of
            d = a + dt.timedelta(days=1)
            while d <= b:
                suspended.add(d)
                d += dt.timedelta(days=1)

    def countable(d: dt.date) -> bool:
        return (item["time_unit"] == "CD" or is_workday(d)) and d not in suspended

    r = local_date(case["received_at"])
    d, k = r, 0
    while k < case["promised_limit"]:
        d += dt.timedelta(days=1)
        k += countable(d)
    elapsed = None
    if case.get("finished_at"):
        f = local_date(case["finished_at"])
        elapsed = sum(countable(r + dt.timedelta(days=i)) for i in range(1, (f - r).days + 1))
    return d, elapsed
