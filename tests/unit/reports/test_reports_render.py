"""The three report files rendered from the example statistics: figures, sheets, PDF text, no personal data."""

from __future__ import annotations

import re
import zipfile
from datetime import date
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from rp_bundles import (
    DECISION_LOG_HEAD,
    PLANTED_ID,
    PLANTED_ID_MASKED,
    PLANTED_NAME,
    PLANTED_USCC,
    make_bundle,
)

from reports import ReportFiles, render_report, report_dir

MARK = "含推定日历"


def _xlsx_xml(path: Path) -> str:
    """Every text node and attribute of every XML part, decoded (openpyxl writes CJK as &#NNNNN;)."""
    parts = []
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.endswith((".xml", ".rels")):
                for element in ElementTree.fromstring(zf.read(name)).iter():  # noqa: S314 - our own output
                    parts.append(element.text or "")
                    parts.extend(element.attrib.values())
    return "\n".join(parts)


def _pdf_text(path: Path) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(path).pages]


def _squash(text: str) -> str:
    # PDF text extraction may break lines or insert spaces between CJK glyphs.
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], ReportFiles]:
    """All three formats of October, official calendar, with personal data planted in the bundle."""
    bundle = make_bundle(plant=True)
    root = tmp_path_factory.mktemp("reports")
    out = report_dir(root, date(2026, 10, 1), date(2026, 10, 31))
    return bundle, render_report(bundle, out)


