"""The bulk path: every rule checked over whole columns (Arrow compute + numpy), no object per record.

Checks are generated from the JSON Schemas (:mod:`validators.fields`): required fields and extra
fields from null masks and column presence, JSON types from the column's Arrow type (an object
column is checked value by value, which happens only where a source sent wrong types), code lists
with ``is_in``, patterns with RE2, identity check digits with numpy over the 18-byte strings.
Python objects are built only for the records that fail. :func:`validators.explain.explain_record`
is the slow, exhaustive twin of this module; tests hold the two to the same answers.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from connectors.base import RecordBatch
from schemas.standard import FIELD_ORDER, KEY_FIELDS, UNIFIED, UNIFIED_ONLY_ENTITIES
from validators.fields import NAIVE_DATETIME, RE2_BLANK, FieldSpec, field_index, field_specs
from validators.ids import SFZ_RE, USCC_RE, sfz_problems, uscc_problems
from validators.model import QuarantineItem, ReferenceData, ValidationOutcome, Violation
from validators.refs import case_lookup, item_versions
from validators.rules import code_violation, sort_key, type_violation, violation

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_NS_PER_DAY = 86_400 * 10**9
_SHANGHAI_NS = 8 * 3600 * 10**9
_NO_DAY = np.int64(-(10**9))  # "received date unknown" for the birth date check


@dataclass
class _Col:
    """One standard field of the batch: typed values (nulls where null, absent or wrong type)."""

    spec: FieldSpec
    arr: pa.Array
    present: np.ndarray  # the record carries a non-null value (of any type)
    wrong: np.ndarray  # present but of the wrong JSON type
    overflow: np.ndarray | None = None  # integers beyond int64
    bad_items: list[tuple[int, int]] | None = None  # flow: (row, item index) of non-string items
    _valid: np.ndarray | None = None

    @property
    def valid(self) -> np.ndarray:
        """A value of the right type (computed once; ``arr`` is not replaced after first use)."""
        if self._valid is None:
            self._valid = _np_bool(self.arr.is_valid())
        return self._valid


class _Collector:
    def __init__(self, n: int) -> None:
        self.n = n
        self.rows: list[np.ndarray] = []
        self.viols: list[Violation] = []
        self.per_row: list[tuple[np.ndarray, list[Violation]]] = []
        self.field_bad: dict[str, np.ndarray] = {}
        self.schema_bad: dict[str, np.ndarray] = {}

    def freeze_schema(self) -> None:
        """Remember which fields broke a schema rule: the rules across fields use only sound fields."""
        self.schema_bad = {k: v.copy() for k, v in self.field_bad.items()}

    def add(self, mask: np.ndarray, v: Violation, field: str | None = None) -> None:
        rows = np.flatnonzero(mask)
        if len(rows):
            self.rows.append(rows)
            self.viols.append(v)
            base = field if field is not None else v.path.split("[", 1)[0]
            if base:
                fb = self.field_bad.setdefault(base, np.zeros(self.n, dtype=bool))
                fb[rows] = True

    def add_each(self, rows: np.ndarray, vs: list[Violation], field: str) -> None:
        if len(rows):
            self.per_row.append((rows, vs))
            fb = self.field_bad.setdefault(field, np.zeros(self.n, dtype=bool))
            fb[rows] = True

    def bad(self, field: str) -> np.ndarray:
        return self.schema_bad.get(field, np.zeros(self.n, dtype=bool))

    def any_bad(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for rows in self.rows:
            out[rows] = True
        for rows, _ in self.per_row:
            out[rows] = True
        return out

    def by_row(self) -> dict[int, list[Violation]]:
        out: dict[int, list[Violation]] = {}
        for rows, v in zip(self.rows, self.viols, strict=True):
            for r in rows.tolist():
                out.setdefault(r, []).append(v)
        for rows, vs in self.per_row:
            for r, v in zip(rows.tolist(), vs, strict=True):
                out.setdefault(r, []).append(v)
        return out


def _np_bool(a: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    return (
        a.to_numpy(zero_copy_only=False).astype(bool, copy=False)
        if a.null_count == 0
        else a.fill_null(False).to_numpy(zero_copy_only=False).astype(bool, copy=False)
    )


def _is_null(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def _arrow_type(spec: FieldSpec) -> pa.DataType:
    if spec.json_type == "integer":
        return pa.int64()
    if spec.json_type == "array":
        return pa.list_(pa.string())
    return pa.string()


_NOT_A_CODE = "\x00"  # stands for a flow item that is not a string: fails the code list like jsonschema's enum


def _column(frame: pd.DataFrame, spec: FieldSpec, n: int) -> _Col:
    t = _arrow_type(spec)
    zeros = np.zeros(n, dtype=bool)
    if spec.name not in frame.columns:
        return _Col(spec, pa.nulls(n, type=t), zeros, zeros)
    s = frame[spec.name]
    if isinstance(s.dtype, pd.ArrowDtype):
        arr = pa.array(s.array)
        arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        if arr.type == t:
            return _Col(spec, arr, _np_bool(arr.is_valid()), zeros)
        if pa.types.is_null(arr.type):
            return _Col(spec, pa.nulls(n, type=t), zeros, zeros)
        if not (spec.json_type == "integer" and pa.types.is_floating(arr.type)):
            present = _np_bool(arr.is_valid())
            return _Col(spec, pa.nulls(n, type=t), present, present.copy())
    values = s.tolist() if not isinstance(s.dtype, pd.ArrowDtype) else pa.array(s.array).to_pylist()
    return _column_from_objects(spec, values, t)


def _column_from_objects(spec: FieldSpec, values: list[Any], t: pa.DataType) -> _Col:
    n = len(values)
    present = np.zeros(n, dtype=bool)
    wrong = np.zeros(n, dtype=bool)
    overflow = np.zeros(n, dtype=bool)
    out: list[Any] = [None] * n
    bad_items: list[tuple[int, int]] = []
    for i, v in enumerate(values):
        if _is_null(v):
            continue
        present[i] = True
        if spec.json_type == "string":
            if isinstance(v, str):
                out[i] = v
            else:
                wrong[i] = True
        elif spec.json_type == "integer":
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                wrong[i] = True
            elif isinstance(v, (float, np.floating)):
                if not float(v).is_integer():
                    wrong[i] = True
                elif not _INT64_MIN <= v <= _INT64_MAX:
                    overflow[i] = True
                else:
                    out[i] = int(v)
            elif not _INT64_MIN <= v <= _INT64_MAX:
                overflow[i] = True
            else:
                out[i] = int(v)
        else:  # array of codes
            if isinstance(v, np.ndarray):
                v = v.tolist()
            if not isinstance(v, (list, tuple)):
                wrong[i] = True
                continue
            items = []
            for j, item in enumerate(v):
                if isinstance(item, str):
                    items.append(item)
                else:
                    items.append(_NOT_A_CODE)
                    bad_items.append((i, j))
            out[i] = items
    return _Col(spec, pa.array(out, type=t), present, wrong, overflow if overflow.any() else None, bad_items or None)


def _match(arr: pa.Array, pattern: str) -> np.ndarray:
    """RE2 search; null -> False."""
    return _np_bool(pc.match_substring_regex(arr, pattern))


def _parse_instants(arr: pa.Array, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ns since epoch UTC, parsed) for the pattern-valid values; impossible dates are not parsed."""
    n = len(arr)
    ns = np.zeros(n, dtype=np.int64)
    parsed = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(ok)
    if not len(idx):
        return ns, parsed
    sub = arr.take(pa.array(idx))
    try:
        ts = pc.cast(sub, pa.timestamp("ns", tz="UTC"))
        ns[idx] = ts.cast(pa.int64()).to_numpy(zero_copy_only=False)
        parsed[idx] = True
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        for k, i in enumerate(idx.tolist()):
            try:
                v = pc.cast(sub.slice(k, 1), pa.timestamp("ns", tz="UTC"))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            ns[i] = v.cast(pa.int64())[0].as_py()
            parsed[i] = True
    return ns, parsed


