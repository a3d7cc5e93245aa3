"""File drop (§10.1): order, complete files only, CSV typing, rejected files, broken lines, chunks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.base import Connector, FileRejected
from connectors.file_drop import FileDropConnector, archive_file, reject_file
from schemas.errors import DataError
from validators import validate_batch

CASE = {
    "source_system": "UNIFIED",
    "case_id": "LY3204810000000",
    "power_code": "XK3204810040011000",
    "dept_code": "11320481466004118J",
    "applicant_type": "1",
    "applicant_name": "陈静",
    "applicant_id_type": "SFZ",
    "applicant_id_no": "320481196904060383",
    "channel": "1",
    "received_at": "2026-08-12T06:00:00+08:00",
    "promised_limit": 1,
    "status": "WITHDRAWN",
    "finished_at": "2026-08-12T20:26:24+08:00",
    "result": None,
    "result_note": None,
    "fee_paid": "0",
    "relief_reason": None,
    "penalty_amount": None,
    "satisfaction": None,
    "version": 1,
    "updated_at": "2026-08-12T21:26:24+08:00",
}


def case(i: int, **change: object) -> dict:
    return {**CASE, "case_id": f"LY{i:013d}", **change}


def jsonl(*records: object) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    (tmp_path / "inbox" / "UNIFIED").mkdir(parents=True)
    return tmp_path / "inbox"


def put(inbox: Path, name: str, text: str | bytes, system: str = "UNIFIED") -> Path:
    path = inbox / system / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_files_are_read_in_dependency_then_name_order(inbox: Path) -> None:
    dept = {
        "dept_code": "11320481466004118J",
        "name": "公安局",
        "source_system": "UNIFIED",
        "version": 1,
        "updated_at": "2026-05-01T09:00:00+08:00",
    }
    put(inbox, "complaint.1.jsonl", "")
    put(inbox, "case.b.jsonl", jsonl(case(2)))
    put(inbox, "case.a.csv", "case_id\nLY0000000000001\n")
    put(inbox, "case_step.0.jsonl", "")
    put(inbox, "department.z.jsonl", jsonl(dept))
    put(inbox, "case.c.jsonl.part", jsonl(case(3)))  # still being written
    put(inbox, ".case.d.jsonl", jsonl(case(4)))  # hidden
    connector = FileDropConnector(inbox, "UNIFIED")
    assert isinstance(connector, Connector)
    batches = list(connector.read(None))
    assert [b.origin for b in batches] == [
        "inbox/UNIFIED/department.z.jsonl",
        "inbox/UNIFIED/case.a.csv",
        "inbox/UNIFIED/case.b.jsonl",
        "inbox/UNIFIED/case_step.0.jsonl",
        "inbox/UNIFIED/complaint.1.jsonl",
    ]
    assert [b.entity for b in batches] == ["department", "case", "case", "case_step", "complaint"]
    assert all(b.source_system == "UNIFIED" and b.is_last_of_file for b in batches)
    assert batches[-1].received == 0 and batches[-1].file_path.name == "complaint.1.jsonl"


def test_csv_cells_are_typed_per_the_schema(inbox: Path) -> None:
    put(
        inbox,
        "case.x.csv",
        "case_id,promised_limit,fee_paid,result,version,applicant_name\n"
        'LY0000000000001,3,150.00,,2,"张, 三"\n'
        "LY0000000000002,abc,0,GRANTED,1,李四\n",
    )
    batch = next(FileDropConnector(inbox, "UNIFIED").read(None))
    f = batch.frame
    assert list(f["_line"]) == [2, 3]
    assert f["fee_paid"].tolist() == ["150.00", "0"]
    assert f["result"].isna().tolist() == [True, False]
    assert f["version"].tolist() == [2, 1]
    assert f["promised_limit"].tolist() == [3, "abc"]  # not an integer: kept as text, TYPE in validation
    assert json.loads(batch.raw[0]) == {
        "case_id": "LY0000000000001",
        "promised_limit": 3,
        "fee_paid": "150.00",
        "result": None,
        "version": 2,
        "applicant_name": "张, 三",
    }
    out = validate_batch(batch, None)
    assert ("promised_limit", "TYPE") in [(v.path, v.rule_id) for v in out.quarantined[1].violations]


def test_a_broken_csv_row_becomes_unparsed(inbox: Path) -> None:
    put(inbox, "case.x.csv", "case_id,version\nLY0000000000001,1\nLY0000000000002,1,extra\nLY0000000000003,1\n")
    batch = next(FileDropConnector(inbox, "UNIFIED").read(None))
    assert batch.frame["case_id"].tolist() == ["LY0000000000001", "LY0000000000003"]
    assert list(batch.frame["_line"]) == [2, 4]
    assert [(u.line_no, u.raw) for u in batch.unparsed] == [(3, "LY0000000000002,1,extra")]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("case.x.csv", b"\xef\xbb\xbfcase_id\nLY0000000000001\n", "BOM"),
        ("case.x.jsonl", jsonl(case(1)).encode("gbk"), "UTF-8"),
        ("case.x.csv", b"remark,note\nx,y\n", "header row may be missing"),
        ("case.x.csv", b'"case_id\nLY0000000000001\n', "header row cannot be parsed"),
        ("case.x.csv", b"case_id,case_id\nLY0000000000001,x\n", "repeats"),
        ("case.x.csv", b"\nLY0000000000001\n", "no header"),
        ("case.x.csv", b"", "no header"),
        ("power_item.x.csv", b"power_code\nXK3204810010001000\n", "JSON Lines only"),
        ("cases.x.jsonl", b"", "unknown entity"),
        ("case.x.json", b"", "unsupported file type"),
    ],
)
def test_unreadable_files_are_rejected_before_any_batch(inbox: Path, name: str, content: bytes, reason: str) -> None:
    put(inbox, name, content)
    connector = FileDropConnector(inbox, "UNIFIED")
    with pytest.raises(FileRejected) as exc:
        list(connector.read(None))
    assert isinstance(exc.value, DataError)
    assert exc.value.path.name == name and reason in exc.value.message
    assert "陈静" not in exc.value.message


def test_after_a_rejection_reading_goes_on_with_the_next_file(inbox: Path, tmp_path: Path) -> None:
    put(inbox, "case.a.csv", "remark\nLY1\n")
    put(inbox, "case.b.jsonl", jsonl(case(1)))
    connector = FileDropConnector(inbox, "UNIFIED")
    seen = []
    while True:
        try:
            for batch in connector.read(None):
                seen.append(batch.origin)
                archive_file(batch.file_path, tmp_path / "archive", "UNIFIED")
            break
        except FileRejected as exc:
            moved = reject_file(exc.path, tmp_path / "rejected", "UNIFIED", exc.message)
            assert moved == tmp_path / "rejected" / "UNIFIED" / "case.a.csv"
    assert seen == ["inbox/UNIFIED/case.b.jsonl"]
    reason = (tmp_path / "rejected" / "UNIFIED" / "case.a.csv.reason.txt").read_text(encoding="utf-8")
    assert "none of the 1 cells of the first line is a field name" in reason
    assert list((inbox / "UNIFIED").iterdir()) == []


def test_a_csv_without_header_row_is_rejected_without_echoing_its_first_record(inbox: Path, tmp_path: Path) -> None:
    first = "LY0000000000001,陈静,320481196904060383,UNIFIED"
    put(inbox, "case.x.csv", first + "\nLY0000000000002,李四,320481199001011234,UNIFIED\n")
    with pytest.raises(FileRejected) as exc:
        list(FileDropConnector(inbox, "UNIFIED").read(None))
    reject_file(exc.value.path, tmp_path / "rejected", "UNIFIED", exc.value.message)
    reason = (tmp_path / "rejected" / "UNIFIED" / "case.x.csv.reason.txt").read_text(encoding="utf-8")
    for text in (exc.value.message, str(exc.value), reason):
        assert "陈静" not in text and "320481196904060383" not in text and "0383" not in text
        assert "LY0000000000001" not in text
        assert "none of the 4 cells" in text and "header row may be missing" in text
    assert "expected: source_system, case_id, power_code" in reason


def test_broken_json_lines_become_unparsed_and_the_rest_is_read(inbox: Path) -> None:
    lines = [case(i) for i in range(100)]
    lines[10] = '{"case_id": "LY0000000000010", "version": 1'  # cut off
    lines[20] = "[1, 2, 3]"
    lines[30] = json.dumps(case(30)) + " " + json.dumps(case(31))  # two objects on one line
    lines[40] = case(40, promised_limit="1")  # valid JSON, wrong type: a record, not a parse error
    lines[50] = case(50, remark=None)
    lines[60] = "   "
    put(inbox, "case.x.jsonl", jsonl(*lines))
    batch = next(FileDropConnector(inbox, "UNIFIED").read(None))
    assert [u.line_no for u in batch.unparsed] == [11, 21, 31]
    assert all("JSON" in u.message for u in batch.unparsed)
    assert len(batch.frame) == 96 and batch.received == 99
    assert list(batch.frame["_line"][:12]) == [*range(1, 11), *range(12, 14)]
    assert batch.frame.loc[batch.frame["_line"] == 51, "_extra"].iloc[0] == ["remark"]
    row40 = batch.frame.index[batch.frame["_line"] == 41][0]
    assert json.loads(batch.raw[row40])["promised_limit"] == "1"
    out = validate_batch(batch, None)
    assert {q.line_no: q.reason for q in out.quarantined} == {41: "TYPE", 51: "EXTRA_FIELD"}


def test_large_files_come_in_chunks_and_resume_from_the_cursor(inbox: Path) -> None:
    put(inbox, "case.x.jsonl", jsonl(*[case(i) for i in range(10)]))
    connector = FileDropConnector(inbox, "UNIFIED", chunk_records=4)
    batches = list(connector.read(None))
    assert [len(b.frame) for b in batches] == [4, 4, 2]
    assert [b.is_last_of_file for b in batches] == [False, False, True]
    assert [b.next_cursor["position"] for b in batches] == [4, 8, 10]
    assert [list(b.frame["_line"]) for b in batches][1] == [5, 6, 7, 8]
    resumed = list(connector.read(batches[0].next_cursor))
    assert [int(x) for x in resumed[0].frame["_line"]] == [5, 6, 7, 8]
    assert json.loads(resumed[0].raw[0])["case_id"] == "LY0000000000004"


def test_csv_chunks_and_resume(inbox: Path) -> None:
    put(inbox, "case.x.csv", "case_id,version\n" + "".join(f"LY{i:013d},1\n" for i in range(7)))
    connector = FileDropConnector(inbox, "UNIFIED", chunk_records=3)
    batches = list(connector.read(None))
    assert [len(b.frame) for b in batches] == [3, 3, 1] and batches[-1].is_last_of_file
    resumed = list(connector.read(batches[1].next_cursor))
    assert resumed[0].frame["case_id"].tolist() == ["LY0000000000006"] and list(resumed[0].frame["_line"]) == [8]


def test_archive_and_reject_never_overwrite(inbox: Path, tmp_path: Path) -> None:
    first = archive_file(put(inbox, "case.x.jsonl", "a"), tmp_path / "archive", "UNIFIED")
    second = archive_file(put(inbox, "case.x.jsonl", "b"), tmp_path / "archive", "UNIFIED")
    assert first.name == "case.x.jsonl" and second.name == "case.x~1.jsonl"
    assert first.read_text() == "a" and second.read_text() == "b"
    rejected = reject_file(put(inbox, "case.y.csv", "c"), tmp_path / "rejected", "UNIFIED", "bad")
    again = reject_file(put(inbox, "case.y.csv", "d"), tmp_path / "rejected", "UNIFIED", "worse")
    assert again.name == "case.y~1.csv"
    assert (rejected.parent / "case.y~1.csv.reason.txt").read_text() == "worse\n"
    assert (rejected.parent / "case.y.csv.reason.txt").read_text() == "bad\n"


def test_check_reports_without_raising(inbox: Path, tmp_path: Path) -> None:
    put(inbox, "case.x.jsonl", jsonl(case(1), "not json"))
    ok = FileDropConnector(inbox, "UNIFIED").check()
    assert ok.ok and ok.sample_records == 1 and ok.sample_unparsed == 1
    put(inbox, "case.y.csv", b"\xef\xbb\xbfcase_id\n")
    put(inbox, "notes.txt", "hello")
    bad = FileDropConnector(inbox, "UNIFIED").check()
    assert not bad.ok and any("notes.txt" in d for d in bad.details)
    missing = FileDropConnector(tmp_path / "nowhere", "SELF_GA").check()
    assert not missing.ok and "does not exist" in missing.message


def test_a_cursor_is_not_applied_to_another_file_of_the_same_name(inbox: Path) -> None:
    path = put(inbox, "case.x.jsonl", jsonl(*[case(i) for i in range(6)]))
    connector = FileDropConnector(inbox, "UNIFIED", chunk_records=4)
    cursor = next(connector.read(None)).next_cursor
    path.write_text(jsonl(*[case(i + 10) for i in range(6)]), encoding="utf-8")  # same size, other content
    assert [len(b.frame) for b in connector.read(cursor)] == [4, 2]


def test_a_csv_column_the_standard_does_not_know_is_an_extra_field_of_the_records_that_fill_it(
    inbox: Path,
) -> None:
    put(inbox, "case.x.csv", "case_id,remark,_line,version\nLY0000000000001,加急,7,1\nLY0000000000002,,,1\n")
    batch = next(FileDropConnector(inbox, "UNIFIED").read(None))
    assert list(batch.frame["_extra"]) == [["remark", "_line"], None]
    assert list(batch.frame["_line"]) == [2, 3]  # a column named like the reader's own changes nothing
    # the raw payload a department sees in quarantine shows the column
    assert json.loads(batch.raw[0]) == {"case_id": "LY0000000000001", "remark": "加急", "_line": "7", "version": 1}
    outcome = validate_batch(batch, None)
    flagged = {item.line_no: {(v.rule_id, v.path) for v in item.violations} for item in outcome.quarantined}
    assert {("EXTRA_FIELD", "remark"), ("EXTRA_FIELD", "_line")} <= flagged[2]  # both are set
    assert not any(rule == "EXTRA_FIELD" for rule, _ in flagged[3])  # an empty cell is null, as if absent


def test_a_csv_whose_lines_end_with_cr_alone_is_read(inbox: Path) -> None:
    put(inbox, "case.x.csv", b"case_id,version\rLY0000000000001,1\rLY0000000000002,2\r")
    batch = next(FileDropConnector(inbox, "UNIFIED").read(None))
    assert batch.frame["case_id"].tolist() == ["LY0000000000001", "LY0000000000002"]
    assert batch.frame["version"].tolist() == [1, 2]
    assert list(batch.frame["_line"]) == [2, 3]


def test_a_quote_left_open_to_the_end_of_a_csv_keeps_the_text_it_swallowed(inbox: Path) -> None:
    # the parser takes every line after the open quote as one broken row: it must reach quarantine
    put(inbox, "case.x.csv", 'case_id,version\n"LY0000000000001,1\nLY0000000000002,1\n')
    batches = list(FileDropConnector(inbox, "UNIFIED").read(None))
    assert sum(len(b.frame) for b in batches) == 0
    unparsed = [u for b in batches for u in b.unparsed]
    assert [(u.line_no, u.raw) for u in unparsed] == [(2, '"LY0000000000001,1\nLY0000000000002,1')]


def test_a_file_written_to_after_it_was_opened_stays_in_the_inbox_until_it_is_read_whole(
    inbox: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = put(inbox, "case.x.jsonl", jsonl(case(1), case(2)))
    connector = FileDropConnector(inbox, "UNIFIED")
    [batch] = connector.read(None)
    assert len(batch.frame) == 2
    with open(path, "a", encoding="utf-8") as fh:  # the department's copy goes on
        fh.write(jsonl(case(3)))
    assert archive_file(batch.file_path, tmp_path / "archive", "UNIFIED") is None
    assert path.read_text(encoding="utf-8") == jsonl(case(1), case(2), case(3))
    assert not (tmp_path / "archive").exists()
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "case.x.jsonl changed while it was read" in warning and "陈静" not in warning
    # the next cycle reads it whole and archives it
    [again] = connector.read(batch.next_cursor)
    assert again.frame["case_id"].tolist() == [case(i)["case_id"] for i in (1, 2, 3)]
    archived = archive_file(again.file_path, tmp_path / "archive", "UNIFIED")
    assert archived is not None and archived.read_text(encoding="utf-8") == jsonl(case(1), case(2), case(3))
    assert not path.exists()


@pytest.mark.parametrize(
    ("name", "complete", "line", "record"),
    [
        ("case.x.jsonl", jsonl(case(1), case(2)), jsonl(case(3)), case(3)),
        (
            "case.x.csv",
            "case_id,applicant_name,version\nLY0000000000001,陈静,1\n",
            "LY0000000000002,李四,12\n",  # cut short, version 1 would pass for a record
            {"case_id": "LY0000000000002", "applicant_name": "李四", "version": 12},
        ),
    ],
)
def test_the_line_a_writer_is_in_the_middle_of_is_neither_read_nor_quarantined(
    inbox: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    complete: str,
    line: str,
    record: dict,
) -> None:
    import connectors.file_drop

    cut = len(line) - 2  # inside the line's last value
    path = put(inbox, name, complete + line[:cut])
    check = connectors.file_drop._check_utf8_block
    written = []

    def writer_goes_on(buf: bytes, offset: int) -> None:  # while the hub reads the file
        if not written:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(line[cut:])
            written.append(True)
        check(buf, offset)

    with monkeypatch.context() as patched:
        patched.setattr(connectors.file_drop, "_check_utf8_block", writer_goes_on)
        [batch] = FileDropConnector(inbox, "UNIFIED").read(None)
    assert written
    complete_records = len(complete.splitlines()) - name.endswith(".csv")
    assert len(batch.frame) == complete_records and batch.unparsed == []
    assert archive_file(batch.file_path, tmp_path / "archive", "UNIFIED") is None
    [again] = FileDropConnector(inbox, "UNIFIED").read(None)
    assert len(again.frame) == complete_records + 1 and again.unparsed == []
    assert json.loads(again.raw[-1]) == record
