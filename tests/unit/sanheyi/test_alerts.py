"""Alerts reach the webhook the office configured (a listener on 127.0.0.1 stands in for it)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from sanheyi.alerts import send_alert


def test_an_alert_is_logged_and_posted(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    monkeypatch.setenv("SANHEYI_ALERT_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
    send_alert("hub task failed: sanheyi_exchange.deliver: DeliveryError")
    thread.join(timeout=10)
    server.server_close()
    assert received == [{"text": "hub task failed: sanheyi_exchange.deliver: DeliveryError"}]
    assert "DeliveryError" in caplog.text


def test_a_dead_webhook_does_not_break_the_alert(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.setenv("SANHEYI_ALERT_WEBHOOK", "http://127.0.0.1:9/nothing-listens-here")
    send_alert("packages without receipt: [3]")
    assert "packages without receipt" in caplog.text and "webhook failed" in caplog.text


def test_a_rejection_alert_names_the_package_and_reasons_but_quotes_no_record() -> None:
    from exchange.changzhou import ReceiptOutcome
    from sanheyi.exchange_stage import rejection_alert

    errors = (
        {"entity": None, "key": None, "message": "sequence gap: package 6 not received"},
        {"entity": "case", "key": "UNIFIED/LY3204810000001", "message": "applicant 陈静 320481196904060383 unknown"},
        {"entity": "case", "key": "UNIFIED/LY3204810000002", "message": "power_code unknown to Changzhou"},
        {"entity": "complaint", "key": "TS3204810000001", "message": "complainant 王芳 not found"},
    )
    alert = rejection_alert(ReceiptOutcome("receipt-0000000007.json", 7, "APPLIED", "REJECTED", None, "", errors))
    assert alert.startswith("常州平台拒收交换包 7 / Changzhou REJECTED package 7: sequence gap: package 6 not received")
    assert "record errors: case 2, complaint 1" in alert
    assert not any(text in alert for text in ("陈静", "王芳", "320481196904060383", "LY3204810000001"))
