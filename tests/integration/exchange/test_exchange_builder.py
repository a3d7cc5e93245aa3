"""Package building against the real warehouse (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
import zipfile
from collections import Counter
from datetime import timedelta

import pytest
import xc_rows as rows
from sqlalchemy import func, select, text

from exchange.changzhou import PackageStoreError, build_package, verify_package
from warehouse import packages as wp
from warehouse.db import create_schema, make_engine
from warehouse.tables import ops_load_batch, ops_package


def _packages(engine):
    with engine.connect() as conn:
        return wp.list_packages(conn)


def test_nothing_pending_makes_no_package(wh, keys, store, now):
    assert build_package(wh.engine, keys, store, now=now) is None
    assert not store.exists() or list(store.iterdir()) == []
    assert _packages(wh.engine) == []

    wh.add_basic()
    assert build_package(wh.engine, keys, store, now=now).sequence == 1
    assert build_package(wh.engine, keys, store, now=now + timedelta(hours=1)) is None
    assert [p.name for p in store.iterdir()] == ["320481-320400-0000000001.zip"]
    assert [p.sequence for p in _packages(wh.engine)] == [1]


def test_first_package_holds_every_record_in_key_order(wh, keys, store, now):
    wh.add_basic(cases=3, steps_per_case=11)  # step 10 and 11 must follow 9, not 1
    built = build_package(wh.engine, keys, store, now=now)

    assert built.path == store / "320481-320400-0000000001.zip"
    assert built.record_counts == {
        "department": 2,
        "power_item": 2,
        "case": 3,
        "case_step": 33,
        "complaint": 1,
        "supervision_event": 1,
    }
    with zipfile.ZipFile(built.path) as archive:
        assert archive.namelist() == [
            "data/case.jsonl",
            "data/case_step.jsonl",
            "data/complaint.jsonl",
            "data/department.jsonl",
            "data/power_item.jsonl",
            "data/supervision_event.jsonl",
            "manifest.json",
            "manifest.sig",
        ]
        body = archive.read("manifest.json")
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())
    manifest = rows.manifest_of(built.path)
    assert manifest["standard_version"] == "1.0"
    assert (manifest["sender"], manifest["receiver"], manifest["sequence"]) == ("320481", "320400", 1)
    assert manifest["previous_manifest_sha256"] is None
    assert manifest["created_at"] == "2026-11-06T10:00:00+08:00"  # the newest content, in Liyang time
    assert manifest["package_id"] == built.package_id
    assert [f["entity"] for f in manifest["files"]] == [
        "department",
        "power_item",
        "case",
        "case_step",
        "complaint",
        "supervision_event",
    ]
    assert manifest["signature"] == {"algorithm": "Ed25519", "key_id": keys.key_id}

    lines = rows.package_lines(built.path)
    steps = [(r["case_id"], r["step_no"]) for r in lines["case_step"]]
    assert steps == sorted(steps) and steps[:11] == [("LY0000000000000", n) for n in range(1, 12)]
    assert [r["case_id"] for r in lines["case"]] == ["LY0000000000000", "LY0000000000001", "LY0000000000002"]
    assert lines["supervision_event"][0] == {
        "event_key": "CL01/UNIFIED/LY0000000000000",
        "rule": "CL01",
        "card": "YELLOW",
        "event_date": "2026-11-05",
        "dept_code": rows.DEPT,
        "power_type": "XK",
        "case_source_system": "UNIFIED",
        "case_id": "LY0000000000000",
        "complaint_id": None,
        "status": "ACTIVE",
    }
    # the payload goes out as stored, personal data included (§9: the prefecture is entitled to it)
    assert lines["case"][0]["applicant_id_no"] == "320481199001011234"

    for entity in rows.TABLES:
        assert set(wh.sent_in(entity)) == {1}
    [row] = _packages(wh.engine)
    assert row.state == "BUILT" and row.file_name == built.path.name
    assert row.manifest_sha256 == hashlib.sha256(body).hexdigest() == built.manifest_sha256
    assert row.bytes == built.path.stat().st_size
    assert row.record_counts == built.record_counts
    assert verify_package(built.path, keys.public_key_pem(), None) == []


def test_next_package_holds_exactly_the_changed_rows(wh, keys, store, now):
    wh.add_basic()
    first = build_package(wh.engine, keys, store, now=now)
    later = now + timedelta(hours=2)
    wh.replace("case", rows.case(1, version=2, at=later))
    wh.replace("case", rows.case(3, version=2, at=later))
    wh.replace("supervision_event", rows.supervision_event(0, status="WITHDRAWN", at=later))

    second = build_package(wh.engine, keys, store, now=later)

    assert second.sequence == 2
    assert second.record_counts == {"case": 2, "supervision_event": 1}
    lines = rows.package_lines(second.path)
    assert [(r["case_id"], r["version"]) for r in lines["case"]] == [("LY0000000000001", 2), ("LY0000000000003", 2)]
    assert [r["status"] for r in lines["supervision_event"]] == ["WITHDRAWN"]
    manifest = rows.manifest_of(second.path)
    assert manifest["previous_manifest_sha256"] == first.manifest_sha256
    assert manifest["created_at"] == "2026-11-06T12:00:00+08:00"
    assert verify_package(second.path, keys.public_key_pem(), first.path) == []
    assert Counter(wh.sent_in("case")) == {1: 3, 2: 2}


def test_a_package_remembers_the_load_batches_it_was_claimed_through(wh, keys, store, now):
    # SQLite: the next package looks up only rows of later batches. PostgreSQL records nothing:
    # concurrent loaders there commit batch ids out of order.
    wh.add_basic()
    build_package(wh.engine, keys, store, now=now)
    wh.replace("case", rows.case(2, version=2, at=now))
    second = build_package(wh.engine, keys, store, now=now)
    with wh.engine.connect() as conn:
        highest = conn.execute(select(func.max(ops_load_batch.c.batch_id))).scalar_one()
        first_row, second_row = wp.list_packages(conn)
    sqlite = wh.engine.dialect.name == "sqlite"
    assert first_row.loaded_through_batch_id == (highest - 1 if sqlite else None)
    assert second_row.loaded_through_batch_id == (highest if sqlite else None)
    assert second.record_counts == {"case": 1}
    assert build_package(wh.engine, keys, store, now=now) is None


@pytest.mark.parametrize("algorithm", ["Ed25519", "SM2-SM3"])
def test_crash_before_commit_rebuilds_the_same_bytes(wh, session_keys, store, now, monkeypatch, algorithm):
    keys = session_keys[algorithm]
    wh.add_basic()
    real_insert = wp.insert_package

    def crash(conn, row):
        raise RuntimeError("power cut")

    monkeypatch.setattr(wp, "insert_package", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        build_package(wh.engine, keys, store, now=now)
    left_behind = (store / "320481-320400-0000000001.zip").read_bytes()
    assert _packages(wh.engine) == []
    assert set(wh.sent_in("case")) == {None}  # the claim was rolled back

    monkeypatch.setattr(wp, "insert_package", real_insert)
    rebuilt = build_package(wh.engine, keys, store, now=now + timedelta(minutes=5))

    assert rebuilt.sequence == 1
    assert rebuilt.path.read_bytes() == left_behind
    assert sorted(p.name for p in store.iterdir()) == ["320481-320400-0000000001.zip"]
    assert verify_package(rebuilt.path, keys.public_key_pem(), None) == []


def test_a_warehouse_restored_from_an_older_backup_never_reuses_a_package_number(tmp_path, keys, store, now):
    database = tmp_path / "hub.sqlite"
    engine = make_engine(f"sqlite:///{database}")
    create_schema(engine)
    wh = rows.Warehouse(engine)
    wh.add_basic()
    build_package(engine, keys, store, now=now)
    backup = tmp_path / "backup.sqlite"
    with engine.connect() as conn:
        conn.exec_driver_sql(f"VACUUM INTO '{backup}'")
    wh.replace("case", rows.case(1, version=2, at=now + timedelta(minutes=30)))
    build_package(engine, keys, store, now=now)  # package 2, which the prefecture may hold already
    engine.dispose()
    second = store / "320481-320400-0000000002.zip"
    sent = second.read_bytes()

    def restore() -> rows.Warehouse:
        for leftover in (database, database.with_name("hub.sqlite-wal"), database.with_name("hub.sqlite-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copy(backup, database)
        return rows.Warehouse(make_engine(f"sqlite:///{database}"))

    wh = restore()
    wh.replace("case", rows.case(2, version=2, at=now + timedelta(minutes=40)))  # other content for number 2
    with pytest.raises(PackageStoreError) as raised:
        build_package(wh.engine, keys, store, now=now)
    message = raised.value.message
    assert "holds package(s) 2 that the warehouse does not record" in message
    assert "restored from an older backup" in message and "docs/exchange.md §3" in message
    assert second.read_bytes() == sent  # never replaced, never renamed
    assert sorted(p.name for p in store.iterdir()) == ["320481-320400-0000000001.zip", second.name]
    assert [p.sequence for p in _packages(wh.engine)] == [1]
    assert set(wh.sent_in("case")) == {1, None}  # the claim was rolled back
    wh.engine.dispose()

    wh = restore()  # nothing new since the backup: refused all the same, at once
    with pytest.raises(PackageStoreError, match="holds package"):
        build_package(wh.engine, keys, store, now=now)
    (store / "320481-320400-0000000003.zip").write_bytes(sent)  # a later number than the next one as well
    with pytest.raises(PackageStoreError, match=r"holds package\(s\) 2, 3 .* records package 3"):
        build_package(wh.engine, keys, store, now=now)
    assert second.read_bytes() == sent
    wh.engine.dispose()


def test_crash_while_writing_leaves_no_file_under_the_final_name(wh, keys, store, now, monkeypatch):
    wh.add_basic()
    real = wp.iter_rows

    def failing(conn, entity, **kw):
        yield from real(conn, entity, **kw)
        if entity == "case_step":
            raise ConnectionError("database went away")

    monkeypatch.setattr(wp, "iter_rows", failing)
    with pytest.raises(ConnectionError):
        build_package(wh.engine, keys, store, now=now)
    assert list(store.iterdir()) == []
    assert _packages(wh.engine) == []
    assert set(wh.sent_in("case_step")) == {None}


def test_every_record_version_goes_out_in_exactly_one_package(wh, keys, store, now):
    wh.add_basic(cases=4)
    build_package(wh.engine, keys, store, now=now)
    at = now + timedelta(hours=1)
    wh.replace("case", rows.case(0, version=2, at=at))
    wh.add("case", [rows.case(10, at=at), rows.case(11, at=at)])
    wh.replace("department", rows.department(1, version=2, at=at))
    build_package(wh.engine, keys, store, now=at)
    assert build_package(wh.engine, keys, store, now=at) is None
    at = now + timedelta(hours=2)
    wh.replace("case", rows.case(0, version=3, at=at))
    wh.replace("case", rows.case(10, version=2, at=at))
    wh.replace("case_step", rows.case_step(2, 1, version=2, at=at))
    build_package(wh.engine, keys, store, now=at)

    packages = _packages(wh.engine)
    assert [p.sequence for p in packages] == [1, 2, 3]
    sent = Counter()
    latest: dict[tuple, int] = {}
    previous = None
    for package in packages:
        path = store / package.file_name
        assert verify_package(path, keys.public_key_pem(), previous) == []
        previous = path
        for entity, records in rows.package_lines(path).items():
            for record in records:
                key = (
                    entity,
                    record.get("event_key") or record.get("dept_code"),
                    record.get("case_id"),
                    record.get("step_no"),
                    record.get("power_code"),
                    record.get("complaint_id"),
                )
                sent[(key, record.get("version"))] += 1
                latest[key] = max(latest.get(key, 0), record.get("version") or 0)
    assert set(sent.values()) == {1}  # no record version twice
    assert latest[("case", None, "LY0000000000000", None, None, None)] == 3
    assert latest[("case", None, "LY0000000000010", None, None, None)] == 2
    assert latest[("case_step", None, "LY0000000000002", 1, None, None)] == 2
    assert latest[("department", "11320481000000001X", None, None, None, None)] == 2
    # every current version is packaged: nothing is pending any more
    with wh.engine.connect() as conn:
        assert set(wp.pending_counts(conn).values()) == {0}


def test_a_row_changed_during_packaging_is_sent_again(wh, keys, store, now, monkeypatch):
    """A loader commits a newer version while the package is being built: the package carries the
    version that was current when it started, and the newer one is pending for the next package."""
    wh.add_basic()
    engine = wh.engine
    real = wp.last_package
    state: dict = {}

    def loader() -> None:
        wh.replace("case", rows.case(1, version=2))

    def loader_runs_during_the_build(conn):
        thread = threading.Thread(target=loader)
        thread.start()
        state["thread"] = thread
        _let_the_loader_run(engine, thread)
        return real(conn)

    monkeypatch.setattr(wp, "last_package", loader_runs_during_the_build)
    first = build_package(engine, keys, store, now=now)
    state["thread"].join(60)
    monkeypatch.setattr(wp, "last_package", real)

    assert first.record_counts["case"] == 5
    assert [r["version"] for r in rows.package_lines(first.path)["case"] if r["case_id"] == "LY0000000000001"] == [1]
    with engine.connect() as conn:
        assert {e: n for e, n in wp.pending_counts(conn).items() if n} == {"case": 1}
    second = build_package(engine, keys, store, now=now)
    assert second.record_counts == {"case": 1}
    assert rows.package_lines(second.path)["case"][0]["version"] == 2


def _let_the_loader_run(engine, thread) -> None:
    """PostgreSQL: nothing makes the loader wait for the builder, so its commit lands in the middle of
    the build. SQLite: the builder holds the only write lock, so the loader waits for it (give it a
    moment to start waiting)."""
    if engine.dialect.name == "postgresql":
        thread.join(60)
        assert not thread.is_alive(), "the loader was blocked by the package build"
    else:
        time.sleep(0.3)


def test_a_builder_that_waited_for_another_sees_its_package(wh, keys, store, now, monkeypatch):
    """Two builders at once: the second waits for the first and then finds nothing left to send."""
    wh.add_basic()
    engine = wh.engine
    real = wp.last_package
    state: dict = {}

    def second_builder() -> None:
        state["second"] = build_package(engine, keys, store, now=now)

    def second_starts_during_the_build(conn):
        if "thread" not in state:
            state["thread"] = threading.Thread(target=second_builder)
            state["thread"].start()
            _wait_for_the_packaging_lock(engine)
        return real(conn)

    monkeypatch.setattr(wp, "last_package", second_starts_during_the_build)
    first = build_package(engine, keys, store, now=now)
    state["thread"].join(60)

    assert first.sequence == 1
    assert state["second"] is None
    assert [p.sequence for p in _packages(engine)] == [1]


def test_a_build_stuck_behind_a_frozen_session_gives_up_naming_it(wh, keys, store, now, monkeypatch):
    if wh.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's write lock waits its busy timeout, then says the database is locked")
    wh.add_basic()
    monkeypatch.setattr(wp, "PACKAGING_LOCK_WAIT_S", 1)
    with wh.engine.connect() as frozen:  # a session that took the lock and hangs
        frozen.execute(text("SELECT pg_advisory_lock(3204813204)"))
        pid = frozen.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with pytest.raises(wp.PackagingBusy, match=f"backend pid {pid} from") as err:
            build_package(wh.engine, keys, store, now=now)
        assert "over 1 s" in err.value.message
        frozen.execute(text("SELECT pg_advisory_unlock(3204813204)"))
        frozen.commit()
    assert build_package(wh.engine, keys, store, now=now).sequence == 1  # and the next cycle builds
    with wh.engine.connect() as conn:
        assert conn.execute(text("SHOW lock_timeout")).scalar_one() == "0"  # not left on pooled sessions


def _wait_for_the_packaging_lock(engine) -> None:
    """Until a builder waits for the packaging lock (PostgreSQL tells; SQLite cannot)."""
    if engine.dialect.name != "postgresql":
        time.sleep(0.3)
        return
    with engine.connect() as conn:
        for _ in range(200):
            query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"
            if conn.execute(text(query)).scalar_one():
                return
            conn.rollback()  # pg_stat_activity stays the same within one transaction
            time.sleep(0.05)
    raise AssertionError("the second builder never waited for the packaging lock")


def test_created_at_never_goes_back(wh, keys, store, now):
    wh.add("case", [rows.case(1, at=now)])
    build_package(wh.engine, keys, store, now=now)
    # a late record with an older updated_at
    wh.add("case", [rows.case(2, at=now - timedelta(days=2))])
    second = build_package(wh.engine, keys, store, now=now + timedelta(hours=1))
    assert rows.manifest_of(second.path)["created_at"] == "2026-11-06T10:00:00+08:00"
    with wh.engine.connect() as conn:
        stored = conn.execute(select(ops_package.c.created_at).where(ops_package.c.sequence == 2)).scalar_one()
    assert stored == second.created_at


def test_sm2_package_verifies(lite, session_keys, store, now):
    keys = session_keys["SM2-SM3"]
    lite.add_basic()
    built = build_package(lite.engine, keys, store, now=now)
    assert rows.manifest_of(built.path)["signature"] == {"algorithm": "SM2-SM3", "key_id": keys.key_id}
    assert verify_package(built.path, keys.public_key_pem(), None) == []
    assert verify_package(built.path, session_keys["Ed25519"].public_key_pem(), None) == [
        "签名算法与公钥不符 / manifest says SM2-SM3 but the public key is Ed25519 (wrong key)"
    ]


def test_claim_and_read_must_agree(wh, keys, store, now, monkeypatch):
    """If the rows marked and the rows written ever differed, nothing is recorded or published."""
    wh.add_basic()
    real = wp.claim_pending

    def miscounting(conn, sequence, entities=None):
        counts = real(conn, sequence, entities)
        counts["case"] += 1
        return counts

    monkeypatch.setattr(wp, "claim_pending", miscounting)
    with pytest.raises(PackageStoreError, match="claimed"):
        build_package(wh.engine, keys, store, now=now)
    assert list(store.iterdir()) == []
    assert _packages(wh.engine) == []
    assert set(wh.sent_in("case")) == {None}


def test_in_memory_sqlite_builds_the_plain_way(keys, store, now):
    engine = make_engine("sqlite://")
    create_schema(engine)
    wh = rows.Warehouse(engine)
    wh.add_basic()
    built = build_package(engine, keys, store, now=now)
    assert built.record_counts["case"] == 5
    assert verify_package(built.path, keys.public_key_pem(), None) == []
    assert build_package(engine, keys, store, now=now) is None
