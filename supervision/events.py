"""The eight supervision rules of §5.4 (监察信号), vectorised over all cases and complaints."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from schemas.standard import SUPERVISION_EVENT_FIELDS
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
# The §8 event fields less the exchange status, plus whether a provisional calendar day is involved.
EVENT_COLUMNS = (*(f for f in SUPERVISION_EVENT_FIELDS if f != "status"), "provisional")


def compute_events(
    data: SupervisionData, as_of: dt.datetime, calendar: WorkCalendar, settings: SupervisionSettings
) -> pd.DataFrame:
    """Every event that holds as of ``as_of`` (one per rule and case or complaint), ordered by event_key."""
    p = Prepared(data, as_of, calendar, settings)
    return events_from(p)


def events_from(p: Prepared) -> pd.DataFrame:
    p.resolve(steps=True, complaints=True)
    columns = _case_events(p, case_rule_hits(p))
    more = _complaint_events(p)
    merged = {k: _concat(columns[k], more[k]) for k in columns}
    order = pc.sort_indices(merged["event_key"]).to_numpy(zero_copy_only=False)
    take = pa.array(order, type=pa.int64())
    out: dict[str, object] = {}
    for k, v in merged.items():
        if isinstance(v, pa.ChunkedArray):
            v = pc.take(v, take)
            # never-null text stays Arrow-backed ``str``; nullable text becomes str / None objects
            out[k] = _objects(v) if k in _NULLABLE else v
        else:
            out[k] = v[order]
    out["event_date"] = to_dates(out["event_date"], p.calendar)
    return A.frame(out, EVENT_COLUMNS)


_NULLABLE = {"power_type", "case_source_system", "case_id", "complaint_id"}


def _concat(a: object, b: object) -> object:
    if isinstance(a, pa.Array):
        return pa.chunked_array([a, b], type=a.type)
    return np.concatenate([a, b])  # type: ignore[list-item]


def case_rule_hits(p: Prepared) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """rule -> (case rows, event day index, provisional) for the case rules, filtered by §5.4."""
    hits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
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
    return hits


def _select(p: Prepared, cond: np.ndarray, day: np.ndarray, prov: np.ndarray) -> tuple[np.ndarray, ...]:
    """Apply the common conditions: event_date ≤ t, and ≤ finish date for WITHDRAWN/TERMINATED."""
    ok = cond & (day <= p.t) & ~(p.cut_off & (day > p.finished))
    rows = np.flatnonzero(ok)
    return rows, day[rows], prov[rows]


def _missing_flow_step(p: Prepared) -> np.ndarray:
    """Per case: some code of the item's flow is absent from the case's steps."""
    present = np.zeros(p.n, dtype=np.int64)
    st = p.ordered_steps
    if st.case.size:
        bits = np.where(st.code >= 0, np.left_shift(1, np.clip(st.code, 0, None)), 0)
        starts = np.flatnonzero(st.first)
        present[st.case[starts]] = np.bitwise_or.reduceat(bits, starts)
    need = p.items.flow_mask[p.item] if p.n else present
    return (need & ~present) != 0


def _first_out_of_order_step(p: Prepared) -> np.ndarray:
    """Per case, the started day of the first step (by step_no) that breaks the flow order or starts
    before its predecessor; -1 when none."""
    out = np.full(p.n, -1, dtype=np.int64)
    st = p.ordered_steps
    if st.case.size == 0:
        return out
    case, code, first = st.case, st.code, st.first
    width = len(A.STEP_CODES)
    flat = p.items.flow_pos.reshape(-1)
    pos = np.where(code >= 0, flat[p.item[case] * width + np.clip(code, 0, None)], -1)
    # running max of the flow position within each case (cases are contiguous: offset per case)
    span = width + 2
    run = np.maximum.accumulate(case * span + pos + 1) - case * span - 1
    prev_run = np.empty_like(run)
    prev_run[0] = -1
    prev_run[1:] = run[:-1]
    prev_run[first] = -1
    bad = (pos >= 0) & (pos < prev_run)
    if p.items.repeating_flows:
        _recheck_repeating_flows(p, case, code, first, bad)
    started = A.instants_us(p.data.steps["started_at"])[st.row]
    back = np.zeros(case.size, dtype=bool)
    back[1:] = started[1:] < started[:-1]
    bad |= back & ~first
    where = np.flatnonzero(bad)
    if where.size == 0:
        return out
    bad_case, first_idx = np.unique(case[where], return_index=True)
    rows = st.row[where[first_idx]]
    days = A.epoch_days(p.data.steps["started_at"].iloc[rows], "steps.started_at")
    out[bad_case] = days - p.calendar.origin
    return out


def _recheck_repeating_flows(
    p: Prepared, case: np.ndarray, code: np.ndarray, first: np.ndarray, bad: np.ndarray
) -> None:
    """Redo the flow-order flags (in place) of the cases whose item's flow names a code twice.

    Such a flow (SL, SH, PZ, SH, BJ) gives a code more than one position. The steps are in order
    when their codes can be matched to non-decreasing positions: each step takes the earliest
    position of its code at or after the previous step's, and is out of order when there is none.
    """
    flows = p.items.repeating_flows
    rows = np.flatnonzero(np.isin(p.item[case], np.fromiter(flows, dtype=np.int64)))
    at = 0
    for row in rows:
        if first[row]:
            at = 0
        bad[row] = False
        c = int(code[row])
        flow = flows[int(p.item[case[row]])]
        if c < 0 or c not in flow:
            continue
        later = [i for i in range(at, len(flow)) if flow[i] == c]
        if later:
            at = later[0]
        else:
            bad[row] = True


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


def _case_events(p: Prepared, hits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, object]:
    """Columns (Arrow text, numpy otherwise) of the case events; event_date still a day index."""
    cases = p.data.cases
    counts = [len(hits[r][0]) for r in CASE_RULES]
    rule_no = np.repeat(np.arange(len(CASE_RULES)), counts)
    rows = np.concatenate([hits[r][0] for r in CASE_RULES]).astype(np.int64)
    take = pa.array(rows, type=pa.int64())
    ss = pc.take(A.text(cases["source_system"]), take)
    cid = pc.take(A.text(cases["case_id"]), take)
    rule = pc.take(pa.array(CASE_RULES, type=pa.large_string()), pa.array(rule_no, type=pa.int64()))
    sep = pa.scalar(":", pa.large_string())
    return {
        "event_key": pc.binary_join_element_wise(rule, ss, cid, sep),
        "rule": rule,
        "card": pc.take(pa.array([CARDS[r] for r in CASE_RULES], type=pa.large_string()), pa.array(rule_no)),
        "event_date": np.concatenate([hits[r][1] for r in CASE_RULES]).astype(np.int64),
        "dept_code": pc.take(A.text(cases["dept_code"]), take),
        "power_type": _power_types(p.power_type[rows]),
        "case_source_system": ss,
        "case_id": cid,
        "complaint_id": pa.nulls(rows.size, pa.large_string()),
        "provisional": np.concatenate([hits[r][2] for r in CASE_RULES]).astype(bool),
    }


def _complaint_events(p: Prepared) -> dict[str, object]:
    comp = p.data.complaints
    c = PreparedComplaints(p.data, p)
    day = c.due + 1
    ok = (c.open | (c.closed_valid & (c.closed >= day))) & (day <= p.t)
    rows = np.flatnonzero(ok)
    take = pa.array(rows, type=pa.int64())
    cid = pc.take(A.text(comp["complaint_id"]), take)
    rule = pa.array(np.full(rows.size, "TS01", dtype=object), type=pa.large_string())
    return {
        "event_key": pc.binary_join_element_wise(rule, cid, pa.scalar(":", pa.large_string())),
        "rule": rule,
        "card": pa.array(np.full(rows.size, CARDS["TS01"], dtype=object), type=pa.large_string()),
        "event_date": day[rows],
        "dept_code": pc.take(A.text(comp["dept_code"]), take),
        "power_type": _power_types(c.power_type[rows]),
        "case_source_system": pc.take(A.text(comp["case_source_system"]), take),
        "case_id": pc.take(A.text(comp["case_id"]), take),
        "complaint_id": cid,
        "provisional": c.due_provisional[rows],
    }


def _power_types(codes: np.ndarray) -> pa.Array:
    names = pa.array(A.POWER_TYPES, type=pa.large_string())
    return pc.take(names, pa.array(np.where(codes >= 0, codes, 0), mask=codes < 0))


def _objects(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Arrow strings -> object array of str / None (what JSON writers and comparisons expect)."""
    return arr.to_numpy(zero_copy_only=False) if len(arr) else np.zeros(0, dtype=object)
