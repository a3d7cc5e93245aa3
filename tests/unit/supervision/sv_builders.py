"""Small record builders for hand-checked supervision tests (generated data, no real people)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from supervision.model import SupervisionData

DEPT = "11320481466000002C"
DEPT2 = "11320481466001371Q"
AS_OF = dt.datetime(2026, 11, 6, 18, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def at(day: str, time: str = "10:00:00") -> str:
    return f"{day}T{time}+08:00"


def item(code: str = "XK3204810010001000", **over: Any) -> dict[str, Any]:
    rec = {
        "power_code": code,
        "name": "事项",
        "power_type": code[:2],
        "dept_code": DEPT,
        "legal_basis": "法",
        "legal_limit": 20,
        "promised_limit": 5,
        "time_unit": "WD",
        "fee": None,
        "penalty_min": None,
        "penalty_max": None,
        "flow": ["SL", "SH", "PZ", "BJ"],
        "state": "A",
        "source_system": "UNIFIED",
        "version": 1,
        "updated_at": at("2026-01-01"),
    }
    rec.update(over)
    return rec


def case(case_id: str = "LY0000000001", **over: Any) -> dict[str, Any]:
    rec = {
        "source_system": "UNIFIED",
        "case_id": case_id,
        "power_code": "XK3204810010001000",
        "dept_code": DEPT,
        "applicant_type": "1",
        "applicant_name": "测试",
        "applicant_id_type": "SFZ",
        "applicant_id_no": "320481199001010000",
        "channel": "1",
        "received_at": at("2026-09-30"),
        "promised_limit": 3,
        "status": "IN_PROGRESS",
        "finished_at": None,
        "result": None,
        "result_note": None,
        "fee_paid": "0",
        "relief_reason": None,
        "penalty_amount": None,
        "satisfaction": None,
        "version": 1,
        "updated_at": at("2026-09-30"),
    }
    rec.update(over)
    return rec


def done(case_id: str = "LY0000000001", finished: str = "2026-10-09", **over: Any) -> dict[str, Any]:
    """A COMPLETED case (granted) finished on ``finished``."""
    base = {
        "status": "COMPLETED",
        "finished_at": at(finished, "16:00:00"),
        "result": "GRANTED",
        "result_note": "依法办理",
    }
    base.update(over)
    return case(case_id, **base)


def step(case_id: str, no: int, code: str, start: str, end: str | None = None, **over: Any) -> dict[str, Any]:
    rec = {
        "source_system": "UNIFIED",
        "case_id": case_id,
        "step_no": no,
        "step_code": code,
        "handler_id": "G1",
        "handler_name": "经办人",
        "started_at": start if "T" in start else at(start),
        "finished_at": None if end is None else (end if "T" in end else at(end, "12:00:00")),
        "opinion": None,
        "version": 1,
        "updated_at": at("2026-10-01"),
    }
    rec.update(over)
    return rec


def flow_steps(case_id: str, day: str = "2026-09-30", codes: tuple[str, ...] = ("SL", "SH", "PZ", "BJ")) -> list[dict]:
    return [step(case_id, i + 1, c, at(day, f"1{i}:00:00"), at(day, f"1{i}:30:00")) for i, c in enumerate(codes)]


def complaint(cid: str = "TS00001", **over: Any) -> dict[str, Any]:
    rec = {
        "complaint_id": cid,
        "case_source_system": None,
        "case_id": None,
        "dept_code": DEPT,
        "received_at": at("2026-10-12"),
        "status": "OPEN",
        "closed_at": None,
        "result": None,
        "content": "投诉内容",
        "source_system": "UNIFIED",
        "version": 1,
        "updated_at": at("2026-10-12"),
    }
    rec.update(over)
    return rec


def bundle(
    cases: list[dict] = (), steps: list[dict] = (), complaints: list[dict] = (), items: list[dict] | None = None
) -> SupervisionData:
    return SupervisionData.from_records(
        departments=[
            {"dept_code": DEPT, "name": "溧阳市市场监督管理局"},
            {"dept_code": DEPT2, "name": "溧阳市自然资源和规划局"},
        ],
        power_items=items if items is not None else [item()],
        cases=list(cases),
        steps=list(steps),
        complaints=list(complaints),
    )
