"""Fixtures shared by every test folder: real SQLite and PostgreSQL warehouses, markers by folder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from warehouse.db import create_schema, make_engine

PG_URL = os.environ.get("SANHEYI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# The example dataset of Interface Standard v1 with the results it prescribes (a copy is kept in
# the repository so the tests do not depend on where the standard's folder lies).
EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "examples"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for folder in ("unit", "integration", "dags", "e2e"):
            if folder in parts:
                item.add_marker(getattr(pytest.mark, folder))
        if _uses_postgres(item):
            item.add_marker(pytest.mark.postgres)


def _uses_postgres(item: pytest.Item) -> bool:
    """The test takes a PostgreSQL schema, or is the ``"postgresql"`` case of a parametrised test or fixture."""
    if "pg_schema" in getattr(item, "fixturenames", ()):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and any(
        isinstance(value, str) and value == "postgresql" for value in callspec.params.values()
    )


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return EXAMPLES


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The PostgreSQL server the tests use (``SANHEYI_TEST_PG_URL``)."""
    return PG_URL


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A PostgreSQL schema of its own for one test, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def pg_warehouse_url(pg_schema: str) -> str:
    """A warehouse URL whose search_path is the test's own schema."""
    return f"{PG_URL}?options=-csearch_path%3D{pg_schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def dialect_home(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised ``SANHEYI_HOME`` whose warehouse is the embedded SQLite file or, in a schema of
    its own, the real PostgreSQL server: the same test against both."""
    from sanheyi.cli import main

    home = tmp_path / "home"
    monkeypatch.setenv("SANHEYI_HOME", str(home))
    if request.param == "postgresql":
        monkeypatch.setenv("SANHEYI_WAREHOUSE_URL", request.getfixturevalue("pg_warehouse_url"))
    else:
        monkeypatch.delenv("SANHEYI_WAREHOUSE_URL", raising=False)
    assert main(["init"]) == 0
    return home


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The same test against the embedded SQLite warehouse and the real PostgreSQL server."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    else:
        schema = request.getfixturevalue("pg_schema")
        engine = make_engine(PG_URL, schema=schema)
    create_schema(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def cli_streams(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``cli_streams("run", ...)`` → (exit status, stdout, stderr): the command line in-process."""
    from sanheyi.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
