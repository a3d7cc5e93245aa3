"""HTML rendering (jinja2): one self-contained page, charts inlined as data: URIs."""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from reports.charts import Charts
from reports.labels import METRIC_BY_KEY, METRICS, POWER_TYPE_KEYS, PROVISIONAL_MARK, RANKING_KEYS, VOLUME_KEYS, Metric
from reports.view import ReportView, change, fmt_value

TEMPLATES = Path(__file__).parent / "templates"


def _css_string(value: Any) -> Markup:
    """Escape text for a double-quoted CSS string inside <style> (the PDF page header).

    <style> is raw text, so HTML escaping would show up literally; CSS escapes are used instead,
    and ``<``/``>`` are escaped too so the text can never close the element.
    """
    text = str(value)
    for char, escaped in (("\\", "\\\\"), ('"', '\\"'), ("\n", " "), ("\r", " "), ("<", "\\3c "), (">", "\\3e ")):
        text = text.replace(char, escaped)
    return Markup(text)  # noqa: S704 - CSS-escaped above; cannot close <style>


def _fmt(value: Any, metric: Metric) -> str:
    return fmt_value(metric, value)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = _fmt
    env.filters["css_string"] = _css_string
    env.globals["change"] = change
    return env


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(view: ReportView, charts: Charts, *, list_limit: int | None = None) -> str:
    """The report as one HTML document that needs nothing but itself (fonts come from the system).

    ``list_limit`` caps the rows of each detail list (the PDF uses it; the HTML and XLSX list all).
    """
    template = environment().get_template("report.html.j2")
    return template.render(
        v=view,
        charts={
            "on_time_by_department": [data_uri(png) for png in charts.on_time_by_department],
            "cards_by_rule": data_uri(charts.cards_by_rule),
            "cards_by_week": data_uri(charts.cards_by_week),
            "power_types": data_uri(charts.power_types),
        },
        provisional_mark=PROVISIONAL_MARK,
        list_limit=list_limit,
        total_metrics=METRICS,
        score_metric=METRIC_BY_KEY["score"],
        ranking_metrics=[METRIC_BY_KEY[k] for k in RANKING_KEYS],
        volume_metrics=[METRIC_BY_KEY[k] for k in VOLUME_KEYS],
        power_type_metrics=[METRIC_BY_KEY[k] for k in POWER_TYPE_KEYS],
    )
