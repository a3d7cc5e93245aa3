"""Errors of the supervision engine, rooted in the hub's error classes."""

from __future__ import annotations

from schemas.errors import FatalError, HubError


class SupervisionError(HubError):
    """Base of every error raised on purpose by ``supervision``."""


class CalendarError(SupervisionError, FatalError):
    """The working-day calendar cannot answer (configuration fault)."""


class CalendarOverrideError(CalendarError):
    """The project office's calendar override file is unreadable or invalid.

    ``problems`` lists every fault found (all of them, not just the first), each one line.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"日历覆盖文件无效 / calendar override file {source} is invalid "
            f"({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n{lines}"
        )


class CalendarRangeError(CalendarError):
    """A date falls outside the span the calendar was loaded for."""


class SupervisionInputError(SupervisionError, FatalError):
    """The frames handed to the engine do not have the promised shape (a programming fault)."""
