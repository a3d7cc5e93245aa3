"""The ``sql`` interface type: 前置库 exchange views read with SQLAlchemy (any dialect).

A system publishes one view per entity it sends, ``v_sanheyi_{entity}``, whose columns are the
fields of §3 with the types of ``interfaces/exchange_views.sql`` (rendered by
:func:`render_exchange_ddl` from the JSON Schemas). The hub reads

    SELECT <fields> FROM v_sanheyi_{entity}
    WHERE updated_at >= :since AND (updated_at, version, key) > (:last_page_end)
    ORDER BY updated_at, version, key LIMIT :n

(the row comparison written out with AND/OR, so that every dialect understands it). Instants are
rendered as RFC 3339 in Asia/Shanghai time; money as a decimal string with two places. On a
database without a time-zone type (SQLite), the view holds UTC.

The hub opens PostgreSQL sessions read-only with a statement timeout; the password comes from
the stored credential, never from the registered address.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from connectors.credentials import Credential
from connectors.remote import (
    DEFAULT_LOOKBACK,
    DEFAULT_PAGE_SIZE,
    ConnectorConfigError,
    Page,
    PagedConnector,
    RetryPolicy,
    SourceProtocolError,
    TransientFault,
    parse_instant,
    utc_text,
)
from schemas.standard import ENTITIES, FIELD_ORDER, KEY_FIELDS, REQUIRED_FIELDS, load_schema

__all__ = ["SqlViewConnector", "entity_columns", "render_exchange_ddl", "view_name"]

SHANGHAI = ZoneInfo("Asia/Shanghai")


class UtcInstant(sa.types.TypeDecorator):
    """``TIMESTAMP WITH TIME ZONE``; on SQLite (no time zones) the value is UTC by convention."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _column_kind(spec: dict[str, Any]) -> str:
    return str(spec.get("x-kind") or "text")


def _sql_type(kind: str, spec: dict[str, Any]) -> tuple[sa.types.TypeEngine[Any], str]:
    """The SQLAlchemy type the hub reads with, and the DDL type it publishes."""
    if kind == "datetime":
        return UtcInstant(), "TIMESTAMP WITH TIME ZONE"
    if kind == "integer":
        return sa.Integer(), "INTEGER"
    if kind == "money":
        return sa.Numeric(15, 2, asdecimal=True), "NUMERIC(15,2)"
    if kind in ("id", "code"):
        length = int(spec.get("maxLength") or 64)
        return sa.String(length), f"VARCHAR({length})"
    return sa.Text(), "TEXT"  # free text, and flow (a JSON array as text)


def entity_columns(entity: str) -> list[tuple[str, str, sa.types.TypeEngine[Any], str]]:
    """``(field, kind, SQLAlchemy type, DDL type)`` for every field of ``entity``, in the standard's order."""
    properties = load_schema(entity)["properties"]
    out = []
    for name in FIELD_ORDER[entity]:
        kind = _column_kind(properties[name])
        sql_type, ddl_type = _sql_type(kind, properties[name])
        out.append((name, kind, sql_type, ddl_type))
    return out


def view_name(entity: str) -> str:
    return f"v_sanheyi_{entity}"


