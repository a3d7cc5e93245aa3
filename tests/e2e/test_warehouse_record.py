"""A home stays with the warehouse `sanheyi init` set it up with: a shell or worker that lacks
SANHEYI_WAREHOUSE_URL is refused, rather than falling back to a new, empty SQLite file that would
read the inbox again and number exchange packages from 1."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sanheyi.cli import main

AS_OF = "2026-11-06T18:00:00+08:00"


@pytest.mark.postgres
def test_a_process_without_the_warehouse_url_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_warehouse_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("SANHEYI_HOME", str(home))
    # trust authentication ignores the password: it only has to stay out of the record
    with_password = pg_warehouse_url.replace(
        "postgresql+psycopg://postgres@", "postgresql+psycopg://postgres:s3cret-pw@"
    )
    assert with_password != pg_warehouse_url
    monkeypatch.setenv("SANHEYI_WAREHOUSE_URL", with_password)
    assert main(["init"]) == 0
    record = (home / "warehouse.txt").read_text(encoding="utf-8")
    assert record.startswith("postgresql+psycopg://postgres@127.0.0.1") and "s3cret" not in record

    monkeypatch.delenv("SANHEYI_WAREHOUSE_URL")  # a cron job's shell, say
    for command in (["run", "--as-of", AS_OF], ["status"], ["init"]):
        capsys.readouterr()
        assert main(command) == 1, command
        err = capsys.readouterr().err.strip()
        assert err.startswith("sanheyi: ") and "postgresql+psycopg://postgres@127.0.0.1" in err
        assert "SANHEYI_WAREHOUSE_URL" in err and "s3cret" not in err
    assert not (home / "warehouse.sqlite").exists()

    monkeypatch.setenv("SANHEYI_WAREHOUSE_URL", pg_warehouse_url)  # the same warehouse, another password
    assert main(["status"]) == 0


def test_the_embedded_warehouse_moves_with_its_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SANHEYI_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("SANHEYI_HOME", str(tmp_path / "home"))
    assert main(["init"]) == 0
    assert (tmp_path / "home" / "warehouse.txt").read_text(encoding="utf-8").strip() == "default"
    shutil.move(tmp_path / "home", tmp_path / "restored")
    monkeypatch.setenv("SANHEYI_HOME", str(tmp_path / "restored"))
    assert main(["status"]) == 0
