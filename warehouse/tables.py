"""The warehouse tables (SQLAlchemy Core).

Naming follows the layer: ``dim_`` for the catalogue (departments, power items), ``fct_`` for the
records of Interface Standard v1 and the supervision events, ``ops_`` for the hub's own bookkeeping
(batches, quarantine, held steps, cursors, packages, receipts, the registry of self-built systems).

Columns of standard records keep the standard's field names, so a data engineer can read the
warehouse with the standard in hand. Every standard record keeps, beside its typed columns,
``payload``: the canonical JSON of the validated record exactly as it is sent to Changzhou, and
``payload_sha256``, which tells a
``DUPLICATE`` (same version, same content) from a ``VERSION_CONFLICT`` (same version, other
content). What has been sent to Changzhou is kept apart, in the narrow ``ops_exchange_sent``: a
record is pending for the next package while its ``payload_sha256`` is not the one sent last, so
packaging never rewrites the wide record tables.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    }
)


class UtcDateTime(TypeDecorator):
    """An instant stored in UTC and read back as an aware UTC datetime on every dialect.

    SQLite keeps no offset: without this, ``10:00+08:00`` would be stored as ``10:00`` and read
    back as a different instant.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for an instant column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def Key(length: int | None = None) -> TypeEngine[str]:  # noqa: N802 - a column type, named like one
    """A code, identifier, digest, status or key built from them: compared byte for byte.

    On PostgreSQL such columns are ``COLLATE "C"``. Their primary keys and indexes are then compared
    with ``memcmp`` instead of the database's locale (``strcoll`` through the collation machinery),
    which takes 10-20 % off the server's work in a bulk ``COPY``; and they sort as SQLite's
    ``BINARY`` does. Names, notes, payloads and file origins keep the database's own collation.
    """
    plain = String(length) if length is not None else Text()
    return plain.with_variant(
        String(length, collation="C") if length is not None else Text(collation="C"), "postgresql"
    )


Money = Numeric(15, 2, asdecimal=True)
Instant = UtcDateTime()

# Percent of each page filled by inserts on PostgreSQL; the rest takes the records' next versions
# (about one case row in seven, one step row in ten). A batch of updates then costs the server a
# third to a half less on fct_case and a quarter less on fct_case_step, for tables 6-9 % larger
# (docs/ingest-and-warehouse.md). Migration 0005.
CASE_FILLFACTOR = 85
STEP_FILLFACTOR = 90


def _record_columns() -> list[Column]:
    """Columns every standard record carries (versioning, lineage)."""
    return [
        Column("source_system", Key(32), nullable=False),
        Column("version", Integer, nullable=False),
        Column("updated_at", Instant, nullable=False),
        Column("payload", Text, nullable=False),
        Column("payload_sha256", Key(64), nullable=False),
        Column("batch_id", Integer, nullable=False),
    ]


dim_department = Table(
    "dim_department",
    metadata,
    Column("dept_code", Key(18), primary_key=True),
    Column("name", Text, nullable=False),
    *_record_columns(),
)

dim_power_item = Table(
    "dim_power_item",
    metadata,
    Column("power_code", Key(18), primary_key=True),
    Column("name", Text, nullable=False),
    Column("power_type", Key(2), nullable=False),
    Column("dept_code", Key(18), nullable=False),
    Column("legal_basis", Text, nullable=False),
    Column("legal_limit", Integer),
    Column("promised_limit", Integer, nullable=False),
    Column("time_unit", Key(2), nullable=False),
    Column("fee", Money),
    Column("penalty_min", Money),
    Column("penalty_max", Money),
    Column("flow", JSON, nullable=False),
    Column("state", Key(1), nullable=False),
    *_record_columns(),
)

