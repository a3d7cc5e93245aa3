"""The entry point: render a bundle into HTML, XLSX and PDF files, each written atomically."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from reports.bundle import ReportBundle, check_bundle
from reports.errors import ReportError, ReportFormatError

__all__ = ["FORMATS", "PDF_LIST_LIMIT", "ReportFiles", "render_report", "report_dir", "report_stem"]

FORMATS: tuple[str, ...] = ("html", "xlsx", "pdf")
# Rows of each detail list in the PDF. Laying out thousands of table rows takes WeasyPrint minutes
# and nobody reads a 150-page printout; the HTML and XLSX always list every row.
PDF_LIST_LIMIT = 300
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportFiles:
    """The files written; a format that was not requested is ``None``."""

    html: Path | None = None
    xlsx: Path | None = None
    pdf: Path | None = None


def report_dir(reports_root: Path, period_from: date, period_to: date) -> Path:
    """Where the reports of a period live: ``reports_root / "2026-10-01_2026-10-31"``."""
    return Path(reports_root) / f"{period_from.isoformat()}_{period_to.isoformat()}"


def report_stem(period_from: date, period_to: date) -> str:
    """The file name without extension: ``liyang-report_2026-10-01_2026-10-31``."""
    return f"liyang-report_{period_from.isoformat()}_{period_to.isoformat()}"


def _write_atomic(path: Path, data: bytes) -> None:
    """Write under a temporary name in the same directory, flush to disk, then rename over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_report(bundle: ReportBundle, out_dir: Path, formats: Sequence[str] = FORMATS) -> ReportFiles:
    """Render ``bundle`` into ``out_dir`` in the requested formats and return the paths written.

    The bundle is checked first (every problem listed in one :class:`ReportBundleError`); all
    outputs are produced in memory before the first file is written, and each file is written
    atomically, so a failure never leaves a half-written report.
    """
    wanted = list(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise ReportFormatError(
            f"未知的报告格式 / unknown report format: {', '.join(unknown) or '(none)'};"
            f" 可选 / choose from {', '.join(FORMATS)}"
        )
    check_bundle(bundle)

    # Imported late: matplotlib and WeasyPrint are heavy and only needed here.
    from reports.charts import render_charts
    from reports.html import render_html
    from reports.view import build_view

    view = build_view(bundle)
    outputs: dict[str, bytes] = {}
    if "html" in wanted or "pdf" in wanted:
        charts = render_charts(view)
        html = render_html(view, charts)
        if "html" in wanted:
            outputs["html"] = html.encode("utf-8")
        if "pdf" in wanted:
            from reports.pdf import render_pdf

            longest = max([len(view.events), *(s.count for s in view.quarantine)])
            if longest > PDF_LIST_LIMIT:
                html = render_html(view, charts, list_limit=PDF_LIST_LIMIT)
            outputs["pdf"] = render_pdf(html)
    if "xlsx" in wanted:
        from reports.xlsx import render_xlsx

        outputs["xlsx"] = render_xlsx(view)

    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"无法创建报告目录 / cannot create the report directory {out_dir}: {exc.strerror}") from exc
    stem = report_stem(view.period_from, view.period_to)
    paths: dict[str, Path] = {}
    for fmt in FORMATS:
        if fmt in outputs:
            path = out_dir / f"{stem}.{fmt}"
            try:
                _write_atomic(path, outputs[fmt])
            except OSError as exc:
                raise ReportError(f"无法写入报告 / cannot write the report {path}: {exc.strerror}") from exc
            paths[fmt] = path
    _log.info("report rendered for %s..%s: %s", view.period_from, view.period_to, ", ".join(sorted(paths)))
    return ReportFiles(**paths)
