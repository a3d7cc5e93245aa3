"""The slow, exhaustive path: one record through ``jsonschema`` and the rules, for explanation.

Same rules and same answers as the columnar path (:mod:`validators.columnar`); used to explain a
single record (the quarantine view, replays, a department's questions) and, in tests, as the
independent oracle the bulk path is held to.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from typing import Any

import jsonschema
import numpy as np
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from schemas.standard import FIELD_ORDER, UNIFIED, UNIFIED_ONLY_ENTITIES, load_schema
from validators.fields import NAIVE_DATETIME, FieldSpec, field_index, python_regex, spec_map
from validators.ids import sfz_problem, uscc_problem
from validators.model import ReferenceData, Violation
from validators.refs import at_or_latest, case_lookup, item_versions
from validators.rules import code_violation, sort_key, type_violation, violation

_SHANGHAI = timezone(timedelta(hours=8))


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    # ECMA-262 semantics: ``$`` is the end of the input (Python's also matches before a final "\n").
    if validator.is_type(instance, "string") and not python_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = jsonschema.validators.extend(Draft202012Validator, {"pattern": _pattern})


@cache
def schema_validator(entity: str) -> Any:
    """A ``jsonschema`` validator of the entity's schema (format annotations are not asserted)."""
    schema = load_schema(entity)
    Draft202012Validator.check_schema(schema)
    return _Validator(schema)


