"""Batch-level checks (Great Expectations suites): what each flags, with which severity, and what it says."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from vd_helpers import STEADY_HISTORY, SUITE_NOW, batch_of, example_refs, good_records

from validators import validate_batch
from validators.expectations import BLOCK, PASS, WARN, BatchHistory, check_batch

NOW = SUITE_NOW
STEADY = STEADY_HISTORY


@pytest.fixture(scope="module")
def cases(examples_dir: Path) -> list[dict]:
    """Valid example cases, one version each (no in-batch repeats), channels 1-4 only."""
    seen: set[str] = set()
    out = []
    for record in good_records(examples_dir, "case"):
        if record["case_id"] not in seen and record["channel"] in "1234":
            seen.add(record["case_id"])
            out.append(record)
    return out


@pytest.fixture(scope="module")
def refs(examples_dir: Path):
    return example_refs(examples_dir)


def run(records: list[dict], refs, history: BatchHistory = STEADY, **options):
    outcome = validate_batch(batch_of("case", records), refs)
    return outcome, check_batch(outcome, history=history, now=NOW, **options)


def failed(result) -> dict[str, object]:
    return {f.check: f for f in result.failures}


def test_a_steady_batch_passes(cases, refs) -> None:
    outcome, result = run(cases, refs, whole_origin=True)
    assert len(outcome.valid) == len(cases) and not outcome.quarantined
    assert result.verdict == PASS, result.reason()
    assert result.rows == len(cases)
    assert result.summary()["failed"] == []


def test_a_sudden_drop_in_volume_is_flagged_and_named(cases, refs) -> None:
    _, result = run(cases[:12], refs, whole_origin=True)
    failure = failed(result)["volume_drop"]
    assert result.verdict == WARN  # recorded, the batch still loads
    assert failure.severity == "warn"
    assert failure.expectation == "expect_table_row_count_to_be_between"
    assert failure.observed == 12
    assert "mean 110" in failure.message_en and "骤降" in failure.message_zh


def test_volume_is_only_compared_between_whole_files_with_enough_history(cases, refs) -> None:
    _, chunk = run(cases[:12], refs, whole_origin=False)
    assert "volume_drop" not in failed(chunk) and "volume_drop" in chunk.skipped
    young = BatchHistory(volumes=(120, 100), earlier_batches=2)
    _, early = run(cases[:12], refs, history=young, whole_origin=True)
    assert "volume_drop" not in failed(early) and "volume_drop" in early.skipped


def test_a_valid_code_never_sent_before_by_the_source_is_flagged(cases, refs) -> None:
    drifted = copy.deepcopy(cases)
    for record in drifted[:3]:
        record["channel"] = "9"  # 其他: valid per the standard, never sent by this source
    outcome, result = run(drifted, refs)
    assert not outcome.quarantined  # the row rules accept it
    failure = failed(result)["new_value:channel"]
    assert result.verdict == WARN and failure.severity == "warn"
    assert failure.expectation == "expect_column_values_to_be_in_set"
    assert failure.observed == {"new_values": ["9"], "records": 3}
    assert "9" in failure.message_en
    # the values of this batch are handed back to be remembered, so the next batch is not flagged again
    assert "9" in result.seen_values["channel"]


def test_no_drift_is_claimed_before_the_source_has_a_history(cases, refs) -> None:
    drifted = copy.deepcopy(cases)
    drifted[0]["channel"] = "9"
    _, result = run(drifted, refs, history=BatchHistory())
    assert result.verdict == PASS
    assert "new_value:channel" in result.skipped


def test_updated_at_in_the_future_blocks_and_a_release_waives_it(cases, refs) -> None:
    future = copy.deepcopy(cases)
    future[0]["updated_at"] = "2026-12-24T10:00:00+08:00"
    _, result = run(future, refs)
    assert result.verdict == BLOCK and result.blocks
    assert [f.check for f in result.blocking_failures()] == ["updated_at_future"]
    assert result.blocking_failures()[0].observed == "2026-12-24T10:00:00+08:00"
    _, released = run(future, refs, released=True)
    assert released.verdict == WARN and not released.blocks
    assert released.overridden == ("updated_at_future",)


def test_most_records_quarantined_blocks_only_from_the_minimum_batch_size(cases, refs) -> None:
    broken = copy.deepcopy(cases)
    for record in broken[: len(broken) * 2 // 3]:
        record["received_at"] = "2026-09-01 10:00"  # no offset: quarantined by the row rules
    assert len(broken) >= 50
    outcome, result = run(broken, refs)
    assert len(outcome.quarantined) > len(broken) / 2
    assert result.verdict == BLOCK
    assert {f.check for f in result.blocking_failures()} == {"quarantine_rate_block"}
    assert "quarantine_rate" in failed(result)  # the warning threshold is crossed as well
    _, small = run(broken[:20], refs)
    assert small.verdict != BLOCK and "quarantine_rate_block" in small.skipped


def test_repeated_key_and_version_within_a_batch_is_flagged(cases, refs) -> None:
    _, result = run(cases + cases[:20], refs)
    failure = failed(result)["duplicate_rate"]
    assert failure.expectation == "expect_compound_columns_to_be_unique"
    assert failure.observed["records"] == 40  # both copies of each repeated record


def test_a_field_usually_filled_that_comes_empty_is_flagged(cases, refs) -> None:
    emptied = copy.deepcopy(cases)
    for record in emptied:
        record["result_note"] = None
    _, result = run(emptied, refs)
    failure = failed(result)["null_rate:result_note"]
    assert failure.expectation == "expect_column_proportion_of_non_null_values_to_be_between"
    assert failure.observed == {"empty_share": 1.0}
    assert "null_rate:satisfaction" not in failed(result)


def test_the_summary_is_json_and_carries_no_personal_data(cases, refs) -> None:
    drifted = copy.deepcopy(cases)
    drifted[0]["channel"] = "9"
    drifted[1]["updated_at"] = "2026-12-24T10:00:00+08:00"
    _, result = run(drifted[:12], refs, whole_origin=True)
    summary = result.summary()
    text = json.dumps(summary, ensure_ascii=False)
    assert {f["check"] for f in summary["failed"]} >= {"volume_drop", "new_value:channel", "updated_at_future"}
    assert summary["verdict"] == BLOCK and summary["suite"] == "sanheyi.case"
    for record in drifted:
        assert record["applicant_id_no"] not in text
        assert record["applicant_name"] not in text
