"""Benchmark: build, sign and hash one exchange package of N cases and 5·N steps (default N = 1,000,000).

The synthetic warehouse (SQLite, under ``bench/out/``) is prepared first and not timed; a warehouse
prepared by an earlier run with the same size is reused (its rows are made pending again, untimed).
Then, in one process:

- ``build``: :func:`exchange.changzhou.build_package` end to end: claim the rows, stream them in key
  order, write the deflated zip, SHA-256 every file, sign the manifest, record the package, commit;
- ``zlib``: the naive baseline, ``zlib`` alone deflating the same uncompressed bytes at the same
  level (read from a plain file in page cache), measured in the same run;
- ``later``: what every later cycle costs on a warehouse that size: a package after a load batch
  changed ``--changed-steps`` steps, then an attempt that finds nothing pending.

Prints throughput, the ratio build/zlib (target <= 2) and the peak RSS of the measuring process
(the package is streamed, so it stays flat whatever N is).

    .venv/bin/python bench/bench_exchange.py                 # full size (prepare takes a few minutes)
    .venv/bin/python bench/bench_exchange.py --cases 200000  # quicker
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exchange.changzhou import build_package, generate_keys  # noqa: E402
from exchange.changzhou.package import COMPRESS_LEVEL  # noqa: E402
from warehouse.db import create_schema, make_engine  # noqa: E402

STEPS_PER_CASE = 5
INSTANT = "2026-11-06 02:00:00.000000"  # how UtcDateTime stores an instant in SQLite
COUNTS = "received_count, loaded_count, quarantined_count, duplicate_count, stale_count, held_count"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华"
ITEMS = [f"XK3204810{d:02d}0{i:03d}000" for d in range(10, 30) for i in range(1, 40)]
STEP_CODES = ["SL", "SH", "PZ", "BJ", "SD"]
OPINIONS = ["同意受理", "材料齐全，符合法定形式", "经审核，符合条件", "准予许可", "已送达申请人", None]


def _case_payload(rng: random.Random, i: int) -> tuple[str, str]:
    case_id = f"LY{i:013d}"
    name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
    birth = f"{rng.randrange(1950, 2005)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
    id_no = f"320481{birth}{rng.randrange(10000):04d}"
    day = 1 + i % 28
    payload = (
        f'{{"applicant_id_no":"{id_no}","applicant_id_type":"SFZ","applicant_name":"{name}",'
        f'"applicant_type":"1","case_id":"{case_id}","channel":"{rng.choice("1249")}",'
        f'"dept_code":"11320481014{rng.randrange(100000):06d}K","fee_paid":"0","finished_at":'
        f'"2026-10-{day:02d}T16:{rng.randrange(60):02d}:00+08:00","penalty_amount":null,'
        f'"power_code":"{rng.choice(ITEMS)}","promised_limit":{rng.randrange(1, 21)},'
        f'"received_at":"2026-10-{day:02d}T09:{rng.randrange(60):02d}:{rng.randrange(60):02d}+08:00",'
        f'"relief_reason":null,"result":"GRANTED","result_note":"准予办理",'
        f'"satisfaction":"{rng.choice("SSSBU")}","source_system":"UNIFIED","status":"COMPLETED",'
        f'"updated_at":"2026-11-06T10:00:00+08:00","version":{rng.randrange(1, 4)}}}'
    )
    return case_id, payload


def _step_payload(rng: random.Random, case_id: str, step_no: int) -> str:
    opinion = rng.choice(OPINIONS)
    opinion_json = "null" if opinion is None else f'"{opinion}"'
    day = f"2026-10-{rng.randrange(1, 29):02d}"
    # microsecond instants, as the unified platform writes them (see the standard's example data)
    started = (
        f"{day}T{rng.randrange(8, 12):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(10**6):06d}"
    )
    finished = (
        f"{day}T{rng.randrange(13, 18):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(10**6):06d}"
    )
    return (
        f'{{"case_id":"{case_id}","finished_at":"{finished}+08:00",'
        f'"handler_id":"G{rng.randrange(10000):04d}","handler_name":"{rng.choice(SURNAMES)}{rng.choice(GIVEN)}",'
        f'"opinion":{opinion_json},"source_system":"UNIFIED","started_at":"{started}+08:00",'
        f'"step_code":"{STEP_CODES[step_no - 1]}","step_no":{step_no},'
        f'"updated_at":"2026-11-06T10:00:00+08:00","version":1}}'
    )


def prepare(db: Path, cases: int) -> None:
    """Create the synthetic warehouse (or make an existing one's rows pending again)."""
    marker = f"data v4, cases={cases} steps={cases * STEPS_PER_CASE}"
    if db.exists():
        conn = sqlite3.connect(db)
        try:
            found = conn.execute("SELECT note FROM bench_marker").fetchone()
        except sqlite3.Error:
            found = None
        if found and found[0] == marker:
            conn.execute("DELETE FROM ops_exchange_sent")
            conn.execute("DELETE FROM ops_package")
            conn.commit()
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
            return
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{db}")
    create_schema(engine)
    engine.dispose()
    rng = random.Random(20261106)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    case_sql = (
        "INSERT INTO fct_case (source_system, case_id, power_code, dept_code, applicant_type, applicant_name,"
        " applicant_id_type, applicant_id_no, channel, received_at, promised_limit, status, fee_paid, version,"
        " updated_at, payload, payload_sha256, batch_id)"
        " VALUES ('UNIFIED', ?, 'XK3204810120001000', '11320481014000000K', '1', '-', 'SFZ', '-', '2',"
        f" '{INSTANT}', 10, 'COMPLETED', 0, 1, '{INSTANT}', ?, ?, 1)"
    )
    step_sql = (
        "INSERT INTO fct_case_step (source_system, case_id, step_no, step_code, handler_id, handler_name,"
        " started_at, version, updated_at, payload, payload_sha256, batch_id)"
        f" VALUES ('UNIFIED', ?, ?, 'SL', 'H', '-', '{INSTANT}', 1, '{INSTANT}', ?, ?, 1)"
    )
    # the rows' load batch, as the loader leaves one
    conn.execute(
        "INSERT INTO ops_load_batch (batch_id, cycle_id, source_system, entity, origin, started_at, status,"
        f" {COUNTS}) VALUES (1, 'bench', 'UNIFIED', 'case', 'bench', '{INSTANT}', 'LOADED', 0, 0, 0, 0, 0, 0)"
    )
    chunk = 50_000
    for start in range(0, cases, chunk):
        case_rows, step_rows = [], []
        for i in range(start, min(start + chunk, cases)):
            case_id, payload = _case_payload(rng, i)
            case_rows.append((case_id, payload, hashlib.sha256(payload.encode()).hexdigest()))
            for step_no in range(1, STEPS_PER_CASE + 1):
                step = _step_payload(rng, case_id, step_no)
                step_rows.append((case_id, step_no, step, hashlib.sha256(step.encode()).hexdigest()))
        conn.executemany(case_sql, case_rows)
        conn.executemany(step_sql, step_rows)
        conn.commit()
    conn.execute("CREATE TABLE bench_marker (note TEXT)")
    conn.execute("INSERT INTO bench_marker VALUES (?)", (marker,))
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def zlib_baseline(package: Path, scratch: Path) -> tuple[float, float, int, int]:
    """Seconds for zlib alone to deflate the package's uncompressed data files at the same level."""
    raw = scratch / "data.jsonl"
    with zipfile.ZipFile(package) as archive, raw.open("wb") as out:  # untimed: get the same bytes
        for name in sorted(n for n in archive.namelist() if n.startswith("data/")):
            with archive.open(name) as handle:
                while block := handle.read(1 << 20):
                    out.write(block)
    size = raw.stat().st_size
    with raw.open("rb") as handle:  # warm the page cache so the baseline measures zlib, not the disk
        while handle.read(1 << 24):
            pass
    started, cpu_started = time.perf_counter(), time.process_time()
    compressor = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -15)
    compressed = 0
    with raw.open("rb") as handle:
        while block := handle.read(1 << 20):
            compressed += len(compressor.compress(block))
    compressed += len(compressor.flush())
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    raw.unlink()
    return seconds, cpu_seconds, size, compressed


