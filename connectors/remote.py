"""What the remote connectors (REST, SOAP, SQL) share: errors, bounded retries, message scrubbing.

Errors are grouped by how the caller recovers (the Singer SDK way):

- :class:`SourceUnavailableError` — a transient fault (timeout, connection refused, HTTP 5xx,
  SOAP server fault, database gone) that outlived the retries: skip this source for this cycle,
  keep its cursor, try again next cycle; other sources are unaffected.
- :class:`SourceProtocolError` — the source answered, but not as the standard says (HTTP 4xx,
  malformed JSON, unsafe XML, a missing view): retrying will not help, an engineer must look.
- :class:`ConnectorConfigError` — our own configuration (address, credential) is wrong.

Every message is run through the secret scrubber before it is raised.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from connectors import base
from schemas.errors import HubError

__all__ = [
    "ConnectorError",
    "ConnectorConfigError",
    "RetryPolicy",
    "SourceProtocolError",
    "SourceUnavailableError",
    "TransientFault",
    "call_with_retry",
]

log = logging.getLogger("connectors.remote")

T = TypeVar("T")


def _scrubbed(message: str) -> str:
    # Imported late: credentials imports this module for ConnectorConfigError.
    from connectors.credentials import scrub

    return scrub(message)


class ConnectorError(HubError):
    """Mixin root of the errors raised here: the message is scrubbed of secrets before it is kept."""

    def __init__(self, message: str) -> None:
        super().__init__(_scrubbed(message))


class ConnectorConfigError(ConnectorError, base.ConnectorConfigError):
    """The address or credential of a source is wrong or missing."""


class SourceUnavailableError(ConnectorError, base.ConnectorUnavailable):
    """The source did not answer in time or answered with a transient fault, after every retry."""


class SourceProtocolError(ConnectorError, base.ConnectorDataError):
    """The source answered in a way the standard does not allow; retrying will not help."""


class TransientFault(Exception):
    """Raised inside a connector for a fault worth retrying; never leaves the connector."""


@dataclass(frozen=True)
class RetryPolicy:
    """Explicit timeouts and bounded exponential backoff for one source."""

    attempts: int = 4
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    max_response_bytes: int = 64 * 1024 * 1024

    @property
    def total_timeout_s(self) -> float:
        return self.connect_timeout_s + self.read_timeout_s


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    system_code: str,
    what: tuple[str, str],
) -> T:
    """Call ``fn``; retry on :class:`TransientFault`; raise :class:`SourceUnavailableError` at the end.

    ``what`` names the operation for the user, in Chinese and English ("读取 case 第 3 页", "reading case page 3").
    """
    what_zh, what_en = what

    def _log_retry(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: %s failed (attempt %d of %d), retrying: %s",
            system_code,
            what_en,
            state.attempt_number,
            policy.attempts,
            _scrubbed(str(exc)),
        )

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait_exponential(multiplier=policy.backoff_initial_s, max=policy.backoff_max_s),
        retry=retry_if_exception_type(TransientFault),
        before_sleep=_log_retry,
        reraise=True,
    )
    try:
        return retrying(fn)
    except TransientFault as exc:
        raise SourceUnavailableError(
            f"系统 {system_code} 接口暂不可用 ({what_zh}, 共尝试 {policy.attempts} 次): {exc} / "
            f"source {system_code} unavailable ({what_en}, {policy.attempts} attempts): {exc}"
        ) from None


# --- cursors ---------------------------------------------------------------------------------
#
# A remote connector's cursor (``connectors.base.Cursor``, stored as JSON in ``ops_cursor``) maps
# each entity to the sort key of the last record read: ``{"case": {"updated_at": "...Z",
# "version": 3, "key": ["SELF_GA", "LY1"]}}``. The next read asks for records changed at or after
# ``updated_at - lookback``: records written with the same (or a slightly earlier, late-committed)
# ``updated_at`` are read again instead of missed; the loader counts the repeats as DUPLICATE.

DEFAULT_LOOKBACK = timedelta(minutes=5)
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 500


@dataclass(frozen=True)
class Position:
    """The sort key ``(updated_at, version, key)`` of the last record read of one entity."""

    updated_at: datetime
    version: int
    key: tuple[Any, ...]

    def to_json(self) -> dict[str, Any]:
        return {"updated_at": utc_text(self.updated_at), "version": self.version, "key": list(self.key)}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Position:
        return cls(parse_instant(str(value["updated_at"])), int(value["version"]), tuple(value.get("key") or ()))


def utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_instant(value: str) -> datetime:
    """An RFC 3339 instant with an offset, as an aware datetime; ``ValueError`` otherwise."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"no offset in {value!r}")
    return parsed


