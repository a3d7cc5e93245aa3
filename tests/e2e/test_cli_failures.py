"""A command that fails says so in one line on stderr, whatever details it printed on stdout."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.changzhou.signing import generate_keys
from sanheyi.cli import main

AS_OF = "2026-11-06T18:00:00+08:00"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, list[str]]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err.splitlines()


def test_failures_end_with_one_line_on_stderr(examples_home: Path, capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "run", "--as-of", AS_OF)
    assert code == 0 and err == []

    package = examples_home / "outbox" / "320481-320400-0000000001.zip"
    stranger = tmp_path / "stranger.pub"
    stranger.write_bytes(generate_keys(tmp_path / "other-keys").public_key_pem())
    code, out, err = run(capsys, "exchange", "verify", str(package), "--public-key", str(stranger))
    assert code == 1
    assert out.startswith("FAULT: ")  # the details
    assert len(err) == 1 and err[0].startswith("sanheyi: ") and package.name in err[0]

    code, out, err = run(capsys, "systems", "verify-log", "--head", f"99:{'0' * 64}")
    assert code == 1 and "decision 99 is no longer in the log" in out
    assert err == ["sanheyi: 审批日志有 1 处问题 / 1 fault(s) in the audit log"]


def test_a_failed_source_is_named_on_stderr(examples_home: Path, capsys) -> None:
    # the unified platform's interface does not answer
    config = examples_home / "config.yaml"
    text = config.read_text(encoding="utf-8")
    unreachable = text.replace("  type: file\n  address: null", "  type: rest\n  address: http://127.0.0.1:9/cases")
    assert unreachable != text
    config.write_text(unreachable, encoding="utf-8")
    code, out, err = run(capsys, "run", "--as-of", AS_OF, "--stage", "ingest")
    assert code == 1
    assert "SOURCE FAILED UNIFIED" in out
    # the retries were logged to stderr as they happened; the verdict is the one last line
    summary = [line for line in err if line.startswith("sanheyi: ")]
    assert summary == [err[-1]] and "UNIFIED" in err[-1]


def test_a_credential_not_configured_fails_its_source_only(examples_home: Path, capsys, monkeypatch) -> None:
    from sanheyi.pipeline import source_codes
    from sanheyi.settings import load_settings

    monkeypatch.delenv("SANHEYI_CRED_UNIFIED_REST", raising=False)
    config = examples_home / "config.yaml"
    text = config.read_text(encoding="utf-8")
    configured = text.replace(
        "  type: file\n  address: null\n  credential: null",
        "  type: rest\n  address: http://127.0.0.1:9/cases\n  credential: UNIFIED_REST",
    )
    assert configured != text
    config.write_text(configured, encoding="utf-8")
    # the sources are still listed (the ingest DAG maps over them) and the cycle runs on
    assert source_codes(load_settings(examples_home)) == ["UNIFIED"]
    code, out, err = run(capsys, "run", "--as-of", AS_OF)
    assert code == 1
    assert "SOURCE FAILED UNIFIED" in out and "SANHEYI_CRED_UNIFIED_REST" in out
    assert "supervision:" in out  # the later stages ran on what the warehouse holds
    assert err[-1].startswith("sanheyi: ") and "UNIFIED" in err[-1]


def test_a_warehouse_that_cannot_be_reached_is_named_in_the_last_line(examples_home: Path, capsys, monkeypatch) -> None:
    password = "S3cret-never-shown"
    monkeypatch.setenv("SANHEYI_WAREHOUSE_URL", f"postgresql+psycopg://hub:{password}@127.0.0.1:9/sanheyi")
    # the home's own warehouse, as `sanheyi init` recorded it, is the one that is down
    (examples_home / "warehouse.txt").write_text("postgresql+psycopg://hub@127.0.0.1:9/sanheyi\n", encoding="utf-8")
    code, out, err = run(capsys, "status")
    assert code == 1
    assert err == [
        "sanheyi: 无法连接 PostgreSQL / cannot connect to PostgreSQL at 127.0.0.1:9: connection refused; check that "
        "the server runs and that the URL (SANHEYI_WAREHOUSE_URL for the warehouse) is right; see the log in "
        "SANHEYI_HOME/logs"
    ]
    log = (examples_home / "logs" / "sanheyi.log").read_text(encoding="utf-8")
    assert "Traceback" in log and password not in log + out


def test_a_package_never_delivered_is_not_resent_but_goes_out_with_the_next_run(examples_home: Path, capsys) -> None:
    outbox = examples_home / "outbox"
    outbox.rmdir()
    outbox.write_text("a file where the outbox should be", encoding="utf-8")
    stages = ("--stage", "ingest", "--stage", "supervise", "--stage", "exchange")
    code, out, err = run(capsys, "run", "--as-of", AS_OF, *stages)
    assert code == 1 and "EXCHANGE FAILED delivery: " in out
    assert err[-1].startswith("sanheyi: ") and "exchange with Changzhou failed: delivery" in err[-1]

    code, out, err = run(capsys, "exchange", "resend", "1")
    assert code == 1 and out == ""
    assert err == [
        "sanheyi: 交换包 1 尚未投递, 不能重发 / package 1 was never delivered, so it is not resent: "
        "the next run (sanheyi run) delivers it, in order"
    ]

    outbox.unlink()
    code, out, err = run(capsys, "run", "--as-of", AS_OF, *stages)
    assert code == 0 and "delivered [1]" in out
    assert (outbox / "320481-320400-0000000001.zip").is_file()
