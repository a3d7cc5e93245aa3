"""Building a signed exchange package from the warehouse (Interface Standard v1 §8).

Reproducibility: everything inside the zip is a function of the claimed rows, the sequence, the
previous manifest and the key, so a package rebuilt after a crash (zip written, transaction not
committed) is the same byte for byte:

- entries in sorted order (``data/*.jsonl`` before ``manifest.json``, ``manifest.sig``), timestamps
  fixed at 1980-01-01 00:00, mode 0644, deflate at :data:`COMPRESS_LEVEL`;
- ``created_at`` is the instant of the newest content: the latest ``updated_at`` / ``computed_at`` of
  the rows in the package (never earlier than the previous package's ``created_at``), in +08:00,
  rounded up to the second; the wall clock at build time is not written into the package;
- ``package_id`` is a UUIDv5 of the sequence and the SHA-256 of the data files;
- Ed25519 signatures are deterministic, and SM2 uses an RFC 6979 nonce (see ``sm2.py``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from queue import Queue
from typing import IO

from sqlalchemy import Connection, Engine

from exchange.changzhou.errors import PackageStoreError
from exchange.changzhou.manifest import (
    ENTITIES,
    PACKAGE_NAME,
    RECEIVER,
    SENDER,
    STANDARD_VERSION,
    Manifest,
    ManifestFile,
    data_path,
    manifest_bytes,
    package_file_name,
)
from exchange.changzhou.signing import KeyStore, Signer
from warehouse import packages as wp

log = logging.getLogger(__name__)

COMPRESS_LEVEL = 6
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
SHANGHAI = timezone(timedelta(hours=8))  # China has kept +08:00 without daylight saving since 1991
# Namespace of package ids: uuid5(NAMESPACE_URL, "urn:liyang:sanheyi:exchange:320481-320400").
PACKAGE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:liyang:sanheyi:exchange:{SENDER}-{RECEIVER}")


@dataclass(frozen=True)
class BuiltPackage:
    """A package that has been written to the package store and recorded in ``ops_package``."""

    sequence: int
    package_id: str
    path: Path
    created_at: datetime
    manifest_sha256: str
    bytes: int
    record_counts: dict[str, int]

    @property
    def file_name(self) -> str:
        return self.path.name


def _zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # unix, whatever machine builds it
    info.external_attr = 0o100644 << 16
    info._compresslevel = COMPRESS_LEVEL  # type: ignore[attr-defined]  # Python 3.11's name for it
    return info


def format_instant(value: datetime) -> str:
    """RFC 3339 in +08:00, rounded up to the whole second."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    if value.microsecond:
        value = value.replace(microsecond=0) + timedelta(seconds=1)
    return value.astimezone(SHANGHAI).isoformat(timespec="seconds")


class _Writer(threading.Thread):
    """Hashes, compresses and writes on a second thread while the first one reads the database.

    SHA-256, CRC-32 and deflate release the GIL on large buffers, so on two cores reading and
    compressing overlap. Chunks go through a small bounded queue: memory stays a few chunks,
    whatever the size of the package.
    """

    def __init__(self, zip_file: zipfile.ZipFile) -> None:
        super().__init__(name="package-writer", daemon=True)
        self.zip_file = zip_file
        self.queue: Queue[tuple[str, object]] = Queue(maxsize=3)
        self.error: BaseException | None = None
        self.written: dict[str, tuple[int, str]] = {}  # path -> (bytes, sha256)
        self._stream: IO[bytes] | None = None
        self._path = ""
        self._digest = hashlib.sha256()
        self._size = 0

    def run(self) -> None:
        while True:
            kind, value = self.queue.get()
            if kind == "stop":
                self._abandon()
                return
            if self.error is not None:
                continue  # drain after a failure so the producer never blocks
            try:
                self._handle(kind, value)
            except BaseException as exc:  # handed to the producer by put() / finish()
                self.error = exc

    def _handle(self, kind: str, value: object) -> None:
        if kind == "open":
            assert isinstance(value, str)
            self._path, self._digest, self._size = value, hashlib.sha256(), 0
            self._stream = self.zip_file.open(_zip_info(value), mode="w", force_zip64=True)
        elif kind == "chunk":
            assert self._stream is not None and isinstance(value, bytes)
            self._digest.update(value)
            self._size += len(value)
            self._stream.write(value)
        elif kind == "close":
            assert self._stream is not None
            self._stream.close()
            self._stream = None
            self.written[self._path] = (self._size, self._digest.hexdigest())

    def _abandon(self) -> None:
        if self._stream is not None:  # stopped half-way: let the zip file close cleanly
            try:
                self._stream.close()
            except BaseException as exc:
                self.error = self.error or exc
            self._stream = None

    def put(self, kind: str, value: object = None) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((kind, value))

    def finish(self) -> None:
        self.queue.put(("stop", None))
        self.join()
        if self.error is not None:
            raise self.error


