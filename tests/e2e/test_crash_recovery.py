"""Killing ``sanheyi run`` in the middle of a load and running it again gives the same warehouse as
one clean run: nothing half-loaded, nothing lost, nothing loaded twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from simulators.generator import GeneratorSpec, generate, write_inbox
from warehouse.db import make_engine
from warehouse.tables import ENTITY_KEYS, ENTITY_TABLES, ops_load_batch, ops_quarantine

AS_OF = "2026-11-28T09:00:00+08:00"
SANHEYI = str(Path(sys.executable).with_name("sanheyi"))


def prepared_home(root: Path, name: str) -> Path:
    home = root / name
    env = {**os.environ, "SANHEYI_HOME": str(home)}
    subprocess.run([SANHEYI, "init"], env=env, check=True, capture_output=True)
    # many files, so that a kill lands between batches as well as inside one
    data = generate(GeneratorSpec(cases=6000, complaints=300, invalid_cases=8, seed=7))
    write_inbox(data, home / "inbox", chunk_rows=700)
    return home


def ingest(home: Path) -> subprocess.Popen:
    env = {**os.environ, "SANHEYI_HOME": str(home)}
    return subprocess.Popen(
        [SANHEYI, "run", "--stage", "ingest", "--as-of", AS_OF],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def committed_batches(home: Path) -> int:
    try:
        with sqlite3.connect(home / "warehouse.sqlite", timeout=1) as db:
            return db.execute("SELECT count(*) FROM ops_load_batch WHERE status = 'LOADED'").fetchone()[0]
    except sqlite3.Error:
        return 0


def warehouse_state(home: Path) -> dict:
    engine = make_engine(f"sqlite:///{home / 'warehouse.sqlite'}")
    state: dict = {}
    with engine.connect() as conn:
        for entity, table in ENTITY_TABLES.items():
            keys = [table.c[k] for k in ENTITY_KEYS[entity]]
            state[entity] = set(conn.execute(select(*keys, table.c.version, table.c.payload_sha256)).all())
        state["quarantine"] = sorted(
            conn.execute(select(ops_quarantine.c.origin, ops_quarantine.c.line_no, ops_quarantine.c.reason)).all()
        )
        batches = conn.execute(select(ops_load_batch)).mappings().all()
    engine.dispose()
    for b in batches:
        assert b["received_count"] == (
            b["loaded_count"] + b["quarantined_count"] + b["duplicate_count"] + b["stale_count"] + b["held_count"]
        ), dict(b)
    state["archived"] = sorted(p.name for p in (home / "archive" / "UNIFIED").iterdir())
    state["inbox"] = sorted(p.name for p in (home / "inbox" / "UNIFIED").iterdir())
    return state


def test_kill_during_load_then_rerun_equals_a_clean_run(tmp_path: Path) -> None:
    clean = prepared_home(tmp_path, "clean")
    assert ingest(clean).wait(timeout=600) == 0
    expected = warehouse_state(clean)
    assert expected["inbox"] == [] and len(expected["case"]) > 5000

    crashed = prepared_home(tmp_path, "crashed")
    process = ingest(crashed)
    deadline = time.monotonic() + 300
    while committed_batches(crashed) < 4 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the load finished before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    interrupted = warehouse_state(crashed)
    assert 0 < len(interrupted["case"]) < len(expected["case"])  # it really stopped half way

    rerun = ingest(crashed)
    assert rerun.wait(timeout=600) == 0, rerun.stderr.read().decode()[-2000:] if rerun.stderr else ""
    assert warehouse_state(crashed) == expected
