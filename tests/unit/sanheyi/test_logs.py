"""Log masking (sanheyi/logs.py): no ID number and no credential reaches a log unmasked, not even
through a traceback, whether the handlers are the command line's or someone else's (Airflow's)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from connectors.credentials import SCRUBBER
from sanheyi.errors import ConfigError, UnexpectedFailure
from sanheyi.logs import (
    MaskedFormatter,
    MaskingFilter,
    configure_logging,
    failures_without_records,
    install_log_masking,
)

ID_NUMBER, MASKED = "320481196904060383", "320481********0383"
SECRET = "logs-test-Pa55-never-shown"
APPLICANT = "张三丰"  # a name: no pattern can mask it, so it must never be written


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """The root logger, given back afterwards with the handlers and level it had."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield root
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)


def _fail_with(text: str) -> None:
    raise ValueError(text)


def test_a_traceback_reaches_the_log_file_masked(root: logging.Logger, tmp_path: Path) -> None:
    configure_logging(log_dir=tmp_path)
    SCRUBBER.add(SECRET)
    try:
        _fail_with(f"duplicate key (applicant_id_no)=({ID_NUMBER}) password {SECRET}")
    except ValueError:
        logging.getLogger("sanheyi.ingest").exception("batch failed", extra={"file_only": True})
    text = (tmp_path / "sanheyi.log").read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "in _fail_with" in text
    assert f"ValueError: duplicate key (applicant_id_no)=({MASKED}) password ***" in text
    assert ID_NUMBER not in text and SECRET not in text


def test_handlers_set_up_elsewhere_get_the_same_masking_once(root: logging.Logger) -> None:
    # Airflow's task processes write stdlib records as JSON through structlog, which renders the
    # exception from exc_info itself (and ignores a pre-rendered exc_text).
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.dict_tracebacks,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
            foreign_pre_chain=[structlog.stdlib.add_log_level],
        )
    )
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    install_log_masking()
    install_log_masking()
    assert sum(isinstance(f, MaskingFilter) for f in handler.filters) == 1
    assert isinstance(handler.formatter, MaskedFormatter)
    assert not isinstance(handler.formatter.inner, MaskedFormatter)

    log = logging.getLogger("sanheyi.ingest")
    log.warning("file rejected: case.%s.csv", ID_NUMBER)
    try:
        _fail_with(f"applicant {ID_NUMBER}")
    except ValueError:
        log.exception("batch failed")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["event"] == f"file rejected: case.{MASKED}.csv"
    assert lines[1]["event"] == "batch failed"
    assert lines[1]["exception"][0]["exc_value"] == f"applicant {MASKED}"  # the traceback is kept, masked
    assert ID_NUMBER not in out.getvalue()


def _database_error(pg_url: str) -> Exception:
    """What the real PostgreSQL says when a record breaks a constraint: it quotes the record."""
    import psycopg

    with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute("CREATE TEMP TABLE applicant (name text, id_no text NOT NULL)")
        try:
            # a value over lines, a blank one among them: the quoted row in the detail spans them
            conn.execute("INSERT INTO applicant VALUES (%s, %s)", (f"加急\n\n{APPLICANT}", None))
        except psycopg.Error as exc:
            return exc
    raise AssertionError("the insert should have failed")


def test_a_database_error_reaches_neither_the_log_nor_the_caller_with_the_record_it_quotes(
    root, tmp_path, pg_url: str
) -> None:
    error = _database_error(pg_url)
    assert APPLICANT in str(error)  # the server's DETAIL line quotes the failing row
    configure_logging(log_dir=tmp_path)
    seen: list[logging.LogRecord] = []
    catcher = logging.Handler()
    catcher.emit = seen.append  # type: ignore[method-assign]
    root.handlers.insert(0, catcher)  # before the masking handlers: what a foreign handler gets
    with pytest.raises(UnexpectedFailure) as raised:
        with failures_without_records("task load"):
            raise error
    # the traceback comes as text, masked already; no exc_info for a handler to render afresh
    (record,) = [r for r in seen if r.name == "sanheyi"]
    assert record.exc_info is None and "DETAIL:  (withheld" in record.getMessage()
    assert APPLICANT not in record.getMessage()
    assert raised.value.message.startswith("task load: ") and "NotNullViolation" in raised.value.message
    assert raised.value.__suppress_context__  # the original is not chained into what the caller logs
    for handler in root.handlers:
        handler.flush()
    text = (tmp_path / "sanheyi.log").read_text(encoding="utf-8")
    assert "task load failed" in text and "NotNullViolation" in text  # the traceback is there
    assert "DETAIL:  (withheld: it may quote a record)" in text
    assert APPLICANT not in text and APPLICANT not in raised.value.message


def test_the_hubs_own_errors_pass_unchanged() -> None:
    with pytest.raises(ConfigError, match="配置有误"):
        with failures_without_records("task x"):
            raise ConfigError("配置有误 / invalid configuration: held_step_days")
