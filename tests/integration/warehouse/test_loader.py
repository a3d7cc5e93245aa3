"""The version-aware upsert of §4 against the real SQLite and PostgreSQL warehouses."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC
from decimal import Decimal

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from warehouse import loader, packages
from warehouse.db import create_schema, make_engine
from warehouse.loader import rows_to_stage, upsert_records
from warehouse.staging import batch_transaction, stage_rows
from warehouse.tables import dim_department, dim_power_item, dim_power_item_history


def department(code: int, version: int, name: str = "溧阳市测试局") -> dict:
    record = {
        "dept_code": f"1132048146600{code:05d}",
        "name": name,
        "source_system": "UNIFIED",
        "version": version,
        "updated_at": f"2026-05-0{version}T09:00:00+08:00",
    }
    payload = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    return {
        **record,
        "updated_at": pd.Timestamp(record["updated_at"]).tz_convert("UTC"),
        "payload": payload,
        "payload_sha256": hashlib.sha256(payload.encode()).hexdigest(),
    }


def frame(*records: dict) -> pd.DataFrame:
    result = pd.DataFrame(list(records))
    result["_line"] = range(1, len(result) + 1)
    return result


def load(engine: Engine, batch_id: int, *records: dict):
    """As the ingest loads: on SQLite through a staging file (without it, see the two-loads test)."""
    rows = frame(*records)
    staged = stage_rows(rows_to_stage("department", rows)) if engine.dialect.name == "sqlite" else None
    with batch_transaction(engine, staged) as conn:
        return upsert_records(conn, "department", rows, batch_id, staged=staged)


def stored(engine: Engine) -> dict[str, tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(dim_department.c.dept_code, dim_department.c.version, dim_department.c.name))
        return {code: (version, name) for code, version, name in rows}


def test_highest_version_wins_and_every_record_is_counted(warehouse_engine: Engine) -> None:
    result = load(
        warehouse_engine,
        1,
        department(1, 1),
        department(2, 1),
        department(2, 1),  # exact duplicate in the batch
        department(3, 2),
        department(3, 1),  # an older version after a newer one: stale
        department(4, 1, "甲"),
        department(4, 1, "乙"),
    )  # same version, other content: conflict
    assert (result.loaded, result.duplicate, result.stale, len(result.conflicts)) == (4, 1, 1, 1)
    assert result.conflicts.iloc[0]["name"] == "乙"  # the first arrival stays, the later one is quarantined
    assert stored(warehouse_engine)["113204814660000003"] == (2, "溧阳市测试局")

    second = load(
        warehouse_engine, 2, department(1, 1), department(2, 2, "新名称"), department(3, 1), department(4, 1, "丙")
    )
    assert (second.loaded, second.duplicate, second.stale, len(second.conflicts)) == (1, 1, 1, 1)
    assert stored(warehouse_engine)["113204814660000002"] == (2, "新名称")
    assert stored(warehouse_engine)["113204814660000004"] == (1, "甲")


def test_two_loads_in_one_transaction_both_follow_the_version_rules(warehouse_engine: Engine) -> None:
    # on SQLite both are staged through the connection, as callers other than the ingest load
    with warehouse_engine.begin() as conn:
        first = upsert_records(conn, "department", frame(department(1, 1), department(2, 1)), 1)
        second = upsert_records(
            conn, "department", frame(department(1, 2, "新名称"), department(2, 1), department(3, 1)), 2
        )
    assert (first.loaded, second.loaded, second.duplicate) == (2, 2, 1)
    assert stored(warehouse_engine) == {
        "113204814660000001": (2, "新名称"),
        "113204814660000002": (1, "溧阳市测试局"),
        "113204814660000003": (1, "溧阳市测试局"),
    }


def test_new_keys_before_a_stored_one_are_loaded_once_beside_its_newer_version(warehouse_engine: Engine) -> None:
    # PostgreSQL first copies the batch as if every key were new: the stored key, last, makes that
    # copy fail after the new ones went in, and the batch is loaded the general way instead
    load(warehouse_engine, 1, department(1, 1))
    result = load(warehouse_engine, 2, department(5, 1), department(6, 1), department(1, 2, "新名称"))
    assert (result.loaded, result.duplicate, result.stale, len(result.conflicts)) == (3, 0, 0, 0)
    assert stored(warehouse_engine) == {
        "113204814660000001": (2, "新名称"),
        "113204814660000005": (1, "溧阳市测试局"),
        "113204814660000006": (1, "溧阳市测试局"),
    }
    with warehouse_engine.connect() as conn:
        assert set(conn.execute(select(dim_department.c.batch_id)).scalars()) == {2}


def _pending_departments(engine: Engine) -> int:
    with engine.connect() as conn:
        return packages.pending_counts(conn)["department"]


def test_a_newer_version_is_pending_for_the_next_package(warehouse_engine: Engine) -> None:
    load(warehouse_engine, 1, department(1, 1))
    assert _pending_departments(warehouse_engine) == 1
    with warehouse_engine.begin() as conn:
        assert packages.claim_pending(conn, 1) == {"department": 1}
    assert _pending_departments(warehouse_engine) == 0
    load(warehouse_engine, 2, department(1, 1))  # a duplicate changes nothing
    assert _pending_departments(warehouse_engine) == 0
    load(warehouse_engine, 3, department(1, 2, "改名"))
    assert _pending_departments(warehouse_engine) == 1
    with warehouse_engine.connect() as conn:
        assert conn.execute(select(dim_department.c.batch_id)).scalar_one() == 3
        [pending] = packages.iter_rows(conn, "department", sequence=None)
    assert [json.loads(p)["name"] for p in pending.payloads] == ["改名"]


def test_a_failed_batch_leaves_the_warehouse_as_it_was(warehouse_engine: Engine) -> None:
    load(warehouse_engine, 1, department(1, 1))
    with pytest.raises(RuntimeError), warehouse_engine.begin() as conn:
        upsert_records(conn, "department", frame(department(1, 2, "半途"), department(5, 1)), 2)
        raise RuntimeError("crash after the upsert, before commit")
    assert stored(warehouse_engine) == {"113204814660000001": (1, "溧阳市测试局")}


def test_instants_round_trip_in_utc(warehouse_engine: Engine) -> None:
    load(warehouse_engine, 1, department(1, 1))
    with warehouse_engine.connect() as conn:
        updated = conn.execute(select(dim_department.c.updated_at)).scalar_one()
    assert updated.isoformat() == "2026-05-01T01:00:00+00:00"


def test_power_item_versions_are_kept_as_history(warehouse_engine: Engine) -> None:
    def item(version: int, state: str) -> dict:
        record = {
            "power_code": "XK3204810010001000",
            "name": "食品经营许可",
            "power_type": "XK",
            "dept_code": "11320481466000002C",
            "legal_basis": "《行政许可法》",
            "legal_limit": 20,
            "promised_limit": 5,
            "time_unit": "WD",
            "fee": None,
            "penalty_min": None,
            "penalty_max": None,
            "flow": ["SL", "SH", "PZ", "BJ"],
            "state": state,
            "source_system": "UNIFIED",
            "version": version,
            "updated_at": pd.Timestamp(f"2026-0{version}-01T09:00:00+08:00").tz_convert("UTC"),
        }
        payload = json.dumps({**record, "updated_at": str(version)}, ensure_ascii=False)
        return {**record, "payload": payload, "payload_sha256": hashlib.sha256(payload.encode()).hexdigest()}

    for batch_id, version, state in ((1, 1, "A"), (2, 2, "T")):
        with warehouse_engine.begin() as conn:
            upsert_records(conn, "power_item", frame(item(version, state)), batch_id)
    with warehouse_engine.connect() as conn:
        history = conn.execute(
            select(dim_power_item_history.c.version, dim_power_item_history.c.state).order_by(
                dim_power_item_history.c.version
            )
        ).all()
    assert history == [(1, "A"), (2, "T")]


def test_a_batch_larger_than_one_copy_slice_loads_every_record(warehouse_engine: Engine) -> None:
    records = [department(code, 1, f"部门{code}") for code in range(1, 20_001)]  # PostgreSQL sends 8,192 per slice
    result = load(warehouse_engine, 1, *records)
    assert result.loaded == 20_000
    got = stored(warehouse_engine)
    assert len(got) == 20_000
    assert got[records[-1]["dept_code"]] == (1, "部门20000")


def test_every_kind_of_value_reads_back_as_validated(warehouse_engine: Engine) -> None:
    """Money to the fen, a missing amount and a missing limit as NULL, the flow as JSON, text with
    quotes, commas and a line break, and an instant to the microsecond (on PostgreSQL these travel in
    binary ``COPY``, each in the column's own type)."""
    updated_at = pd.Timestamp("2026-03-01T09:00:00.123456+08:00")
    record = {
        "power_code": "CF3204810010001000",
        "name": '对"无证经营"的处罚，\n含罚款',
        "power_type": "CF",
        "dept_code": "11320481466000002C",
        "legal_basis": "《行政处罚法》第二十八条",
        "legal_limit": None,
        "promised_limit": 15,
        "time_unit": "WD",
        "fee": "12.50",
        "penalty_min": "200",
        "penalty_max": None,
        "flow": ["SL", "DC", "JD", "SD"],
        "state": "A",
        "source_system": "UNIFIED",
        "version": 7,
        "updated_at": updated_at.tz_convert("UTC"),
        "payload": "{}",
        "payload_sha256": "0" * 64,
    }
    with warehouse_engine.begin() as conn:
        upsert_records(conn, "power_item", frame(record), 42)
    with warehouse_engine.connect() as conn:
        row = conn.execute(select(dim_power_item)).one()._asdict()
    assert row == {
        **record,
        "legal_limit": None,
        "fee": Decimal("12.50"),
        "penalty_min": Decimal("200.00"),
        "penalty_max": None,
        "updated_at": updated_at.to_pydatetime().astimezone(UTC),
        "batch_id": 42,
    }


def test_postgres_new_keys_stored_meanwhile_by_another_loader_still_follow_the_version_rules(
    pg_warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys that were not stored when looked up are copied straight in; if another loader stored one
    since, the copy is undone and the whole batch takes the upsert: the highest version still wins."""
    engine = make_engine(pg_warehouse_url)
    create_schema(engine)
    try:
        load(engine, 1, department(1, 2, "已入库的新版本"), department(2, 1), department(4, 1, "已入库的内容"))
        # the first lookup misses what the other loader committed in between
        lookups: list[object] = []
        real_lookup = loader._stored_versions_staged

        def missing_at_first(*args):  # type: ignore[no-untyped-def]
            lookups.append(args)
            return pd.DataFrame() if len(lookups) == 1 else real_lookup(*args)

        monkeypatch.setattr(loader, "_stored_versions_staged", missing_at_first)
        result = load(
            engine,
            2,
            department(1, 1, "旧版本"),
            department(2, 3, "更新"),
            department(3, 1),
            department(4, 1, "同一版本的另一内容"),
        )
        assert stored(engine) == {
            department(1, 2)["dept_code"]: (2, "已入库的新版本"),  # the stored newer version is kept
            department(2, 1)["dept_code"]: (3, "更新"),
            department(3, 1)["dept_code"]: (1, "溧阳市测试局"),
            department(4, 1)["dept_code"]: (1, "已入库的内容"),
        }
        # what the upsert did not write is counted against what the other loader stored: the older
        # record stale, the same version with other content a conflict to quarantine; not loaded
        assert (result.loaded, result.stale, result.duplicate) == (2, 1, 0)
        assert list(result.conflicts["name"]) == ["同一版本的另一内容"]
        assert sorted(result.loaded_rows["dept_code"]) == [department(2, 1)["dept_code"], department(3, 1)["dept_code"]]
    finally:
        engine.dispose()
