"""Stored supervision events: only what changed is written, and events that no longer hold are
kept as ``WITHDRAWN`` (§5.4) so that Changzhou learns of the withdrawal in the next package.

The stored events are those of the latest instant supervision was computed for. Events computed as
of an earlier instant (an old Airflow run cleared and run again, a host clock set back, an operator's
``--as-of``) are not stored: they would withdraw events that hold now, send the withdrawals to
Changzhou, and send the events again with the next cycle.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd
from sqlalchemy import Connection, func, select

from schemas.standard import SUPERVISION_EVENT_FIELDS
from warehouse.bulk import copy_rows, create_stage, frame_to_rows, is_postgres
from warehouse.tables import fct_supervision_event

EVENT_FIELDS = SUPERVISION_EVENT_FIELDS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventSync:
    new: int
    changed: int
    withdrawn: int
    unchanged: int
    skipped: str | None = None  # why the stored events were left as they were, if they were


def _payload(row: dict) -> str:
    record = {}
    for name in EVENT_FIELDS:
        value = row.get(name)
        if isinstance(value, (date, datetime)):
            value = value.isoformat()[:10]
        elif value is not None and pd.isna(value):
            value = None
        record[name] = value
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _with_payloads(events: pd.DataFrame) -> pd.DataFrame:
    frame = events.copy()
    frame["payload"] = [_payload(r) for r in frame.to_dict("records")]
    frame["payload_sha256"] = [hashlib.sha256(p.encode("utf-8")).hexdigest() for p in frame["payload"]]
    return frame


def sync_events(conn: Connection, computed: pd.DataFrame, computed_at: datetime) -> EventSync:
    """Make the stored events equal to ``computed`` (the events that hold as of ``computed_at``).

    If stored events were computed as of a later instant, nothing is written: the result says why
    (``skipped``) and a warning is logged.
    """
    table = fct_supervision_event
    latest = conn.execute(select(func.max(table.c.computed_at))).scalar()
    if latest is not None and latest > datetime.now(UTC):
        # a run as of a future instant (a mistyped --as-of, a clock that jumped): honouring it would
        # leave every run skipped until that day comes
        log.warning("stored supervision events were computed as of a future instant %s: not honoured", latest)
        latest = None
    if latest is not None and computed_at < latest:
        skipped = (
            f"监察事件已按更晚的时点 {latest.astimezone(computed_at.tzinfo).isoformat()} 计算, 本次不更新 / "
            f"the stored events were computed as of {latest.astimezone(computed_at.tzinfo).isoformat()}, "
            f"later than {computed_at.isoformat()}: they are left as they are"
        )
        log.warning("supervision events not stored: %s", skipped)
        return EventSync(new=0, changed=0, withdrawn=0, unchanged=0, skipped=skipped)
    stored = pd.DataFrame(conn.execute(select(table)).mappings().all(), columns=[c.name for c in table.columns])
    current = computed.copy()
    current["status"] = "ACTIVE"
    if "provisional" not in current.columns:
        current["provisional"] = False
    current = _with_payloads(current)
    stored_sha = dict(zip(stored["event_key"], stored["payload_sha256"], strict=False))

    is_new = ~current["event_key"].isin(stored_sha.keys())
    changed_mask = ~is_new & (current["payload_sha256"] != current["event_key"].map(stored_sha))
    gone = stored[(stored["status"] == "ACTIVE") & ~stored["event_key"].isin(set(current["event_key"]))].copy()
    gone["status"] = "WITHDRAWN"
    gone = _with_payloads(gone.drop(columns=["payload", "payload_sha256"]))

    writes = pd.concat([current[is_new | changed_mask], gone], ignore_index=True)
    if not writes.empty:
        writes["computed_at"] = computed_at
        columns = [c.name for c in table.columns]
        stage = "stg_supervision_event"
        create_stage(conn, table, stage)
        copy_rows(conn, stage, columns, frame_to_rows(writes[columns], table, columns, is_postgres(conn)))
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "event_key")
        conn.exec_driver_sql(
            f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM {stage} WHERE true "
            f"ON CONFLICT (event_key) DO UPDATE SET {updates}"
        )
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage}")
    return EventSync(
        new=int(is_new.sum()),
        changed=int(changed_mask.sum()),
        withdrawn=len(gone),
        unchanged=int((~is_new & ~changed_mask).sum()),
    )


def stored_events(conn: Connection, *, active_only: bool = True) -> pd.DataFrame:
    table = fct_supervision_event
    query = select(table)
    if active_only:
        query = query.where(table.c.status == "ACTIVE")
    return pd.DataFrame(conn.execute(query).mappings().all(), columns=[c.name for c in table.columns])
