"""A change to a power item applies to the cases received under it, not to those finished before."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from sanheyi.settings import load_settings
from warehouse.db import make_engine
from warehouse.tables import fct_supervision_event

AS_OF = "2026-11-06T18:00:00+08:00"
ITEM = "XK3204810010002000"  # fee 150.00 in the example catalogue


def fee_cards(home: Path) -> dict[str, str]:
    """Active NR01 (fee) cards by case id."""
    engine = make_engine(load_settings(home).warehouse_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(fct_supervision_event.c.case_id, fct_supervision_event.c.status).where(
                    fct_supervision_event.c.rule == "NR01"
                )
            ).all()
    finally:
        engine.dispose()
    return {case_id: status for case_id, status in rows}


def test_a_fee_raised_later_leaves_the_cases_that_paid_the_old_fee_alone(
    examples_home: Path, examples_dir: Path, cli
) -> None:
    unified = examples_dir / "inbox" / "UNIFIED"
    assert cli("run", "--as-of", AS_OF)[0] == 0
    before = fee_cards(examples_home)
    # LY3204810000027 and LY3204810000035 were received in July and paid the 150.00 of the time
    assert "LY3204810000027" not in before and "LY3204810000035" not in before

    item = next(
        json.loads(line) for line in (unified / "power_item.20261125.jsonl").read_text().splitlines() if ITEM in line
    )
    raised = dict(item, fee="200.00", version=2, updated_at="2026-11-01T09:00:00+08:00")
    template = next(
        json.loads(line)
        for line in (unified / "case.20261125a.jsonl").read_text().splitlines()
        if "LY3204810000027" in line
    )
    # received after the raise, still charged the old fee: a fee card
    after_raise = dict(
        template,
        case_id="LY3204810009901",
        received_at="2026-11-02T10:00:00+08:00",
        finished_at="2026-11-04T16:00:00+08:00",
        updated_at="2026-11-04T17:00:00+08:00",
    )
    inbox = examples_home / "inbox" / "UNIFIED"
    (inbox / "power_item.20261102.jsonl").write_text(json.dumps(raised, ensure_ascii=False) + "\n", encoding="utf-8")
    (inbox / "case.20261104.jsonl").write_text(json.dumps(after_raise, ensure_ascii=False) + "\n", encoding="utf-8")
    code, out = cli("run", "--as-of", AS_OF)
    assert code == 0, out

    after = fee_cards(examples_home)
    assert "LY3204810000027" not in after and "LY3204810000035" not in after
    assert after.get("LY3204810009901") == "ACTIVE"
    assert {k: v for k, v in after.items() if k != "LY3204810009901"} == before
