from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

sys.path.insert(0, str(Path(__file__).parent))

from xc_rows import T0, Warehouse  # noqa: E402

from exchange.changzhou.signing import KeyStore, generate_keys  # noqa: E402
from warehouse.db import create_schema, make_engine  # noqa: E402


@pytest.fixture(scope="session")
def session_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyStore]:
    """One key pair per algorithm, plus an unrelated Ed25519 pair (the "wrong key")."""
    stores = {}
    for algorithm in ("Ed25519", "SM2-SM3"):
        stores[algorithm] = generate_keys(tmp_path_factory.mktemp(f"keys-{algorithm}"), algorithm)
    stores["other"] = generate_keys(tmp_path_factory.mktemp("keys-other"), "Ed25519")
    return stores


@pytest.fixture
def keys(session_keys: dict[str, KeyStore]) -> KeyStore:
    return session_keys["Ed25519"]


@pytest.fixture
def now() -> datetime:
    return T0


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "exchange" / "packages"


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def wh(warehouse_engine: Engine) -> Warehouse:
    """Rows in the warehouse under test (SQLite and PostgreSQL, via the root conftest)."""
    return Warehouse(warehouse_engine)


@pytest.fixture
def lite(sqlite_engine: Engine) -> Warehouse:
    """Rows in an SQLite warehouse, for tests about files rather than the database."""
    return Warehouse(sqlite_engine)
