"""Ingest: read the unified platform, then every approved self-built system (one mapped task each,
so one failing system does not block the others), then release held steps. Produces the warehouse
Asset that the supervision DAG is scheduled on."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag
from sanheyi_dag_support import START_DATE, WAREHOUSE, as_of_from, default_args, hub_task


@dag(
    schedule=timedelta(minutes=30),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(timeout_minutes=60),
    params={"as_of": Param(None, type=["null", "string"], description="RFC 3339 instant; default: the run's time")},
    tags=["sanheyi", "ingest"],
    doc_md=__doc__,
)
def sanheyi_ingest():
    @hub_task()
    def start_cycle(**context) -> dict:
        from sanheyi.pipeline import new_cycle_id

        as_of = as_of_from(context)
        return {"cycle_id": new_cycle_id(as_of), "as_of": as_of.isoformat()}

    @hub_task()
    def ingest_unified(cycle: dict) -> dict:
        return _ingest("UNIFIED", cycle)

    @hub_task()
    def approved_systems() -> list[str]:
        from sanheyi.pipeline import source_codes
        from sanheyi.settings import load_settings

        return [code for code in source_codes(load_settings()) if code != "UNIFIED"]

    # one at a time: each read holds the cycle lock (a second would only wait for it, and time out
    # behind a slow source)
    @hub_task(pool="sanheyi_sources", max_active_tis_per_dagrun=1, map_index_template="{{ system_code }}")
    def ingest_system(system_code: str, cycle: dict) -> dict:
        return _ingest(system_code, cycle)

    @hub_task(outlets=[WAREHOUSE], trigger_rule="all_done")
    def release_held_steps(cycle: dict, **context) -> dict:
        from datetime import datetime

        from sanheyi.pipeline import release_held_stage
        from sanheyi.settings import load_settings

        summary = release_held_stage(
            load_settings(), datetime.fromisoformat(cycle["as_of"]), cycle_id=cycle["cycle_id"]
        )
        counts = summary.total().__dict__
        context["outlet_events"][WAREHOUSE].extra = {**cycle, "released": counts}
        return counts

    cycle = start_cycle()
    unified = ingest_unified(cycle)
    systems = approved_systems()
    unified >> systems
    per_system = ingest_system.partial(cycle=cycle).expand(system_code=systems)
    per_system >> release_held_steps(cycle)


def _ingest(system_code: str, cycle: dict) -> dict:
    from datetime import datetime

    from sanheyi.pipeline import ingest_one_source
    from sanheyi.settings import load_settings

    summary = ingest_one_source(
        load_settings(), system_code, datetime.fromisoformat(cycle["as_of"]), cycle_id=cycle["cycle_id"]
    )
    return {"system": system_code, "batches": len(summary.batches), **summary.total().__dict__}


sanheyi_ingest()
