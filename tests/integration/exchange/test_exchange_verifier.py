"""The verifier of §8 on real packages, and an independent check written with the standard libraries only."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import struct
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import xc_rows as rows
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from exchange.changzhou import build_package, verify_package
from exchange.changzhou.verify import main as verify_main
from warehouse.db import create_schema, make_engine


@pytest.fixture
def chain(lite, keys, store, now) -> list[Path]:
    """Three chained packages."""
    lite.add_basic()
    paths = [build_package(lite.engine, keys, store, now=now).path]
    for n in (1, 2):
        lite.replace("case", rows.case(n, version=2, at=now + timedelta(hours=n)))
        paths.append(build_package(lite.engine, keys, store, now=now).path)
    return paths


def _rewrite(
    source: Path,
    target: Path,
    replace: dict[str, bytes] | None = None,
    add: dict[str, bytes] | None = None,
    drop: tuple[str, ...] = (),
) -> Path:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename in drop:
                continue
            new.writestr(info, (replace or {}).get(info.filename, old.read(info.filename)))
        for name, data in (add or {}).items():
            new.writestr(name, data)
    return target


def test_independent_check_accepts_the_packages(chain, keys):
    """What a receiver could write in ten lines, without the hub's code."""
    public_key = load_pem_public_key(keys.public_key_pem())
    previous_body = None
    for number, path in enumerate(chain, start=1):
        assert path.name == f"320481-320400-{number:010d}.zip"
        with zipfile.ZipFile(path) as archive:
            assert archive.testzip() is None
            body = archive.read("manifest.json")
            public_key.verify(base64.b64decode(archive.read("manifest.sig"), validate=True), body)  # raises if bad
            manifest = json.loads(body)
            assert manifest["sequence"] == number
            expected_previous = hashlib.sha256(previous_body).hexdigest() if previous_body else None
            assert manifest["previous_manifest_sha256"] == expected_previous
            for entry in manifest["files"]:
                data = archive.read(entry["path"])
                assert hashlib.sha256(data).hexdigest() == entry["sha256"]
                assert len(data) == entry["bytes"]
                assert data.count(b"\n") == entry["records"] and data.endswith(b"\n")
        previous_body = body


def test_valid_chain_verifies(chain, keys):
    pem = keys.public_key_pem()
    assert verify_package(chain[0], pem, None) == []
    assert verify_package(chain[1], pem, chain[0]) == []
    assert verify_package(chain[2], pem, chain[1]) == []


def test_one_changed_byte_in_a_data_file_is_found(chain, keys, tmp_path):
    with zipfile.ZipFile(chain[0]) as archive:
        data = bytearray(archive.read("data/case.jsonl"))
    data[data.index(b"LY0000000000002") + 14] = ord("7")  # one digit of one case_id
    tampered = _rewrite(chain[0], tmp_path / chain[0].name, replace={"data/case.jsonl": bytes(data)})

    faults = verify_package(tampered, keys.public_key_pem(), None)

    assert faults == ["data/case.jsonl 校验和不符 / data/case.jsonl: sha256 differs from the manifest (tampered data)"]


