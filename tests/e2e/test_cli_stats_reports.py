"""What supervision staff see: statistics on PostgreSQL equal those on SQLite, the report's numbers
are the numbers of `sanheyi stats`, and a deadline in a year without an official schedule is marked
provisional until the project office enters that year."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import openpyxl

AS_OF = "2026-11-06T18:00:00+08:00"


def stats(cli_streams, period_from: str, period_to: str, as_of: str = AS_OF) -> tuple[dict, bool]:
    """The statistics document on stdout, and whether stderr marks it provisional."""
    code, out, err = cli_streams(
        "stats", "--from", period_from, "--to", period_to, "--as-of", as_of, "--format", "json"
    )
    assert code == 0, out + err
    return json.loads(out), "含推定日历" in err


def test_the_same_statistics_on_postgresql(
    tmp_path: Path, monkeypatch, examples_dir: Path, cli, cli_streams, pg_warehouse_url: str
) -> None:
    home = tmp_path / "pg-home"
    monkeypatch.setenv("SANHEYI_HOME", str(home))
    monkeypatch.setenv("SANHEYI_WAREHOUSE_URL", pg_warehouse_url)
    assert cli("init")[0] == 0
    assert not (home / "warehouse.sqlite").exists()
    shutil.copytree(examples_dir / "inbox" / "UNIFIED", home / "inbox" / "UNIFIED", dirs_exist_ok=True)
    assert cli("run", "--as-of", AS_OF, "--stage", "ingest", "--stage", "supervise")[0] == 0
    want = json.loads(
        (examples_dir / "expected" / "statistics_2026-10-01_2026-10-31_unified-only.json").read_text(encoding="utf-8")
    )
    got, provisional = stats(cli_streams, "2026-10-01", "2026-10-31")
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)  # 1 and 1.0 differ in a file
    assert not provisional
    code, out = cli("quarantine", "list", "--format", "json")
    assert len(json.loads(out)) == 30  # the 35 of the examples less the 5 SCOPE ones of SELF_GA


def test_report_numbers_are_the_statistics(examples_home: Path, cli, cli_streams) -> None:
    assert cli("run", "--as-of", AS_OF, "--stage", "ingest", "--stage", "supervise")[0] == 0
    code, out = cli("report", "--from", "2026-10-01", "--to", "2026-10-31", "--as-of", AS_OF)
    assert code == 0
    files = [Path(line) for line in out.split()]
    assert sorted(p.suffix for p in files) == [".html", ".pdf", ".xlsx"]
    figures, _ = stats(cli_streams, "2026-10-01", "2026-10-31")

    ranking = openpyxl.load_workbook(next(p for p in files if p.suffix == ".xlsx"))["部门排名"]
    header = [cell.value for cell in ranking[2]]
    by_code = {
        row[header.index("部门代码")]: row
        for row in ranking.iter_rows(min_row=3, values_only=True)
        if row[header.index("部门代码")]
    }
    for department in figures["departments"]:
        row = by_code[department["dept_code"]]
        assert row[header.index("综合得分")] == department["score"]
        assert row[header.index("等级")] == department["grade"]
        assert row[header.index("受理件数")] == department["received"]
        assert row[header.index("红牌")] == department["red_cards"]
    html = next(p for p in files if p.suffix == ".html").read_text(encoding="utf-8")
    assert f"{figures['total']['score']:.2f}" in html
    assert "含推定日历" not in html  # October 2026 rests on the official calendar


def test_a_deadline_in_an_unofficial_year_is_provisional_until_the_office_enters_it(
    examples_home: Path, cli, cli_streams
) -> None:
    home = examples_home
    # a case received in late December: its deadline falls in 2027, which no package covers officially
    case = json.loads((home / "inbox" / "UNIFIED" / "case.20261125a.jsonl").read_text(encoding="utf-8").splitlines()[1])
    case.update(
        case_id="LY2026122800001",
        power_code="XK3204810010001000",
        dept_code="11320481466000002C",
        received_at="2026-12-28T09:00:00+08:00",
        promised_limit=5,
        status="IN_PROGRESS",
        finished_at=None,
        result=None,
        result_note=None,
        fee_paid="0",
        satisfaction=None,
        version=1,
        updated_at="2026-12-28T09:30:00+08:00",
    )
    (home / "inbox" / "UNIFIED" / "case.20261228.jsonl").write_text(
        json.dumps(case, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    as_of = "2027-01-15T09:00:00+08:00"
    assert cli("run", "--as-of", as_of, "--stage", "ingest")[0] == 0
    figures, provisional = stats(cli_streams, "2026-12-01", "2027-01-15", as_of)
    assert provisional and "provisional" not in figures  # stdout stays exactly statistics.json
    code, out = cli("stats", "--from", "2026-12-01", "--to", "2027-01-15", "--as-of", as_of)
    assert "含推定日历" in out

    # the State Council's schedule for 2027 is entered: 1 January off, a make-up Saturday in February
    (home / "calendar" / "overrides.yaml").write_text(
        "years:\n"
        "  2027:\n"
        "    notice: 国办发明电〔2026〕示例号\n"
        "    holidays: [2027-01-01, {from: 2027-02-06, to: 2027-02-14}]\n"
        "    workdays: [2027-02-20]\n",
        encoding="utf-8",
    )
    official, provisional = stats(cli_streams, "2026-12-01", "2027-01-15", as_of)
    assert not provisional and official["total"]["received"] == figures["total"]["received"] > 0