def change_steps(db: Path, count: int, rng: random.Random) -> None:
    """A load batch storing a newer version of ``count`` random steps (untimed), as the loader would."""
    conn = sqlite3.connect(db)
    try:
        batch_id = conn.execute(
            f"INSERT INTO ops_load_batch (cycle_id, source_system, entity, origin, started_at, status, {COUNTS})"
            f" VALUES ('bench', 'UNIFIED', 'case_step', 'bench', '{INSTANT}', 'LOADED', 0, 0, 0, 0, 0, 0)"
            " RETURNING batch_id"
        ).fetchone()[0]
        total = conn.execute("SELECT max(rowid) FROM fct_case_step").fetchone()[0]
        rowids = rng.sample(range(1, total + 1), count)
        rows = conn.execute(
            f"SELECT rowid, payload FROM fct_case_step WHERE rowid IN ({','.join(map(str, rowids))})"
        ).fetchall()
        updates = []
        for rowid, payload in rows:
            changed = payload.replace('"version":', '"version":1', 1)  # a newer version, other content
            updates.append((changed, hashlib.sha256(changed.encode()).hexdigest(), batch_id, rowid))
        conn.executemany(
            "UPDATE fct_case_step SET payload = ?, payload_sha256 = ?, version = version + 1, batch_id = ?"
            " WHERE rowid = ?",
            updates,
        )
        conn.commit()
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "exchange")
    parser.add_argument("--changed-steps", type=int, default=5_000)
    parser.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    db = args.out / f"warehouse-{args.cases}.sqlite"

    if args.prepare_only:
        prepare(db, args.cases)
        return 0
    started = time.perf_counter()
    # A child process prepares, so this process's peak RSS is the build's alone.
    subprocess.run([sys.executable, __file__, "--cases", str(args.cases), "--out", str(args.out), "--prepare-only"],
                   check=True)  # fmt: skip
    print(f"prepared {args.cases:,} cases + {args.cases * STEPS_PER_CASE:,} steps in "
          f"{time.perf_counter() - started:.1f}s (untimed)")  # fmt: skip

    keys = generate_keys(args.out / "keys")
    store = args.out / "packages"
    for old in store.glob("*.zip"):
        old.unlink()
    engine = make_engine(f"sqlite:///{db}")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_before = time.process_time()
    started = time.perf_counter()
    built = build_package(engine, keys, store, now=datetime.now(UTC))
    build_seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_before
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    engine.dispose()
    assert built is not None
    records = sum(built.record_counts.values())

    with tempfile.TemporaryDirectory(dir=args.out) as scratch:
        zlib_seconds, zlib_cpu, raw_bytes, zlib_bytes = zlib_baseline(built.path, Path(scratch))

    mib = raw_bytes / 2**20
    print(
        f"package {built.path.name}: {records:,} records, {mib:,.0f} MiB of JSON Lines -> "
        f"{built.bytes / 2**20:,.0f} MiB zip (deflate level {COMPRESS_LEVEL}; "
        f"zlib alone: {zlib_bytes / 2**20:,.0f} MiB)"
    )
    print(
        f"build+sign+hash: {build_seconds:6.1f} s wall, {cpu_seconds:6.1f} s CPU (both threads)  "
        f"{records / build_seconds:>9,.0f} records/s  {mib / build_seconds:6.1f} MiB/s"
    )
    print(
        f"zlib alone:      {zlib_seconds:6.1f} s wall, {zlib_cpu:6.1f} s CPU                 "
        f"{records / zlib_seconds:>9,.0f} records/s  {mib / zlib_seconds:6.1f} MiB/s"
    )
    print(
        f"ratio build / zlib: {build_seconds / zlib_seconds:.2f} wall, {cpu_seconds / zlib_cpu:.2f} CPU "
        f"(target <= 2; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end)"
    )
    print(f"peak RSS: {rss_after / 1024:,.0f} MiB (before the build: {rss_before / 1024:,.0f} MiB)")

    changed = min(args.changed_steps, args.cases * STEPS_PER_CASE)
    change_steps(db, changed, random.Random(20261128))
    engine = make_engine(f"sqlite:///{db}")
    started = time.perf_counter()
    later = build_package(engine, keys, store, now=datetime.now(UTC))
    later_seconds = time.perf_counter() - started
    started = time.perf_counter()
    nothing = build_package(engine, keys, store, now=datetime.now(UTC))
    nothing_seconds = time.perf_counter() - started
    engine.dispose()
    assert later is not None and later.record_counts == {"case_step": changed}, later
    assert nothing is None
    print(
        f"later package ({changed:,} changed steps among {records:,} rows): {later_seconds:.1f} s; "
        f"nothing pending: {nothing_seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
