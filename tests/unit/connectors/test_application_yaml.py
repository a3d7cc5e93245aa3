"""Applications of self-built systems (§6): the example validates, and every error is listed at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from connectors.application import (
    ApplicationError,
    Catalogue,
    load_application,
    looks_like_secret,
    parse_application,
    validate_application,
)

GA = "11320481466004118J"
MARKET = "11320481466000002C"


@pytest.fixture(scope="module")
def catalogue(examples_dir: Path) -> Catalogue:
    inbox = examples_dir / "inbox" / "UNIFIED"
    departments = [json.loads(line) for line in (inbox / "department.20261125.jsonl").read_text().splitlines()]
    items = [json.loads(line) for line in (inbox / "power_item.20261125.jsonl").read_text().splitlines()]
    return Catalogue.from_records(departments, items)


@pytest.fixture
def example(examples_dir: Path) -> dict:
    return yaml.safe_load((examples_dir / "application.SELF_GA.yaml").read_text(encoding="utf-8"))


def test_the_example_application_is_valid_and_gets_the_default_drop_folder(examples_dir, catalogue):
    application = load_application(examples_dir / "application.SELF_GA.yaml", catalogue)
    assert application.system_code == "SELF_GA"
    assert application.dept_code == GA
    assert application.power_codes == ("XK3204810040011000", "QR3204810040012000", "CF3204810040013000")
    assert application.interface.type == "file"
    assert application.interface.address == "inbox/SELF_GA/"
    assert application.interface.credential is None
    assert application.contact.phone == "0519-87000000"


def test_every_error_is_listed_together(example, catalogue):
    bad = dict(example)
    bad.update(
        system_code="ga",
        justification="CHEAPER",
        power_codes=["XK3204810010001000", "XK3204810040011000", "XK3204810040011000", "NOPE"],
        interface={"type": "ftp", "address": None, "credential": None},
        contact={"name": " ", "phone": 51987000000},
        colour="blue",
    )
    del bad["system_name"]
    with pytest.raises(ApplicationError) as caught:
        parse_application(yaml.safe_dump(bad, allow_unicode=True), catalogue)
    errors = caught.value.errors
    joined = "\n".join(errors)
    assert "system_code: " in joined and "^[A-Z][A-Z0-9_]{2,31}$" in joined
    assert "system_name: 缺少此项 / missing" in errors
    assert "colour: 未知字段 (标准第6条不允许) / unknown key (not in §6)" in errors
    assert any(e.startswith("justification:") for e in errors)
    assert any("power_codes: XK3204810040011000" in e and "2 times" in e for e in errors)
    assert any(e.startswith("power_codes[0]: XK3204810010001000") and MARKET in e for e in errors)
    assert any(e.startswith("power_codes[3]: NOPE") for e in errors)
    assert any(e.startswith("interface.type:") for e in errors)
    assert any(e.startswith("contact.name:") for e in errors)
    assert any(e.startswith("contact.phone:") and "quote" in e for e in errors)
    assert len(errors) == 10
    # The message a clerk sees lists them all.
    assert str(len(errors)) in caught.value.message


@pytest.mark.parametrize("code", ["UNIFIED", "SELF_GA"])
def test_reserved_and_taken_codes_are_refused(example, catalogue, code):
    example["system_code"] = code
    errors = validate_application(example, catalogue, existing_codes={"SELF_GA"})
    assert len(errors) == 1 and errors[0].startswith("system_code:")


def test_missing_interface_keys_and_unknown_department(example, catalogue):
    example["interface"] = {"type": "rest"}
    example["dept_code"] = "11320481466004118K"  # wrong check character
    errors = validate_application(example, catalogue)
    assert "interface.address: 缺少此项 / missing" in errors
    assert "interface.credential: 缺少此项 / missing" in errors
    assert any(e.startswith("dept_code:") and "check character" in e for e in errors)


@pytest.mark.parametrize(
    ("kind", "address"),
    [
        ("rest", "https://ga:S3cretPass@ga.example.invalid/api"),
        ("rest", "https://ga.example.invalid/api?access_token=abc123"),
        ("soap", "http://ga.example.invalid/soap?password=x"),
        ("sql", "postgresql+psycopg://hub:S3cretPass@10.0.0.5/qianzhiku"),
        ("sql", "mssql+pyodbc:///?odbc_connect=Server%3Dx%3BPWD%3Dabc"),
        ("sql", "Server=10.0.0.5;Database=q;User Id=hub;Password=abc;"),
    ],
)
def test_a_secret_in_the_address_is_refused(example, catalogue, kind, address):
    example["interface"] = {"type": kind, "address": address, "credential": "GA_QZK"}
    errors = validate_application(example, catalogue)
    assert errors, address
    assert all("password" in e or "URL" in e for e in errors)
    # The error never repeats the secret.
    assert not any("S3cretPass" in e or "abc" in e for e in errors)


@pytest.mark.parametrize(
    ("kind", "address"),
    [
        ("rest", "https://ga.example.invalid/api"),
        ("soap", "http://127.0.0.1:8080/soap"),
        ("sql", "postgresql+psycopg://hub@10.0.0.5:5432/qianzhiku?options=-csearch_path%3Dexchange"),
        ("sql", "sqlite:////srv/qzk/ga.sqlite"),
        ("file", "/srv/drop/SELF_GA/"),
    ],
)
def test_clean_addresses_are_accepted(example, catalogue, kind, address):
    example["interface"] = {"type": kind, "address": address, "credential": "GA_QZK" if kind != "file" else None}
    assert validate_application(example, catalogue) == []


@pytest.mark.parametrize(
    "value", ["Passw0rd2026", "eyJhbGciOiJIUzI1NiJ9", "sk-live-1234", "a8f5f167f44f4964e6c998dee827110c"]
)
def test_a_credential_that_looks_like_a_secret_is_refused(example, catalogue, value):
    assert looks_like_secret(value)
    example["interface"] = {"type": "rest", "address": "https://ga.example.invalid", "credential": value}
    errors = validate_application(example, catalogue)
    assert len(errors) == 1 and errors[0].startswith("interface.credential:")
    assert value not in errors[0]


@pytest.mark.parametrize("value", ["GA_REST", "ga-soap", "SELF_GA.qzk", "CRED_2026"])
def test_credential_names_are_accepted(value):
    assert not looks_like_secret(value)


def test_a_file_drop_folder_must_be_named_by_the_system(example, catalogue):
    example["interface"] = {"type": "file", "address": "inbox/OTHER/", "credential": None}
    errors = validate_application(example, catalogue)
    assert len(errors) == 1 and "SELF_GA" in errors[0]


def test_duplicate_yaml_keys_and_broken_yaml_are_reported(catalogue):
    with pytest.raises(ApplicationError) as caught:
        parse_application("system_code: A_B_C\nsystem_code: X_Y_Z\n", catalogue)
    assert "duplicate key 'system_code'" in caught.value.errors[0]
    with pytest.raises(ApplicationError) as caught:
        parse_application("system_code: [unclosed\n", catalogue)
    assert caught.value.errors[0].startswith("YAML 格式错误 / not valid YAML")
    with pytest.raises(ApplicationError) as caught:
        parse_application("- a list\n", catalogue)
    assert "mapping" in caught.value.errors[0]
