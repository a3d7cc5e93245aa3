"""The shapes that cross the boundary to Changzhou (Interface Standard v1 §8): names, manifest, receipt."""

from __future__ import annotations

import json
import re
from typing import TypedDict

STANDARD_VERSION = "1.0"
SENDER = "320481"  # 溧阳市
RECEIVER = "320400"  # 常州市

# Dependency order: the order of ``files`` in a manifest and of the receiver's checks.
ENTITIES: tuple[str, ...] = ("department", "power_item", "case", "case_step", "complaint", "supervision_event")

# The key fields of each entity's lines, used by the receiver to name a faulty record.
ENTITY_KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "department": ("dept_code",),
    "power_item": ("power_code",),
    "case": ("source_system", "case_id"),
    "case_step": ("source_system", "case_id", "step_no"),
    "complaint": ("complaint_id",),
    "supervision_event": ("event_key",),
}

ALGORITHMS: tuple[str, ...] = ("Ed25519", "SM2-SM3")
RECEIPT_STATUSES: tuple[str, ...] = ("ACCEPTED", "REJECTED")

PACKAGE_NAME = re.compile(rf"^{SENDER}-{RECEIVER}-(\d{{10}})\.zip$")
RECEIPT_NAME = re.compile(r"^receipt-(\d{10})\.json$")


def package_file_name(sequence: int) -> str:
    return f"{SENDER}-{RECEIVER}-{sequence:010d}.zip"


def receipt_file_name(sequence: int) -> str:
    return f"receipt-{sequence:010d}.json"


def data_path(entity: str) -> str:
    return f"data/{entity}.jsonl"


class ManifestFile(TypedDict):
    path: str
    entity: str
    records: int
    bytes: int
    sha256: str


class ManifestSignature(TypedDict):
    algorithm: str
    key_id: str


class Manifest(TypedDict):
    standard_version: str
    package_id: str
    sender: str
    receiver: str
    sequence: int
    created_at: str
    previous_manifest_sha256: str | None
    files: list[ManifestFile]
    signature: ManifestSignature


class ReceiptErrorEntry(TypedDict):
    entity: str | None
    key: str | None
    message: str


class Receipt(TypedDict):
    sequence: int
    manifest_sha256: str
    status: str
    received_at: str
    errors: list[ReceiptErrorEntry]


def manifest_bytes(manifest: Manifest) -> bytes:
    """The exact bytes of ``manifest.json``: field order as in §8, two-space indent, UTF-8, final newline."""
    return (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def receipt_bytes(receipt: Receipt) -> bytes:
    return (json.dumps(receipt, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
