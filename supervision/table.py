"""A fixed-width text rendering of statistics.json for ``sanheyi stats --format table``."""

from __future__ import annotations

import unicodedata
from typing import Any

from schemas.standard import CODELISTS

POWER_TYPE_NAMES = CODELISTS["power_type"]  # 行政许可, 非许可审批, ...
# (key, header); rates print as percentages
COLUMNS = (
    ("received", "受理"),
    ("completed", "办结"),
    ("on_time", "按时"),
    ("early", "提前"),
    ("overdue", "超期"),
    ("on_time_rate", "按时率"),
    ("early_rate", "提前率"),
    ("denied", "不予"),
    ("denial_rate", "不予率"),
    ("open_at_end", "期末在办"),
    ("open_overdue", "在办超期"),
    ("overdue_rate", "超期率"),
    ("yellow_cards", "黄牌"),
    ("red_cards", "红牌"),
    ("complaints", "投诉"),
    ("complaints_substantiated", "属实"),
    ("satisfaction_rate", "满意率"),
    ("process_ok_rate", "流程规范"),
    ("content_ok_rate", "内容规范"),
    ("complaint_on_time_rate", "投诉按时"),
)
PROVISIONAL_NOTE = "含推定日历：部分数字依据推定的工作日历（该年官方放假安排尚未录入），录入后将重新计算。"


def format_statistics_table(stats: dict[str, Any]) -> str:
    """Render a statistics document as plain text: departments (with score and grade), power types, total."""
    period = stats.get("period", {})
    lines = [
        f"溧阳市三合一电子监察统计  区划 {stats.get('region', '')}  标准版本 {stats.get('standard_version', '')}",
        f"统计期 {period.get('from', '')} 至 {period.get('to', '')}  截至 {stats.get('as_of', '')}",
    ]
    if stats.get("provisional"):
        lines.append(PROVISIONAL_NOTE)
    metric_headers = [h for _, h in COLUMNS]

    lines.append("")
    lines.append("按部门")
    header = ["部门", *metric_headers, "得分", "等级"]
    rows = []
    for d in stats.get("departments", []):
        rows.append(
            [d.get("dept_name") or d.get("dept_code", ""), *_cells(d), _score(d.get("score")), d.get("grade", "")]
        )
    total = stats.get("total", {})
    rows.append(["合计", *_cells(total), _score(total.get("score")), total.get("grade", "")])
    lines += _grid(header, rows)

    lines.append("")
    lines.append("按权力类别")
    header = ["权力类别", *metric_headers]
    rows = [
        [f"{t.get('power_type', '')} {POWER_TYPE_NAMES.get(t.get('power_type', ''), '')}", *_cells(t)]
        for t in stats.get("power_types", [])
    ]
    lines += _grid(header, rows)
    return "\n".join(lines) + "\n"


def _cells(row: dict[str, Any]) -> list[str]:
    out = []
    for key, _ in COLUMNS:
        v = row.get(key)
        if key.endswith("_rate"):
            out.append("—" if v is None else f"{v * 100:.2f}%")
        else:
            out.append("—" if v is None else str(v))
    return out


def _score(v: Any) -> str:
    return "—" if v is None else f"{v:.2f}"


def _width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in s)


def _pad(s: str, width: int, left: bool) -> str:
    fill = " " * (width - _width(s))
    return s + fill if left else fill + s


def _grid(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(_width(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for n, r in enumerate([header, *rows]):
        out.append("  ".join(_pad(str(c), widths[i], left=i == 0) for i, c in enumerate(r)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out
