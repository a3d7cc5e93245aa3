"""The cases a cycle finds in the warehouse are what later steps are checked against (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
from sqlalchemy import Engine, insert

from sanheyi.references import ReferenceCache
from warehouse.tables import fct_case

RECEIVED = datetime(2026, 11, 2, 1, 30, 15, 250000, tzinfo=UTC)  # 09:30:15.25 in Liyang


def _stored_case(case_id: str, received_at: datetime, system: str = "UNIFIED") -> dict:
    return dict(
        source_system=system,
        case_id=case_id,
        power_code="XK3204810120001000",
        dept_code="11320481014000000K",
        applicant_type="1",
        applicant_name="测试申请人",
        applicant_id_type="SFZ",
        applicant_id_no="320481199001011234",
        channel="2",
        received_at=received_at,
        promised_limit=10,
        status="IN_PROGRESS",
        fee_paid=Decimal("0"),
        version=1,
        updated_at=received_at,
        payload="{}",
        payload_sha256="0" * 64,
        batch_id=1,
    )


def test_the_cases_of_earlier_cycles_are_known_with_their_received_time(warehouse_engine: Engine) -> None:
    with warehouse_engine.begin() as conn:
        conn.execute(
            insert(fct_case),
            [
                _stored_case("LY3204810000001", RECEIVED),
                _stored_case("LY3204810000002", RECEIVED.replace(microsecond=0)),
                _stored_case("LY3204810000001", RECEIVED, system="SELF_GA"),
            ],
        )
    cases = ReferenceCache(warehouse_engine).for_system(None).cases
    known = {(s, c): t for s, c, t in zip(cases["source_system"], cases["case_id"], cases["received_at"], strict=True)}
    assert known == {
        ("UNIFIED", "LY3204810000001"): pd.Timestamp(RECEIVED),
        ("UNIFIED", "LY3204810000002"): pd.Timestamp(RECEIVED.replace(microsecond=0)),
        ("SELF_GA", "LY3204810000001"): pd.Timestamp(RECEIVED),
    }


def test_a_case_loaded_in_this_cycle_joins_the_known_cases_once(warehouse_engine: Engine) -> None:
    with warehouse_engine.begin() as conn:
        conn.execute(insert(fct_case), [_stored_case("LY3204810000001", RECEIVED)])
    references = ReferenceCache(warehouse_engine)
    later = pd.Timestamp(RECEIVED) + pd.Timedelta(days=1)
    references.add_loaded(
        "case",
        pd.DataFrame(
            {
                "source_system": ["UNIFIED", "UNIFIED"],
                "case_id": ["LY3204810000001", "LY3204810000003"],
                "received_at": [later, later],
            }
        ),
    )
    cases = references.for_system(None).cases
    assert sorted(zip(cases["case_id"], cases["received_at"], strict=True)) == [
        ("LY3204810000001", later),  # the version loaded last wins
        ("LY3204810000003", later),
    ]


def test_an_empty_warehouse_knows_no_case(warehouse_engine: Engine) -> None:
    assert ReferenceCache(warehouse_engine).for_system(None).cases.empty
