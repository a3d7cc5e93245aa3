"""The SOAP connector against the spyne simulator: reads, faults, and hostile XML refused without a request."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from selfbuilt_helpers import FAST, SOAP_PASSWORD, SOAP_USER

import connectors.soap as soap_module
from connectors.credentials import Credential
from connectors.remote import ConnectorConfigError, RetryPolicy, SourceProtocolError, SourceUnavailableError
from connectors.soap import PUBLISHED_WSDL, SoapConnector, compare_wsdl

ENTITIES = ("case", "case_step")


def _connector(sim, *, password: str = SOAP_PASSWORD, **options) -> SoapConnector:
    options.setdefault("policy", FAST)
    credential = Credential("GA_SOAP", username=SOAP_USER, password=password)
    return SoapConnector("SELF_GA", sim.url, credential, entities=ENTITIES, **options)


def _records(connector: SoapConnector, cursor=None) -> list[dict]:
    return [json.loads(raw) for batch in connector.read(cursor) for raw in batch.raw]


def test_full_and_incremental_reads(soap_sim):
    connector = _connector(soap_sim, page_size=4)
    batches = list(connector.read(None))
    assert sum(len(b.frame) for b in batches) == 28
    assert [b.origin for b in batches][:3] == [
        "soap:case?since=&page=1",
        "soap:case?since=&page=2",
        "soap:case_step?since=&page=1",
    ]
    records = [json.loads(raw) for b in batches for raw in b.raw]
    assert {r["source_system"] for r in records} == {"SELF_GA"}
    again = _records(connector, batches[-1].next_cursor)
    assert {r["case_id"] for r in again} == {"LY3204810000024"}  # the look-back window only


def test_paged_and_unpaged_reads_agree(soap_sim):
    assert _records(_connector(soap_sim, page_size=1)) == _records(_connector(soap_sim, page_size=1000))


def test_the_remote_wsdl_matches_the_published_one(soap_sim):
    assert _connector(soap_sim).remote_wsdl_differences() == []


def test_server_faults_are_retried_then_reported(soap_sim):
    soap_sim.faults.fault_next = 2
    assert len(_records(_connector(soap_sim, page_size=1000))) == 28
    soap_sim.faults.fault_always = True
    soap_sim.faults.calls = 0
    with pytest.raises(SourceUnavailableError) as caught:
        _records(_connector(soap_sim))
    assert soap_sim.faults.calls == 3
    assert "SOAP Fault" in caught.value.message and "simulated server fault" in caught.value.message
    assert "source SELF_GA unavailable (reading case page 1, 3 attempts)" in caught.value.message


def test_a_client_fault_is_not_retried(soap_sim):
    soap_sim.faults.client_fault = True
    with pytest.raises(SourceProtocolError, match="refused the request"):
        _records(_connector(soap_sim))
    assert soap_sim.faults.calls == 1  # asking again would get the same refusal


def test_a_slow_service_times_out(soap_sim):
    soap_sim.faults.delay_s = 1.0
    policy = RetryPolicy(attempts=2, backoff_initial_s=0.01, read_timeout_s=0.2)
    with pytest.raises(SourceUnavailableError, match="timed out after 0.2 s"):
        _records(_connector(soap_sim, policy=policy))


def test_a_wrong_password_is_refused_without_showing_it(soap_sim, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConnectorConfigError) as caught:
        _records(_connector(soap_sim, password="wrong-" + SOAP_PASSWORD))
    assert "refused the credential GA_SOAP (HTTP 401)" in caught.value.message
    assert SOAP_PASSWORD not in caught.value.message
    assert SOAP_PASSWORD not in caplog.text


@pytest.mark.parametrize("kind", ["billion_laughs", "xxe_file", "xxe_url", "external_dtd"])
def test_hostile_answers_are_refused_without_any_outbound_request(soap_sim, listener, kind):
    soap_sim.faults.hostile = kind
    with pytest.raises(SourceProtocolError) as caught:
        _records(_connector(soap_sim))
    assert "refused" in caught.value.message
    assert "lol" not in caught.value.message and "root:" not in caught.value.message
    assert listener.hits == []
    assert soap_sim.faults.calls == 1  # refused, not asked again


def test_an_oversized_answer_is_refused(soap_sim):
    soap_sim.faults.hostile = "huge"
    with pytest.raises(SourceProtocolError, match="exceeds 1048576 bytes"):
        _records(_connector(soap_sim, policy=replace(FAST, max_response_bytes=1024 * 1024)))
    assert soap_sim.faults.calls == 1  # not retried


def _hostile_wsdl(listener_url: str, *, dtd: bool) -> bytes:
    text = PUBLISHED_WSDL.read_text(encoding="utf-8")
    text = text.replace(
        '<xs:schema targetNamespace="urn:liyang:sanheyi:interface:v1" elementFormDefault="qualified">',
        '<xs:schema targetNamespace="urn:liyang:sanheyi:interface:v1" elementFormDefault="qualified">'
        f'<xs:import namespace="urn:evil" schemaLocation="{listener_url}evil.xsd"/>',
    )
    if dtd:
        text = text.replace(
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE x [<!ENTITY e SYSTEM "{listener_url}e">]>',
        )
    return text.encode()


def test_a_remote_wsdl_with_external_imports_is_reported_not_followed(soap_sim, listener):
    soap_sim.faults.wsdl_override = _hostile_wsdl(listener.url, dtd=False)
    differences = _connector(soap_sim).remote_wsdl_differences()
    assert differences[0] == (
        f"对方的 WSDL 引用外部文档 {listener.url}evil.xsd (未加载) / the remote WSDL imports "
        f"{listener.url}evil.xsd (not followed)"
    )
    assert any("remote has extra import" in d for d in differences)
    soap_sim.faults.wsdl_override = _hostile_wsdl(listener.url, dtd=True)
    assert "refused" in _connector(soap_sim).remote_wsdl_differences()[0]
    assert listener.hits == []


def test_the_client_never_follows_an_import_even_in_its_own_wsdl(soap_sim, listener, tmp_path: Path, monkeypatch):
    hostile = tmp_path / "sanheyi.wsdl"
    hostile.write_bytes(_hostile_wsdl(listener.url, dtd=False))
    monkeypatch.setattr(soap_module, "PUBLISHED_WSDL", hostile.resolve())
    with pytest.raises(ConnectorConfigError, match="published WSDL cannot be loaded"):
        _records(_connector(soap_sim))
    assert listener.hits == []


def test_wsdl_comparison_ignores_documentation_and_prefixes():
    published = PUBLISHED_WSDL.read_bytes()
    renamed = published.replace(b"tns:", b"q:").replace(b'xmlns:tns="', b'xmlns:q="')
    assert compare_wsdl(published, renamed) == []
    changed = published.replace(b'name="limit" type="xs:integer"', b'name="limit" type="xs:string"')
    assert any("attributes differ" in d for d in compare_wsdl(published, changed))
