"""XLSX rendering (openpyxl): one sheet per table, a report header row and frozen column headers on each."""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from reports.labels import METRIC_BY_KEY, METRICS, PROVISIONAL_MARK, Metric
from reports.view import ReportView, change

__all__ = ["render_xlsx"]

FMT_COUNT = "0"
FMT_RATE = "0.00%"
FMT_SCORE = "0.00"
FMT_DATE = "yyyy-mm-dd"
FMT_DELTA_COUNT = "+0;-0;0"
FMT_DELTA_PP = '+0.00"个百分点";-0.00"个百分点";"持平"'
FMT_DELTA_SCORE = '+0.00"分";-0.00"分";"持平"'

_HEAD_FILL = PatternFill("solid", fgColor="1F4E79")
_TOTAL_FILL = PatternFill("solid", fgColor="E4ECF4")
_BANNER_FILL = PatternFill("solid", fgColor="F3F6F9")
_THIN = Side(style="thin", color="D5DBE1")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_FONT = "Noto Sans CJK SC"


@dataclass(frozen=True)
class _Col:
    title: str
    fmt: str | None = None
    min_width: float = 6
    max_width: float = 60


def _metric_fmt(metric: Metric) -> str | None:
    return {"count": FMT_COUNT, "rate": FMT_RATE, "score": FMT_SCORE}.get(metric.kind)


def _delta_fmt(metric: Metric) -> str:
    return {"rate": FMT_DELTA_PP, "score": FMT_DELTA_SCORE}.get(metric.kind, FMT_DELTA_COUNT)


def _display_width(value: Any, fmt: str | None) -> float:
    if value is None:
        return 0
    if isinstance(value, float) and fmt == FMT_RATE:
        text = f"{value * 100:.2f}%"
    elif isinstance(value, float):
        text = f"{value:.2f}"
    elif isinstance(value, (date, datetime)):
        text = "2026-10-01"
    else:
        text = str(value)
    longest = max(text.split("\n"), key=len)
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in longest)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def _set(ws: Worksheet, row: int, col: int, value: Any, fmt: str | None = None) -> None:
    cell = ws.cell(row=row, column=col, value=_clean(value))
    if isinstance(value, str) and value.startswith("="):
        # Text from the data (a message, a name) must never become a formula.
        cell.data_type = "s"
    if fmt and value is not None and not isinstance(value, str):
        cell.number_format = fmt
    cell.border = _BORDER
    cell.font = Font(name=_FONT, size=10)
    if isinstance(value, str) and fmt is None:
        cell.alignment = Alignment(vertical="center", wrap_text=len(value) > 40)
    else:
        cell.alignment = Alignment(vertical="center")


def _sheet(
    wb: Workbook,
    title: str,
    view: ReportView,
    columns: Sequence[_Col],
    rows: Sequence[Sequence[Any]],
    *,
    freeze: str = "A3",
    total_rows: Sequence[int] = (),
) -> Worksheet:
    ws = wb.create_sheet(title)
    n = len(columns)
    last = get_column_letter(n)
    banner = f"{view.header_line}｜统计期间 {view.period_text}｜生成时间 {view.generated_text}"
    ws.cell(row=1, column=1, value=banner)
    ws.merge_cells(f"A1:{last}1")
    ws["A1"].font = Font(name=_FONT, size=11, bold=True, color="C0392B" if view.provisional else "1F4E79")
    ws["A1"].alignment = Alignment(vertical="center", wrap_text=True)
    ws["A1"].fill = _BANNER_FILL
    for j, col in enumerate(columns, start=1):
        cell = ws.cell(row=2, column=j, value=col.title)
        cell.font = Font(name=_FONT, size=10, bold=True, color="FFFFFF")
        cell.fill = _HEAD_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = _BORDER
    ws.row_dimensions[2].height = 30
    widths = [max(c.min_width, _display_width(c.title, None) / 1.6 + 2) for c in columns]
    for i, row in enumerate(rows, start=3):
        for j, (col, value) in enumerate(zip(columns, row, strict=True), start=1):
            _set(ws, i, j, value, col.fmt)
            widths[j - 1] = max(widths[j - 1], min(col.max_width, _display_width(value, col.fmt) + 2))
        if i - 3 in total_rows:
            for j in range(1, n + 1):
                ws.cell(row=i, column=j).fill = _TOTAL_FILL
                ws.cell(row=i, column=j).font = Font(name=_FONT, size=10, bold=True)
    for j, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = width
    # The banner wraps inside the merged row: give it as many lines as its text needs.
    lines = max(1, math.ceil(_display_width(banner, None) * 1.1 / max(sum(widths), 1)))
    ws.row_dimensions[1].height = 16 * lines + 6
    ws.freeze_panes = freeze
    if rows:
        ws.auto_filter.ref = f"A2:{last}{len(rows) + 2}"
    # Printing: landscape, fit to the page width, report header and column titles on every page.
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = "1:2"
    ws.oddHeader.center.text = view.header_line.replace("&", "&&")[:250]
    ws.oddFooter.right.text = "第 &P 页 / 共 &N 页"
    return ws


