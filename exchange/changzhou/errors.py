"""Errors of the Changzhou exchange, grouped by how the caller recovers."""

from __future__ import annotations

from schemas.errors import DataError, FatalError, HubError, RetriableError


class ExchangeError(HubError):
    """Root of every error raised on purpose by ``exchange.changzhou``."""


class KeyFileError(ExchangeError, FatalError):
    """The signing keys are missing, unreadable or of another algorithm than configured."""


class PackageStoreError(ExchangeError, FatalError):
    """A built package is missing from the package store or no longer matches its record."""


class DeliveryError(ExchangeError, RetriableError):
    """A package could not be delivered (after the bounded retries); the next cycle may succeed."""


class ReceiptError(ExchangeError, DataError):
    """A receipt cannot be read or matched; it is refused, logged and set aside."""
