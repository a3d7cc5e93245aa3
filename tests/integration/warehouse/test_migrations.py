"""The Alembic migrations build exactly the schema the code uses, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.dialects import postgresql

from schemas.errors import FatalError
from warehouse import packages as wp
from warehouse.db import make_engine
from warehouse.migrations import alembic_config, is_up_to_date, upgrade_to_head
from warehouse.tables import CASE_FILLFACTOR, STEP_FILLFACTOR, metadata, ops_exchange_sent


def _differences(engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), metadata)


def test_sqlite_migrations_match_the_tables(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    upgrade_to_head(engine)
    upgrade_to_head(engine)  # running again is a no-op
    assert set(inspect(engine).get_table_names()) >= set(metadata.tables)
    assert _differences(engine) == []
    engine.dispose()


def test_postgres_migrations_match_the_tables(pg_url: str, pg_schema: str) -> None:
    engine = make_engine(pg_url, schema=pg_schema)
    upgrade_to_head(engine)
    assert _differences(engine) == []
    engine.dispose()


def _byte_order_columns_in_metadata() -> set[tuple[str, str]]:
    dialect = postgresql.dialect()
    return {
        (table.name, column.name)
        for table in metadata.tables.values()
        for column in table.columns
        if getattr(column.type.dialect_impl(dialect), "collation", None) == "C"
    }


def _catalogue(engine, sql: str) -> list[tuple[str, str]]:
    """Pairs read from PostgreSQL's catalogue about the current schema."""
    with engine.connect() as conn:
        return [(first, second) for first, second in conn.execute(text(sql))]


def _byte_order_columns_in_database(engine) -> set[tuple[str, str]]:
    return set(
        _catalogue(
            engine,
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND collation_name = 'C'",
        )
    )


def test_postgres_keys_are_compared_byte_for_byte(pg_url: str, pg_schema: str) -> None:
    """Codes, identifiers and keys are COLLATE "C" after the migrations (what `sanheyi init` runs), and
    exactly those: names and notes keep the database's collation."""
    engine = make_engine(pg_url, schema=pg_schema)
    upgrade_to_head(engine)
    expected = _byte_order_columns_in_metadata()
    assert ("fct_case_step", "case_id") in expected
    assert ("ops_exchange_sent", "record_key") in expected
    assert ("fct_case", "applicant_name") not in expected
    assert _byte_order_columns_in_database(engine) == expected
    command.downgrade(alembic_config(engine), "0003")
    assert _byte_order_columns_in_database(engine) == set()
    engine.dispose()


