"""Data Docs of the batch-level checks: ``reports/data_docs/index.html``, rebuilt each cycle.

Great Expectations' own site builder renders only the validation results held by the context that
ran them; an ephemeral context keeps them in the memory of one process, and ingest runs in other
processes than the report (one Airflow task per source). So the pages are built here from what every
run stored in the warehouse (``ops_load_batch.ge_verdict`` / ``ge_summary``, ``ops_batch_hold``),
together with the suites as defined in code. The summaries hold codes and counts only, never record
values (§9).
"""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from sanheyi.pipeline import require_initialised, warehouse_engine
from sanheyi.quality import THRESHOLDS
from sanheyi.settings import Settings
from validators.expectations import SUITES
from warehouse.quality_store import list_holds
from warehouse.tables import ops_load_batch

RECENT_BATCHES = 300
_STYLE = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #eef; } .n { text-align: right; }
.WARN { background: #fff3cd; } .BLOCK, .HELD { background: #f8d7da; } .PASS { background: #d4edda; }
.small { color: #666; font-size: 0.9em; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _thresholds_text() -> list[tuple[str, str]]:
    t = THRESHOLDS
    return [
        (
            "volume_drop",
            f"received < {t.volume_drop_ratio:.0%} of the mean of the last {t.history_batches} whole "
            f"files of the same source and entity (from {t.min_history} earlier whole files on)",
        ),
        (
            "quarantine_rate",
            f"> {t.quarantine_warn_rate:.0%} of the records quarantined (batches of {t.quarantine_min_rows}+ records)",
        ),
        (
            "quarantine_rate_block",
            f"> {t.quarantine_block_rate:.0%} of the records quarantined (batches of {t.quarantine_min_rows}+ records)",
        ),
        ("duplicate_rate", f"> {t.duplicate_warn_rate:.0%} of the records repeat a key and version in the batch"),
        ("updated_at_future", f"newest updated_at later than the run's instant + {t.future_tolerance_minutes} min"),
        ("updated_at_stale", f"newest updated_at older than {t.stale_after_days} days (case, case_step, complaint)"),
        ("new_value:*", f"a value the source never sent before (from {t.min_history} earlier batches on)"),
        ("null_rate:*", f"empty {t.null_rise:.0%} more often than the mean of the last {t.history_batches} batches"),
    ]


def _suites_html() -> str:
    parts = []
    for entity, specs in SUITES.items():
        rows = "".join(
            f"<tr class='{'BLOCK' if s.severity == 'block' else ''}'><td>{_e(s.name)}</td><td>{_e(s.severity)}</td>"
            f"<td><code>{_e(s.expectation)}</code></td><td>{_e(s.column or '')}</td>"
            f"<td>{_e(s.what_zh)}<br><span class='small'>{_e(s.what_en)}</span></td></tr>"
            for s in specs
        )
        parts.append(
            f"<h3>sanheyi.{_e(entity)}</h3><table><thead><tr><th>检查 check</th><th>级别 severity</th>"
            f"<th>expectation</th><th>字段 column</th><th>说明 what</th></tr></thead><tbody>{rows}"
            "</tbody></table>"
        )
    limits = "".join(f"<tr><td>{_e(name)}</td><td>{_e(text)}</td></tr>" for name, text in _thresholds_text())
    parts.append(f"<h3>阈值 Thresholds</h3><table><tbody>{limits}</tbody></table>")
    return "".join(parts)


def _failures_html(summary: dict[str, Any]) -> str:
    items = []
    for f in summary.get("failed", []):
        waived = " (waived by release)" if f.get("check") in summary.get("overridden", []) else ""
        items.append(
            f"<li><b>{_e(f.get('check'))}</b> [{_e(f.get('severity'))}{_e(waived)}] "
            f"{_e(f.get('message_zh'))}<br><span class='small'>{_e(f.get('message_en'))}</span></li>"
        )
    released = summary.get("released")
    if released:
        items.append(
            f"<li class='small'>放行 released: batch {_e(released.get('hold_batch_id'))} by "
            f"{_e(released.get('by'))} — {_e(released.get('reason'))}</li>"
        )
    return f"<ul>{''.join(items)}</ul>" if items else ""


def render_data_docs(batches: list[dict[str, Any]], holds: list[dict[str, Any]], built_at: str) -> str:
    rows = []
    for b in batches:
        summary = b["ge_summary"] or {}
        rows.append(
            f"<tr class='{_e(b['ge_verdict'])}'><td class='n'>{_e(b['batch_id'])}</td><td>{_e(b['source_system'])}</td>"
            f"<td>{_e(b['entity'])}</td><td>{_e(Path(b['origin']).name)}</td><td>{_e(b['started_at'])}</td>"
            f"<td>{_e(b['ge_verdict'])}</td><td>{_e(b['status'])}</td><td class='n'>{_e(summary.get('rows'))}</td>"
            f"<td class='n'>{_e(summary.get('seconds'))}</td><td>{_failures_html(summary)}</td></tr>"
        )
    held_rows = "".join(
        f"<tr class='HELD'><td class='n'>{_e(h['batch_id'])}</td><td>{_e(h['source_system'])}</td>"
        f"<td>{_e(h['entity'])}</td><td>{_e(Path(h['origin']).name)}</td><td>{_e(h['status'])}</td>"
        f"<td>{'<br>'.join(_e(r.get('message_zh')) + ' / ' + _e(r.get('message_en')) for r in h['reason'])}</td></tr>"
        for h in holds
    )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="zh-CN"><head><meta charset="utf-8"><title>数据质量 Data quality — Data Docs</title>',
            f"<style>{_STYLE}</style></head><body>",
            "<h1>数据质量 Data quality <span class='small'>Great Expectations suites and results</span></h1>",
            f"<p class='small'>生成于 built {_e(built_at)}. 返回 back: <a href='../status.html'>status.html</a></p>",
            "<h2>暂停入库的批次 Held batches</h2>",
            (
                "<table><thead><tr><th>批次 batch</th><th>来源 source</th><th>实体 entity</th><th>文件 origin</th>"
                f"<th>状态 status</th><th>原因 reason</th></tr></thead><tbody>{held_rows}</tbody></table>"
            )
            if holds
            else "<p>无 none</p>",
            f"<h2>最近的检查 Recent checks (last {RECENT_BATCHES} batches)</h2>",
            "<table><thead><tr><th>批次 batch</th><th>来源 source</th><th>实体 entity</th><th>文件 origin</th>"
            "<th>时间 at</th><th>结论 verdict</th><th>批次状态 status</th><th>行 rows</th><th>秒 s</th>"
            f"<th>未通过 failed</th></tr></thead><tbody>{''.join(rows)}</tbody></table>",
            "<h2>检查套件 Suites</h2>",
            _suites_html(),
            "</body></html>",
        ]
    )


