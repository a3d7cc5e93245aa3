"""The project office's registry of self-built systems and its approval workflow (§6).

States: ``APPLIED`` → ``APPROVED`` | ``REJECTED``; ``APPROVED`` → ``SUSPENDED`` → ``APPROVED``
(reinstate); any state but ``RETIRED`` → ``RETIRED``. Approval and reinstatement require a
passing conformance check made within the last 30 days. Every decision (and every check) is
written, with who, when and why, to the hash-chained log of :mod:`connectors.audit_log`.

The workflow here is independent of storage: it runs on a :class:`RegistryStore` (the warehouse
implementation is :class:`warehouse.registry_store.SqlRegistryStore`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from connectors.application import Application, Catalogue, InterfaceSpec, load_application
from connectors.audit_log import AuditEntry
from connectors.remote import ConnectorConfigError, ConnectorError, RetryPolicy
from schemas.errors import FatalError

if TYPE_CHECKING:
    from connectors.conformance import ConformanceReport
    from connectors.credentials import CredentialResolver

__all__ = [
    "APPLIED",
    "APPROVED",
    "CHECK_VALIDITY",
    "REJECTED",
    "RETIRED",
    "SUSPENDED",
    "CheckRequiredError",
    "DecisionDraft",
    "IllegalTransitionError",
    "Registry",
    "RegistryError",
    "RegistryStore",
    "SystemDetail",
    "SystemRecord",
    "UnknownSystemError",
    "build_connector",
    "build_interface_connector",
]

APPLIED = "APPLIED"
APPROVED = "APPROVED"
REJECTED = "REJECTED"
SUSPENDED = "SUSPENDED"
RETIRED = "RETIRED"
STATES = (APPLIED, APPROVED, REJECTED, SUSPENDED, RETIRED)
STATE_LABELS = {
    APPLIED: "已申请",
    APPROVED: "已批准",
    REJECTED: "已驳回",
    SUSPENDED: "已暂停",
    RETIRED: "已退役",
}

# action -> (states it may start from, the state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "approve": (frozenset({APPLIED}), APPROVED),
    "reject": (frozenset({APPLIED}), REJECTED),
    "suspend": (frozenset({APPROVED}), SUSPENDED),
    "reinstate": (frozenset({SUSPENDED}), APPROVED),
    "retire": (frozenset({APPLIED, APPROVED, REJECTED, SUSPENDED}), RETIRED),
}
# Actions that let a system be read again need a fresh passing conformance check.
NEEDS_CHECK = frozenset({"approve", "reinstate"})
CHECK_VALIDITY = timedelta(days=30)

# Entities a self-built system may send (§3: the catalogue and complaints come only from UNIFIED).
SELF_BUILT_ENTITIES = ("case", "case_step")
ALL_ENTITIES = ("department", "power_item", "case", "case_step", "complaint")


class RegistryError(ConnectorError, FatalError):
    """A registry operation that cannot be done as asked."""


class UnknownSystemError(RegistryError):
    def __init__(self, code: str) -> None:
        super().__init__(f"未登记的系统 {code} / no system {code} is registered")


class IllegalTransitionError(RegistryError):
    def __init__(self, code: str, action: str, state: str, allowed: Collection[str]) -> None:
        self.action, self.state = action, state
        super().__init__(
            f"系统 {code} 当前为 {state} ({STATE_LABELS.get(state, state)}), 不能执行 {action} "
            f"(仅允许自 {', '.join(sorted(allowed))}) / cannot {action} {code} in state {state}; "
            f"allowed from {', '.join(sorted(allowed))}"
        )


class CheckRequiredError(RegistryError):
    """Approval without a passing conformance check in the last 30 days."""


@dataclass(frozen=True)
class SystemRecord:
    """A registered self-built system as the pipeline and the CLI see it."""

    system_code: str
    system_name: str
    dept_code: str
    justification: str
    justification_note: str | None
    power_codes: tuple[str, ...]
    interface: InterfaceSpec
    contact_name: str
    contact_phone: str
    state: str
    applied_at: datetime
    last_check_at: datetime | None = None
    last_check_passed: bool | None = None
    last_check_report: str | None = None

    @property
    def is_approved(self) -> bool:
        return self.state == APPROVED

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for ``systems show --format json`` and the reports)."""
        return {
            "system_code": self.system_code,
            "system_name": self.system_name,
            "dept_code": self.dept_code,
            "justification": self.justification,
            "justification_note": self.justification_note,
            "power_codes": list(self.power_codes),
            "interface": self.interface.to_dict(),
            "contact": {"name": self.contact_name, "phone": self.contact_phone},
            "state": self.state,
            "applied_at": self.applied_at.isoformat(),
            "last_check_at": self.last_check_at.isoformat() if self.last_check_at else None,
            "last_check_passed": self.last_check_passed,
            "last_check_report": self.last_check_report,
        }


@dataclass(frozen=True)
class SystemDetail:
    system: SystemRecord
    decisions: tuple[AuditEntry, ...]


