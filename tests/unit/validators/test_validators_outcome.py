"""What validate_batch hands the loader: held steps, versions in force, keys, typed values, payloads."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from vd_helpers import batch_of, example_refs, good_records, validate_one

from connectors.base import RecordBatch
from connectors.file_drop import parse_jsonl
from validators import ReferenceData, validate_batch


def test_steps_of_unknown_cases_are_held_not_quarantined(examples_dir: Path) -> None:
    steps = good_records(examples_dir, "case_step")[:3]
    orphan = dict(
        steps[0],
        case_id="LY9999999999999",
        started_at="2000-01-01T00:00:00+08:00",
        finished_at="2000-01-01T01:00:00+08:00",
    )
    out = validate_batch(batch_of("case_step", [*steps, orphan]), example_refs(examples_dir))
    assert len(out.valid) == 3 and out.quarantined == []
    assert list(out.held["case_id"]) == ["LY9999999999999"] and list(out.held["_line"]) == [4]
    assert list(out.held.columns) == list(out.valid.columns)


def test_a_step_is_checked_against_its_systems_scope_when_cases_carry_power_codes(examples_dir: Path) -> None:
    step = dict(good_records(examples_dir, "case_step")[0], source_system="SELF_GA")
    cases = pd.DataFrame(
        [
            {
                "source_system": "SELF_GA",
                "case_id": step["case_id"],
                "power_code": "XK3204810010001000",
                "received_at": pd.Timestamp("2026-08-12T06:00:00+08:00"),
            }
        ]
    )
    refs = ReferenceData(frozenset(), example_refs(examples_dir).power_items, cases, frozenset({"QR3204810040012000"}))
    assert validate_one("case_step", step, refs, system="SELF_GA") == [("case_id", "SCOPE")]
    assert validate_one("case_step", step, refs, system="UNIFIED") == [("source_system", "SCOPE"), ("case_id", "SCOPE")]


def test_catalogue_entities_come_only_from_the_unified_platform(examples_dir: Path) -> None:
    dept = good_records(examples_dir, "department")[0]
    refs = example_refs(examples_dir)
    assert validate_one("department", dept, refs, system="SELF_GA") == [("", "SCOPE"), ("source_system", "SCOPE")]
    assert validate_one("department", dict(dept, source_system="SELF_GA"), refs, system="SELF_GA") == [("", "SCOPE")]


def test_the_item_version_in_force_on_the_received_date_decides(examples_dir: Path) -> None:
    case = next(r for r in good_records(examples_dir, "case") if r["case_id"] == "LY3204810000000")
    code = case["power_code"]
    items = pd.DataFrame(
        [
            {
                "power_code": code,
                "version": 1,
                "state": "A",
                "dept_code": case["dept_code"],
                "promised_limit": 1,
                "power_type": "XK",
                "valid_from_at": pd.Timestamp("2026-05-01T00:00:00+08:00"),
            },
            {
                "power_code": code,
                "version": 2,
                "state": "X",
                "dept_code": "113204814660027450",
                "promised_limit": 0,
                "power_type": "XK",
                "valid_from_at": pd.Timestamp("2026-09-01T00:00:00+08:00"),
            },
        ]
    )
    refs = ReferenceData(frozenset(), items, pd.DataFrame(columns=["source_system", "case_id", "received_at"]))
    assert validate_one("case", case, refs) == []  # received 2026-08-12: version 1
    later = dict(case, received_at="2026-10-12T06:00:00+08:00", finished_at="2026-10-12T20:00:00+08:00")
    assert validate_one("case", later, refs) == [
        ("power_code", "POWER_NOT_ACTIVE"),
        ("dept_code", "DEPT_MISMATCH"),
        ("promised_limit", "PROMISE_ABOVE_ITEM"),
    ]
    early = dict(case, received_at="2026-01-12T06:00:00+08:00", finished_at="2026-01-12T20:00:00+08:00")
    assert validate_one("case", early, refs) == []  # before every version: the earliest one


def test_record_keys(examples_dir: Path) -> None:
    step = dict(good_records(examples_dir, "case_step")[0], step_code="??")
    complaint = dict(good_records(examples_dir, "complaint")[0], status="??")
    no_key = {k: v for k, v in complaint.items() if k != "complaint_id"}
    assert validate_batch(batch_of("case_step", [step]), None).quarantined[0].record_key == "UNIFIED/LY3204810000000/1"
    keys = [q.record_key for q in validate_batch(batch_of("complaint", [complaint, no_key]), None).quarantined]
    assert keys == ["TS00000", "?"]


def test_typed_values_and_canonical_payload(examples_dir: Path) -> None:
    case = next(r for r in good_records(examples_dir, "case") if r["case_id"] == "LY3204810000001")
    rec = dict(case, result_note="  ", relief_reason='说明 "引号" \\ 与换行\n')
    del rec["satisfaction"]
    out = validate_batch(batch_of("case", [rec]), example_refs(examples_dir))
    row = out.valid.iloc[0]
    assert row["result_note"] is pd.NA and row["satisfaction"] is pd.NA
    assert row["received_at"] == pd.Timestamp("2026-09-23T20:14:00Z")
    payload = json.loads(row["payload"])
    assert list(payload) == list(case) and payload["result_note"] is None and payload["satisfaction"] is None
    assert payload["received_at"] == "2026-09-24T04:14:00+08:00"  # the original text, not UTC
    assert payload["relief_reason"] == rec["relief_reason"]
    assert row["payload"] == json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def test_the_same_record_from_csv_typing_and_jsonl_has_the_same_payload(examples_dir: Path) -> None:
    case = good_records(examples_dir, "case")[0]
    a = validate_batch(batch_of("case", [case]), None).valid
    frame, raw, _, _ = parse_jsonl("case", (json.dumps(case, ensure_ascii=False, indent=None) + "\n").encode())
    b = validate_batch(RecordBatch("UNIFIED", "case", "x", frame, raw), None).valid
    assert a["payload_sha256"].iloc[0] == b["payload_sha256"].iloc[0]


def test_duplicate_keys_in_one_batch_are_left_to_the_loader(examples_dir: Path) -> None:
    case = good_records(examples_dir, "case")[0]
    out = validate_batch(batch_of("case", [case, dict(case, version=2), case]), None)
    assert len(out.valid) == 3 and out.quarantined == []


def test_an_empty_batch(examples_dir: Path) -> None:
    out = validate_batch(batch_of("case", []), example_refs(examples_dir))
    assert out.received == 0 and out.valid.empty and out.quarantined == []
    assert "payload" in out.valid.columns


def test_payloads_escape_exactly_the_values_that_need_it(examples_dir: Path) -> None:
    notes = [None, "材料齐全，准予许可", 'tab\there "quoted" \\ and \x01', "换行\n之后"]
    records = [
        dict(case, result_note=note) for case, note in zip(good_records(examples_dir, "case"), notes, strict=False)
    ]
    assert len(records) == len(notes)
    out = validate_batch(batch_of("case", records), example_refs(examples_dir))
    assert out.quarantined == [] and len(out.valid) == len(records)
    for record, payload in zip(records, out.valid.sort_values("_line")["payload"], strict=True):
        assert json.loads(payload)["result_note"] == record["result_note"]
        assert payload == json.dumps(json.loads(payload), ensure_ascii=False, separators=(",", ":"))


def test_a_nullable_integer_keeps_its_nulls(examples_dir: Path) -> None:
    items = good_records(examples_dir, "power_item")[:3]
    records = [dict(items[0], legal_limit=None), dict(items[1], legal_limit=20), items[2]]
    out = validate_batch(batch_of("power_item", records), example_refs(examples_dir))
    assert out.quarantined == []
    typed = out.valid.sort_values("_line")["legal_limit"]
    assert str(typed.dtype) == "Int64"
    assert typed.isna().tolist() == [True, False, items[2].get("legal_limit") is None]
    assert typed.iloc[1] == 20
    assert json.loads(out.valid.sort_values("_line")["payload"].iloc[0])["legal_limit"] is None
