"""Receipts from Changzhou: read, match against the package sent, apply or refuse, set aside.

A receipt is applied only when its file name, ``sequence`` and ``manifest_sha256`` all match a
package that awaits a receipt: delivered, and not answered since its last delivery (a resend
re-opens a package, and the receipt to it replaces the earlier status). Anything else (unknown
sequence, wrong hash, malformed JSON, a second receipt for the same delivery) is refused: logged in
``ops_receipt_log`` with the reason and moved to ``receipts/refused/`` beside the receipts, never
deleted. The log keeps every receipt, applied ones with their status. A receipt for a package
that was never delivered is refused too: it cannot answer anything the hub sent.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from exchange.changzhou.errors import ReceiptError
from exchange.changzhou.manifest import RECEIPT_NAME, RECEIPT_STATUSES, Receipt, ReceiptErrorEntry
from exchange.changzhou.transport import APPLIED, REFUSED, Transport
from warehouse import packages as wp

log = logging.getLogger(__name__)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_FIELDS = {"sequence", "manifest_sha256", "status", "received_at", "errors"}


@dataclass(frozen=True)
class ReceiptOutcome:
    """What happened to one receipt file."""

    file_name: str
    sequence: int | None
    outcome: str  # APPLIED / REFUSED
    status: str | None  # ACCEPTED / REJECTED when applied
    reason: str | None
    moved_to: str
    errors: tuple[ReceiptErrorEntry, ...] = ()  # the prefecture's, when applied


def _instant(value: object) -> datetime:
    if not isinstance(value, str):
        raise ReceiptError("received_at is not a string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ReceiptError("received_at is not an RFC 3339 date-time") from None
    if parsed.tzinfo is None:
        raise ReceiptError("received_at has no offset")
    return parsed


def _errors(value: object) -> list[ReceiptErrorEntry]:
    if not isinstance(value, list):
        raise ReceiptError("errors is not a list")
    entries = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) - {"entity", "key", "message"} or "message" not in item:
            raise ReceiptError(f"errors[{index}] is not an object with entity, key, message")
        entity, key, message = item.get("entity"), item.get("key"), item["message"]
        if not all(v is None or isinstance(v, str) for v in (entity, key)) or not isinstance(message, str):
            raise ReceiptError(f"errors[{index}] has a field of the wrong type")
        entries.append(ReceiptErrorEntry(entity=entity, key=key, message=message))
    return entries


def parse_receipt(file_name: str, data: bytes) -> Receipt:
    """The receipt in ``data``, checked field by field; :class:`ReceiptError` says what is wrong."""
    named = RECEIPT_NAME.match(file_name)
    if not named:
        raise ReceiptError("file name is not receipt-{sequence:010d}.json")
    try:
        raw: Any = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ReceiptError("not UTF-8 JSON") from None
    if not isinstance(raw, dict):
        raise ReceiptError("not a JSON object")
    missing, unknown = _FIELDS - set(raw), set(raw) - _FIELDS
    if missing or unknown:
        problems = [f"missing {m}" for m in sorted(missing)] + [f"unknown field {u}" for u in sorted(unknown)]
        raise ReceiptError("; ".join(problems))
    sequence = raw["sequence"]
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
        raise ReceiptError("sequence is not a whole number >= 1")
    if sequence != int(named.group(1)):
        raise ReceiptError(f"sequence {sequence} does not match the file name")
    sha = raw["manifest_sha256"]
    if not isinstance(sha, str) or not _HEX64.match(sha.lower()):
        raise ReceiptError("manifest_sha256 is not 64 hex digits")
    if raw["status"] not in RECEIPT_STATUSES:
        raise ReceiptError("status is not ACCEPTED or REJECTED")
    _instant(raw["received_at"])
    return Receipt(
        sequence=sequence,
        manifest_sha256=sha.lower(),
        status=raw["status"],
        received_at=raw["received_at"],
        errors=_errors(raw["errors"]),
    )


def _apply(engine: Engine, file_name: str, data: bytes, now: datetime) -> ReceiptOutcome:
    """What became of one receipt, applied or refused in one transaction (``moved_to`` not known yet)."""
    sequence: int | None = None
    with engine.begin() as conn:
        try:
            receipt = parse_receipt(file_name, data)
            sequence = receipt["sequence"]
            package = wp.get_package(conn, sequence)
            if package is None:
                raise ReceiptError(f"no package with sequence {sequence} was sent")
            if package.state == wp.BUILT:  # applied, it would keep the package from ever being delivered
                raise ReceiptError(f"package {sequence} was built but never delivered")
            if receipt["manifest_sha256"] != package.manifest_sha256:
                raise ReceiptError(f"manifest_sha256 does not match package {sequence}")
            if package.state in (wp.ACCEPTED, wp.REJECTED):  # answered since its last delivery
                if _same_as_applied(receipt, package):
                    # a crash came between applying this very receipt and setting its file aside
                    wp.log_receipt(
                        conn, file_name, sequence, wp.APPLIED, "applied before", now, status=receipt["status"]
                    )
                    return ReceiptOutcome(file_name, sequence, wp.APPLIED, receipt["status"], None, "")
                raise ReceiptError(f"package {sequence} already has a receipt ({package.receipt_status})")
        except ReceiptError as exc:
            wp.log_receipt(conn, file_name, sequence, wp.REFUSED, exc.message, now)
            return ReceiptOutcome(file_name, sequence, wp.REFUSED, None, exc.message, "")
        wp.apply_receipt(
            conn,
            sequence,
            receipt["status"],
            _instant(receipt["received_at"]),
            [dict(entry) for entry in receipt["errors"]],
        )
        wp.log_receipt(conn, file_name, sequence, wp.APPLIED, None, now, status=receipt["status"])
        return ReceiptOutcome(file_name, sequence, wp.APPLIED, receipt["status"], None, "", tuple(receipt["errors"]))


def _same_as_applied(receipt: Receipt, package: wp.PackageRow) -> bool:
    return (
        receipt["status"] == package.receipt_status
        and _instant(receipt["received_at"]) == package.receipt_received_at
        and [dict(entry) for entry in receipt["errors"]] == (package.receipt_errors or [])
    )


def collect_receipts(engine: Engine, transport: Transport, now: datetime) -> list[ReceiptOutcome]:
    """Read every waiting receipt; mark packages ACCEPTED/REJECTED or refuse the receipt; set it aside."""
    outcomes = []
    for file_name in transport.list_receipts():
        data = transport.read_receipt(file_name)
        outcome = _apply(engine, file_name, data, now)
        moved_to = transport.set_aside(file_name, APPLIED if outcome.outcome == wp.APPLIED else REFUSED)
        if outcome.outcome == wp.APPLIED:
            log.info("receipt %s: package %s %s", file_name, outcome.sequence, outcome.status)
        else:
            log.warning("receipt %s refused: %s", file_name, outcome.reason)
        outcomes.append(dataclasses.replace(outcome, moved_to=moved_to))
    return outcomes
