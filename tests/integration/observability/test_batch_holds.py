"""A blocking data quality check holds a batch without losing it; a release lets the next run load it once.

Driven through the command line in-process, on the embedded SQLite warehouse and on PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sanheyi.cli import main
from sanheyi.settings import load_settings
from warehouse.db import make_engine
from warehouse.tables import fct_case, ops_batch_hold, ops_cursor, ops_load_batch, ops_quarantine

AS_OF = "2026-11-06T18:00:00+08:00"
LATER = (
    "2026-11-06T19:00:00+08:00",
    "2026-11-06T20:00:00+08:00",
    "2026-11-06T21:00:00+08:00",
    "2026-11-06T22:00:00+08:00",
)
HELD_FILE = "case.20261127-future.jsonl"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def home(dialect_home: Path, examples_dir: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    home = dialect_home
    shutil.copytree(examples_dir / "inbox" / "UNIFIED", home / "inbox" / "UNIFIED", dirs_exist_ok=True)
    assert cli(capsys, "run", "--stage", "ingest", "--as-of", AS_OF)[0] == 0
    return home


def write_future_file(home: Path, examples_dir: Path) -> bytes:
    """Newer versions of the example updates whose updated_at lies weeks after the run: a wrong clock."""
    lines = []
    for line in (examples_dir / "inbox" / "UNIFIED" / "case.20261125z-updates.jsonl").read_text("utf-8").splitlines():
        record = json.loads(line)
        record["version"] += 10
        record["updated_at"] = "2026-12-24T10:00:00+08:00"
        lines.append(json.dumps(record, ensure_ascii=False))
    data = ("\n".join(lines) + "\n").encode("utf-8")
    (home / "inbox" / "UNIFIED" / HELD_FILE).write_bytes(data)
    return data


def warehouse(home: Path):
    return make_engine(load_settings(home).warehouse_url)


def snapshot(home: Path) -> dict:
    engine = warehouse(home)
    try:
        with engine.connect() as conn:
            return {
                "batches": [
                    dict(r) for r in conn.execute(select(ops_load_batch).order_by(ops_load_batch.c.batch_id)).mappings()
                ],
                "max_version": conn.execute(select(func.max(fct_case.c.version))).scalar_one(),
                "cases": conn.execute(select(func.count()).select_from(fct_case)).scalar_one(),
                "quarantine": conn.execute(select(func.count()).select_from(ops_quarantine)).scalar_one(),
                "cursor": conn.execute(select(ops_cursor.c.cursor)).scalar_one(),
                "holds": [dict(r) for r in conn.execute(select(ops_batch_hold)).mappings()],
            }
    finally:
        engine.dispose()


def test_a_blocked_file_is_held_untouched_until_released_then_loaded_once(
    home: Path, examples_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_future_file(home, examples_dir)
    before = snapshot(home)

    code, out, err = cli(capsys, "run", "--stage", "ingest", "--as-of", LATER[0])
    assert code == 0, err
    held = snapshot(home)
    new = held["batches"][len(before["batches"]) :]
    assert len(new) == 1
    batch = new[0]
    # the batch is recorded with its counts and why it is held ...
    assert (batch["status"], batch["ge_verdict"]) == ("HELD_GE", "BLOCK")
    assert (batch["received_count"], batch["loaded_count"], batch["held_count"]) == (21, 0, 21)
    assert [f["check"] for f in batch["ge_summary"]["failed"] if f["severity"] == "block"] == ["updated_at_future"]
    assert f"HELD batch {batch['batch_id']}" in out and "updated_at" in out
    assert "held, nothing loaded" in err  # the data engineer is told on stderr too
    # ... and nothing of it is loaded, quarantined or archived: the file waits in the inbox as it was
    assert (held["max_version"], held["cases"], held["quarantine"]) == (
        before["max_version"],
        before["cases"],
        before["quarantine"],
    )
    assert held["cursor"] == before["cursor"]
    assert (home / "inbox" / "UNIFIED" / HELD_FILE).read_bytes() == data
    assert not (home / "archive" / "UNIFIED" / HELD_FILE).exists()

    # later runs skip the held file and say so, without recording it again
    code, out, _ = cli(capsys, "run", "--stage", "ingest", "--as-of", LATER[1])
    assert code == 0 and f"HELD batch {batch['batch_id']}" in out
    assert len(snapshot(home)["batches"]) == len(held["batches"])
    code, out, _ = cli(capsys, "batches", "list", "--format", "json")
    listed = json.loads(out)
    assert [(h["batch_id"], h["status"], h["reason"][0]["check"]) for h in listed] == [
        (batch["batch_id"], "HELD", "updated_at_future")
    ]

    # a release needs who and why; it is recorded, and only a held batch can be released
    code, out, _ = cli(
        capsys,
        "batches",
        "release",
        str(batch["batch_id"]),
        "--by",
        "王工",
        "--reason",
        "来源时钟已核实 / source clock checked",
    )
    assert code == 0 and "released" in out
    code, _, err = cli(capsys, "batches", "release", str(batch["batch_id"]), "--by", "王工", "--reason", "again")
    assert code == 1 and "already released" in err
    assert cli(capsys, "batches", "release", "99999", "--by", "x", "--reason", "y")[0] == 1

    # the next run loads the file once, its blocking check waived and recorded
    code, out, _ = cli(capsys, "run", "--stage", "ingest", "--as-of", LATER[2])
    assert code == 0
    loaded = snapshot(home)
    new = loaded["batches"][len(held["batches"]) :]
    assert len(new) == 1
    assert (new[0]["status"], new[0]["ge_verdict"], new[0]["received_count"]) == ("LOADED", "WARN", 21)
    assert new[0]["loaded_count"] + new[0]["quarantined_count"] == 21 and new[0]["loaded_count"] > 0
    assert new[0]["ge_summary"]["overridden"] == ["updated_at_future"]
    assert new[0]["ge_summary"]["released"]["by"] == "王工"
    assert loaded["max_version"] > before["max_version"]
    assert (home / "archive" / "UNIFIED" / HELD_FILE).read_bytes() == data
    assert not (home / "inbox" / "UNIFIED" / HELD_FILE).exists()
    [hold] = loaded["holds"]
    assert (hold["status"], hold["loaded_batch_id"], hold["released_by"]) == ("LOADED", new[0]["batch_id"], "王工")
    assert {b["batch_id"]: b["status"] for b in loaded["batches"]}[batch["batch_id"]] == "RELEASED"
    assert json.loads(cli(capsys, "batches", "list", "--format", "json")[1]) == []

    # and only once: a further run finds nothing new
    assert cli(capsys, "run", "--stage", "ingest", "--as-of", LATER[3])[0] == 0
    final = snapshot(home)
    assert len(final["batches"]) == len(loaded["batches"]) and final["cases"] == loaded["cases"]