def _lines(payloads: list[bytes] | list[str]) -> bytes:
    """JSON Lines: each payload, then ``\\n``."""
    if payloads and isinstance(payloads[0], bytes):
        return b"\n".join([*payloads, b""])  # type: ignore[list-item]  # one copy of the batch, not two
    return "\n".join([*payloads, ""]).encode("utf-8")  # type: ignore[list-item]


@dataclass
class _Content:
    files: list[ManifestFile]
    latest: datetime  # newest updated_at / computed_at in the package


ReadRows = Callable[[str], Iterator[wp.ClaimedBatch]]


def _write_data(zip_file: zipfile.ZipFile, entities: list[str], read: ReadRows) -> _Content:
    records: dict[str, int] = {}
    latest: datetime | None = None
    writer = _Writer(zip_file)
    writer.start()
    try:
        for entity in sorted(entities):  # zip entries in name order
            writer.put("open", data_path(entity))
            records[entity] = 0
            for batch in read(entity):
                writer.put("chunk", _lines(batch.payloads))
                records[entity] += len(batch.payloads)
                latest = batch.latest if latest is None else max(latest, batch.latest)
            writer.put("close")
    finally:
        writer.finish()
    assert latest is not None
    files = []
    for entity in ENTITIES:
        if entity in records:
            size, sha = writer.written[data_path(entity)]
            files.append(
                ManifestFile(path=data_path(entity), entity=entity, records=records[entity], bytes=size, sha256=sha)
            )
    return _Content(files, latest)


def _package_id(sequence: int, files: list[ManifestFile]) -> str:
    content = hashlib.sha256("".join(f"{f['path']}:{f['sha256']}\n" for f in files).encode("ascii")).hexdigest()
    return str(uuid.uuid5(PACKAGE_NAMESPACE, f"{sequence}:{content}"))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unrecorded_in_store(out_dir: Path, sequence: int) -> list[int]:
    """Numbers of the packages in the store from ``sequence`` on: none of them is recorded yet."""
    found = (PACKAGE_NAME.match(path.name) for path in out_dir.iterdir() if path.is_file())
    return sorted(number for match in found if match and (number := int(match.group(1))) >= sequence)


def _store_ahead(out_dir: Path, unrecorded: list[int], sequence: int) -> PackageStoreError:
    numbers = ", ".join(str(number) for number in unrecorded)
    return PackageStoreError(
        f"交换包存储中有仓库未记录的交换包, 未生成新包 / the package store {out_dir} holds package(s) {numbers} "
        f"that the warehouse does not record (it would number the next package {sequence}), most likely because "
        "the warehouse was restored from an older backup; nothing was built, so no package number is used twice. "
        f"Restore a backup that records package {unrecorded[-1]}, or follow docs/exchange.md §3 (a package store "
        "ahead of the warehouse) before building again"
    )


def _publish(part: Path, final: Path) -> bool:
    """Rename the finished zip into place; False (and nothing changed) when a different file is there.

    A file of the same name can only be an unrecorded package: the very package when a build is
    repeated after a crash (§8: byte for byte the same), else one the prefecture may already hold,
    which must never be replaced by other content under its number.
    """
    if final.exists() and _sha256_file(final) != _sha256_file(part):
        return False
    os.replace(part, final)
    directory = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return True


def _write_zip(
    part: Path,
    *,
    sequence: int,
    entities: list[str],
    read: ReadRows,
    previous: wp.PackageRow | None,
    signer: Signer,
) -> tuple[bytes, dict[str, int]]:
    """Write the whole package to ``part`` (fsynced); the bytes of its ``manifest.json`` and the counts."""
    with part.open("wb") as raw:
        with zipfile.ZipFile(raw, mode="w", allowZip64=True) as zip_file:
            content = _write_data(zip_file, entities, read)
            created_at = content.latest
            if previous is not None and previous.created_at > created_at:
                created_at = previous.created_at
            manifest = Manifest(
                standard_version=STANDARD_VERSION,
                package_id=_package_id(sequence, content.files),
                sender=SENDER,
                receiver=RECEIVER,
                sequence=sequence,
                created_at=format_instant(created_at),
                previous_manifest_sha256=previous.manifest_sha256 if previous else None,
                files=content.files,
                signature={"algorithm": signer.algorithm, "key_id": signer.key_id},
            )
            body = manifest_bytes(manifest)
            zip_file.writestr(_zip_info("manifest.json"), body)
            zip_file.writestr(_zip_info("manifest.sig"), base64_line(signer.sign(body)))
        raw.flush()
        os.fsync(raw.fileno())
    return body, {f["entity"]: f["records"] for f in content.files}


