"""Report test helpers: a bundle built from the example statistics, and personal data to plant in it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reports"

# Personal data planted in places a careless caller might leave it: none of it may reach a report.
PLANTED_ID = "320481199001011237"
PLANTED_ID_MASKED = "320481********1237"
PLANTED_NAME = "欧阳晓明"
PLANTED_USCC = "91320481MA1W2X3Y4B"


# The self-built systems' decision log after four decisions (its id and entry hash)
DECISION_LOG_HEAD = "4:5b0e0c9a8f3d2e1b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a"


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def make_bundle(*, provisional: bool = False, previous: bool = True, plant: bool = False) -> dict[str, Any]:
    """A report bundle: October 2026 of the example dataset, September as the previous period."""
    statistics = _load("statistics_2026-10-01_2026-10-31_with-SELF_GA.json")
    statistics["provisional"] = provisional
    bundle: dict[str, Any] = {
        "statistics": statistics,
        "previous_statistics": _load("statistics_2026-09-01_2026-09-30_previous.json") if previous else None,
        "events": _load("events_2026-10.json"),
        "quarantine": _load("quarantine_2026-10.json"),
        "generated_at": "2026-11-06T18:05:12+08:00",
        "data_cutoff": "2026-11-06T09:58:00Z",
        "decision_log_head": DECISION_LOG_HEAD,
    }
    if plant:
        plant_personal_data(bundle)
    return bundle


def plant_personal_data(bundle: dict[str, Any]) -> None:
    """Personal data where a buggy caller could leave it: extra keys, free text, a key that is an ID."""
    event = bundle["events"][0]
    event["applicant_name"] = PLANTED_NAME
    event["applicant_id_no"] = PLANTED_ID
    bundle["quarantine"].append(
        {
            "source_system": "UNIFIED",
            "entity": "case",
            "record_key": PLANTED_ID,  # a source that put the applicant's ID into case_id
            "origin": "file",
            "rules": ["V_ID_CHECKDIGIT"],
            "message_zh": f"证件号码 {PLANTED_ID} 校验位错误；统一社会信用代码 {PLANTED_USCC} 无效",
            "raw": {"applicant_name": PLANTED_NAME, "applicant_id_no": PLANTED_ID, "content": "投诉内容"},
            "applicant_name": PLANTED_NAME,
        }
    )
    bundle["statistics"]["departments"][0]["applicant_name"] = PLANTED_NAME
