"""Warehouse side of the Changzhou exchange: what is pending, claiming it for a package, ``ops_package``
and ``ops_receipt_log``.

What has been sent is kept in ``ops_exchange_sent``: per record (entity and key joined with "/"),
the ``payload_sha256`` of the content last packaged and the package that carried it. A row of a
record table or of ``fct_supervision_event`` is pending while its ``payload_sha256`` is not the
one sent (or nothing was sent for it yet), so the loader and the supervision engine have nothing
to mark when they store a newer version, and claiming never rewrites the wide record tables.

Building package *n* happens in one transaction on one connection: take the packaging lock,
*claim* every pending row by upserting its key and SHA-256 with ``sequence = n`` into
``ops_exchange_sent``, read the claimed payloads in key order, and insert the ``ops_package``
row. A crash before the commit undoes the claim, so the rebuild sees exactly the same rows.

The claim and the read must see one state of the record tables. On PostgreSQL the transaction is
REPEATABLE READ (one snapshot, taken after the packaging lock): a loader committing a newer version
meanwhile is neither waited for nor packaged, and its row stays pending because its SHA-256 differs
from the one claimed. On SQLite the builder holds the database's only write lock from before the
claim until the commit; a second connection reading the last committed state (a WAL snapshot,
:func:`snapshot_reader`) sees exactly the rows the claim records, so the two can run side by side.

Looking every row up in ``ops_exchange_sent`` costs a few microseconds a row, which on a warehouse of
millions of rows is most of a later package's build. On SQLite a package therefore records the
highest load batch id at its claim (``loaded_through_batch_id``): with one writer at a time and
the write lock held, every batch up to it has committed, so every row it loaded was claimed by that
package or an earlier one. A later package only looks up rows of later batches, read in one pass
over the table. ``fct_supervision_event`` has no batch and is always looked up whole. PostgreSQL
keeps the full lookup: concurrent loaders there commit batch ids out of order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    Integer,
    String,
    Table,
    and_,
    cast,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from schemas.errors import RetriableError
from warehouse.tables import (
    dim_department,
    dim_power_item,
    fct_case,
    fct_case_step,
    fct_complaint,
    fct_supervision_event,
    ops_exchange_sent,
    ops_load_batch,
    ops_package,
    ops_receipt_log,
)

BUILT = "BUILT"
DELIVERED = "DELIVERED"
ACCEPTED = "ACCEPTED"
REJECTED = "REJECTED"
APPLIED = "APPLIED"
REFUSED = "REFUSED"

# Any constant will do; it only has to be the same for every process that builds packages.
_PG_PACKAGING_LOCK = 3204813204
#: how long a package build waits for another one on PostgreSQL before it gives up (retried next cycle)
PACKAGING_LOCK_WAIT_S = 600


class PackagingBusy(RetriableError):
    """Another package build has held the packaging lock longer than a build waits for it."""


@dataclass(frozen=True)
class ExchangeSource:
    """One table whose rows go into ``data/{entity}.jsonl``."""

    entity: str
    table: Table
    keys: tuple[str, ...]
    changed_at: str  # the column telling when the row's current version was made
    loaded_in_batches: bool = True  # the table has the loader's batch_id

    def record_key(self) -> ColumnElement[str]:
        """The row's key as ``ops_exchange_sent.record_key``: the key columns joined with "/"."""
        parts = [self.table.c[key] for key in self.keys]
        key: ColumnElement[str] = _as_text(parts[0])
        for part in parts[1:]:
            key = key.concat(literal_column("'/'")).concat(_as_text(part))
        return key

    def sent(self, *, sequence: int | None = None) -> ColumnElement[bool]:
        """True for the rows whose current content is the one sent (by package ``sequence``, if given)."""
        sent = ops_exchange_sent
        condition = exists().where(
            sent.c.entity == literal_column(f"'{self.entity}'"),
            sent.c.record_key == self.record_key(),
            sent.c.payload_sha256 == self.table.c.payload_sha256,
        )
        if sequence is not None:
            condition = condition.where(sent.c.sequence == literal_column(str(int(sequence))))
        return condition


def _as_text(column: Column) -> ColumnElement[str]:
    return column if isinstance(column.type, String) else cast(column, String)


EXCHANGE_SOURCES: tuple[ExchangeSource, ...] = (
    ExchangeSource("department", dim_department, ("dept_code",), "updated_at"),
    ExchangeSource("power_item", dim_power_item, ("power_code",), "updated_at"),
    ExchangeSource("case", fct_case, ("source_system", "case_id"), "updated_at"),
    ExchangeSource("case_step", fct_case_step, ("source_system", "case_id", "step_no"), "updated_at"),
    ExchangeSource("complaint", fct_complaint, ("complaint_id",), "updated_at"),
    ExchangeSource("supervision_event", fct_supervision_event, ("event_key",), "computed_at", loaded_in_batches=False),
)
SOURCES_BY_ENTITY = {source.entity: source for source in EXCHANGE_SOURCES}