def canonical_payload(entity: str, record: dict[str, Any]) -> str:
    """Canonical JSON of a valid record: standard field order, every field, blank free text as null."""
    specs = spec_map(entity)
    out = {}
    for name in FIELD_ORDER[entity]:
        v = record.get(name)
        if specs[name].kind == "text" and isinstance(v, str) and not v.strip():
            v = None
        if specs[name].json_type == "integer" and isinstance(v, float):
            v = int(v)
        out[name] = v
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def _parse_instant(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _schema_violations(entity: str, record: dict[str, Any]) -> list[Violation]:
    specs = spec_map(entity)
    out: list[Violation] = []
    for name, spec in specs.items():
        if not spec.nullable and record.get(name) is None:
            out.append(violation("MISSING_FIELD", name))
    for key in sorted(k for k in record if k not in specs):
        out.append(violation("EXTRA_FIELD", key))
    by_field: dict[str, list[Violation]] = {}
    for err in schema_validator(entity).iter_errors(record):
        path = list(err.absolute_path)
        if not path:
            continue  # required / additionalProperties: handled above
        name = str(path[0])
        spec = specs[name]
        v = _map_error(err, spec, path)
        if v is not None:
            by_field.setdefault(name, []).append(v)
    for name, vs in by_field.items():
        spec = specs[name]
        value = record.get(name)
        if value is None:
            continue  # already MISSING_FIELD
        if any(v.rule_id in ("TYPE",) for v in vs) or (spec.kind == "money" and not isinstance(value, str)):
            vs = [v for v in vs if v.rule_id in ("TYPE", "MONEY_FORMAT")][:1]
        out.extend(vs)
    # an impossible calendar date (2026-02-30) passes the pattern but is no instant
    for name, spec in specs.items():
        value = record.get(name)
        if spec.kind == "datetime" and isinstance(value, str) and python_regex(spec.pattern).search(value):
            if _parse_instant(value) is None:
                out.append(violation("DATETIME_FORMAT", name))
    return out


def _map_error(err: ValidationError, spec: FieldSpec, path: list[Any]) -> Violation | None:
    name = spec.name
    kw = err.validator
    if kw == "type":
        if spec.kind == "money":
            return violation("MONEY_FORMAT", name)
        return type_violation(name, spec.json_type)
    if kw == "enum":
        if len(path) > 1:
            return code_violation(f"{name}[{path[1]}]", spec.codelist, spec.enum)
        return code_violation(name, spec.codelist)
    if kw == "pattern":
        if spec.kind == "money":
            return violation("MONEY_FORMAT", name)
        if spec.kind == "datetime":
            naive = python_regex(NAIVE_DATETIME).search(err.instance)
            return violation("NAIVE_DATETIME" if naive else "DATETIME_FORMAT", name)
        if spec.kind == "text":
            return violation("MISSING_FIELD", name)
        return violation("PATTERN", name)
    if kw in ("maxLength", "minLength"):
        return violation("PATTERN", name)
    if kw in ("minimum", "maximum"):
        return violation("RANGE", name, "number", lo=spec.minimum, hi=spec.maximum)
    if kw in ("minItems", "maxItems"):
        return violation("RANGE", name, "items", lo=spec.min_items, hi=spec.max_items)
    return violation("PATTERN", name)


def explain_record(
    entity: str, record: Any, *, refs: ReferenceData | None = None, arrived_from: str | None = None
) -> list[Violation]:
    """Every rule ``record`` breaks, in rank order. Without ``refs`` the rules that look at the
    warehouse (references, scope) are skipped; ``arrived_from`` defaults to the record's own
    ``source_system``."""
    if not isinstance(record, dict):
        return [violation("PARSE", "")]
    specs = spec_map(entity)
    rec = dict(record)
    for name, spec in specs.items():  # blank free text is null
        if spec.kind == "text" and isinstance(rec.get(name), str) and not rec[name].strip():
            rec[name] = None
    out = _schema_violations(entity, rec)
    bad_fields = {v.path.split("[", 1)[0] for v in out}

    def ok(name: str) -> bool:
        return rec.get(name) is not None and name not in bad_fields

    def present(name: str) -> bool:
        return rec.get(name) is not None

    def instant(name: str) -> datetime | None:
        return _parse_instant(rec[name]) if ok(name) else None

    if refs is not None:
        system = arrived_from if arrived_from is not None else rec.get("source_system")
        if ok("source_system") and rec["source_system"] != system:
            out.append(violation("SCOPE", "source_system", "source"))
        if entity in UNIFIED_ONLY_ENTITIES and system != UNIFIED:
            out.append(violation("SCOPE", "", "unified_only"))

    if entity == "department":
        if ok("dept_code") and uscc_problem(rec["dept_code"]):
            out.append(violation("ID_CHECKDIGIT", "dept_code", "uscc_check"))
    elif entity == "power_item":
        out += _power_item(rec, ok, present, refs)
    elif entity == "case":
        out += _case(rec, ok, present, instant, refs)
    elif entity == "case_step":
        out += _step(rec, ok, instant, refs)
    else:
        out += _complaint(rec, ok, present, instant, refs)
    findex = field_index(entity)
    return sorted(set(out), key=lambda v: sort_key(v, findex))


def _power_item(rec: dict, ok: Any, present: Any, refs: ReferenceData | None) -> list[Violation]:
    out = []
    if ok("power_code") and ok("power_type") and rec["power_code"][:2] != rec["power_type"]:
        out.append(violation("POWER_CODE_TYPE", "power_code"))
    if ok("legal_limit") and ok("promised_limit") and rec["promised_limit"] > rec["legal_limit"]:
        out.append(violation("PROMISE_ABOVE_ITEM", "promised_limit", "legal"))
    has_min, has_max = present("penalty_min"), present("penalty_max")
    only_cf = ok("power_type") and rec["power_type"] != "CF" and (has_min or has_max)
    if only_cf:
        out.append(violation("PENALTY_RANGE", "penalty_min" if has_min else "penalty_max", "only_cf"))
    elif has_min and not has_max:
        out.append(violation("PENALTY_RANGE", "penalty_max", "pair"))
    elif has_max and not has_min:
        out.append(violation("PENALTY_RANGE", "penalty_min", "pair"))
    elif ok("penalty_min") and ok("penalty_max") and Decimal(rec["penalty_min"]) > Decimal(rec["penalty_max"]):
        out.append(violation("PENALTY_RANGE", "penalty_min", "order"))
    if refs is not None and ok("dept_code") and rec["dept_code"] not in refs.departments:
        out.append(violation("UNKNOWN_DEPT", "dept_code"))
    return out


def _case(rec: dict, ok: Any, present: Any, instant: Any, refs: ReferenceData | None) -> list[Violation]:
    out = []
    received = instant("received_at")
    received_day: date | None = received.astimezone(_SHANGHAI).date() if received is not None else None
    if ok("applicant_id_no") and ok("applicant_id_type"):
        kind, number = rec["applicant_id_type"], rec["applicant_id_no"]
        problem = (
            sfz_problem(number, received_day) if kind == "SFZ" else uscc_problem(number) if kind == "USCC" else None
        )
        if problem:
            out.append(violation("ID_CHECKDIGIT", "applicant_id_no", problem))
    if ok("status"):
        status = rec["status"]
        if status != "IN_PROGRESS" and not present("finished_at"):
            out.append(violation("REQUIRED_IFF", "finished_at", "finished_required"))
        if status == "IN_PROGRESS" and present("finished_at"):
            out.append(violation("REQUIRED_IFF", "finished_at", "finished_null"))
        if status == "COMPLETED" and not present("result"):
            out.append(violation("REQUIRED_IFF", "result", "result_required"))
        if status != "COMPLETED" and present("result"):
            out.append(violation("REQUIRED_IFF", "result", "only_completed"))
        if status != "COMPLETED" and present("satisfaction"):
            out.append(violation("REQUIRED_IFF", "satisfaction", "only_completed"))
    finished = instant("finished_at")
    if finished is not None and received is not None and finished < received:
        out.append(violation("TIME_ORDER", "finished_at", "finished_before_received"))
    if refs is None or not ok("power_code"):
        return out
    code = rec["power_code"]
    if refs.scope is not None and code not in refs.scope:
        out.append(violation("SCOPE", "power_code", "scope"))
    versions = item_versions(refs.power_items)
    pos = (
        versions.positions(np.array([code], dtype=object), np.array([at_or_latest(received)], dtype=np.int64))[0]
        if len(versions.frame)
        else -1
    )
    if pos < 0:
        out.append(violation("UNKNOWN_POWER", "power_code"))
        return out
    item = {c: v[pos] for c, v in versions.columns.items()}
    if item["state"] != "A":
        out.append(violation("POWER_NOT_ACTIVE", "power_code"))
    if ok("dept_code") and rec["dept_code"] != item["dept_code"]:
        out.append(violation("DEPT_MISMATCH", "dept_code"))
    if ok("promised_limit") and rec["promised_limit"] > item["promised_limit"]:
        out.append(violation("PROMISE_ABOVE_ITEM", "promised_limit", "case"))
    if present("penalty_amount") and item["power_type"] != "CF":
        out.append(violation("PENALTY_NOT_CF", "penalty_amount"))
    return out


def _find_case(refs: ReferenceData, system: str, case_id: str) -> tuple[bool, int, Any]:
    import pyarrow as pa

    known, received, power = case_lookup(refs.cases).find(
        pa.array([system], pa.string()), pa.array([case_id], pa.string()), np.array([True])
    )
    return bool(known[0]), int(received[0]), (power[0] if power is not None else None)


def _step(rec: dict, ok: Any, instant: Any, refs: ReferenceData | None) -> list[Violation]:
    out = []
    started, finished = instant("started_at"), instant("finished_at")
    if started is not None and finished is not None and finished < started:
        out.append(violation("TIME_ORDER", "finished_at", "finished_before_started"))
    if refs is None or not (ok("source_system") and ok("case_id")):
        return out
    known, received_ns, power = _find_case(refs, rec["source_system"], rec["case_id"])
    if known and started is not None and received_ns != np.iinfo(np.int64).min:
        started_ns = at_or_latest(started)
        if started_ns < received_ns:
            out.append(violation("TIME_ORDER", "started_at", "started_before_case"))
    if known and refs.scope is not None and "power_code" in refs.cases.columns and power not in refs.scope:
        out.append(violation("SCOPE", "case_id", "case_scope"))
    return out


def _complaint(rec: dict, ok: Any, present: Any, instant: Any, refs: ReferenceData | None) -> list[Violation]:
    out = []
    if ok("status"):
        closed = rec["status"] == "CLOSED"
        for f in ("closed_at", "result"):
            if closed and not present(f):
                out.append(violation("REQUIRED_IFF", f, "closed_required"))
            if not closed and present(f):
                out.append(violation("REQUIRED_IFF", f, "closed_null"))
    if present("case_source_system") and not present("case_id"):
        out.append(violation("REQUIRED_IFF", "case_id", "case_pair"))
    if present("case_id") and not present("case_source_system"):
        out.append(violation("REQUIRED_IFF", "case_source_system", "case_pair"))
    received, closed_at = instant("received_at"), instant("closed_at")
    if received is not None and closed_at is not None and closed_at < received:
        out.append(violation("TIME_ORDER", "closed_at", "closed_before_received"))
    if refs is None:
        return out
    if ok("dept_code") and rec["dept_code"] not in refs.departments:
        out.append(violation("UNKNOWN_DEPT", "dept_code"))
    if ok("case_source_system") and ok("case_id"):
        known, _, _ = _find_case(refs, rec["case_source_system"], rec["case_id"])
        if not known:
            out.append(violation("UNKNOWN_CASE", "case_id"))
    return out
