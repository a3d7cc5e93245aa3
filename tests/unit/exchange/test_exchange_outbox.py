"""The outbox transport, the retry policy and receipt parsing (no database)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

import pytest

from exchange.changzhou import DeliveryError, OutboxTransport, ReceiptError, RetryPolicy, parse_receipt
from exchange.changzhou import transport as transport_module
from exchange.changzhou.package import format_instant

NAME = "320481-320400-0000000001.zip"


@pytest.fixture
def package(tmp_path):
    path = tmp_path / "store" / NAME
    path.parent.mkdir()
    path.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    return path


def _outbox(tmp_path, delays):
    return OutboxTransport(tmp_path / "outbox", retry=RetryPolicy(attempts=3, backoff=0.5, sleep=delays.append))


def test_delivery_copies_the_package_and_a_resend_leaves_one_file(tmp_path, package):
    outbox = _outbox(tmp_path, [])
    outbox.deliver(package)
    outbox.deliver(package)
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == [NAME]
    assert (tmp_path / "outbox" / NAME).read_bytes() == package.read_bytes()


def test_interrupted_copy_is_retried_without_a_partial_file(tmp_path, package, monkeypatch):
    delays: list[float] = []
    outbox = _outbox(tmp_path, delays)
    real = shutil.copyfileobj
    seen: list[list[str]] = []

    def disk_full_once(source, target, length=0):
        if not seen:
            target.write(source.read(1000))
            target.flush()
            seen.append(sorted(p.name for p in (tmp_path / "outbox").iterdir()))
            raise OSError(28, "No space left on device")
        return real(source, target, length)

    monkeypatch.setattr(transport_module.shutil, "copyfileobj", disk_full_once)
    outbox.deliver(package)

    assert seen == [[f".{NAME}.part"]]  # while writing, only the temporary name existed
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == [NAME]
    assert (tmp_path / "outbox" / NAME).read_bytes() == package.read_bytes()
    assert delays == [0.5]


def test_failing_delivery_gives_up_and_leaves_nothing(tmp_path, package, monkeypatch):
    delays: list[float] = []
    outbox = _outbox(tmp_path, delays)

    def always_fails(source, target, length=0):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(transport_module.shutil, "copyfileobj", always_fails)
    with pytest.raises(DeliveryError, match="failed after 3 attempts") as raised:
        outbox.deliver(package)
    assert raised.value.message.startswith("投递失败")
    assert list((tmp_path / "outbox").iterdir()) == []
    assert delays == [0.5, 1.0]


def test_receipts_are_listed_and_set_aside_without_overwriting(tmp_path):
    outbox = _outbox(tmp_path, [])
    directory = tmp_path / "outbox"
    directory.mkdir()
    (directory / "receipt-0000000002.json").write_text("{}")
    (directory / "receipt-0000000001.json").write_text("{}")
    (directory / ".receipt-0000000003.json.part").write_text("{")
    (directory / "notes.txt").write_text("")
    assert outbox.list_receipts() == ["receipt-0000000001.json", "receipt-0000000002.json"]

    assert outbox.set_aside("receipt-0000000001.json", "refused") == "receipts/refused/receipt-0000000001.json"
    (directory / "receipt-0000000001.json").write_text('{"again": true}')
    assert outbox.set_aside("receipt-0000000001.json", "refused") == "receipts/refused/receipt-0000000001.json.1"
    assert (directory / "receipts" / "refused" / "receipt-0000000001.json").read_text() == "{}"
    assert outbox.list_receipts() == ["receipt-0000000002.json"]


def _receipt(**fields):
    body = {
        "sequence": 3,
        "manifest_sha256": "ab" * 32,
        "status": "REJECTED",
        "received_at": "2026-11-06T11:00:00.250+08:00",
        "errors": [{"entity": "case", "key": "UNIFIED/LY1", "message": "unknown power_code"}],
    }
    body.update(fields)
    return json.dumps(body).encode()


def test_parse_receipt():
    receipt = parse_receipt("receipt-0000000003.json", _receipt(manifest_sha256="AB" * 32))
    assert receipt["manifest_sha256"] == "ab" * 32
    assert receipt["errors"] == [{"entity": "case", "key": "UNIFIED/LY1", "message": "unknown power_code"}]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_receipt(sequence=True), "sequence is not a whole number >= 1"),
        (_receipt(sequence=4), "sequence 4 does not match the file name"),
        (_receipt(manifest_sha256="xyz"), "manifest_sha256 is not 64 hex digits"),
        (_receipt(received_at="yesterday"), "received_at is not an RFC 3339 date-time"),
        (_receipt(errors=[{"message": 3}]), "errors[0] has a field of the wrong type"),
        (_receipt(errors=[{"entity": "case"}]), "errors[0] is not an object with entity, key, message"),
        (b"[]", "not a JSON object"),
        (b"\xff\xfe", "not UTF-8 JSON"),
        (
            json.dumps({"sequence": 3}).encode(),
            "missing errors; missing manifest_sha256; missing received_at; missing status",
        ),
    ],
)
def test_parse_receipt_refusals(data, reason):
    with pytest.raises(ReceiptError) as raised:
        parse_receipt("receipt-0000000003.json", data)
    assert raised.value.message == reason


def test_format_instant_rounds_up_to_liyang_seconds():
    assert format_instant(datetime(2026, 11, 6, 2, 0, 0, 1, tzinfo=UTC)) == "2026-11-06T10:00:01+08:00"
    assert format_instant(datetime(2026, 11, 6, 16, 30, tzinfo=UTC)) == "2026-11-07T00:30:00+08:00"
    with pytest.raises(ValueError):
        format_instant(datetime(2026, 11, 6))
