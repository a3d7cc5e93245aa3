"""Errors of the report renderer."""

from __future__ import annotations

from schemas.errors import DataError, FatalError, HubError


class ReportError(HubError):
    """Base of every error raised by ``reports``."""


class ReportBundleError(ReportError, DataError):
    """The bundle handed to the renderer is incomplete or malformed (lists every problem found)."""


class CjkFontMissingError(ReportError, FatalError):
    """No CJK font is installed, so Chinese text would render as empty boxes."""


class ReportFormatError(ReportError, FatalError):
    """An output format was requested that the renderer does not know."""
