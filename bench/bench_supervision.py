"""Benchmark of the supervision engine on generated data.

Generates N cases (default 1,000,000) with about 5 steps each, complaints and a catalogue, then times:

* ``compute_events`` over everything (all eight rules),
* ``compute_statistics`` for one period (October 2026),

against the per-case pure-Python reading of the standard (``supervision.reference``) run in the
same process on a random sample of cases and extrapolated linearly to N (the per-case work does not
depend on N). The sample's events and statistics inputs are also compared with the engine's.

    uv run --frozen python bench/bench_supervision.py [--cases 1000000] [--sample 4000] [--seed 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import resource
import sys
import time

import numpy as np
import pandas as pd
import pyarrow as pa

from supervision import (
    SupervisionData,
    SupervisionSettings,
    WorkCalendar,
    case_deadlines,
    compute_events,
    compute_statistics,
)
from supervision.reference import reference_events, reference_statistics

CST = dt.timezone(dt.timedelta(hours=8))
AS_OF = dt.datetime(2026, 11, 28, 18, 0, tzinfo=CST)
PERIOD = (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
TYPES = np.array(["XK", "SP", "CF", "QZ", "ZS", "QR", "CJ", "JC", "GF", "ZY", "JL", "QT"])
FLOWS = [["SL", "SH", "PZ", "BJ"], ["SL", "SH", "BJ"], ["LA", "DC", "GZ", "JD", "ZX"], ["SL", "SH", "PZ", "BJ", "SD"]]
ALL_CODES = np.array(["SL", "SH", "PZ", "BJ", "SD", "LA", "DC", "GZ", "TZ", "JD", "ZX", "TB", "BZ"])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def text(values: np.ndarray | pa.Array) -> pd.Series:
    arr = values if isinstance(values, pa.Array) else pa.array(values, type=pa.large_string())
    return pd.Series(arr.to_pandas(types_mapper=lambda t: pd.StringDtype("pyarrow", na_value=np.nan)))


def instants(seconds: np.ndarray, missing: np.ndarray | None = None) -> pd.Series:
    s = pd.Series(pd.to_datetime(seconds, unit="s", utc=True)).dt.tz_convert("Asia/Shanghai")
    if missing is not None:
        s[missing] = pd.NaT
    return s


def money(cents: np.ndarray, missing: np.ndarray) -> pd.Series:
    yuan = cents // 100
    frac = cents % 100
    out = np.char.add(np.char.add(yuan.astype(str), "."), np.char.zfill(frac.astype(str), 2)).astype(object)
    out[missing] = None
    return text(out)


def generate(n_cases: int, seed: int) -> SupervisionData:
    rng = np.random.default_rng(seed)
    n_dept, n_items = 60, 3000
    dept_codes = np.array([f"113204814660{i:05d}X" for i in range(n_dept)])
    departments = pd.DataFrame(
        {"dept_code": text(dept_codes), "name": text(np.array([f"部门{i}" for i in range(n_dept)]))}
    )

    it_type = TYPES[rng.integers(0, 12, n_items)]
    it_dept = rng.integers(0, n_dept, n_items)
    it_cd = rng.random(n_items) < 0.2
    it_limit = rng.integers(1, 31, n_items)
    it_fee_missing = rng.random(n_items) < 0.7
    it_fee = np.where(it_fee_missing, 0, rng.integers(0, 50, n_items) * 1000)
    it_cf = it_type == "CF"
    it_flow = rng.integers(0, len(FLOWS), n_items)
    power_items = pd.DataFrame(
        {
            "power_code": text(
                np.array([f"{t}320481{d:03d}{i:04d}000" for i, (t, d) in enumerate(zip(it_type, it_dept, strict=True))])
            ),
            "name": text(np.array([f"事项{i}" for i in range(n_items)])),
            "power_type": text(it_type),
            "dept_code": text(dept_codes[it_dept]),
            "legal_limit": it_limit * 2,
            "promised_limit": it_limit,
            "time_unit": text(np.where(it_cd, "CD", "WD")),
            "fee": money(it_fee, it_fee_missing),
            "penalty_min": money(np.full(n_items, 100_00), ~it_cf),
            "penalty_max": money(np.full(n_items, 5000_00), ~it_cf),
            "flow": pd.Series([FLOWS[f] for f in it_flow], dtype=object),
            "state": text(np.full(n_items, "A")),
        }
    )

    n = n_cases
    item = rng.integers(0, n_items, n)
    start = int(dt.datetime(2026, 1, 1, tzinfo=CST).timestamp())
    as_of = int(AS_OF.timestamp())
    received = rng.integers(start, as_of, n)
    limit = np.minimum(it_limit[item], rng.integers(0, 31, n))
    status = rng.choice(
        np.array(["IN_PROGRESS", "COMPLETED", "WITHDRAWN", "TERMINATED"]), n, p=[0.15, 0.78, 0.04, 0.03]
    )
    duration = (rng.random(n) * (limit * 1.6 + 1) * 86400).astype(np.int64)
    finished = np.minimum(received + duration, as_of)
    open_ = status == "IN_PROGRESS"
    completed = status == "COMPLETED"
    result = np.where(completed, rng.choice(np.array(["GRANTED", "PARTIAL", "DENIED"]), n, p=[0.85, 0.05, 0.1]), None)
    fee = it_fee[item]
    paid_cents = np.where(rng.random(n) < 0.97, fee, fee + rng.integers(-500, 500, n)).clip(0)
    ids = np.char.add("LY", np.char.zfill(np.arange(n).astype(str), 13))
    source = np.where(rng.random(n) < 0.9, "UNIFIED", "SELF_GA")
    cases = pd.DataFrame(
        {
            "source_system": text(source),
            "case_id": text(ids),
            "power_code": power_items["power_code"].iloc[item].reset_index(drop=True),
            "dept_code": text(dept_codes[it_dept[item]]),
            "received_at": instants(received),
            "promised_limit": limit,
            "status": text(status),
            "finished_at": instants(finished, open_),
            "result": text(result),
            "result_note": text(np.where(rng.random(n) < 0.9, "依法办理", None)),
            "fee_paid": money(paid_cents, np.zeros(n, dtype=bool)),
            "relief_reason": text(np.where(rng.random(n) < 0.5, "减免", None)),
            "penalty_amount": money(rng.integers(50_00, 6000_00, n), ~(it_cf[item] & completed)),
            "satisfaction": text(np.where(completed, rng.choice(np.array(["S", "B", "U", None]), n), None)),
        }
    )

    flow_len = np.array([len(f) for f in FLOWS])[it_flow[item]]
    per_case = flow_len + rng.integers(0, 3, n)  # the flow plus 0..2 more steps: about 5 per case
    case_of = np.repeat(np.arange(n), per_case)
    m = case_of.size
    step_no = np.arange(m) - np.repeat(np.cumsum(per_case) - per_case, per_case) + 1
    flows = np.array([(FLOWS[f] + ["BJ"] * 7)[:7] for f in range(len(FLOWS))])
    codes = flows[it_flow[item[case_of]], np.minimum(step_no - 1, 6)]
    special = rng.random(m)
    codes = np.where(special < 0.03, np.where(special < 0.015, "TB", "BZ"), codes)
    codes = np.where((special > 0.995), ALL_CODES[rng.integers(0, 11, m)], codes)
    gap = rng.integers(0, 2 * 86400, m)
    gap[rng.random(m) < 0.002] -= 3 * 86400  # a few steps start before their predecessor
    cum = np.cumsum(gap)
    group_start = np.cumsum(per_case) - per_case
    started = received[case_of] + cum - np.repeat(cum[group_start] - gap[group_start], per_case)
    started = np.maximum(np.minimum(started, as_of), received[case_of])
    step_end = np.minimum(started + rng.integers(3600, 5 * 86400, m), as_of)
    step_open = (rng.random(m) < 0.01) | (((codes == "TB") | (codes == "BZ")) & (rng.random(m) < 0.2) & open_[case_of])
    steps = pd.DataFrame(
        {
            "source_system": text(source[case_of]),
            "case_id": text(pa.array(ids, type=pa.large_string()).take(pa.array(case_of))),
            "step_no": step_no,
            "step_code": text(codes),
            "started_at": instants(started),
            "finished_at": instants(step_end, step_open),
        }
    )

    n_c = max(n // 20, 10)
    c_received = rng.integers(start, as_of, n_c)
    c_closed_flag = rng.random(n_c) < 0.8
    c_closed = np.minimum(c_received + rng.integers(0, 25 * 86400, n_c), as_of)
    linked = rng.random(n_c) < 0.7
    target = rng.integers(0, n, n_c)
    complaints = pd.DataFrame(
        {
            "complaint_id": text(np.char.add("TS", np.char.zfill(np.arange(n_c).astype(str), 8))),
            "case_source_system": text(np.where(linked, source[target], None)),
            "case_id": text(np.where(linked, ids[target], None)),
            "dept_code": text(dept_codes[rng.integers(0, n_dept, n_c)]),
            "received_at": instants(c_received),
            "status": text(np.where(c_closed_flag, "CLOSED", "OPEN")),
            "closed_at": instants(c_closed, ~c_closed_flag),
            "result": text(
                np.where(c_closed_flag, rng.choice(np.array(["SUBSTANTIATED", "PARTIAL", "UNFOUNDED"]), n_c), None)
            ),
        }
    )
    return SupervisionData(departments, power_items, cases, steps, complaints)


def sample_of(data: SupervisionData, size: int, seed: int) -> SupervisionData:
    rng = np.random.default_rng(seed + 1)
    pick = np.sort(rng.choice(len(data.cases), size=min(size, len(data.cases)), replace=False))
    cases = data.cases.iloc[pick].reset_index(drop=True)
    keys = set(zip(cases.source_system, cases.case_id, strict=True))
    wanted = data.steps.case_id.isin(cases.case_id)
    steps = data.steps[wanted]
    steps = steps[[k in keys for k in zip(steps.source_system, steps.case_id, strict=True)]].reset_index(drop=True)
    share = size / max(len(data.cases), 1)
    complaints = (
        data.complaints.sample(frac=share, random_state=seed).reset_index(drop=True) if share < 1 else data.complaints
    )
    return SupervisionData(data.departments, data.power_items, cases, steps, complaints)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    print(f"python {sys.version.split()[0]}, pandas {pd.__version__}, numpy {np.__version__}, cpus {os.cpu_count()}")
    t0 = time.perf_counter()
    calendar = WorkCalendar.load()
    settings = SupervisionSettings()
    print(
        f"calendar load            {time.perf_counter() - t0:8.2f} s  "
        f"(provisional years from {calendar.provisional_years()[0]})"
    )
    t0 = time.perf_counter()
    data = generate(args.cases, args.seed)
    gen = time.perf_counter() - t0
    n, m, nc = len(data.cases), len(data.steps), len(data.complaints)
    print(f"generated {n:,} cases, {m:,} steps, {nc:,} complaints in {gen:.1f} s; peak RSS {peak_rss_mb():,.0f} MB")

    gc.collect()
    (events, t_events, c_events) = timed(compute_events, data, AS_OF, calendar, settings)
    print(
        f"compute_events           {t_events:8.2f} s wall {c_events:7.2f} s cpu  {n / t_events:10,.0f} cases/s  "
        f"{len(events):,} events; peak RSS {peak_rss_mb():,.0f} MB"
    )
    print("   by rule: " + ", ".join(f"{r} {c:,}" for r, c in events.rule.value_counts().sort_index().items()))
    (stats, t_stats, c_stats) = timed(compute_statistics, data, events, *PERIOD, AS_OF, calendar, settings)
    print(
        f"compute_statistics       {t_stats:8.2f} s wall {c_stats:7.2f} s cpu  {n / t_stats:10,.0f} cases/s  "
        f"(period {PERIOD[0]}..{PERIOD[1]}, total received {stats['total']['received']:,}, "
        f"score {stats['total']['score']}); peak RSS {peak_rss_mb():,.0f} MB"
    )
    (_, t_deadlines, c_deadlines) = timed(case_deadlines, data, AS_OF, calendar, settings)
    print(
        f"case_deadlines           {t_deadlines:8.2f} s wall {c_deadlines:7.2f} s cpu  {n / t_deadlines:10,.0f} cases/s"
    )

    # Baseline: per-case pure-Python loops on a sample, extrapolated linearly to n cases.
    sample = sample_of(data, args.sample, args.seed)
    k = len(sample.cases)
    (ref_events, t_ref_events, _) = timed(reference_events, sample, AS_OF, calendar, settings)
    (_, t_ref_stats, _) = timed(reference_statistics, sample, ref_events, *PERIOD, AS_OF, calendar, settings)
    t_ref_events *= n / k
    t_ref_stats *= n / k

    # the engine on the same sample must give the same events
    same = compute_events(sample, AS_OF, calendar, settings)
    agree = same.event_key.tolist() == [e["event_key"] for e in ref_events] and same.event_date.tolist() == [
        e["event_date"] for e in ref_events
    ]
    print(f"baseline (per-case loop, {k:,}-case sample, time x {n / k:,.0f}):")
    print(f"   events                {t_ref_events:8.1f} s  -> ratio {t_ref_events / t_events:6.1f}x")
    print(f"   statistics            {t_ref_stats:8.1f} s  -> ratio {t_ref_stats / t_stats:6.1f}x")
    print(f"   engine == baseline on the sample: {agree}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"peak RSS {peak_rss_mb():,.0f} MB; load average at the end {load}")
    return 0 if agree else 1


def timed(fn, *args):  # type: ignore[no-untyped-def]
    """(result, wall seconds, CPU seconds of this process incl. its threads)."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - w0, time.process_time() - c0


if __name__ == "__main__":
    raise SystemExit(main())
