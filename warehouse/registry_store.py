"""The registry of self-built systems in the warehouse (``ops_system``, ``ops_system_decision``).

Every change of a system and the decision that caused it are written in one transaction; the
decision is appended to the hash chain of :mod:`connectors.audit_log`. Decision ids are given
here (last id + 1) and are part of the hashed entry, so a gap shows a deleted entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from connectors.application import Application, InterfaceSpec
from connectors.audit_log import (
    GENESIS_HASH,
    AuditEntry,
    ChainHead,
    compute_hash,
    verify_chain,
    verify_published_heads,
)
from connectors.registry import (
    APPROVED,
    DecisionDraft,
    Registry,
    RegistryError,
    SystemRecord,
    UnknownSystemError,
)
from warehouse.tables import ops_system, ops_system_decision

__all__ = [
    "SqlRegistryStore",
    "WaitingSystem",
    "approved_systems",
    "audit_log_head",
    "open_registry",
    "verify_audit_log",
    "waiting_systems",
]

_APPEND_ATTEMPTS = 5


class ConcurrentDecisionError(RegistryError):
    """Another decision about the same system was written first."""


def _to_record(row: Any) -> SystemRecord:
    interface = row.interface or {}
    contact = row.contact or {}
    return SystemRecord(
        system_code=row.system_code,
        system_name=row.system_name,
        dept_code=row.dept_code,
        justification=row.justification,
        justification_note=row.justification_note,
        power_codes=tuple(row.power_codes or ()),
        interface=InterfaceSpec(
            type=interface.get("type", "file"),
            address=interface.get("address") or f"inbox/{row.system_code}/",
            credential=interface.get("credential"),
        ),
        contact_name=contact.get("name", ""),
        contact_phone=contact.get("phone", ""),
        state=row.state,
        applied_at=row.applied_at,
        last_check_at=row.last_check_at,
        last_check_passed=row.last_check_passed,
        last_check_report=row.last_check_report,
    )


def _to_entry(row: Any) -> AuditEntry:
    return AuditEntry(
        decision_id=row.decision_id,
        system_code=row.system_code,
        action=row.action,
        from_state=row.from_state,
        to_state=row.to_state,
        decided_by=row.decided_by,
        reason=row.reason,
        decided_at=row.decided_at,
        previous_hash=row.previous_hash,
        entry_hash=row.entry_hash,
    )


class SqlRegistryStore:
    """:class:`connectors.registry.RegistryStore` on the warehouse (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- reads ---------------------------------------------------------------------------
    def get(self, system_code: str) -> SystemRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(ops_system).where(ops_system.c.system_code == system_code)).first()
        return None if row is None else _to_record(row)

    def all(self) -> list[SystemRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(ops_system).order_by(ops_system.c.system_code)).all()
        return [_to_record(r) for r in rows]

    def decisions(self, system_code: str | None = None) -> list[AuditEntry]:
        query = select(ops_system_decision).order_by(ops_system_decision.c.decision_id)
        if system_code is not None:
            query = query.where(ops_system_decision.c.system_code == system_code)
        with self.engine.connect() as conn:
            return [_to_entry(r) for r in conn.execute(query)]

    # -- writes --------------------------------------------------------------------------
    def insert(self, application: Application, decision: DecisionDraft) -> SystemRecord:
        def _write(conn: Connection) -> None:
            exists = conn.execute(
                select(ops_system.c.system_code).where(ops_system.c.system_code == application.system_code)
            ).first()
            if exists:
                raise RegistryError(
                    f"系统代码 {application.system_code} 已登记 / {application.system_code} is already registered"
                )
            conn.execute(
                insert(ops_system).values(
                    system_code=application.system_code,
                    system_name=application.system_name,
                    dept_code=application.dept_code,
                    justification=application.justification,
                    justification_note=application.justification_note,
                    power_codes=list(application.power_codes),
                    interface=application.interface.to_dict(),
                    contact=application.contact.to_dict(),
                    state=decision.to_state,
                    applied_at=decision.decided_at,
                )
            )

        self._in_transaction(_write, decision)
        return self._must_get(application.system_code)

    def transition(self, system_code: str, expected_state: str, decision: DecisionDraft) -> SystemRecord:
        def _write(conn: Connection) -> None:
            result = conn.execute(
                update(ops_system)
                .where(ops_system.c.system_code == system_code, ops_system.c.state == expected_state)
                .values(state=decision.to_state)
            )
            if result.rowcount != 1:
                raise ConcurrentDecisionError(
                    f"系统 {system_code} 的状态已被他人更改, 请刷新后重试 / the state of {system_code} changed "
                    "meanwhile; look again and retry"
                )

        self._in_transaction(_write, decision)
        return self._must_get(system_code)

    def record_check(
        self, system_code: str, *, passed: bool, report_path: str, decision: DecisionDraft
    ) -> SystemRecord:
        def _write(conn: Connection) -> None:
            result = conn.execute(
                update(ops_system)
                .where(ops_system.c.system_code == system_code)
                .values(last_check_at=decision.decided_at, last_check_passed=passed, last_check_report=report_path)
            )
            if result.rowcount != 1:
                raise UnknownSystemError(system_code)

        self._in_transaction(_write, decision)
        return self._must_get(system_code)

    # -- internals -----------------------------------------------------------------------
    def _must_get(self, system_code: str) -> SystemRecord:
        system = self.get(system_code)
        if system is None:
            raise UnknownSystemError(system_code)
        return system

    def _in_transaction(self, write: Any, decision: DecisionDraft) -> None:
        """Run ``write`` and append ``decision`` in one transaction; retry when the chain moved."""
        for attempt in range(_APPEND_ATTEMPTS):
            try:
                with self.engine.begin() as conn:
                    self._lock_log(conn)
                    write(conn)
                    self._append(conn, decision)
                return
            except IntegrityError:
                # Two writers computed the same next id/hash; the loser recomputes on the new head.
                if attempt == _APPEND_ATTEMPTS - 1:
                    raise ConcurrentDecisionError(
                        "决定日志写入冲突, 请重试 / the decision log was busy; retry"
                    ) from None

    def _lock_log(self, conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            # Appends are serialised so each entry chains to the true head.
            conn.execute(text(f"LOCK TABLE {ops_system_decision.name} IN SHARE ROW EXCLUSIVE MODE"))
        # SQLite: ``write`` changes ops_system first, which takes the database's write lock
        # before the head of the chain is read.

    def _append(self, conn: Connection, decision: DecisionDraft) -> None:
        head = conn.execute(
            select(ops_system_decision.c.decision_id, ops_system_decision.c.entry_hash)
            .order_by(ops_system_decision.c.decision_id.desc())
            .limit(1)
        ).first()
        decision_id = 1 if head is None else head.decision_id + 1
        previous = GENESIS_HASH if head is None else head.entry_hash
        entry = AuditEntry(
            decision_id=decision_id,
            system_code=decision.system_code,
            action=decision.action,
            from_state=decision.from_state,
            to_state=decision.to_state,
            decided_by=decision.decided_by,
            reason=decision.reason,
            decided_at=decision.decided_at,
            previous_hash=previous,
        )
        conn.execute(
            insert(ops_system_decision).values(
                decision_id=decision_id,
                system_code=entry.system_code,
                action=entry.action,
                from_state=entry.from_state,
                to_state=entry.to_state,
                decided_by=entry.decided_by,
                reason=entry.reason,
                decided_at=entry.decided_at,
                previous_hash=previous,
                entry_hash=compute_hash(entry, previous),
            )
        )


def open_registry(engine: Engine) -> Registry:
    """The workflow on this warehouse."""
    return Registry(SqlRegistryStore(engine))


def approved_systems(engine: Engine) -> list[SystemRecord]:
    """The self-built systems the pipeline reads this cycle (state ``APPROVED``), by code."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(ops_system).where(ops_system.c.state == APPROVED).order_by(ops_system.c.system_code)
        ).all()
    return [_to_record(r) for r in rows]


@dataclass(frozen=True)
class WaitingSystem:
    """A source whose records wait unread: not approved, or not even registered (§6)."""

    system_code: str
    state: str | None  # None: files in inbox/ of a system that never applied
    interface_type: str | None
    files_waiting: int | None  # complete files in its drop folder; None for rest/soap/sql
    folder: Path | None


def _complete_files(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(
        1 for p in folder.iterdir() if p.is_file() and not p.name.endswith(".part") and not p.name.startswith(".")
    )


def waiting_systems(engine: Engine, home: Path, *, unified_code: str = "UNIFIED") -> list[WaitingSystem]:
    """Sources left untouched this cycle, with what waits in their drop folder (if any)."""
    systems = {s.system_code: s for s in SqlRegistryStore(engine).all()}
    waiting: dict[str, WaitingSystem] = {}
    for system in systems.values():
        if system.state == APPROVED:
            continue
        folder = None
        files = None
        if system.interface.type == "file":
            folder = Path(system.interface.address)
            folder = folder if folder.is_absolute() else home / folder
            files = _complete_files(folder)
        waiting[system.system_code] = WaitingSystem(
            system.system_code, system.state, system.interface.type, files, folder
        )
    inbox = home / "inbox"
    if inbox.is_dir():
        for folder in sorted(p for p in inbox.iterdir() if p.is_dir()):
            code = folder.name
            if code == unified_code or code in systems:
                continue
            count = _complete_files(folder)
            if count:
                waiting[code] = WaitingSystem(code, None, "file", count, folder)
    return [waiting[c] for c in sorted(waiting)]


def verify_audit_log(engine: Engine, published_heads: Iterable[ChainHead] = ()) -> list[str]:
    """Problems with the decision log (edited, deleted, reordered entries, or entries up to a head
    published in a report deleted or rewritten since); empty when intact."""
    store = SqlRegistryStore(engine)
    states = {s.system_code: s.state for s in store.all()}
    entries = store.decisions()
    problems = verify_chain(entries, states)
    problems += verify_published_heads(entries, published_heads)
    # The registry's last check must be in the log as well (a deleted trailing check entry).
    last_check = {e.system_code: e.decided_at for e in entries if e.action == "check"}
    for system in store.all():
        if system.last_check_at is not None and last_check.get(system.system_code) != system.last_check_at:
            problems.append(
                f"system {system.system_code}: 最近一次检查不在日志中 / its last conformance check is not in the log"
            )
    return problems


def audit_log_head(engine: Engine) -> ChainHead | None:
    """The decision log's last entry (id and hash), to publish; None while no decision is logged."""
    with engine.connect() as conn:
        row = conn.execute(
            select(ops_system_decision.c.decision_id, ops_system_decision.c.entry_hash)
            .order_by(ops_system_decision.c.decision_id.desc())
            .limit(1)
        ).first()
    return None if row is None else ChainHead(row.decision_id, row.entry_hash)
