"""The example inbox through file drop + validation quarantines exactly the expected records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import yaml

from connectors.file_drop import FileDropConnector
from schemas.standard import PERSONAL_FIELDS
from validators import FAMILY, ReferenceData, ValidationOutcome, explain_record, validate_batch

ITEM_COLUMNS = ["power_code", "version", "state", "dept_code", "promised_limit", "power_type", "valid_from_at"]


class Cycle:
    """Accumulates references across batches the way the pipeline does."""

    def __init__(self) -> None:
        self.departments: set[str] = set()
        self.items = pd.DataFrame(columns=ITEM_COLUMNS)
        self.cases = pd.DataFrame(columns=["source_system", "case_id", "received_at"])
        self.outcomes: list[tuple[str, ValidationOutcome]] = []
        self.unparsed = 0

    def read(self, inbox: Path, system: str, scope: frozenset[str] | None) -> None:
        for batch in FileDropConnector(inbox, system).read(None):
            refs = ReferenceData(frozenset(self.departments), self.items, self.cases, scope)
            out = validate_batch(batch, refs)
            self.outcomes.append((system, out))
            self.unparsed += len(batch.unparsed)
            valid = out.valid
            if batch.entity == "department":
                self.departments |= set(valid["dept_code"])
            elif batch.entity == "power_item":
                added = valid.assign(valid_from_at=valid["updated_at"])[ITEM_COLUMNS]
                self.items = pd.concat([self.items, added], ignore_index=True)
            elif batch.entity == "case":
                self.cases = pd.concat(
                    [self.cases, valid[["source_system", "case_id", "received_at"]]], ignore_index=True
                )

    def quarantined(self) -> list:
        return [q for _, out in self.outcomes for q in out.quarantined]


@pytest.fixture(scope="module")
def cycle(examples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Cycle:
    root = tmp_path_factory.mktemp("examples")
    shutil.copytree(examples_dir / "inbox", root / "inbox")
    scope = frozenset(yaml.safe_load((examples_dir / "application.SELF_GA.yaml").read_text())["power_codes"])
    c = Cycle()
    c.read(root / "inbox", "UNIFIED", None)
    c.read(root / "inbox", "SELF_GA", scope)
    for f in (root / "inbox" / "SELF_GA").iterdir():
        f.unlink()  # as if archived
    shutil.copy(examples_dir / "later" / "case.20261126.jsonl", root / "inbox" / "SELF_GA")
    c.read(root / "inbox", "SELF_GA", scope)
    return c


def test_exactly_the_expected_records_are_quarantined_with_their_family(cycle: Cycle, examples_dir: Path) -> None:
    expected = json.loads((examples_dir / "expected" / "quarantine.json").read_text(encoding="utf-8"))
    want = {
        (e["source_system"], e["case_id"]): e["rule_family"] for e in expected if e["rule_family"] != "VERSION_CONFLICT"
    }  # decided by the warehouse loader
    got = {}
    for q in cycle.quarantined():
        assert q.entity == "case"
        system, case_id = q.record_key.split("/")
        got[(system, case_id)] = FAMILY[q.reason]
    assert got == want
    assert cycle.unparsed == 0


def test_nothing_is_held_and_every_batch_balances(cycle: Cycle) -> None:
    for _, out in cycle.outcomes:
        assert out.received == len(out.valid) + len(out.held) + len(out.quarantined)
        assert out.held.empty
    steps = sum(len(out.valid) for _, out in cycle.outcomes if out.entity == "case_step")
    assert steps == 152 + 152 + 20


def test_quarantine_items_carry_origin_line_and_raw(cycle: Cycle, examples_dir: Path) -> None:
    by_key = {q.record_key: q for q in cycle.quarantined()}
    csv_item = by_key["UNIFIED/BAD0016BADCO"]
    assert csv_item.origin == "inbox/UNIFIED/case.20261125b.csv"
    raw = json.loads(csv_item.raw_payload)
    assert raw["status"] == "DONE" and raw["version"] == 1 and raw["relief_reason"] is None
    lines = examples_dir / "inbox" / "UNIFIED" / "case.20261125b.csv"
    assert "BAD0016BADCO" in lines.read_text(encoding="utf-8").splitlines()[csv_item.line_no - 1]
    spoofed = by_key["UNIFIED/BAD0032SCOPE"]
    assert spoofed.source_system == "SELF_GA"  # where it arrived from
    assert spoofed.violations[0].path == "source_system"


def test_messages_hold_no_personal_data(cycle: Cycle) -> None:
    for q in cycle.quarantined():
        record = json.loads(q.raw_payload)
        secrets = [str(record[f]) for f in PERSONAL_FIELDS[q.entity] if record.get(f)]
        for v in q.violations:
            for secret in secrets:
                assert secret not in v.message_zh and secret not in v.message_en
            assert v.message_zh and v.message_en


def test_explain_agrees_on_every_quarantined_example(cycle: Cycle) -> None:
    # the spoofed and out-of-scope records need their references; the rest is explained alone
    for _, out in cycle.outcomes:
        for q in out.quarantined:
            if FAMILY[q.reason] in ("SCOPE", "UNKNOWN_POWER", "DEPT_MISMATCH", "PROMISE_ABOVE_ITEM"):
                continue
            got = explain_record(q.entity, json.loads(q.raw_payload))
            assert [(v.path, v.rule_id) for v in got] == [(v.path, v.rule_id) for v in q.violations]


def test_valid_frames_are_typed(cycle: Cycle) -> None:
    cases = next(out.valid for _, out in cycle.outcomes if out.entity == "case" and len(out.valid))
    assert str(cases["received_at"].dtype) == "datetime64[us, UTC]"
    assert cases["promised_limit"].dtype == "int64" and cases["version"].dtype == "int64"
    # codes, text and money stay Arrow strings from parsing to the load (nulls are <NA>)
    assert cases["fee_paid"].dtype == pd.ArrowDtype(pa.string()) and all(isinstance(v, str) for v in cases["fee_paid"])
    assert all(v is pd.NA or isinstance(v, str) for v in cases["penalty_amount"])
    assert len(cases["payload_sha256"].iloc[0]) == 64
    items = next(out.valid for _, out in cycle.outcomes if out.entity == "power_item")
    assert str(items["legal_limit"].dtype) == "Int64" and items["legal_limit"].isna().sum() == 2
    assert items["flow"].iloc[0] == ["SL", "SH", "PZ", "BJ"]
