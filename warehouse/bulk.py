"""Bulk movement of frames into the database: COPY on PostgreSQL, executemany on SQLite.

The loader stages a whole batch in a temporary table and lets the database do the joins and the
upsert, so no Python object is built per record beyond the row tuple the driver needs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table

_SQLITE_INSTANT = "%Y-%m-%d %H:%M:%S.%f"


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _column_kinds(table: Table) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for column in table.columns:
        type_name = type(column.type).__name__
        if type_name == "UtcDateTime":
            kinds[column.name] = "instant"
        elif type_name == "JSON":
            kinds[column.name] = "json"
        elif type_name == "Date":
            kinds[column.name] = "date"
        else:
            kinds[column.name] = "plain"
    return kinds


def _instant_text(series: pd.Series, postgres: bool) -> list[str | None]:
    values = pd.to_datetime(series, utc=True)
    present = values.notna().to_numpy()
    raw = values.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    text = np.char.replace(np.datetime_as_string(raw, unit="us"), "T", " ")
    if postgres:
        text = np.char.add(text, "+00:00")
    out = text.astype(object)
    out[~present] = None
    return out.tolist()


def _plain_column(series: pd.Series) -> list:
    """Python values (``tolist`` turns numpy scalars into ints/floats) with every null as ``None``."""
    present = series.notna().to_numpy()
    values = series.to_numpy(dtype=object)
    if not present.all():
        values = values.copy()
        values[~present] = None
    if values.size and isinstance(values[present.argmax()] if present.any() else None, np.generic):
        return [v.item() if isinstance(v, np.generic) else v for v in values]
    return values.tolist()


def frame_to_rows(frame: pd.DataFrame, table: Table, columns: Sequence[str], postgres: bool) -> list[tuple]:
    """Driver-ready tuples for ``columns`` of ``table`` (instants in UTC text, JSON as text)."""
    kinds = _column_kinds(table)
    prepared: list[list] = []
    for name in columns:
        series = frame[name]
        kind = kinds[name]
        if kind == "instant":
            prepared.append(_instant_text(series, postgres))
            continue
        if kind == "json":
            series = series.map(lambda v: None if v is None else json.dumps(v, ensure_ascii=False))
        elif kind == "date":
            series = series.map(lambda v: None if v is None or v is pd.NaT else v.isoformat())
        prepared.append(_plain_column(series))
    return list(zip(*prepared, strict=True)) if prepared else []


def create_stage(conn: Connection, table: Table, name: str) -> None:
    """A temporary table shaped like ``table`` (no constraints), dropped at the end of the transaction."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    if is_postgres(conn):
        conn.exec_driver_sql(f"CREATE TEMP TABLE {name} (LIKE {table.name}) ON COMMIT DROP")
    else:
        conn.exec_driver_sql(f"CREATE TEMP TABLE {name} AS SELECT * FROM {table.name} WHERE 0")


def copy_rows(conn: Connection, target: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """Write ``rows`` into ``target`` as fast as the dialect allows."""
    if not rows:
        return
    column_list = ", ".join(columns)
    dbapi = conn.connection.driver_connection
    if is_postgres(conn):
        with dbapi.cursor() as cursor:
            with cursor.copy(f"COPY {target} ({column_list}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    placeholders = ", ".join("?" for _ in columns)
    cursor = dbapi.cursor()
    try:
        cursor.executemany(f"INSERT INTO {target} ({column_list}) VALUES ({placeholders})", rows)
    finally:
        cursor.close()

