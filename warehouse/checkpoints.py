"""WAL checkpoints in the background while a SQLite warehouse takes a bulk load.

In WAL mode every committed page is written twice: to the write-ahead log at commit, then into the
database file by a checkpoint. SQLite runs that checkpoint inside the commit that fills the log past
``wal_autocheckpoint``, so the loader stops while hundreds of MiB are copied and synced — about a
sixth of a bulk ingest. A PASSIVE checkpoint from a connection of its own copies the committed
frames while the loader goes on with the next batch: it takes no lock a writer needs, and the
SQLite call runs without the interpreter's lock, so it uses the other core.

Nothing about durability changes: the same frames reach the database file, with the same sync.
Should the thread fail, the loader's own autocheckpoint takes over as before.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

log = logging.getLogger(__name__)

# Often enough that the log rarely reaches the loader's autocheckpoint (256 MiB); a checkpoint with
# nothing to copy costs microseconds.
CHECKPOINT_INTERVAL_SECONDS = 0.5


def _database_file(engine: Engine) -> str | None:
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


class _Checkpointer(threading.Thread):
    def __init__(self, database: str, interval: float) -> None:
        super().__init__(name="sqlite-wal-checkpoint", daemon=True)
        self._database = database
        self._interval = interval
        self._stop_requested = threading.Event()
        self.checkpoints = 0
        self.failure: str | None = None

    def run(self) -> None:
        try:
            conn = sqlite3.connect(self._database, timeout=60, check_same_thread=False)
        except sqlite3.Error as exc:
            self.failure = str(exc)
            return
        try:
            while not self._stop_requested.wait(self._interval):
                self._checkpoint(conn)
            self._checkpoint(conn)  # what the last batch committed, so closing has nothing left to copy
        except sqlite3.Error as exc:
            self.failure = str(exc)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        # PASSIVE copies what no reader still needs and never waits for the writer
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.checkpoints += 1

    def stop(self) -> None:
        self._stop_requested.set()
        self.join()


@contextmanager
def background_checkpoints(engine: Engine, *, interval: float = CHECKPOINT_INTERVAL_SECONDS) -> Iterator[None]:
    """Checkpoint the write-ahead log from a thread of its own while the block runs (SQLite files only)."""
    database = _database_file(engine)
    if database is None:
        yield
        return
    with engine.connect() as conn:  # the engine's connect hook puts the database in WAL mode
        journal_mode = str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower()
    if journal_mode != "wal":
        yield
        return
    checkpointer = _Checkpointer(database, interval)
    checkpointer.start()
    try:
        yield
    finally:
        checkpointer.stop()
        if checkpointer.failure is not None:
            log.warning(
                "background WAL checkpoints stopped (%s); the loader checkpointed for itself", checkpointer.failure
            )
        else:
            log.debug("background WAL checkpoints: %d runs", checkpointer.checkpoints)
