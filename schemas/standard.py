"""Interface Standard v1 as data: entities, keys, field order, code lists, loaded from the JSON files.

The JSON Schemas under ``schemas/interface_standard/v1/`` are the single source; this module only
reads them, so a change of the standard is a change of those files.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

STANDARD_VERSION = "1.0"
SCHEMA_DIR = Path(__file__).resolve().parent / "interface_standard" / "v1"

UNIFIED = "UNIFIED"
REGION_CODE = "320481"

#: Dependency order: the order in which a cycle reads the entities of one system (§10.1).
ENTITIES: tuple[str, ...] = ("department", "power_item", "case", "case_step", "complaint")

#: Entities that only the unified platform may send (§3).
UNIFIED_ONLY_ENTITIES: frozenset[str] = frozenset({"department", "power_item", "complaint"})


def schema_path(entity: str) -> Path:
    """The JSON Schema file of ``entity``."""
    if entity not in ENTITIES:
        raise KeyError(f"unknown entity {entity!r}; expected one of {', '.join(ENTITIES)}")
    return SCHEMA_DIR / f"{entity}.schema.json"


@cache
def _schema(entity: str) -> dict[str, Any]:
    return json.loads(schema_path(entity).read_text(encoding="utf-8"))


def load_schema(entity: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``entity`` as a fresh dict (safe to modify)."""
    return copy.deepcopy(_schema(entity))


@cache
def _codelists() -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / "codelists.json").read_text(encoding="utf-8"))["codelists"]


#: Field names of each entity in the standard's order (the order of canonical payloads).
FIELD_ORDER: dict[str, tuple[str, ...]] = {e: tuple(_schema(e)["properties"]) for e in ENTITIES}

#: Fields of a ``supervision_event`` line in an exchange package (§8), in that order.
SUPERVISION_EVENT_FIELDS: tuple[str, ...] = (
    "event_key",
    "rule",
    "card",
    "event_date",
    "dept_code",
    "power_type",
    "case_source_system",
    "case_id",
    "complaint_id",
    "status",
)

#: The count metrics of §7 statistics (integers; every other metric but score and grade is a rate).
STATISTICS_COUNTS: tuple[str, ...] = (
    "received",
    "completed",
    "on_time",
    "early",
    "overdue",
    "denied",
    "open_at_end",
    "open_overdue",
    "yellow_cards",
    "red_cards",
    "complaints",
    "complaints_substantiated",
)

#: Key fields of each entity (bold in §3).
KEY_FIELDS: dict[str, tuple[str, ...]] = {e: tuple(_schema(e)["x-key"]) for e in ENTITIES}

#: Fields that must be present and not null.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {e: tuple(_schema(e)["required"]) for e in ENTITIES}

#: Personal data (§9): never in logs, messages or reports unmasked.
PERSONAL_FIELDS: dict[str, frozenset[str]] = {
    e: frozenset(k for k, v in _schema(e)["properties"].items() if v.get("x-personal")) for e in ENTITIES
}

#: Code lists of §2: list name -> {code: Chinese label}, codes in the standard's order.
CODELISTS: dict[str, dict[str, str]] = {name: dict(v["codes"]) for name, v in _codelists().items()}

#: Code list titles: list name -> (Chinese, English).
CODELIST_TITLES: dict[str, tuple[str, str]] = {name: (v["label_zh"], v["label_en"]) for name, v in _codelists().items()}


def codes(codelist: str) -> tuple[str, ...]:
    """The codes of one §2 list, in the standard's order."""
    return tuple(CODELISTS[codelist])
