"""Statistics reports for supervision staff: HTML (charts), XLSX and PDF, in Chinese.

The renderer computes no statistics: it shows the ``statistics.json`` of interface standard §7 and
the events and quarantined records it is given, with personal data masked (§9).
"""

from __future__ import annotations

from reports.bundle import EventRow, QuarantineRow, ReportBundle, Statistics, check_bundle
from reports.errors import CjkFontMissingError, ReportBundleError, ReportError, ReportFormatError
from reports.masking import mask_id
from reports.render import FORMATS, ReportFiles, render_report, report_dir

__all__ = [
    "FORMATS",
    "CjkFontMissingError",
    "EventRow",
    "QuarantineRow",
    "ReportBundle",
    "ReportBundleError",
    "ReportError",
    "ReportFiles",
    "ReportFormatError",
    "Statistics",
    "check_bundle",
    "mask_id",
    "render_report",
    "report_dir",
]
