"""A record dated outside the calendar's default span is supervised like any other, not a stop."""

from __future__ import annotations

import json
from pathlib import Path

AS_OF = "2026-11-06T18:00:00+08:00"


def test_a_case_from_before_the_default_calendar_span_is_supervised_and_counted(
    examples_home: Path, examples_dir: Path, cli
) -> None:
    # a department migrating its history sends a case finished in December 2019
    template = json.loads((examples_dir / "inbox" / "UNIFIED" / "case.20261125a.jsonl").read_text().splitlines()[1])
    old = dict(
        template,
        case_id="LY3204819990001",
        received_at="2019-12-24T09:00:00+08:00",
        finished_at="2019-12-27T09:18:48+08:00",
        updated_at="2019-12-27T10:18:48+08:00",
    )
    (examples_home / "inbox" / "UNIFIED" / "case.20261126-history.jsonl").write_text(
        json.dumps(old, ensure_ascii=False) + "\n", encoding="utf-8"
    )

    code, out = cli("run", "--as-of", AS_OF)
    assert code == 0, out
    assert "outside the calendar span" not in out

    code, out = cli("stats", "--from", "2019-12-01", "--to", "2019-12-31", "--as-of", AS_OF, "--format", "json")
    assert code == 0, out
    december_2019 = json.loads(out)
    counted = {d["dept_code"]: (d["received"], d["completed"]) for d in december_2019["departments"] if d["received"]}
    assert counted == {old["dept_code"]: (1, 1)}
    # 2019-12-24 (Tuesday) + 7 working days promised: finished on the 27th, on time
    assert december_2019["total"]["on_time"] == 1
