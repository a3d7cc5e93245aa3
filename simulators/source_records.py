"""The records a simulated self-built system serves, with the paging every simulator shares.

Records of one entity are ordered by ``(updated_at, version, key)``; a page token is that triple
of the page's last record (keyset paging), so a page never skips or repeats a record even when
records change between two pages. ``since`` is inclusive.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ENTITY_KEYS: dict[str, tuple[str, ...]] = {
    "department": ("dept_code",),
    "power_item": ("power_code",),
    "case": ("source_system", "case_id"),
    "case_step": ("source_system", "case_id", "step_no"),
    "complaint": ("complaint_id",),
}
ENTITIES = tuple(ENTITY_KEYS)

SortKey = tuple[datetime, int, tuple[Any, ...]]


class BadRequest(ValueError):
    """A request the simulated interface refuses (unknown entity, bad ``since`` or token)."""


def parse_instant(value: str) -> datetime:
    """An RFC 3339 instant with an offset (``Z`` allowed), as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise BadRequest(f"instant without an offset: {value}")
    return parsed.astimezone(UTC)


def _utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class StoredRecord:
    sort_key: SortKey
    raw: str  # the record's JSON text exactly as served
    record: Mapping[str, Any]


def sort_key(entity: str, record: Mapping[str, Any]) -> SortKey:
    return (
        parse_instant(str(record["updated_at"])),
        int(record["version"]),
        tuple(record[k] for k in ENTITY_KEYS[entity]),
    )


def encode_token(key: SortKey) -> str:
    payload = json.dumps([_utc_text(key[0]), key[1], list(key[2])], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_token(token: str) -> SortKey:
    try:
        padded = token + "=" * (-len(token) % 4)
        at, version, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return (parse_instant(at), int(version), tuple(key))
    except (ValueError, TypeError) as exc:
        raise BadRequest("invalid page_token") from exc


class SourceRecords:
    """Thread-safe in-memory records of a simulated source, per entity."""

    def __init__(self) -> None:
        self._records: dict[str, list[StoredRecord]] = {e: [] for e in ENTITIES}
        self._lock = threading.Lock()

    @classmethod
    def from_dir(cls, folder: Path, entities: Iterable[str] = ENTITIES) -> SourceRecords:
        """Load ``{entity}.*.jsonl`` files of a drop-folder-like directory."""
        store = cls()
        wanted = set(entities)
        for path in sorted(folder.glob("*.jsonl")):
            entity = path.name.split(".", 1)[0]
            if entity in wanted:
                store.add_raw(entity, [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()])
        return store

    def add(self, entity: str, records: Iterable[Mapping[str, Any]]) -> None:
        self.add_raw(entity, [json.dumps(r, ensure_ascii=False) for r in records])

    def add_raw(self, entity: str, lines: Iterable[str]) -> None:
        if entity not in self._records:
            raise BadRequest(f"unknown entity {entity}")
        with self._lock:
            for line in lines:
                record = json.loads(line)
                self._records[entity].append(StoredRecord(sort_key(entity, record), line, record))
            self._records[entity].sort(key=lambda r: r.sort_key)

    def correct(self, entity: str, record: Mapping[str, Any]) -> None:
        """The source changes a record: from now on it serves the new version only, as a real
        interface serves the current state of each record."""
        key = sort_key(entity, record)[2]
        with self._lock:
            self._records[entity] = [r for r in self._records[entity] if r.sort_key[2] != key]
        self.add(entity, [record])

    def count(self, entity: str) -> int:
        return len(self._records[entity])

    def all(self, entity: str) -> list[StoredRecord]:
        with self._lock:
            return list(self._records[entity])

    def page(
        self, entity: str, *, since: str | None, page_token: str | None, limit: int
    ) -> tuple[list[StoredRecord], str | None]:
        """One page of ``entity`` changed at or after ``since``, after ``page_token``."""
        if entity not in self._records:
            raise BadRequest(f"unknown entity {entity}")
        if limit < 1:
            raise BadRequest("limit must be at least 1")
        since_at = parse_instant(since) if since else None
        after = decode_token(page_token) if page_token else None
        with self._lock:
            rows = self._records[entity]
            selected = [
                r
                for r in rows
                if (since_at is None or r.sort_key[0] >= since_at) and (after is None or r.sort_key > after)
            ]
        page = selected[:limit]
        token = encode_token(page[-1].sort_key) if len(selected) > limit else None
        return page, token
