"""`sanheyi quarantine list` masks a record key that is an ID number, as the reports do (§9); the export
for the department keeps its own data as it was sent."""

from __future__ import annotations

import json
from pathlib import Path

AS_OF = "2026-11-06T18:00:00+08:00"
ID_NUMBER = "320481199001011237"  # a generated number, sent as the case id by a careless source
MASKED = "320481********1237"


def test_the_quarantine_list_masks_keys_that_are_id_numbers(examples_home: Path, examples_dir: Path, cli) -> None:
    template = json.loads(
        (examples_dir / "inbox" / "UNIFIED" / "case.20261125a.jsonl").read_text("utf-8").splitlines()[2]
    )
    step = json.loads(
        (examples_dir / "inbox" / "UNIFIED" / "case_step.20261125a.jsonl").read_text("utf-8").splitlines()[0]
    )
    records = {
        "case.20261125m.jsonl": {**template, "case_id": ID_NUMBER, "channel": "7"},  # not a channel code
        "case_step.20261125m.jsonl": {**step, "case_id": ID_NUMBER, "step_code": "XX"},  # not a step code
    }
    for name, record in records.items():
        (examples_home / "inbox" / "UNIFIED" / name).write_text(json.dumps(record, ensure_ascii=False) + "\n", "utf-8")
    assert cli("run", "--stage", "ingest", "--as-of", AS_OF)[0] == 0

    code, table = cli("quarantine", "list")
    assert code == 0
    code, listing = cli("quarantine", "list", "--format", "json")
    assert code == 0
    keys = {e["record_key"] for e in json.loads(listing)}
    assert {f"UNIFIED/{MASKED}", f"UNIFIED/{MASKED}/1"} <= keys
    assert "UNIFIED/BAD0000IDCHE" in keys  # a case id that is no ID number is shown as it is
    for output in (table, listing):
        assert ID_NUMBER not in output
        assert f"UNIFIED/{MASKED}" in output

    # the export goes back to the department with its records as sent, to a file the operator chose
    out_file = examples_home / "corrections" / "UNIFIED.jsonl"
    code, out = cli("quarantine", "export", "--system", "UNIFIED", "--out", str(out_file))
    assert code == 0 and ID_NUMBER not in out
    exported = [json.loads(line) for line in out_file.read_text("utf-8").splitlines()]
    assert f"UNIFIED/{ID_NUMBER}" in {e["record_key"] for e in exported}
    assert any(json.loads(e["record"])["case_id"] == ID_NUMBER for e in exported)
