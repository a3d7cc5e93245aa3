"""A self-built system's REST interface (the published OpenAPI), served by uvicorn on loopback.

``GET /v1/{entity}?since=&page_token=&limit=`` answers
``{"entity": ..., "records": [...], "next_page_token": ...}`` with the records' JSON text exactly
as stored. Switches in :class:`RestFaults` make it fail on purpose (HTTP 500, slow answers) so
the connector's retries and timeouts can be tested.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated

import uvicorn
from fastapi import FastAPI, Header, Query
from fastapi.responses import JSONResponse, Response

from simulators.source_records import BadRequest, SourceRecords, encode_token

__all__ = ["RestFaults", "RestSimulator", "create_app"]

MAX_LIMIT = 1000


@dataclass
class RestFaults:
    """Switches, changed by tests while the server runs."""

    fail_next: int = 0  # answer HTTP 500 to this many requests
    fail_always: bool = False
    fail_entities: set[str] = field(default_factory=set)  # answer HTTP 500 for these entities (an endpoint down)
    delay_s: float = 0.0  # sleep before answering (a source that times out)
    ignore_since: bool = False  # a faulty source: always answers from the beginning
    sloppy_paging: bool = False  # a faulty source: each page repeats the previous page's last record
    echo_authorization: bool = False  # a careless source: HTTP 400 quoting the request's Authorization header
    requests: int = 0  # requests seen (for assertions)
    asked: list[str] = field(default_factory=list)  # the entity of each request, in order (for assertions)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take_failure(self, entity: str) -> bool:
        with self.lock:
            self.requests += 1
            self.asked.append(entity)
            if self.fail_always or entity in self.fail_entities:
                return True
            if self.fail_next > 0:
                self.fail_next -= 1
                return True
            return False


def create_app(records: SourceRecords, *, token: str | None, faults: RestFaults) -> FastAPI:
    app = FastAPI(title="Simulated self-built system (Interface Standard v1, rest)", openapi_url=None)

    # A plain ``def``: FastAPI runs it in a worker thread, so a slow answer does not block others.
    @app.get("/v1/{entity}")
    def get_records(
        entity: str,
        since: str | None = None,
        page_token: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response:
        failing = faults.take_failure(entity)
        if faults.delay_s:
            time.sleep(faults.delay_s)
        if token is not None and authorization != f"Bearer {token}":
            return JSONResponse({"error": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if failing:
            return JSONResponse({"error": "simulated server fault"}, status_code=500)
        if faults.echo_authorization:
            return JSONResponse({"error": f"bad header {authorization}"}, status_code=400)
        try:
            page, next_token = records.page(
                entity, since=None if faults.ignore_since else since, page_token=page_token, limit=limit
            )
            if faults.sloppy_paging and next_token and len(page) >= 2:
                next_token = encode_token(page[-2].sort_key)
        except BadRequest as exc:
            status = 404 if "unknown entity" in str(exc) else 400
            return JSONResponse({"error": str(exc)}, status_code=status)
        body = (
            '{"entity":'
            + json.dumps(entity)
            + ',"records":['
            + ",".join(r.raw for r in page)
            + "]"
            + ',"next_page_token":'
            + json.dumps(next_token)
            + "}"
        )
        return Response(body.encode("utf-8"), media_type="application/json")

    return app


class RestSimulator:
    """The app served by uvicorn in a background thread on ``127.0.0.1`` and a free port."""

    def __init__(self, records: SourceRecords, *, token: str | None = None) -> None:
        self.records = records
        self.token = token
        self.faults = RestFaults()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RestSimulator:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.records, token=self.token, faults=self.faults),
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the REST simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.faults.delay_s = 0
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> RestSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