def _money_value(arr: pa.Array, ok: np.ndarray) -> np.ndarray:
    """Valid money strings (``ok``) as float yuan: exact ordering for up to 15 significant digits."""
    only_ok = pc.if_else(pa.array(ok), arr, pa.scalar(None, pa.string()))
    return pc.cast(only_ok, pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)


def _check_fields(
    frame: pd.DataFrame, entity: str, n: int, col: _Collector
) -> tuple[dict[str, _Col], dict[str, tuple[np.ndarray, np.ndarray]]]:
    cols: dict[str, _Col] = {}
    instants: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for spec in field_specs(entity):
        c = _column(frame, spec, n)
        if spec.kind == "text" and c.arr.null_count < n:
            blank = _match(c.arr, RE2_BLANK)
            if blank.any():  # blank free text is null
                c.arr = pc.if_else(pa.array(blank), pa.nulls(n, pa.string()), c.arr)
                c._valid = None
                c.present = c.present & ~blank
        cols[spec.name] = c
        name = spec.name
        if not spec.nullable:
            col.add(~c.present, violation("MISSING_FIELD", name))
        if c.wrong.any():
            col.add(
                c.wrong,
                violation("MONEY_FORMAT", name) if spec.kind == "money" else type_violation(name, spec.json_type),
            )
        if c.overflow is not None:
            col.add(c.overflow, violation("RANGE", name, "number", lo=spec.minimum, hi=spec.maximum))
        valid = c.valid
        if not valid.any():
            if spec.kind == "datetime":
                instants[name] = (np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool))
            continue
        if spec.kind == "code":
            ok = _np_bool(pc.is_in(c.arr, value_set=pa.array(spec.enum)))
            col.add(valid & ~ok, code_violation(name, spec.codelist))
        elif spec.kind == "flow":
            lengths = pc.list_value_length(c.arr).fill_null(0).to_numpy(zero_copy_only=False)
            col.add(
                valid & ((lengths < spec.min_items) | (lengths > spec.max_items)),
                violation("RANGE", name, "items", lo=spec.min_items, hi=spec.max_items),
            )
            flat = pc.list_flatten(c.arr)
            parents = pc.list_parent_indices(c.arr).to_numpy(zero_copy_only=False)
            bad = ~_np_bool(pc.is_in(flat, value_set=pa.array(spec.enum)))
            if bad.any():
                offsets = c.arr.offsets.to_numpy(zero_copy_only=False)[:-1]
                rows = parents[bad]
                pos = np.flatnonzero(bad) - (offsets[rows] - offsets[0])
                vs = [code_violation(f"{name}[{j}]", spec.codelist, spec.enum) for j in pos.tolist()]
                col.add_each(rows, vs, name)
        elif spec.kind == "integer":
            vals = c.arr.fill_null(0).to_numpy(zero_copy_only=False)
            col.add(
                valid & ((vals < spec.minimum) | (vals > spec.maximum)),
                violation("RANGE", name, "number", lo=spec.minimum, hi=spec.maximum),
            )
        elif spec.kind == "money":
            col.add(valid & ~_match(c.arr, spec.re2), violation("MONEY_FORMAT", name))
        elif spec.kind == "datetime":
            ok = _match(c.arr, spec.re2)
            bad = valid & ~ok
            if bad.any():
                naive = _match(c.arr, NAIVE_DATETIME)
                col.add(bad & naive, violation("NAIVE_DATETIME", name))
                col.add(bad & ~naive, violation("DATETIME_FORMAT", name))
            ns, parsed = _parse_instants(c.arr, ok & valid)
            col.add(ok & valid & ~parsed, violation("DATETIME_FORMAT", name))
            instants[name] = (ns, parsed)
        elif spec.kind == "id":
            bad = valid & ~_match(c.arr, spec.re2)
            if spec.max_length is not None:
                bad |= valid & (pc.utf8_length(c.arr).fill_null(0).to_numpy(zero_copy_only=False) > spec.max_length)
            col.add(bad, violation("PATTERN", name))
    return cols, instants


