"""Exchange with the Changzhou prefecture platform (Interface Standard v1 §8).

Build a signed package from what changed in the warehouse, deliver it (outbox directory or SFTP),
collect the receipts, flag the packages without one, resend identical bytes; and, for the
receiving side, the verifier and a demo receiver.
"""

from __future__ import annotations

from exchange.changzhou.delivery import deliver_package, deliver_pending, flag_overdue, resend, stored_package
from exchange.changzhou.errors import DeliveryError, ExchangeError, KeyFileError, PackageStoreError, ReceiptError
from exchange.changzhou.package import BuiltPackage, build_package
from exchange.changzhou.receipts import ReceiptOutcome, collect_receipts, parse_receipt
from exchange.changzhou.receiver import simulate_receiver
from exchange.changzhou.signing import (
    ED25519,
    SM2_SM3,
    KeyStore,
    Signer,
    Verifier,
    generate_keys,
    load_signer,
    load_verifier,
)
from exchange.changzhou.transport import OutboxTransport, RetryPolicy, SftpTransport, Transport
from exchange.changzhou.verify import verify_package

__all__ = [
    "ED25519",
    "SM2_SM3",
    "BuiltPackage",
    "DeliveryError",
    "ExchangeError",
    "KeyFileError",
    "KeyStore",
    "OutboxTransport",
    "PackageStoreError",
    "ReceiptError",
    "ReceiptOutcome",
    "RetryPolicy",
    "SftpTransport",
    "Signer",
    "Transport",
    "Verifier",
    "build_package",
    "collect_receipts",
    "deliver_package",
    "deliver_pending",
    "flag_overdue",
    "generate_keys",
    "load_signer",
    "load_verifier",
    "parse_receipt",
    "resend",
    "simulate_receiver",
    "stored_package",
    "verify_package",
]
