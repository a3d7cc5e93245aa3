"""Files: the period directory, chosen formats, atomic replacement, and a clear error without a CJK font."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from reports import CjkFontMissingError, ReportError, render_report, report_dir
from reports import charts as charts_module


def test_report_dir() -> None:
    assert report_dir(Path("/srv/reports"), date(2026, 10, 1), date(2026, 10, 31)) == Path(
        "/srv/reports/2026-10-01_2026-10-31"
    )


def test_only_the_requested_formats_are_written(bundle: dict[str, Any], tmp_path: Path) -> None:
    files = render_report(bundle, tmp_path / "a" / "b", formats=("xlsx",))
    assert files.html is None and files.pdf is None
    assert files.xlsx == tmp_path / "a" / "b" / "liyang-report_2026-10-01_2026-10-31.xlsx"
    assert [p.name for p in (tmp_path / "a" / "b").iterdir()] == [files.xlsx.name]


def test_a_failed_write_keeps_the_previous_report(
    bundle: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = render_report(bundle, tmp_path, formats=("xlsx",))
    assert first.xlsx is not None
    before = first.xlsx.read_bytes()
    bundle["statistics"]["total"]["score"] = 12.34

    def crash(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(ReportError, match="No space left on device"):
        render_report(bundle, tmp_path, formats=("xlsx",))
    assert first.xlsx.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [first.xlsx.name]  # no temporary file left behind


def test_a_failed_render_writes_nothing(
    bundle: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every output is produced before the first file is written: XLSX fails, so no HTML appears either.
    import reports.xlsx

    def broken(view: object) -> bytes:
        raise RuntimeError("boom")

    monkeypatch.setattr(reports.xlsx, "render_xlsx", broken)
    with pytest.raises(RuntimeError):
        render_report(bundle, tmp_path / "out", formats=("html", "xlsx"))
    assert not (tmp_path / "out").exists()


def test_missing_cjk_font_is_a_clear_error(
    bundle: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(charts_module, "_PREFERRED", ("No Such CJK Font",))
    monkeypatch.setattr(charts_module.font_manager, "findSystemFonts", lambda *a, **k: [])
    charts_module.cjk_font.cache_clear()
    try:
        with pytest.raises(CjkFontMissingError, match="fonts-noto-cjk"):
            render_report(bundle, tmp_path, formats=("html",))
    finally:
        charts_module.cjk_font.cache_clear()
    assert list(tmp_path.iterdir()) == []


def test_many_departments_are_split_over_several_charts(bundle: dict[str, Any]) -> None:
    from reports.view import build_view

    template = bundle["statistics"]["departments"][0]
    bundle["statistics"]["departments"] = [
        {**template, "dept_code": f"DEPT{i:02d}", "dept_name": f"溧阳市第{i}局", "score": 50.0 + i} for i in range(45)
    ]
    with charts_module._style():
        images = charts_module._on_time_by_department(build_view(bundle))
    assert len(images) == 3 and all(png.startswith(b"\x89PNG") for png in images)


def test_pdf_lists_are_capped_and_say_where_the_rest_is(
    bundle: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reports.pdf
    import reports.render

    seen: list[str] = []

    def fake_pdf(html: str) -> bytes:
        seen.append(html)
        return b"%PDF-1.7 stub"

    monkeypatch.setattr(reports.render, "PDF_LIST_LIMIT", 5)
    monkeypatch.setattr(reports.pdf, "render_pdf", fake_pdf)
    files = render_report(bundle, tmp_path, formats=("html", "pdf"))
    assert files.html is not None
    full, capped = files.html.read_text(encoding="utf-8"), seen[0]
    assert "仅列示前" not in full
    assert "本文件仅列示前 5 条（共 38 条），完整明细见同期 HTML 报告或 XLSX 报告“监察信号”工作表" in capped
    assert "本文件仅列示前 5 条（共 33 条）" in capped  # the unified platform's quarantined records
    assert "共 3 条" not in capped  # SELF_GA's 3 records all fit
    last_event = bundle["events"][-1]["case_id"]
    assert last_event in full


def test_an_empty_period_renders(bundle: dict[str, Any], tmp_path: Path) -> None:
    bundle["events"] = []
    bundle["quarantine"] = []
    bundle["previous_statistics"] = None
    files = render_report(bundle, tmp_path, formats=("html", "xlsx"))
    assert files.html is not None and files.xlsx is not None
    html = files.html.read_text(encoding="utf-8")
    assert "本期无监察信号。" in html and "本期无隔离记录。" in html and "无上期数据" in html
    from openpyxl import load_workbook

    wb = load_workbook(files.xlsx)
    assert wb["监察信号"].max_row == 2 and wb["隔离记录"].max_row == 2  # banner and column titles only