@dataclass(frozen=True)
class PackageRow:
    """One row of ``ops_package``."""

    sequence: int
    package_id: str
    file_name: str
    created_at: datetime
    manifest_sha256: str
    bytes: int
    record_counts: dict[str, int]
    state: str
    transport: str | None = None
    delivered_at: datetime | None = None
    receipt_status: str | None = None
    receipt_received_at: datetime | None = None
    receipt_errors: list[dict[str, Any]] | None = None
    flagged_at: datetime | None = None
    loaded_through_batch_id: int | None = None


def _package_row(row: Any) -> PackageRow:
    return PackageRow(**{name: getattr(row, name) for name in PackageRow.__dataclass_fields__})


@contextmanager
def packaging_lock(conn: Connection) -> Iterator[None]:
    """Serialise package builders; the caller then builds in one transaction and commits or rolls back.

    SQLite: ``BEGIN IMMEDIATE`` takes the write lock before anything is read, so reads and the claim
    see one state. PostgreSQL: a session advisory lock is taken and committed *before* the
    REPEATABLE READ transaction starts, so that transaction's snapshot (taken at its first
    statement) already includes everything an earlier builder committed.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield
        return
    if conn.dialect.name != "postgresql":
        yield
        return
    # bounded: a builder stuck behind a frozen session would otherwise hold every later cycle for good
    conn.execute(text("SELECT set_config('lock_timeout', :wait, false)"), {"wait": f"{PACKAGING_LOCK_WAIT_S}s"})
    try:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_PACKAGING_LOCK})
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        conn.rollback()
        holder = conn.execute(
            text(
                "SELECT a.pid, a.client_addr FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.objid = :key LIMIT 1"
            ),
            {"key": _PG_PACKAGING_LOCK},
        ).first()
        conn.rollback()
        who = f"PostgreSQL backend pid {holder.pid} from {holder.client_addr or 'the local socket'}" if holder else "?"
        raise PackagingBusy(
            f"另一个交换包正在生成 / another package build has held the packaging lock for over "
            f"{PACKAGING_LOCK_WAIT_S} s ({who}); if that session hangs, end it (pg_terminate_backend)"
        ) from None
    finally:
        if not conn.invalidated:
            conn.execute(text("SELECT set_config('lock_timeout', '0', false)"))
    conn.commit()
    try:
        conn.execution_options(isolation_level="REPEATABLE READ")  # until the connection goes back to the pool
        yield
    finally:
        if not conn.invalidated:  # a lost connection has lost its session lock too
            conn.rollback()  # whatever the caller left open
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_PACKAGING_LOCK})
            conn.commit()


def next_sequence(conn: Connection) -> int:
    """The next package number: gapless from 1."""
    return int(conn.execute(select(func.coalesce(func.max(ops_package.c.sequence), 0))).scalar_one()) + 1


def loaded_through(conn: Connection) -> int | None:
    """SQLite: the highest load batch id, for the package being claimed (see the module docstring).

    Only meaningful under the packaging lock. None on PostgreSQL.
    """
    if conn.dialect.name != "sqlite":
        return None
    return int(conn.execute(select(func.coalesce(func.max(ops_load_batch.c.batch_id), 0))).scalar_one())


def _sent_through(conn: Connection, *, package: int | None = None) -> int | None:
    """The batch id through which every loaded row is sent: recorded by ``package`` (by default the
    last package); None when there is none, or it recorded none."""
    if conn.dialect.name != "sqlite":
        return None
    query = select(ops_package.c.loaded_through_batch_id)
    if package is None:
        query = query.order_by(ops_package.c.sequence.desc()).limit(1)
    else:
        query = query.where(ops_package.c.sequence == package)
    return conn.execute(query).scalar()


def _loaded_after(
    source: ExchangeSource, sent_through: int | None, condition: ColumnElement[bool]
) -> ColumnElement[bool]:
    """``condition``, looked at only for rows loaded after ``sent_through`` (when that is known)."""
    if sent_through is None or not source.loaded_in_batches:
        return condition
    return and_(source.table.c.batch_id > sent_through, condition)


def _not_sent(source: ExchangeSource, sent_through: int | None) -> ColumnElement[bool]:
    """The pending rows of ``source``: only rows loaded after ``sent_through`` need the look-up."""
    return _loaded_after(source, sent_through, ~source.sent())


def pending_counts(conn: Connection) -> dict[str, int]:
    """Rows per entity whose current content has not been packaged yet."""
    sent_through = _sent_through(conn)
    counts = {}
    for source in EXCHANGE_SOURCES:
        query = select(func.count()).select_from(source.table).where(_not_sent(source, sent_through))
        counts[source.entity] = int(conn.execute(query).scalar_one())
    return counts


def pending_entities(conn: Connection) -> list[str]:
    """The entities with at least one pending row."""
    sent_through = _sent_through(conn)
    found = []
    for source in EXCHANGE_SOURCES:
        query = select(literal(1)).select_from(source.table).where(_not_sent(source, sent_through)).limit(1)
        if conn.execute(query).first():
            found.append(source.entity)
    return found


def _anything_sent(conn: Connection, source: ExchangeSource) -> bool:
    sent = ops_exchange_sent
    return conn.execute(select(literal(1)).where(sent.c.entity == source.entity).limit(1)).first() is not None


def claim_pending(conn: Connection, sequence: int, entities: Iterable[str] | None = None) -> dict[str, int]:
    """Record every pending row's content as carried by package ``sequence``; the counts per entity
    (zeros dropped). Only ``ops_exchange_sent`` is written. ``entities`` limits the claim to those
    (the ones :func:`pending_entities` found, so the others are not scanned a second time).

    An entity with nothing sent yet (the first package) is claimed whole with a plain
    ``INSERT … SELECT``: no row needs looking up. Otherwise one ``INSERT … SELECT`` of the pending
    rows upserts on (entity, record_key), so a newer version replaces the entry of the one sent
    before. SQLite runs that upsert by first copying the pending rows into a temporary table (its
    ``SELECT`` reads the table it inserts into): about 100 bytes a pending row, which the plain
    insert of a first package avoids.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    sent = ops_exchange_sent
    wanted = set(SOURCES_BY_ENTITY if entities is None else entities)
    sent_through = _sent_through(conn)
    counts = {}
    for source in EXCHANGE_SOURCES:
        if source.entity not in wanted:
            continue
        rows = select(
            literal(source.entity, String),
            source.record_key(),
            source.table.c.payload_sha256,
            literal(sequence, Integer),
        )
        columns = ["entity", "record_key", "payload_sha256", "sequence"]
        if not _anything_sent(conn, source):
            statement = insert(sent).from_select(columns, rows)
        else:
            upsert = dialect.insert(sent).from_select(columns, rows.where(_not_sent(source, sent_through)))
            statement = upsert.on_conflict_do_update(
                index_elements=[sent.c.entity, sent.c.record_key],
                set_={"payload_sha256": upsert.excluded.payload_sha256, "sequence": upsert.excluded.sequence},
            )
        # INSERTs keep no rowcount unless asked to
        claimed = int(conn.execute(statement.execution_options(preserve_rowcount=True)).rowcount)
        if claimed:
            counts[source.entity] = claimed
    return counts