def test_a_flipped_byte_in_the_compressed_archive_is_found(chain, keys, tmp_path):
    tampered = tmp_path / chain[0].name
    shutil.copy(chain[0], tampered)
    with zipfile.ZipFile(tampered) as archive:
        info = archive.getinfo("data/case_step.jsonl")
    raw = bytearray(tampered.read_bytes())
    name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    raw[start + info.compress_size // 2] ^= 0x01
    tampered.write_bytes(bytes(raw))

    faults = verify_package(tampered, keys.public_key_pem(), None)

    assert len(faults) >= 1 and all("data/case_step.jsonl" in f for f in faults)
    assert any("tampered data" in f for f in faults)


def test_wrong_key_is_found(chain, session_keys):
    faults = verify_package(chain[0], session_keys["other"].public_key_pem(), None)
    assert len(faults) == 1
    assert "wrong key" in faults[0] and session_keys["other"].key_id in faults[0]


def test_altered_manifest_breaks_the_signature(chain, keys, tmp_path):
    with zipfile.ZipFile(chain[0]) as archive:
        body = archive.read("manifest.json")
    altered = body.replace(b'"created_at": "2026-11-06T10:00:00+08:00"', b'"created_at": "2026-11-07T10:00:00+08:00"')
    assert altered != body
    tampered = _rewrite(chain[0], tmp_path / chain[0].name, replace={"manifest.json": altered})
    assert verify_package(tampered, keys.public_key_pem(), None) == [
        "签名验证失败 / the signature does not verify: manifest.json was altered or the signature forged"
    ]


def test_broken_chain_is_found(chain, keys, tmp_path, now):
    # package 1 of another warehouse: right sequence, wrong manifest
    other = make_engine(f"sqlite:///{tmp_path / 'other.sqlite'}")
    create_schema(other)
    rows.Warehouse(other).add("case", [rows.case(99)])
    foreign = build_package(other, keys, tmp_path / "other", now=now).path
    other.dispose()

    faults = verify_package(chain[1], keys.public_key_pem(), foreign)

    assert faults == [
        "哈希链断裂 / broken chain: previous_manifest_sha256 is not the SHA-256 of the previous package's manifest.json"
    ]


def test_gap_is_found(chain, keys):
    faults = verify_package(chain[2], keys.public_key_pem(), chain[0])
    assert faults[0] == "序号不连续 / sequence gap: previous package is 1, this is 3 (expected 2)"


def test_renamed_package_is_found(chain, keys, tmp_path):
    renamed = tmp_path / "320481-320400-0000000009.zip"
    shutil.copy(chain[0], renamed)
    faults = verify_package(renamed, keys.public_key_pem(), None)
    assert faults == ["文件名与序号不符 / 320481-320400-0000000009.zip: file name says 9, manifest says 1"]


def test_structure_faults(chain, keys, tmp_path):
    pem = keys.public_key_pem()
    for sub in "abc":
        (tmp_path / sub).mkdir()
    extra = _rewrite(chain[0], tmp_path / "a" / chain[0].name, add={"data/notes.txt": b"hello\n"})
    assert verify_package(extra, pem, None) == [
        "包中有清单未列出的文件 / data/notes.txt is in the archive but not in the manifest"
    ]
    missing = _rewrite(chain[0], tmp_path / "b" / chain[0].name, drop=("data/complaint.jsonl",))
    assert verify_package(missing, pem, None) == [
        "缺少数据文件 / data/complaint.jsonl is listed in the manifest but missing"
    ]
    unsigned = _rewrite(chain[0], tmp_path / "c" / chain[0].name, drop=("manifest.sig",))
    assert verify_package(unsigned, pem, None) == ["缺少 manifest.sig / manifest.sig is missing"]
    not_zip = tmp_path / chain[0].name
    not_zip.write_bytes(b"PK but not really")
    assert verify_package(not_zip, pem, None) == [f"不是 zip 文件 / {not_zip.name} is not a zip archive"]


def test_record_count_is_checked_even_when_hashes_match(lite, keys, store, now, tmp_path):
    """A manifest that lies about the line count, signed with the right key, is still refused."""
    from exchange.changzhou.manifest import manifest_bytes

    lite.add("department", [rows.department(0)])
    path = build_package(lite.engine, keys, store, now=now).path
    manifest = rows.manifest_of(path)
    manifest["files"][0]["records"] = 2
    body = manifest_bytes(manifest)
    signature = base64.b64encode(keys.signer().sign(body))
    lying = _rewrite(path, tmp_path / path.name, replace={"manifest.json": body, "manifest.sig": signature})
    assert verify_package(lying, keys.public_key_pem(), None) == [
        "data/department.jsonl 记录数不符 / data/department.jsonl: 1 lines, manifest says 2 records"
    ]


def test_verifier_command_exit_status(chain, keys, session_keys, tmp_path, capsys):
    public = tmp_path / "exchange.pub"
    public.write_bytes(keys.public_key_pem())
    assert verify_main([str(chain[1]), "--public-key", str(public), "--previous", str(chain[0])]) == 0
    assert capsys.readouterr().out == f"OK: {chain[1].name}\n"

    wrong = tmp_path / "wrong.pub"
    wrong.write_bytes(session_keys["other"].public_key_pem())
    assert verify_main([str(chain[1]), "--public-key", str(wrong)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("FAULT: ") and "wrong key" in out[0]


def _malformed_manifests(manifest: dict) -> dict[str, bytes]:
    """manifest.json bodies of every wrong shape: each must end in FAULT lines, never in a traceback."""
    entry = manifest["files"][0]

    def with_entry(**changes) -> dict:
        return {**manifest, "files": [{**entry, **changes}, *manifest["files"][1:]]}

    shapes: dict[str, object] = {
        "entity a list": with_entry(entity=[entry["entity"]]),
        "entity an object": with_entry(entity={"name": entry["entity"]}),
        "entity a number": with_entry(entity=7),
        "path a list": with_entry(path=[entry["path"]]),
        "records a string": with_entry(records="5"),
        "sha256 an object": with_entry(sha256={"hex": entry["sha256"]}),
        "entry missing keys": {**manifest, "files": [{"path": entry["path"]}]},
        "entry a list": {**manifest, "files": [list(entry.values())]},
        "entity twice": {**manifest, "files": [entry, entry]},
        "files an object": {**manifest, "files": {"0": entry}},
        "signature a list": {**manifest, "signature": ["Ed25519", "key"]},
        "package_id a list": {**manifest, "package_id": [manifest["package_id"]]},
        "sequence a string": {**manifest, "sequence": "1"},
        "sequence true": {**manifest, "sequence": True},
        "created_at a number": {**manifest, "created_at": 20261106},
        "no fields at all": {},
        "a list": [manifest],
        "a string": "manifest",
        "a number": 42,
        "null": None,
    }
    bodies = {name: json.dumps(shape).encode() for name, shape in shapes.items()}
    bodies["nested too deeply"] = b"[" * 100_000 + b"]" * 100_000
    bodies["an integer too long"] = b'{"sequence": ' + b"9" * 5_000 + b"}"
    bodies["not UTF-8"] = b'{"sequence": "\xff"}'
    return bodies


def test_malformed_manifests_end_in_fault_lines(chain, keys, tmp_path, capsys):
    public = tmp_path / "exchange.pub"
    public.write_bytes(keys.public_key_pem())
    manifest = rows.manifest_of(chain[0])
    for name, body in _malformed_manifests(manifest).items():
        malformed = _rewrite(chain[0], tmp_path / chain[0].name, replace={"manifest.json": body})
        # as the package verified, and as the previous package of a sound one
        for args in ([str(malformed)], [str(chain[1]), "--previous", str(malformed)]):
            capsys.readouterr()
            code = verify_main([*args, "--public-key", str(public)])
            out = capsys.readouterr().out.splitlines()
            assert code == 1, name
            assert out and all(line.startswith("FAULT: ") for line in out), (name, out)
