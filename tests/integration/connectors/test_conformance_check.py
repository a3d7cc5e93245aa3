"""The conformance check against the simulators, and the project office's workflow end to end."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import yaml
from selfbuilt_helpers import FAST, REST_TOKEN, SOAP_PASSWORD, SOAP_USER

from connectors.application import load_application
from connectors.credentials import CredentialResolver
from connectors.registry import APPROVED, CheckRequiredError, build_connector
from simulators.rest_server import RestSimulator
from simulators.source_records import SourceRecords
from simulators.sql_source import create_exchange_views, fill
from warehouse.db import create_schema, make_engine
from warehouse.registry_store import approved_systems, open_registry, verify_audit_log

NOW = datetime(2026, 11, 6, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    create_schema(engine)
    yield engine
    engine.dispose()


def _application(examples_dir: Path, tmp_path: Path, interface: dict) -> Path:
    data = yaml.safe_load((examples_dir / "application.SELF_GA.yaml").read_text(encoding="utf-8"))
    data["interface"] = interface
    path = tmp_path / "application.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _credentials() -> CredentialResolver:
    return CredentialResolver(
        {"GA_REST": {"token": REST_TOKEN}, "GA_SOAP": {"username": SOAP_USER, "password": SOAP_PASSWORD}},
        environ={},
    )


def _check(engine, code: str, home: Path, catalogue, now: datetime = NOW):
    registry = open_registry(engine)
    system = registry.get(code)
    connector = build_connector(system, home, _credentials(), policy=FAST)
    return registry.check(code, home=home, credentials=_credentials(), catalogue=catalogue, now=now,
                          connector=connector)  # fmt: skip


def test_rest_system_from_application_to_approval(engine, examples_dir, catalogue, rest_sim, tmp_path):
    home = tmp_path / "home"
    registry = open_registry(engine)
    application = _application(
        examples_dir, tmp_path, {"type": "rest", "address": rest_sim.url, "credential": "GA_REST"}
    )
    registry.apply_file(application, catalogue, by="项目办", now=NOW - timedelta(days=1))
    with pytest.raises(CheckRequiredError):
        registry.approve("SELF_GA", by="李四", reason="r", now=NOW)

    report = _check(engine, "SELF_GA", home, catalogue)
    assert report.passed, [s for s in report.steps if s.status == "FAIL"]
    assert [(s.name, s.status) for s in report.steps] == [
        ("connect", "PASS"), ("sample", "PASS"), ("validate", "PASS"), ("paging", "PASS"), ("cursor", "PASS"),
    ]  # fmt: skip
    assert report.counts["case"] == {"received": 8, "valid": 8, "held": 0, "quarantined": 0, "unparsed": 0}
    assert report.counts["case_step"]["received"] == 20 and report.counts["case_step"]["quarantined"] == 0
    assert report.json_path == home / "reports" / "conformance" / "SELF_GA-20261106T180000.json"
    document = json.loads(report.json_path.read_text(encoding="utf-8"))
    assert document["passed"] is True and document["interface"]["credential"] == "GA_REST"
    html = report.html_path.read_text(encoding="utf-8")
    assert "通过 PASS" in html and "Conformance check" in html and "分页无遗漏无重复" in html
    for text in (html, report.json_path.read_text(encoding="utf-8")):
        assert REST_TOKEN not in text
        assert "刘洋" not in text and "320481197712230872" not in text  # no personal data

    system = registry.approve("SELF_GA", by="李四", reason="符合标准", now=NOW + timedelta(hours=1))
    assert system.state == APPROVED and system.last_check_report == str(report.json_path)
    approved = approved_systems(engine)
    assert [s.system_code for s in approved] == ["SELF_GA"]
    records = [b for b in build_connector(approved[0], home, _credentials()).read(None)]
    assert sum(len(b.frame) for b in records) == 28
    assert verify_audit_log(engine) == []
    assert [d.action for d in registry.show("SELF_GA").decisions] == ["apply", "check", "approve"]


def test_a_failing_check_blocks_approval_and_says_why(engine, examples_dir, catalogue, ga_folder, tmp_path):
    records = SourceRecords.from_dir(ga_folder)
    first = records.all("case")[0].record
    records.add("case", [dict(first, case_id="LY3204810000200", power_code="XK3204810010001000")])  # not in scope
    records.add("case", [dict(first, case_id="LY3204810000201", channel="7")])  # not a channel code
    step = records.all("case_step")[0].record
    records.add("case_step", [dict(step, case_id="LY3204810000200")])  # a step of the case out of scope
    records.add("case_step", [dict(step, case_id="LY3204810000299")])  # a step of a case the sample lacks
    with RestSimulator(records, token=REST_TOKEN) as sim:
        sim.faults.sloppy_paging = True
        registry = open_registry(engine)
        application = _application(
            examples_dir, tmp_path, {"type": "rest", "address": sim.url, "credential": "GA_REST"}
        )
        registry.apply_file(application, catalogue, by="项目办", now=NOW)
        report = _check(engine, "SELF_GA", tmp_path / "home", catalogue)
    assert not report.passed
    validate = report.step("validate")
    assert validate.status == "FAIL" and validate.detail_en.startswith("2 record(s) break the standard")
    assert "1 step(s) of cases rejected above were held, not failed." in validate.detail_en
    assert "1 step(s) of cases not in the sample were held, not failed." in validate.detail_en
    assert any("SELF_GA/LY3204810000200" in f and "SCOPE" in f for f in validate.findings)
    assert any("SELF_GA/LY3204810000201" in f and "channel" in f for f in validate.findings)
    paging = report.step("paging")
    assert paging.status == "FAIL" and any("repeated across pages" in f for f in paging.findings)
    with pytest.raises(CheckRequiredError, match="failed"):
        registry.approve("SELF_GA", by="李四", reason="r", now=NOW)
    assert "未通过 FAIL" in report.html_path.read_text(encoding="utf-8")


def test_a_source_that_ignores_since_fails_the_cursor_check(catalogue, rest_sim, tmp_path, engine, examples_dir):
    rest_sim.faults.ignore_since = True
    registry = open_registry(engine)
    application = _application(
        examples_dir, tmp_path, {"type": "rest", "address": rest_sim.url, "credential": "GA_REST"}
    )
    registry.apply_file(application, catalogue, by="项目办", now=NOW)
    report = _check(engine, "SELF_GA", tmp_path / "home", catalogue)
    cursor = report.step("cursor")
    assert cursor.status == "FAIL"
    assert any("a cursor one day in the future still returns records" in f for f in cursor.findings)


def test_an_unreachable_source_fails_the_connect_step(engine, examples_dir, catalogue, rest_sim, tmp_path):
    rest_sim.faults.fail_always = True
    registry = open_registry(engine)
    application = _application(
        examples_dir, tmp_path, {"type": "rest", "address": rest_sim.url, "credential": "GA_REST"}
    )
    registry.apply_file(application, catalogue, by="项目办", now=NOW)
    report = _check(engine, "SELF_GA", tmp_path / "home", catalogue)
    assert [(s.name, s.status) for s in report.steps] == [("connect", "FAIL")]
    assert "HTTP 500" in report.steps[0].detail_en
    assert registry.get("SELF_GA").last_check_passed is False


def test_soap_check_compares_the_wsdl(engine, examples_dir, catalogue, soap_sim, listener, tmp_path):
    registry = open_registry(engine)
    application = _application(
        examples_dir, tmp_path, {"type": "soap", "address": soap_sim.url, "credential": "GA_SOAP"}
    )
    registry.apply_file(application, catalogue, by="项目办", now=NOW)
    report = _check(engine, "SELF_GA", tmp_path / "home", catalogue)
    assert report.passed and report.step("wsdl").status == "PASS"
    soap_sim.faults.wsdl_override = (
        (Path(__file__).resolve().parents[3] / "schemas/interface_standard/v1/interfaces/sanheyi.wsdl")
        .read_bytes()
        .replace(b'name="limit" type="xs:integer"', b'name="max" type="xs:integer"')
    )
    changed = _check(engine, "SELF_GA", tmp_path / "home", catalogue, now=NOW + timedelta(minutes=1))
    assert not changed.passed and changed.step("wsdl").status == "FAIL"
    assert any("remote lacks element limit" in f for f in changed.step("wsdl").findings)
    assert listener.hits == []


def test_sql_system_check(engine, examples_dir, catalogue, ga_folder, tmp_path):
    url = f"sqlite:///{tmp_path / 'qzk.sqlite'}"
    source = sa.create_engine(url)
    create_exchange_views(source)
    fill(source, ga_folder)
    source.dispose()
    registry = open_registry(engine)
    application = _application(examples_dir, tmp_path, {"type": "sql", "address": url, "credential": None})
    registry.apply_file(application, catalogue, by="项目办", now=NOW)
    report = _check(engine, "SELF_GA", tmp_path / "home", catalogue)
    assert report.passed, [s for s in report.steps if s.status == "FAIL"]


def test_file_system_check_reads_without_moving_files(engine, examples_dir, catalogue, ga_folder, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(ga_folder, home / "inbox" / "SELF_GA")
    registry = open_registry(engine)
    registry.apply(load_application(examples_dir / "application.SELF_GA.yaml", catalogue), by="项目办", now=NOW)
    report = registry.check("SELF_GA", home=home, credentials=_credentials(), catalogue=catalogue, now=NOW)
    assert report.passed, [s for s in report.steps if s.status == "FAIL"]
    assert [(s.name, s.status) for s in report.steps][3:] == [("paging", "SKIP"), ("cursor", "SKIP")]
    assert sorted(p.name for p in (home / "inbox" / "SELF_GA").iterdir()) == [
        "case.20261125.jsonl", "case_step.20261125.jsonl",
    ]  # fmt: skip
    # a later file with records out of scope and spoofed records fails the check
    shutil.copy(examples_dir / "later" / "case.20261126.jsonl", home / "inbox" / "SELF_GA")
    later = registry.check("SELF_GA", home=home, credentials=_credentials(), catalogue=catalogue,
                           now=NOW + timedelta(minutes=5))  # fmt: skip
    assert not later.passed
    assert later.step("validate").status == "FAIL"
    findings = later.step("validate").findings
    assert [f.split(" (")[0] for f in findings] == [
        "case SELF_GA/BAD0029SCOPE", "case SELF_GA/BAD0030SCOPE", "case SELF_GA/BAD0031SCOPE",
        "case UNIFIED/BAD0032SCOPE", "case UNIFIED/BAD0033SCOPE",
    ]  # fmt: skip
    assert all(f.endswith("power_code is outside the approved scope of the self-built system") for f in findings[:3])
    assert all(f.endswith("source_system differs from the system the record arrived from") for f in findings[3:])
