"""One cycle at a time on a home and its warehouse.

Two cycles at once read the same inbox files twice, race to archive them, enter the same quarantine
entries twice, and let supervision judge a warehouse another process is half-way through loading.
``sanheyi run`` holds the lock for its whole cycle; each Airflow ingest and supervision task holds
it for its own stage, so a supervision run never overlaps a read.

The lock is ``flock`` on ``SANHEYI_HOME/cycle.lock`` (processes on this machine) and, when the
warehouse is PostgreSQL, also a session advisory lock there (Airflow workers on other machines that
share the warehouse). A process that dies releases both. The lock is re-entrant within a process:
the cycle's stages take it again inside ``run_cycle``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

from sqlalchemy import Connection, text

from sanheyi.errors import CycleBusyError
from sanheyi.settings import Settings
from warehouse.db import make_engine

log = logging.getLogger(__name__)

LOCK_FILE = "cycle.lock"
# pg_advisory_lock key of the cycle (the exchange's packaging lock uses another one)
_PG_KEY = 3204810001
# nesting depth per thread: re-entrant in the thread that holds the lock; another thread of the
# process opens the file anew, and flock makes it wait like any other process
_held = threading.local()


@contextmanager
def cycle_lock(settings: Settings, what: str) -> Iterator[None]:
    """Hold the cycle lock while the block runs; CycleBusyError when another cycle keeps it longer
    than the setting ``cycle_lock_wait_seconds`` (an Airflow task is then retried)."""
    depth = getattr(_held, "depth", 0)
    if depth:
        _held.depth = depth + 1
        try:
            yield
        finally:
            _held.depth = depth
        return
    deadline = time.monotonic() + settings.cycle_lock_wait_seconds
    path = settings.home / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _take_file_lock(fd, path, deadline)
        os.ftruncate(fd, 0)
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "what": what, "since": _now()}
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            with _warehouse_lock(settings, deadline):
                _held.depth = 1
                try:
                    yield
                finally:
                    _held.depth = 0
        finally:
            os.ftruncate(fd, 0)  # the next waiter must not be told of a process that has let go
    finally:
        os.close(fd)  # releases the flock


def _take_file_lock(fd: int, path: os.PathLike[str], deadline: float) -> None:
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = _file_holder(fd)
            if time.monotonic() >= deadline:
                raise CycleBusyError(
                    f"另一轮处理正在运行 / another cycle is running ({holder}); wait for it to end, "
                    f"or stop it (the lock file is {path})"
                ) from None
            if not told:
                log.warning("waiting for the cycle that is running (%s)", holder)
                told = True
            time.sleep(1.0)


def _file_holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        holder = {}
    if not holder:
        return "holder unknown"
    what, pid, host, since = (holder.get(k, "?") for k in ("what", "pid", "host", "since"))
    return f"{what}, pid {pid} on {host} since {since}"


@contextmanager
def _warehouse_lock(settings: Settings, deadline: float) -> Iterator[None]:
    if not settings.warehouse_url.startswith("postgresql"):
        yield
        return
    engine = make_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            told = False
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_KEY}).scalar_one():
                conn.rollback()
                holder = _pg_holder(conn)
                if time.monotonic() >= deadline:
                    raise CycleBusyError(
                        f"另一轮处理正在使用数据仓库 / another cycle holds the warehouse ({holder}); "
                        "wait for it to end, or stop it"
                    )
                if not told:
                    log.warning("waiting for the cycle that holds the warehouse (%s)", holder)
                    told = True
                time.sleep(1.0)
            conn.commit()
            try:
                yield
            finally:
                with suppress(Exception):  # a lost connection has released the lock already
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_KEY})
                    conn.commit()
    finally:
        engine.dispose()


def _pg_holder(conn: Connection) -> str:
    row = conn.execute(
        text(
            "SELECT a.pid, a.client_addr, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objid = :k LIMIT 1"
        ),
        {"k": _PG_KEY},
    ).first()
    conn.rollback()
    if row is None:
        return "holder unknown"
    where = row.client_addr or "the local socket"
    return f"PostgreSQL backend pid {row.pid} from {where} since {row.backend_start:%Y-%m-%d %H:%M:%S}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
