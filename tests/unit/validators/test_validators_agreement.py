"""Property-style: on randomly broken records the columnar path and explain_record give the same answer."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from vd_helpers import batch_of, example_refs, good_records

from connectors.base import RecordBatch
from connectors.file_drop import parse_jsonl
from schemas.standard import ENTITIES, FIELD_ORDER
from validators import canonical_payload, explain_record, validate_batch

WRONG_VALUES = [
    None,
    "",
    "   ",
    "\u3000",
    1,
    -1,
    1.5,
    2.0,
    True,
    [],
    ["SL"],
    {"a": 1},
    "ZZ",
    "x" * 70,
    2**31,
    2**64,
    "2026-09-30T10:15:00",
    "2026-02-30T10:15:00+08:00",
    "2026-09-30T10:15:00Z",
    "1.234",
    "0",
    "12.50",
    "SELF_GA",
    "LY-000001",
    "A",
    "CLOSED",
    "COMPLETED",
    "IN_PROGRESS",
    'say "hi"\n\\',
    "SFZ",
    "USCC",
]


def mutate(rec: dict[str, Any], entity: str, rng: random.Random) -> dict[str, Any]:
    rec = dict(rec)
    fields = list(FIELD_ORDER[entity])
    for _ in range(rng.randint(1, 3)):
        name = rng.choice(fields)
        action = rng.random()
        if action < 0.1:
            rec.pop(name, None)
        elif action < 0.15:
            rec[rng.choice(["remark", "备注", "extra"])] = rng.choice([None, "x", 1])
        elif action < 0.3 and isinstance(rec.get(name), str) and rec[name]:
            value = rec[name]
            pos = rng.randrange(len(value))
            rec[name] = value[:pos] + rng.choice("0189XZ -:+T") + value[pos + 1 :]  # one character off
        else:
            rec[name] = rng.choice(WRONG_VALUES)
    return rec


def _by_line(outcome: Any) -> dict[int, list[tuple[str, str]]]:
    return {q.line_no: [(v.path, v.rule_id) for v in q.violations] for q in outcome.quarantined}


def _check(entity: str, records: list[dict], batch: RecordBatch, refs: Any, system: str) -> int:
    out = validate_batch(batch, refs)
    got = _by_line(out)
    disagreements = []
    for line, rec in enumerate(records, start=1):
        want = [(v.path, v.rule_id) for v in explain_record(entity, rec, refs=refs, arrived_from=system)]
        if got.get(line, []) != want:
            disagreements.append((line, want, got.get(line, [])))
    assert disagreements == []
    for frame in (out.valid, out.held):
        for payload in frame["payload"]:
            assert canonical_payload(entity, json.loads(payload)) == payload
    return len(out.quarantined)


@pytest.mark.parametrize("entity", ENTITIES)
@pytest.mark.parametrize("seed", [1, 2])
def test_columnar_and_explain_agree_on_broken_records(examples_dir: Path, entity: str, seed: int) -> None:
    rng = random.Random(seed * 1000 + ENTITIES.index(entity))
    good = good_records(examples_dir, entity)
    records = [
        mutate(rng.choice(good), entity, rng) if rng.random() < 0.7 else dict(rng.choice(good)) for _ in range(300)
    ]
    refs = example_refs(examples_dir, scope=None)
    # frames built from decoded records (REST, SOAP, SQL connectors) ...
    quarantined = _check(entity, records, batch_of(entity, records), refs, "UNIFIED")
    assert quarantined > 100
    # ... and from JSON Lines parsed column-wise by the file drop
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    frame, raw, unparsed, _ = parse_jsonl(entity, data)
    assert unparsed == [] and len(frame) == len(records)
    batch = RecordBatch(source_system="UNIFIED", entity=entity, origin="test", frame=frame, raw=raw)
    _check(entity, records, batch, refs, "UNIFIED")


def test_agreement_for_a_self_built_system_with_scope(examples_dir: Path) -> None:
    rng = random.Random(99)
    scope = frozenset({"XK3204810040011000", "QR3204810040012000", "CF3204810040013000"})
    good = [dict(r, source_system="SELF_GA") for r in good_records(examples_dir, "case")]
    records = [mutate(r, "case", rng) if rng.random() < 0.5 else r for r in good]
    refs = example_refs(examples_dir, scope=scope)
    _check("case", records, batch_of("case", records, "SELF_GA"), refs, "SELF_GA")
