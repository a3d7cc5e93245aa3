"""A file a department is still copying in when the hub reads it (SMB, FTP, no ``.part`` name) is not
archived: the next cycle reads it whole, the lines stored already come back as duplicates, and
nothing is lost (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ingest_files import batches, counts, drop, example_case, warehouse
from sqlalchemy import func, select

from connectors.file_drop import FileDropConnector
from warehouse.tables import fct_case

T0 = "2026-11-06T18:00:00+08:00"
T1 = "2026-11-06T18:30:00+08:00"
NAME = "case.20261106.jsonl"


def stored_cases(home: Path) -> int:
    engine = warehouse(home)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(fct_case)).scalar_one()
    finally:
        engine.dispose()


def test_a_file_that_grows_while_it_is_read_is_read_again_whole_in_the_next_cycle(
    home: Path, examples_dir: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = [example_case(examples_dir, f"GROW{i:07d}") for i in range(5)]
    rest = [example_case(examples_dir, f"GROW{i:07d}") for i in range(5, 8)]
    drop(home, NAME, first)
    path = home / "inbox" / "UNIFIED" / NAME
    read_file = FileDropConnector.read_file

    def department_still_copying(self, f, *, skip=0):  # type: ignore[no-untyped-def]
        for batch in read_file(self, f, skip=skip):
            if batch.is_last_of_file and batch.file_path.name == NAME:
                # the hub has read the file; the department's copy goes on before it is archived
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rest))
            yield batch

    with monkeypatch.context() as patched:
        patched.setattr(FileDropConnector, "read_file", department_still_copying)
        code, _, err = cli("run", "--stage", "ingest", "--as-of", T0)
    assert code == 0, err
    engine = warehouse(home)
    assert [counts(b) for b in batches(engine) if b["entity"] == "case"] == [(5, 5, 0, 0, 0, 0)]
    engine.dispose()
    assert path.exists() and not (home / "archive" / "UNIFIED" / NAME).exists()
    [warning] = [line for line in err.splitlines() if NAME in line]
    assert "changed while it was read: left in the inbox" in warning
    assert first[0]["applicant_name"] not in err

    code, _, err = cli("run", "--stage", "ingest", "--as-of", T1)
    assert code == 0, err
    engine = warehouse(home)
    # every line is stored once; the ones of the first read are duplicates now
    assert [counts(b) for b in batches(engine) if b["entity"] == "case"] == [(5, 5, 0, 0, 0, 0), (8, 3, 0, 5, 0, 0)]
    engine.dispose()
    assert stored_cases(home) == 8
    assert not path.exists()
    archived = (home / "archive" / "UNIFIED" / NAME).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["case_id"] for line in archived] == [r["case_id"] for r in first + rest]
