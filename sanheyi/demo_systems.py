"""Self-built systems for ``make demo``: a SOAP system of 公安局 (涉密), a SQL 前置库 of 财政局 (涉金),
both simulated on 127.0.0.1 and taken through apply → check → approve; and a file-drop system of
自然资源和规划局 that applies but is not approved, so its files are shown waiting.

The simulators run in threads of the demo process, which stays alive while Airflow reads them.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import yaml

from sanheyi.settings import Settings
from sanheyi.systems import apply_system, check_system, decide, list_systems
from simulators.generator import GeneratorSpec, generate, write_inbox
from simulators.soap_server import SoapSimulator
from simulators.source_records import SourceRecords
from simulators.sql_source import create_exchange_views
from simulators.sql_source import upsert_records as fill_view

SOAP_PORT = int(os.environ.get("SANHEYI_DEMO_SOAP_PORT", "18731"))
OFFICE = "三合一项目办 (演示)"
CATALOGUE_SEED = GeneratorSpec().seed  # the unified platform's catalogue in the demo dataset


@dataclass(frozen=True)
class DemoSystem:
    code: str
    name: str
    dept_name: str
    justification: str
    note: str
    kind: str
    seed_offset: int


SYSTEMS = (
    DemoSystem(
        "SELF_GA", "溧阳市公安局行政审批系统", "溧阳市公安局", "CLASSIFIED", "涉密业务数据，按规定自建", "soap", 1
    ),
    DemoSystem("SELF_CZ", "溧阳市财政局非税收入系统", "溧阳市财政局", "FUNDS", "涉及资金收缴，独立运行", "sql", 2),
    DemoSystem(
        "SELF_ZR",
        "溧阳市不动产登记系统",
        "溧阳市自然资源和规划局",
        "EXISTING_INVESTMENT",
        "已有较大信息化投入且功能完备",
        "file",
        3,
    ),
)

_running: list[SoapSimulator] = []


def _records_for(system: DemoSystem) -> tuple[str, list[str], dict[str, list[dict]]]:
    """The department, its active power codes and the system's cases and steps (in its scope)."""
    catalogue = generate(GeneratorSpec(cases=10, complaints=0, invalid_cases=0, update_share=0))
    dept = next(d["dept_code"] for d in catalogue.records["department"] if d["name"] == system.dept_name)
    scope = sorted(
        i["power_code"] for i in catalogue.records["power_item"] if i["dept_code"] == dept and i["state"] == "A"
    )
    data = generate(
        GeneratorSpec(
            cases=300,
            complaints=0,
            invalid_cases=0,
            source_system=system.code,
            update_share=0,
            seed=CATALOGUE_SEED + system.seed_offset,
            catalogue_seed=CATALOGUE_SEED,
            power_codes=tuple(scope),
        )
    )
    return dept, scope, {"case": data.latest("case"), "case_step": data.latest("case_step")}


def _application(system: DemoSystem, dept: str, scope: list[str], interface: dict) -> dict:
    return {
        "system_code": system.code,
        "system_name": system.name,
        "dept_code": dept,
        "justification": system.justification,
        "justification_note": system.note,
        "power_codes": scope,
        "interface": interface,
        "contact": {"name": "王工", "phone": "0519-87000000"},
    }


def prepare_self_built_systems(settings: Settings, as_of: datetime) -> list[str]:
    lines: list[str] = []
    registered = {s["system_code"]: s["state"] for s in list_systems(settings)}
    applications = settings.home / "applications"
    applications.mkdir(exist_ok=True)
    for system in SYSTEMS:
        dept, scope, records = _records_for(system)
        interface = _start_interface(settings, system, records)
        if system.code not in registered:
            path = applications / f"application.{system.code}.yaml"
            path.write_text(
                yaml.safe_dump(_application(system, dept, scope, interface), allow_unicode=True, sort_keys=False),
                encoding="utf-8",
            )
            lines.append(apply_system(settings, path, by=OFFICE, now=as_of))
            registered[system.code] = "APPLIED"
        if system.kind == "file":
            lines.append(f"{system.code}: application stays {registered[system.code]}; its files wait unread")
            continue
        passed, message = check_system(settings, system.code, now=as_of)
        lines.append(message)
        if passed and registered[system.code] == "APPLIED":
            lines.append(
                decide(settings, system.code, "approve", by=OFFICE, reason=f"{system.note}；符合性检查通过", now=as_of)
            )
    return lines


def _start_interface(settings: Settings, system: DemoSystem, records: dict[str, list[dict]]) -> dict:
    if system.kind == "soap":
        token = secrets.token_urlsafe(24)
        # the credential reaches the connector by name, through the environment the DAGs inherit
        os.environ[f"SANHEYI_CRED_{system.code}_SOAP"] = json.dumps({"token": token})
        store = SourceRecords()
        for entity, rows in records.items():
            store.add(entity, rows)
        simulator = SoapSimulator(store, token=token, port=SOAP_PORT).start()
        _running.append(simulator)
        return {"type": "soap", "address": simulator.url, "credential": f"{system.code}_SOAP"}
    if system.kind == "sql":
        folder = settings.home / "simulators"
        folder.mkdir(exist_ok=True)
        database = folder / f"{system.code.lower()}_qianzhiku.sqlite"
        engine = sa.create_engine(f"sqlite:///{database}")
        if not database.exists() or not sa.inspect(engine).get_table_names():
            create_exchange_views(engine)
        for entity, rows in records.items():
            fill_view(engine, entity, rows)
        engine.dispose()
        return {"type": "sql", "address": f"sqlite:///{database}", "credential": None}
    folder = settings.inbox / system.code
    if not folder.exists():
        data = generate(
            GeneratorSpec(
                cases=60,
                complaints=0,
                invalid_cases=0,
                source_system=system.code,
                update_share=0,
                seed=CATALOGUE_SEED + system.seed_offset,
                catalogue_seed=CATALOGUE_SEED,
            )
        )
        only_cases = type(data)(
            spec=data.spec, records={"case": data.records["case"]}, updates={}, invalid={}, manifest=[], counts={}
        )
        write_inbox(only_cases, settings.inbox, csv_entities=())
    return {"type": "file", "address": None, "credential": None}


def stop_simulators() -> None:
    while _running:
        _running.pop().stop()
