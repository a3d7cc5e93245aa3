"""Generated warehouse rows for the exchange tests (no real people), written straight into the tables."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from warehouse.batches import open_batch
from warehouse.packages import SOURCES_BY_ENTITY
from warehouse.tables import (
    dim_department,
    dim_power_item,
    fct_case,
    fct_case_step,
    fct_complaint,
    fct_supervision_event,
    ops_exchange_sent,
)

T0 = datetime(2026, 11, 6, 2, 0, tzinfo=UTC)  # 10:00 in Liyang
DEPT = "11320481014000000K"

TABLES = {
    "department": dim_department,
    "power_item": dim_power_item,
    "case": fct_case,
    "case_step": fct_case_step,
    "complaint": fct_complaint,
    "supervision_event": fct_supervision_event,
}


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _with_payload(row: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    text = canonical(record)
    row.update(payload=text, payload_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())
    return row


def department(i: int, version: int = 1, at: datetime = T0) -> dict[str, Any]:
    code = f"11320481{i:09d}X"
    record = {"dept_code": code, "name": f"测试部门{i}", "source_system": "UNIFIED", "version": version}
    record["updated_at"] = at.isoformat()
    row = dict(dept_code=code, name=record["name"], source_system="UNIFIED", version=version, updated_at=at, batch_id=1)
    return _with_payload(row, record)


def power_item(i: int, version: int = 1, at: datetime = T0) -> dict[str, Any]:
    code = f"XK320481012{i:04d}000"
    record = {"power_code": code, "name": f"许可事项{i}", "version": version, "updated_at": at.isoformat()}
    row = dict(
        power_code=code,
        name=record["name"],
        power_type="XK",
        dept_code=DEPT,
        legal_basis="《测试法》",
        legal_limit=20,
        promised_limit=10,
        time_unit="WD",
        fee=None,
        penalty_min=None,
        penalty_max=None,
        flow=["SL", "SH", "PZ", "BJ"],
        state="A",
        source_system="UNIFIED",
        version=version,
        updated_at=at,
        batch_id=1,
    )
    return _with_payload(row, record)


def case(i: int, version: int = 1, at: datetime = T0, system: str = "UNIFIED") -> dict[str, Any]:
    case_id = f"LY{i:013d}"
    record = {
        "source_system": system,
        "case_id": case_id,
        "applicant_name": "测试申请人",
        "applicant_id_no": "320481199001011234",
        "status": "IN_PROGRESS",
        "version": version,
        "updated_at": at.isoformat(),
    }
    row = dict(
        source_system=system,
        case_id=case_id,
        power_code="XK3204810120001000",
        dept_code=DEPT,
        applicant_type="1",
        applicant_name="测试申请人",
        applicant_id_type="SFZ",
        applicant_id_no="320481199001011234",
        channel="2",
        received_at=T0 - timedelta(days=3),
        promised_limit=10,
        status="IN_PROGRESS",
        fee_paid=Decimal("0"),
        version=version,
        updated_at=at,
        batch_id=1,
    )
    return _with_payload(row, record)


def case_step(i: int, step_no: int, version: int = 1, at: datetime = T0) -> dict[str, Any]:
    case_id = f"LY{i:013d}"
    record = {"source_system": "UNIFIED", "case_id": case_id, "step_no": step_no, "step_code": "SL", "version": version}
    row = dict(
        source_system="UNIFIED",
        case_id=case_id,
        step_no=step_no,
        step_code="SL",
        handler_id="H001",
        handler_name="经办人",
        started_at=T0 - timedelta(days=3),
        finished_at=None,
        opinion=None,
        version=version,
        updated_at=at,
        batch_id=1,
    )
    return _with_payload(row, record)


def complaint(i: int, version: int = 1, at: datetime = T0) -> dict[str, Any]:
    complaint_id = f"TS{i:08d}"
    record = {"complaint_id": complaint_id, "content": "投诉内容", "version": version}
    row = dict(
        complaint_id=complaint_id,
        case_source_system=None,
        case_id=None,
        dept_code=DEPT,
        received_at=T0 - timedelta(days=1),
        status="OPEN",
        closed_at=None,
        result=None,
        content="投诉内容",
        source_system="UNIFIED",
        version=version,
        updated_at=at,
        batch_id=1,
    )
    return _with_payload(row, record)


def supervision_event(i: int, status: str = "ACTIVE", at: datetime = T0) -> dict[str, Any]:
    key = f"CL01/UNIFIED/LY{i:013d}"
    record = {
        "event_key": key,
        "rule": "CL01",
        "card": "YELLOW",
        "event_date": "2026-11-05",
        "dept_code": DEPT,
        "power_type": "XK",
        "case_source_system": "UNIFIED",
        "case_id": f"LY{i:013d}",
        "complaint_id": None,
        "status": status,
    }
    row = dict(
        event_key=key,
        rule="CL01",
        card="YELLOW",
        event_date=date(2026, 11, 5),
        dept_code=DEPT,
        power_type="XK",
        case_source_system="UNIFIED",
        case_id=f"LY{i:013d}",
        complaint_id=None,
        status=status,
        provisional=False,
        computed_at=at,
    )
    return _with_payload(row, record)


MAKERS = {
    "department": department,
    "power_item": power_item,
    "case": case,
    "complaint": complaint,
}


@dataclass
class Warehouse:
    """Writes rows the way the loader and the supervision engine leave them: record rows in a load
    batch of their own (a package remembers the batches it was claimed through)."""

    engine: Engine

    def _in_a_batch(self, conn: Connection, entity: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if "batch_id" not in TABLES[entity].c:
            return rows  # supervision events are computed, not loaded
        batch_id = open_batch(
            conn, cycle_id="test", source_system="UNIFIED", entity=entity, origin="test", started_at=T0
        )
        return [{**row, "batch_id": batch_id} for row in rows]

    def add(self, entity: str, rows: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(TABLES[entity]), self._in_a_batch(conn, entity, rows))

    def add_basic(self, cases: int = 5, steps_per_case: int = 2) -> None:
        """Two departments, two items, cases with steps, one complaint, one event."""
        self.add("department", [department(i) for i in range(2)])
        self.add("power_item", [power_item(i) for i in range(2)])
        self.add("case", [case(i) for i in range(cases)])
        self.add("case_step", [case_step(i, n) for i in range(cases) for n in range(1, steps_per_case + 1)])
        self.add("complaint", [complaint(0)])
        self.add("supervision_event", [supervision_event(0)])

    def replace(self, entity: str, row: dict[str, Any]) -> None:
        """Store a newer version of an existing record (new payload and SHA-256, nothing else to mark)."""
        table = TABLES[entity]
        keys = [c for c in table.primary_key.columns]
        condition = [c == row[c.name] for c in keys]
        values = {k: v for k, v in row.items() if k not in {c.name for c in keys}}
        with self.engine.begin() as conn:
            [values] = self._in_a_batch(conn, entity, [values])
            result = conn.execute(update(table).where(*condition).values(**values))
            assert result.rowcount == 1

    def sent_in(self, entity: str) -> list[int | None]:
        """Per row, the package that carried its current content (None: not sent yet)."""
        source = SOURCES_BY_ENTITY[entity]
        sent = ops_exchange_sent
        query = select(sent.c.sequence).select_from(
            source.table.outerjoin(
                sent,
                (sent.c.entity == entity)
                & (sent.c.record_key == source.record_key())
                & (sent.c.payload_sha256 == source.table.c.payload_sha256),
            )
        )
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(query)]


def package_lines(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The records of a package by entity."""
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        return {
            f["entity"]: [json.loads(line) for line in archive.read(f["path"]).decode("utf-8").splitlines()]
            for f in manifest["files"]
        }


def manifest_of(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("manifest.json"))
