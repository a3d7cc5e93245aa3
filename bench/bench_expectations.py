"""Cost of the batch-level data quality checks (Great Expectations) per batch, against the row validation of
the same batch and against the same checks written directly in pandas, measured in the same run.

    uv run --frozen python bench/bench_expectations.py [--cases 100000] [--sizes 1000,10000,100000]

Generates cases (untimed), reads them with the file drop connector in batches of each size, validates
them (timed: what a batch costs without the checks), then runs the suite (timed, warm context) and the
plain-pandas equivalent (the baseline). The one-off import of Great Expectations and the making of
its context are timed in a fresh child process. Figures go to docs/observability.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NOW = datetime.fromisoformat("2026-11-28T09:00:00+08:00")


def import_cost() -> tuple[float, float]:
    """Seconds to import Great Expectations and to make the hub's context, in a fresh process."""
    code = (
        "import time; t=time.perf_counter(); import great_expectations; a=time.perf_counter()-t; "
        "from validators.expectations.run import _context; t=time.perf_counter(); _context(); "
        "print(a, time.perf_counter()-t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    first, second = out.stdout.split()
    return float(first), float(second)


def pandas_checks(frame, history, now):  # type: ignore[no-untyped-def]
    """The suite's checks written directly in pandas: the baseline."""
    import pandas as pd

    from schemas.standard import KEY_FIELDS
    from validators.expectations.suites import DRIFT_COLUMNS, NULL_WATCH_COLUMNS

    kept = frame[frame["_outcome"] != "quarantined"]
    out = {"rows": len(frame), "quarantined": float((frame["_outcome"] == "quarantined").mean())}
    out["dup"] = float(kept.duplicated([*KEY_FIELDS["case"], "version"], keep=False).mean())
    newest = kept["updated_at"].max()
    out["future"] = bool(newest > pd.Timestamp(now))
    for column in DRIFT_COLUMNS["case"]:
        out[column] = sorted(set(kept[column].dropna()) - set(history.seen_values.get(column, ())))
    for column in NULL_WATCH_COLUMNS["case"]:
        out[f"null:{column}"] = float(kept[column].isna().mean())
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--ingest-cases", type=int, default=20_000)
    args = parser.parse_args()

    from connectors.file_drop import FileDropConnector
    from simulators.generator import GeneratorSpec, write_bulk
    from validators import validate_batch
    from validators.expectations import BatchHistory, check_batch, quality_frame

    imported, context = import_cost()
    print(f"import great_expectations: {imported:.2f} s; hub context (5 suites): {context:.2f} s (once per process)")
    history = BatchHistory(
        volumes=(1000, 1100, 900),
        earlier_batches=5,
        seen_values={"channel": frozenset("1234"), "status": frozenset({"COMPLETED"})},
        null_fractions={"result_note": (0.1,) * 3, "satisfaction": (0.5,) * 3},
    )
    with tempfile.TemporaryDirectory() as tmp:
        inbox = Path(tmp) / "inbox"
        write_bulk(
            GeneratorSpec(cases=args.cases, complaints=10, invalid_cases=20, seed=5), inbox, "jsonl", chunk_rows=None
        )
        check_batch(
            validate_batch(
                next(FileDropConnector(inbox, "UNIFIED").read_file(sorted((inbox / "UNIFIED").glob("case.*"))[0])), None
            ),
            history=history,
            now=NOW,
        )  # warm up
        print(
            f"{'rows/batch':>10} {'batches':>7} {'validate s':>10} {'GE s':>8} {'pandas s':>8} "
            f"{'GE/pandas':>9} {'GE share':>8} {'GE rows/s':>10}"
        )
        for size in (int(s) for s in args.sizes.split(",")):
            connector = FileDropConnector(inbox, "UNIFIED", chunk_records=size)
            files = sorted((inbox / "UNIFIED").glob("case.*"))
            validate_s, ge_s, pandas_s, rows = [], [], [], 0
            for path in files:
                for batch in connector.read_file(path):
                    if len(batch.frame) < size:
                        continue  # a file's tail: not a batch of this size
                    started = time.perf_counter()
                    outcome = validate_batch(batch, None)
                    validate_s.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    check_batch(outcome, history=history, now=NOW, whole_origin=True)
                    ge_s.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    pandas_checks(quality_frame(outcome), history, NOW)
                    pandas_s.append(time.perf_counter() - started)
                    rows += len(batch.frame)
                    if len(ge_s) >= 5:
                        break
                if len(ge_s) >= 5:
                    break
            if not ge_s:
                continue
            v, g, p = statistics.median(validate_s), statistics.median(ge_s), statistics.median(pandas_s)
            print(
                f"{size:>10} {len(ge_s):>7} {v:>10.3f} {g:>8.3f} {p:>8.3f} {g / p:>9.1f} {g / (v + g):>8.0%} "
                f"{size / g:>10.0f}"
            )
        whole_ingest(Path(tmp), args.ingest_cases)
    return 0


def whole_ingest(root: Path, cases: int) -> None:
    """A whole ingest of a generated dataset (every entity, default file sizes), with and without the checks."""
    from sanheyi import quality
    from sanheyi.pipeline import ingest_stage, init_home
    from sanheyi.settings import load_settings
    from simulators.generator import GeneratorSpec, generate, write_inbox

    data = generate(GeneratorSpec(cases=cases, complaints=max(cases // 20, 10), invalid_cases=12, seed=3))
    checked = quality.applies
    seconds = {}
    for label, applies in (("with checks", checked), ("without", lambda batch: False)):
        settings = load_settings(root / label.replace(" ", "-"))
        init_home(settings)
        settings = load_settings(settings.home)
        write_inbox(data, settings.inbox)
        quality.applies = applies
        try:
            started = time.perf_counter()
            result = ingest_stage(settings, NOW)
            seconds[label] = time.perf_counter() - started
        finally:
            quality.applies = checked
        batches = len(result.summary.batches)
    share = (seconds["with checks"] - seconds["without"]) / seconds["with checks"]
    print(
        f"whole ingest of {cases} cases ({batches} batches, warm context): {seconds['with checks']:.2f} s with "
        f"checks, {seconds['without']:.2f} s without; the checks take {share:.0%}"
    )


if __name__ == "__main__":
    sys.exit(main())