def render_xlsx(view: ReportView) -> bytes:
    """The report's tables as a workbook: 汇总, 部门排名, 权力类别, 监察信号, 隔离记录."""
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.title = f"{view.title}（{view.period_label}）"
    wb.properties.creator = "溧阳市三合一数据中心"
    # The document dates are the report's own, so the same bundle gives the same workbook metadata.
    generated = view.generated_at.astimezone(UTC).replace(tzinfo=None)
    wb.properties.created = wb.properties.modified = generated
    _summary(wb, view)
    _departments(wb, view)
    _power_types(wb, view)
    _events(wb, view)
    _quarantine(wb, view)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _summary(wb: Workbook, view: ReportView) -> None:
    has_prev = view.previous_total is not None
    prev_title = f"上期（{view.previous_label}）" if has_prev else "上期"
    columns = [
        _Col("指标", min_width=16),
        _Col(f"本期（{view.period_label}）", min_width=14),
        _Col(prev_title, min_width=14),
        _Col("较上期（比率为百分点）", min_width=16),
    ]
    rows: list[list[Any]] = []
    formats: list[tuple[str | None, str | None]] = []
    for metric in METRICS:
        current = view.total.get(metric.key)
        previous = view.previous_total.get(metric.key) if view.previous_total else None
        diff = change(metric, current, previous).value if has_prev else None
        rows.append([metric.label, current, previous, diff])
        formats.append((_metric_fmt(metric), _delta_fmt(metric)))
    ws = _sheet(wb, "汇总", view, columns, rows)
    # Each row has its own unit, so number formats are set per row here.
    for i, (fmt, delta_fmt) in enumerate(formats, start=3):
        for col in (2, 3):
            if fmt and ws.cell(row=i, column=col).value is not None:
                ws.cell(row=i, column=col).number_format = fmt
        if ws.cell(row=i, column=4).value is not None:
            ws.cell(row=i, column=4).number_format = delta_fmt
    start = len(rows) + 4
    info = [
        ("统计期间", view.period_text),
        ("对比上期", view.previous_label or "无"),
        ("统计时点", view.as_of_text),
        ("数据截止", view.cutoff_text),
        ("生成时间", view.generated_text),
        ("审批日志链头", view.decision_log_head or "无（尚无审批记录）"),
        ("节假日日历", PROVISIONAL_MARK if view.provisional else "正式日历"),
        ("有效监察信号", view.active_events),
        ("已撤销监察信号", view.withdrawn_events),
        ("隔离记录", view.quarantine_total),
        ("说明", "比率空白表示分母为0（本期无相关办件或投诉）；隔离记录不参与统计。"),
    ]
    for k, (label, value) in enumerate(info):
        _set(ws, start + k, 1, label)
        _set(ws, start + k, 2, value, FMT_COUNT)
        ws.merge_cells(start_row=start + k, start_column=2, end_row=start + k, end_column=4)
        ws.cell(row=start + k, column=1).font = Font(name=_FONT, size=10, bold=True)


