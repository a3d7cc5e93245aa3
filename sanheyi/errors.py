"""Errors of the command line and the pipeline wiring."""

from __future__ import annotations

from schemas.errors import FatalError, HubError


class ConfigError(FatalError):
    """The installation's configuration is wrong."""


class UsageError(HubError):
    """The command was called wrongly (exit status 2)."""

    exit_code = 2


class NotInitialisedError(FatalError):
    """``SANHEYI_HOME`` has not been set up with ``sanheyi init``."""
