"""File drops written by the generator: layout, formats, streaming and the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from simulators import generator, pools
from simulators.generator import GeneratedData, GeneratorSpec, generate, main, write_bulk, write_inbox

INTS = {"promised_limit", "version", "step_no"}


def _read(path: Path) -> list[dict]:
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            return [
                {k: (int(v) if k in INTS and v else v or None) for k, v in row.items()} for row in csv.DictReader(fh)
            ]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_inbox_layout_and_contents(tmp_path: Path, data: GeneratedData) -> None:
    paths = write_inbox(data, tmp_path)
    names = sorted(p.relative_to(tmp_path).as_posix() for p in paths)
    assert names == [
        "UNIFIED/case.20261127-0001.csv",
        "UNIFIED/case.20261127-x-invalid.jsonl",
        "UNIFIED/case.20261127-z-updates.jsonl",
        "UNIFIED/case_step.20261127-0001.csv",
        "UNIFIED/case_step.20261127-z-updates.jsonl",
        "UNIFIED/complaint.20261127-0001.jsonl",
        "UNIFIED/department.20261127-0001.jsonl",
        "UNIFIED/power_item.20261127-0001.jsonl",
    ]
    assert not list(tmp_path.rglob("*.part"))
    folder = tmp_path / "UNIFIED"
    for entity in ("department", "power_item", "case", "case_step", "complaint"):
        regular = sorted(folder.glob(f"{entity}.20261127-0*"))
        assert [r for p in regular for r in _read(p)] == data.records[entity]
    assert _read(folder / "case.20261127-z-updates.jsonl") == data.updates["case"]
    assert _read(folder / "case_step.20261127-z-updates.jsonl") == data.updates["case_step"]
    assert _read(folder / "case.20261127-x-invalid.jsonl") == data.invalid["case"]
    header = (folder / "case.20261127-0001.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",") == list(generator.CASE_FIELDS)
    raw = (folder / "case.20261127-0001.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw
    # regular files are read before invalid ones, those before updates (§10.1: name order)
    case_files = sorted(p.name for p in folder.glob("case.*"))
    assert case_files[-2:] == ["case.20261127-x-invalid.jsonl", "case.20261127-z-updates.jsonl"]


def test_chunk_rows_splits_regular_files(tmp_path: Path) -> None:
    data = generate(GeneratorSpec(cases=500, complaints=5, invalid_cases=0))
    paths = write_inbox(data, tmp_path, csv_entities=(), chunk_rows=200, tag="t1")
    cases = sorted(p for p in paths if p.name.startswith("case.t1-0"))
    assert [p.name for p in cases] == ["case.t1-0001.jsonl", "case.t1-0002.jsonl", "case.t1-0003.jsonl"]
    assert [len(_read(p)) for p in cases] == [200, 200, 100]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_bulk_writer_writes_the_same_bytes_as_the_in_memory_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setattr(generator, "CASE_BLOCK", 400)  # several blocks
    spec = GeneratorSpec(cases=1000, complaints=40)
    data = generate(spec)
    expected = write_inbox(
        data, tmp_path / "a", csv_entities=("case", "case_step") if fmt == "csv" else (), chunk_rows=700
    )
    result = write_bulk(spec, tmp_path / "b", fmt, chunk_rows=700)
    assert sorted(p.relative_to(tmp_path / "b") for p in result.paths) == sorted(
        p.relative_to(tmp_path / "a") for p in expected
    )
    for p in expected:
        assert p.read_bytes() == (tmp_path / "b" / p.relative_to(tmp_path / "a")).read_bytes(), p.name
    assert result.counts == data.counts
    assert result.manifest == data.manifest
    assert not list((tmp_path / "b").rglob("*.part"))


def test_without_version_traffic_there_are_no_update_files(tmp_path: Path) -> None:
    spec = GeneratorSpec(cases=400, complaints=5, invalid_cases=0, update_share=0)
    result = write_bulk(spec, tmp_path, "jsonl")
    assert not [p for p in result.paths if "updates" in p.name or "invalid" in p.name]
    assert not list(tmp_path.rglob("*.part"))
    assert result.counts["case"] == {"sent": 400, "duplicate": 0, "stale": 0, "invalid": 0, "keys": 400}


def test_a_self_built_system_sends_only_its_cases_and_steps(tmp_path: Path) -> None:
    unified = generate(GeneratorSpec(cases=300, complaints=20))
    ga_items = [
        i["power_code"]
        for i in unified.records["power_item"]
        if i["dept_code"] == unified.records["department"][1]["dept_code"] and i["state"] == "A"
    ]
    spec = GeneratorSpec(
        seed=7,
        catalogue_seed=GeneratorSpec.seed,
        cases=200,
        complaints=0,
        source_system="SELF_GA",
        power_codes=tuple(ga_items[:3]),
    )
    data = generate(spec)
    assert data.records["power_item"] == unified.records["power_item"]  # the same catalogue
    assert {c["power_code"] for c in data.records["case"]} == set(ga_items[:3])
    assert {c["source_system"] for c in data.records["case"]} == {"SELF_GA"}
    assert [c["case_id"] for c in data.records["case"]] != [c["case_id"] for c in unified.records["case"][:200]]
    write_inbox(unified, tmp_path)
    write_inbox(data, tmp_path)
    assert sorted(p.name for p in (tmp_path / "SELF_GA").iterdir())[:2] == [
        "case.20261127-0001.csv",
        "case.20261127-x-invalid.jsonl",
    ]
    assert not [p for p in (tmp_path / "SELF_GA").iterdir() if not p.name.startswith("case")]
    assert _read(tmp_path / "UNIFIED" / "complaint.20261127-0001.jsonl") == unified.records["complaint"]
    bulk = write_bulk(spec, tmp_path / "bulk", "jsonl")
    assert {p.parent.name for p in bulk.paths} == {"SELF_GA"}


def test_power_codes_outside_the_catalogue_are_refused() -> None:
    with pytest.raises(generator.GeneratorError, match="power_codes"):
        generate(GeneratorSpec(cases=10, power_codes=("XK3204810999999000",)))


def test_pools_are_safe_to_write_without_escaping() -> None:
    texts: list[str] = []
    for name in dir(pools):
        if name.startswith("_"):
            continue
        value = getattr(pools, name)
        if isinstance(value, tuple | dict):
            texts.extend(_strings(value))
    assert len(texts) > 500
    for t in texts:
        assert not set(t) & set('",\\\n\r'), t


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, tuple | list):
        return [s for v in value for s in _strings(v)]
    if hasattr(value, "__dataclass_fields__"):
        return [s for f in value.__dataclass_fields__ for s in _strings(getattr(value, f))]
    return []


def test_command_line_writes_a_dataset_and_a_manifest(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    manifest = tmp_path / "manifest.json"
    code = main(
        [
            "--cases",
            "300",
            "--out",
            str(tmp_path / "inbox"),
            "--format",
            "csv",
            "--seed",
            "7",
            "--manifest",
            str(manifest),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "300 cases" in out and "12 invalid cases" in out
    assert (tmp_path / "inbox" / "UNIFIED" / "case.20261127-0001.csv").exists()
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    assert len(entries) == 12 and entries[0]["rule_family"] == "ID_CHECKDIGIT"
    assert entries[0]["key"][0] == "UNIFIED"


def test_command_line_refuses_a_bad_spec(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--cases", "10", "--out", str(tmp_path), "--departments", "3"]) == 2
    assert "invalid generator spec" in capsys.readouterr().err
