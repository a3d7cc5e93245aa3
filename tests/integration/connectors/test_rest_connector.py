"""The REST connector against the FastAPI simulator on loopback: reads, cursors, paging, faults, secrets."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC

import pytest
from selfbuilt_helpers import FAST, REST_TOKEN

from connectors.credentials import Credential, CredentialResolver
from connectors.remote import (
    ConnectorConfigError,
    RetryPolicy,
    SourceProtocolError,
    SourceUnavailableError,
)
from connectors.rest import RestConnector
from simulators.rest_server import RestSimulator
from simulators.source_records import SourceRecords

ENTITIES = ("case", "case_step")


def _connector(sim: RestSimulator, **options) -> RestConnector:
    options.setdefault("policy", FAST)
    return RestConnector("SELF_GA", sim.url, Credential("GA_REST", token=REST_TOKEN), entities=ENTITIES, **options)


def _read(connector: RestConnector, cursor=None):
    batches = list(connector.read(cursor))
    records = [json.loads(raw) for b in batches for raw in b.raw]
    return batches, records


def test_full_read_returns_every_record_unchanged_in_dependency_order(rest_sim, ga_folder):
    batches, records = _read(_connector(rest_sim, page_size=5))
    assert [b.entity for b in batches] == ["case"] * 2 + ["case_step"] * 4
    key = lambda r: (r["case_id"], r.get("step_no", 0))  # noqa: E731
    expected = sorted(
        (json.loads(line) for e in ENTITIES for line in (ga_folder / f"{e}.20261125.jsonl").read_text().splitlines()),
        key=key,
    )
    assert sorted(records, key=key) == expected
    assert len(records) == 8 + 20
    case_batch = batches[0]
    assert case_batch.source_system == "SELF_GA"
    assert case_batch.origin == "rest:case?since=&page=1"
    assert list(case_batch.frame["_line"]) == [1, 2, 3, 4, 5]
    assert case_batch.frame["case_id"].tolist() == [json.loads(r)["case_id"] for r in case_batch.raw]
    # every batch carries the cursor of everything read so far
    assert set(batches[-1].next_cursor) == {"case", "case_step"}
    assert batches[-1].next_cursor["case"]["updated_at"] == "2026-10-16T01:41:24.000000Z"


def test_paging_loses_and_repeats_nothing(rest_sim):
    _, unpaged = _read(_connector(rest_sim, page_size=1000))
    for size in (1, 3, 7):
        batches, paged = _read(_connector(rest_sim, page_size=size))
        assert paged == unpaged
        assert max(len(b.frame) for b in batches) == size


def test_incremental_read_returns_changes_and_never_misses_equal_cursor_values(ga_folder):
    records = SourceRecords.from_dir(ga_folder)
    with RestSimulator(records, token=REST_TOKEN) as sim:
        connector = _connector(sim, page_size=4)
        batches, first = _read(connector)
        cursor = batches[-1].next_cursor
        last_case = max((r for r in first if "step_no" not in r), key=lambda r: r["updated_at"])

        # Nothing changed: only the records inside the look-back window come again.
        _, again = _read(connector, cursor)
        assert {(r["case_id"], r.get("step_no")) for r in again} == {
            ("LY3204810000024", None),
            ("LY3204810000024", 1),
            ("LY3204810000024", 2),
            ("LY3204810000024", 3),
        }

        # A new version, a record committed late with the *same* updated_at as the cursor, and one
        # stamped a minute before it (a long transaction) all arrive.
        changed = dict(last_case, version=2, updated_at="2026-10-20T09:00:00+08:00", result_note="更正")
        same_instant = dict(last_case, case_id="LY3204810000001", updated_at=last_case["updated_at"])
        late = dict(last_case, case_id="LY3204810000002", updated_at="2026-10-16T09:40:24+08:00")
        records.add("case", [changed, same_instant, late])
        _, third = _read(connector, cursor)
        got = {(r["case_id"], r["version"]) for r in third if "step_no" not in r}
        assert {("LY3204810000024", 2), ("LY3204810000001", 1), ("LY3204810000002", 1)} <= got

        # A cursor in the future returns nothing.
        future = connector.cursor_at(replace_year(2030))
        assert _read(connector, future)[1] == []


def test_a_record_stamped_in_the_future_does_not_carry_the_cursor_past_later_changes(ga_folder):
    records = SourceRecords.from_dir(ga_folder)
    with RestSimulator(records, token=REST_TOKEN) as sim:
        connector = _connector(sim, page_size=4)
        connector.clock = lambda: replace_year(2026).replace(month=11, day=1)
        last_case = max((r.record for r in records.all("case")), key=lambda r: r["updated_at"])
        # a department typed the year wrong: stamped 2099, the record would be read, then quarantined
        records.add("case", [dict(last_case, case_id="LY3204810000099", updated_at="2099-10-16T09:00:00+08:00")])
        batches, _ = _read(connector)
        cursor = batches[-1].next_cursor
        assert cursor["case"]["updated_at"] == "2026-10-16T01:41:24.000000Z"  # the latest not later than now

        # a change made after that read, but before 2099, still arrives on the next one
        records.add("case", [dict(last_case, version=2, updated_at="2026-10-30T09:00:00+08:00")])
        connector.clock = lambda: replace_year(2026).replace(month=11, day=2)
        _, again = _read(connector, cursor)
        assert ("LY3204810000024", 2) in {(r["case_id"], r["version"]) for r in again if "step_no" not in r}


def replace_year(year: int):
    from datetime import datetime

    return datetime(year, 1, 1, tzinfo=UTC)


def test_transient_500s_are_retried(rest_sim):
    rest_sim.faults.fail_next = 2
    _, records = _read(_connector(rest_sim, page_size=1000))
    assert len(records) == 28
    assert rest_sim.faults.requests == 2 + 2  # two failures, then one page per entity


def test_a_source_that_keeps_failing_is_reported_after_bounded_retries(rest_sim):
    rest_sim.faults.fail_always = True
    with pytest.raises(SourceUnavailableError) as caught:
        _read(_connector(rest_sim))
    assert rest_sim.faults.requests == 3
    assert caught.value.message == (
        "系统 SELF_GA 接口暂不可用 (读取 case 第 1 页, 共尝试 3 次): HTTP 500 / "
        "source SELF_GA unavailable (reading case page 1, 3 attempts): HTTP 500"
    )


def test_a_source_that_times_out_fails_alone(rest_sim, ga_folder):
    rest_sim.faults.delay_s = 1.0
    slow = _connector(rest_sim, policy=RetryPolicy(attempts=2, backoff_initial_s=0.01, read_timeout_s=0.2))
    with RestSimulator(SourceRecords.from_dir(ga_folder), token=REST_TOKEN) as healthy_sim:
        healthy = RestConnector(
            "SELF_OK", healthy_sim.url, Credential("OK", token=REST_TOKEN), entities=ENTITIES, policy=FAST
        )
        outcomes = {}
        for connector in (slow, healthy):
            try:
                outcomes[connector.system_code] = len(_read(connector)[1])
            except SourceUnavailableError as exc:
                outcomes[connector.system_code] = exc.message
    assert outcomes["SELF_OK"] == 28
    assert "timed out after 0.2 s" in outcomes["SELF_GA"] and "2 attempts" in outcomes["SELF_GA"]


def test_a_refused_credential_names_the_credential_not_the_secret(rest_sim):
    connector = RestConnector(
        "SELF_GA", rest_sim.url, Credential("GA_REST", token="wrong-" + REST_TOKEN), entities=ENTITIES, policy=FAST
    )
    with pytest.raises(ConnectorConfigError) as caught:
        _read(connector)
    assert "refused the credential GA_REST (HTTP 401)" in caught.value.message
    assert REST_TOKEN not in caught.value.message
    assert rest_sim.faults.requests == 1  # not retried
    assert connector.check().ok is False


def test_secrets_stay_out_of_errors_and_logs(rest_sim, caplog, monkeypatch):
    monkeypatch.setenv("SANHEYI_CRED_GA_REST", json.dumps({"token": REST_TOKEN}))
    credential = CredentialResolver().resolve("GA_REST")
    assert REST_TOKEN not in repr(credential) and REST_TOKEN not in str(credential)
    caplog.set_level(logging.DEBUG)
    connector = RestConnector("SELF_GA", rest_sim.url, credential, entities=ENTITIES, policy=FAST)
    _read(connector)
    rest_sim.faults.fail_always = True
    with pytest.raises(SourceUnavailableError) as caught:
        _read(connector)
    assert REST_TOKEN not in caught.value.message
    assert "SELF_GA: reading case page 1 failed (attempt 1 of 3), retrying: HTTP 500" in caplog.text
    # A careless source quotes the request's Authorization header in its error: scrubbed when raised.
    rest_sim.faults.fail_always = False
    rest_sim.faults.echo_authorization = True
    with pytest.raises(SourceProtocolError) as echoed:
        _read(connector)
    assert echoed.value.message.endswith("answered HTTP 400 to GET /v1/case: bad header Bearer ***")
    assert REST_TOKEN not in caplog.text


def test_a_page_larger_than_the_bound_is_refused(rest_sim):
    connector = _connector(rest_sim, policy=replace(FAST, max_response_bytes=2000))
    with pytest.raises(SourceProtocolError, match="exceeds 2000 bytes"):
        _read(connector)
    assert rest_sim.faults.requests == 1  # not retried


def test_check_reports_reachability(rest_sim):
    result = _connector(rest_sim).check()
    assert result.ok and result.sample_records == 8
    rest_sim.faults.fail_always = True
    failed = _connector(rest_sim).check()
    assert not failed.ok and "HTTP 500" in failed.message