@dataclass(frozen=True)
class DecisionDraft:
    """A decision before the store gives it its id and hashes."""

    system_code: str
    action: str
    from_state: str | None
    to_state: str
    decided_by: str
    reason: str
    decided_at: datetime


class RegistryStore(Protocol):
    """Persistence of the registry; every write also appends its decision, atomically."""

    def get(self, system_code: str) -> SystemRecord | None: ...

    def all(self) -> list[SystemRecord]: ...

    def insert(self, application: Application, decision: DecisionDraft) -> SystemRecord: ...

    def transition(self, system_code: str, expected_state: str, decision: DecisionDraft) -> SystemRecord:
        """Move to ``decision.to_state`` if the state is still ``expected_state`` (else raise)."""
        ...

    def record_check(
        self, system_code: str, *, passed: bool, report_path: str, decision: DecisionDraft
    ) -> SystemRecord: ...

    def decisions(self, system_code: str | None = None) -> list[AuditEntry]: ...


def _require_text(what: str, value: str | None) -> str:
    if value is None or not value.strip():
        raise RegistryError(f"须填写 {what} / {what} is required")
    return value.strip()


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise RegistryError("时间须带时区 / the decision time must carry an offset")
    return now


class Registry:
    """The workflow of §6 over a store."""

    def __init__(self, store: RegistryStore, *, check_validity: timedelta = CHECK_VALIDITY) -> None:
        self.store = store
        self.check_validity = check_validity

    # -- reading -------------------------------------------------------------------------
    def list(self) -> list[SystemRecord]:
        return sorted(self.store.all(), key=lambda s: s.system_code)

    def get(self, system_code: str) -> SystemRecord:
        system = self.store.get(system_code)
        if system is None:
            raise UnknownSystemError(system_code)
        return system

    def show(self, system_code: str) -> SystemDetail:
        system = self.get(system_code)
        return SystemDetail(system=system, decisions=tuple(self.store.decisions(system_code)))

    # -- applying ------------------------------------------------------------------------
    def apply(self, application: Application, *, by: str, now: datetime, reason: str | None = None) -> SystemRecord:
        """Register a validated application in state ``APPLIED``."""
        if self.store.get(application.system_code) is not None:
            raise RegistryError(
                f"系统代码 {application.system_code} 已登记, 不可重复 / {application.system_code} is already registered"
            )
        decision = DecisionDraft(
            system_code=application.system_code,
            action="apply",
            from_state=None,
            to_state=APPLIED,
            decided_by=_require_text("申请人 / applicant (--by)", by),
            reason=(reason or "").strip() or f"申请登记 / application filed: {application.system_name}",
            decided_at=_aware(now),
        )
        return self.store.insert(application, decision)

    def apply_file(self, path: Path, catalogue: Catalogue, *, by: str, now: datetime) -> SystemRecord:
        """Validate the application at ``path`` against the catalogue and register it."""
        existing = [s.system_code for s in self.store.all()]
        application = load_application(path, catalogue, existing_codes=existing)
        return self.apply(application, by=by, now=now, reason=f"申请文件 / application file {path.name}")

    # -- conformance ---------------------------------------------------------------------
    def record_check(self, report: ConformanceReport, *, by: str = "conformance-check") -> SystemRecord:
        """Keep the result of a conformance check (also written to the log)."""
        system = self.get(report.system_code)
        verdict = "通过 / PASS" if report.passed else "未通过 / FAIL"
        decision = DecisionDraft(
            system_code=system.system_code,
            action="check",
            from_state=system.state,
            to_state=system.state,
            decided_by=_require_text("by", by),
            reason=f"符合性检查 {verdict}; report {Path(report.json_path).name} sha256 {report.sha256}",
            decided_at=report.checked_at,
        )
        return self.store.record_check(
            system.system_code, passed=report.passed, report_path=str(report.json_path), decision=decision
        )

    def check(
        self,
        system_code: str,
        *,
        home: Path,
        credentials: CredentialResolver,
        catalogue: Any,
        now: datetime,
        by: str = "conformance-check",
        connector: Any | None = None,
        references: Any = None,
    ) -> ConformanceReport:
        """Run the conformance check of a registered system and record its result.

        ``catalogue`` (a :class:`Catalogue`) and ``references`` (the validators' ``ReferenceData`` of
        the warehouse, for the full rules) are what :func:`connectors.conformance.run_conformance_check`
        takes. ``connector`` replaces the one built from the registry (tests).
        """
        from connectors.conformance import run_conformance_check

        system = self.get(system_code)
        if system.state == RETIRED:
            raise IllegalTransitionError(system_code, "check", system.state, set(STATES) - {RETIRED})
        if connector is None:
            connector = build_connector(system, home, credentials)
        report = run_conformance_check(
            system, connector, catalogue, home / "reports" / "conformance", _aware(now), references=references
        )
        self.record_check(report, by=by)
        return report

    # -- decisions -----------------------------------------------------------------------
    def approve(self, system_code: str, *, by: str, reason: str, now: datetime) -> SystemRecord:
        return self._decide("approve", system_code, by=by, reason=reason, now=now)

    def reject(self, system_code: str, *, by: str, reason: str, now: datetime) -> SystemRecord:
        return self._decide("reject", system_code, by=by, reason=reason, now=now)

    def suspend(self, system_code: str, *, by: str, reason: str, now: datetime) -> SystemRecord:
        return self._decide("suspend", system_code, by=by, reason=reason, now=now)

    def reinstate(self, system_code: str, *, by: str, reason: str, now: datetime) -> SystemRecord:
        return self._decide("reinstate", system_code, by=by, reason=reason, now=now)

    def retire(self, system_code: str, *, by: str, reason: str, now: datetime) -> SystemRecord:
        return self._decide("retire", system_code, by=by, reason=reason, now=now)

    def decide(self, action: str, system_code: str, *, by: str, reason: str, now: datetime) -> SystemRecord:
        """The CLI's single entry point: ``action`` is one of approve/reject/suspend/reinstate/retire."""
        if action not in TRANSITIONS:
            raise RegistryError(f"未知操作 {action} / unknown action {action}")
        return self._decide(action, system_code, by=by, reason=reason, now=now)

    def _decide(self, action: str, system_code: str, *, by: str, reason: str, now: datetime) -> SystemRecord:
        by = _require_text("决定人 / who decides (--by)", by)
        reason = _require_text("理由 / the reason (--reason)", reason)
        now = _aware(now)
        system = self.get(system_code)
        allowed, to_state = TRANSITIONS[action]
        if system.state not in allowed:
            raise IllegalTransitionError(system_code, action, system.state, allowed)
        if action in NEEDS_CHECK:
            self._require_recent_pass(system, now)
        decision = DecisionDraft(
            system_code=system_code,
            action=action,
            from_state=system.state,
            to_state=to_state,
            decided_by=by,
            reason=reason,
            decided_at=now,
        )
        return self.store.transition(system_code, system.state, decision)

    def _require_recent_pass(self, system: SystemRecord, now: datetime) -> None:
        code = system.system_code
        if system.last_check_at is None:
            raise CheckRequiredError(
                f"系统 {code} 尚未做符合性检查; 请先运行 sanheyi systems check {code} / "
                f"{code} has no conformance check; run `sanheyi systems check {code}` first"
            )
        if not system.last_check_passed:
            raise CheckRequiredError(
                f"系统 {code} 最近一次符合性检查未通过 (见 {system.last_check_report}) / the last conformance "
                f"check of {code} failed (see its report); fix the interface and check again"
            )
        age = now - system.last_check_at
        if age > self.check_validity or age < -timedelta(minutes=5):
            raise CheckRequiredError(
                f"系统 {code} 的符合性检查已超过 {self.check_validity.days} 天 ({system.last_check_at.date()}); "
                f"请重新检查 / the passing check of {code} is older than {self.check_validity.days} days; check again"
            )


