"""Electronic supervision (电子监察): working-day calendar, deadlines, the rules of §5.4 and the
statistics of §7, as pure functions over pandas DataFrames."""

from __future__ import annotations

from supervision.calendar import WorkCalendar
from supervision.deadlines import case_deadlines
from supervision.errors import (
    CalendarError,
    CalendarOverrideError,
    CalendarRangeError,
    SupervisionError,
    SupervisionInputError,
)
from supervision.events import CARDS, EVENT_COLUMNS, compute_events
from supervision.model import SupervisionData, SupervisionSettings
from supervision.statistics import compute_statistics
from supervision.table import format_statistics_table

__all__ = [
    "CARDS",
    "EVENT_COLUMNS",
    "CalendarError",
    "CalendarOverrideError",
    "CalendarRangeError",
    "SupervisionData",
    "SupervisionError",
    "SupervisionInputError",
    "SupervisionSettings",
    "WorkCalendar",
    "case_deadlines",
    "compute_events",
    "compute_statistics",
    "format_statistics_table",
]