def decode_cursor(cursor: Mapping[str, Any] | None, system_code: str) -> dict[str, Position]:
    """The stored JSON cursor as positions per entity (``{}`` for the first read)."""
    if not cursor:
        return {}
    try:
        return {entity: Position.from_json(value) for entity, value in cursor.items() if value}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ConnectorConfigError(
            f"系统 {system_code} 保存的游标无法识别 / the stored cursor of {system_code} is not understood; "
            "reset it to read everything again"
        ) from None


def encode_cursor(positions: Mapping[str, Position]) -> dict[str, Any]:
    return {entity: positions[entity].to_json() for entity in sorted(positions)}


def record_position(record: Mapping[str, Any], key_fields: Sequence[str]) -> Position | None:
    """The record's sort key, or ``None`` when it has no usable ``updated_at``/``version``."""
    try:
        version = record["version"]
        if isinstance(version, bool) or not isinstance(version, int):
            return None
        return Position(parse_instant(str(record["updated_at"])), version, tuple(record.get(k) for k in key_fields))
    except (KeyError, ValueError, TypeError):
        return None


def _sort_tuple(position: Position) -> tuple[Any, ...]:
    return (position.updated_at, position.version, tuple(str(k) for k in position.key))


def later(a: Position | None, b: Position | None) -> Position | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if _sort_tuple(b) > _sort_tuple(a) else a


# --- paged connectors ------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One page as the source sent it: each record's JSON text (or decoded object), the next token."""

    records: list[Any]  # str (JSON text) or already decoded objects
    next_token: str | None


