"""A record dated outside the calendar's default span is supervised like any other, not a stop."""

from __future__ import annotations

import json
from pathlib import Path

AS_OF = "2026-11-06T18:00:00+08:00"


def _history_case(examples_home: Path, examples_dir: Path, received: str, finished: str) -> dict:
    """A department migrating its history sends one case received and finished on those instants."""
    template = json.loads((examples_dir / "inbox" / "UNIFIED" / "case.20261125a.jsonl").read_text().splitlines()[1])
    old = dict(template, case_id="LY3204819990001", received_at=received, finished_at=finished, updated_at=finished)
    (examples_home / "inbox" / "UNIFIED" / "case.20261126-history.jsonl").write_text(
        json.dumps(old, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return old


def test_a_case_from_before_the_default_calendar_span_is_supervised_and_counted(
    examples_home: Path, examples_dir: Path, cli
) -> None:
    old = _history_case(examples_home, examples_dir, "2019-12-24T09:00:00+08:00", "2019-12-27T09:18:48+08:00")

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


def test_a_case_from_a_year_the_calendar_packages_disagree_on_is_counted_as_provisional(
    examples_home: Path, examples_dir: Path, cli, cli_streams
) -> None:
    # chinesecalendar and holidays disagree on 2005-12-31: the year is provisional, not a stop
    _history_case(examples_home, examples_dir, "2005-06-01T09:00:00+08:00", "2005-06-03T09:00:00+08:00")

    code, out = cli("run", "--as-of", AS_OF)
    assert code == 0, out
    assert "2005-12-31" in out and "override" in out  # the office is told what to settle, and where

    code, out, err = cli_streams(
        "stats", "--from", "2005-06-01", "--to", "2005-06-30", "--as-of", AS_OF, "--format", "json"
    )
    assert code == 0, err
    assert json.loads(out)["total"]["completed"] == 1
    assert "含推定日历" in err
    code, out, err = cli_streams(
        "stats", "--from", "2026-10-01", "--to", "2026-10-31", "--as-of", AS_OF, "--format", "json"
    )
    assert code == 0 and "含推定日历" not in err  # the official years' figures stay official
