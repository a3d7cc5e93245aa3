"""Packages for Changzhou through the command line: nothing new, no package; a late correction of
three cases, a package with exactly those three; every case version in exactly one package; the
verifier catches tampering; a package rejected as damaged is resent and accepted."""

from __future__ import annotations

import json
import struct
import zipfile
from datetime import datetime
from pathlib import Path

from exchange.changzhou import simulate_receiver

AS_OF = "2026-11-06T18:00:00+08:00"


def package_lines(path: Path, entity: str) -> list[dict]:
    with zipfile.ZipFile(path) as archive:
        name = f"data/{entity}.jsonl"
        if name not in archive.namelist():
            return []
        return [json.loads(line) for line in archive.read(name).decode("utf-8").splitlines()]


def test_packages_follow_the_changes(examples_home: Path, cli, tmp_path: Path) -> None:
    home = examples_home
    stages = ("--stage", "ingest", "--stage", "supervise", "--stage", "exchange")
    assert cli("run", "--as-of", AS_OF, *stages)[0] == 0
    first = home / "outbox" / "320481-320400-0000000001.zip"
    public_key = str(home / "keys" / "exchange.pub")
    code, out = cli("exchange", "verify", str(first), "--public-key", public_key)
    assert code == 0 and out.startswith("OK")
    cases_first = package_lines(first, "case")
    assert len(cases_first) == 82  # every valid case, in its latest version
    assert len(package_lines(first, "supervision_event")) == 150

    code, out = cli("run", "--as-of", AS_OF, *stages)
    assert code == 0 and "no package" in out
    assert sorted(p.name for p in (home / "outbox").glob("*.zip")) == [first.name]

    # a late correction of three cases: a higher version of each
    corrected = []
    for record in cases_first[:3]:
        record = {
            **record,
            "version": record["version"] + 1,
            "updated_at": "2026-11-06T17:00:00+08:00",
            "result_note": (record.get("result_note") or "") + "（更正）",
        }
        corrected.append(record)
    (home / "inbox" / "UNIFIED" / "case.20261106-correction.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in corrected), encoding="utf-8"
    )
    assert cli("run", "--as-of", AS_OF, *stages)[0] == 0
    second = home / "outbox" / "320481-320400-0000000002.zip"
    sent = package_lines(second, "case")
    assert [(r["case_id"], r["version"]) for r in sent] == sorted((r["case_id"], r["version"]) for r in corrected)
    assert package_lines(second, "case_step") == []
    code, out = cli("exchange", "verify", str(second), "--public-key", public_key, "--previous", str(first))
    assert code == 0, out

    # every case version travels once, and the latest of every case has travelled
    versions = [
        (r["source_system"], r["case_id"], r["version"])
        for package in (first, second)
        for r in package_lines(package, "case")
    ]
    assert len(versions) == len(set(versions))
    latest = {}
    for system, case_id, version in versions:
        latest[(system, case_id)] = max(version, latest.get((system, case_id), 0))
    assert len(latest) == 82 and all(latest[(r["source_system"], r["case_id"])] == r["version"] for r in corrected)

    # one changed byte in a data file is detected
    tampered = tmp_path / second.name
    with zipfile.ZipFile(second) as source, zipfile.ZipFile(tampered, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "data/case.jsonl":
                data = data.replace("更正".encode(), "更改".encode(), 1)
            target.writestr(item, data)
    code, out = cli("exchange", "verify", str(tampered), "--public-key", public_key)
    assert code == 1 and "FAULT" in out and "data/case.jsonl" in out

    code, out = cli("exchange", "status", "--format", "json")
    assert [p["sequence"] for p in json.loads(out)] == [1, 2]


def _damage(package: Path, entry: str) -> None:
    """Flip one byte inside an entry's compressed data: the zip still opens, the entry fails its checks."""
    with zipfile.ZipFile(package) as archive:
        info = archive.getinfo(entry)
    data = bytearray(package.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len + info.compress_size // 2] ^= 0xFF
    package.write_bytes(bytes(data))


def test_a_package_rejected_as_damaged_is_resent_and_accepted(examples_home: Path, cli, caplog) -> None:
    home = examples_home
    assert cli("run", "--as-of", AS_OF, "--stage", "ingest", "--stage", "supervise", "--stage", "exchange")[0] == 0
    public_key = (home / "keys" / "exchange.pub").read_bytes()
    delivered = home / "outbox" / "320481-320400-0000000001.zip"
    _damage(delivered, "data/case.jsonl")  # damaged on the way to the prefecture
    names = {r["applicant_name"] for r in package_lines(home / "exchange" / "packages" / delivered.name, "case")}

    [receipt] = simulate_receiver(home / "outbox", public_key, datetime.fromisoformat(AS_OF))
    assert json.loads(receipt.read_text(encoding="utf-8"))["status"] == "REJECTED"
    caplog.clear()
    code, out = cli("exchange", "receipts", "--as-of", AS_OF)
    assert code == 0 and "1 receipt(s) applied: 0 ACCEPTED, 1 REJECTED (packages [1])" in out
    [alert] = [r.getMessage() for r in caplog.records if r.name == "sanheyi.alerts"]
    assert "REJECTED package 1" in alert and "data/case.jsonl" in alert and "exchange resend 1" in alert
    assert not any(name in alert for name in names)
    [package] = json.loads(cli("exchange", "status", "--format", "json")[1])
    assert (package["state"], package["receipt_status"]) == ("REJECTED", "REJECTED")

    code, out = cli("exchange", "resend", "1")
    assert code == 0 and "resent 320481-320400-0000000001.zip" in out
    [package] = json.loads(cli("exchange", "status", "--format", "json")[1])
    assert package["state"] == "DELIVERED"  # awaiting the receipt to the resend

    [receipt] = simulate_receiver(home / "outbox", public_key, datetime.fromisoformat(AS_OF))
    assert json.loads(receipt.read_text(encoding="utf-8"))["status"] == "ACCEPTED"
    code, out = cli("exchange", "receipts", "--as-of", AS_OF)
    assert code == 0 and "1 receipt(s) applied: 1 ACCEPTED, 0 REJECTED" in out
    [package] = json.loads(cli("exchange", "status", "--format", "json")[1])
    assert (package["state"], package["receipt_status"], package["receipt_errors"]) == ("ACCEPTED", "ACCEPTED", [])
    code, out = cli("exchange", "status")
    assert code == 0 and "ACCEPTED" in out and "REJECTED" not in out
