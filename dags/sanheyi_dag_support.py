"""What every hub DAG shares: the Assets that chain them, retry policy, the failure notifier.

Not a DAG file (listed in .airflowignore). Nothing here touches a database, a file or a Variable at
import time: settings are read inside tasks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import Asset, BaseNotifier, task

# Assets carry the cycle id and counts in their event extras, so a consumer knows what it reacts to.
WAREHOUSE = Asset("sanheyi://warehouse/records", group="sanheyi")
SUPERVISION = Asset("sanheyi://warehouse/supervision_events", group="sanheyi")
EXCHANGE = Asset("sanheyi://exchange/changzhou_packages", group="sanheyi")

START_DATE = datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8)))


class HubFailureNotifier(BaseNotifier):
    """Tells the data engineers about a failed task, through ``sanheyi.alerts`` (log, webhook)."""

    template_fields = ()

    def notify(self, context: Any) -> None:
        from sanheyi.alerts import send_alert

        ti = context.get("ti") or context.get("task_instance")
        exception = context.get("exception")
        # Only the exception's class and the hub's own one-line message: never a record.
        message = getattr(exception, "message", None) or type(exception).__name__
        send_alert(
            f"三合一数据枢纽任务失败 / hub task failed: {getattr(ti, 'dag_id', '?')}."
            f"{getattr(ti, 'task_id', '?')}: {message}"
        )


def mask_task_logs(context: Any) -> None:
    """Runs before each task: the hub's log masking on the handlers Airflow's task logging set up.

    A task process gets its log handlers from Airflow, not from ``sanheyi.logs.configure_logging``;
    without this, ID numbers and credentials that hub code or a library lets slip would reach the
    task log as they are.
    """
    from sanheyi.logs import install_log_masking

    install_log_masking()


def hub_task(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``@task(**options)`` for hub code: an exception the hub did not foresee reaches Airflow as a
    one-line ``UnexpectedFailure`` (its traceback logged first, masked). Airflow's task runner logs a
    failed task's exception as it is, and a database error quotes the record it failed on."""

    def decorate(function: Callable[..., Any]) -> Any:
        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            from sanheyi.logs import failures_without_records

            with failures_without_records(f"task {function.__name__}"):
                return function(*args, **kwargs)

        return task(**options)(guarded)

    return decorate


def default_args(*, timeout_minutes: int = 60) -> dict[str, Any]:
    return {
        "owner": "sanheyi",
        "retries": 3,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(minutes=timeout_minutes),
        "on_failure_callback": [HubFailureNotifier()],
        "on_execute_callback": [mask_task_logs],
    }


def as_of_from(context: Any) -> datetime:
    """The instant a run works as of: the run's ``as_of`` param if given; else, for a run an Asset
    triggered, the latest ``as_of`` its events carry (supervision then judges the cycle the ingest
    ran, a backfill included, not the moment the scheduler got round to it); else the run's time."""
    params = context.get("params") or {}
    if params.get("as_of"):
        return datetime.fromisoformat(params["as_of"])
    upstream = [
        datetime.fromisoformat(event.extra["as_of"])
        for events in (context.get("triggering_asset_events") or {}).values()
        for event in events
        if isinstance(getattr(event, "extra", None), dict) and event.extra.get("as_of")
    ]
    if upstream:
        return max(upstream)
    run_after = context.get("logical_date") or context["dag_run"].run_after
    return run_after.astimezone(timezone(timedelta(hours=8)))