def claims_beside_reads(conn: Connection) -> bool:
    """Whether the claim may run on this connection while :func:`snapshot_reader` reads.

    Only for an SQLite file in WAL mode with a pool that hands out separate connections (an
    in-memory database, or a pool sharing one connection, builds the plain way).
    """
    if conn.dialect.name != "sqlite" or isinstance(conn.engine.pool, SingletonThreadPool | StaticPool):
        return False
    if conn.engine.url.database in (None, "", ":memory:"):
        return False
    return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower() == "wal"


@contextmanager
def snapshot_reader(engine: Engine) -> Iterator[Connection]:
    """A second SQLite connection in a read transaction: it sees the last committed state.

    Open it only while holding the packaging lock, before the claim: then its snapshot is exactly the
    state the claim applies to, because nobody else can commit in between.
    """
    with engine.connect() as reader:
        reader.exec_driver_sql("BEGIN")
        reader.exec_driver_sql("SELECT count(*) FROM ops_package").scalar()  # the snapshot starts here
        try:
            yield reader
        finally:
            reader.rollback()


def _order_column(conn: Connection, column: Column) -> Any:
    # Byte order of the key, the same on both dialects. The key columns are COLLATE "C" themselves
    # (migration 0004), so this matches their indexes; it is said here so the order never depends on
    # how a column was declared.
    if conn.dialect.name == "postgresql" and isinstance(column.type, String):
        return column.collate("C")
    return column


def _instant(value: Any) -> datetime:
    """A raw driver value of an instant column as an aware UTC datetime (SQLite keeps UTC text)."""
    if isinstance(value, bytes):
        value = value.decode("ascii")
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class ClaimedBatch:
    """Consecutive payloads (in key order) and the newest ``updated_at``/``computed_at`` among them.

    Payloads are UTF-8 ``bytes`` on SQLite (read as stored, never decoded and encoded again) and
    ``str`` on PostgreSQL.
    """

    payloads: list[bytes] | list[str]
    latest: datetime


