"""The JSON Schemas of Interface Standard v1 and the rule each bad value breaks."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from vd_helpers import example_refs, good_records, validate_one

from schemas.standard import (
    CODELISTS,
    ENTITIES,
    FIELD_ORDER,
    KEY_FIELDS,
    PERSONAL_FIELDS,
    REQUIRED_FIELDS,
    SCHEMA_DIR,
    load_schema,
)
from validators import explain_record
from validators.fields import BLANK_CHARS

SECTION_2_LISTS = {
    "power_type": 12,
    "power_state": 3,
    "time_unit": 2,
    "applicant_type": 2,
    "id_type": 5,
    "channel": 5,
    "case_status": 4,
    "result": 3,
    "step_code": 13,
    "satisfaction": 3,
    "complaint_status": 2,
    "complaint_result": 3,
    "card": 2,
}


@pytest.mark.parametrize("entity", ENTITIES)
def test_schema_is_draft_2020_12_with_id_and_closed(entity: str) -> None:
    schema = json.loads((SCHEMA_DIR / f"{entity}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://liyang.gov.cn/sanheyi/interface-standard/v1/{entity}.schema.json"
    assert schema["additionalProperties"] is False
    assert schema["x-standard-version"] == "1.0"
    assert list(schema["properties"]) == list(FIELD_ORDER[entity])
    assert set(KEY_FIELDS[entity]) <= set(REQUIRED_FIELDS[entity])


def test_accessors_follow_the_standard() -> None:
    assert ENTITIES == ("department", "power_item", "case", "case_step", "complaint")
    assert KEY_FIELDS["case_step"] == ("source_system", "case_id", "step_no")
    assert FIELD_ORDER["department"] == ("dept_code", "name", "source_system", "version", "updated_at")
    assert "finished_at" not in REQUIRED_FIELDS["case"] and "received_at" in REQUIRED_FIELDS["case"]
    assert PERSONAL_FIELDS["case"] == {"applicant_name", "applicant_id_no"}
    assert PERSONAL_FIELDS["complaint"] == {"content"} and PERSONAL_FIELDS["case_step"] == {"handler_name"}
    schema = load_schema("case")
    schema["properties"].clear()  # a copy: the next caller still gets the full schema
    assert load_schema("case")["properties"]


def test_codelists_hold_every_list_of_section_2_with_chinese_labels() -> None:
    assert {k: len(v) for k, v in CODELISTS.items()} == SECTION_2_LISTS
    assert CODELISTS["power_type"]["XK"] == "行政许可"
    assert CODELISTS["case_status"]["TERMINATED"] == "异常终止"
    doc = json.loads((SCHEMA_DIR / "codelists.json").read_text(encoding="utf-8"))
    assert doc["x-standard-version"] == "1.0"


def test_flow_excludes_clock_stopping_steps() -> None:
    items = load_schema("power_item")["properties"]["flow"]["items"]["enum"]
    assert "TB" not in items and "BZ" not in items and "SL" in items


@pytest.mark.parametrize("entity", ENTITIES)
def test_the_example_records_validate(examples_dir: Path, entity: str) -> None:
    records = good_records(examples_dir, entity)
    assert records
    validator = Draft202012Validator(load_schema(entity))
    for rec in records:
        assert list(validator.iter_errors(rec)) == []
        assert explain_record(entity, rec) == []


def test_blank_means_what_python_strip_means() -> None:
    # The columnar path (RE2) and the exhaustive path (Python) must agree on what "blank" is.
    assert BLANK_CHARS == "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
    assert "\u3000" in BLANK_CHARS and "\ufeff" not in BLANK_CHARS


CASE_BAD_VALUES = [
    ("case_id", "LY1", "PATTERN"),
    ("case_id", "LY-00000000/1", "PATTERN"),
    ("case_id", 1234567, "TYPE"),
    ("source_system", "unified", "PATTERN"),
    ("power_code", "XX3204810010001000", "PATTERN"),
    ("dept_code", "11320481466000002", "PATTERN"),
    ("applicant_type", "3", "BAD_CODE"),
    ("applicant_type", 1, "TYPE"),
    ("applicant_id_type", "ID", "BAD_CODE"),
    ("applicant_id_no", "   ", "PATTERN"),
    ("applicant_id_no", "3204811969040603", "ID_CHECKDIGIT"),
    ("applicant_id_no", "320481196904060384", "ID_CHECKDIGIT"),
    ("applicant_id_no", "320481196902300388", "ID_CHECKDIGIT"),
    ("applicant_name", "  \u3000", "MISSING_FIELD"),
    ("applicant_name", None, "MISSING_FIELD"),
    ("channel", "5", "BAD_CODE"),
    ("received_at", "2026-08-12T06:00:00", "NAIVE_DATETIME"),
    ("received_at", "2026-08-12 06:00:00", "NAIVE_DATETIME"),
    ("received_at", "2026-08-12", "NAIVE_DATETIME"),
    ("received_at", "2026-02-30T06:00:00+08:00", "DATETIME_FORMAT"),
    ("received_at", "12 Aug 2026", "DATETIME_FORMAT"),
    ("received_at", "2026-08-12T06:00:00+08:00\n", "DATETIME_FORMAT"),
    ("received_at", 1723413600, "TYPE"),
    ("promised_limit", -1, "RANGE"),
    ("promised_limit", 2**40, "RANGE"),
    ("promised_limit", "1", "TYPE"),
    ("promised_limit", 1.5, "TYPE"),
    ("promised_limit", True, "TYPE"),
    ("status", "DONE", "BAD_CODE"),
    ("fee_paid", "12.345", "MONEY_FORMAT"),
    ("fee_paid", "012.00", "MONEY_FORMAT"),
    ("fee_paid", "１２", "MONEY_FORMAT"),
    ("fee_paid", 12.5, "MONEY_FORMAT"),
    ("fee_paid", None, "MISSING_FIELD"),
    ("version", 0, "RANGE"),
    ("updated_at", "2026-08-12T21:26:24+0800", "DATETIME_FORMAT"),
    ("result_note", 5, "TYPE"),
    ("penalty_amount", "10.00", "PENALTY_NOT_CF"),
    ("satisfaction", "S", "REQUIRED_IFF"),
    ("result", "GRANTED", "REQUIRED_IFF"),
    ("finished_at", None, "REQUIRED_IFF"),
    ("finished_at", "2026-08-12T05:00:00+08:00", "TIME_ORDER"),
    ("dept_code", "113204814660027450", "DEPT_MISMATCH"),
    ("promised_limit", 2, "PROMISE_ABOVE_ITEM"),
    ("power_code", "XK3204810040019000", "UNKNOWN_POWER"),
]


def _withdrawn_case(examples: Path) -> dict:
    return next(r for r in good_records(examples, "case") if r["case_id"] == "LY3204810000000")


@pytest.mark.parametrize(("field", "value", "rule"), CASE_BAD_VALUES)
def test_a_bad_case_value_breaks_its_rule(examples_dir: Path, field: str, value: object, rule: str) -> None:
    rec = copy.deepcopy(_withdrawn_case(examples_dir))
    rec[field] = value
    refs = example_refs(examples_dir)
    expected = [(field, rule)]
    assert [(v.path, v.rule_id) for v in explain_record("case", rec, refs=refs)] == expected
    assert validate_one("case", rec, refs) == expected


def test_missing_and_extra_fields(examples_dir: Path) -> None:
    rec = copy.deepcopy(_withdrawn_case(examples_dir))
    del rec["channel"]
    rec["remark"] = None  # a null extra field is still a field the standard does not know
    expected = [("channel", "MISSING_FIELD"), ("remark", "EXTRA_FIELD")]
    assert [(v.path, v.rule_id) for v in explain_record("case", rec)] == expected
    assert validate_one("case", rec) == expected


def test_optional_fields_may_be_absent(examples_dir: Path) -> None:
    rec = copy.deepcopy(_withdrawn_case(examples_dir))
    for k in ("result", "result_note", "relief_reason", "penalty_amount", "satisfaction"):
        del rec[k]
    assert explain_record("case", rec) == []
    assert validate_one("case", rec) == []


ITEM_BAD = [
    ({"power_type": "CF"}, [("power_code", "POWER_CODE_TYPE")]),
    ({"promised_limit": 21}, [("promised_limit", "PROMISE_ABOVE_ITEM")]),
    ({"penalty_min": "10.00"}, [("penalty_min", "PENALTY_RANGE")]),
    ({"flow": ["SL", "TB", "BJ"]}, [("flow[1]", "BAD_CODE")]),
    ({"flow": []}, [("flow", "RANGE")]),
    ({"flow": "SL,SH"}, [("flow", "TYPE")]),
    ({"flow": ["SL", 3]}, [("flow[1]", "BAD_CODE")]),
    ({"legal_limit": None, "promised_limit": 500}, []),
    ({"time_unit": "HD"}, [("time_unit", "BAD_CODE")]),
    ({"state": "Z"}, [("state", "BAD_CODE")]),
    ({"dept_code": "91320481158381130U"}, [("dept_code", "UNKNOWN_DEPT")]),
    ({"fee": "1e3"}, [("fee", "MONEY_FORMAT")]),
]


@pytest.mark.parametrize(("change", "expected"), ITEM_BAD)
def test_power_item_rules(examples_dir: Path, change: dict, expected: list) -> None:
    rec = {**good_records(examples_dir, "power_item")[0], **change}  # XK, legal 20, promised 5
    refs = example_refs(examples_dir)
    assert [(v.path, v.rule_id) for v in explain_record("power_item", rec, refs=refs)] == expected
    assert validate_one("power_item", rec, refs) == expected


def test_penalty_range_of_a_cf_item(examples_dir: Path) -> None:
    cf = next(r for r in good_records(examples_dir, "power_item") if r["power_type"] == "CF")
    for change, expected in [
        ({"penalty_min": "6000.00"}, [("penalty_min", "PENALTY_RANGE")]),
        ({"penalty_max": None}, [("penalty_max", "PENALTY_RANGE")]),
        ({"penalty_min": "5000.00"}, []),
    ]:
        rec = {**cf, **change}
        assert [(v.path, v.rule_id) for v in explain_record("power_item", rec)] == expected
        assert validate_one("power_item", rec) == expected


def test_department_code_check_character(examples_dir: Path) -> None:
    rec = {**good_records(examples_dir, "department")[0], "dept_code": "11320481466000002D"}
    assert validate_one("department", rec) == [("dept_code", "ID_CHECKDIGIT")]
    assert [(v.path, v.rule_id) for v in explain_record("department", rec)] == [("dept_code", "ID_CHECKDIGIT")]


STEP_BAD = [
    ({"step_no": 0}, [("step_no", "RANGE")]),
    ({"step_code": "XX"}, [("step_code", "BAD_CODE")]),
    ({"handler_id": ""}, [("handler_id", "PATTERN")]),
    ({"handler_id": "G" * 65}, [("handler_id", "PATTERN")]),
    ({"finished_at": "2026-08-12T05:00:00+08:00"}, [("finished_at", "TIME_ORDER")]),
    ({"started_at": "2026-08-12T05:00:00+08:00", "finished_at": None}, [("started_at", "TIME_ORDER")]),
    ({"opinion": " "}, []),
]


@pytest.mark.parametrize(("change", "expected"), STEP_BAD)
def test_case_step_rules(examples_dir: Path, change: dict, expected: list) -> None:
    rec = {**good_records(examples_dir, "case_step")[0], **change}  # case received 2026-08-12T06:00+08:00
    refs = example_refs(examples_dir)
    assert [(v.path, v.rule_id) for v in explain_record("case_step", rec, refs=refs)] == expected
    assert validate_one("case_step", rec, refs) == expected


COMPLAINT_BAD = [
    ({"status": "OPEN"}, [("closed_at", "REQUIRED_IFF"), ("result", "REQUIRED_IFF")]),
    ({"closed_at": None}, [("closed_at", "REQUIRED_IFF")]),
    ({"case_id": None}, [("case_id", "REQUIRED_IFF")]),
    ({"case_id": None, "case_source_system": None}, []),
    ({"case_id": "LY3204819999999"}, [("case_id", "UNKNOWN_CASE")]),
    ({"closed_at": "2026-09-20T00:40:00+08:00"}, [("closed_at", "TIME_ORDER")]),
    ({"dept_code": "91320481158381130U"}, [("dept_code", "UNKNOWN_DEPT")]),
    ({"content": ""}, [("content", "MISSING_FIELD")]),
    ({"result": "YES"}, [("result", "BAD_CODE")]),
]


@pytest.mark.parametrize(("change", "expected"), COMPLAINT_BAD)
def test_complaint_rules(examples_dir: Path, change: dict, expected: list) -> None:
    rec = {**good_records(examples_dir, "complaint")[0], **change}  # CLOSED
    refs = example_refs(examples_dir)
    assert [(v.path, v.rule_id) for v in explain_record("complaint", rec, refs=refs)] == expected
    assert validate_one("complaint", rec, refs) == expected
