"""The append-only, hash-chained log of registry decisions (interface standard §6).

Each entry's ``entry_hash`` is the SHA-256 of the canonical JSON of the entry (its id, system,
action, states, who, why and when) followed by the previous entry's hash; the first entry chains
to 64 zeros. Editing an entry breaks its own hash; deleting or reordering entries breaks the link
of the entry after it; the ids are consecutive, so a deleted entry also leaves a gap. Deleting the
*last* entries leaves a shorter valid chain; :func:`verify_chain` therefore also takes the
registry's current state of each system and checks it against the last decision about it.

Someone who can write to the warehouse could still delete the last entries *and* set the registry
back to match. The chain's head (the last entry's id and hash, :class:`ChainHead`) is therefore
printed in every statistical report: :func:`verify_published_heads` checks that a head published
then is still in the log with the same hash, which proves every entry up to it untouched since.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "ChainHead",
    "canonical_bytes",
    "compute_hash",
    "verify_chain",
    "verify_published_heads",
]

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    """One decision: who did what to which system, when and why."""

    decision_id: int
    system_code: str
    action: str
    from_state: str | None
    to_state: str
    decided_by: str
    reason: str
    decided_at: datetime
    previous_hash: str = GENESIS_HASH
    entry_hash: str = ""

    def body(self) -> dict[str, object]:
        return {
            "decision_id": self.decision_id,
            "system_code": self.system_code,
            "action": self.action,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "decided_by": self.decided_by,
            "reason": self.reason,
            "decided_at": _instant(self.decided_at),
        }


def _instant(value: datetime) -> str:
    # Stored instants come back in UTC (naive on SQLite): hash one fixed rendering of the instant.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(entry: AuditEntry) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the exact bytes the hash covers (before previous_hash)."""
    return json.dumps(entry.body(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def compute_hash(entry: AuditEntry, previous_hash: str) -> str:
    """``sha256(canonical JSON of the entry + previous_hash)`` as hex."""
    return hashlib.sha256(canonical_bytes(entry) + previous_hash.encode("ascii")).hexdigest()


def verify_chain(entries: Iterable[AuditEntry], current_states: Mapping[str, str] | None = None) -> list[str]:
    """Every break of the chain, as readable lines; empty when the log is intact.

    ``entries`` in ``decision_id`` order. ``current_states`` (system_code -> state in the
    registry), when given, must agree with the last decision about each system.
    """
    problems: list[str] = []
    previous = GENESIS_HASH
    expected_id: int | None = None
    last_state: dict[str, str] = {}
    for entry in entries:
        where = f"decision {entry.decision_id} ({entry.system_code} {entry.action})"
        if expected_id is not None and entry.decision_id != expected_id:
            problems.append(
                f"{where}: 序号不连续, 前一条之后应为 {expected_id} / ids jump from {expected_id - 1} "
                f"to {entry.decision_id}: an entry was deleted or moved"
            )
        if entry.previous_hash != previous:
            problems.append(
                f"{where}: 与前一条的链接断开 / previous_hash does not match the entry before it "
                "(an entry was deleted, inserted or reordered)"
            )
        if compute_hash(entry, entry.previous_hash) != entry.entry_hash:
            problems.append(f"{where}: 内容与哈希不符, 记录被修改 / its content does not match its hash (edited)")
        previous = entry.entry_hash
        expected_id = entry.decision_id + 1
        last_state[entry.system_code] = entry.to_state
    for code, state in sorted((current_states or {}).items()):
        logged = last_state.get(code)
        if logged != state:
            problems.append(
                f"system {code}: 登记状态 {state} 与日志最后一条决定 ({logged or '无'}) 不符 / registry state "
                f"{state} does not match the last logged decision ({logged or 'none'})"
            )
    return problems


@dataclass(frozen=True)
class ChainHead:
    """The last entry of the log as published outside the warehouse: ``{decision_id}:{entry_hash}``."""

    decision_id: int
    entry_hash: str

    def __str__(self) -> str:
        return f"{self.decision_id}:{self.entry_hash}"

    @classmethod
    def parse(cls, text: str) -> ChainHead:
        """Read ``12:<64 hex digits>`` as printed in a report; ValueError says what is wrong."""
        match = _HEAD.fullmatch(text.strip())
        if match is None:
            raise ValueError(
                f"链头格式应为 序号:64位十六进制哈希 / a chain head is written id:sha256 (e.g. 12:3fa2…, "
                f"64 hex digits), not {text.strip()[:80]!r}"
            )
        return cls(int(match["id"]), match["hash"].lower())


_HEAD = re.compile(r"(?P<id>[1-9][0-9]{0,17}):(?P<hash>[0-9a-fA-F]{64})")


def verify_published_heads(entries: Iterable[AuditEntry], heads: Iterable[ChainHead]) -> list[str]:
    """Every published head that the log no longer holds as published, as readable lines."""
    by_id = {e.decision_id: e.entry_hash for e in entries}
    problems: list[str] = []
    for head in heads:
        stored = by_id.get(head.decision_id)
        if stored is None:
            problems.append(
                f"published head {head}: 已公布的链头第 {head.decision_id} 条不在日志中 / decision "
                f"{head.decision_id} is no longer in the log: entries up to it were deleted after it was published"
            )
        elif stored != head.entry_hash:
            problems.append(
                f"published head {head}: 第 {head.decision_id} 条的哈希与公布时不同 / decision "
                f"{head.decision_id} has another hash than when it was published: the log was rewritten"
            )
    return problems