class PagedConnector(abc.ABC):
    """A connector over an interface that serves records changed since an instant, in pages.

    Subclasses implement :meth:`_fetch_page` (raising :class:`TransientFault` for faults worth
    retrying) and set ``kind``; everything else (cursor, look-back, batches, retries, check) is here.
    """

    kind = "remote"

    def __init__(
        self,
        system_code: str,
        address: str,
        *,
        entities: Sequence[str],
        page_size: int = DEFAULT_PAGE_SIZE,
        policy: RetryPolicy | None = None,
        lookback: timedelta = DEFAULT_LOOKBACK,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ConnectorConfigError(f"page_size must be 1..{MAX_PAGE_SIZE}")
        self.system_code = system_code
        self.address = address
        self.entities = tuple(entities)
        self.page_size = page_size
        self.policy = policy or RetryPolicy()
        self.lookback = lookback
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    # -- to be provided by the interface type ----------------------------------------------
    @abc.abstractmethod
    def _fetch_page(self, entity: str, since: datetime | None, token: str | None, limit: int) -> Page:
        """One page of ``entity`` changed at or after ``since`` (all when ``None``), after ``token``."""

    def close(self) -> None:  # noqa: B027 - optional hook; most interfaces hold nothing to release
        """Release connections (idempotent)."""

    # -- the Connector protocol -------------------------------------------------------------
    def read(self, cursor: Mapping[str, Any] | None) -> Iterator[base.RecordBatch]:
        """Every entity in dependency order, one batch per page, each with the cursor after it."""
        positions = decode_cursor(cursor, self.system_code)
        for entity in self.entities:
            yield from self._read_entity(entity, positions)

    def read_entity(self, entity: str, cursor: Mapping[str, Any] | None = None) -> Iterator[base.RecordBatch]:
        """The batches of one entity only (the conformance check samples entity by entity)."""
        yield from self._read_entity(entity, decode_cursor(cursor, self.system_code))

    def check(self) -> base.CheckResult:
        """Connect with the credential and read the first page of the first entity."""
        entity = self.entities[0]
        try:
            batch = next(iter(self._read_entity(entity, {}, limit=min(self.page_size, 20), max_pages=1)), None)
        except HubError as exc:
            return base.CheckResult(ok=False, system_code=self.system_code, message=exc.message)
        records = 0 if batch is None else len(batch.frame)
        unparsed = 0 if batch is None else len(batch.unparsed)
        return base.CheckResult(
            ok=True,
            system_code=self.system_code,
            message=f"{self.kind} 接口可连接, 样本 {records} 条 / {self.kind} interface reachable, "
            f"{records} sample record(s) of {entity}",
            sample_records=records,
            sample_unparsed=unparsed,
        )

    # -- helpers for the conformance check --------------------------------------------------
    def reconfigured(self, **changes: Any) -> PagedConnector:
        """A copy with other settings (``page_size``, ``lookback``, ``policy``)."""
        clone = copy.copy(self)
        for name, value in changes.items():
            if not hasattr(clone, name):
                raise AttributeError(name)
            setattr(clone, name, value)
        return clone

    def cursor_at(self, instant: datetime) -> dict[str, Any]:
        """A cursor that puts every entity at ``instant`` (plus the look-back, so reads start there)."""
        at = instant + self.lookback
        return encode_cursor({e: Position(at, 0, ()) for e in self.entities})

    # -- internals --------------------------------------------------------------------------
    def _origin(self, entity: str, since: datetime | None, page_no: int) -> str:
        since_text = utc_text(since) if since else ""
        return f"{self.kind}:{entity}?since={since_text}&page={page_no}"

    def _read_entity(
        self,
        entity: str,
        positions: dict[str, Position],
        *,
        limit: int | None = None,
        max_pages: int | None = None,
    ) -> Iterator[base.RecordBatch]:
        from schemas.standard import KEY_FIELDS

        key_fields = KEY_FIELDS[entity]
        # A record stamped later than now (a wrong clock, a typing error in the source) must not move
        # the cursor there: every record changed before that instant would never be asked for again.
        read_at = self.clock()
        start = positions.get(entity)
        since = None if start is None else start.updated_at - self.lookback
        token: str | None = None
        seen_tokens: set[str] = set()
        page_no = 0
        line = 0
        current = positions  # shared across the entities of one read: each batch carries all of them
        while True:
            page_no += 1
            what = (f"读取 {entity} 第 {page_no} 页", f"reading {entity} page {page_no}")
            page = call_with_retry(
                lambda: self._fetch_page(entity, since, token, limit or self.page_size),  # noqa: B023
                policy=self.policy,
                system_code=self.system_code,
                what=what,
            )
            if page.records:
                batch, last = self._to_batch(entity, since, page_no, page.records, line, key_fields, read_at)
                line += len(page.records)
                moved = later(current.get(entity), last)
                if moved is not None:
                    current[entity] = moved
                yield batch_with_cursor(batch, encode_cursor(current))
            if not page.next_token or (max_pages is not None and page_no >= max_pages):
                return
            if page.next_token in seen_tokens:
                raise SourceProtocolError(
                    f"系统 {self.system_code} 分页令牌重复, 分页会无限循环 / {self.system_code} returned the same "
                    f"page token twice while reading {entity}: its paging loops"
                )
            if not page.records:
                raise SourceProtocolError(
                    f"系统 {self.system_code} 返回空页却给出下一页令牌 / {self.system_code} returned an empty page "
                    f"with a next page token while reading {entity}"
                )
            seen_tokens.add(page.next_token)
            token = page.next_token

    def _to_batch(
        self,
        entity: str,
        since: datetime | None,
        page_no: int,
        items: list[Any],
        first_line: int,
        key_fields: Sequence[str],
        read_at: datetime,
    ) -> tuple[base.RecordBatch, Position | None]:
        """The page as a batch, and the latest position on it that is not later than ``read_at``."""
        records: list[dict[str, Any]] = []
        raws: list[str] = []
        lines: list[int] = []
        unparsed: list[base.UnparsedLine] = []
        last: Position | None = None
        for offset, item in enumerate(items, start=1):
            line_no = first_line + offset
            if isinstance(item, str):
                raw = item
                try:
                    value = json.loads(item)
                except ValueError as exc:
                    unparsed.append(base.UnparsedLine(line_no, raw, f"JSON: {exc.msg} (column {exc.colno})"))
                    continue
            else:
                value = item
                raw = base.json_line(item) if isinstance(item, Mapping) else json.dumps(item, ensure_ascii=False)
            if not isinstance(value, dict):
                unparsed.append(base.UnparsedLine(line_no, raw, "不是 JSON 对象 / not a JSON object"))
                continue
            records.append(value)
            raws.append(raw)
            lines.append(line_no)
            position = record_position(value, key_fields)
            if position is not None and position.updated_at <= read_at:
                last = later(last, position)
        frame = base.records_to_frame(entity, records, lines)
        batch = base.RecordBatch(
            source_system=self.system_code,
            entity=entity,
            origin=self._origin(entity, since, page_no),
            frame=frame,
            raw=raws,
            unparsed=unparsed,
            next_cursor=None,
            file_path=None,
        )
        return batch, last


def batch_with_cursor(batch: base.RecordBatch, cursor: dict[str, Any]) -> base.RecordBatch:
    return dataclasses.replace(batch, next_cursor=cursor)
