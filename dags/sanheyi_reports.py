"""Reports for supervision staff: the current month's report whenever the events changed, and the
closed month's report on the first day of each month; then the status and data quality pages."""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag
from sanheyi_dag_support import START_DATE, SUPERVISION, as_of_from, default_args, hub_task


@dag(
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 2 1 * *", timezone="Asia/Shanghai"), assets=[SUPERVISION]
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(timeout_minutes=30),
    tags=["sanheyi", "reports"],
    doc_md=__doc__,
)
def sanheyi_reports():
    @hub_task()
    def render_reports(**context) -> list[str]:
        from sanheyi.reporting import render_month_report
        from sanheyi.settings import load_settings

        return [str(path) for path in render_month_report(load_settings(), as_of_from(context))]

    @hub_task()
    def publish_status_pages(**context) -> list[str]:
        from sanheyi.settings import load_settings
        from sanheyi.status import publish

        return [str(path) for path in publish(load_settings(), as_of_from(context))]

    render_reports() >> publish_status_pages()


sanheyi_reports()
