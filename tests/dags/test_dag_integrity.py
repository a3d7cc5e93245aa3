"""Every DAG imports cleanly, does no work at parse time, and is wired as the hub is operated:
retries with backoff, timeouts, one failure notifier, and Assets chaining ingest → supervision →
exchange / reports."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"

EXPECTED = {"sanheyi_ingest", "sanheyi_supervision", "sanheyi_exchange", "sanheyi_reports"}


def test_dags_import_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXPECTED
    for dag_id in EXPECTED:
        assert Path(dagbag.dags[dag_id].fileloc).stem == dag_id  # one DAG per file, named after it


def test_parsing_does_no_work(tmp_path: Path) -> None:
    home = tmp_path / "never-created"
    code = (
        f"import sys; sys.path.insert(0, {str(DAGS)!r})\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAGS)!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
    )
    env = {
        **__import__("os").environ,
        "SANHEYI_HOME": str(home),
        "SANHEYI_WAREHOUSE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
    }
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not home.exists()  # no settings read, no database touched, no folder made at import


def test_every_task_retries_with_backoff_and_a_timeout_and_masks_its_log(dagbag) -> None:
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            assert task.retries >= 1, task.task_id
            assert task.retry_exponential_backoff, task.task_id
            assert task.execution_timeout is not None and task.execution_timeout <= timedelta(hours=1)
            callbacks = task.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert any(type(c).__name__ == "HubFailureNotifier" for c in callbacks), task.task_id
            # the hub's log masking on the handlers of the task process, before the task's code runs
            callbacks = task.on_execute_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert any(getattr(c, "__name__", "") == "mask_task_logs" for c in callbacks), task.task_id
            # declared with hub_task: an unforeseen exception reaches Airflow's log without its text
            assert task.python_callable.__code__.co_name == "guarded", task.task_id


def scheduled_on(dag) -> set[str]:
    return {asset.uri for asset in dag.timetable.asset_condition.objects}


def test_assets_chain_the_dags(dagbag) -> None:
    ingest, supervision = dagbag.dags["sanheyi_ingest"], dagbag.dags["sanheyi_supervision"]
    exchange, reports = dagbag.dags["sanheyi_exchange"], dagbag.dags["sanheyi_reports"]
    produced = {a.uri for t in ingest.tasks for a in t.outlets}
    assert produced == {"sanheyi://warehouse/records"}
    assert scheduled_on(supervision) == produced
    events = {a.uri for t in supervision.tasks for a in t.outlets}
    assert events == {"sanheyi://warehouse/supervision_events"}
    assert scheduled_on(exchange) == events
    assert scheduled_on(reports) == events  # and at month end, by its cron part
    assert reports.timetable.timetable.expression == "0 2 1 * *"


def test_each_self_built_system_is_its_own_mapped_task(dagbag) -> None:
    ingest = dagbag.dags["sanheyi_ingest"]
    mapped = ingest.get_task("ingest_system")
    assert mapped.pool == "sanheyi_sources"
    assert mapped.max_active_tis_per_dagrun == 1  # each read holds the cycle lock: a second would only wait
    # systems run after the unified platform (its catalogue decides their scope)
    assert "ingest_unified" in ingest.get_task("approved_systems").upstream_task_ids


def test_a_run_an_asset_triggered_works_as_of_the_cycle_that_produced_it() -> None:
    from types import SimpleNamespace

    from sanheyi_dag_support import SUPERVISION, WAREHOUSE, as_of_from

    run = SimpleNamespace(run_after=datetime(2026, 11, 28, 3, tzinfo=UTC))
    # two ingest cycles (one a backfill as of October) queued before supervision ran
    events = {
        WAREHOUSE: [
            SimpleNamespace(extra={"cycle_id": "c1", "as_of": "2026-10-31T23:59:59+08:00"}),
            SimpleNamespace(extra={"cycle_id": "c2", "as_of": "2026-11-28T10:30:00+08:00"}),
        ],
        SUPERVISION: [SimpleNamespace(extra={"active": 3})],  # an event without an as_of says nothing
    }
    context = {"params": {}, "dag_run": run, "triggering_asset_events": events}
    assert as_of_from(context) == datetime.fromisoformat("2026-11-28T10:30:00+08:00")
    # the operator's as_of wins; a run no Asset triggered works as of its own time, in Liyang
    assert as_of_from({**context, "params": {"as_of": "2026-10-31T23:59:59+08:00"}}).month == 10
    own = as_of_from({"params": {}, "dag_run": run, "triggering_asset_events": {}})
    assert own == run.run_after and own.utcoffset() == timedelta(hours=8)
