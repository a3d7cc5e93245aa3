"""The warehouse engines (warehouse/db.py): a failed statement never carries the record it wrote; the
embedded warehouse keeps what it committed through a power loss."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError

from warehouse.db import make_engine
from warehouse.tables import ops_quarantine

NAME, ID_NUMBER = "陈静", "320481196904060383"


def test_a_failed_insert_of_a_raw_payload_logs_no_personal_data(
    warehouse_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    raw = json.dumps({"case_id": "LY3204810000000", "applicant_name": NAME, "applicant_id_no": ID_NUMBER})
    row = {
        "batch_id": 999_999,  # no such batch: the foreign key refuses the row
        "source_system": "UNIFIED",
        "entity": "case",
        "record_key": "UNIFIED/LY3204810000000",
        "origin": "inbox/UNIFIED/case.x.jsonl",
        "line_no": 1,
        "raw_payload": raw,
        "standard_version": "1.0",
        "violations": [],
        "reason": "TYPE",
        "status": "OPEN",
        "quarantined_at": datetime(2026, 11, 28, tzinfo=UTC),
    }
    with pytest.raises(IntegrityError) as caught, warehouse_engine.begin() as conn:
        conn.execute(insert(ops_quarantine), [row])
    # what the log receives when the loader's caller reports the failure with its traceback
    try:
        raise caught.value
    except IntegrityError:
        logging.getLogger("sanheyi.ingest").exception("batch failed")
    for text in (str(caught.value), caplog.text):
        assert NAME not in text and ID_NUMBER not in text and "LY3204810000000" not in text
    assert "parameters hidden" in str(caught.value)


def test_the_embedded_warehouse_syncs_every_commit_to_disk(tmp_path: Path) -> None:
    # after a power loss a committed batch (its file archived) or a delivered package must still be there
    engine = make_engine(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
    finally:
        engine.dispose()