# -- connectors ------------------------------------------------------------------------------


def build_connector(
    system: SystemRecord,
    home: Path,
    credentials: CredentialResolver,
    *,
    policy: RetryPolicy | None = None,
    page_size: int | None = None,
) -> Any:
    """The connector for a registered self-built system (rest, soap, sql or file)."""
    return build_interface_connector(
        system.system_code,
        system.interface,
        home,
        credentials,
        entities=SELF_BUILT_ENTITIES,
        policy=policy,
        page_size=page_size,
    )


def build_interface_connector(
    system_code: str,
    interface: InterfaceSpec | Mapping[str, Any],
    home: Path,
    credentials: CredentialResolver,
    *,
    entities: Sequence[str] = ALL_ENTITIES,
    policy: RetryPolicy | None = None,
    page_size: int | None = None,
) -> Any:
    """A connector for any interface spec (also the unified platform's, from the settings)."""
    if isinstance(interface, Mapping):
        interface = InterfaceSpec(
            type=str(interface.get("type") or "file"),
            address=str(interface.get("address") or f"inbox/{system_code}/"),
            credential=interface.get("credential"),
        )
    options: dict[str, Any] = {"entities": tuple(entities)}
    if policy is not None:
        options["policy"] = policy
    if page_size is not None:
        options["page_size"] = page_size
    kind = interface.type
    if kind == "file":
        from connectors.file_drop import FileDropConnector

        folder = Path(interface.address)
        if not folder.is_absolute():
            folder = home / folder
        return FileDropConnector(home / "inbox", system_code, directory=folder)
    credential = credentials.resolve(interface.credential)
    if kind == "rest":
        from connectors.rest import RestConnector

        return RestConnector(system_code, interface.address, credential, **options)
    if kind == "soap":
        from connectors.soap import SoapConnector

        return SoapConnector(system_code, interface.address, credential, **options)
    if kind == "sql":
        from connectors.sql_view import SqlViewConnector

        return SqlViewConnector(system_code, interface.address, credential, **options)
    raise ConnectorConfigError(f"未知接口类型 {kind} / unknown interface type {kind}")
