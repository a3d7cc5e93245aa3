"""The root of the hub's exceptions, grouped by how the caller recovers."""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose.

    ``message`` is what a user (a clerk or a data engineer) reads: one line, actionable, in Chinese and
    English where a department sees it, and never containing personal data or secrets.
    """

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FatalError(HubError):
    """Configuration or programming fault: retrying will not help."""


class RetriableError(HubError):
    """A transient fault (network, lock, timeout): the same call may succeed later."""


class DataError(HubError):
    """The data itself is wrong: quarantine or reject it and carry on."""
