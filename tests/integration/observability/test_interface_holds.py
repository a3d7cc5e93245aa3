"""An interface source (pages, a cursor) is not read past a held page: nothing after it is lost or skipped."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from connectors.base import CheckResult, RecordBatch, json_line, records_to_frame
from sanheyi.ingest import Source, ingest_sources, unified_source
from sanheyi.pipeline import init_home, new_cycle_id
from sanheyi.quality import release_batch
from sanheyi.settings import load_settings
from warehouse.cursors import load_cursor
from warehouse.db import make_engine
from warehouse.tables import fct_case, ops_load_batch


class PagedCases:
    """A stand-in for a paged interface: the cursor is the number of pages already stored."""

    system_code = "UNIFIED"

    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages = pages
        self.served: list[int] = []

    def check(self) -> CheckResult:
        return CheckResult(True, self.system_code, "ok")

    def read(self, cursor: dict[str, Any] | None) -> Iterator[RecordBatch]:
        start = int((cursor or {}).get("page", 0))
        for page_no in range(start + 1, len(self.pages) + 1):
            records = self.pages[page_no - 1]
            self.served.append(page_no)
            yield RecordBatch(
                source_system="UNIFIED",
                entity="case",
                origin=f"test:case?page={page_no}",
                frame=records_to_frame("case", records, list(range(1, len(records) + 1))),
                raw=[json_line(r) for r in records],
                next_cursor={"page": page_no},
                file_path=None,
            )


def test_a_held_page_stops_the_source_until_released(tmp_path: Path, examples_dir: Path) -> None:
    settings = load_settings(tmp_path / "home")
    init_home(settings)
    settings = load_settings(settings.home)
    inbox = examples_dir / "inbox" / "UNIFIED"
    for name in ("department.20261125.jsonl", "power_item.20261125.jsonl"):
        shutil.copy(inbox / name, settings.inbox / "UNIFIED" / name)
    cases = [json.loads(line) for line in (inbox / "case.20261125a.jsonl").read_text("utf-8").splitlines()]
    pages = [cases[:15], [dict(r) for r in cases[15:30]], cases[30:]]
    pages[1][0]["updated_at"] = "2027-01-01T10:00:00+08:00"  # a page the source's wrong clock spoiled
    connector = PagedCases(pages)
    source = Source("UNIFIED", connector, None)  # type: ignore[arg-type]
    engine = make_engine(settings.warehouse_url)

    def cycle(at: str):
        now = datetime.fromisoformat(at)
        return ingest_sources(engine, settings, [source], cycle_id=new_cycle_id(now), now=now)

    def state() -> tuple[int, int, Any]:
        with engine.connect() as conn:
            return (
                conn.execute(select(func.count()).select_from(ops_load_batch)).scalar_one(),
                conn.execute(select(func.count()).select_from(fct_case)).scalar_one(),
                load_cursor(conn, "UNIFIED"),
            )

    try:
        # the catalogue through the file drop, then the pages
        ingest_sources(
            engine,
            settings,
            [unified_source(settings)],
            cycle_id="catalogue",
            now=datetime.fromisoformat("2026-11-06T17:00:00+08:00"),
        )
        first = cycle("2026-11-06T18:00:00+08:00")
        assert [b.status for b in first.batches] == ["LOADED", "HELD_GE"]
        assert [h.origin for h in first.held] == ["test:case?page=2"]
        assert connector.served == [1, 2]  # page 3 was not read past the held page
        batches, loaded_cases, cursor = state()
        assert cursor == {"page": 1}

        connector.served.clear()
        second = cycle("2026-11-06T19:00:00+08:00")
        assert second.batches == [] and [h.status for h in second.held] == ["HELD"]
        assert connector.served == [2]
        assert state() == (batches, loaded_cases, {"page": 1})

        release_batch(
            settings,
            first.held[0].batch_id,
            by="王工",
            reason="时钟已核实",
            now=datetime.fromisoformat("2026-11-06T19:30:00+08:00"),
        )
        connector.served.clear()
        third = cycle("2026-11-06T20:00:00+08:00")
        assert [b.status for b in third.batches] == ["LOADED", "LOADED"]
        assert third.held == [] and connector.served == [2, 3]
        after = state()
        assert after[2] == {"page": 3}
        assert after[1] > loaded_cases
        assert sum(b.counts.received for b in third.batches) == len(cases) - 15
    finally:
        engine.dispose()
