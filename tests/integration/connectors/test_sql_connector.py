"""The 前置库 connector on the published DDL: SQLite files and the real PostgreSQL server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from selfbuilt_helpers import FAST

from connectors.credentials import Credential
from connectors.remote import RetryPolicy, SourceProtocolError, SourceUnavailableError
from connectors.sql_view import SqlViewConnector, render_exchange_ddl
from simulators.sql_source import PUBLISHED_DDL, create_exchange_views, fill, upsert_records

ENTITIES = ("case", "case_step")


@pytest.fixture
def sqlite_source(tmp_path: Path, ga_folder: Path):
    url = f"sqlite:///{tmp_path / 'qianzhiku.sqlite'}"
    engine = sa.create_engine(url)
    create_exchange_views(engine)
    fill(engine, ga_folder)
    yield url, engine
    engine.dispose()


def _records(connector: SqlViewConnector, cursor=None) -> tuple[list[dict], dict | None]:
    batches = list(connector.read(cursor))
    return [json.loads(raw) for b in batches for raw in b.raw], (batches[-1].next_cursor if batches else cursor)


def test_the_published_ddl_is_the_generated_one():
    assert PUBLISHED_DDL.read_text(encoding="utf-8") == render_exchange_ddl()


def test_full_read_renders_the_standard_records(sqlite_source, ga_folder):
    url, _ = sqlite_source
    records, cursor = _records(SqlViewConnector("SELF_GA", url, None, entities=ENTITIES, policy=FAST))
    assert len(records) == 28
    source = {
        (r["case_id"], r.get("step_no")): r
        for e in ENTITIES
        for r in map(json.loads, (ga_folder / f"{e}.20261125.jsonl").read_text().splitlines())
    }
    for record in records:
        original = source[(record["case_id"], record.get("step_no"))]
        assert record.keys() == original.keys()
        # Instants come back as the same instant in +08:00; money with two places.
        for name, value in original.items():
            if name.endswith("_at") and value is not None:
                assert record[name].endswith("+08:00")
                assert _instant(record[name]) == _instant(value)
            elif name in ("fee_paid", "penalty_amount") and value is not None:
                assert float(record[name]) == float(value) and record[name].count(".") == 1
            else:
                assert record[name] == value, name
    assert cursor["case"]["key"] == ["SELF_GA", "LY3204810000024"]


def _instant(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


def test_paging_over_equal_updated_at_values_loses_nothing(sqlite_source):
    url, engine = sqlite_source
    # Ten steps written in the same instant: pages of 3 split them, keyset paging must not skip any.
    steps = [
        {
            "source_system": "SELF_GA", "case_id": "LY3204810000099", "step_no": n, "step_code": "SH",
            "handler_id": "G1", "handler_name": "经办人", "started_at": "2026-10-20T09:00:00+08:00",
            "finished_at": None, "opinion": None, "version": 1, "updated_at": "2026-10-20T10:00:00+08:00",
        }
        for n in range(1, 11)
    ]  # fmt: skip
    upsert_records(engine, "case_step", steps)
    unpaged, _ = _records(SqlViewConnector("SELF_GA", url, None, entities=ENTITIES, page_size=1000))
    for size in (1, 3):
        paged, _ = _records(SqlViewConnector("SELF_GA", url, None, entities=ENTITIES, page_size=size))
        assert paged == unpaged
    assert len(unpaged) == 38


def test_incremental_read_with_look_back(sqlite_source):
    url, engine = sqlite_source
    connector = SqlViewConnector("SELF_GA", url, None, entities=ENTITIES, page_size=5)
    _, cursor = _records(connector)
    again, _ = _records(connector, cursor)
    assert {r["case_id"] for r in again} == {"LY3204810000024"}  # inside the 5-minute look-back only
    latest = next(r for r in again if "step_no" not in r)
    upsert_records(engine, "case", [dict(latest, version=2, updated_at="2026-10-16T09:41:24+08:00", result_note="x")])
    upsert_records(engine, "case", [dict(latest, case_id="LY3204810000098", updated_at="2026-10-16T09:39:00+08:00")])
    third, _ = _records(connector, cursor)
    assert {(r["case_id"], r["version"]) for r in third if "step_no" not in r} == {
        ("LY3204810000024", 2),
        ("LY3204810000098", 1),
    }
    assert _records(connector, connector.cursor_at(_instant("2030-01-01T00:00:00+00:00")))[0] == []


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every statement any engine sends to its database while the test runs."""
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)


def test_a_missing_view_is_a_protocol_error_and_not_retried(tmp_path: Path, statements: list[str]):
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    with pytest.raises(SourceProtocolError, match="has no view v_sanheyi_case"):
        _records(SqlViewConnector("SELF_GA", url, None, entities=ENTITIES, policy=FAST))
    assert len([s for s in statements if "v_sanheyi_case" in s]) == 1  # asking again cannot create the view


def test_a_database_that_is_down_is_retried_then_reported_without_the_password():
    secret = "pg-Secr3t-91xz-never-shown"
    connector = SqlViewConnector(
        "SELF_GA",
        "postgresql+psycopg://hub@127.0.0.1:1/qzk",
        Credential("GA_QZK", password=secret),
        entities=ENTITIES,
        policy=RetryPolicy(attempts=2, backoff_initial_s=0.01, connect_timeout_s=1),
    )
    with pytest.raises(SourceUnavailableError) as caught:
        _records(connector)
    assert "source SELF_GA unavailable (reading case page 1, 2 attempts): 数据库暂不可用 / database unavailable" in (
        caught.value.message
    )
    assert secret not in caught.value.message


def test_postgresql_exchange_views(pg_url: str, pg_schema: str, pg_warehouse_url: str, ga_folder: Path):
    admin = sa.create_engine(pg_url)
    try:
        create_exchange_views(admin, schema=pg_schema)
        assert fill(admin, ga_folder, schema=pg_schema) == {"case": 8, "case_step": 20}
        address = pg_warehouse_url  # the server, with the test's schema as search_path
        connector = SqlViewConnector("SELF_GA", address, Credential("GA_QZK", password="unused-by-trust-auth"),
                                     entities=ENTITIES, page_size=3, policy=FAST)  # fmt: skip
        records, cursor = _records(connector)
        assert len(records) == 28
        assert records[0]["received_at"].endswith("+08:00")
        again, _ = _records(connector, cursor)
        assert {r["case_id"] for r in again} == {"LY3204810000024"}
        # The hub's session is read-only.
        with connector._db().connect() as conn:  # noqa: SLF001
            with pytest.raises(sa.exc.DBAPIError, match="read-only"):
                conn.execute(sa.text("DELETE FROM sanheyi_case"))
        connector.close()
    finally:
        admin.dispose()
