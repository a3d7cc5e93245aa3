"""Suites run in a worker process: the same verdicts as in process, and a fallback when no worker can start."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from vd_helpers import STEADY_HISTORY, SUITE_NOW, batch_of, example_refs, good_records

from validators import validate_batch
from validators.expectations import BLOCK, SEVERITY_WARN, check_batch
from validators.expectations import worker as suite_worker
from validators.expectations.run import prepare_check

NOW = SUITE_NOW
HISTORY = STEADY_HISTORY


@pytest.fixture(scope="module")
def outcome(examples_dir: Path):
    """Example cases, one with updated_at a day after the run (a blocking check) and new channel codes."""
    seen: set[str] = set()
    records = []
    for record in good_records(examples_dir, "case"):
        if record["case_id"] not in seen:
            seen.add(record["case_id"])
            records.append(copy.deepcopy(record))
    records[0]["updated_at"] = "2026-11-07T18:00:00+08:00"
    for record in records[1:4]:
        record["channel"] = "9"  # 其他: valid, never sent by this source
    return validate_batch(batch_of("case", records), example_refs(examples_dir))


def _summary(result) -> tuple:
    return result.verdict, [(f.check, f.severity, f.message_en) for f in result.failures], result.seen_values


def test_the_worker_gives_the_verdict_the_suite_gives_in_process(outcome) -> None:
    in_process = check_batch(outcome, history=HISTORY, now=NOW)
    assert in_process.verdict == BLOCK  # the future updated_at
    assert any(f.severity == SEVERITY_WARN for f in in_process.failures)  # a channel never sent before

    prepared = prepare_check(outcome, history=HISTORY, now=NOW)
    from_worker = suite_worker.start_check(prepared).result()

    assert _summary(from_worker) == _summary(in_process)
    assert from_worker.rows == in_process.rows


def test_without_a_worker_process_the_suites_run_in_process(outcome, monkeypatch, caplog) -> None:
    def no_processes(method: str):
        raise OSError("process creation refused")

    monkeypatch.setattr(suite_worker.multiprocessing, "get_context", no_processes)
    fresh = suite_worker.SuiteWorker()
    monkeypatch.setattr(suite_worker, "_WORKER", fresh)

    with caplog.at_level("WARNING", logger=suite_worker.__name__):
        result = suite_worker.start_check(prepare_check(outcome, history=HISTORY, now=NOW)).result()

    assert result.verdict == BLOCK
    assert _summary(result) == _summary(check_batch(outcome, history=HISTORY, now=NOW))
    assert "no worker process" in caplog.text