def _extra_fields(frame: pd.DataFrame, entity: str, col: _Collector) -> None:
    n = len(frame)
    known = set(FIELD_ORDER[entity])
    if "_extra" in frame.columns:
        extra = frame["_extra"].to_numpy(dtype=object)
        rows_by_key: dict[str, list[int]] = {}
        for i in np.flatnonzero(pd.notna(extra)).tolist():
            for k in extra[i]:
                rows_by_key.setdefault(k, []).append(i)
    else:
        rows_by_key = {}
        for name in frame.columns:
            if name in known or str(name).startswith("_"):
                continue
            rows_by_key[str(name)] = np.flatnonzero(frame[name].notna().to_numpy()).tolist()
    for k in sorted(rows_by_key):
        mask = np.zeros(n, dtype=bool)
        mask[rows_by_key[k]] = True
        col.add(mask, violation("EXTRA_FIELD", k), field="")


def _ok(c: _Col, col: _Collector) -> np.ndarray:
    """A well-formed, non-null value."""
    return c.valid & ~col.bad(c.spec.name)


def _str_eq(c: _Col, value: str) -> np.ndarray:
    return _np_bool(pc.equal(c.arr, value))


def _day(ns: np.ndarray) -> np.ndarray:
    return (ns + _SHANGHAI_NS) // _NS_PER_DAY


