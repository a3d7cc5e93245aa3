"""Staging Arrow tables for SQL on a SQLite connection, without one Python call per row.

Python's ``sqlite3`` binds every row of an ``executemany`` in the interpreter and gives the
interpreter's lock up and back around each row's step. Alone, that is most of a bulk load's time;
beside a thread that validates the next batch it is far worse, since every row then waits for the
other thread to let go of the lock. ADBC's SQLite driver binds a whole Arrow table in C, without the
interpreter's lock, so a batch's rows are staged this way and moved on by SQL (a join, one
``INSERT … SELECT``), each a single call that runs without the lock too.

ADBC opens its own SQLite library and connection, so it cannot write into the warehouse's
transaction. Each warehouse connection therefore attaches a **scratch database** of its own (a
temporary file, schema ``scratch``): ADBC writes the staged table there and closes, and the
warehouse connection reads it inside its transaction.

Two SQLite libraries in one process do not see each other's file locks, so ADBC must never write a
scratch file that its warehouse connection is reading. A connection's transaction keeps the scratch
file locked from its first read to its end; once a transaction has read its scratch, any later table
it stages goes into a temporary table through the connection itself (the slow path, rare: one bulk
upsert per transaction is the rule). The same path serves when no scratch file could be made.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import adbc_driver_sqlite.dbapi as adbc
import pyarrow as pa
from sqlalchemy import Connection, Engine, event

log = logging.getLogger(__name__)

SCHEMA = "scratch"
_PATH = "scratch_path"  # in the pooled connection's info: its scratch file, or None
_READ = "scratch_read"  # in the pooled connection's info: its transaction has read the scratch file
_PREFIX = "sanheyi-scratch-"  # then the process id
_open_files: set[str] = set()  # scratch files of live connections, removed at exit if still there
_swept = False


def enable_scratch(engine: Engine) -> None:
    """Give every connection of a SQLite ``engine`` its own scratch database (see the module)."""
    event.listen(engine, "connect", _attach)
    event.listen(engine, "close", _discard)
    event.listen(engine, "checkin", _returned)
    event.listen(engine, "commit", _transaction_ended)
    event.listen(engine, "rollback", _transaction_ended)


def _attach(dbapi_connection: sqlite3.Connection, record: Any) -> None:
    record.info[_PATH] = None
    _remove_files_of_dead_processes()
    try:
        handle, path = tempfile.mkstemp(prefix=f"{_PREFIX}{os.getpid()}-", suffix=".sqlite")
        os.close(handle)
        # Runs before any transaction: SQLite cannot attach a database inside one.
        dbapi_connection.execute(f"ATTACH DATABASE ? AS {SCHEMA}", (path,))
    except (OSError, sqlite3.Error) as exc:
        log.warning("no scratch database for bulk loads (%s); staging through the connection instead", exc)
        return
    record.info[_PATH] = path
    _open_files.add(path)


def _remove(path: str | None) -> None:
    if path is None:
        return
    _open_files.discard(path)
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _discard(_dbapi_connection: sqlite3.Connection, record: Any) -> None:
    _remove(record.info.get(_PATH))


def _returned(_dbapi_connection: sqlite3.Connection, record: Any) -> None:
    record.info[_READ] = False  # the pool rolls back whatever was left open


def _transaction_ended(conn: Connection) -> None:
    conn.connection.info[_READ] = False


def _remove_files_of_dead_processes() -> None:
    """Once per process: scratch files that a killed process left in the temporary directory."""
    global _swept
    if _swept:
        return
    _swept = True
    for path in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*-*.sqlite"):
        pid = path.name[len(_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            with contextlib.suppress(OSError):  # gone meanwhile, or not ours to remove
                path.unlink()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@atexit.register
def _remove_leftovers() -> None:
    for path in list(_open_files):
        _remove(path)


def stage_arrow(conn: Connection, name: str, table: pa.Table) -> str:
    """Make ``table`` readable by SQL on ``conn``; returns its qualified name.

    The caller reads it in the same transaction (``INSERT … SELECT``, a join); its rows are gone or
    replaced by the next staging of the same name.
    """
    info = conn.connection.info
    path = info.get(_PATH)
    columns = [_arrow_safe(column) for column in table.columns]
    table = pa.Table.from_arrays(columns, names=table.column_names)
    if path is not None and not info.get(_READ):
        with adbc.connect(path, autocommit=True) as scratch:
            with scratch.cursor() as cursor:
                # a scratch table lives for one statement: it needs no journal and no sync
                cursor.execute("PRAGMA journal_mode=OFF")
                cursor.execute("PRAGMA synchronous=OFF")
                cursor.adbc_ingest(name, table, mode="replace")
        info[_READ] = True  # from the caller's first read to the end of the transaction
        return f"{SCHEMA}.{name}"
    return _stage_through_connection(conn, name, table)


def _arrow_safe(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column of nulls only has Arrow's null type, which the driver cannot bind: make it text."""
    return column.cast(pa.string()) if pa.types.is_null(column.type) else column


def _stage_through_connection(conn: Connection, name: str, table: pa.Table) -> str:
    qualified = f"temp.{name}"
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {qualified}")
    conn.exec_driver_sql(f"CREATE TEMP TABLE {name} ({', '.join(table.column_names)})")
    placeholders = ", ".join("?" for _ in table.column_names)
    rows = zip(*(column.to_pylist() for column in table.columns), strict=True)
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.executemany(f"INSERT INTO {qualified} VALUES ({placeholders})", rows)
    finally:
        cursor.close()
    return qualified
