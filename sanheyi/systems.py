"""The project office's workflow for self-built systems, as the CLI and the pipeline use it."""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from connectors.application import Catalogue
from connectors.audit_log import ChainHead
from connectors.credentials import CredentialResolver
from connectors.registry import build_connector
from sanheyi.ingest import Source, connector_or_unavailable
from sanheyi.pipeline import require_initialised, warehouse_engine
from sanheyi.references import ReferenceCache
from sanheyi.settings import Settings
from warehouse.registry_store import (
    approved_systems,
    audit_log_head,
    open_registry,
    verify_audit_log,
    waiting_systems,
)
from warehouse.tables import dim_department, dim_power_item


def catalogue_of(engine: Engine) -> Catalogue:
    """The power catalogue as loaded from the unified platform (what applications are checked against)."""
    with engine.connect() as conn:
        departments = conn.execute(select(dim_department.c.dept_code)).mappings().all()
        items = conn.execute(select(dim_power_item.c.power_code, dim_power_item.c.dept_code)).mappings().all()
    return Catalogue.from_records(departments, items)


def approved_sources(engine: Engine, settings: Settings, credentials: CredentialResolver | None = None) -> list[Source]:
    """Every approved self-built system as a source, with its approved scope of power codes."""
    resolver = credentials or CredentialResolver()
    return [
        Source(
            system.system_code,
            connector_or_unavailable(
                system.system_code, lambda system=system: build_connector(system, settings.home, resolver)
            ),
            frozenset(system.power_codes),
        )
        for system in approved_systems(engine)
    ]


def _now() -> datetime:
    return datetime.now(UTC).astimezone()


def apply_system(settings: Settings, path: Path, *, by: str | None = None, now: datetime | None = None) -> str:
    require_initialised(settings)
    engine = warehouse_engine(settings)
    try:
        record = open_registry(engine).apply_file(
            path, catalogue_of(engine), by=by or getpass.getuser(), now=now or _now()
        )
    finally:
        engine.dispose()
    return (
        f"{record.system_code} ({record.system_name}) registered as {record.state}; next: "
        f"sanheyi systems check {record.system_code}"
    )


def check_system(
    settings: Settings, code: str, *, now: datetime | None = None, credentials: CredentialResolver | None = None
) -> tuple[bool, str]:
    require_initialised(settings)
    engine = warehouse_engine(settings)
    try:
        report = open_registry(engine).check(
            code,
            home=settings.home,
            credentials=credentials or CredentialResolver(),
            catalogue=catalogue_of(engine),
            now=now or _now(),
            # the full rules (item states, promised limits) need what the warehouse knows
            references=ReferenceCache(engine).for_system(None),
        )
    finally:
        engine.dispose()
    verdict = "PASSED 通过" if report.passed else "FAILED 未通过"
    return report.passed, f"conformance check of {code}: {verdict}; report {report.html_path}"


def decide(settings: Settings, code: str, action: str, *, by: str, reason: str, now: datetime | None = None) -> str:
    require_initialised(settings)
    engine = warehouse_engine(settings)
    try:
        record = open_registry(engine).decide(action, code, by=by, reason=reason, now=now or _now())
    finally:
        engine.dispose()
    return f"{code}: {action} recorded; state is now {record.state}"


def list_systems(settings: Settings) -> list[dict]:
    require_initialised(settings)
    engine = warehouse_engine(settings)
    try:
        systems = open_registry(engine).list()
        waiting = {w.system_code: w for w in waiting_systems(engine, settings.home)}
    finally:
        engine.dispose()
    rows = []
    for system in systems:
        w = waiting.pop(system.system_code, None)
        rows.append(
            {
                "system_code": system.system_code,
                "system_name": system.system_name,
                "dept_code": system.dept_code,
                "state": system.state,
                "interface_type": system.interface.type,
                "last_check": ("PASS " if system.last_check_passed else "FAIL ") + system.last_check_at.isoformat()
                if system.last_check_at
                else "",
                "waiting": _waiting_text(w),
            }
        )
    for w in waiting.values():  # files dropped by a system that never applied
        rows.append(
            {
                "system_code": w.system_code,
                "system_name": "(未登记 / not registered)",
                "dept_code": "",
                "state": "UNREGISTERED",
                "interface_type": "file",
                "last_check": "",
                "waiting": _waiting_text(w),
            }
        )
    return rows


def _waiting_text(waiting: object) -> str:
    if waiting is None:
        return ""
    files = getattr(waiting, "files_waiting", None)
    return f"{files} file(s) waiting" if files is not None else "waiting (not read)"


def show_system(settings: Settings, code: str) -> dict:
    require_initialised(settings)
    engine = warehouse_engine(settings)
    try:
        detail = open_registry(engine).show(code)
    finally:
        engine.dispose()
    return {
        **detail.system.to_dict(),
        "decisions": [
            {
                "action": d.action,
                "from_state": d.from_state,
                "to_state": d.to_state,
                "by": d.decided_by,
                "reason": d.reason,
                "at": d.decided_at.isoformat(),
            }
            for d in detail.decisions
        ],
    }


def verify_log(settings: Settings, published_heads: Sequence[ChainHead] = ()) -> tuple[list[str], ChainHead | None]:
    """The decision log's faults (empty when intact) and its current head."""
    require_initialised(settings)
    engine = warehouse_engine(settings)
    try:
        return verify_audit_log(engine, published_heads), audit_log_head(engine)
    finally:
        engine.dispose()