@pytest.fixture(scope="module")
def provisional(tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    """All three formats with statistics resting on a provisional calendar."""
    return render_report(make_bundle(provisional=True), tmp_path_factory.mktemp("provisional"))


def test_files_are_written_under_the_period_directory(official: tuple[dict, ReportFiles]) -> None:
    _, files = official
    assert files.html is not None and files.xlsx is not None and files.pdf is not None
    for path in (files.html, files.xlsx, files.pdf):
        assert path.parent.name == "2026-10-01_2026-10-31"
        assert path.stat().st_size > 1000
    # Only the three reports: no temporary file survives.
    assert sorted(p.suffix for p in files.html.parent.iterdir()) == [".html", ".pdf", ".xlsx"]


def test_html_shows_the_given_figures(official: tuple[dict, ReportFiles]) -> None:
    bundle, files = official
    assert files.html is not None
    html = files.html.read_text(encoding="utf-8")
    stats = bundle["statistics"]
    assert "溧阳市行政权力网上公开透明运行 电子监察统计报告" in html
    assert "2026年10月" in html and "2026-10-01 至 2026-10-31" in html
    assert "统计时点：<b>2026-11-06 18:00</b>" in html
    assert "数据截止：<b>2026-11-06 17:58</b>" in html  # 09:58Z shown as Beijing time
    assert "49.27" in html and "61.90%" in html and "37.50%" in html  # total score, on-time, overdue rate
    for dept in stats["departments"]:
        assert dept["dept_name"] in html
        assert f"{dept['score']:.2f}" in html
    # Change from the previous period: received 21 vs 20, on-time rate 61.90% vs 65.00%.
    assert "较上期 +1" in html and "−3.10 个百分点" in html
    # Every event row is listed by its case or complaint id.
    for event in bundle["events"]:
        assert (event["complaint_id"] or event["case_id"]) in html
    assert "BAD0031SCOPE" in html and "SELF_GA（3 条）" in html


def test_html_is_self_contained(official: tuple[dict, ReportFiles]) -> None:
    _, files = official
    assert files.html is not None
    html = files.html.read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == 4
    assert not re.search(r'(src|href)="(?!data:)', html)
    assert "<link" not in html and "http://" not in html and "https://" not in html


def test_xlsx_sheets_hold_the_figures_with_number_formats(official: tuple[dict, ReportFiles]) -> None:
    bundle, files = official
    assert files.xlsx is not None
    wb = load_workbook(files.xlsx)
    assert wb.sheetnames == ["汇总", "部门排名", "权力类别", "监察信号", "隔离记录"]
    for ws in wb:
        assert "2026年10月" in ws["A1"].value and "数据截止 2026-11-06 17:58" in ws["A1"].value
        assert ws.freeze_panes is not None and int(ws.freeze_panes[1:]) == 3

    total = bundle["statistics"]["total"]
    summary = {ws_row[0].value: ws_row for ws_row in wb["汇总"].iter_rows(min_row=3)}
    assert summary["受理件数"][1].value == total["received"] == 21
    assert summary["受理件数"][2].value == 20  # previous period
    assert summary["按时办结率"][1].value == pytest.approx(0.619)
    assert summary["按时办结率"][1].number_format == "0.00%"
    assert summary["综合得分"][1].value == pytest.approx(49.27)
    assert summary["综合得分"][1].number_format == "0.00"
    assert summary["等级"][1].value == "不合格"

    ranking = wb["部门排名"]
    header = [c.value for c in ranking[2]]
    rows = [[c.value for c in r] for r in ranking.iter_rows(min_row=3)]
    by_name = {r[header.index("部门名称")]: r for r in rows}
    for dept in bundle["statistics"]["departments"]:
        row = by_name[dept["dept_name"]]
        assert row[header.index("综合得分")] == pytest.approx(dept["score"])
        assert row[header.index("等级")] == dept["grade"]
        assert row[header.index("按时办结率")] == dept["on_time_rate"]
    assert [r[0] for r in rows[:-1]] == [1, 2, 3, 4, 5, 6]
    assert rows[0][header.index("部门名称")] == "溧阳市财政局"  # best score first (83.17)
    assert rows[-1][header.index("部门名称")] == "全市合计"
    assert ranking.cell(row=3, column=header.index("综合得分") + 1).number_format == "0.00"
    assert ranking.cell(row=3, column=header.index("超期率") + 1).number_format == "0.00%"

    types = [r[1].value for r in wb["权力类别"].iter_rows(min_row=3)]
    assert len(types) == 12 and types[0] == "行政许可" and types[-1] == "其他"

    events = list(wb["监察信号"].iter_rows(min_row=3, values_only=True))
    assert len(events) == len(bundle["events"])
    # days overdue are numbers a user can sort and sum, one per SX02 signal, as computed
    overdue = sorted((e[2], e[12]) for e in events if e[8] == "SX02")
    assert overdue == sorted((e["case_id"], e["days_overdue"]) for e in bundle["events"] if e["rule"] == "SX02")
    assert all(type(days) is int for _, days in overdue)
    assert all(e[12] is None for e in events if e[8] != "SX02")
    assert isinstance(events[0][11], date)

    quarantined = list(wb["隔离记录"].iter_rows(min_row=3, values_only=True))
    assert len(quarantined) == len(bundle["quarantine"])


def test_pdf_text_is_extractable_chinese_with_header_on_every_page(official: tuple[dict, ReportFiles]) -> None:
    _, files = official
    assert files.pdf is not None
    pages = [_squash(t) for t in _pdf_text(files.pdf)]
    assert len(pages) >= 4
    assert "电子监察统计报告" in pages[0] and "一、总体情况" in pages[0]
    assert "49.27" in pages[0] and "61.90%" in pages[0]
    for text in pages:
        assert "统计时点2026-11-0618:00" in text and "数据截止2026-11-0617:58" in text
        assert "2026年10月" in text
    everything = "".join(pages)
    assert "溧阳市交通运输局" in everything and "LY3204810000068" in everything


def test_provisional_mark_only_when_provisional(official: tuple[dict, ReportFiles], provisional: ReportFiles) -> None:
    _, files = official
    assert files.html and files.xlsx and files.pdf
    assert MARK not in files.html.read_text(encoding="utf-8")
    assert MARK not in _xlsx_xml(files.xlsx)
    assert all(MARK not in _squash(t) for t in _pdf_text(files.pdf))

    assert provisional.html and provisional.xlsx and provisional.pdf
    assert MARK in provisional.html.read_text(encoding="utf-8")
    assert MARK in _xlsx_xml(provisional.xlsx)
    assert all(MARK in _squash(t) for t in _pdf_text(provisional.pdf))  # in the header of every page


def test_every_format_prints_the_decision_log_head(official: tuple[dict, ReportFiles], tmp_path: Path) -> None:
    """The head is what a later `sanheyi systems verify-log --head` checks against: whole, in each file."""
    _, files = official
    assert files.html and files.xlsx and files.pdf
    assert DECISION_LOG_HEAD in files.html.read_text(encoding="utf-8")
    info = {row[0].value: row[1].value for row in load_workbook(files.xlsx)["汇总"].iter_rows() if row[0].value}
    assert info["审批日志链头"] == DECISION_LOG_HEAD
    assert DECISION_LOG_HEAD in _squash("".join(_pdf_text(files.pdf)))

    bundle = make_bundle(previous=False)
    bundle["decision_log_head"] = None  # no decision logged yet
    empty = render_report(bundle, tmp_path, formats=("html", "xlsx"))
    assert empty.html and empty.xlsx
    assert "审批日志链头" not in empty.html.read_text(encoding="utf-8")
    info = {row[0].value: row[1].value for row in load_workbook(empty.xlsx)["汇总"].iter_rows() if row[0].value}
    assert info["审批日志链头"] == "无（尚无审批记录）"


def test_one_provisional_event_marks_the_report(tmp_path: Path) -> None:
    bundle = make_bundle(previous=False)
    bundle["events"][5]["provisional"] = True
    files = render_report(bundle, tmp_path, formats=("html", "xlsx"))
    assert files.pdf is None and files.html and files.xlsx
    assert MARK in files.html.read_text(encoding="utf-8")
    assert MARK in _xlsx_xml(files.xlsx)


def test_no_personal_data_in_any_output(official: tuple[dict, ReportFiles]) -> None:
    _, files = official
    assert files.html and files.xlsx and files.pdf
    html = files.html.read_text(encoding="utf-8")
    outputs = {
        "html": html,
        "xlsx": _xlsx_xml(files.xlsx),
        "pdf": _squash("".join(_pdf_text(files.pdf))),
        "pdf-bytes": files.pdf.read_bytes().decode("latin-1"),
    }
    for name, text in outputs.items():
        for secret in (PLANTED_ID, PLANTED_NAME, PLANTED_USCC, "投诉内容"):
            assert secret not in text, f"{secret!r} found in {name}"
    # The quarantined record that carried an ID as its key is still listed, masked.
    assert PLANTED_ID_MASKED in html
    assert PLANTED_ID_MASKED in outputs["xlsx"] and PLANTED_ID_MASKED in outputs["pdf"]
