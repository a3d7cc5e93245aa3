"""The Alembic migrations build exactly the schema the code uses, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from warehouse.db import make_engine
from warehouse.migrations import upgrade_to_head
from warehouse.tables import metadata

PG_URL = __import__("os").environ.get("SANHEYI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


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


def test_postgres_migrations_match_the_tables(pg_schema: str) -> None:
    engine = make_engine(PG_URL, schema=pg_schema)
    upgrade_to_head(engine)
    assert _differences(engine) == []
    engine.dispose()
