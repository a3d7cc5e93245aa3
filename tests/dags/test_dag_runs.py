"""dag.test() end to end: the ingest DAG loads a generated inbox, the supervision DAG computes its
events, the exchange DAG builds and delivers the package and the reports DAG renders the month,
through the same functions as the command line."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from sanheyi.cli import main
from sanheyi.settings import load_settings
from simulators.generator import GeneratorSpec, generate, write_inbox
from warehouse.db import make_engine
from warehouse.tables import fct_case, fct_supervision_event, ops_load_batch, ops_quarantine

AS_OF = "2026-11-28T09:00:00+08:00"
DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("SANHEYI_HOME", str(home))
    monkeypatch.delenv("SANHEYI_WAREHOUSE_URL", raising=False)
    assert main(["init"]) == 0
    return home


def test_the_four_dags_in_asset_order(home: Path, airflow_db: Path, dagbag, capsys) -> None:
    data = generate(GeneratorSpec(cases=300, complaints=30, invalid_cases=6))
    write_inbox(data, home / "inbox")

    run = dagbag.dags["sanheyi_ingest"].test(run_conf={"as_of": AS_OF})
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["ingest_unified"] == "success" and states["release_held_steps"] == "success"

    engine = make_engine(load_settings(home).warehouse_url)
    with engine.connect() as conn:
        cases = conn.execute(select(func.count()).select_from(fct_case)).scalar_one()
        quarantined = conn.execute(select(func.count()).select_from(ops_quarantine)).scalar_one()
        batches = conn.execute(select(ops_load_batch)).mappings().all()
    assert cases == len(data.latest("case"))
    assert quarantined == len(data.manifest)
    assert all(
        b["received_count"]
        == b["loaded_count"] + b["quarantined_count"] + b["duplicate_count"] + b["stale_count"] + b["held_count"]
        for b in batches
    )
    assert not list((home / "inbox" / "UNIFIED").glob("*.jsonl"))  # every file archived

    run = dagbag.dags["sanheyi_supervision"].test(run_conf={"as_of": AS_OF})
    assert run.state == "success"
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(fct_supervision_event)).scalar_one()
        received_at = conn.execute(select(fct_case.c.received_at)).scalars().all()
    engine.dispose()
    assert events > 0
    capsys.readouterr()
    code = main(["stats", "--from", "2026-06-01", "--to", "2026-11-30", "--as-of", AS_OF, "--format", "json"])
    assert code == 0
    # the statistics count what the ingest DAG loaded: every case received in the period, by Liyang's date
    stats = json.loads(capsys.readouterr().out)
    liyang = ZoneInfo("Asia/Shanghai")
    in_period = sum(date(2026, 6, 1) <= at.astimezone(liyang).date() <= date(2026, 11, 30) for at in received_at)
    assert stats["period"] == {"from": "2026-06-01", "to": "2026-11-30"}
    assert stats["total"]["received"] == in_period > 0
    assert sum(d["received"] for d in stats["departments"]) == in_period
    assert stats["total"]["yellow_cards"] + stats["total"]["red_cards"] > 0

    # the Assets' consumers: a signed package in the outbox, the month's reports and status pages
    run = dagbag.dags["sanheyi_exchange"].test(run_conf={"as_of": AS_OF})
    assert run.state == "success"
    assert [p.name for p in (home / "outbox").glob("*.zip")] == ["320481-320400-0000000001.zip"]
    run = dagbag.dags["sanheyi_reports"].test(run_conf={"as_of": AS_OF})
    assert run.state == "success"
    assert sorted(p.suffix for p in (home / "reports" / "2026-11-01_2026-11-30").iterdir()) == [
        ".html",
        ".pdf",
        ".xlsx",
    ]
    assert (home / "reports" / "status.html").exists()


def test_receipts_are_collected_when_the_delivery_fails(home: Path, airflow_db: Path, dagbag, capsys) -> None:
    write_inbox(generate(GeneratorSpec(cases=30, complaints=3, invalid_cases=1)), home / "inbox")
    assert main(["run", "--as-of", AS_OF, "--stage", "ingest", "--stage", "supervise"]) == 0
    (home / "outbox").rmdir()
    (home / "outbox").write_text("not a directory")  # the outbox cannot be written to
    dag = copy.deepcopy(dagbag.dags["sanheyi_exchange"])
    dag.get_task("deliver").retries = 0  # its retries are Airflow's; minutes apart

    run = dag.test(run_conf={"as_of": AS_OF})

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"build_package": "success", "deliver": "failed", "collect_receipts": "success"}
    capsys.readouterr()
    assert main(["exchange", "status", "--format", "json"]) == 0
    [package] = json.loads(capsys.readouterr().out)
    assert package["state"] == "BUILT"  # delivered by the next run


# What a task process does before it runs a task (airflow.sdk.execution_time.supervisor): its
# stdlib log handlers write JSON lines to the supervisor, which stores them as the task's log.
_TASK_PROCESS = """
import logging, sys
sys.path.insert(0, {dags!r})
from airflow.sdk.log import configure_logging
configure_logging(json_output=True, output=open({log!r}, "wb", buffering=0), sending_to_supervisor=True)
from airflow.dag_processing.dagbag import DagBag
run = DagBag(dag_folder={dags!r}).dags["sanheyi_ingest"].test(run_conf={{"as_of": {as_of!r}}})
assert run.state == "success", run.state
try:
    raise ValueError("applicant {id_number}")
except ValueError:  # the handler keeps masking what is logged after the tasks ran, tracebacks too
    logging.getLogger("sanheyi.ingest").exception("after the run")
"""


def test_hub_log_lines_reach_the_airflow_task_log_masked(home: Path, airflow_db: Path, tmp_path: Path) -> None:
    id_number, masked = "320481196904060383", "320481********0383"
    # a clerk's export named after the applicant, without a header row: rejected, and named in the log
    (home / "inbox" / "UNIFIED" / f"case.{id_number}.csv").write_text(
        f"LY3204810000000,UNIFIED,{id_number}\n", encoding="utf-8"
    )
    task_log = tmp_path / "task.log"
    code = _TASK_PROCESS.format(dags=str(DAGS), log=str(task_log), as_of=AS_OF, id_number=id_number)
    result = subprocess.run(
        [sys.executable, "-c", code], env=os.environ.copy(), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    text = task_log.read_text(encoding="utf-8")
    events = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    rejected = [e["event"] for e in events if e.get("logger") == "sanheyi.ingest" and "rejected" in e["event"]]
    assert len(rejected) == 1 and rejected[0].startswith(f"file rejected: case.{masked}.csv: ")
    after = next(e for e in events if e["event"] == "after the run")
    assert after["exception"][0]["exc_value"] == f"applicant {masked}"
    assert id_number not in text