def render_exchange_ddl() -> str:
    """The published DDL of the exchange views (``interfaces/exchange_views.sql``)."""
    lines = [
        '-- 溧阳市"三合一"数据接口标准 第1版 — 前置库交换视图 (interface type "sql")',
        "-- Liyang Interface Standard v1 — exchange views of a 前置库 (front database).",
        "--",
        "-- A self-built system publishes one view per entity it sends (case and case_step; the unified",
        "-- platform also department, power_item and complaint). The view's name and its column names and",
        "-- types are the contract. The tables below are a reference layout: a department may fill them,",
        "-- or keep its own tables and define the views over them with these columns.",
        "--",
        "-- Rules:",
        "--   * one row per record key, holding its latest version",
        "--   * updated_at is set by the source on every change, with version raised by at least 1",
        "--   * the hub reads WHERE updated_at >= (last cursor - 5 minutes) ORDER BY updated_at, version, key",
        "--     so an index on (updated_at, version, key) is required for large tables",
        "--   * TIMESTAMP WITH TIME ZONE columns hold instants; a database without time zones stores UTC",
        '--   * NUMERIC(15,2) money in yuan; flow is the JSON array text of step codes, e.g. ["SL","BJ"]',
        "--   * the hub's account needs SELECT on the views only; the password is stored as a credential",
        "--",
        "-- Generated from the JSON Schemas of the standard (connectors/sql_view.py render_exchange_ddl).",
        "",
    ]
    for entity in ENTITIES:
        columns = entity_columns(entity)
        required = set(REQUIRED_FIELDS[entity])
        keys = KEY_FIELDS[entity]
        table = f"sanheyi_{entity}"
        lines.append(f"CREATE TABLE {table} (")
        body = [
            f"    {name} {ddl}{' NOT NULL' if name in required or name in keys else ''}"
            for name, _kind, _type, ddl in columns
        ]
        body.append(f"    PRIMARY KEY ({', '.join(keys)})")
        lines.append(",\n".join(body))
        lines.append(");")
        lines.append(f"CREATE INDEX ix_{table}_cursor ON {table} (updated_at, version, {', '.join(keys)});")
        lines.append(f"CREATE VIEW {view_name(entity)} AS SELECT {', '.join(n for n, *_ in columns)} FROM {table};")
        lines.append("")
    return "\n".join(lines)


def _render(kind: str, value: Any) -> Any:
    """A column value as the §3 record carries it."""
    if value is None:
        return None
    if kind == "datetime":
        if isinstance(value, datetime):
            return value.astimezone(SHANGHAI).isoformat()
        return str(value)
    if kind == "money":
        if isinstance(value, (Decimal, int, float)):
            return f"{Decimal(str(value)):.2f}"
        return str(value)
    if kind == "flow":
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value
    if kind == "integer" and isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _encode_token(values: Sequence[Any]) -> str:
    parts = [utc_text(v) if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(parts, default=str).encode()).decode()


def _decode_token(token: str) -> list[Any]:
    values = json.loads(base64.urlsafe_b64decode(token.encode()))
    values[0] = parse_instant(values[0])
    return values


