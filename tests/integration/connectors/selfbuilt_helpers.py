"""Constants and a recording HTTP listener shared by the self-built system integration tests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from connectors.remote import RetryPolicy

# Distinctive values, so that a leak into a message or a log line is found by a plain search.
REST_TOKEN = "rest-Tok3n-q81xv-never-shown"
SOAP_USER = "hub_reader"
SOAP_PASSWORD = "soap-Pa55-7kw2-never-shown"

FAST = RetryPolicy(attempts=3, backoff_initial_s=0.01, backoff_max_s=0.05, connect_timeout_s=2, read_timeout_s=5)


class Listener:
    """An HTTP server on 127.0.0.1 that records every request it receives (it must receive none)."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                hits.append(self.path)
                body = b'<!ENTITY x "hit">'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/"

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
