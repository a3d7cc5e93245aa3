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


def _instant_text(series: pd.Series, postgres: bool) -> pd.Series:
    values = pd.to_datetime(series, utc=True)
    text = values.dt.strftime(_SQLITE_INSTANT)
    if postgres:
        text = text + "+00:00"
    return text.where(values.notna(), None)


def frame_to_rows(frame: pd.DataFrame, table: Table, columns: Sequence[str], postgres: bool) -> list[tuple]:
    """Driver-ready tuples for ``columns`` of ``table`` (instants in UTC text, JSON as text)."""
    kinds = _column_kinds(table)
    prepared: list[pd.Series] = []
    for name in columns:
        series = frame[name]
        kind = kinds[name]
        if kind == "instant":
            series = _instant_text(series, postgres)
        elif kind == "json":
            series = series.map(lambda v: None if v is None else json.dumps(v, ensure_ascii=False))
        elif kind == "date":
            series = series.map(lambda v: None if v is None or v is pd.NaT else v.isoformat())
        prepared.append(series.astype(object).where(series.notna(), None))
    if not prepared:
        return []
    matrix = np.empty((len(frame), len(prepared)), dtype=object)
    for index, series in enumerate(prepared):
        matrix[:, index] = series.to_numpy(dtype=object)
    return [tuple(_plain(v) for v in row) for row in matrix]


def _plain(value: object) -> object:
    # numpy scalars are not understood by every driver
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


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

