"""``sanheyi status`` after a full cycle on a generated dataset: it balances with the warehouse, the pages are
written, and no personal data of the input (applicant names and ID numbers, complaint content, handler names)
appears in any log, report, status page or data quality page."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from sanheyi.cli import main
from sanheyi.settings import load_settings
from simulators.generator import GeneratorSpec, generate, write_inbox
from warehouse.db import make_engine
from warehouse.tables import ops_load_batch, ops_package, ops_quarantine

AS_OF = "2026-11-28T09:00:00+08:00"
COUNTS = ("received", "loaded", "quarantined", "duplicate", "stale", "held")


class Cycle:
    def __init__(self, home: Path, personal: dict[str, set[str]], output: str) -> None:
        self.home = home
        self.personal = personal
        self.output = output  # what the run printed on stdout and stderr


def _personal_values(data) -> dict[str, set[str]]:
    values: dict[str, set[str]] = {
        "applicant_id_no": set(),
        "applicant_name": set(),
        "content": set(),
        "handler_name": set(),
    }
    for group in (data.records, data.updates, data.invalid):
        for record in group.get("case_step", []):
            if isinstance(record.get("handler_name"), str) and record["handler_name"].strip():
                values["handler_name"].add(record["handler_name"])
        for record in group.get("case", []):
            for field in ("applicant_id_no", "applicant_name"):
                value = record.get(field)
                if isinstance(value, str) and value.strip():
                    values[field].add(value)
        for record in group.get("complaint", []):
            if isinstance(record.get("content"), str) and record["content"].strip():
                values["content"].add(record["content"])
    return values


@pytest.fixture(scope="module")
def cycle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cycle]:
    home = tmp_path_factory.mktemp("status") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SANHEYI_HOME", str(home))
        mp.delenv("SANHEYI_WAREHOUSE_URL", raising=False)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            assert main(["init"]) == 0
            data = generate(GeneratorSpec(cases=400, complaints=40, invalid_cases=6))
            write_inbox(data, home / "inbox")
            code = main(["-v", "run", "--as-of", AS_OF])
        assert code == 0, err.getvalue()[-2000:]
        try:
            yield Cycle(home, _personal_values(data), out.getvalue() + err.getvalue())
        finally:
            root = logging.getLogger()
            for handler in [h for h in root.handlers if getattr(h, "_sanheyi", False)]:
                root.removeHandler(handler)
                handler.close()


def status_json(capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    capsys.readouterr()
    assert main(["status", "--format", "json", "--as-of", AS_OF, *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_status_balances_with_the_warehouse(cycle: Cycle, capsys: pytest.CaptureFixture[str]) -> None:
    status = status_json(capsys)
    engine = make_engine(load_settings(cycle.home).warehouse_url)
    with engine.connect() as conn:
        batches = conn.execute(select(ops_load_batch)).mappings().all()
        quarantine_rows = conn.execute(select(func.count()).select_from(ops_quarantine)).scalar_one()
        open_rows = conn.execute(
            select(func.count()).select_from(ops_quarantine).where(ops_quarantine.c.status == "OPEN")
        ).scalar_one()
        packages = conn.execute(select(ops_package.c.sequence, ops_package.c.state)).all()
    engine.dispose()
    assert batches, "the cycle loaded nothing"

    by_source = {s["system_code"]: s for s in status["sources"]}
    assert status["sources"][0]["system_code"] == "UNIFIED"
    for code in {b["source_system"] for b in batches}:
        mine = [b for b in batches if b["source_system"] == code]
        window = by_source[code]["last_7_days"]
        assert window["batches"] == len(mine)
        for name in COUNTS:
            assert window[name] == sum(b[f"{name}_count"] for b in mine), (code, name)
        # each source balances as every batch does (§4)
        assert window["received"] == sum(window[name] for name in COUNTS[1:])
        assert by_source[code]["last_batch"]["batch_id"] == max(b["batch_id"] for b in mine)
    for name in COUNTS:
        assert status["totals"][name] == sum(b[f"{name}_count"] for b in batches)
    # every quarantined record counted by a batch is a row of the quarantine
    assert status["totals"]["quarantined"] == quarantine_rows > 0
    assert status["totals"]["open_quarantine"] == open_rows
    assert by_source["UNIFIED"]["last_ge_verdict"]["verdict"] in ("PASS", "WARN")
    assert by_source["UNIFIED"]["last_successful_read_at"].startswith("2026-11-28T09:00:00")
    assert by_source["UNIFIED"]["waiting"] == {"files": 0, "records": 0}
    assert by_source["UNIFIED"]["cursor"] is not None
    assert [(p["sequence"], p["state"]) for p in status["packages"]] == [tuple(p) for p in packages]
    assert status["packages"], "the cycle built no package"

    # a week later the window is empty, the last batch is still shown
    later = status_json(capsys, "--as-of", "2026-12-10T09:00:00+08:00")
    assert later["totals"]["received"] == 0
    assert later["sources"][0]["last_batch"]["batch_id"] == by_source["UNIFIED"]["last_batch"]["batch_id"]


def test_status_table_and_pages_for_people_without_a_terminal(cycle: Cycle, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["status", "--as-of", AS_OF]) == 0
    table = capsys.readouterr().out
    totals = status_json(capsys)["totals"]
    assert "UNIFIED" in table and str(totals["received"]) in table
    page = (cycle.home / "reports" / "status.html").read_text(encoding="utf-8")
    assert "UNIFIED" in page and f">{totals['received']}<" in page
    docs = (cycle.home / "reports" / "data_docs" / "index.html").read_text(encoding="utf-8")
    assert "sanheyi.case" in docs and "expect_table_row_count_to_be_between" in docs
    assert "<script" not in page and "<script" not in docs


def _texts(path: Path) -> Iterator[str]:
    """The readable text of a log, page, spreadsheet (every part of the zip) or PDF."""
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                yield archive.read(name).decode("utf-8", "replace")
    elif path.suffix == ".pdf":
        yield "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
    else:
        yield path.read_bytes().decode("utf-8", "replace")


def test_no_personal_data_in_logs_reports_or_pages(cycle: Cycle) -> None:
    files = sorted(p for folder in ("logs", "reports") for p in (cycle.home / folder).rglob("*") if p.is_file())
    names = {p.name for p in files}
    assert {"sanheyi.log", "status.html", "index.html"} <= names
    assert any(p.suffix == ".pdf" for p in files) and any(p.suffix == ".xlsx" for p in files)
    log_text = (cycle.home / "logs" / "sanheyi.log").read_text(encoding="utf-8")
    assert "batch=1]" in log_text  # lines carry their batch
    assert all(cycle.personal.values())
    leaks = []
    sources = [("run output", cycle.output)] + [(str(p.relative_to(cycle.home)), t) for p in files for t in _texts(p)]
    for where, text in sources:
        for field, values in cycle.personal.items():
            found = sorted(v for v in values if v in text)
            if found:
                leaks.append(f"{where}: {len(found)} {field} value(s)")
    assert not leaks, leaks
    # the scan does find such values where they belong: the package for Changzhou carries them in full (§9)
    package = next((cycle.home / "outbox").rglob("*.zip"))
    with zipfile.ZipFile(package) as archive:
        carried = "".join(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())
    assert any(v in carried for v in cycle.personal["applicant_id_no"])
    assert any(v in carried for v in cycle.personal["content"])


def test_a_system_that_never_applied_shows_its_waiting_files(
    cycle: Cycle, examples_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = cycle.home / "inbox" / "SELF_GA"
    shutil.copytree(examples_dir / "inbox" / "SELF_GA", folder)
    try:
        sources = {s["system_code"]: s for s in status_json(capsys)["sources"]}
    finally:
        shutil.rmtree(folder)
    waiting = sources["SELF_GA"]
    assert (waiting["kind"], waiting["state"], waiting["read_each_cycle"]) == ("unregistered", None, False)
    assert waiting["waiting"] == {"files": 2, "records": 8 + 20}
    assert waiting["last_batch"] is None and waiting["last_7_days"]["received"] == 0
