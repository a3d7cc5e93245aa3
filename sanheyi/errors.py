"""Errors of the command line and the pipeline wiring."""

from __future__ import annotations

from schemas.errors import FatalError, HubError, RetriableError


class ConfigError(FatalError):
    """The installation's configuration is wrong."""


class UsageError(HubError):
    """The command was called wrongly (exit status 2)."""

    exit_code = 2


class NotInitialisedError(FatalError):
    """``SANHEYI_HOME`` has not been set up with ``sanheyi init``."""


class SourceFailedError(RetriableError):
    """A source system could not be read this time (it is tried again on the next run)."""


class HeldStepsChanged(RetriableError):
    """Held steps changed while they were being released (another run held a newer version meanwhile)."""


class UnexpectedFailure(HubError):
    """A failure the hub did not foresee, told without the original exception's text (which may quote
    a record); its traceback, masked, is in the log (sanheyi.logs.failures_without_records)."""


class CycleBusyError(RetriableError):
    """Another cycle holds the home and its warehouse (the cycle lock); this one may run later."""
