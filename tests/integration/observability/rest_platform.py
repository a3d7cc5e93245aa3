"""The unified platform served over REST from a home of its own, for the interface-source tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from connectors.credentials import Credential
from connectors.rest import RestConnector
from sanheyi.ingest import IngestSummary, Source, ingest_sources
from sanheyi.pipeline import init_home, new_cycle_id
from sanheyi.settings import Settings, load_settings
from simulators.rest_server import RestSimulator
from simulators.source_records import SourceRecords
from warehouse.db import make_engine

TOKEN = "holds-Tok3n-5mq8-never-shown"
ENTITIES = ("department", "power_item", "case", "case_step")
PAGE_SIZE = 15


def lines(folder: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / name).read_text("utf-8").splitlines() if line.strip()]


def home(tmp_path: Path) -> Settings:
    settings = load_settings(tmp_path / "home")
    init_home(settings)
    return load_settings(settings.home)


def catalogue(inbox: Path) -> SourceRecords:
    """A source serving the unified platform's departments and power items; cases are added by each test."""
    records = SourceRecords()
    records.add("department", lines(inbox, "department.20261125.jsonl"))
    records.add("power_item", lines(inbox, "power_item.20261125.jsonl"))
    return records


@contextmanager
def serving(
    settings: Settings, records: SourceRecords, page_size: int = PAGE_SIZE
) -> Iterator[tuple[RestSimulator, Engine, Callable[[str], IngestSummary]]]:
    """``records`` served as the unified platform over REST; ``cycle(at)`` ingests it as of ``at``."""
    engine = make_engine(settings.warehouse_url)
    with RestSimulator(records, token=TOKEN) as sim:
        connector = RestConnector(
            "UNIFIED", sim.url, Credential("UNIFIED_REST", token=TOKEN), entities=ENTITIES, page_size=page_size
        )

        def cycle(at: str) -> IngestSummary:
            now = datetime.fromisoformat(at)
            connector.clock = lambda: now
            sim.faults.asked.clear()
            return ingest_sources(engine, settings, [Source("UNIFIED", connector, None)], cycle_id=new_cycle_id(now),
                                  now=now)  # fmt: skip

        try:
            yield sim, engine, cycle
        finally:
            engine.dispose()
