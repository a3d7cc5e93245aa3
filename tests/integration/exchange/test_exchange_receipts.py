"""Delivery, receipts, overdue flags and resending, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import struct
import zipfile
from datetime import timedelta

import pytest
import xc_rows as rows

from exchange.changzhou import (
    DeliveryError,
    OutboxTransport,
    PackageStoreError,
    build_package,
    collect_receipts,
    deliver_package,
    deliver_pending,
    flag_overdue,
    resend,
    simulate_receiver,
)
from warehouse import packages as wp


def _package(engine, sequence):
    with engine.connect() as conn:
        return wp.get_package(conn, sequence)


def _log(engine):
    with engine.connect() as conn:
        return [(r["file_name"], r["sequence"], r["outcome"], r["reason"]) for r in wp.receipt_log(conn)]


@pytest.fixture
def delivered(wh, keys, store, outbox, now):
    """Two packages built and delivered to the outbox."""
    wh.add_basic()
    build_package(wh.engine, keys, store, now=now)
    wh.replace("case", rows.case(1, version=2, at=now + timedelta(minutes=30)))
    build_package(wh.engine, keys, store, now=now)
    transport = OutboxTransport(outbox)
    assert deliver_pending(wh.engine, transport, store, now=now) == [1, 2]
    return transport


def _write_receipt(outbox, sequence, sha, status="ACCEPTED", errors=(), **fields):
    body = {
        "sequence": sequence,
        "manifest_sha256": sha,
        "status": status,
        "received_at": "2026-11-06T11:00:00+08:00",
        "errors": list(errors),
    }
    body.update(fields)
    path = outbox / f"receipt-{sequence:010d}.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def test_delivery_places_the_stored_bytes_in_the_outbox(wh, delivered, store, outbox, now):
    for sequence in (1, 2):
        name = f"320481-320400-{sequence:010d}.zip"
        assert (outbox / name).read_bytes() == (store / name).read_bytes()
        package = _package(wh.engine, sequence)
        assert (package.state, package.transport, package.delivered_at) == ("DELIVERED", "outbox", now)
    assert sorted(p.name for p in outbox.iterdir()) == ["320481-320400-0000000001.zip", "320481-320400-0000000002.zip"]


def test_round_trip_with_the_demo_receiver(wh, delivered, keys, outbox, now):
    later = now + timedelta(hours=1)
    receipts = simulate_receiver(outbox, keys.public_key_pem(), later)
    assert [p.name for p in receipts] == ["receipt-0000000001.json", "receipt-0000000002.json"]

    outcomes = collect_receipts(wh.engine, delivered, later)

    assert [(o.sequence, o.outcome, o.status) for o in outcomes] == [
        (1, "APPLIED", "ACCEPTED"),
        (2, "APPLIED", "ACCEPTED"),
    ]
    for sequence in (1, 2):
        package = _package(wh.engine, sequence)
        assert (package.state, package.receipt_status, package.receipt_errors) == ("ACCEPTED", "ACCEPTED", [])
        assert package.receipt_received_at == later
    assert sorted(p.name for p in (outbox / "receipts" / "applied").iterdir()) == [
        "receipt-0000000001.json",
        "receipt-0000000002.json",
    ]
    assert [entry[2] for entry in _log(wh.engine)] == ["APPLIED", "APPLIED"]
    assert collect_receipts(wh.engine, delivered, later) == []  # nothing waiting any more


def test_rejected_receipt_stores_the_record_errors(wh, delivered, outbox, now):
    sha = _package(wh.engine, 2).manifest_sha256
    errors = [{"entity": "case", "key": "UNIFIED/LY0000000000001", "message": "power_code unknown to Changzhou"}]
    _write_receipt(outbox, 2, sha, status="REJECTED", errors=errors)

    [outcome] = collect_receipts(wh.engine, delivered, now)

    assert (outcome.outcome, outcome.status) == ("APPLIED", "REJECTED")
    package = _package(wh.engine, 2)
    assert (package.state, package.receipt_errors) == ("REJECTED", errors)
    assert _package(wh.engine, 1).state == "DELIVERED"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda o, sha: _write_receipt(o, 1, "0" * 64), "manifest_sha256 does not match package 1"),
        (lambda o, sha: _write_receipt(o, 7, sha), "no package with sequence 7 was sent"),
        (lambda o, sha: _write_receipt(o, 1, sha, status="OK"), "status is not ACCEPTED or REJECTED"),
        (lambda o, sha: _write_receipt(o, 1, sha, signed_by="someone"), "unknown field signed_by"),
        (
            lambda o, sha: (o / "receipt-0000000001.json").write_bytes(b'{"sequence": 1,'),
            "not UTF-8 JSON",
        ),
        (
            lambda o, sha: (o / "receipt-1.json").write_text(json.dumps({"sequence": 1})),
            "file name is not receipt-{sequence:010d}.json",
        ),
        (
            lambda o, sha: (o / "receipt-0000000002.json").write_text(
                json.dumps(
                    {
                        "sequence": 1,
                        "manifest_sha256": sha,
                        "status": "ACCEPTED",
                        "received_at": "2026-11-06T11:00:00+08:00",
                        "errors": [],
                    }
                )
            ),
            "sequence 1 does not match the file name",
        ),
        (
            lambda o, sha: _write_receipt(o, 1, sha, received_at="2026-11-06T11:00:00"),
            "received_at has no offset",
        ),
    ],
)
def test_forged_or_mismatched_receipts_are_refused_and_kept(wh, delivered, outbox, now, make, reason):
    sha = _package(wh.engine, 1).manifest_sha256
    make(outbox, sha)
    [name] = [p.name for p in outbox.glob("receipt-*.json")]
    content = (outbox / name).read_bytes()

    [outcome] = collect_receipts(wh.engine, delivered, now)

    assert (outcome.outcome, outcome.reason) == ("REFUSED", reason)
    assert _package(wh.engine, 1).state == "DELIVERED"
    assert _package(wh.engine, 1).receipt_status is None
    assert (outbox / "receipts" / "refused" / name).read_bytes() == content  # set aside, never deleted
    assert not (outbox / name).exists()
    [(logged_name, _, outcome_logged, logged_reason)] = _log(wh.engine)
    assert (logged_name, outcome_logged, logged_reason) == (name, "REFUSED", reason)


def test_a_receipt_for_a_package_never_delivered_is_refused(wh, delivered, keys, store, outbox, now):
    wh.replace("case", rows.case(2, version=2, at=now + timedelta(hours=1)))
    build_package(wh.engine, keys, store, now=now)  # package 3, not delivered yet
    _write_receipt(outbox, 3, _package(wh.engine, 3).manifest_sha256)

    [outcome] = collect_receipts(wh.engine, delivered, now)

    assert (outcome.outcome, outcome.reason) == ("REFUSED", "package 3 was built but never delivered")
    assert (outbox / "receipts" / "refused" / "receipt-0000000003.json").is_file()
    assert (_package(wh.engine, 3).state, _package(wh.engine, 3).receipt_status) == ("BUILT", None)
    assert deliver_pending(wh.engine, delivered, store, now=now) == [3]  # still goes out, in order
    _write_receipt(outbox, 3, _package(wh.engine, 3).manifest_sha256)
    [outcome] = collect_receipts(wh.engine, delivered, now)
    assert (outcome.outcome, _package(wh.engine, 3).state) == ("APPLIED", "ACCEPTED")


def test_a_receipt_read_again_after_a_crash_is_set_aside_as_applied(wh, delivered, outbox, now):
    # applied and committed, then the process died before moving the file: the next run finds it again
    sha = _package(wh.engine, 1).manifest_sha256
    errors = [{"entity": "case", "key": "UNIFIED/LY01", "message": "late"}]
    path = _write_receipt(outbox, 1, sha, status="REJECTED", errors=errors)
    data = path.read_bytes()
    [first] = collect_receipts(wh.engine, delivered, now)
    assert (first.outcome, first.status) == ("APPLIED", "REJECTED")
    path.write_bytes(data)

    [again] = collect_receipts(wh.engine, delivered, now)

    assert (again.outcome, again.status, again.reason) == ("APPLIED", "REJECTED", None)
    assert not (outbox / "receipts" / "refused").exists() or not any((outbox / "receipts" / "refused").iterdir())
    assert _package(wh.engine, 1).state == "REJECTED"
    # a receipt that says something else is still refused
    _write_receipt(outbox, 1, sha, status="ACCEPTED")
    [other] = collect_receipts(wh.engine, delivered, now)
    assert (other.outcome, other.reason) == ("REFUSED", "package 1 already has a receipt (REJECTED)")


def test_second_receipt_for_a_package_is_refused(wh, delivered, keys, outbox, now):
    simulate_receiver(outbox, keys.public_key_pem(), now)
    collect_receipts(wh.engine, delivered, now)
    sha = _package(wh.engine, 1).manifest_sha256
    _write_receipt(outbox, 1, sha, status="REJECTED", errors=[{"entity": None, "key": None, "message": "late"}])

    [outcome] = collect_receipts(wh.engine, delivered, now)

    assert (outcome.outcome, outcome.reason) == ("REFUSED", "package 1 already has a receipt (ACCEPTED)")
    assert _package(wh.engine, 1).state == "ACCEPTED"
    assert sorted(p.name for p in (outbox / "receipts" / "refused").iterdir()) == ["receipt-0000000001.json"]
    # the first one is still there too: a second one of the same name gets a suffix, never overwrites
    _write_receipt(outbox, 1, sha)
    collect_receipts(wh.engine, delivered, now)
    assert sorted(p.name for p in (outbox / "receipts" / "refused").iterdir()) == [
        "receipt-0000000001.json",
        "receipt-0000000001.json.1",
    ]


def test_packages_without_receipt_are_flagged_after_24_hours(wh, delivered, keys, outbox, now):
    sha = _package(wh.engine, 1).manifest_sha256
    _write_receipt(outbox, 1, sha)
    collect_receipts(wh.engine, delivered, now)

    assert flag_overdue(wh.engine, now + timedelta(hours=23, minutes=59)) == []
    assert flag_overdue(wh.engine, now + timedelta(hours=24)) == [2]
    assert _package(wh.engine, 2).flagged_at == now + timedelta(hours=24)
    assert _package(wh.engine, 1).flagged_at is None  # it has its receipt
    assert flag_overdue(wh.engine, now + timedelta(hours=30)) == []  # flagged once
    assert flag_overdue(wh.engine, now + timedelta(hours=2), after=timedelta(hours=1)) == []


def test_resend_sends_identical_bytes_and_restarts_the_clock(wh, delivered, store, outbox, now):
    name = "320481-320400-0000000002.zip"
    original = (store / name).read_bytes()
    flag_overdue(wh.engine, now + timedelta(hours=25))
    (outbox / name).unlink()  # the prefecture lost it

    later = now + timedelta(hours=26)
    resend(wh.engine, 2, delivered, store, now=later)

    assert (outbox / name).read_bytes() == original
    package = _package(wh.engine, 2)
    assert (package.delivered_at, package.flagged_at, package.state) == (later, None, "DELIVERED")
    assert flag_overdue(wh.engine, later + timedelta(hours=23)) == []
    assert flag_overdue(wh.engine, later + timedelta(hours=24)) == [2]


def test_a_resend_after_a_receipt_awaits_the_next_one_which_replaces_the_status(wh, delivered, store, outbox, now):
    _write_receipt(outbox, 1, _package(wh.engine, 1).manifest_sha256)
    sha = _package(wh.engine, 2).manifest_sha256
    damaged = [{"entity": None, "key": None, "message": "data/case.jsonl: sha256 differs (tampered data)"}]
    _write_receipt(outbox, 2, sha, status="REJECTED", errors=damaged)
    collect_receipts(wh.engine, delivered, now)

    later = now + timedelta(hours=2)
    resend(wh.engine, 2, delivered, store, now=later)

    package = _package(wh.engine, 2)
    assert (package.state, package.delivered_at) == ("DELIVERED", later)  # awaiting a receipt again
    assert (package.receipt_status, package.receipt_errors) == ("REJECTED", damaged)  # the last one, until replaced
    assert flag_overdue(wh.engine, later + timedelta(hours=23, minutes=59)) == []
    assert flag_overdue(wh.engine, later + timedelta(hours=24)) == [2]  # the clock runs from the new delivery

    _write_receipt(outbox, 2, sha)
    [outcome] = collect_receipts(wh.engine, delivered, later + timedelta(hours=25))

    assert (outcome.outcome, outcome.status) == ("APPLIED", "ACCEPTED")
    package = _package(wh.engine, 2)
    assert (package.state, package.receipt_status, package.receipt_errors) == ("ACCEPTED", "ACCEPTED", [])
    with wh.engine.connect() as conn:
        history = [(r["sequence"], r["outcome"], r["status"]) for r in wp.receipt_log(conn)]
    assert history == [(1, "APPLIED", "ACCEPTED"), (2, "APPLIED", "REJECTED"), (2, "APPLIED", "ACCEPTED")]
    assert sorted(p.name for p in (outbox / "receipts" / "applied").iterdir()) == [
        "receipt-0000000001.json",
        "receipt-0000000002.json",
        "receipt-0000000002.json.1",
    ]
    # without a delivery in between, a further receipt is refused
    _write_receipt(outbox, 2, sha, status="REJECTED", errors=damaged)
    [outcome] = collect_receipts(wh.engine, delivered, later + timedelta(hours=26))
    assert (outcome.outcome, outcome.reason) == ("REFUSED", "package 2 already has a receipt (ACCEPTED)")
    assert _package(wh.engine, 2).state == "ACCEPTED"


def test_resend_never_delivers_out_of_order(wh, delivered, keys, store, outbox, now):
    for n in (3, 4):
        wh.replace("case", rows.case(n, version=2, at=now + timedelta(hours=n)))
        build_package(wh.engine, keys, store, now=now)

    with pytest.raises(DeliveryError, match="package 3 was never delivered, so it is not resent: the next run"):
        resend(wh.engine, 3, delivered, store, now=now)
    assert not (outbox / "320481-320400-0000000003.zip").exists()
    assert _package(wh.engine, 3).state == "BUILT"

    deliver_package(wh.engine, 4, delivered, store, now=now)  # 4 went out alone, by whatever means
    with pytest.raises(DeliveryError, match=r"package 4 is not resent ahead of package\(s\) \[3\]"):
        resend(wh.engine, 4, delivered, store, now=now)
    assert resend(wh.engine, 2, delivered, store, now=now).name == "320481-320400-0000000002.zip"  # behind: fine

    assert deliver_pending(wh.engine, delivered, store, now=now) == [3]
    resend(wh.engine, 4, delivered, store, now=now)
    assert _package(wh.engine, 4).state == "DELIVERED"


def test_resend_refuses_a_package_that_changed_in_the_store(wh, delivered, store, now):
    path = store / "320481-320400-0000000001.zip"
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01  # one bit inside the compressed data
    path.write_bytes(bytes(data))
    with pytest.raises(PackageStoreError, match="does not match ops_package"):
        resend(wh.engine, 1, delivered, store, now=now)
    with pytest.raises(PackageStoreError, match="no package with sequence 9"):
        resend(wh.engine, 9, delivered, store, now=now)


def test_demo_receiver_rejects_a_tampered_package(wh, delivered, keys, store, outbox, now):
    path = outbox / "320481-320400-0000000002.zip"
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("data/case.jsonl")
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len + info.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    simulate_receiver(outbox, keys.public_key_pem(), now)
    receipt = json.loads((outbox / "receipt-0000000002.json").read_text(encoding="utf-8"))
    assert receipt["status"] == "REJECTED" and receipt["errors"]
    assert all(e["entity"] is None and e["message"] for e in receipt["errors"])
    outcomes = collect_receipts(wh.engine, delivered, now)
    assert [(o.sequence, o.status) for o in outcomes] == [(1, "ACCEPTED"), (2, "REJECTED")]

    # resending the stored bytes repairs the damage on the receiving side
    resend(wh.engine, 2, delivered, store, now=now)
    [again] = simulate_receiver(outbox, keys.public_key_pem(), now)
    assert json.loads(again.read_text(encoding="utf-8"))["status"] == "ACCEPTED"
