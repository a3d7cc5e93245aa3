"""The command line's contract: exit 0/1/2 and one clear line on failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from sanheyi.cli import main


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANHEYI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SANHEYI_WAREHOUSE_URL", raising=False)
    return tmp_path / "home"


def test_unknown_command_is_a_usage_error(capsys) -> None:
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "usage: sanheyi" in err and "invalid choice" in err


def test_as_of_without_offset_is_refused(capsys) -> None:
    assert main(["run", "--as-of", "2026-11-06T18:00:00"]) == 2
    assert "needs an offset" in capsys.readouterr().err


def test_missing_option_is_a_usage_error(capsys) -> None:
    assert main(["stats", "--from", "2026-10-01"]) == 2
    assert "--to" in capsys.readouterr().err


def test_commands_before_init_say_what_to_do(capsys) -> None:
    assert main(["run", "--as-of", "2026-11-06T18:00:00+08:00"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "sanheyi init" in err


def test_init_twice_is_safe_and_keeps_the_key(home: Path, capsys) -> None:
    assert main(["init"]) == 0
    key = (home / "keys" / "exchange.pub").read_bytes()
    assert main(["init"]) == 0
    out = capsys.readouterr().out
    assert (home / "keys" / "exchange.pub").read_bytes() == key
    assert "created Ed25519 signing key" not in out.split("SANHEYI_HOME ready")[1]
    assert (home / "keys" / "exchange.key").stat().st_mode & 0o777 == 0o600  # private key for the owner only


def test_a_bad_configuration_lists_every_problem(home: Path, capsys) -> None:
    assert main(["init"]) == 0
    (home / "config.yaml").write_text(
        "supervision: {warn_days: -1}\nexchange: {transport: carrier-pigeon}\ncolour: blue\n", encoding="utf-8"
    )
    assert main(["quarantine", "list"]) == 1
    err = capsys.readouterr().err
    assert "supervision.warn_days" in err and "exchange.transport" in err and "colour: unknown setting" in err


def test_period_the_wrong_way_round(home: Path, capsys) -> None:
    assert main(["init"]) == 0
    assert main(["report", "--from", "2026-10-31", "--to", "2026-10-01"]) == 2
    assert "after --to" in capsys.readouterr().err


def test_an_old_warehouse_schema_asks_for_init(home: Path, capsys) -> None:
    import sqlite3

    assert main(["init"]) == 0
    with sqlite3.connect(home / "warehouse.sqlite") as db:
        db.execute("UPDATE alembic_version SET version_num = 'older'")
    assert main(["quarantine", "list"]) == 1
    err = capsys.readouterr().err
    assert "schema" in err and "sanheyi init" in err and err.count("\n") == 1
