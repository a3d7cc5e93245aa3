"""Delivering built packages, resending them, and flagging the ones without a receipt.

Built packages stay in the package store (``{home}/exchange/packages/`` in the hub's layout) for
good: a resend sends the very bytes that were built, checked against ``ops_package`` first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from exchange.changzhou.errors import DeliveryError, PackageStoreError
from exchange.changzhou.transport import Transport
from warehouse import packages as wp

log = logging.getLogger(__name__)


def stored_package(engine: Engine, sequence: int, store_dir: Path) -> Path:
    """The stored zip of package ``sequence``, after checking it is the one recorded."""
    with engine.connect() as conn:
        row = wp.get_package(conn, sequence)
    if row is None:
        raise PackageStoreError(f"没有序号为 {sequence} 的交换包 / no package with sequence {sequence} was built")
    path = store_dir / row.file_name
    if not path.is_file():
        raise PackageStoreError(f"交换包文件缺失 / package file missing from the store: {path}")
    problem = None
    if path.stat().st_size != row.bytes:
        problem = f"size {path.stat().st_size} != recorded {row.bytes}"
    else:
        problem = _content_problem(path, row.manifest_sha256)
    if problem:
        raise PackageStoreError(
            f"存储的交换包与记录不符 / stored package {row.file_name} does not match ops_package: {problem}"
        )
    return path


def _content_problem(path: Path, manifest_sha256: str) -> str | None:
    """Whether the zip still holds the recorded manifest and the data files it lists (streamed)."""
    try:
        with zipfile.ZipFile(path) as archive:
            body = archive.read("manifest.json")
            if hashlib.sha256(body).hexdigest() != manifest_sha256:
                return "manifest.json differs from the recorded one"
            for entry in json.loads(body)["files"]:
                digest = hashlib.sha256()
                with archive.open(entry["path"]) as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
                if digest.hexdigest() != entry["sha256"]:
                    return f"{entry['path']} differs from its manifest entry"
    except (zipfile.BadZipFile, zlib.error, KeyError, OSError, ValueError, EOFError) as exc:
        return f"unreadable ({exc})"
    return None


def deliver_package(engine: Engine, sequence: int, transport: Transport, store_dir: Path, *, now: datetime) -> Path:
    """Send package ``sequence`` from the store and record the delivery."""
    path = stored_package(engine, sequence, store_dir)
    transport.deliver(path)
    with engine.begin() as conn:
        wp.mark_delivered(conn, sequence, transport.name, now)
    log.info("exchange package %s delivered via %s", path.name, transport.name)
    return path


def deliver_pending(engine: Engine, transport: Transport, store_dir: Path, *, now: datetime) -> list[int]:
    """Deliver every built but undelivered package, oldest first; stops at the first failure."""
    with engine.connect() as conn:
        pending = [row.sequence for row in wp.list_packages(conn, states=[wp.BUILT])]
    for sequence in pending:
        deliver_package(engine, sequence, transport, store_dir, now=now)
    return pending


def resend(engine: Engine, seq: int, transport: Transport, out_dir: Path, *, now: datetime | None = None) -> Path:
    """Send package ``seq`` again, the identical bytes; the receipt clock restarts at ``now``.

    Only a package delivered before, and never ahead of an earlier package still undelivered: the
    prefecture refuses a package whose predecessor it has not received, and :func:`deliver_pending`
    (the next run) delivers those in order.
    """
    with engine.connect() as conn:
        row = wp.get_package(conn, seq)
        undelivered = [p.sequence for p in wp.list_packages(conn, states=[wp.BUILT]) if p.sequence <= seq]
    if row is not None and row.state == wp.BUILT:
        raise DeliveryError(
            f"交换包 {seq} 尚未投递, 不能重发 / package {seq} was never delivered, so it is not resent: "
            "the next run (sanheyi run) delivers it, in order"
        )
    if undelivered:
        raise DeliveryError(
            f"交换包 {seq} 之前的交换包尚未投递 / package {seq} is not resent ahead of package(s) {undelivered}, "
            "never delivered: the next run (sanheyi run) delivers them in order"
        )
    return deliver_package(engine, seq, transport, out_dir, now=now or datetime.now(UTC))


def flag_overdue(engine: Engine, now: datetime, after: timedelta = timedelta(hours=24)) -> list[int]:
    """Flag delivered packages with no receipt ``after`` their delivery; the sequences flagged now."""
    with engine.begin() as conn:
        flagged = wp.flag_overdue(conn, now, now - after)
    for sequence in flagged:
        log.warning("exchange package %d has no receipt %s after delivery", sequence, after)
    return flagged