# Every version of a power item ever loaded: a case may only reference an item that was in state
# ``A`` on the case's received date, which the latest version alone cannot tell.
dim_power_item_history = Table(
    "dim_power_item_history",
    metadata,
    Column("power_code", Key(18), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("state", Key(1), nullable=False),
    Column("dept_code", Key(18), nullable=False),
    Column("promised_limit", Integer, nullable=False),
    Column("valid_from_at", Instant, nullable=False),
    # what supervision judges a case by, in the version in force when it was received (migration
    # 0006); null on versions recorded before that migration, which supervision then does not use
    Column("power_type", Key(2)),
    Column("time_unit", Key(2)),
    Column("fee", Money),
    Column("penalty_min", Money),
    Column("penalty_max", Money),
    Column("flow", JSON),
)

fct_case = Table(
    "fct_case",
    metadata,
    Column("source_system", Key(32), primary_key=True),
    Column("case_id", Key(40), primary_key=True),
    Column("power_code", Key(18), nullable=False),
    Column("dept_code", Key(18), nullable=False),
    Column("applicant_type", Key(1), nullable=False),
    Column("applicant_name", Text, nullable=False),
    Column("applicant_id_type", Key(4), nullable=False),
    Column("applicant_id_no", Key(64), nullable=False),
    Column("channel", Key(1), nullable=False),
    Column("received_at", Instant, nullable=False),
    Column("promised_limit", Integer, nullable=False),
    Column("status", Key(12), nullable=False),
    Column("finished_at", Instant),
    Column("result", Key(8)),
    Column("result_note", Text),
    Column("fee_paid", Money, nullable=False),
    Column("relief_reason", Text),
    Column("penalty_amount", Money),
    Column("satisfaction", Key(1)),
    *[c for c in _record_columns() if c.name != "source_system"],
    Index(None, "dept_code"),
    Index(None, "received_at"),
    # A case is stored again at every new version (accepted, finished, …). With room left on its
    # page, PostgreSQL writes the new version beside the old one without touching the three indexes
    # (a HOT update), as long as no indexed column changes.
    postgresql_with={"fillfactor": CASE_FILLFACTOR},
)

fct_case_step = Table(
    "fct_case_step",
    metadata,
    Column("source_system", Key(32), primary_key=True),
    Column("case_id", Key(40), primary_key=True),
    Column("step_no", Integer, primary_key=True),
    Column("step_code", Key(2), nullable=False),
    Column("handler_id", Key(64), nullable=False),
    Column("handler_name", Text, nullable=False),
    Column("started_at", Instant, nullable=False),
    Column("finished_at", Instant),
    Column("opinion", Text),
    *[c for c in _record_columns() if c.name != "source_system"],
    postgresql_with={"fillfactor": STEP_FILLFACTOR},  # a step is stored again once it finishes
)

fct_complaint = Table(
    "fct_complaint",
    metadata,
    Column("complaint_id", Key(64), primary_key=True),
    Column("case_source_system", Key(32)),
    Column("case_id", Key(40)),
    Column("dept_code", Key(18), nullable=False),
    Column("received_at", Instant, nullable=False),
    Column("status", Key(8), nullable=False),
    Column("closed_at", Instant),
    Column("result", Key(16)),
    Column("content", Text, nullable=False),
    *_record_columns(),
)

fct_supervision_event = Table(
    "fct_supervision_event",
    metadata,
    Column("event_key", Key(128), primary_key=True),
    Column("rule", Key(4), nullable=False),
    Column("card", Key(6), nullable=False),
    Column("event_date", Date, nullable=False),
    Column("dept_code", Key(18), nullable=False),
    Column("power_type", Key(2)),
    Column("case_source_system", Key(32)),
    Column("case_id", Key(40)),
    Column("complaint_id", Key(64)),
    Column("status", Key(9), nullable=False),  # ACTIVE / WITHDRAWN
    Column("provisional", Boolean, nullable=False, default=False),
    Column("payload", Text, nullable=False),
    Column("payload_sha256", Key(64), nullable=False),
    Column("computed_at", Instant, nullable=False),
    Index(None, "event_date"),
)

ops_load_batch = Table(
    "ops_load_batch",
    metadata,
    Column("batch_id", Integer, primary_key=True, autoincrement=True),
    Column("cycle_id", Key(64), nullable=False),
    Column("source_system", Key(32), nullable=False),
    Column("entity", Key(16), nullable=False),
    Column("origin", Text, nullable=False),  # file name or interface page range
    Column("origin_sha256", Key(64)),
    Column("started_at", Instant, nullable=False),
    Column("finished_at", Instant),
    Column("status", Key(12), nullable=False),  # LOADED / HELD_GE / RELEASED
    Column("received_count", Integer, nullable=False, default=0),
    Column("loaded_count", Integer, nullable=False, default=0),
    Column("quarantined_count", Integer, nullable=False, default=0),
    Column("duplicate_count", Integer, nullable=False, default=0),
    Column("stale_count", Integer, nullable=False, default=0),
    Column("held_count", Integer, nullable=False, default=0),
    Column("max_updated_at", Instant),
    Column("ge_verdict", Key(8)),  # PASS / WARN / BLOCK
    Column("ge_summary", JSON),
    Index(None, "source_system", "entity"),
)

# A batch held by a blocking data quality check (status HELD_GE in ops_load_batch) until a data
# engineer releases it. ``content_sha256`` names what was held: the file's SHA-256 (the file stays in
# the inbox) or, for an interface page, the SHA-256 of its records.
ops_batch_hold = Table(
    "ops_batch_hold",
    metadata,
    Column("batch_id", Integer, ForeignKey("ops_load_batch.batch_id"), primary_key=True, autoincrement=False),
    Column("source_system", Key(32), nullable=False),
    Column("entity", Key(16), nullable=False),
    Column("origin", Text, nullable=False),
    Column("content_sha256", Key(64), nullable=False),
    Column("status", Key(10), nullable=False),  # HELD / RELEASED / LOADED
    Column("reason", JSON, nullable=False),  # the failed blocking checks [{check, message_zh, message_en}]
    Column("held_at", Instant, nullable=False),
    Column("released_by", Text),
    Column("release_reason", Text),
    Column("released_at", Instant),
    Column("loaded_batch_id", Integer),
    Column("loaded_at", Instant),
    # an interface page's hold: how far the held page reached; its release lets pages through up to
    # here (migration 0007; null for a file, which is found again by its digest)
    Column("through_at", Instant),
    Index(None, "source_system", "content_sha256"),
)

# Code values each source has sent per entity and column: a value never seen before is drift.
ops_seen_value = Table(
    "ops_seen_value",
    metadata,
    Column("source_system", Key(32), primary_key=True),
    Column("entity", Key(16), primary_key=True),
    Column("column_name", Key(32), primary_key=True),
    Column("value", Key(64), primary_key=True),
    Column("first_batch_id", Integer, nullable=False),
    Column("first_seen_at", Instant, nullable=False),
)

ops_quarantine = Table(
    "ops_quarantine",
    metadata,
    Column("quarantine_id", Integer, primary_key=True, autoincrement=True),
    Column("batch_id", Integer, ForeignKey("ops_load_batch.batch_id"), nullable=False),
    Column("source_system", Key(32), nullable=False),  # the system it arrived from
    Column("entity", Key(16), nullable=False),
    Column("record_key", Key(), nullable=False),  # e.g. "UNIFIED/LY3204810000001" or a complaint_id
    Column("origin", Text, nullable=False),
    Column("line_no", Integer),
    Column("raw_payload", Text, nullable=False),
    Column("standard_version", Key(8), nullable=False),
    Column("violations", JSON, nullable=False),  # [{path, rule_id, message_zh, message_en}]
    Column("reason", Key(32), nullable=False),  # the first (main) rule id
    Column("status", Key(10), nullable=False),  # OPEN / REPLAYED / EXPORTED
    Column("quarantined_at", Instant, nullable=False),
    Column("resolved_at", Instant),
    Index(None, "source_system", "entity", "status"),
)

ops_held_step = Table(
    "ops_held_step",
    metadata,
    Column("source_system", Key(32), primary_key=True),
    Column("case_id", Key(40), primary_key=True),
    Column("step_no", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("batch_id", Integer, nullable=False),
    Column("origin", Text, nullable=False),
    Column("line_no", Integer),
    Column("raw_payload", Text, nullable=False),
    Column("held_since_at", Instant, nullable=False),
)

ops_cursor = Table(
    "ops_cursor",
    metadata,
    Column("source_system", Key(32), primary_key=True),
    Column("entity", Key(16), primary_key=True),
    Column("cursor", JSON, nullable=False),
    Column("updated_at", Instant, nullable=False),
)

# The last read of each source: a read that stopped after loading part of what it found (its
# cases loaded, their steps not yet), or that never finished (a killed process), leaves the
# warehouse holding half of that source's change. Supervision waits until a read completes rather
# than judge completed cases without their steps.
ops_source_read = Table(
    "ops_source_read",
    metadata,
    Column("source_system", Key(32), primary_key=True),
    Column("cycle_id", Key(64), nullable=False),
    Column("started_at", Instant, nullable=False),
    Column("finished_at", Instant),
    Column("state", Key(10), nullable=False),  # READING / COMPLETE / PARTIAL / FAILED
    Column("batches", Integer, nullable=False, default=0),
    Column("message", Text),  # the failure, one line, no record data
)

ops_archived_file = Table(
    "ops_archived_file",
    metadata,
    Column("source_system", Key(32), primary_key=True),
    Column("file_name", Key(), primary_key=True),
    Column("sha256", Key(64), primary_key=True),
    Column("batch_id", Integer, nullable=False),
    Column("recorded_at", Instant, nullable=False),
)

ops_package = Table(
    "ops_package",
    metadata,
    Column("sequence", Integer, primary_key=True, autoincrement=False),
    Column("package_id", Key(36), nullable=False, unique=True),
    Column("file_name", Key(), nullable=False),
    Column("created_at", Instant, nullable=False),
    Column("manifest_sha256", Key(64), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("record_counts", JSON, nullable=False),
    Column("state", Key(10), nullable=False),  # BUILT / DELIVERED / ACCEPTED / REJECTED
    Column("transport", Key(16)),
    Column("delivered_at", Instant),
    Column("receipt_status", Key(10)),
    Column("receipt_received_at", Instant),
    Column("receipt_errors", JSON),
    Column("flagged_at", Instant),
    # SQLite: the highest load batch when the package was claimed; every row of a batch up to it was
    # sent by then, so the next package looks up only rows of later batches (NULL: look up every row)
    Column("loaded_through_batch_id", Integer),
)

# The content last sent to Changzhou per record (and supervision event): a row is pending while its
# payload_sha256 differs from the one here, or it has no row here. Kept narrow and apart from the
# record tables so that claiming millions of rows for a package writes ~100 bytes per row, not the
# whole wide row; WITHOUT ROWID on SQLite makes it one B-tree in key order.
ops_exchange_sent = Table(
    "ops_exchange_sent",
    metadata,
    Column("entity", Key(32), primary_key=True),
    Column("record_key", Key(), primary_key=True),  # the record's key joined with "/", as in ops_quarantine
    Column("payload_sha256", Key(64), nullable=False),
    Column("sequence", Integer, nullable=False),  # the package that carried this content
    sqlite_with_rowid=False,
)

ops_receipt_log = Table(
    "ops_receipt_log",
    metadata,
    Column("receipt_log_id", Integer, primary_key=True, autoincrement=True),
    Column("file_name", Key(), nullable=False),
    Column("sequence", Integer),
    Column("outcome", Key(10), nullable=False),  # APPLIED / REFUSED
    Column("status", Key(10)),  # ACCEPTED / REJECTED: the verdict of an applied receipt
    Column("reason", Text),
    Column("logged_at", Instant, nullable=False),
)

ops_system = Table(
    "ops_system",
    metadata,
    Column("system_code", Key(32), primary_key=True),
    Column("system_name", Text, nullable=False),
    Column("dept_code", Key(18), nullable=False),
    Column("justification", Key(24), nullable=False),
    Column("justification_note", Text),
    Column("power_codes", JSON, nullable=False),
    Column("interface", JSON, nullable=False),
    Column("contact", JSON, nullable=False),
    Column("state", Key(10), nullable=False),
    Column("applied_at", Instant, nullable=False),
    Column("last_check_at", Instant),
    Column("last_check_passed", Boolean),
    Column("last_check_report", Text),
)

ops_system_decision = Table(
    "ops_system_decision",
    metadata,
    Column("decision_id", Integer, primary_key=True, autoincrement=True),
    Column("system_code", Key(32), nullable=False),
    Column("action", Key(12), nullable=False),
    Column("from_state", Key(10)),
    Column("to_state", Key(10), nullable=False),
    Column("decided_by", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("decided_at", Instant, nullable=False),
    Column("previous_hash", Key(64), nullable=False),
    Column("entry_hash", Key(64), nullable=False),
    UniqueConstraint("entry_hash"),
)

ENTITY_TABLES = {
    "department": dim_department,
    "power_item": dim_power_item,
    "case": fct_case,
    "case_step": fct_case_step,
    "complaint": fct_complaint,
}

ENTITY_KEYS: dict[str, tuple[str, ...]] = {
    "department": ("dept_code",),
    "power_item": ("power_code",),
    "case": ("source_system", "case_id"),
    "case_step": ("source_system", "case_id", "step_no"),
    "complaint": ("complaint_id",),
}
