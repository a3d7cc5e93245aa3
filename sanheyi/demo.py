"""``make demo``: set up an embedded hub, feed it a generated Liyang dataset, run the cycle through
the Airflow DAGs, and show what happened and where everything is.

Run as ``python -m sanheyi.demo``. Everything lives under ``SANHEYI_HOME`` (default ``./var``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sanheyi.pipeline import init_home
from sanheyi.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
SHANGHAI = timezone(timedelta(hours=8))
DAG_ORDER = ("sanheyi_ingest", "sanheyi_supervision", "sanheyi_exchange", "sanheyi_reports")


def say(text: str = "") -> None:
    print(text, flush=True)


def airflow_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SANHEYI_HOME": str(settings.home),
            "AIRFLOW_HOME": str(settings.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        }
    )
    return env


def _airflow(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    airflow = Path(sys.executable).with_name("airflow")
    return subprocess.run([str(airflow), *args], env=airflow_env(settings), capture_output=True, text=True, check=False)


def prepare_airflow(settings: Settings) -> None:
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    migrated = _airflow(settings, "db", "migrate")
    if migrated.returncode != 0:
        raise SystemExit(f"airflow db migrate failed:\n{migrated.stderr[-2000:]}")
    _airflow(settings, "pools", "set", "sanheyi_sources", "2", "calls to source systems")


def run_dags(settings: Settings, as_of: datetime, dag_ids: tuple[str, ...] = DAG_ORDER) -> None:
    """Run each DAG once with ``airflow dags test`` in the order the Assets chain them."""
    conf = json.dumps({"as_of": as_of.isoformat()})
    for dag_id in dag_ids:
        say(f"  airflow dags test {dag_id} ...")
        result = _airflow(settings, "dags", "test", dag_id, as_of.isoformat(), "--conf", conf)
        output = result.stdout + result.stderr
        finished = [line for line in output.splitlines() if "DagRun Finished" in line]
        if result.returncode != 0 or not finished or "state=success" not in finished[-1]:
            log_file = settings.logs / f"airflow-{dag_id}.log"
            log_file.write_text(result.stdout + result.stderr, encoding="utf-8")
            raise SystemExit(f"DAG {dag_id} did not succeed; its output is in {log_file}")


def feed_inbox(settings: Settings) -> int:
    """Drop a generated dataset into inbox/UNIFIED/ once (a second demo run adds nothing new)."""
    from simulators.generator import GeneratorSpec, generate, write_inbox

    marker = settings.home / ".demo-dataset"
    if marker.exists():
        return 0
    data = generate(GeneratorSpec(cases=2000, complaints=150, invalid_cases=12))
    files = write_inbox(data, settings.inbox)
    marker.write_text("\n".join(str(f) for f in files), encoding="utf-8")
    return len(files)


def main() -> int:
    settings = load_settings()
    say(f"== 1. sanheyi init  (SANHEYI_HOME={settings.home})")
    for line in init_home(settings):
        say(f"  {line}")
    settings = load_settings(settings.home)
    as_of = datetime.now(SHANGHAI).replace(microsecond=0)

    say("== 2. generated Liyang dataset -> inbox/UNIFIED/")
    written = feed_inbox(settings)
    say(f"  {written} file(s) written" if written else "  dataset already fed (run `make clean-demo` to start over)")

    say("== 3. Airflow: the ingest DAG loads the unified platform (catalogue, cases, steps, complaints)")
    prepare_airflow(settings)
    run_dags(settings, as_of, ("sanheyi_ingest",))

    say("== 4. self-built systems (simulated on 127.0.0.1): apply -> check -> approve")
    from sanheyi.demo_systems import prepare_self_built_systems, stop_simulators

    try:
        for line in prepare_self_built_systems(settings, as_of):
            say(f"  {line}")
        say(f"== 5. the full cycle through the Airflow DAGs, as of {as_of.isoformat()}")
        run_dags(settings, as_of)
    finally:
        stop_simulators()

    say("== 6. Changzhou round trip (the demo receiver verifies packages and writes receipts)")
    from sanheyi.exchange_stage import demo_receiver_round_trip

    for line in demo_receiver_round_trip(settings, as_of):
        say(f"  {line}")

    say("== 7. what happened")
    summarise(settings)
    return 0


def summarise(settings: Settings) -> None:
    from sqlalchemy import func, select

    from sanheyi.pipeline import warehouse_engine
    from sanheyi.quarantine import list_quarantine
    from warehouse.tables import (
        fct_case,
        fct_case_step,
        fct_complaint,
        fct_supervision_event,
        ops_load_batch,
        ops_package,
    )

    engine = warehouse_engine(settings)
    with engine.connect() as conn:
        counts = {
            "cases": conn.execute(select(func.count()).select_from(fct_case)).scalar_one(),
            "steps": conn.execute(select(func.count()).select_from(fct_case_step)).scalar_one(),
            "complaints": conn.execute(select(func.count()).select_from(fct_complaint)).scalar_one(),
            "active events": conn.execute(
                select(func.count())
                .select_from(fct_supervision_event)
                .where(fct_supervision_event.c.status == "ACTIVE")
            ).scalar_one(),
        }
        totals = conn.execute(
            select(
                func.sum(ops_load_batch.c.received_count),
                func.sum(ops_load_batch.c.loaded_count),
                func.sum(ops_load_batch.c.quarantined_count),
                func.sum(ops_load_batch.c.duplicate_count),
                func.sum(ops_load_batch.c.stale_count),
                func.sum(ops_load_batch.c.held_count),
            )
        ).one()
        packages = conn.execute(
            select(ops_package.c.file_name, ops_package.c.state, ops_package.c.receipt_status).order_by(
                ops_package.c.sequence
            )
        ).all()
    engine.dispose()
    say("  warehouse: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    received, loaded, quarantined, duplicate, stale, held = (int(v or 0) for v in totals)
    say(
        f"  all batches: received {received} = loaded {loaded} + quarantined {quarantined} + duplicate "
        f"{duplicate} + stale {stale} + held {held}"
    )
    reasons = Counter(entry["reason"] for entry in list_quarantine(settings))
    say("  quarantined, by reason: " + (", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "none"))
    say("  (details: sanheyi quarantine list)")
    for name, state, receipt in packages:
        say(f"  package {settings.outbox / name}  [{state}{', receipt ' + receipt if receipt else ''}]")
    for report in sorted(settings.reports.glob("*/*.*")):
        if report.suffix in (".html", ".xlsx", ".pdf"):
            say(f"  report {report}")
    say(f"  public key for the verifier: {settings.keys_dir / 'exchange.pub'}")
    say("  next: .venv/bin/sanheyi status · .venv/bin/sanheyi stats --from 2026-10-01 --to 2026-10-31")


if __name__ == "__main__":
    sys.exit(main())
