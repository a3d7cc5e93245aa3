"""Electronic supervision: recompute the yellow/red card events whenever the warehouse changed.
Scheduled on the warehouse Asset; produces the supervision Asset."""

from __future__ import annotations

from airflow.sdk import dag
from airflow.sdk.exceptions import AirflowSkipException
from sanheyi_dag_support import START_DATE, SUPERVISION, WAREHOUSE, as_of_from, default_args, hub_task


@dag(
    schedule=[WAREHOUSE],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(timeout_minutes=30),
    tags=["sanheyi", "supervision"],
    doc_md=__doc__,
)
def sanheyi_supervision():
    @hub_task(outlets=[SUPERVISION])
    def compute_events(**context) -> dict:
        from sanheyi.settings import load_settings
        from sanheyi.supervise import supervise_stage

        as_of = as_of_from(context)
        summary = supervise_stage(load_settings(), as_of)
        if summary.get("skipped"):  # a source's read is incomplete: no Asset event, so no package
            raise AirflowSkipException(summary["skipped"])
        context["outlet_events"][SUPERVISION].extra = {"as_of": as_of.isoformat(), **summary}
        return summary

    compute_events()


sanheyi_supervision()
