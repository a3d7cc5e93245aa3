"""Exchange with Changzhou: build the next signed package from what changed, deliver it, collect
receipts. Building is idempotent (a retry rebuilds the same bytes, never a second package)."""

from __future__ import annotations

from airflow.sdk import dag
from sanheyi_dag_support import EXCHANGE, START_DATE, SUPERVISION, as_of_from, default_args, hub_task


@dag(
    schedule=[SUPERVISION],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(timeout_minutes=60),
    tags=["sanheyi", "exchange"],
    doc_md=__doc__,
)
def sanheyi_exchange():
    @hub_task()
    def build_package(**context) -> dict:
        from sanheyi.exchange_stage import build_stage
        from sanheyi.settings import load_settings

        return build_stage(load_settings(), as_of_from(context))

    @hub_task(outlets=[EXCHANGE])
    def deliver(built: dict, **context) -> list[int]:
        from sanheyi.exchange_stage import deliver_stage
        from sanheyi.settings import load_settings

        delivered = deliver_stage(load_settings(), as_of_from(context))
        context["outlet_events"][EXCHANGE].extra = {"built": built, "delivered": delivered}
        return delivered

    # Receipts are collected and overdue packages flagged even when the delivery failed (that task
    # still fails, and alerts, on its own): the receipts of earlier deliveries do not wait for it.
    @hub_task(trigger_rule="all_done")
    def collect_receipts(**context) -> str:
        from sanheyi.exchange_stage import process_receipts
        from sanheyi.settings import load_settings

        summary = process_receipts(load_settings(), as_of_from(context))  # alerts each REJECTED receipt itself
        if "no receipt after" in summary or "refused" in summary:
            from sanheyi.alerts import send_alert

            send_alert(f"常州回执异常 / Changzhou receipts need attention: {summary}")
        return summary

    deliver(build_package()) >> collect_receipts()


sanheyi_exchange()
