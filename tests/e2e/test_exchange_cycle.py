"""Packages for Changzhou through the command line: nothing new, no package; a late correction of
three cases, a package with exactly those three; every case version in exactly one package; the
verifier catches tampering."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

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
