"""The project office's workflow (§6) on the warehouse: transitions, the 30-day check rule, the audit log."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select, update

from connectors.application import Catalogue, load_application
from connectors.audit_log import ChainHead, compute_hash
from connectors.conformance import ConformanceReport
from connectors.credentials import CredentialResolver
from connectors.registry import (
    APPLIED,
    APPROVED,
    REJECTED,
    RETIRED,
    SUSPENDED,
    CheckRequiredError,
    IllegalTransitionError,
    Registry,
    RegistryError,
)
from schemas.errors import HubError
from warehouse.db import create_schema, make_engine
from warehouse.registry_store import (
    SqlRegistryStore,
    approved_systems,
    audit_log_head,
    open_registry,
    verify_audit_log,
    waiting_systems,
)
from warehouse.tables import ops_system, ops_system_decision

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SH)


@pytest.fixture(scope="module")
def catalogue(examples_dir: Path) -> Catalogue:
    inbox = examples_dir / "inbox" / "UNIFIED"
    departments = [json.loads(line) for line in (inbox / "department.20261125.jsonl").read_text().splitlines()]
    items = [json.loads(line) for line in (inbox / "power_item.20261125.jsonl").read_text().splitlines()]
    return Catalogue.from_records(departments, items)


@pytest.fixture
def sqlite_engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(sqlite_engine):
    return sqlite_engine


@pytest.fixture
def registry(engine) -> Registry:
    """On SQLite; the tests that take ``warehouse_engine`` run on PostgreSQL too."""
    return open_registry(engine)


def _report(code: str, passed: bool, at: datetime, tmp_path: Path) -> ConformanceReport:
    path = tmp_path / f"{code}-{at:%Y%m%dT%H%M%S}.json"
    path.write_text("{}")
    return ConformanceReport(
        system_code=code,
        system_name="x",
        interface_type="file",
        checked_at=at,
        passed=passed,
        steps=(),
        counts={},
        json_path=path,
        html_path=path.with_suffix(".html"),
        sha256="0" * 64,
    )


def _apply(registry: Registry, examples_dir: Path, catalogue: Catalogue, at: datetime = T0):
    return registry.apply_file(examples_dir / "application.SELF_GA.yaml", catalogue, by="项目办 张三", now=at)


def test_full_lifecycle_records_every_decision(warehouse_engine, examples_dir, catalogue, tmp_path):
    registry, engine = open_registry(warehouse_engine), warehouse_engine
    system = _apply(registry, examples_dir, catalogue)
    assert system.state == APPLIED
    assert system.interface.address == "inbox/SELF_GA/"
    registry.record_check(_report("SELF_GA", True, T0 + timedelta(hours=1), tmp_path))
    assert registry.approve("SELF_GA", by="李四", reason="检查通过", now=T0 + timedelta(days=1)).state == APPROVED
    assert [s.system_code for s in approved_systems(engine)] == ["SELF_GA"]
    assert registry.suspend("SELF_GA", by="李四", reason="接口故障", now=T0 + timedelta(days=2)).state == SUSPENDED
    assert approved_systems(engine) == []
    registry.record_check(_report("SELF_GA", True, T0 + timedelta(days=3), tmp_path))
    assert (
        registry.reinstate("SELF_GA", by="李四", reason="已修复", now=T0 + timedelta(days=3, hours=1)).state == APPROVED
    )
    assert registry.retire("SELF_GA", by="王五", reason="系统下线", now=T0 + timedelta(days=9)).state == RETIRED

    detail = registry.show("SELF_GA")
    assert [(d.action, d.from_state, d.to_state) for d in detail.decisions] == [
        ("apply", None, APPLIED),
        ("check", APPLIED, APPLIED),
        ("approve", APPLIED, APPROVED),
        ("suspend", APPROVED, SUSPENDED),
        ("check", SUSPENDED, SUSPENDED),
        ("reinstate", SUSPENDED, APPROVED),
        ("retire", APPROVED, RETIRED),
    ]
    approve = detail.decisions[2]
    assert (approve.decided_by, approve.reason) == ("李四", "检查通过")
    assert approve.decided_at == T0 + timedelta(days=1)
    assert verify_audit_log(engine) == []


@pytest.mark.parametrize(
    ("setup", "action", "state"),
    [
        (["reject"], "approve", REJECTED),
        ([], "suspend", APPLIED),
        ([], "reinstate", APPLIED),
        (["approve"], "reinstate", APPROVED),
        (["approve"], "reject", APPROVED),
        (["retire"], "retire", RETIRED),
        (["retire"], "approve", RETIRED),
    ],
)
def test_illegal_transitions_are_refused_and_not_logged(
    registry, examples_dir, catalogue, tmp_path, setup, action, state
):
    _apply(registry, examples_dir, catalogue)
    registry.record_check(_report("SELF_GA", True, T0, tmp_path))
    for step in setup:
        registry.decide(step, "SELF_GA", by="李四", reason="r", now=T0 + timedelta(hours=1))
    logged = len(registry.show("SELF_GA").decisions)
    with pytest.raises(IllegalTransitionError) as caught:
        registry.decide(action, "SELF_GA", by="李四", reason="r", now=T0 + timedelta(hours=2))
    assert f"cannot {action} SELF_GA in state {state}" in caught.value.message
    assert registry.get("SELF_GA").state == state
    assert len(registry.show("SELF_GA").decisions) == logged


def test_approve_needs_a_passing_check_within_30_days(registry, examples_dir, catalogue, tmp_path):
    _apply(registry, examples_dir, catalogue)
    with pytest.raises(CheckRequiredError, match="sanheyi systems check SELF_GA"):
        registry.approve("SELF_GA", by="李四", reason="r", now=T0)
    registry.record_check(_report("SELF_GA", False, T0, tmp_path))
    with pytest.raises(CheckRequiredError, match="failed"):
        registry.approve("SELF_GA", by="李四", reason="r", now=T0 + timedelta(hours=1))
    registry.record_check(_report("SELF_GA", True, T0 + timedelta(hours=2), tmp_path))
    with pytest.raises(CheckRequiredError, match="older than 30 days"):
        registry.approve("SELF_GA", by="李四", reason="r", now=T0 + timedelta(days=31))
    assert registry.get("SELF_GA").state == APPLIED
    assert registry.approve("SELF_GA", by="李四", reason="r", now=T0 + timedelta(days=29)).state == APPROVED


def test_who_and_why_are_required(registry, examples_dir, catalogue):
    _apply(registry, examples_dir, catalogue)
    with pytest.raises(RegistryError, match="--reason"):
        registry.reject("SELF_GA", by="李四", reason="  ", now=T0)
    with pytest.raises(RegistryError, match="--by"):
        registry.reject("SELF_GA", by="", reason="r", now=T0)


def test_a_code_is_registered_once(registry, examples_dir, catalogue):
    _apply(registry, examples_dir, catalogue)
    with pytest.raises(HubError, match="already registered"):
        _apply(registry, examples_dir, catalogue)


def test_waiting_systems_show_unapproved_and_unregistered_drops(registry, examples_dir, catalogue, tmp_path, engine):
    home = tmp_path / "home"
    (home / "inbox" / "SELF_GA").mkdir(parents=True)
    (home / "inbox" / "SELF_GA" / "case.1.jsonl").write_text("{}\n")
    (home / "inbox" / "SELF_GA" / "case.2.jsonl.part").write_text("{}\n")
    (home / "inbox" / "SELF_XX").mkdir()
    (home / "inbox" / "SELF_XX" / "case.1.jsonl").write_text("{}\n")
    (home / "inbox" / "UNIFIED").mkdir()
    (home / "inbox" / "UNIFIED" / "case.1.jsonl").write_text("{}\n")
    waiting = waiting_systems(engine, home)
    assert [(w.system_code, w.state, w.files_waiting) for w in waiting] == [("SELF_GA", None, 1), ("SELF_XX", None, 1)]
    _apply(registry, examples_dir, catalogue)
    waiting = waiting_systems(engine, home)
    assert [(w.system_code, w.state, w.files_waiting) for w in waiting] == [
        ("SELF_GA", APPLIED, 1),
        ("SELF_XX", None, 1),
    ]
    registry.record_check(_report("SELF_GA", True, T0, tmp_path))
    registry.approve("SELF_GA", by="李四", reason="r", now=T0)
    assert [w.system_code for w in waiting_systems(engine, home)] == ["SELF_XX"]


def _lifecycle(registry: Registry, examples_dir: Path, catalogue: Catalogue, tmp_path: Path) -> None:
    _apply(registry, examples_dir, catalogue)
    registry.record_check(_report("SELF_GA", True, T0, tmp_path))
    registry.approve("SELF_GA", by="李四", reason="通过", now=T0 + timedelta(hours=1))
    registry.suspend("SELF_GA", by="李四", reason="故障", now=T0 + timedelta(hours=2))


def test_an_edited_entry_is_detected(warehouse_engine, examples_dir, catalogue, tmp_path):
    registry, engine = open_registry(warehouse_engine), warehouse_engine
    _lifecycle(registry, examples_dir, catalogue, tmp_path)
    assert verify_audit_log(engine) == []
    with engine.begin() as conn:
        conn.execute(
            update(ops_system_decision).where(ops_system_decision.c.action == "approve").values(decided_by="某人")
        )
    problems = verify_audit_log(engine)
    assert len(problems) == 1
    assert "decision 3 (SELF_GA approve)" in problems[0] and "edited" in problems[0]


def test_a_deleted_entry_is_detected(registry, examples_dir, catalogue, tmp_path, engine):
    _lifecycle(registry, examples_dir, catalogue, tmp_path)
    with engine.begin() as conn:
        conn.execute(delete(ops_system_decision).where(ops_system_decision.c.decision_id == 2))
    problems = verify_audit_log(engine)
    assert any("deleted" in p for p in problems)
    assert any("its last conformance check is not in the log" in p for p in problems)


def test_a_deleted_last_entry_is_detected(registry, examples_dir, catalogue, tmp_path, engine):
    _lifecycle(registry, examples_dir, catalogue, tmp_path)
    with engine.begin() as conn:
        conn.execute(delete(ops_system_decision).where(ops_system_decision.c.decision_id == 4))
    problems = verify_audit_log(engine)
    assert problems == [
        "system SELF_GA: 登记状态 SUSPENDED 与日志最后一条决定 (APPROVED) 不符 / registry state SUSPENDED does not "
        "match the last logged decision (APPROVED)"
    ]


def test_reordered_entries_are_detected(warehouse_engine, examples_dir, catalogue, tmp_path):
    registry, engine = open_registry(warehouse_engine), warehouse_engine
    _lifecycle(registry, examples_dir, catalogue, tmp_path)
    columns = [c for c in ops_system_decision.c if c.name != "decision_id"]
    with engine.begin() as conn:
        rows = {r.decision_id: r for r in conn.execute(select(ops_system_decision))}
        # swap the contents of entries 3 and 4, keeping their ids (the unique hash is moved aside first)
        conn.execute(update(ops_system_decision).where(ops_system_decision.c.decision_id == 3).values(entry_hash="x"))
        for target, source in ((4, 3), (3, 4)):
            conn.execute(
                update(ops_system_decision)
                .where(ops_system_decision.c.decision_id == target)
                .values({c.name: getattr(rows[source], c.name) for c in columns})
            )
    problems = verify_audit_log(engine)
    assert any("decision 3" in p and "previous_hash" in p for p in problems)


def test_truncating_the_log_and_the_registry_together_is_caught_by_a_published_head(
    registry, examples_dir, catalogue, tmp_path, engine
):
    _lifecycle(registry, examples_dir, catalogue, tmp_path)
    published = audit_log_head(engine)  # as printed in that month's report
    assert published is not None and published.decision_id == 4
    # Someone with write access removes the suspension and sets the registry back to match.
    with engine.begin() as conn:
        conn.execute(delete(ops_system_decision).where(ops_system_decision.c.decision_id == 4))
        conn.execute(update(ops_system).where(ops_system.c.system_code == "SELF_GA").values(state="APPROVED"))
    assert verify_audit_log(engine) == []  # the chain alone cannot tell
    assert verify_audit_log(engine, [published]) == [
        f"published head {published}: 已公布的链头第 4 条不在日志中 / decision 4 is no longer in the log: "
        "entries up to it were deleted after it was published"
    ]


def test_a_log_rewritten_with_fresh_hashes_is_caught_by_a_published_head(
    registry, examples_dir, catalogue, tmp_path, engine
):
    _lifecycle(registry, examples_dir, catalogue, tmp_path)
    published = audit_log_head(engine)
    earlier = ChainHead(2, SqlRegistryStore(engine).decisions()[1].entry_hash)  # a head from an older report
    # The approver's name is changed and every hash from there on recomputed: a chain that verifies.
    entries = SqlRegistryStore(engine).decisions()
    previous = entries[1].entry_hash
    with engine.begin() as conn:
        for entry in entries[2:]:
            if entry.action == "approve":
                entry = replace(entry, decided_by="某人")
            entry_hash = compute_hash(entry, previous)
            conn.execute(
                update(ops_system_decision)
                .where(ops_system_decision.c.decision_id == entry.decision_id)
                .values(decided_by=entry.decided_by, previous_hash=previous, entry_hash=entry_hash)
            )
            previous = entry_hash
    assert verify_audit_log(engine) == []
    problems = verify_audit_log(engine, [earlier, published])
    assert len(problems) == 1  # entries up to the older head are untouched
    assert problems[0].startswith(f"published head {published}:") and "the log was rewritten" in problems[0]


@pytest.mark.parametrize("text", ["4", "4:abc", "-4:" + "a" * 64, "0:" + "a" * 64, "4:" + "g" * 64, ""])
def test_a_head_that_is_not_id_colon_sha256_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="id:sha256"):
        ChainHead.parse(text)


def test_a_printed_head_reads_back_the_same() -> None:
    head = ChainHead(12, "3F" * 32)
    assert ChainHead.parse(f" {head} ") == ChainHead(12, "3f" * 32)  # hex in either case, spaces around


def test_the_registry_holds_and_shows_the_credential_name_never_its_secret(
    registry, examples_dir, catalogue, engine, tmp_path, monkeypatch
):
    secret = "reg-Tok3n-w9p2x-never-stored"
    monkeypatch.setenv("SANHEYI_CRED_GA_REST", json.dumps({"token": secret}))
    application = json.loads((examples_dir / "application.SELF_GA.yaml").read_text(encoding="utf-8"))
    interface = {"type": "rest", "address": "https://ga.liyang.example/sanheyi/", "credential": "GA_REST"}
    path = tmp_path / "application.SELF_GA.yaml"
    path.write_text(json.dumps({**application, "interface": interface}, ensure_ascii=False), encoding="utf-8")
    system = registry.apply_file(path, catalogue, by="项目办 张三", now=T0)
    # the registered name leads to the secret, as it does when the pipeline builds the connector
    assert CredentialResolver().resolve(system.interface.credential).token == secret
    registry.record_check(_report("SELF_GA", True, T0 + timedelta(hours=1), tmp_path))
    registry.approve("SELF_GA", by="李四", reason="检查通过", now=T0 + timedelta(days=1))

    with engine.connect() as conn:
        systems = [dict(r) for r in conn.execute(select(ops_system)).mappings()]
        decisions = [dict(r) for r in conn.execute(select(ops_system_decision)).mappings()]
    detail = registry.show("SELF_GA")
    assert [s["interface"] for s in systems] == [interface]
    assert [d.action for d in detail.decisions] == ["apply", "check", "approve"] and len(decisions) == 3
    for where, text in (
        ("ops_system", repr(systems)),
        ("ops_system_decision", repr(decisions)),
        ("show", repr(detail) + json.dumps(detail.system.to_dict(), ensure_ascii=False)),
    ):
        assert secret not in text, where


def test_concurrent_writers_keep_one_chain(warehouse_engine, examples_dir, catalogue, tmp_path):
    engine = warehouse_engine
    # Two registries on the same warehouse record checks of two systems at the same time, each from
    # its own thread and connection; every decision is kept once and the chain stays linear.
    first, second = open_registry(engine), Registry(SqlRegistryStore(engine))
    application = load_application(examples_dir / "application.SELF_GA.yaml", catalogue)
    first.apply(application, by="a", now=T0)
    first.apply(replace(application, system_code="SELF_GB"), by="a", now=T0)
    per_writer = 20
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def write(registry: Registry, writer: int) -> None:
        code = ("SELF_GA", "SELF_GB")[writer]
        try:
            start.wait(timeout=30)
            for i in range(per_writer):
                at = T0 + timedelta(minutes=2 * i + writer)
                registry.record_check(_report(code, True, at, tmp_path), by=f"writer {writer}")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(r, n)) for n, r in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    entries = SqlRegistryStore(engine).decisions()
    assert [e.decision_id for e in entries] == list(range(1, 3 + 2 * per_writer))
    assert sorted(e.decided_by for e in entries[2:]) == ["writer 0"] * per_writer + ["writer 1"] * per_writer
    assert len({e.reason for e in entries[2:]}) == 2 * per_writer  # no check recorded twice
    assert verify_audit_log(engine) == []