def _offsets_and_data(arr: pa.Array) -> tuple[np.ndarray, pa.Buffer | None]:
    """The n + 1 value offsets of a string or binary array (its own slice of them) and its data buffer."""
    buffers = arr.buffers()
    return np.frombuffer(buffers[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1], buffers[2]


def _byte_matrix(arr: pa.Array, width: int) -> np.ndarray:
    """An n x ``width`` byte matrix of ``arr``'s values, each ``width`` ASCII characters (the caller's
    pattern has checked that), read from Arrow's buffer without a Python object per value."""
    arr = arr.cast(pa.binary())
    if not len(arr):
        return np.zeros((0, width), dtype=np.uint8)
    offsets, buffer = _offsets_and_data(arr)
    data = np.frombuffer(buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
    if data.size != len(arr) * width:  # a defect in the caller's pattern, never a record to pass
        raise ValueError(f"values of {width} characters expected, got {data.size} bytes for {len(arr)} values")
    return data.reshape(len(arr), width)


def _id_checks(
    cols: dict[str, _Col],
    col: _Collector,
    path: str,
    kind_col: _Col | None,
    received: tuple[np.ndarray, np.ndarray] | None,
) -> None:
    c = cols[path]
    ok = _ok(c, col)
    if kind_col is None:  # a department's own code (shape already checked by the schema)
        is_sfz = np.zeros(len(ok), dtype=bool)
        is_uscc = ok
    else:
        kind_ok = _ok(kind_col, col)
        is_sfz = ok & kind_ok & _str_eq(kind_col, "SFZ")
        is_uscc = ok & kind_ok & _str_eq(kind_col, "USCC")
    if is_sfz.any():
        fmt = _match(c.arr, SFZ_RE)
        col.add(is_sfz & ~fmt, violation("ID_CHECKDIGIT", path, "sfz_format"))
        idx = np.flatnonzero(is_sfz & fmt)
        if len(idx):
            digits = _byte_matrix(c.arr.take(pa.array(idx)), 18)
            days = None
            if received is not None:
                rns, rok = received
                days = np.where(rok[idx], _day(rns[idx]), _NO_DAY)
            res = sfz_problems(digits, days)
            for code, variant in ((1, "sfz_check"), (2, "sfz_birth")):
                mask = np.zeros(len(ok), dtype=bool)
                mask[idx[res == code]] = True
                col.add(mask, violation("ID_CHECKDIGIT", path, variant))
    if is_uscc.any():
        fmt = _match(c.arr, USCC_RE)
        if kind_col is not None:
            col.add(is_uscc & ~fmt, violation("ID_CHECKDIGIT", path, "uscc_format"))
        idx = np.flatnonzero(is_uscc & fmt)
        if len(idx):
            chars = _byte_matrix(c.arr.take(pa.array(idx)), 18)
            res = uscc_problems(chars)
            mask = np.zeros(len(ok), dtype=bool)
            mask[idx[res == 1]] = True
            col.add(mask, violation("ID_CHECKDIGIT", path, "uscc_check"))


def _scope_source(cols: dict[str, _Col], col: _Collector, batch: RecordBatch, field: str = "source_system") -> None:
    c = cols[field]
    ok = _ok(c, col)
    col.add(ok & ~_str_eq(c, batch.source_system), violation("SCOPE", field, "source"))


def _entity_rules(
    entity: str,
    batch: RecordBatch,
    refs: ReferenceData | None,
    cols: dict[str, _Col],
    inst: dict[str, tuple[np.ndarray, np.ndarray]],
    col: _Collector,
    n: int,
) -> np.ndarray | None:
    """Rules across fields and records. Returns, for steps, the mask of rows whose case is known."""
    if refs is not None:
        _scope_source(cols, col, batch)
        if entity in UNIFIED_ONLY_ENTITIES and batch.source_system != UNIFIED:
            col.add(np.ones(n, dtype=bool), violation("SCOPE", "", "unified_only"), field="")
    if entity == "department":
        _id_checks(cols, col, "dept_code", None, None)
        return None
    if entity == "power_item":
        _power_item_rules(refs, cols, col, n)
        return None
    if entity == "case":
        _case_rules(refs, cols, inst, col, n)
        return None
    if entity == "case_step":
        return _step_rules(refs, cols, inst, col, n)
    _complaint_rules(refs, cols, inst, col, n)
    return None


def _power_item_rules(refs: ReferenceData | None, cols: dict[str, _Col], col: _Collector, n: int) -> None:
    code, ptype = cols["power_code"], cols["power_type"]
    both = _ok(code, col) & _ok(ptype, col)
    if both.any():
        prefix = pc.utf8_slice_codeunits(code.arr, 0, 2)
        col.add(both & ~_np_bool(pc.equal(prefix, ptype.arr)), violation("POWER_CODE_TYPE", "power_code"))
    legal, promised = cols["legal_limit"], cols["promised_limit"]
    both = _ok(legal, col) & _ok(promised, col)
    if both.any():
        gt = _np_bool(pc.greater(promised.arr, legal.arr))
        col.add(both & gt, violation("PROMISE_ABOVE_ITEM", "promised_limit", "legal"))
    pmin, pmax = cols["penalty_min"], cols["penalty_max"]
    has_min, has_max = pmin.present, pmax.present
    type_ok = _ok(ptype, col)
    not_cf = type_ok & ~_str_eq(ptype, "CF")
    only_cf = not_cf & (has_min | has_max)
    col.add(only_cf & has_min, violation("PENALTY_RANGE", "penalty_min", "only_cf"))
    col.add(only_cf & ~has_min & has_max, violation("PENALTY_RANGE", "penalty_max", "only_cf"))
    rest = ~only_cf
    col.add(rest & has_min & ~has_max, violation("PENALTY_RANGE", "penalty_max", "pair"))
    col.add(rest & ~has_min & has_max, violation("PENALTY_RANGE", "penalty_min", "pair"))
    both = rest & _ok(pmin, col) & _ok(pmax, col)
    if both.any():
        col.add(
            both & (_money_value(pmin.arr, both) > _money_value(pmax.arr, both)),
            violation("PENALTY_RANGE", "penalty_min", "order"),
        )
    if refs is not None:
        dept = cols["dept_code"]
        ok = _ok(dept, col)
        if ok.any():
            known = _np_bool(pc.is_in(dept.arr, value_set=pa.array(sorted(refs.departments), pa.string())))
            col.add(ok & ~known, violation("UNKNOWN_DEPT", "dept_code"))


def _time_order(
    col: _Collector,
    inst: dict[str, tuple[np.ndarray, np.ndarray]],
    cols: dict[str, _Col],
    later: str,
    earlier: str,
    variant: str,
) -> None:
    lns, lok = inst[later]
    ens, eok = inst[earlier]
    mask = lok & eok & _ok(cols[later], col) & _ok(cols[earlier], col) & (lns < ens)
    col.add(mask, violation("TIME_ORDER", later, variant))


def _case_rules(
    refs: ReferenceData | None,
    cols: dict[str, _Col],
    inst: dict[str, tuple[np.ndarray, np.ndarray]],
    col: _Collector,
    n: int,
) -> None:
    rns, rok = inst["received_at"]
    received_ok = rok & _ok(cols["received_at"], col)
    _id_checks(cols, col, "applicant_id_no", cols["applicant_id_type"], (rns, received_ok))
    status = cols["status"]
    s_ok = _ok(status, col)
    in_progress = s_ok & _str_eq(status, "IN_PROGRESS")
    completed = s_ok & _str_eq(status, "COMPLETED")
    finished, result, sat = cols["finished_at"], cols["result"], cols["satisfaction"]
    col.add(s_ok & ~in_progress & ~finished.present, violation("REQUIRED_IFF", "finished_at", "finished_required"))
    col.add(in_progress & finished.present, violation("REQUIRED_IFF", "finished_at", "finished_null"))
    col.add(completed & ~result.present, violation("REQUIRED_IFF", "result", "result_required"))
    col.add(s_ok & ~completed & result.present, violation("REQUIRED_IFF", "result", "only_completed"))
    col.add(s_ok & ~completed & sat.present, violation("REQUIRED_IFF", "satisfaction", "only_completed"))
    _time_order(col, inst, cols, "finished_at", "received_at", "finished_before_received")
    if refs is None:
        return
    code = cols["power_code"]
    code_ok = _ok(code, col)
    if refs.scope is not None:
        in_scope = _np_bool(pc.is_in(code.arr, value_set=pa.array(sorted(refs.scope), pa.string())))
        col.add(code_ok & ~in_scope, violation("SCOPE", "power_code", "scope"))
    if not code_ok.any():
        return
    versions = item_versions(refs.power_items)
    at = np.where(received_ok, rns, np.iinfo(np.int64).max)
    found, item = versions.lookup(code.arr, at, code_ok)
    col.add(code_ok & ~found, violation("UNKNOWN_POWER", "power_code"))
    if not found.any():
        return
    col.add(found & (item["state"] != "A"), violation("POWER_NOT_ACTIVE", "power_code"))
    dept = cols["dept_code"]
    dept_ok = _ok(dept, col)
    dept_vals = dept.arr.to_numpy(zero_copy_only=False)
    col.add(found & dept_ok & (dept_vals != item["dept_code"]), violation("DEPT_MISMATCH", "dept_code"))
    prom = cols["promised_limit"]
    prom_ok = _ok(prom, col)
    pv = prom.arr.fill_null(0).to_numpy(zero_copy_only=False)
    col.add(found & prom_ok & (pv > item["promised_limit"]), violation("PROMISE_ABOVE_ITEM", "promised_limit", "case"))
    pen = cols["penalty_amount"]
    col.add(found & pen.present & (item["power_type"] != "CF"), violation("PENALTY_NOT_CF", "penalty_amount"))


def _step_rules(
    refs: ReferenceData | None,
    cols: dict[str, _Col],
    inst: dict[str, tuple[np.ndarray, np.ndarray]],
    col: _Collector,
    n: int,
) -> np.ndarray | None:
    _time_order(col, inst, cols, "finished_at", "started_at", "finished_before_started")
    if refs is None:
        return None
    ss, cid = cols["source_system"], cols["case_id"]
    key_ok = _ok(ss, col) & _ok(cid, col)
    lookup = case_lookup(refs.cases)
    known, received_ns, power = lookup.find(ss.arr, cid.arr, key_ok)
    sns, sok = inst["started_at"]
    started_ok = sok & _ok(cols["started_at"], col)
    col.add(
        known & started_ok & (received_ns != np.iinfo(np.int64).min) & (sns < received_ns),
        violation("TIME_ORDER", "started_at", "started_before_case"),
    )
    if refs.scope is not None and power is not None:
        in_scope = np.isin(power, np.array(sorted(refs.scope), dtype=object))
        col.add(known & ~in_scope, violation("SCOPE", "case_id", "case_scope"))
    return known


def _complaint_rules(
    refs: ReferenceData | None,
    cols: dict[str, _Col],
    inst: dict[str, tuple[np.ndarray, np.ndarray]],
    col: _Collector,
    n: int,
) -> None:
    status = cols["status"]
    s_ok = _ok(status, col)
    closed = s_ok & _str_eq(status, "CLOSED")
    for f in ("closed_at", "result"):
        c = cols[f]
        col.add(closed & ~c.present, violation("REQUIRED_IFF", f, "closed_required"))
        col.add(s_ok & ~closed & c.present, violation("REQUIRED_IFF", f, "closed_null"))
    css, cid = cols["case_source_system"], cols["case_id"]
    col.add(css.present & ~cid.present, violation("REQUIRED_IFF", "case_id", "case_pair"))
    col.add(~css.present & cid.present, violation("REQUIRED_IFF", "case_source_system", "case_pair"))
    _time_order(col, inst, cols, "closed_at", "received_at", "closed_before_received")
    if refs is None:
        return
    dept = cols["dept_code"]
    ok = _ok(dept, col)
    if ok.any():
        known = _np_bool(pc.is_in(dept.arr, value_set=pa.array(sorted(refs.departments), pa.string())))
        col.add(ok & ~known, violation("UNKNOWN_DEPT", "dept_code"))
    pair = _ok(css, col) & _ok(cid, col)
    if pair.any():
        known, _, _ = case_lookup(refs.cases).find(css.arr, cid.arr, pair)
        col.add(pair & ~known, violation("UNKNOWN_CASE", "case_id"))


# --- output -------------------------------------------------------------------------------------


def _json_inner(arr: pa.Array) -> pa.Array:
    """Strings escaped for the inside of JSON quotes, as ``json.dumps(ensure_ascii=False)`` does."""
    needs = _np_bool(pc.match_substring_regex(arr, '["\\\\\\x00-\\x1f]'))
    if not needs.any():
        return arr
    # only the few values that need it go through Python; the column stays in Arrow
    mask = pa.array(needs)
    escaped = [json.dumps(v, ensure_ascii=False)[1:-1] for v in arr.filter(mask).to_pylist()]
    return pc.replace_with_mask(arr, mask, pa.array(escaped, pa.string()))


def _may_need_escaping(spec: FieldSpec) -> bool:
    # codes, datetimes, money and strictly patterned identifiers of a valid record are plain ASCII
    return spec.kind == "text" or (spec.kind == "id" and spec.pattern == "\\S")


def _rows(arr: pa.Array | pa.ChunkedArray, take: pa.Array | None) -> pa.Array:
    """The kept rows of ``arr`` (``take``); all of them, uncopied, where ``take`` is ``None``."""
    if take is not None:
        return arr.take(take)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _payloads(entity: str, cols: dict[str, _Col], take: pa.Array | None) -> pa.Array:
    """Canonical JSON per row in one vectorised join of every field's JSON text."""
    parts: list[Any] = []
    pending = ""  # constant text waiting to be joined in front of the next value
    for i, spec in enumerate(field_specs(entity)):
        arr = _rows(cols[spec.name].arr, take)
        pending += ("{" if i == 0 else ",") + json.dumps(spec.name) + ":"
        if spec.json_type == "string":
            inner = _json_inner(arr) if _may_need_escaping(spec) else arr
            if arr.null_count:  # quoted where present, a bare null where not: only this column is rewritten
                parts += [pending, pc.binary_join_element_wise('"', inner, '"', "").fill_null("null")]
                pending = ""
            else:
                parts += [pending + '"', inner]
                pending = '"'
        elif spec.json_type == "integer":
            parts += [pending, pc.cast(arr, pa.string()).fill_null("null")]
            pending = ""
        else:
            parts += [
                pending,
                pa.array(
                    [
                        json.dumps(v, ensure_ascii=False, separators=(",", ":")) if v is not None else "null"
                        for v in arr.to_pylist()
                    ],
                    pa.string(),
                ),
            ]
            pending = ""
    parts.append(pending + "}")
    joined = pc.binary_join_element_wise(*parts, "")
    if joined.null_count:  # every part is filled above: a null here is a defect, never a payload to store
        raise RuntimeError(f"{entity}: {joined.null_count} canonical payloads came out null")
    return joined


def _sha256_hex(arr: pa.Array) -> np.ndarray:
    bounds, buffer = _offsets_and_data(arr)
    offsets = bounds.tolist()
    data = memoryview(buffer) if buffer is not None else memoryview(b"")
    sha = hashlib.sha256
    out = np.empty(len(arr), dtype=object)
    out[:] = [sha(data[a:b]).hexdigest() for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    return out


def _objects(values: Any) -> pd.Series:
    # dtype=object keeps str/None (pandas would otherwise infer its own string dtype, slowly)
    return pd.Series(values, dtype=object, copy=False)


def _typed_frame(
    entity: str,
    cols: dict[str, _Col],
    inst: dict[str, tuple[np.ndarray, np.ndarray]],
    keep: np.ndarray,
    lines: np.ndarray,
) -> pd.DataFrame:
    idx = np.flatnonzero(keep)
    m = len(idx)
    take = None if m == len(keep) else pa.array(idx)  # a batch without invalid records is taken whole
    data: dict[str, Any] = {}
    for spec in field_specs(entity):
        c = cols[spec.name]
        if spec.kind == "datetime":
            ns, _ = inst[spec.name]
            valid = c.valid[idx]
            vals = ns[idx].astype("datetime64[ns]").astype("datetime64[us]")
            vals[~valid] = np.datetime64("NaT")
            data[spec.name] = pd.Series(pd.DatetimeIndex(vals).tz_localize("UTC"), index=pd.RangeIndex(m))
        elif spec.json_type == "integer":
            arr = _rows(c.arr, take)
            if spec.nullable:  # from the values and the null mask, not a Python int per value
                values = arr.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
                nulls = arr.is_null().to_numpy(zero_copy_only=False)
                data[spec.name] = pd.Series(pd.arrays.IntegerArray(values, nulls))
            else:
                data[spec.name] = pd.Series(arr.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64))
        elif spec.json_type == "array":
            obj = np.empty(m, dtype=object)
            obj[:] = _rows(c.arr, take).to_pylist()
            data[spec.name] = _objects(obj)
        else:
            arr = _rows(c.arr, take)
            if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
                data[spec.name] = pd.Series(pd.arrays.ArrowExtensionArray(arr))
            else:
                data[spec.name] = _objects(arr.to_numpy(zero_copy_only=False))
    payload = _payloads(entity, cols, take)
    data["payload"] = pd.Series(pd.arrays.ArrowExtensionArray(payload))
    data["payload_sha256"] = _objects(_sha256_hex(payload))
    data["_line"] = pd.Series(lines[idx])
    return pd.DataFrame(data)


def _record_key(entity: str, frame: pd.DataFrame, i: int) -> str:
    parts = []
    for k in KEY_FIELDS[entity]:
        if k not in frame.columns:
            parts.append("?")
            continue
        v = frame[k].iloc[i]
        parts.append("?" if _is_null(v) else str(v))
    return "/".join(parts)


def _raw(raw: Any, i: int) -> str:
    return str(raw.iloc[i]) if isinstance(raw, pd.Series) else str(raw[i])


def validate_batch(batch: RecordBatch, refs: ReferenceData | None) -> ValidationOutcome:
    """Split a batch into valid records (typed, with canonical payloads), held steps and quarantine."""
    entity = batch.entity
    frame = batch.frame
    n = len(frame)
    col = _Collector(n)
    _extra_fields(frame, entity, col)
    cols, inst = _check_fields(frame, entity, n, col)
    col.freeze_schema()
    known_case = _entity_rules(entity, batch, refs, cols, inst, col, n)
    bad = col.any_bad()
    lines = frame["_line"].to_numpy(dtype=np.int64) if "_line" in frame.columns else np.arange(1, n + 1)
    held_mask = np.zeros(n, dtype=bool)
    if known_case is not None:
        held_mask = ~bad & ~known_case
    valid_mask = ~bad & ~held_mask
    valid = _typed_frame(entity, cols, inst, valid_mask, lines)
    held = _typed_frame(entity, cols, inst, held_mask, lines) if entity == "case_step" else valid.iloc[0:0]
    findex = field_index(entity)
    quarantined: list[QuarantineItem] = []
    for i, vs in sorted(col.by_row().items()):
        vs = sorted(set(vs), key=lambda v: sort_key(v, findex))
        quarantined.append(
            QuarantineItem(
                source_system=batch.source_system,
                entity=entity,
                record_key=_record_key(entity, frame, i),
                origin=batch.origin,
                line_no=int(lines[i]),
                raw_payload=_raw(batch.raw, i),
                violations=tuple(vs),
            )
        )
    return ValidationOutcome(entity=entity, received=n, valid=valid, held=held, quarantined=quarantined)
