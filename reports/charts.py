"""The report's charts as PNG bytes (matplotlib, Agg canvas, a CJK font found via font_manager)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

from matplotlib import font_manager, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from reports.errors import CjkFontMissingError
from reports.labels import POWER_TYPES
from reports.view import ReportView

_log = logging.getLogger(__name__)

__all__ = ["Charts", "cjk_font", "render_charts"]

# Preference order: Simplified Chinese first so that shared code points take the mainland glyph shapes.
_PREFERRED = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Noto Sans CJK TC",
    "Noto Sans CJK JP",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
)

YELLOW = "#E0A100"
RED = "#C0392B"
BLUE = "#2F6CA8"
LIGHT_BLUE = "#8DB3DA"
GREY = "#7F8C8D"
DPI = 150


# Departments per on-time chart: more would make the bars and names too small on an A4 page.
DEPARTMENTS_PER_CHART = 20


@dataclass(frozen=True)
class Charts:
    on_time_by_department: tuple[bytes, ...]  # one image per DEPARTMENTS_PER_CHART departments
    cards_by_rule: bytes
    cards_by_week: bytes
    power_types: bytes


@lru_cache(maxsize=1)
def cjk_font() -> str:
    """The family name of an installed CJK font matplotlib can use; raises when there is none."""
    names = {f.name for f in font_manager.fontManager.ttflist}
    for family in _PREFERRED:
        if family in names:
            return family
    # The font cache may predate the installation of the fonts: look at the files themselves.
    for path in font_manager.findSystemFonts():
        if "cjk" in path.lower() or "wqy" in path.lower():
            try:
                font_manager.fontManager.addfont(path)
            except Exception:  # an unreadable font file is not ours to fix; keep looking
                _log.debug("skipping unreadable font file %s", path)
    names = {f.name for f in font_manager.fontManager.ttflist}
    for family in _PREFERRED:
        if family in names:
            return family
    raise CjkFontMissingError(
        "未找到中文字体，图表无法显示中文；请安装 fonts-noto-cjk（apt-get install -y fonts-noto-cjk）"
        " / no CJK font found for the charts: install fonts-noto-cjk"
    )


@contextmanager
def _style() -> Iterator[None]:
    with rc_context(
        {
            "font.family": "sans-serif",
            "font.sans-serif": [cjk_font(), "DejaVu Sans"],
            "axes.unicode_minus": False,
            "font.size": 10,
            "axes.titlesize": 12,
            "axes.titleweight": "bold",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.color": "#DDDDDD",
            "grid.linewidth": 0.6,
            "axes.axisbelow": True,
            "legend.frameon": False,
        }
    ):
        yield


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    # No Software/Date metadata: the same figures give the same bytes.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def render_charts(view: ReportView) -> Charts:
    """Draw the four charts of a report."""
    with _style():
        return Charts(
            on_time_by_department=_on_time_by_department(view),
            cards_by_rule=_cards_by_rule(view),
            cards_by_week=_cards_by_week(view),
            power_types=_power_types(view),
        )


def _on_time_by_department(view: ReportView) -> tuple[bytes, ...]:
    rows = [d.row for d in view.departments]
    rated = sorted(
        (r for r in rows if r.get("on_time_rate") is not None), key=lambda r: (-r["on_time_rate"], r["dept_name"])
    )
    unrated = sorted((r for r in rows if r.get("on_time_rate") is None), key=lambda r: r["dept_name"])
    ordered = rated + unrated  # best first; departments without completions last
    chunks = [ordered[i : i + DEPARTMENTS_PER_CHART] for i in range(0, len(ordered), DEPARTMENTS_PER_CHART)] or [[]]
    return tuple(
        _on_time_chart(view, chunk, f"（{k}/{len(chunks)}）" if len(chunks) > 1 else "")
        for k, chunk in enumerate(chunks, start=1)
    )


def _on_time_chart(view: ReportView, chunk: list[dict], part: str) -> bytes:
    ordered = chunk[::-1]  # barh draws bottom-up
    height = max(2.6, 0.3 * len(ordered) + 1.3)
    fig = Figure(figsize=(10, height), layout="constrained")
    ax = fig.add_subplot()
    names = [r["dept_name"] for r in ordered]
    values = [(r.get("on_time_rate") or 0.0) for r in ordered]
    colors = [RED if (r.get("on_time_rate") is not None and r["on_time_rate"] < 0.6) else BLUE for r in ordered]
    bars = ax.barh(range(len(ordered)), values, color=colors, height=0.6)
    ax.set_yticks(range(len(ordered)), names)
    ax.set_xlim(0, 1.12)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.grid(axis="y", visible=False)
    for bar, row in zip(bars, ordered, strict=True):
        rate = row.get("on_time_rate")
        text = "本期无办结" if rate is None else f"{rate * 100:.2f}%"
        ax.text(
            bar.get_width() + 0.01,
            bar.get_y() + bar.get_height() / 2,
            text,
            va="center",
            fontsize=9,
            color=GREY if rate is None else "#222222",
        )
    total = view.total.get("on_time_rate")
    note = "红色为低于60%"
    if total is not None:
        ax.axvline(total, color=GREY, linestyle="--", linewidth=1)
        note += f"；虚线为全市 {total * 100:.2f}%"
    ax.set_title(f"各部门按时办结率{part}（{note}）", loc="left")
    if not ordered:
        ax.text(0.5, 0.5, "无部门数据", transform=ax.transAxes, ha="center", va="center", color=GREY)
    return _png(fig)


def _cards_by_rule(view: ReportView) -> bytes:
    fig = Figure(figsize=(6.6, 4.2), layout="constrained")
    ax = fig.add_subplot()
    counts = view.rule_counts[::-1]  # barh draws bottom-up; keep the standard's rule order top-down
    values = [c.count for c in counts]
    ys = range(len(counts))
    bars = ax.barh(ys, values, color=[YELLOW if c.card == "YELLOW" else RED for c in counts], height=0.6)
    ax.set_yticks(list(ys), [c.label for c in counts])
    ax.grid(axis="y", visible=False)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, max([*values, 1]) * 1.15)
    for bar, value in zip(bars, values, strict=True):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {value}", va="center", fontsize=9)
    ax.set_xlabel("件数")
    ax.set_title("监察信号（按规则；黄色为黄牌，红色为红牌）", loc="left")
    return _png(fig)


def _cards_by_week(view: ReportView) -> bytes:
    fig = Figure(figsize=(6.6, 4.2), layout="constrained")
    ax = fig.add_subplot()
    weeks = view.week_counts
    xs = range(len(weeks))
    yellow = [w.yellow for w in weeks]
    red = [w.red for w in weeks]
    ax.bar(xs, yellow, color=YELLOW, width=0.6, label="黄牌")
    ax.bar(xs, red, bottom=yellow, color=RED, width=0.6, label="红牌")
    tops = [y + r for y, r in zip(yellow, red, strict=True)]
    for x, top in zip(xs, tops, strict=True):
        if top:
            ax.text(x, top, str(top), ha="center", va="bottom", fontsize=9)
    rotate = len(weeks) > 5
    ax.set_xticks(
        list(xs),
        [w.label for w in weeks],
        rotation=30 if rotate else 0,
        ha="right" if rotate else "center",
        rotation_mode="anchor" if rotate else "default",
        fontsize=9,
    )
    ax.grid(axis="x", visible=False)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max([*tops, 1]) * 1.2)
    ax.set_ylabel("件数")
    ax.legend(loc="upper left", ncols=2)
    ax.set_title(f"监察信号（按{view.week_unit}，按发生日期）", loc="left")
    return _png(fig)


def _power_types(view: ReportView) -> bytes:
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax = fig.add_subplot()
    rows = view.power_types
    xs = list(range(len(rows)))
    width = 0.27
    received = [r.get("received") or 0 for r in rows]
    completed = [r.get("completed") or 0 for r in rows]
    cards = [(r.get("yellow_cards") or 0) + (r.get("red_cards") or 0) for r in rows]
    series = (("受理", received, BLUE, -width), ("办结", completed, LIGHT_BLUE, 0.0), ("红黄牌", cards, RED, width))
    for name, values, color, offset in series:
        bars = ax.bar([x + offset for x in xs], values, width=width, color=color, label=name)
        for bar, value in zip(bars, values, strict=True):
            if value:
                ax.text(
                    bar.get_x() + bar.get_width() / 2,
                    bar.get_height(),
                    str(value),
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
    ax.set_xticks(xs, [POWER_TYPES.get(r["power_type"], r["power_type"]) for r in rows], fontsize=9)
    ax.grid(axis="x", visible=False)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max([*received, *completed, *cards, 1]) * 1.2)
    ax.set_ylabel("件数")
    ax.legend(loc="upper right", ncols=3)
    ax.set_title("各权力类别受理、办结及红黄牌", loc="left")
    return _png(fig)