def test_postgres_upgrade_names_the_views_that_block_it(pg_url: str, pg_schema: str) -> None:
    """A view reading a key column blocks the collation change: the upgrade stops before altering
    anything and names the view; once it is dropped the upgrade goes through. A view that reads only
    names does not block."""
    engine = make_engine(pg_url, schema=pg_schema)
    command.upgrade(alembic_config(engine), "0003")
    with engine.begin() as conn:
        conn.execute(
            text("CREATE VIEW cases_by_department AS SELECT dept_code, count(*) AS n FROM fct_case GROUP BY 1")
        )
        conn.execute(text("CREATE VIEW applicant_names AS SELECT applicant_name FROM fct_case"))
    with pytest.raises(FatalError, match=rf"{pg_schema}\.cases_by_department\. Save their definitions") as raised:
        upgrade_to_head(engine)
    assert "applicant_names" not in raised.value.message
    assert not is_up_to_date(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP VIEW cases_by_department"))
    upgrade_to_head(engine)
    assert is_up_to_date(engine)
    engine.dispose()


def _fillfactors_in_database(engine) -> dict[str, str]:
    rows = _catalogue(
        engine,
        "SELECT relname, option FROM pg_class, unnest(reloptions) AS option"
        " WHERE relnamespace = current_schema()::regnamespace AND option LIKE 'fillfactor=%'",
    )
    return {table: option.removeprefix("fillfactor=") for table, option in rows}


def test_postgres_case_and_step_pages_keep_room_for_new_versions(pg_url: str, pg_schema: str) -> None:
    """After the migrations fct_case and fct_case_step are filled to the percent the tables declare,
    and no other table is, so a record's next version can go on its page; the downgrade fills pages
    whole again."""
    engine = make_engine(pg_url, schema=pg_schema)
    upgrade_to_head(engine)
    declared = {
        table.name: str(table.dialect_options["postgresql"]["with"]["fillfactor"])
        for table in metadata.tables.values()
        if table.dialect_options["postgresql"]["with"]
    }
    assert declared == {"fct_case": str(CASE_FILLFACTOR), "fct_case_step": str(STEP_FILLFACTOR)}
    assert _fillfactors_in_database(engine) == declared
    command.downgrade(alembic_config(engine), "0004")
    assert _fillfactors_in_database(engine) == {}
    engine.dispose()


def _warehouse_at_0001(engine) -> None:
    """A warehouse as release 0001 left it: one department and two steps sent (packages 1 and 2),
    one department and one step pending."""
    command.upgrade(alembic_config(engine), "0001")
    at = "2026-11-06 02:00:00"
    with engine.begin() as conn:
        for code, sha, seq in [("113204810000000001", "a" * 64, 1), ("113204810000000002", "b" * 64, None)]:
            conn.execute(
                text(
                    "INSERT INTO dim_department (dept_code, name, source_system, version, updated_at, payload,"
                    " payload_sha256, batch_id, exchange_seq) VALUES (:code, '部门', 'UNIFIED', 1, :at, '{}', :sha, 1,"
                    " :seq)"
                ),
                {"code": code, "at": at, "sha": sha, "seq": seq},
            )
        for step_no, sha, seq in [(1, "c" * 64, 2), (2, "d" * 64, None), (10, "e" * 64, 2)]:
            conn.execute(
                text(
                    "INSERT INTO fct_case_step (source_system, case_id, step_no, step_code, handler_id, handler_name,"
                    " started_at, version, updated_at, payload, payload_sha256, batch_id, exchange_seq)"
                    " VALUES ('UNIFIED', 'LY3204810000001', :no, 'SL', 'H1', '经办人', :at, 1, :at, '{}', :sha, 1,"
                    " :seq)"
                ),
                {"no": step_no, "at": at, "sha": sha, "seq": seq},
            )


def _engine(dialect: str, tmp_path, request):
    if dialect == "sqlite":
        return make_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    return make_engine(request.getfixturevalue("pg_url"), schema=request.getfixturevalue("pg_schema"))


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_upgrading_a_0001_warehouse_keeps_what_was_sent(dialect, tmp_path, request) -> None:
    engine = _engine(dialect, tmp_path, request)
    _warehouse_at_0001(engine)
    upgrade_to_head(engine)  # what `sanheyi init` runs
    assert is_up_to_date(engine)
    assert _differences(engine) == []
    with engine.connect() as conn:
        pending = {entity: n for entity, n in wp.pending_counts(conn).items() if n}
        assert pending == {"department": 1, "case_step": 1}
        steps = [len(batch.payloads) for batch in wp.iter_rows(conn, "case_step", sequence=2)]
        assert steps == [2]
        sent = conn.execute(select(ops_exchange_sent.c.record_key).order_by(ops_exchange_sent.c.record_key))
        assert sent.scalars().all() == [
            "113204810000000001",
            "UNIFIED/LY3204810000001/1",
            "UNIFIED/LY3204810000001/10",
        ]
    engine.dispose()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_downgrading_to_0001_puts_the_sequences_back(dialect, tmp_path, request) -> None:
    engine = _engine(dialect, tmp_path, request)
    _warehouse_at_0001(engine)
    upgrade_to_head(engine)
    command.downgrade(alembic_config(engine), "0001")
    with engine.connect() as conn:
        steps = conn.execute(text("SELECT step_no, exchange_seq FROM fct_case_step ORDER BY step_no")).all()
        departments = conn.execute(text("SELECT exchange_seq FROM dim_department ORDER BY dept_code")).scalars()
        assert [tuple(row) for row in steps] == [(1, 2), (2, None), (10, 2)]
        assert departments.all() == [1, None]
        assert "ops_exchange_sent" not in inspect(conn).get_table_names()
    engine.dispose()
