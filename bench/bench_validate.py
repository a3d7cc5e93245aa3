"""Throughput of parse + validate (file drop -> validate_batch) against a naive per-record baseline.

    uv run --frozen python bench/bench_validate.py [--cases 200000] [--bad-rate 0.01] [--baseline 20000]

Generates its own data (cases with 5 steps each, a small share of them broken), writes it as JSON
Lines and as CSV, and prints records/s for the columnar path and for the naive path (json.loads +
pure-Python jsonschema, per record, no rules at all: a generous baseline) measured in the same run
on a sample, and their ratio. No database is involved: this is the validators' share of a cycle.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402
from jsonschema import Draft202012Validator  # noqa: E402

from connectors.file_drop import FileDropConnector  # noqa: E402
from schemas.standard import FIELD_ORDER, load_schema  # noqa: E402
from validators import ReferenceData, explain_record, validate_batch  # noqa: E402

DEPTS = ["11320481466000002C", "11320481466001371Q", "113204814660027450", "11320481466004118J"]
ITEMS = [  # power_code, power_type, dept, promised_limit
    ("XK3204810010001000", "XK", DEPTS[0], 5),
    ("CF3204810010003000", "CF", DEPTS[0], 60),
    ("XK3204810020005000", "XK", DEPTS[1], 12),
    ("QR3204810020006000", "QR", DEPTS[1], 15),
    ("XK3204810030008000", "XK", DEPTS[2], 7),
    ("SP3204810030010000", "SP", DEPTS[2], 10),
    ("XK3204810040011000", "XK", DEPTS[3], 1),
    ("CF3204810040013000", "CF", DEPTS[3], 30),
]
_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def sfz(rng: random.Random) -> str:
    body = f"320481{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    c = (12 - sum(int(d) * w for d, w in zip(body, _W, strict=True)) % 11) % 11
    return body + ("X" if c == 10 else str(c))


def generate(n_cases: int, bad_rate: float, seed: int = 7) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    base = pd.Timestamp("2026-06-01T08:00:00+08:00")
    cases, steps = [], []
    for i in range(n_cases):
        code, ptype, dept, limit = ITEMS[i % len(ITEMS)]
        received = base + pd.Timedelta(minutes=rng.randint(0, 200_000))
        finished = received + pd.Timedelta(hours=rng.randint(1, 400))
        case = {
            "source_system": "UNIFIED",
            "case_id": f"LY{i:013d}",
            "power_code": code,
            "dept_code": dept,
            "applicant_type": "1",
            "applicant_name": "测试申请人",
            "applicant_id_type": "SFZ",
            "applicant_id_no": sfz(rng),
            "channel": str(rng.choice([1, 2, 3, 4, 9])),
            "received_at": received.isoformat(),
            "promised_limit": limit,
            "status": "COMPLETED",
            "finished_at": finished.isoformat(),
            "result": "GRANTED",
            "result_note": "依法办理",
            "fee_paid": "0",
            "relief_reason": None,
            "penalty_amount": "500.00" if ptype == "CF" else None,
            "satisfaction": "S",
            "version": 1,
            "updated_at": finished.isoformat(),
        }
        if rng.random() < bad_rate:
            kind = rng.randrange(4)
            if kind == 0:
                last = case["applicant_id_no"][-1]
                case["applicant_id_no"] = case["applicant_id_no"][:-1] + ("0" if last != "0" else "1")
            elif kind == 1:
                case["received_at"] = case["received_at"][:19]
            elif kind == 2:
                case["status"] = "DONE"
            else:
                case["fee_paid"] = "1.234"
        cases.append(case)
        for s, code_s in enumerate(("SL", "SH", "PZ", "BJ", "SD"), start=1):
            t = received + pd.Timedelta(minutes=30 * s)
            steps.append(
                {
                    "source_system": "UNIFIED",
                    "case_id": case["case_id"],
                    "step_no": s,
                    "step_code": code_s,
                    "handler_id": f"G{rng.randint(1000, 9999)}",
                    "handler_name": "经办人",
                    "started_at": t.isoformat(),
                    "finished_at": (t + pd.Timedelta(minutes=20)).isoformat(),
                    "opinion": "同意",
                    "version": 1,
                    "updated_at": finished.isoformat(),
                }
            )
    return cases, steps


def write_jsonl(path: Path, records: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def write_csv(path: Path, entity: str, records: list[dict]) -> None:
    fields = FIELD_ORDER[entity]
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(fields)
        for r in records:
            w.writerow(["" if r.get(f) is None else r[f] for f in fields])


def references() -> ReferenceData:
    items = pd.DataFrame(
        [
            {
                "power_code": c,
                "version": 1,
                "state": "A",
                "dept_code": d,
                "promised_limit": lim,
                "power_type": t,
                "valid_from_at": pd.Timestamp("2026-01-01T00:00:00Z"),
            }
            for c, t, d, lim in ITEMS
        ]
    )
    return ReferenceData(
        frozenset(DEPTS), items, pd.DataFrame(columns=["source_system", "case_id", "received_at"]), None
    )


def run_columnar(inbox: Path, refs: ReferenceData) -> tuple[int, int, float]:
    """Read and validate every file of inbox/UNIFIED; cases first, then steps against those cases."""
    t0 = time.perf_counter()
    records = quarantined = 0
    for batch in FileDropConnector(inbox, "UNIFIED").read(None):
        out = validate_batch(batch, refs)
        records += out.received
        quarantined += len(out.quarantined)
        if batch.entity == "case" and len(out.valid):
            cases = pd.concat([refs.cases, out.valid[["source_system", "case_id", "received_at"]]], ignore_index=True)
            refs = ReferenceData(refs.departments, refs.power_items, cases, refs.scope)
    return records, quarantined, time.perf_counter() - t0


def run_naive(lines: list[str], entity: str) -> float:
    """Per record: json.loads and pure-Python jsonschema, nothing else (a lower bound of the naive cost)."""
    validator = Draft202012Validator(load_schema(entity))
    t0 = time.perf_counter()
    for line in lines:
        list(validator.iter_errors(json.loads(line)))
    return time.perf_counter() - t0


def run_explain(lines: list[str], entity: str, refs: ReferenceData) -> float:
    """Per record: json.loads, jsonschema and every rule (validators.explain_record)."""
    t0 = time.perf_counter()
    for line in lines:
        explain_record(entity, json.loads(line), refs=refs, arrived_from="UNIFIED")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=200_000)
    ap.add_argument("--bad-rate", type=float, default=0.01)
    ap.add_argument("--baseline", type=int, default=10_000, help="records in the naive sample")
    args = ap.parse_args()
    print(f"generating {args.cases} cases with 5 steps each (bad rate {args.bad_rate}) ...", flush=True)
    cases, steps = generate(args.cases, args.bad_rate)
    refs = references()
    k = max(1, args.baseline // 6)
    case_lines = [json.dumps(r, ensure_ascii=False) for r in cases[:k]]
    step_lines = [json.dumps(r, ensure_ascii=False) for r in steps[: 5 * k]]
    known = pd.DataFrame(
        {
            "source_system": "UNIFIED",
            "case_id": [c["case_id"] for c in cases[:k]],
            "received_at": pd.to_datetime(
                [c["received_at"] for c in cases[:k]], utc=True, format="ISO8601", errors="coerce"
            ),
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("jsonl", "csv"):
            inbox = Path(tmp) / fmt / "inbox"
            (inbox / "UNIFIED").mkdir(parents=True)
            if fmt == "jsonl":
                write_jsonl(inbox / "UNIFIED" / "case.bench.jsonl", cases)
                write_jsonl(inbox / "UNIFIED" / "case_step.bench.jsonl", steps)
            else:
                write_csv(inbox / "UNIFIED" / "case.bench.csv", "case", cases)
                write_csv(inbox / "UNIFIED" / "case_step.bench.csv", "case_step", steps)
        # the generated records are not kept while measuring: millions of live dicts would make
        # Python's garbage collector, not the code under test, dominate the figures
        del cases, steps
        gc.collect()
        results = {}
        for fmt in ("jsonl", "csv"):
            records, quarantined, seconds = run_columnar(Path(tmp) / fmt / "inbox", refs)
            results[fmt] = records / seconds
            print(
                f"columnar {fmt:5}: {records} records ({quarantined} quarantined) in {seconds:.2f} s "
                f"= {records / seconds:,.0f} records/s, {args.cases / seconds:,.0f} cases/s (steps included)"
            )
        # the naive baseline on a sample of the same records (cases and steps in the same proportion)
        step_refs = ReferenceData(refs.departments, refs.power_items, known, None)
        sample = len(case_lines) + len(step_lines)
        naive = sample / (run_naive(case_lines, "case") + run_naive(step_lines, "case_step"))
        explained = sample / (run_explain(case_lines, "case", refs) + run_explain(step_lines, "case_step", step_refs))
        print(f"naive per record (json.loads + jsonschema only): {naive:,.0f} records/s on {sample} records")
        print(f"explain_record per record (json.loads + jsonschema + every rule): {explained:,.0f} records/s")
        for fmt, rate in results.items():
            print(f"ratio {fmt}: {rate / naive:.1f}x")


if __name__ == "__main__":
    main()
