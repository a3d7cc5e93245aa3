"""Alerts to the data engineers: always a log line; also a webhook (e.g. the office's chat robot)
when ``SANHEYI_ALERT_WEBHOOK`` is set. Used by the Airflow failure notifier, the exchange DAG's receipt check
and the exchange stage, for a package Changzhou rejected."""

from __future__ import annotations

import json
import logging
import os
import urllib.request

log = logging.getLogger("sanheyi.alerts")


def send_alert(text: str) -> None:
    """Raise an alert; ``text`` must hold no personal data (only codes, ids, counts)."""
    log.error(text)
    webhook = os.environ.get("SANHEYI_ALERT_WEBHOOK")
    if not webhook:
        return
    request = urllib.request.Request(  # noqa: S310 - an operator-configured URL
        webhook,
        data=json.dumps({"text": text}, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310
    except OSError as exc:
        log.error("alert webhook failed: %s", type(exc).__name__)