class SqlViewConnector(PagedConnector):
    """A self-built system's 前置库 exchange views."""

    kind = "sql"

    def __init__(
        self,
        system_code: str,
        address: str,
        credential: Credential | None,
        *,
        entities: Sequence[str],
        page_size: int = DEFAULT_PAGE_SIZE,
        policy: RetryPolicy | None = None,
        lookback: timedelta = DEFAULT_LOOKBACK,
        schema: str | None = None,
    ) -> None:
        super().__init__(system_code, address, entities=entities, page_size=page_size, policy=policy, lookback=lookback)
        self._credential = credential
        self._schema = schema
        self._engine: Engine | None = None

    def _url(self) -> sa.URL:
        try:
            url = make_url(self.address)
        except (ArgumentError, ValueError):
            raise ConnectorConfigError(
                f"系统 {self.system_code} 的数据库地址无效 / the database URL of {self.system_code} is not valid"
            ) from None
        if url.password is not None:
            raise ConnectorConfigError(
                f"系统 {self.system_code} 的地址含密码; 请改用凭据 / the address of {self.system_code} holds a "
                "password; store it as a credential"
            )
        credential = self._credential
        if credential is not None:
            if credential.username and not url.username:
                url = url.set(username=credential.username)
            if credential.password:
                url = url.set(password=credential.password)
        return url

    def _db(self) -> Engine:
        if self._engine is None:
            url = self._url()
            connect_args: dict[str, Any] = {}
            if url.get_backend_name() == "postgresql":
                connect_args["connect_timeout"] = max(1, int(self.policy.connect_timeout_s))
            elif url.get_backend_name() == "sqlite":
                connect_args["timeout"] = self.policy.connect_timeout_s
            # Errors must not quote bound values (cursors, keys) into messages and logs.
            options: dict[str, Any] = {"connect_args": connect_args, "hide_parameters": True}
            if url.get_backend_name() != "sqlite":
                options.update(pool_pre_ping=True, pool_size=1, max_overflow=0)
            try:
                engine = sa.create_engine(url, **options)
            except (ArgumentError, NoSuchModuleError, ImportError) as exc:
                raise ConnectorConfigError(
                    f"系统 {self.system_code} 的数据库驱动不可用 / "
                    f"no driver for the database of {self.system_code}: "
                    f"{exc.__class__.__name__}"
                ) from None
            if engine.dialect.name == "postgresql":
                timeout_ms = int(self.policy.read_timeout_s * 1000)

                @sa.event.listens_for(engine, "connect")
                def _session_settings(dbapi_connection: Any, _record: Any) -> None:
                    # The hub only reads; a runaway query is cut off server-side.
                    with dbapi_connection.cursor() as cursor:
                        cursor.execute(f"SET statement_timeout = {timeout_ms}")
                        cursor.execute("SET default_transaction_read_only = on")
                    dbapi_connection.commit()

            self._engine = engine
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def reconfigured(self, **changes: Any) -> SqlViewConnector:
        clone = super().reconfigured(**changes)
        clone._engine = None  # type: ignore[attr-defined]
        return clone  # type: ignore[return-value]

    def _view(self, entity: str) -> tuple[sa.TableClause, list[tuple[str, str, Any, str]]]:
        columns = entity_columns(entity)
        view = sa.table(view_name(entity), *[sa.column(n, t) for n, _k, t, _d in columns], schema=self._schema)
        return view, columns

    def _fetch_page(self, entity: str, since: datetime | None, token: str | None, limit: int) -> Page:
        view, columns = self._view(entity)
        order = [view.c.updated_at, view.c.version, *[view.c[k] for k in KEY_FIELDS[entity]]]
        query = sa.select(*[view.c[n] for n, *_ in columns]).order_by(*order).limit(limit)
        if since is not None:
            query = query.where(view.c.updated_at >= since)
        if token:
            try:
                after = _decode_token(token)
            except (ValueError, TypeError, IndexError):
                raise SourceProtocolError("internal page token is corrupt") from None
            query = query.where(_row_after(order, after))
        try:
            with self._db().connect() as conn:
                rows = conn.execute(query).all()
        except (PoolTimeoutError, DBAPIError) as exc:
            raise self._classify(exc, entity) from None
        except SQLAlchemyError as exc:
            raise SourceProtocolError(
                f"系统 {self.system_code} 的视图 {view_name(entity)} 无法读取 / cannot read view "
                f"{view_name(entity)} of {self.system_code}: {exc.__class__.__name__}"
            ) from None
        kinds = [k for _n, k, *_ in columns]
        names = [n for n, *_ in columns]
        records = [{n: _render(k, v) for n, k, v in zip(names, kinds, row, strict=True)} for row in rows]
        next_token = None
        if len(rows) == limit:
            last = rows[-1]
            positions = [names.index(c.name) for c in order]
            next_token = _encode_token([last[i] for i in positions])
        return Page(records=records, next_token=next_token)

    def _classify(self, exc: Exception, entity: str) -> Exception:
        original = getattr(exc, "orig", None)
        text = str(original or exc).splitlines()[0][:200] if str(original or exc) else exc.__class__.__name__
        lowered = text.lower()
        if "no such table" in lowered or "does not exist" in lowered or "undefined" in lowered:
            return SourceProtocolError(
                f"系统 {self.system_code} 没有视图 {view_name(entity)} / {self.system_code} has no view "
                f"{view_name(entity)} (or it lacks a column of the standard): {text}"
            )
        if "authentication" in lowered or "password" in lowered or "permission denied" in lowered:
            return ConnectorConfigError(
                f"系统 {self.system_code} 拒绝了凭据或权限不足 / {self.system_code} refused the credential or "
                f"the SELECT permission: {text}"
            )
        if (
            isinstance(exc, PoolTimeoutError)
            or isinstance(exc, sa.exc.OperationalError)
            or getattr(exc, "connection_invalidated", False)
        ):
            return TransientFault(f"数据库暂不可用 / database unavailable: {text}")
        return SourceProtocolError(
            f"系统 {self.system_code} 的视图 {view_name(entity)} 读取失败 / reading {view_name(entity)} of "
            f"{self.system_code} failed: {text}"
        )


def _row_after(order: Sequence[sa.ColumnElement[Any]], after: Sequence[Any]) -> sa.ColumnElement[bool]:
    """``(c1, c2, ..., cn) > (v1, v2, ..., vn)`` spelled with AND/OR (portable to every dialect)."""
    clauses = []
    for i, column in enumerate(order):
        equal = [order[j] == after[j] for j in range(i)]
        clauses.append(sa.and_(*equal, column > after[i]))
    return sa.or_(*clauses)
