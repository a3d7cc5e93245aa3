"""``make bench``: every benchmark of the hub, one after the other, at the sizes the targets name.

    python bench/run_all.py            # full sizes (about half an hour on 2 cores)
    BENCH_SCALE=0.1 python bench/run_all.py   # a tenth of each size, for a quick look

Each benchmark prints its throughput and its ratio to a naive baseline measured in the same run;
``docs/performance.md`` records the figures and how to read them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCALE = float(os.environ.get("BENCH_SCALE", "1"))

RUNS = (
    (
        "validate + load (issue: ≥ 20,000 cases/s SQLite, ≥ 30,000 PostgreSQL, ≥ 10x naive)",
        "bench_ingest.py",
        ["--cases", 200_000],
    ),
    ("parse + validate only (the validators' share)", "bench_validate.py", ["--cases", 200_000]),
    ("Great Expectations batch checks vs the same checks in plain pandas", "bench_expectations.py", []),
    (
        "supervision events and statistics (≤ 20 s and ≤ 5 s for 1M cases, ≥ 10x a per-case loop)",
        "bench_supervision.py",
        ["--cases", 1_000_000],
    ),
    (
        "exchange package build + sign + hash (≤ 60 s for 1M cases, ≤ 2x zlib alone)",
        "bench_exchange.py",
        ["--cases", 1_000_000],
    ),
)


def main() -> int:
    failed = []
    for title, script, args in RUNS:
        scaled = [str(max(int(a * SCALE), 1000)) if isinstance(a, int) else a for a in args]
        print(f"\n=== {title}\n    {script} {' '.join(scaled)}", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(BENCH / script), *scaled], check=False)
        print(f"    ({time.perf_counter() - started:.0f} s)", flush=True)
        if result.returncode != 0:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
