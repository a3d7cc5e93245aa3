"""A batch's records staged for SQLite in a file of their own, written without one Python call per row.

Python's ``sqlite3`` binds every row of an ``executemany`` in the interpreter and gives the
interpreter's lock up and back around each row's step. Alone, that is most of a bulk load's time;
beside a thread that validates the next batch it is far worse, since every row then waits for the
other thread to let go of the lock. ADBC's SQLite driver binds a whole Arrow table in C, without the
interpreter's lock, so the ingest stages a batch's valid records this way while it prepares the batch
(``stage_rows``), and the loader moves them on by SQL inside the batch's transaction (a join, one
``INSERT … SELECT``), each a single call that runs without the lock too.

ADBC opens its own SQLite library and connection, so it cannot write into the warehouse's
transaction: it writes a new temporary file and closes it, and the batch's transaction attaches that
file (``batch_transaction``), reads it, detaches it, and the file is removed. A file is written once
and only read afterwards, so the two libraries, which do not see each other's file locks, never use
one file at the same time.

A file is removed once its transaction ends; one whose batch is never committed, when it is dropped;
one left by a killed process, by the next process that stages.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_sqlite.dbapi as adbc
import pyarrow as pa
from adbc_driver_manager import Error as AdbcError
from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

SCHEMA = "stage"  # the attached file's schema name within the batch's transaction
TABLE = "rows"
_PREFIX = "sanheyi-stage-"  # then the process id
_live: set[str] = set()  # files of this process not removed yet (removed at exit)
_swept = False


class StagedRows:
    """An Arrow table written to a SQLite file of its own, readable as ``stage.rows`` once attached."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"{SCHEMA}.{TABLE}"
        self._finalizer = weakref.finalize(self, _remove, str(path))

    def remove(self) -> None:
        self._finalizer()


def stage_rows(table: pa.Table) -> StagedRows | None:
    """Write ``table`` to a new staging file; ``None`` (and a warning) where it cannot be written (no
    temporary directory, a full disk), in which case the loader stages through the warehouse
    connection instead, slower but with the same result."""
    _remove_files_of_dead_processes()
    table = pa.Table.from_arrays([_bindable(c) for c in table.columns], names=table.column_names)
    try:
        handle, name = tempfile.mkstemp(prefix=f"{_PREFIX}{os.getpid()}-", suffix=".sqlite")
        os.close(handle)
    except OSError as exc:
        _warn(exc)
        return None
    _live.add(name)
    staged = StagedRows(Path(name))
    try:
        with adbc.connect(name, autocommit=True) as conn:
            with conn.cursor() as cursor:
                # a staging file lives for one transaction: it needs no journal and no sync
                cursor.execute("PRAGMA journal_mode=OFF")
                cursor.execute("PRAGMA synchronous=OFF")
                # Large pages: written once, in order, and read once, in order, so a sixteenth of the
                # reads and writes (each a system call) of SQLite's default 4 KiB page.
                cursor.execute("PRAGMA page_size=65536")
                cursor.adbc_ingest(TABLE, table, mode="create")
    except (OSError, AdbcError) as exc:
        staged.remove()
        _warn(exc)
        return None
    except BaseException:
        staged.remove()
        raise
    return staged


def _warn(exc: Exception) -> None:
    log.warning(
        "cannot stage a batch in %s (%s); staging through the warehouse connection instead (slower). "
        "Free space there or point TMPDIR elsewhere.",
        tempfile.gettempdir(),
        exc,
    )


def _bindable(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A column of nulls only has Arrow's null type, which the driver cannot bind: make it text."""
    return column.cast(pa.string()) if pa.types.is_null(column.type) else column


@contextlib.contextmanager
def batch_transaction(engine: Engine, staged: StagedRows | None) -> Iterator[Connection]:
    """A transaction on ``engine`` that can read ``staged`` (as ``staged.name``); the file is removed
    at its end, committed or not."""
    if staged is None:
        with engine.begin() as conn:
            yield conn
        return
    try:
        with engine.connect() as conn:
            # SQLite attaches a database only outside a transaction
            conn.exec_driver_sql(f"ATTACH DATABASE ? AS {SCHEMA}", (str(staged.path),))
            conn.commit()
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.exec_driver_sql(f"DETACH DATABASE {SCHEMA}")
                conn.commit()
    finally:
        staged.remove()


def stage_in_connection(conn: Connection, name: str, table: pa.Table) -> str:
    """The slow path: ``table`` as a temporary table of ``conn``, row by row; returns its name."""
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


def _remove(path: str) -> None:
    _live.discard(path)
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


@atexit.register
def _remove_leftovers() -> None:
    for path in list(_live):
        _remove(path)


def _remove_files_of_dead_processes() -> None:
    """Once per process: staging files that a killed process left in the temporary directory."""
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
