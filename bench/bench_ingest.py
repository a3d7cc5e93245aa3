"""Validate + load throughput of a whole ingest (file drop → validation → warehouse), against a naive
baseline measured in the same run.

    uv run --frozen python bench/bench_ingest.py [--cases 200000] [--baseline-cases 2000] [--pg-url URL]

For JSON Lines and CSV, on SQLite and on PostgreSQL: generate ``--cases`` cases with about five
steps each (untimed), then time ``sanheyi`` ingest of the inbox in a fresh child process (so its
peak RSS is its own). The naive baseline is what a first attempt would do: per record
``json.loads``, pure-Python ``jsonschema`` and one ORM object inserted per record; it runs on a
sample and its rate is what is compared. Figures go to ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PG_URL = os.environ.get("SANHEYI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
AS_OF = "2026-11-28T09:00:00+08:00"


def generate_inbox(root: Path, cases: int, fmt: str) -> Path:
    from simulators.generator import GeneratorSpec, write_bulk

    inbox = root / f"inbox-{fmt}"
    write_bulk(GeneratorSpec(cases=cases, complaints=max(cases // 20, 10), invalid_cases=20, seed=11), inbox, fmt)
    return inbox


def _cpu(times) -> float:  # type: ignore[no-untyped-def]
    """User + system seconds of a ``resource`` usage or a ``psutil`` times record."""
    if hasattr(times, "ru_utime"):
        return times.ru_utime + times.ru_stime
    return times.user + times.system


def _postgres_cpu(url: str) -> float | None:
    """CPU seconds the PostgreSQL server has used so far: the postmaster, its live processes and the
    backends it has reaped. ``None`` when the server does not run on this machine as a process this
    user may read."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            backend = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        postmaster = psutil.Process(backend).parent()
        if postmaster is None:
            return None
        times = postmaster.cpu_times()
        reaped = times.children_user + times.children_system
        return _cpu(times) + reaped + sum(_cpu(p.cpu_times()) for p in postmaster.children())
    except (psutil.Error, sa.exc.SQLAlchemyError):
        return None
    finally:
        engine.dispose()


def _child(home: str, url: str) -> None:
    """Runs in the child: one ingest of the home's inbox; prints seconds, batches and peak RSS."""
    from datetime import datetime

    from sanheyi.pipeline import ingest_stage
    from sanheyi.settings import load_settings

    os.environ["SANHEYI_WAREHOUSE_URL"] = url
    settings = load_settings(Path(home))
    # Starting the data quality worker (a process that imports Great Expectations) is a one-off per
    # process: it is timed on its own, so the ingest rate is the steady one and the cold rate adds it back.
    from validators.expectations.worker import prestart, shutdown

    started = time.perf_counter()
    prestart()
    startup = time.perf_counter() - started
    worker_cpu_before = sum(_cpu(child.cpu_times()) for child in psutil.Process().children())
    own_cpu_before = _cpu(resource.getrusage(resource.RUSAGE_SELF))
    started = time.perf_counter()
    result = ingest_stage(settings, datetime.fromisoformat(AS_OF))
    seconds = time.perf_counter() - started
    own_cpu = _cpu(resource.getrusage(resource.RUSAGE_SELF)) - own_cpu_before
    total = result.summary.total()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    shutdown()  # the worker's peak RSS and CPU time count once it has exited
    worker_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    worker_cpu = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - worker_cpu_before
    print(
        json.dumps(
            {
                "seconds": seconds,
                "startup": startup,
                "received": total.received,
                "loaded": total.loaded,
                "quarantined": total.quarantined,
                "peak_mib": peak_mib,
                "worker_mib": worker_mib,
                "cpu": own_cpu,
                "worker_cpu": worker_cpu,
            }
        )
    )


def measure(inbox: Path, url: str, work: Path) -> dict:
    home = work / "home"
    if home.exists():
        shutil.rmtree(home)
    env = {**os.environ, "SANHEYI_HOME": str(home), "SANHEYI_WAREHOUSE_URL": url}
    sanheyi = str(Path(sys.executable).with_name("sanheyi"))
    subprocess.run([sanheyi, "init"], env=env, check=True, capture_output=True)
    shutil.copytree(inbox, home / "inbox", dirs_exist_ok=True)
    server_before = _postgres_cpu(url) if url.startswith("postgresql") else None
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(home), url], env=env, check=True, capture_output=True, text=True
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    server_after = _postgres_cpu(url) if server_before is not None else None
    # the server's CPU over the child's life: its ingest, plus the little its start-up reads
    figures["server_cpu"] = server_after - server_before if server_after is not None else None
    return figures


