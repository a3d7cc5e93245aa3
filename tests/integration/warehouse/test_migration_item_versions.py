"""Migration 0006: item versions keep what a case is judged by; the current ones are filled in."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from alembic import command
from sqlalchemy import text

from warehouse.db import make_engine
from warehouse.migrations import alembic_config, upgrade_to_head

AT = "2026-05-01 01:00:00"
ITEM = (
    "INSERT INTO dim_power_item (power_code, name, power_type, dept_code, legal_basis, legal_limit, promised_limit,"
    " time_unit, fee, penalty_min, penalty_max, flow, state, source_system, version, updated_at, payload,"
    " payload_sha256, batch_id) VALUES ('XK3204810010002000', '事项2', 'XK', '11320481466000002C', '法', 20, 3,"
    " 'WD', 150.00, NULL, NULL, '[\"SL\", \"SH\", \"BJ\"]', 'A', 'UNIFIED', 2, :at, '{}', :sha, 1)"
)
HISTORY = (
    "INSERT INTO dim_power_item_history (power_code, version, state, dept_code, promised_limit, valid_from_at)"
    " VALUES ('XK3204810010002000', :version, 'A', '11320481466000002C', 3, :at)"
)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_upgrading_fills_the_current_version_of_each_item_and_leaves_older_ones_empty(
    dialect, tmp_path, request
) -> None:
    if dialect == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    else:
        engine = make_engine(request.getfixturevalue("pg_url"), schema=request.getfixturevalue("pg_schema"))
    try:
        command.upgrade(alembic_config(engine), "0005")
        with engine.begin() as conn:
            conn.execute(text(ITEM), {"at": AT, "sha": "a" * 64})
            conn.execute(text(HISTORY), {"version": 1, "at": "2026-01-01 01:00:00"})
            conn.execute(text(HISTORY), {"version": 2, "at": AT})
        upgrade_to_head(engine)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT version, power_type, time_unit, fee, flow FROM dim_power_item_history ORDER BY version")
            ).all()
        version_1, version_2 = (tuple(row) for row in rows)
        assert version_1 == (1, None, None, None, None)  # not known any more: supervision does not use it
        assert version_2[:4] == (2, "XK", "WD", Decimal("150.00"))
        flow = version_2[4]  # JSON: a list from PostgreSQL, its text from SQLite through a plain query
        assert (json.loads(flow) if isinstance(flow, str) else flow) == ["SL", "SH", "BJ"]
        command.downgrade(alembic_config(engine), "0005")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM dim_power_item_history")).scalar_one() == 2
    finally:
        engine.dispose()
