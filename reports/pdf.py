"""PDF rendering: the report's HTML laid out by WeasyPrint with its print stylesheet."""

from __future__ import annotations

import logging

from reports.errors import ReportError

_log = logging.getLogger(__name__)


def render_pdf(html: str) -> bytes:
    """Lay out the report HTML as an A4-landscape PDF; only data: URIs are ever fetched."""
    # Imported here: WeasyPrint loads Pango at import, which only the PDF path needs.
    from weasyprint import HTML
    from weasyprint.text import ffi
    from weasyprint.urls import URLFetcher

    if getattr(ffi, "harfbuzz_subset", None) is None:
        _log.warning(
            "libharfbuzz-subset0 is not installed: WeasyPrint falls back to fontTools to subset the CJK"
            " fonts, which makes each PDF about ten times slower (apt-get install libharfbuzz-subset0)"
        )

    # WeasyPrint logs every CSS property it does not support at WARNING; that is noise for a
    # report whose stylesheet also serves browsers.
    wp_log = logging.getLogger("weasyprint")
    level = wp_log.level
    wp_log.setLevel(logging.ERROR)
    try:
        pdf = HTML(string=html, url_fetcher=URLFetcher(allowed_protocols={"data"})).write_pdf()
    except Exception as exc:  # the detail stays in the chained traceback, not in the user's message
        raise ReportError(f"PDF 生成失败 / PDF rendering failed ({type(exc).__name__})") from exc
    finally:
        wp_log.setLevel(level)
    if not pdf:
        raise ReportError("PDF 生成失败：输出为空 / PDF rendering produced no output")
    _log.debug("pdf rendered: %d bytes", len(pdf))
    return pdf