class _Claim(threading.Thread):
    """The claim on the builder's connection, beside the read (SQLite releases the GIL in it)."""

    def __init__(self, conn: Connection, sequence: int, entities: list[str]) -> None:
        super().__init__(name="package-claim", daemon=True)
        self.conn, self.sequence, self.entities = conn, sequence, entities
        self.counts: dict[str, int] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.counts = wp.claim_pending(self.conn, self.sequence, self.entities)
        except BaseException as exc:
            self.error = exc

    def result(self) -> dict[str, int]:
        self.join()
        if self.error is not None:
            raise self.error
        return self.counts


def _build(
    engine: Engine, conn: Connection, part: Path, sequence: int, signer: Signer
) -> tuple[bytes, dict[str, int]] | None:
    """Claim and write; None when nothing is pending. Runs inside the builder's transaction on ``conn``."""
    if not wp.claims_beside_reads(conn):
        counts = wp.claim_pending(conn, sequence)
        if not counts:
            return None
        previous = wp.last_package(conn)
        body, read_counts = _write_zip(
            part,
            sequence=sequence,
            entities=list(counts),
            read=lambda entity: wp.iter_rows(conn, entity, sequence=sequence),
            previous=previous,
            signer=signer,
        )
    else:
        entities = wp.pending_entities(conn)
        if not entities:
            return None
        previous = wp.last_package(conn)
        with wp.snapshot_reader(engine) as reader:
            claim = _Claim(conn, sequence, entities)
            claim.start()
            try:
                body, read_counts = _write_zip(
                    part,
                    sequence=sequence,
                    entities=entities,
                    read=lambda entity: wp.iter_rows(reader, entity, sequence=None),
                    previous=previous,
                    signer=signer,
                )
            finally:
                counts = claim.result()
    if counts != read_counts:  # the claim and the read disagree: never ship that
        raise PackageStoreError(
            f"交换包内容与标记不符 / claimed {counts} but packaged {read_counts}; nothing was recorded"
        )
    return body, counts


def build_package(engine: Engine, keys: KeyStore, out_dir: Path, *, now: datetime) -> BuiltPackage | None:
    """Build, sign and record the next package from every pending row; ``None`` when nothing is pending.

    The zip goes to ``out_dir`` (the package store, kept for resending) under a temporary name and
    is renamed when complete; the ``ops_package`` row and the claim of the rows are committed after
    that, in one transaction. ``now`` is only logged: it is deliberately not written into the package
    (see the module docstring). :class:`PackageStoreError` when the store holds packages the warehouse
    does not record (other than the same package left by a crash): no number is ever used twice.
    """
    signer = keys.signer()
    out_dir.mkdir(parents=True, exist_ok=True)
    with engine.connect() as conn, wp.packaging_lock(conn):
        try:
            sequence = wp.next_sequence(conn)
            name = package_file_name(sequence)
            final = out_dir / name
            part = out_dir / f".{name}.part"
            unrecorded = _unrecorded_in_store(out_dir, sequence)
            if unrecorded and unrecorded != [sequence]:  # a crash leaves at most the package being built
                raise _store_ahead(out_dir, unrecorded, sequence)
            try:
                built = _build(engine, conn, part, sequence, signer)
                published = built is not None and _publish(part, final)
            finally:
                part.unlink(missing_ok=True)
            if unrecorded and not published:  # not the same package rebuilt byte for byte
                raise _store_ahead(out_dir, unrecorded, sequence)
            if built is None:
                conn.rollback()
                return None
            body, counts = built
            manifest = json.loads(body)
            row = wp.PackageRow(
                sequence=sequence,
                package_id=manifest["package_id"],
                file_name=name,
                created_at=datetime.fromisoformat(manifest["created_at"]),
                manifest_sha256=hashlib.sha256(body).hexdigest(),
                bytes=final.stat().st_size,
                record_counts=counts,
                state=wp.BUILT,
                loaded_through_batch_id=wp.loaded_through(conn),
            )
            wp.insert_package(conn, row)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    log.info(
        "exchange package %s built at %s: %s records, %d bytes", name, now.isoformat(), sum(counts.values()), row.bytes
    )
    return BuiltPackage(
        sequence=sequence,
        package_id=row.package_id,
        path=final,
        created_at=row.created_at,
        manifest_sha256=row.manifest_sha256,
        bytes=row.bytes,
        record_counts=dict(counts),
    )


def base64_line(signature: bytes) -> bytes:
    """``manifest.sig``: the base64 of the signature, one line, no newline."""
    return base64.b64encode(signature)