def _departments(wb: Workbook, view: ReportView) -> None:
    has_prev = view.previous_total is not None
    others = [m for m in METRICS if m.kind != "grade" and m.key != "score"]
    columns = [
        _Col("排名", FMT_COUNT, 5),
        _Col("部门名称", min_width=20),
        _Col("部门代码", min_width=20),
        _Col("综合得分", FMT_SCORE, 8),
        _Col("等级", min_width=6),
    ]
    if has_prev:
        columns.append(_Col("得分较上期", FMT_DELTA_SCORE, 9))
    columns += [_Col(m.label, _metric_fmt(m), 8) for m in others]
    rows: list[list[Any]] = []
    for d in view.departments:
        row = [d.rank, d.row["dept_name"], d.row["dept_code"], d.row.get("score"), d.row.get("grade")]
        if has_prev:
            row.append(d.score_change.value)
        rows.append(row + [d.row.get(m.key) for m in others])
    total = [None, "全市合计", None, view.total.get("score"), view.total.get("grade")]
    if has_prev:
        total.append(
            change(
                METRIC_BY_KEY["score"],
                view.total.get("score"),
                view.previous_total.get("score") if view.previous_total else None,
            ).value
        )
    rows.append(total + [view.total.get(m.key) for m in others])
    _sheet(wb, "部门排名", view, columns, rows, freeze="C3", total_rows=(len(rows) - 1,))


def _power_types(wb: Workbook, view: ReportView) -> None:
    metrics = [m for m in METRICS if m.kind not in ("grade", "score")]
    columns = [_Col("权力类别代码", min_width=8), _Col("权力类别", min_width=12)]
    columns += [_Col(m.label, _metric_fmt(m), 8) for m in metrics]
    rows = [[r["power_type"], r["label"]] + [r.get(m.key) for m in metrics] for r in view.power_types]
    _sheet(wb, "权力类别", view, columns, rows, freeze="C3")


def _events(wb: Workbook, view: ReportView) -> None:
    columns = [
        _Col("序号", FMT_COUNT, 5),
        _Col("编号类别", min_width=6),
        _Col("办件/投诉编号", min_width=18),
        _Col("来源", min_width=8),
        _Col("部门", min_width=18),
        _Col("权力事项编码", min_width=20),
        _Col("权力事项", min_width=20, max_width=40),
        _Col("权力类别", min_width=8),
        _Col("规则编号", min_width=6),
        _Col("规则", min_width=12),
        _Col("信号", min_width=5),
        _Col("发生日期", FMT_DATE, 11),
        _Col("超期天数", FMT_COUNT, 6),
        _Col("状态", min_width=6),
        _Col("推定日历", min_width=6),
    ]
    rows = [
        [
            i,
            e.ref_kind,
            e.ref,
            e.source,
            e.dept_name,
            e.power_code or None,
            e.power_name,
            e.power_type,
            e.rule,
            e.rule_name,
            e.card_name,
            e.event_date,
            e.days_overdue,
            e.status_name,
            "是" if e.provisional else None,
        ]
        for i, e in enumerate(view.events, start=1)
    ]
    _sheet(wb, "监察信号", view, columns, rows, freeze="D3")


def _quarantine(wb: Workbook, view: ReportView) -> None:
    columns = [
        _Col("来源系统", min_width=10),
        _Col("来源系统代码", min_width=10),
        _Col("数据类别", min_width=8),
        _Col("记录标识", min_width=18),
        _Col("来源方式", min_width=8),
        _Col("违反规则", min_width=14),
        _Col("说明", min_width=30, max_width=80),
    ]
    rows = [
        [r.source, r.source_system, r.entity, r.record_key, r.origin, r.rules, r.message]
        for source in view.quarantine
        for r in source.rows
    ]
    _sheet(wb, "隔离记录", view, columns, rows, freeze="A3")
