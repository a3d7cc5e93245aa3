"""Real simulators of self-built systems on 127.0.0.1, a listener that records any request, the catalogue."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from selfbuilt_helpers import REST_TOKEN, SOAP_PASSWORD, SOAP_USER, Listener

from connectors.application import Catalogue
from simulators.rest_server import RestSimulator
from simulators.soap_server import SoapSimulator
from simulators.source_records import SourceRecords


@pytest.fixture(scope="session")
def ga_folder(examples_dir: Path) -> Path:
    return examples_dir / "inbox" / "SELF_GA"


@pytest.fixture(scope="session")
def catalogue(examples_dir: Path) -> Catalogue:
    inbox = examples_dir / "inbox" / "UNIFIED"
    departments = [json.loads(line) for line in (inbox / "department.20261125.jsonl").read_text().splitlines()]
    items = [json.loads(line) for line in (inbox / "power_item.20261125.jsonl").read_text().splitlines()]
    return Catalogue.from_records(departments, items)


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    with Listener() as server:
        yield server


@pytest.fixture(scope="module")
def rest_server(ga_folder: Path) -> Iterator[RestSimulator]:
    with RestSimulator(SourceRecords.from_dir(ga_folder), token=REST_TOKEN) as server:
        yield server


@pytest.fixture
def rest_sim(rest_server: RestSimulator) -> Iterator[RestSimulator]:
    """The module's REST simulator with its fault switches reset for each test."""
    faults = rest_server.faults
    faults.fail_next, faults.fail_always, faults.delay_s = 0, False, 0.0
    faults.ignore_since = faults.sloppy_paging = faults.echo_authorization = False
    faults.requests = 0
    faults.asked.clear()
    yield rest_server
    faults.fail_next, faults.fail_always, faults.delay_s = 0, False, 0.0
    faults.ignore_since = faults.sloppy_paging = faults.echo_authorization = False


@pytest.fixture(scope="module")
def soap_server(ga_folder: Path, listener: Listener) -> Iterator[SoapSimulator]:
    logging.getLogger("spyne").setLevel(logging.CRITICAL)  # spyne logs each simulated fault with a traceback
    records = SourceRecords.from_dir(ga_folder)
    with SoapSimulator(records, username=SOAP_USER, password=SOAP_PASSWORD, listener_url=listener.url) as server:
        yield server


@pytest.fixture
def soap_sim(soap_server: SoapSimulator) -> Iterator[SoapSimulator]:
    faults = soap_server.faults
    faults.fault_next, faults.fault_always, faults.client_fault, faults.delay_s = 0, False, False, 0.0
    faults.hostile, faults.wsdl_override, faults.calls = None, None, 0
    yield soap_server
    faults.fault_next, faults.fault_always, faults.client_fault, faults.delay_s = 0, False, False, 0.0
    faults.hostile, faults.wsdl_override = None, None
