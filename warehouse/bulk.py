"""Bulk movement of frames into the database: COPY on PostgreSQL, ``executemany`` for small row sets
on SQLite, and the Arrow tables that SQLite's bulk path stages (``warehouse/staging.py``).

The loader stages a whole batch and lets the database do the joins and the upsert, so no Python
object is built per record on the bulk path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pgpq import ArrowToPostgresBinaryEncoder
from sqlalchemy import BigInteger, Boolean, Column, Connection, Date, Integer, Numeric, Table


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


def _utc_instants(series: pd.Series) -> pa.Array:
    """Instants as an Arrow array of UTC microseconds."""
    values = series if isinstance(series.dtype, pd.DatetimeTZDtype) else pd.to_datetime(series, utc=True)
    return pc.cast(pa.array(values.dt.tz_convert("UTC")), pa.timestamp("us", tz="UTC"), safe=False)


def _instant_text(series: pd.Series, postgres: bool) -> pa.Array:
    """UTC instants as text (``YYYY-MM-DD HH:MM:SS.ffffff``, ``+00:00`` on PostgreSQL), cast in Arrow."""
    text = pc.cast(pc.cast(_utc_instants(series), pa.timestamp("us")), pa.string())
    return pc.binary_join_element_wise(text, "+00:00", "") if postgres else text


def _plain_column(series: pd.Series) -> np.ndarray:
    """Python values (ints, floats, str) with every null as ``None``, as an object array."""
    return series.to_numpy(dtype=object, na_value=None)


def prepared_columns(frame: pd.DataFrame, table: Table, columns: Sequence[str], postgres: bool) -> list[Any]:
    """One driver-ready sequence per column (zip them for row tuples)."""
    kinds = _column_kinds(table)
    prepared: list[Any] = []
    for name in columns:
        series = frame[name]
        kind = kinds[name]
        if kind == "instant":
            prepared.append(_instant_text(series, postgres).to_numpy(zero_copy_only=False))
            continue
        if kind == "json":
            series = series.map(lambda v: None if v is None else json.dumps(v, ensure_ascii=False))
        elif kind == "date":
            series = series.map(lambda v: None if v is None or v is pd.NaT else v.isoformat())
        prepared.append(_plain_column(series))
    return prepared


def frame_to_rows(frame: pd.DataFrame, table: Table, columns: Sequence[str], postgres: bool) -> list[tuple]:
    """Driver-ready tuples for ``columns`` of ``table`` (instants in UTC text, JSON as text)."""
    prepared = prepared_columns(frame, table, columns, postgres)
    return list(zip(*prepared, strict=True)) if prepared else []


def create_stage(conn: Connection, table: Table, name: str) -> None:
    """A temporary table shaped like ``table`` (no constraints), dropped at the end of the transaction."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    if is_postgres(conn):
        conn.exec_driver_sql(f"CREATE TEMP TABLE {name} (LIKE {table.name}) ON COMMIT DROP")
    else:
        conn.exec_driver_sql(f"CREATE TEMP TABLE {name} AS SELECT * FROM {table.name} WHERE 0")


def create_key_stage(conn: Connection, table: Table, keys: Sequence[str], name: str) -> None:
    """PostgreSQL: a temporary table of ``table``'s key columns only, dropped at the end of the transaction."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {name} ON COMMIT DROP AS SELECT {', '.join(keys)} FROM {table.name} WITH NO DATA"
    )


def _arrow_column(series: pd.Series, kind: str, postgres: bool) -> pa.Array:
    if kind == "instant":
        return _instant_text(series, postgres)
    if kind == "json":
        return pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in series], pa.string())
    if kind == "date":
        return pa.array([None if v is None or v is pd.NaT else v.isoformat() for v in series], pa.string())
    if isinstance(series.dtype, pd.ArrowDtype):  # validated text: already Arrow, no copy
        return pa.array(series.array)
    if series.dtype.kind in "iu" or isinstance(series.dtype, pd.Int64Dtype):
        # from the values (and the mask of nullable integers), not through a Python int per value
        return pa.array(series.array, pa.int64())
    values = series.to_numpy(dtype=object, na_value=None)
    if series.dtype.kind == "b":
        return pa.array(values, pa.int64())
    return pa.array(values, pa.string()) if series.dtype == object or series.dtype.kind in "OSU" else pa.array(values)


def arrow_table(frame: pd.DataFrame, table: Table, columns: Sequence[str], *, postgres: bool = False) -> pa.Table:
    """``columns`` of ``frame`` as an Arrow table with the database's text for instants, JSON and dates
    (columns that ``table`` lacks, such as ``_line``, are taken as they are)."""
    kinds = _column_kinds(table)
    arrays = [_arrow_column(frame[name], kinds.get(name, "plain"), postgres) for name in columns]
    return pa.Table.from_arrays(arrays, names=list(columns))


def _postgres_type(column: Column) -> pa.DataType | None:
    """The Arrow type whose binary ``COPY`` encoding is the column's own PostgreSQL type, or ``None``
    for a text-like column (text, varchar, json), which ``COPY`` takes as UTF-8 bytes. Instants are
    not asked for: they are UTC microseconds already (``_utc_instants``)."""
    column_type = column.type
    if isinstance(column_type, BigInteger):
        return pa.int64()
    if isinstance(column_type, Integer):
        return pa.int32()
    if isinstance(column_type, Numeric):
        return pa.decimal128(column_type.precision, column_type.scale)
    if isinstance(column_type, Date):
        return pa.date32()
    if isinstance(column_type, Boolean):
        return pa.bool_()
    return None


def postgres_binary_table(frame: pd.DataFrame, table: Table, columns: Sequence[str]) -> pa.Table:
    """``columns`` of ``frame`` as an Arrow table typed exactly as ``table``'s PostgreSQL columns
    (``int4`` as int32, ``numeric(15,2)`` as decimal128(15, 2), instants as UTC microseconds), which
    is what binary ``COPY`` needs: the server reads each value with the column's own receive function."""
    kinds = _column_kinds(table)
    arrays = []
    for name in columns:
        series = frame[name]
        if kinds[name] == "instant":
            arrays.append(_utc_instants(series))
            continue
        array = _arrow_column(series, kinds[name], postgres=True)
        target = _postgres_type(table.columns[name])
        arrays.append(array if target is None else pc.cast(array, target))
    return pa.Table.from_arrays(arrays, names=list(columns))


def copy_frame(conn: Connection, target: str, frame: pd.DataFrame, table: Table, columns: Sequence[str]) -> None:
    """PostgreSQL: ``COPY`` ``columns`` of ``frame`` into ``target`` in the binary format (no row objects).

    The binary format spares the server parsing text for every number and instant: a third less of
    its time per row than ``COPY … CSV`` (``docs/performance.md``). ``pgpq`` encodes the Arrow
    columns in native code.
    """
    if frame.empty:
        return
    typed = postgres_binary_table(frame, table, columns)
    encoder = ArrowToPostgresBinaryEncoder(typed.schema)
    dbapi = conn.connection.driver_connection
    with dbapi.cursor() as cursor:
        with cursor.copy(f"COPY {target} ({', '.join(columns)}) FROM STDIN (FORMAT binary)") as copy:
            copy.write(encoder.write_header())
            # in slices: the server inserts one while the next is encoded, not only after the whole batch
            for batch in typed.to_batches(max_chunksize=8192):
                copy.write(encoder.write_batch(batch))
            copy.write(encoder.finish())


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