def iter_rows(
    conn: Connection, entity: str, *, sequence: int | None, batch_size: int = 5_000
) -> Iterator[ClaimedBatch]:
    """The rows of ``entity`` claimed by ``sequence`` (or still pending when None), in key order.

    A row counts as claimed by ``sequence`` while ``ops_exchange_sent`` holds its current content
    with that sequence (a newer version stored since is pending, not part of the old package).

    Streams on the driver's own cursor (a server-side cursor on PostgreSQL): no row objects, no
    type processing per row, and never more than one batch of ``batch_size`` in memory.
    """
    source = SOURCES_BY_ENTITY[entity]
    table = source.table
    if sequence is not None:
        # package n claimed rows pending at its build: on SQLite, rows loaded after package n - 1
        condition = _loaded_after(source, _sent_through(conn, package=sequence - 1), source.sent(sequence=sequence))
    elif _anything_sent(conn, source):
        condition = _not_sent(source, _sent_through(conn))
    else:  # nothing sent yet (the first package): every row is pending, no need to look each one up
        condition = true()
    query = (
        select(table.c.payload, table.c[source.changed_at])
        .where(condition)
        .order_by(*(_order_column(conn, table.c[key]) for key in source.keys))
    )
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    driver = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        cursor = driver.cursor(name=f"exchange_{entity}")  # server-side, inside the transaction
        cursor.itersize = batch_size
        restore = None
    else:
        restore = driver.text_factory
        driver.text_factory = bytes  # SQLite stores UTF-8: hand the bytes over as they are
        cursor = driver.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch_size):
            payloads, stamps = zip(*rows, strict=True)
            yield ClaimedBatch(list(payloads), _instant(max(stamps)))
    finally:
        cursor.close()
        if restore is not None:
            driver.text_factory = restore


def last_package(conn: Connection) -> PackageRow | None:
    row = conn.execute(select(ops_package).order_by(ops_package.c.sequence.desc()).limit(1)).first()
    return _package_row(row) if row is not None else None


def get_package(conn: Connection, sequence: int) -> PackageRow | None:
    row = conn.execute(select(ops_package).where(ops_package.c.sequence == sequence)).first()
    return _package_row(row) if row is not None else None


def list_packages(conn: Connection, *, states: Iterable[str] | None = None) -> list[PackageRow]:
    query = select(ops_package).order_by(ops_package.c.sequence)
    if states is not None:
        query = query.where(ops_package.c.state.in_(list(states)))
    return [_package_row(row) for row in conn.execute(query)]


def insert_package(conn: Connection, row: PackageRow) -> None:
    values = {name: getattr(row, name) for name in PackageRow.__dataclass_fields__}
    conn.execute(insert(ops_package).values(**values))


def mark_delivered(conn: Connection, sequence: int, transport: str, at: datetime) -> None:
    """Record a (re)delivery: the package awaits a receipt again, the receipt clock starts again and
    an overdue flag is cleared. The last receipt's status and errors stay until the next one replaces
    them (the prefecture answers each delivery)."""
    conn.execute(
        update(ops_package)
        .where(ops_package.c.sequence == sequence)
        .values(transport=transport, delivered_at=at, flagged_at=None, state=DELIVERED)
    )


def apply_receipt(
    conn: Connection, sequence: int, status: str, received_at: datetime, errors: list[dict[str, Any]]
) -> None:
    conn.execute(
        update(ops_package)
        .where(ops_package.c.sequence == sequence)
        .values(state=status, receipt_status=status, receipt_received_at=received_at, receipt_errors=errors)
    )


def log_receipt(
    conn: Connection,
    file_name: str,
    sequence: int | None,
    outcome: str,
    reason: str | None,
    at: datetime,
    status: str | None = None,
) -> None:
    """One line of the receipt history: ``status`` is the receipt's verdict when it was applied."""
    conn.execute(
        insert(ops_receipt_log).values(
            file_name=file_name, sequence=sequence, outcome=outcome, status=status, reason=reason, logged_at=at
        )
    )


def receipt_log(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(ops_receipt_log).order_by(ops_receipt_log.c.receipt_log_id))
    return [dict(row._mapping) for row in rows]


def flag_overdue(conn: Connection, now: datetime, delivered_before: datetime) -> list[int]:
    """Flag delivered packages without a receipt whose delivery is older than ``delivered_before``.

    ``DELIVERED`` is a package awaiting the receipt of its last delivery, a resent one included.
    """
    condition = (
        (ops_package.c.state == DELIVERED)
        & ops_package.c.flagged_at.is_(None)
        & (ops_package.c.delivered_at <= delivered_before)
    )
    sequences = [
        int(s) for s in conn.execute(select(ops_package.c.sequence).where(condition).order_by("sequence")).scalars()
    ]
    if sequences:
        conn.execute(update(ops_package).where(ops_package.c.sequence.in_(sequences)).values(flagged_at=now))
    return sequences
