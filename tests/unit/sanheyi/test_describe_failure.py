"""A failure the hub did not raise on purpose is told in one line an operator can act on
(sanheyi.logs.describe_failure): the cause and where, never a record's data nor a password."""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from connectors.file_drop import archive_file
from sanheyi.errors import ConfigError
from sanheyi.logs import describe_failure

PASSWORD = "S3cret-never-shown"
NAME, ID_NUMBER = "张三", "320481196904060383"


def raised(call) -> BaseException:  # type: ignore[no-untyped-def]
    try:
        call()
    except Exception as exc:
        return exc
    raise AssertionError("no exception")


@pytest.fixture
def locked_warehouse(tmp_path: Path) -> Iterator[str]:
    """A SQLite warehouse another process holds in a write transaction."""
    path = tmp_path / "warehouse.sqlite"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield f"sqlite:///{path}"
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_locked_sqlite_warehouse_is_named(locked_warehouse: str) -> None:
    engine = create_engine(locked_warehouse, connect_args={"timeout": 0})

    def write() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))

    line = describe_failure(raised(write), warehouse_url=locked_warehouse)
    engine.dispose()
    path = locked_warehouse.removeprefix("sqlite:///")
    assert line.startswith("仓库被其他进程占用 / the SQLite warehouse ")
    assert f"{path} is locked by another process" in line and "run again when it has finished" in line


def test_a_full_disk_is_told_with_the_file_when_known(tmp_path: Path) -> None:
    full = sqlite3.connect(tmp_path / "warehouse.sqlite")
    full.execute("PRAGMA max_page_count=2")  # as if the disk held no more pages
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"

    def grow() -> None:
        full.execute("CREATE TABLE t (x)")
        full.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,)] * 50)

    assert describe_failure(raised(grow), warehouse_url=url) == (
        f"磁盘已满 / no space left for the SQLite warehouse {tmp_path / 'warehouse.sqlite'} or its temporary "
        "files (TMPDIR); free space on that disk"
    )
    archive = tmp_path / "archive" / "UNIFIED" / "case.x.jsonl"
    assert describe_failure(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(archive))) == (
        f"磁盘已满 / no space left on the device of {archive}; free space on that disk"
    )
    if Path("/dev/full").exists():  # a real write to a full device, which names no file
        fd = os.open("/dev/full", os.O_WRONLY)
        try:
            line = describe_failure(raised(lambda: os.write(fd, b"x")))
        finally:
            os.close(fd)
        assert line == (
            "磁盘已满 / no space left on a device (the file is not named); check the disks of SANHEYI_HOME and TMPDIR"
        )


def test_a_path_that_cannot_be_used_is_named_with_what_the_hub_was_doing(tmp_path: Path) -> None:
    inbox_file = tmp_path / "inbox" / "UNIFIED" / "case.x.jsonl"
    inbox_file.parent.mkdir(parents=True)
    inbox_file.write_text("{}\n", encoding="utf-8")
    (tmp_path / "archive").write_text("a file where the archive directory should be\n", encoding="utf-8")
    line = describe_failure(raised(lambda: archive_file(inbox_file, tmp_path / "archive", "UNIFIED")))
    archive = tmp_path / "archive" / "UNIFIED"
    assert line == f"文件操作失败 / Not a directory: {archive} (in connectors/file_drop.py, _move)"

    def denied() -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(inbox_file))

    line = describe_failure(raised(denied))
    assert line.startswith(f"权限不足 / Permission denied: {inbox_file} (in tests/unit/sanheyi/")
    assert "the account running sanheyi needs access to it and to its directory" in line


def test_an_unreachable_postgresql_server_is_named_without_its_password() -> None:
    url = f"postgresql+psycopg://hub:{PASSWORD}@127.0.0.1:9/sanheyi"  # nothing listens on port 9
    engine = create_engine(url)
    exc = raised(engine.connect)
    engine.dispose()
    for line in (describe_failure(exc, warehouse_url=url), describe_failure(exc)):
        assert line == (
            "无法连接 PostgreSQL / cannot connect to PostgreSQL at 127.0.0.1:9: connection refused; check that the "
            "server runs and that the URL (SANHEYI_WAREHOUSE_URL for the warehouse) is right"
        )


def test_a_refused_postgresql_user_is_told(pg_url: str) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(pg_url).set(username="no_such_hub_user", password=PASSWORD)
    engine = create_engine(url)
    exc = raised(engine.connect)
    engine.dispose()
    line = describe_failure(exc, warehouse_url=url.render_as_string(hide_password=False))
    assert f"cannot connect to PostgreSQL at {url.host}:{url.port or 5432}: " in line
    assert "the user does not exist" in line or "the user name or password was refused" in line
    assert PASSWORD not in line and "no_such_hub_user" not in line


def test_a_database_error_that_quotes_a_record_is_told_by_its_kind_only(pg_url: str, pg_schema: str) -> None:
    engine = create_engine(pg_url, connect_args={"options": f"-csearch_path={pg_schema}"})
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE applicant (applicant_name text UNIQUE, applicant_id_no text)"))
        conn.execute(text(f"INSERT INTO applicant VALUES ('{NAME}', '{ID_NUMBER}')"))

    def insert_again() -> None:
        with engine.begin() as conn:
            conn.execute(text(f"INSERT INTO applicant VALUES ('{NAME}', '{ID_NUMBER}')"))

    exc = raised(insert_again)
    engine.dispose()
    assert f"Key (applicant_name)=({NAME})" in str(exc)  # what the driver says, and must not be shown
    line = describe_failure(exc, warehouse_url=pg_url)
    assert line == "unexpected failure (IntegrityError from psycopg.errors.UniqueViolation, SQLSTATE 23505)"


def test_other_failures_are_told_by_their_kind_and_the_hubs_own_message_masked() -> None:
    assert describe_failure(ValueError(f"bad record of {NAME} {ID_NUMBER}")) == "unexpected failure (ValueError)"
    assert describe_failure(ConfigError(f"unknown setting for {ID_NUMBER}\nsecond line")) == (
        "ConfigError: unknown setting for 320481********0383"
    )
