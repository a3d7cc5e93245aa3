"""The eight supervision rules of §5.4 (监察信号), vectorised over all cases and complaints."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from supervision import arrays as A
from supervision.calendar import WorkCalendar
from supervision.daycount import to_dates
from supervision.model import SupervisionData, SupervisionSettings
from supervision.prepared import Prepared, PreparedComplaints

CARDS = {
    "SX01": "YELLOW",  # 即将到期
    "SX02": "RED",  # 超期
    "LC01": "RED",  # 缺少必经环节
    "LC02": "RED",  # 环节顺序异常
    "LC03": "YELLOW",  # 不予未说明理由
    "NR01": "RED",  # 收费不符
    "CL01": "RED",  # 裁量越界
    "TS01": "YELLOW",  # 投诉逾期
}
CASE_RULES = ("SX01", "SX02", "LC01", "LC02", "LC03", "NR01", "CL01")
EVENT_COLUMNS = (
    "event_key",
    "rule",
    "card",
    "event_date",
    "dept_code",
    "power_type",
    "case_source_system",
    "case_id",
    "complaint_id",
    "provisional",
)


def compute_events(
    data: SupervisionData, as_of: dt.datetime, calendar: WorkCalendar, settings: SupervisionSettings
) -> pd.DataFrame:
    """Every event that holds as of ``as_of`` (one per rule and case or complaint), ordered by event_key."""
    p = Prepared(data, as_of, calendar, settings)
    return events_from(p)


def events_from(p: Prepared) -> pd.DataFrame:
    found = case_rule_hits(p)
    frames = [_case_events(p, found)]
    frames.append(_complaint_events(p))
    out = pd.concat([f for f in frames if len(f)] or [frames[0]], ignore_index=True)
    return out.sort_values("event_key", kind="stable", ignore_index=True)


def case_rule_hits(p: Prepared) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """rule -> (case rows, event day index, provisional) for the case rules, filtered by §5.4."""
    hits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    rows = np.arange(p.n)
    no = np.zeros(p.n, dtype=bool)

    warn = p.counter.nth(np.maximum(p.limit - p.settings.warn_days, 0))
    hits["SX01"] = _select(p, p.open_on(warn), warn, p.counter.provisional(p.received, warn))

    overdue_day = p.deadline + 1
    hits["SX02"] = _select(p, p.open_on(overdue_day), overdue_day, p.deadline_provisional)

    hits["LC01"] = _select(p, p.completed & _missing_flow_step(p), p.finished, no)

    first_bad = _first_out_of_order_step(p)
    hits["LC02"] = _select(p, first_bad >= 0, first_bad, no)

    result = A.codes(p.data.cases["result"], ("GRANTED", "PARTIAL", "DENIED"))
    denied = (result == 2) & p.finished_valid
    hits["LC03"] = _select(p, denied & A.blank(p.data.cases["result_note"]), p.finished, no)

    hits["NR01"] = _select(p, p.completed & _fee_mismatch(p), p.finished, no)
    hits["CL01"] = _select(p, p.completed & _penalty_out_of_range(p), p.finished, no)
    del rows
    return hits


def _select(p: Prepared, cond: np.ndarray, day: np.ndarray, prov: np.ndarray) -> tuple[np.ndarray, ...]:
    """Apply the common conditions: event_date ≤ t, and ≤ finish date for WITHDRAWN/TERMINATED."""
    ok = cond & (day <= p.t) & ~(p.cut_off & (day > p.finished))
    rows = np.flatnonzero(ok)
    return rows, day[rows], prov[rows]


def _missing_flow_step(p: Prepared) -> np.ndarray:
    present = np.zeros(p.n, dtype=np.int64)
    case, code = p.step_case, p.step_code
    ok = (case >= 0) & (code >= 0)
    np.bitwise_or.at(present, case[ok], np.left_shift(1, code[ok]))
    need = p.items.flow_mask[p.item] if p.n else present
    return (need & ~present) != 0


def _first_out_of_order_step(p: Prepared) -> np.ndarray:
    """Per case, the started day of the first step (by step_no) that breaks the flow order or starts
    before its predecessor; -1 when none."""
    out = np.full(p.n, -1, dtype=np.int64)
    steps = p.data.steps
    case = p.step_case
    keep = case >= 0
    if not keep.any():
        return out
    case = case[keep]
    code = p.step_code[keep]
    step_no = A.int_column(steps["step_no"], "steps.step_no")[keep]
    started = A.instants_us(steps["started_at"])[keep]
    order = np.lexsort((step_no, case))
    case, code, started = case[order], code[order], started[order]
    item = p.item[case]
    pos = np.where(code >= 0, p.items.flow_pos[item, np.clip(code, 0, None)], -1)
    width = len(A.STEP_CODES) + 2
    run = np.maximum.accumulate(case * width + pos + 1) - case * width - 1
    first = np.ones(case.size, dtype=bool)
    first[1:] = case[1:] != case[:-1]
    prev_run = np.empty_like(run)
    prev_run[0] = -1
    prev_run[1:] = run[:-1]
    prev_run[first] = -1
    bad = (pos >= 0) & (pos < prev_run)
    prev_start = np.empty_like(started)
    prev_start[0] = started[0]
    prev_start[1:] = started[:-1]
    bad |= ~first & (started < prev_start)
    where = np.flatnonzero(bad)
    if where.size == 0:
        return out
    bad_case, first_idx = np.unique(case[where], return_index=True)
    sel = where[first_idx]
    started_days = A.epoch_days(steps["started_at"], "steps.started_at")[keep][order][sel]
    out[bad_case] = started_days - p.calendar.origin
    return out


def _fee_mismatch(p: Prepared) -> np.ndarray:
    cases = p.data.cases
    paid, has_paid = A.money_cents(cases["fee_paid"], "cases.fee_paid")
    paid = np.where(has_paid, paid, 0)
    fee = p.items.fee[p.item] if p.n else paid
    has_fee = p.items.has_fee[p.item] if p.n else has_paid
    no_relief = A.blank(cases["relief_reason"])
    return (~has_fee & (paid > 0)) | (has_fee & (paid > fee)) | (has_fee & (paid < fee) & no_relief)


def _penalty_out_of_range(p: Prepared) -> np.ndarray:
    amount, has_amount = A.money_cents(p.data.cases["penalty_amount"], "cases.penalty_amount")
    if p.n == 0:
        return has_amount
    it = p.items
    lo, hi, ranged = it.pmin[p.item], it.pmax[p.item], it.has_range[p.item]
    return has_amount & ranged & ((amount < lo) | (amount > hi))


def _case_events(p: Prepared, hits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> pd.DataFrame:
    cases = p.data.cases
    rule = np.concatenate([np.full(len(hits[r][0]), r, dtype=object) for r in CASE_RULES])
    rows = np.concatenate([hits[r][0] for r in CASE_RULES]).astype(np.int64)
    day = np.concatenate([hits[r][1] for r in CASE_RULES]).astype(np.int64)
    prov = np.concatenate([hits[r][2] for r in CASE_RULES]).astype(bool)
    ss = pc.take(A.text(cases["source_system"]), pa.array(rows))
    cid = pc.take(A.text(cases["case_id"]), pa.array(rows))
    rule_arr = pa.array(rule, type=pa.large_string())
    sep = pa.scalar(":", pa.large_string())
    key = pc.binary_join_element_wise(rule_arr, ss, cid, sep)
    ptype = np.array(A.POWER_TYPES + (None,), dtype=object)[p.power_type[rows]] if rows.size else np.zeros(0, object)
    return A.frame(
        {
            "event_key": _objects(key),
            "rule": rule,
            "card": np.array([CARDS[r] for r in CASE_RULES], dtype=object)[
                np.repeat(np.arange(len(CASE_RULES)), [len(hits[r][0]) for r in CASE_RULES])
            ],
            "event_date": to_dates(day, p.calendar),
            "dept_code": _objects(pc.take(A.text(cases["dept_code"]), pa.array(rows))),
            "power_type": ptype,
            "case_source_system": _objects(ss),
            "case_id": _objects(cid),
            "complaint_id": np.full(rows.size, None, dtype=object),
            "provisional": prov,
        },
        EVENT_COLUMNS,
    )


def _complaint_events(p: Prepared) -> pd.DataFrame:
    comp = p.data.complaints
    c = PreparedComplaints(p.data, p)
    day = c.due + 1
    ok = (c.open | (c.closed_valid & (c.closed >= day))) & (day <= p.t)
    rows = np.flatnonzero(ok)
    cid = pc.take(A.text(comp["complaint_id"]), pa.array(rows, type=pa.int64()))
    key = pc.binary_join_element_wise(pa.scalar("TS01", pa.large_string()), cid, pa.scalar(":", pa.large_string()))
    ptype = np.array(A.POWER_TYPES + (None,), dtype=object)[c.power_type[rows]] if rows.size else np.zeros(0, object)
    return A.frame(
        {
            "event_key": _objects(key),
            "rule": np.full(rows.size, "TS01", dtype=object),
            "card": np.full(rows.size, CARDS["TS01"], dtype=object),
            "event_date": to_dates(day[rows], p.calendar),
            "dept_code": _objects(pc.take(A.text(comp["dept_code"]), pa.array(rows, type=pa.int64()))),
            "power_type": ptype,
            "case_source_system": _objects(
                pc.take(A.text(comp["case_source_system"]), pa.array(rows, type=pa.int64()))
            ),
            "case_id": _objects(pc.take(A.text(comp["case_id"]), pa.array(rows, type=pa.int64()))),
            "complaint_id": _objects(cid),
            "provisional": c.due_provisional[rows],
        },
        EVENT_COLUMNS,
    )


def _objects(arr: pa.Array) -> np.ndarray:
    """Arrow strings -> object array of str / None (what JSON writers and comparisons expect)."""
    return arr.to_numpy(zero_copy_only=False) if len(arr) else np.zeros(0, dtype=object)
