"""A stand-in for the Changzhou platform, so a demo shows the whole round trip without it.

It takes each package out of the outbox directory (as the prefecture's fetcher would), verifies it
with :func:`verify_package` against the package it accepted before, checks that every line names
its record, and writes ``receipt-{seq:010d}.json`` into the outbox: ``ACCEPTED``, or ``REJECTED``
with the errors. Its own state lives in ``{outbox}/.receiver/``: ``received/`` (accepted packages,
the chain it verifies against) and ``rejected/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from datetime import datetime
from pathlib import Path

from exchange.changzhou.manifest import (
    ENTITY_KEY_FIELDS,
    PACKAGE_NAME,
    Receipt,
    ReceiptErrorEntry,
    package_file_name,
    receipt_bytes,
    receipt_file_name,
)
from exchange.changzhou.package import format_instant
from exchange.changzhou.verify import verify_package

STATE_DIR = ".receiver"
_MAX_RECORD_ERRORS = 100


def _record_errors(path: Path) -> list[ReceiptErrorEntry]:
    """Lines without their key fields (only called on a package that verified)."""
    errors: list[ReceiptErrorEntry] = []
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        for entry in manifest["files"]:
            entity = entry["entity"]
            fields = ENTITY_KEY_FIELDS[entity]
            with archive.open(entry["path"]) as handle:
                for number, line in enumerate(handle, start=1):
                    record = json.loads(line)
                    missing = [f for f in fields if record.get(f) in (None, "")]
                    if missing:
                        key = "/".join(str(record.get(f, "")) for f in fields)
                        errors.append(
                            ReceiptErrorEntry(
                                entity=entity, key=key or None, message=f"line {number}: missing {', '.join(missing)}"
                            )
                        )
                        if len(errors) >= _MAX_RECORD_ERRORS:
                            return errors
    return errors


def _manifest_sha256(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            return hashlib.sha256(archive.read("manifest.json")).hexdigest()
    except (zipfile.BadZipFile, zlib.error, KeyError, OSError, EOFError):
        return hashlib.sha256(path.read_bytes()).hexdigest()  # nothing better to name it by


def _write_atomically(target: Path, data: bytes) -> None:
    part = target.with_name(f".{target.name}.part")
    part.write_bytes(data)
    os.replace(part, target)


def _keep(path: Path, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    target, n = directory / path.name, 0
    while directory.name == "rejected" and target.exists():
        n += 1
        target = directory / f"{path.name}.{n}"
    os.replace(path, target)


def simulate_receiver(outbox_dir: Path, public_key_pem: bytes, now: datetime) -> list[Path]:
    """Receive every package waiting in ``outbox_dir``; the receipts written, in sequence order."""
    state = outbox_dir / STATE_DIR
    received = state / "received"
    written = []
    waiting = sorted(
        (int(m.group(1)), p) for p in outbox_dir.glob("*.zip") if (m := PACKAGE_NAME.match(p.name)) and p.is_file()
    )
    for sequence, path in waiting:
        previous = received / package_file_name(sequence - 1) if sequence > 1 else None
        errors: list[ReceiptErrorEntry] = []
        if previous is not None and not previous.is_file():
            errors.append(
                ReceiptErrorEntry(entity=None, key=None, message=f"sequence gap: package {sequence - 1} not received")
            )
            previous = None
        errors += [
            ReceiptErrorEntry(entity=None, key=None, message=f) for f in verify_package(path, public_key_pem, previous)
        ]
        earlier = received / path.name
        if not errors and earlier.is_file() and earlier.read_bytes() != path.read_bytes():
            errors.append(
                ReceiptErrorEntry(
                    entity=None, key=None, message=f"package {sequence} differs from the one received before"
                )
            )
        if not errors:
            errors = _record_errors(path)
        receipt = Receipt(
            sequence=sequence,
            manifest_sha256=_manifest_sha256(path),
            status="REJECTED" if errors else "ACCEPTED",
            received_at=format_instant(now),
            errors=errors,
        )
        target = outbox_dir / receipt_file_name(sequence)
        _write_atomically(target, receipt_bytes(receipt))
        _keep(path, received if not errors else state / "rejected")
        written.append(target)
    return written