def write_data_docs(settings: Settings, as_of: datetime | None = None) -> Path:
    """Write ``reports/data_docs/index.html`` from the stored results."""
    require_initialised(settings)
    engine = warehouse_engine(settings)
    try:
        with engine.connect() as conn:
            rows = (
                conn.execute(
                    select(
                        ops_load_batch.c.batch_id,
                        ops_load_batch.c.source_system,
                        ops_load_batch.c.entity,
                        ops_load_batch.c.origin,
                        ops_load_batch.c.started_at,
                        ops_load_batch.c.status,
                        ops_load_batch.c.ge_verdict,
                        ops_load_batch.c.ge_summary,
                    )
                    .where(ops_load_batch.c.ge_verdict.is_not(None))
                    .order_by(ops_load_batch.c.batch_id.desc())
                    .limit(RECENT_BATCHES)
                )
                .mappings()
                .all()
            )
            holds = list_holds(conn)
    finally:
        engine.dispose()
    built_at = as_of or datetime.now().astimezone()
    batches = [
        {
            **dict(r),
            "started_at": r["started_at"].astimezone(built_at.tzinfo).strftime("%Y-%m-%d %H:%M")
            if r["started_at"]
            else None,
        }
        for r in rows
    ]
    hold_rows = [
        {
            "batch_id": h.batch_id,
            "source_system": h.source_system,
            "entity": h.entity,
            "origin": h.origin,
            "status": h.status,
            "reason": h.reason,
        }
        for h in holds
    ]
    built = built_at.isoformat()
    page = settings.reports / "data_docs" / "index.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    temporary = page.with_name(".index.html.tmp")
    temporary.write_text(render_data_docs(batches, hold_rows, built), encoding="utf-8")
    temporary.replace(page)
    return page
