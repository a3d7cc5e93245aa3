"""A self-built system's SOAP interface (the published WSDL), built with spyne, served on loopback.

Operation ``GetRecords(entity, since, page_token, limit)`` returns ``RecordPage``: ``records``
(each the JSON text of one §3 record, unchanged) and ``next_page_token``. Switches in
:class:`SoapFaults` make the server answer a SOAP Fault, answer slowly, or answer with hostile
XML (entity expansion, external entities) or a hostile WSDL, to test the client's defences.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from spyne import Application, ComplexModel, Fault, Integer, ServiceBase, Unicode, rpc
from spyne import Iterable as SpyneIterable
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

from simulators.source_records import BadRequest, SourceRecords

__all__ = ["NAMESPACE", "SERVICE_NAME", "SoapFaults", "SoapSimulator", "hostile_body"]

NAMESPACE = "urn:liyang:sanheyi:interface:v1"
SERVICE_NAME = "SanheyiRecordService"
MAX_LIMIT = 1000


class RecordPage(ComplexModel):
    __namespace__ = NAMESPACE
    _type_info = [
        ("records", SpyneIterable(Unicode)),
        ("next_page_token", Unicode),
    ]


@dataclass
class SoapFaults:
    """Switches, changed by tests while the server runs."""

    fault_next: int = 0  # answer a soap:Server fault to this many calls
    fault_always: bool = False
    client_fault: bool = False  # answer a soap:Client fault (not worth retrying)
    delay_s: float = 0.0
    hostile: str | None = None  # a key of HOSTILE: answer that body instead of the real one
    wsdl_override: bytes | None = None  # serve this instead of the real WSDL
    calls: int = 0  # operation calls received, whatever the answer (for assertions)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_call(self) -> None:
        with self.lock:
            self.calls += 1

    def take_fault(self) -> bool:
        with self.lock:
            if self.fault_always:
                return True
            if self.fault_next > 0:
                self.fault_next -= 1
                return True
            return False


def _service(records: SourceRecords, faults: SoapFaults) -> type[ServiceBase]:
    class SanheyiRecordService(ServiceBase):
        @rpc(Unicode, Unicode, Unicode, Integer, _returns=RecordPage, _body_style="wrapped")
        def GetRecords(
            ctx: Any, entity: str, since: str | None, page_token: str | None, limit: int | None
        ) -> RecordPage:  # noqa: N802,N805
            if faults.delay_s:
                time.sleep(faults.delay_s)
            if faults.client_fault:
                raise Fault(faultcode="Client", faultstring="simulated client fault")
            if faults.take_fault():
                raise Fault(faultcode="Server", faultstring="simulated server fault")
            wanted = 100 if limit is None else int(limit)
            if not 1 <= wanted <= MAX_LIMIT:
                raise Fault(faultcode="Client", faultstring=f"limit must be 1..{MAX_LIMIT}")
            try:
                page, token = records.page(
                    entity or "", since=since or None, page_token=page_token or None, limit=wanted
                )
            except BadRequest as exc:
                raise Fault(faultcode="Client", faultstring=str(exc)) from None
            return RecordPage(records=[r.raw for r in page], next_page_token=token)

    return SanheyiRecordService


def build_application(records: SourceRecords, faults: SoapFaults) -> Application:
    return Application(
        [_service(records, faults)],
        tns=NAMESPACE,
        name=SERVICE_NAME,
        in_protocol=Soap11(validator="lxml"),
        out_protocol=Soap11(),
    )


def hostile_body(kind: str, *, listener_url: str = "http://127.0.0.1:9/", local_file: str = "/etc/hostname") -> bytes:
    """Hostile SOAP answers a compromised or careless source could send."""
    envelope_open = (
        '<soap11env:Envelope xmlns:soap11env="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:tns="{NAMESPACE}"><soap11env:Body><tns:GetRecordsResponse><tns:GetRecordsResult>'
        "<tns:records><tns:string>"
    )
    envelope_close = (
        "</tns:string></tns:records><tns:next_page_token/></tns:GetRecordsResult></tns:GetRecordsResponse>"
        "</soap11env:Body></soap11env:Envelope>"
    )
    if kind == "billion_laughs":
        entities = ['<!ENTITY lol "lol">'] + [
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
        ]
        dtd = "<!DOCTYPE soap11env:Envelope [" + "".join(entities) + "]>"
        return ('<?xml version="1.0"?>' + dtd + envelope_open + "&lol9;" + envelope_close).encode()
    if kind == "xxe_file":
        dtd = f'<!DOCTYPE soap11env:Envelope [<!ENTITY xxe SYSTEM "file://{local_file}">]>'
        return ('<?xml version="1.0"?>' + dtd + envelope_open + "&xxe;" + envelope_close).encode()
    if kind == "xxe_url":
        dtd = f'<!DOCTYPE soap11env:Envelope [<!ENTITY xxe SYSTEM "{listener_url}xxe">]>'
        return ('<?xml version="1.0"?>' + dtd + envelope_open + "&xxe;" + envelope_close).encode()
    if kind == "external_dtd":
        dtd = f'<!DOCTYPE soap11env:Envelope SYSTEM "{listener_url}evil.dtd">'
        return ('<?xml version="1.0"?>' + dtd + envelope_open + "x" + envelope_close).encode()
    if kind == "huge":
        return (envelope_open + "x" * (8 * 1024 * 1024) + envelope_close).encode()
    raise ValueError(f"unknown hostile body {kind}")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


class _ThreadingWSGIServer(WSGIServer):
    # One thread per request, so a slow call does not block the next test's call.
    daemon_threads = True

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._handle, args=(request, client_address), daemon=True)
        thread.start()

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


class SoapSimulator:
    """The spyne service behind a WSGI server in a background thread on ``127.0.0.1``."""

    def __init__(
        self,
        records: SourceRecords,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        listener_url: str = "http://127.0.0.1:9/",
        port: int = 0,
    ) -> None:
        self.port = port  # 0: any free port (tests); the demo uses a fixed one its registry names
        self.records = records
        self.faults = SoapFaults()
        self.token = token
        self.basic = (username, password) if username is not None else None
        self.listener_url = listener_url
        self._wsgi = WsgiApplication(build_application(records, self.faults))
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}/soap"

    @property
    def wsdl_url(self) -> str:
        return self.url + "?wsdl"

    def _authorised(self, environ: dict[str, Any]) -> bool:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if self.token is not None and header == f"Bearer {self.token}":
            return True
        if self.basic is not None:
            expected = base64.b64encode(f"{self.basic[0]}:{self.basic[1]}".encode()).decode()
            if header == f"Basic {expected}":
                return True
        return self.token is None and self.basic is None

    def app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        is_wsdl = environ.get("REQUEST_METHOD") == "GET" and environ.get("QUERY_STRING", "").lower() == "wsdl"
        if environ.get("REQUEST_METHOD") == "POST":
            # Counted before any answer is chosen: a refused, faulted or hostile answer is a call too.
            self.faults.count_call()
        if is_wsdl and self.faults.wsdl_override is not None:
            start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8")])
            return [self.faults.wsdl_override]
        if not is_wsdl and not self._authorised(environ):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Basic")])
            return [b"unauthorized"]
        if not is_wsdl and self.faults.hostile:
            body = hostile_body(self.faults.hostile, listener_url=self.listener_url)
            start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))])
            return [body]
        return self._wsgi(environ, start_response)

    def start(self) -> SoapSimulator:
        self._server = make_server(
            "127.0.0.1", self.port, self.app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.faults.delay_s = 0
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> SoapSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
