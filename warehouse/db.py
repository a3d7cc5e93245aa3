"""Engine creation and schema set-up for the warehouse (SQLite embedded, PostgreSQL in production)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event

from warehouse.tables import metadata


def make_engine(url: str, *, schema: str | None = None) -> Engine:
    """An engine for ``url``; ``schema`` pins PostgreSQL's search_path (used to isolate tests)."""
    # hide_parameters: a statement error (an IntegrityError on a batch insert, say) would otherwise
    # quote the bound values, i.e. raw payloads with names and ID numbers, into logs and tracebacks.
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # WAL lets readers (status, reports) work while a cycle writes; foreign keys are off
            # by default in SQLite.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL syncs the WAL at every commit. NORMAL syncs it only at checkpoints: a commit
            # survives the process dying but not the machine, and after a power loss a batch whose
            # file was archived already, or the record of a package Changzhou received, could roll
            # back without a trace. A batch is one commit, so the sync costs little.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Bulk loads: a batch's index pages stay in memory until its commit (64 MiB, not 2 MiB),
            # and temporary stages never touch the disk.
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.execute("PRAGMA temp_store=MEMORY")
            # Checkpoint the WAL into the database every 256 MiB rather than every 4 MiB: a batch
            # writes tens of MiB, and copying and syncing them at every commit took as long as a
            # third of the inserts. A crash, of the process or of the machine, still loses nothing
            # committed: the WAL was synced at the commit and is replayed.
            cursor.execute("PRAGMA wal_autocheckpoint=65536")
            cursor.close()

        return engine
    options = {}
    if schema:
        options["options"] = f"-csearch_path={schema}"
    return create_engine(url, connect_args=options, pool_pre_ping=True, hide_parameters=True)


def create_schema(engine: Engine) -> None:
    """Create every table that does not exist yet (tests; ``sanheyi init`` runs the migrations)."""
    metadata.create_all(engine)