def fresh_pg_schema(name: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {name}"))
    engine.dispose()
    return f"{PG_URL}?options=-csearch_path%3D{name}"


def naive_baseline(inbox: Path, sample_cases: int) -> tuple[float, float]:
    """Cases (with their steps) per second the naive way (json.loads + jsonschema + ORM per record):
    per second of wall time and per second of CPU time (it runs in one thread of this process)."""
    from datetime import datetime

    import sqlalchemy as sa
    from jsonschema import Draft202012Validator
    from sqlalchemy.orm import Session

    from schemas.standard import load_schema
    from warehouse.tables import ENTITY_TABLES, metadata

    case_file = sorted((inbox / "UNIFIED").glob("case.*.jsonl"))[0]
    step_file = sorted((inbox / "UNIFIED").glob("case_step.*.jsonl"))[0]
    cases = case_file.read_text(encoding="utf-8").splitlines()[:sample_cases]
    wanted = {json.loads(line)["case_id"] for line in cases}
    steps = [
        line for line in step_file.read_text(encoding="utf-8").splitlines() if json.loads(line)["case_id"] in wanted
    ]
    validators = {e: Draft202012Validator(load_schema(e)) for e in ("case", "case_step")}

    class Base(sa.orm.DeclarativeBase):
        pass

    rows = {}
    for entity in ("case", "case_step"):
        table = ENTITY_TABLES[entity]
        rows[entity] = type(f"Naive{entity}", (Base,), {"__table__": table})

    with tempfile.TemporaryDirectory() as folder:
        engine = sa.create_engine(f"sqlite:///{folder}/naive.sqlite")
        metadata.create_all(engine)
        started, cpu_started = time.perf_counter(), time.process_time()
        with Session(engine) as session:
            for entity, lines in (("case", cases), ("case_step", steps)):
                columns = {c.name for c in ENTITY_TABLES[entity].columns}
                for line in lines:
                    record = json.loads(line)
                    if any(True for _ in validators[entity].iter_errors(record)):
                        continue
                    values = {k: v for k, v in record.items() if k in columns}
                    for k, v in values.items():
                        if k.endswith("_at") and isinstance(v, str):
                            values[k] = datetime.fromisoformat(v)
                    session.add(rows[entity](**values, payload=line, payload_sha256="", batch_id=1))
            session.commit()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        engine.dispose()
    return len(cases) / seconds, len(cases) / cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--baseline-cases", type=int, default=2_000)
    parser.add_argument("--formats", default="jsonl,csv")
    parser.add_argument("--dialects", default="sqlite,postgresql")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return 0

    work = Path(tempfile.mkdtemp(prefix="sanheyi-bench-ingest-"))
    try:
        results = []
        baseline = baseline_cpu = None
        for fmt in args.formats.split(","):
            started = time.perf_counter()
            inbox = generate_inbox(work, args.cases, fmt)
            print(
                f"generated {args.cases} cases as {fmt} in {time.perf_counter() - started:.0f} s (untimed)", flush=True
            )
            if baseline is None:
                jsonl_inbox = inbox if fmt == "jsonl" else generate_inbox(work, args.baseline_cases, "jsonl")
                # The best of three samples: a sample of a few seconds on a shared machine can be slowed
                # by a neighbour, and a slow baseline would flatter every ratio of the run.
                samples = [naive_baseline(jsonl_inbox, args.baseline_cases) for _ in range(3)]
                baseline = max(wall for wall, _ in samples)
                baseline_cpu = max(cpu for _, cpu in samples)
                print(
                    f"naive baseline: {baseline:,.0f} cases/s (with steps; best of three samples of "
                    f"{args.baseline_cases}: {', '.join(f'{r:,.0f}' for r, _ in samples)}); "
                    f"{baseline_cpu:,.0f} cases per CPU second",
                    flush=True,
                )
            for dialect in args.dialects.split(","):
                url = (
                    f"sqlite:///{work / 'home' / 'warehouse.sqlite'}"
                    if dialect == "sqlite"
                    else fresh_pg_schema("bench_ingest")
                )
                figures = measure(inbox, url, work)
                rate = args.cases / figures["seconds"]
                cold = args.cases / (figures["seconds"] + figures["startup"])
                cpu = figures["cpu"] + figures["worker_cpu"] + (figures["server_cpu"] or 0.0)
                per_cpu = args.cases / cpu
                results.append((fmt, dialect, figures, rate, cold, per_cpu))
                print(
                    f"{fmt:5} {dialect:10} {figures['seconds']:7.1f} s  {rate:9,.0f} cases/s  "
                    f"x{rate / baseline:5.1f} baseline  (cold, with the {figures['startup']:.1f} s start of "
                    f"the data quality worker: {cold:,.0f} cases/s, x{cold / baseline:.1f})  "
                    f"peak RSS {figures['peak_mib']:,.0f} MiB (worker {figures['worker_mib']:,.0f} MiB)  "
                    f"(received {figures['received']:,}, loaded {figures['loaded']:,}, "
                    f"quarantined {figures['quarantined']})",
                    flush=True,
                )
                server = "" if figures["server_cpu"] is None else f" + server {figures['server_cpu']:.1f}"
                print(
                    f"{'':17} CPU {cpu:.1f} s (ingest {figures['cpu']:.1f} + quality worker "
                    f"{figures['worker_cpu']:.1f}{server}): {per_cpu:,.0f} cases per CPU second, "
                    f"x{per_cpu / baseline_cpu:.1f} the naive",
                    flush=True,
                )
            shutil.rmtree(inbox)
        print(
            f"\nnaive baseline {baseline:,.0f} cases/s; "
            "cold = with the one-off start of the data quality worker (it imports Great Expectations); "
            f"per CPU s = cases per second of CPU time of the ingest, its worker and PostgreSQL (naive "
            f"{baseline_cpu:,.0f}): the work done, with the waiting left out"
        )
        print("format dialect     cases/s   ratio  cold c/s  ratio  peak MiB  worker MiB  per CPU s  ratio")
        for fmt, dialect, figures, rate, cold, per_cpu in results:
            print(
                f"{fmt:6} {dialect:10} {rate:9,.0f} {rate / baseline:6.1f} {cold:9,.0f} {cold / baseline:6.1f} "
                f"{figures['peak_mib']:9,.0f} {figures['worker_mib']:11,.0f} {per_cpu:10,.0f} "
                f"{per_cpu / baseline_cpu:6.1f}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
