"""Synthetic Liyang (溧阳市, 320481) data in the Interface Standard v1 format.

Fully synthetic: names come from common surname and given-name pools, 居民身份证 numbers and USCCs are
made up with valid check characters. Everything is a function of ``GeneratorSpec`` (the same spec
gives the same records, in memory or written in bulk).

Cases are generated in fixed blocks of ``CASE_BLOCK`` cases, each from its own random stream, with
numpy arrays; ``generate`` turns the blocks into dicts and ``write_bulk`` formats them straight into
JSON Lines or CSV without holding more than one block.

What the data holds besides valid records (so the supervision rules have something to find):
overdue and nearly-due cases, missing or out-of-order mandatory steps, fees and penalties that do
not match the catalogue, denials without a reason, late complaints, TB/BZ suspensions, later
versions, exact re-sends and stale re-sends in an "updates" file, and a manifest of deliberately
invalid records with the rule family each one breaks.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import numpy as np

from schemas.errors import FatalError
from schemas.standard import FIELD_ORDER, KEY_FIELDS
from simulators import pools
from simulators.idnumbers import ORG_BODY_ALPHABET, make_uscc, ric_batch, uscc_batch

REGION = "320481"
POWER_TYPES = ("XK", "SP", "CF", "QZ", "ZS", "QR", "CJ", "JC", "GF", "ZY", "JL", "QT")
STEP_CODES = ("SL", "SH", "PZ", "BJ", "SD", "LA", "DC", "GZ", "TZ", "JD", "ZX", "TB", "BZ")
SUSPENSION_CODES = ("TB", "BZ")
STATUSES = ("IN_PROGRESS", "COMPLETED", "WITHDRAWN", "TERMINATED")
RESULTS = ("GRANTED", "PARTIAL", "DENIED")
SATISFACTIONS = ("S", "B", "U")
CHANNELS = ("1", "2", "3", "4", "9")
COMPLAINT_RESULTS = ("SUBSTANTIATED", "PARTIAL", "UNFOUNDED")
ENTITIES = ("department", "power_item", "case", "case_step", "complaint")

# The standard's field order and keys (the schemas are the single source of them).
FIELDS = FIELD_ORDER
DEPARTMENT_FIELDS = FIELD_ORDER["department"]
POWER_ITEM_FIELDS = FIELD_ORDER["power_item"]
CASE_FIELDS = FIELD_ORDER["case"]
CASE_STEP_FIELDS = FIELD_ORDER["case_step"]
COMPLAINT_FIELDS = FIELD_ORDER["complaint"]
INT_FIELDS = frozenset({"promised_limit", "version", "step_no"})
NULLABLE = {
    "case": frozenset({"finished_at", "result", "result_note", "relief_reason", "penalty_amount", "satisfaction"}),
    "case_step": frozenset({"finished_at", "opinion"}),
}

# Rule families of the deliberately invalid cases, in the order they are handed out.
INVALID_FAMILIES = (
    "ID_CHECKDIGIT",
    "NAIVE_DATETIME",
    "UNKNOWN_POWER",
    "TIME_ORDER",
    "MISSING_FIELD",
    "BAD_CODE",
    "EXTRA_FIELD",
    "MONEY_FORMAT",
    "REQUIRED_IFF",
    "DEPT_MISMATCH",
    "PROMISE_ABOVE_ITEM",
    "VERSION_CONFLICT",
)

# Cases are generated in blocks of this size, each block from its own random stream, so the data do
# not depend on how they are written.
CASE_BLOCK = 50_000
_MAX_FLOW = 12
_MAX_EXTRA = 8
_DAY = 86_400
_TZ = "+08:00"


class GeneratorError(FatalError):
    """The generator was asked for something it cannot make (a spec out of range)."""


@dataclass(frozen=True)
class GeneratorSpec:
    """What to generate. Same spec, same data."""

    seed: int = 20261128
    departments: int = 8
    items_per_department: int = 6
    cases: int = 2000
    steps_per_case: float = 5
    complaints: int = 150
    invalid_cases: int = 12
    start: date = date(2026, 6, 1)
    end: date = date(2026, 11, 27)
    source_system: str = "UNIFIED"
    inactive_items: int = 2  # extra catalogue items in state T or X that no case uses
    update_share: float = 1.0  # scales the share of cases with later versions / re-sends (0 = none)
    catalogue_seed: int | None = None  # seed of departments and items (default: ``seed``)
    power_codes: tuple[str, ...] | None = None  # cases only for these items (a self-built system's scope)

    @property
    def snapshot(self) -> datetime:
        """The instant the data are a snapshot of: the end date, 23:59:59 Beijing time."""
        return datetime.fromisoformat(f"{self.end.isoformat()}T23:59:59{_TZ}")

    @property
    def tag(self) -> str:
        """The default middle part of file names (the snapshot date)."""
        return self.end.strftime("%Y%m%d")


class InvalidRecord(NamedTuple):
    """A deliberately invalid record: its entity, key (tuple of the key fields) and rule family."""

    entity: str
    key: tuple
    rule_family: str


@dataclass(frozen=True)
class GeneratedData:
    """Generated records by entity.

    ``records``: the regular files (for ``case``/``case_step`` the first version each record was sent
    in); ``updates``: what the "updates" files carry afterwards (later versions, exact re-sends, stale
    re-sends); ``invalid``: deliberately invalid records, each named in ``manifest``; ``counts``: per
    entity ``sent``, ``duplicate``, ``stale``, ``invalid`` and ``keys`` (distinct valid keys).
    """

    spec: GeneratorSpec
    records: dict[str, list[dict]]
    updates: dict[str, list[dict]]
    invalid: dict[str, list[dict]]
    manifest: list[InvalidRecord]
    counts: dict[str, dict[str, int]]

    def latest(self, entity: str) -> list[dict]:
        """The highest valid version of every record of ``entity``, ordered by key (what a warehouse
        that loaded everything correctly holds)."""
        keys = KEY_FIELDS[entity]
        best: dict[tuple, dict] = {}
        for rec in (*self.records.get(entity, ()), *self.updates.get(entity, ())):
            k = tuple(rec[f] for f in keys)
            if k not in best or rec["version"] > best[k]["version"]:
                best[k] = rec
        return [best[k] for k in sorted(best)]


@dataclass(frozen=True)
class BulkResult:
    """What ``write_bulk`` wrote."""

    paths: list[Path]
    counts: dict[str, dict[str, int]]
    manifest: list[InvalidRecord]
    seconds: float


# --------------------------------------------------------------------------------------------------
# Calendar and catalogue (the context shared by every block)


def _is_workday(d: date) -> bool:
    # The official schedule where the calendar package has it; weekdays otherwise (the generator
    # only aims at a realistic mix of outcomes, the hub's own calendar decides).
    try:
        import chinese_calendar

        return bool(chinese_calendar.is_workday(d))
    except (NotImplementedError, ImportError):
        return d.weekday() < 5


_TIMES: list[str] | None = None


def _time_table() -> list[str]:
    global _TIMES
    if _TIMES is None:
        _TIMES = [f"T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{_TZ}" for s in range(_DAY)]
    return _TIMES


@dataclass
class _Ctx:
    spec: GeneratorSpec
    base: date
    dates: np.ndarray  # object array of "YYYY-MM-DD" per day index
    times: np.ndarray  # object array of "THH:MM:SS+08:00" per second of day
    cum_wd: np.ndarray
    next_wd: np.ndarray
    prev_wd: np.ndarray
    start_day: int
    end_day: int
    snap: int  # snapshot instant in seconds since ``base``
    cat_ts: str
    departments: list[dict]
    items: list[dict]
    dept_codes: np.ndarray
    # active items (those cases may use)
    act: np.ndarray
    it_type: np.ndarray
    it_dept: np.ndarray
    it_P: np.ndarray
    it_wd: np.ndarray
    it_fee: np.ndarray  # cents, -1 = no fee
    it_pmin: np.ndarray  # yuan, -1 = no range
    it_pmax: np.ndarray
    it_flow: np.ndarray  # (n, 12) step code indexes, -1 padded
    it_len: np.ndarray
    it_tail_code: np.ndarray
    it_tail_key: np.ndarray
    it_prob: np.ndarray
    it_code: np.ndarray  # object array of power codes
    it_name: list[str]
    handler_ids: np.ndarray
    handler_names: np.ndarray
    h_off: np.ndarray
    h_n: np.ndarray
    lam: float
    dept_q: np.ndarray  # per department: multiplier of its defect rates (good < 1 < weak)
    opinions: np.ndarray  # object array, index 0 = None
    op_off: np.ndarray
    op_n: np.ndarray
    deny_op: int
    notes: np.ndarray  # object array, index 0 = None
    note_off: np.ndarray
    note_n: np.ndarray

    def ts(self, t: np.ndarray) -> np.ndarray:
        """Object array of RFC 3339 strings (None where ``t`` < 0)."""
        t = np.asarray(t, dtype=np.int64)
        null = t < 0
        tt = np.where(null, 0, t)
        out = self.dates[tt // _DAY] + self.times[tt % _DAY]
        if null.any():
            out[null] = None
        return out

    def day_of(self, d: date) -> int:
        return (d - self.base).days


def _check_spec(spec: GeneratorSpec) -> None:
    problems = []
    if not 6 <= spec.departments <= len(pools.DEPARTMENTS):
        problems.append(f"departments must be 6..{len(pools.DEPARTMENTS)}")
    if spec.items_per_department < 1 or spec.departments * spec.items_per_department < len(POWER_TYPES):
        problems.append("departments x items_per_department must be at least 12 (every power type)")
    if spec.cases < 0 or spec.complaints < 0 or spec.invalid_cases < 0 or spec.inactive_items < 0:
        problems.append("counts must not be negative")
    if spec.end < spec.start:
        problems.append("end is before start")
    if spec.steps_per_case < 1:
        problems.append("steps_per_case must be at least 1")
    if not spec.source_system or not spec.source_system.replace("_", "").isalnum():
        problems.append("source_system must be a system code")
    if problems:
        raise GeneratorError("生成参数无效 / invalid generator spec: " + "; ".join(problems))


def _pick_items(spec: GeneratorSpec) -> list[list[tuple[pools.ItemTemplate, int, str]]]:
    """Per department: (template, sub-item number, state), every power type covered."""
    n_d, ipd = spec.departments, spec.items_per_department
    chosen: list[list[int]] = [[] for _ in range(n_d)]
    covered: set[str] = set()
    # rarest types first, so that the busiest items of each department are taken by the fill below
    order = sorted(
        POWER_TYPES,
        key=lambda t: (sum(tp.power_type == t for d in range(n_d) for tp in pools.ITEMS[d]), POWER_TYPES.index(t)),
    )
    for ptype in order:
        options = [
            (len(chosen[d]), d, i)
            for d in range(n_d)
            if len(chosen[d]) < ipd
            for i, tp in enumerate(pools.ITEMS[d])
            if tp.power_type == ptype and i not in chosen[d]
        ]
        if not options:
            raise GeneratorError(f"生成参数无效 / invalid generator spec: no department can hold a {ptype} item")
        _, d, i = min(options)
        chosen[d].append(i)
        covered.add(ptype)
    result: list[list[tuple[pools.ItemTemplate, int, str]]] = []
    for d in range(n_d):
        pool = pools.ITEMS[d]
        for i in range(len(pool)):
            if len(chosen[d]) >= ipd:
                break
            if i not in chosen[d]:
                chosen[d].append(i)
        entries = [(pool[i], 0, "A") for i in sorted(chosen[d])]
        # more items than templates: sub-items (子项) of the busiest ones
        k = 1
        while len(entries) < ipd:
            for tp, _, _ in list(entries):
                if len(entries) >= ipd:
                    break
                if tp.variants and k <= len(tp.variants):
                    entries.append((tp, k, "A"))
                elif not tp.variants and k <= 20:
                    entries.append((tp, k, "A"))
            k += 1
        entries.sort(key=lambda e: (pool.index(e[0]), e[1]))
        result.append(entries)
    # suspended (T) and abolished (X) items that no case may use
    for j in range(spec.inactive_items):
        d = j % n_d
        pool = pools.ITEMS[d]
        used = {id(tp) for tp, _, _ in result[d]}
        spare = [tp for tp in pool if id(tp) not in used]
        state = "T" if j % 2 == 0 else "X"
        if spare:
            result[d].append((spare[0], 0, state))
        else:  # an extra sub-item of the department's first item
            tp = result[d][0][0]
            taken = {sub for t, sub, _ in result[d] if t is tp}
            result[d].append((tp, next(k for k in range(1, 1000) if k not in taken), state))
    return result


def _build_context(spec: GeneratorSpec) -> _Ctx:
    _check_spec(spec)
    rng = np.random.default_rng([spec.seed if spec.catalogue_seed is None else spec.catalogue_seed, 0])
    base = spec.start - timedelta(days=40)
    n_days = (spec.end - base).days + 1100
    days = [base + timedelta(days=i) for i in range(n_days)]
    is_wd = np.array([_is_workday(d) for d in days], dtype=bool)
    cum_wd = np.cumsum(is_wd).astype(np.int64)
    idx = np.arange(n_days)
    # next workday on or after each day, previous workday on or before
    nxt = np.where(is_wd, idx, n_days - 1)
    next_wd = np.minimum.accumulate(nxt[::-1])[::-1]
    prv = np.where(is_wd, idx, 0)
    prev_wd = np.maximum.accumulate(prv)
    start_day = (spec.start - base).days
    end_day = (spec.end - base).days
    snap = end_day * _DAY + _DAY - 1
    cat_ts = f"{(spec.start - timedelta(days=31)).isoformat()}T09:00:00{_TZ}"

    # departments
    departments: list[dict] = []
    dept_codes: list[str] = []
    for d in range(spec.departments):
        body = "0" + "".join(str(x) for x in rng.integers(0, 10, 7))
        code = make_uscc("11", int(REGION), body)
        dept_codes.append(code)
        departments.append(
            {
                "dept_code": code,
                "name": pools.DEPARTMENTS[d],
                "source_system": "UNIFIED",
                "version": 1,
                "updated_at": cat_ts,
            }
        )

    # power items
    picked = _pick_items(spec)
    items: list[dict] = []
    meta: list[tuple[int, pools.ItemTemplate, str]] = []  # (dept, template, state)
    item_no = 0
    numbers: dict[int, int] = {}  # template -> item number (sub-items share their item's number)
    for d, entries in enumerate(picked):
        for tp, sub, state in entries:
            if id(tp) not in numbers:
                item_no += 1
                numbers[id(tp)] = item_no
            name = tp.name
            if sub:
                name = f"{tp.name}（{tp.variants[sub - 1]}）" if sub <= len(tp.variants) else f"{tp.name}（情形{sub}）"
            flow = list(tp.flow or pools.FLOWS[tp.power_type])
            items.append(
                {
                    "power_code": f"{tp.power_type}{REGION}{d + 1:03d}{numbers[id(tp)]:04d}{sub:03d}",
                    "name": name,
                    "power_type": tp.power_type,
                    "dept_code": dept_codes[d],
                    "legal_basis": tp.legal_basis,
                    "legal_limit": tp.legal_limit,
                    "promised_limit": tp.promised_limit,
                    "time_unit": tp.time_unit,
                    "fee": tp.fee,
                    "penalty_min": tp.penalty[0] if tp.penalty else None,
                    "penalty_max": tp.penalty[1] if tp.penalty else None,
                    "flow": flow,
                    "state": state,
                    "source_system": "UNIFIED",
                    "version": 1,
                    "updated_at": cat_ts,
                }
            )
            meta.append((d, tp, state))
    act = np.array([i for i, (_, _, st) in enumerate(meta) if st == "A"], dtype=np.int64)
    code_ix = {c: i for i, c in enumerate(STEP_CODES)}
    it_flow = np.full((len(act), _MAX_FLOW), -1, dtype=np.int64)
    it_len = np.zeros(len(act), dtype=np.int64)
    it_tail_code = np.zeros(len(act), dtype=np.int64)
    it_tail_key = np.zeros(len(act), dtype=np.float64)
    weights = np.zeros(len(act))
    for j, i in enumerate(act):
        rec, (_, tp, _) = items[i], meta[i]
        flow = rec["flow"]
        it_flow[j, : len(flow)] = [code_ix[c] for c in flow]
        it_len[j] = len(flow)
        if tp.power_type in ("CF", "QZ") and "GZ" in flow:
            it_tail_code[j], it_tail_key[j] = code_ix["TZ"], flow.index("GZ") + 0.5  # a hearing after notice
        elif "SD" not in flow:
            it_tail_code[j], it_tail_key[j] = code_ix["SD"], len(flow) - 0.5  # delivery after the end
        else:
            it_tail_code[j], it_tail_key[j] = code_ix["SD"], flow.index("SD") + 0.25  # delivered twice
        sub_share = 0.5 if rec["power_code"][-3:] != "000" else 1.0
        weights[j] = tp.weight * sub_share * float(np.exp(rng.normal(0, 0.25)))
    if spec.power_codes is not None:
        active = {items[i]["power_code"] for i in act}
        unknown = sorted(set(spec.power_codes) - active)
        if unknown or not spec.power_codes:
            raise GeneratorError(
                "生成参数无效 / invalid generator spec: power_codes must be items in use of the catalogue"
                + (f" (not: {', '.join(unknown)})" if unknown else "")
            )
        weights = weights * np.array([items[i]["power_code"] in spec.power_codes for i in act])
    prob = weights / weights.sum()

    def money_cents(s: str | None) -> int:
        if s is None:
            return -1
        whole, _, frac = s.partition(".")
        return int(whole) * 100 + int((frac + "00")[:2])

    act_items = [items[i] for i in act]
    # handlers: a staff pool per department
    h_ids: list[str] = []
    h_names: list[str] = []
    h_off = np.zeros(spec.departments, dtype=np.int64)
    h_n = np.zeros(spec.departments, dtype=np.int64)
    for d in range(spec.departments):
        size = int(min(40, 8 + 3 * len(picked[d])))
        h_off[d], h_n[d] = len(h_ids), size
        names, _ = _person_names(rng, size)
        h_ids.extend(f"LY{d + 1:03d}{k + 1:03d}" for k in range(size))
        h_names.extend(names)

    # departments differ: a few model ones, most average, a few weak (scales overdue and defect rates)
    levels = np.resize(np.array([0.4, 1.0, 2.2, 1.0, 0.4, 1.0, 2.2, 1.0]), spec.departments)
    dept_q = rng.permutation(levels)

    # expected flow length, to top it up to ``steps_per_case`` with extra steps
    mean_len = float((prob * it_len).sum())
    lam = max(0.0, spec.steps_per_case / 0.94 - mean_len * 0.99)

    ops: list[str | None] = [None]
    op_off = np.zeros(len(STEP_CODES), dtype=np.int64)
    op_n = np.zeros(len(STEP_CODES), dtype=np.int64)
    for c, code in enumerate(STEP_CODES):
        op_off[c], op_n[c] = len(ops), len(pools.OPINIONS[code])
        ops.extend(pools.OPINIONS[code])
    deny_op = len(ops)
    ops.extend(pools.DENY_OPINIONS)
    # notes by (ex officio, result): index 3 * exo + result
    notes: list[str | None] = [None]
    note_off = np.zeros(2 * len(RESULTS), dtype=np.int64)
    note_n = np.zeros(2 * len(RESULTS), dtype=np.int64)
    for x, table in enumerate((pools.RESULT_NOTES, pools.ENFORCEMENT_NOTES)):
        for r, res in enumerate(RESULTS):
            note_off[3 * x + r], note_n[3 * x + r] = len(notes), len(table[res])
            notes.extend(table[res])

    return _Ctx(
        spec=spec,
        base=base,
        dates=np.array([d.isoformat() for d in days], dtype=object),
        times=np.array(_time_table(), dtype=object),
        cum_wd=cum_wd,
        next_wd=next_wd,
        prev_wd=prev_wd,
        start_day=start_day,
        end_day=end_day,
        snap=snap,
        cat_ts=cat_ts,
        departments=departments,
        items=items,
        dept_codes=np.array(dept_codes, dtype=object),
        act=act,
        it_type=np.array([POWER_TYPES.index(r["power_type"]) for r in act_items], dtype=np.int64),
        it_dept=np.array([meta[i][0] for i in act], dtype=np.int64),
        it_P=np.array([r["promised_limit"] for r in act_items], dtype=np.int64),
        it_wd=np.array([r["time_unit"] == "WD" for r in act_items], dtype=bool),
        it_fee=np.array([money_cents(r["fee"]) for r in act_items], dtype=np.int64),
        it_pmin=np.array([money_cents(r["penalty_min"]) // 100 if r["penalty_min"] else -1 for r in act_items]),
        it_pmax=np.array([money_cents(r["penalty_max"]) // 100 if r["penalty_max"] else -1 for r in act_items]),
        it_flow=it_flow,
        it_len=it_len,
        it_tail_code=it_tail_code,
        it_tail_key=it_tail_key,
        it_prob=prob,
        it_code=np.array([r["power_code"] for r in act_items], dtype=object),
        it_name=[r["name"] for r in act_items],
        handler_ids=np.array(h_ids, dtype=object),
        handler_names=np.array(h_names, dtype=object),
        h_off=h_off,
        h_n=h_n,
        lam=lam,
        dept_q=dept_q,
        opinions=np.array(ops, dtype=object),
        op_off=op_off,
        op_n=op_n,
        deny_op=deny_op,
        notes=np.array(notes, dtype=object),
        note_off=note_off,
        note_n=note_n,
    )


# --------------------------------------------------------------------------------------------------
# People and organisations

_SURNAME_P = 1.0 / np.arange(1, len(pools.SURNAMES) + 1) ** 0.9
_SURNAME_P /= _SURNAME_P.sum()
_SURNAMES = np.array(pools.SURNAMES, dtype=object)
_MALE = np.array(pools.MALE_CHARS, dtype=object)
_FEMALE = np.array(pools.FEMALE_CHARS, dtype=object)


def _person_names(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray]:
    """Names and sex (True = male)."""
    male = rng.random(n) < 0.5
    sur = _SURNAMES[rng.choice(len(_SURNAMES), n, p=_SURNAME_P)]
    g1m = _MALE[rng.integers(0, len(_MALE), n)]
    g2m = _MALE[rng.integers(0, len(_MALE), n)]
    g1f = _FEMALE[rng.integers(0, len(_FEMALE), n)]
    g2f = _FEMALE[rng.integers(0, len(_FEMALE), n)]
    two = rng.random(n) < 0.7
    given = np.where(male, g1m, g1f) + np.where(two, np.where(male, g2m, g2f), "")
    return (sur + given).tolist(), male


def _persons(rng: np.random.Generator, recv_day: np.ndarray, base: date) -> tuple[list, list, list]:
    """Natural persons: names, id types, id numbers (mostly 居民身份证)."""
    n = len(recv_day)
    names, male = _person_names(rng, n)
    areas, ap = zip(*pools.ID_AREAS, strict=True)
    area = np.array(areas)[rng.choice(len(areas), n, p=np.array(ap) / sum(ap))]
    age_days = (18 + rng.beta(2.0, 3.0, n) * 67) * 365.25
    birth = np.datetime64(base.isoformat(), "D") + (recv_day - age_days).astype(np.int64)
    y = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    m = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
    seq = rng.integers(0, 500, n) * 2 + male.astype(np.int64)
    seq = np.where(seq == 0, 2, seq)
    ids = np.array(ric_batch(area, y * 10000 + m * 100 + d, seq), dtype=object)
    kind = rng.random(n)
    id_type = np.where(kind < 0.96, "SFZ", np.where(kind < 0.975, "HZ", np.where(kind < 0.995, "GAT", "QT")))
    num8 = rng.integers(10_000_000, 100_000_000, n).astype(str).astype(object)
    ids = np.where(id_type == "HZ", "E" + num8, ids)
    ids = np.where(id_type == "GAT", "H" + num8, ids)
    ids = np.where(id_type == "QT", "JG" + num8, ids)
    return names, id_type.astype(object).tolist(), ids.tolist()


def _organisations(rng: np.random.Generator, n: int) -> tuple[list, list, list]:
    """Companies and sole traders: names, id types (USCC), USCCs."""
    shop = rng.random(n) < 0.15
    kind = np.where(shop, "92", "91").tolist()
    areas, ap = zip(*pools.COMPANY_AREAS, strict=True)
    area = np.array(areas)[rng.choice(len(areas), n, p=np.array(ap) / sum(ap))]
    area = np.where(shop, int(REGION), area)
    body = rng.integers(0, 10, (n, 8))
    # newer registrations have an organisation code starting with MA (M=22, A=10 in ORG_BODY_ALPHABET)
    new = rng.random(n) < 0.6
    body[new, 0] = ORG_BODY_ALPHABET.index("M")
    body[new, 1] = ORG_BODY_ALPHABET.index("A")
    body[new, 2:] = rng.integers(0, len(ORG_BODY_ALPHABET), (int(new.sum()), 6))
    codes = uscc_batch(kind, area, body)
    syl = np.array(pools.FIRM_SYLLABLES, dtype=object)
    zihao = syl[rng.integers(0, len(syl), n)] + syl[rng.integers(0, len(syl), n)]
    pre, pp = zip(*pools.FIRM_PREFIXES, strict=True)
    prefix = np.array(pre, dtype=object)[rng.choice(len(pre), n, p=pp)]
    trade = np.array(pools.FIRM_TRADES, dtype=object)[rng.integers(0, len(pools.FIRM_TRADES), n)]
    forms, fp = zip(*pools.FIRM_FORMS, strict=True)
    form = np.array(forms, dtype=object)[rng.choice(len(forms), n, p=fp)]
    town = np.array(pools.LIYANG_TOWNS, dtype=object)[rng.integers(0, len(pools.LIYANG_TOWNS), n)]
    kinds = np.array(pools.SHOP_KINDS, dtype=object)[rng.integers(0, len(pools.SHOP_KINDS), n)]
    names = np.where(shop, "溧阳市" + town + zihao + kinds, prefix + zihao + trade + form)
    return names.tolist(), ["USCC"] * n, codes


# --------------------------------------------------------------------------------------------------
# One block of cases


@dataclass
class _Block:
    n: int
    case_id: np.ndarray
    ai: np.ndarray  # active item index
    dept: np.ndarray
    app_type: np.ndarray
    app_name: np.ndarray
    id_type: np.ndarray
    id_no: np.ndarray
    channel: np.ndarray
    recv_t: np.ndarray
    promised: np.ndarray
    status: np.ndarray
    fin_t: np.ndarray
    result: np.ndarray
    note: np.ndarray
    fee: np.ndarray
    relief: np.ndarray
    penalty: np.ndarray
    satisf: np.ndarray
    version: np.ndarray
    upd_t: np.ndarray
    # steps (flat, ordered by case row then step number)
    s_row: np.ndarray
    s_no: np.ndarray
    s_code: np.ndarray
    s_handler: np.ndarray
    s_start: np.ndarray
    s_fin: np.ndarray
    s_op: np.ndarray
    s_version: np.ndarray
    s_upd: np.ndarray
    # what the updates file gets, in order
    case_updates: list[dict]
    step_updates: list[dict]
    case_dup: int
    case_stale: int
    step_dup: int
    plain: np.ndarray  # rows sent once and never changed (bases for invalid records)


def _block(ctx: _Ctx, k: int) -> _Block:
    spec = ctx.spec
    n0 = k * CASE_BLOCK
    n = min(CASE_BLOCK, spec.cases - n0)
    rng = np.random.default_rng([spec.seed, 1, k])
    rows = np.arange(n)
    ai = rng.choice(len(ctx.act), n, p=ctx.it_prob)
    ptype = ctx.it_type[ai]
    dept = ctx.it_dept[ai]
    wd = ctx.it_wd[ai]
    exo = np.isin(ptype, [POWER_TYPES.index(t) for t in pools.EX_OFFICIO])

    # received: counter channels on workdays in office hours, online any day 07:00-23:00
    ch = rng.choice(5, n, p=[0.45, 0.45, 0.03, 0.05, 0.02])
    ch = np.where(exo, 4, ch)
    day = ctx.start_day + rng.integers(0, ctx.end_day - ctx.start_day + 1, n)
    office = ch != 1
    shifted = ctx.next_wd[day]
    shifted = np.where(shifted > ctx.end_day, ctx.prev_wd[day], shifted)
    shifted = np.where(shifted < ctx.start_day, day, shifted)
    day = np.where(office, shifted, day)
    sec_office = np.where(
        rng.random(n) < 0.55,
        rng.integers(8 * 3600 + 1800, 11 * 3600 + 2700, n),
        rng.integers(13 * 3600 + 1800, 17 * 3600 + 900, n),
    )
    sec_online = rng.integers(7 * 3600, 23 * 3600, n)
    recv_t = day * _DAY + np.where(office, sec_office, sec_online)
    case_id = np.array(
        [f"LY{d.replace('-', '')}{g:08d}" for d, g in zip(ctx.dates[day].tolist(), range(n0, n0 + n), strict=True)],
        dtype=object,
    )

    # applicants
    person_share = np.array([pools.PERSON_SHARE[t] for t in POWER_TYPES])
    person = rng.random(n) < person_share[ptype]
    app_name = np.empty(n, dtype=object)
    id_type = np.empty(n, dtype=object)
    id_no = np.empty(n, dtype=object)
    pr = rows[person]
    nm, it, ino = _persons(rng, day[pr], ctx.base)
    app_name[pr], id_type[pr], id_no[pr] = nm, it, ino
    orr = rows[~person]
    nm, it, ino = _organisations(rng, len(orr))
    app_name[orr], id_type[orr], id_no[orr] = nm, it, ino
    app_type = np.where(person, 1, 2)

    # promised limit: the item's, sometimes shortened at acceptance
    P = ctx.it_P[ai].copy()
    shorter = (rng.random(n) < 0.05) & (P >= 2)
    P = np.where(shorter, P - rng.integers(1, np.maximum(P // 3, 1) + 1), P)

    # fate: 0 complete, 1 withdrawn, 2 terminated, 3 stalled (never finishes)
    q = ctx.dept_q[dept]
    ufate = rng.random(n)
    fate = np.where(ufate < 0.03, 1, np.where(ufate < 0.04, 2, np.where(ufate < 0.04 + 0.02 * q, 3, 0)))
    # countable days the case will take: early, exactly on the deadline, or overdue
    # (early mostly well before the deadline; overdue and "on the last day" more often in weak departments)
    u = rng.random(n)
    early = (rng.random(n) ** 1.6 * np.maximum(P, 1)).astype(np.int64)
    over = P + rng.geometric(0.3, n)
    p_over = 0.07 * q
    p_last = np.minimum(0.22 * np.sqrt(q), 0.6)
    e = np.where(u < p_over, over, np.where(u < p_over + p_last, P, np.where(P == 0, 0, early)))

    # step codes: the item's flow, with occasional defects, plus extra steps
    flen = ctx.it_len[ai]
    F = ctx.it_flow[ai].copy()
    cols12 = np.arange(_MAX_FLOW)
    keys_f = np.where(cols12[None, :] < flen[:, None], cols12[None, :].astype(float), np.inf)
    drop = (flen >= 3) & (rng.random(n) < 0.025 * q)
    drop_pos = 1 + rng.integers(0, np.maximum(flen - 1, 1))
    keys_f[rows[drop], drop_pos[drop]] = np.inf
    swap = (flen >= 3) & ~drop & (rng.random(n) < 0.015 * q)
    sp = 1 + rng.integers(0, np.maximum(flen - 2, 1))
    sr = rows[swap]
    a, b = F[sr, sp[swap]].copy(), F[sr, sp[swap] + 1].copy()
    F[sr, sp[swap]], F[sr, sp[swap] + 1] = b, a

    n_extra = np.minimum(rng.poisson(ctx.lam, n), _MAX_EXTRA)
    kind = rng.choice(4, (n, _MAX_EXTRA), p=[0.12, 0.06, 0.42, 0.40])  # BZ, TB, repeat, tail
    keys_e = np.full((n, _MAX_EXTRA), np.inf)
    codes_e = np.zeros((n, _MAX_EXTRA), dtype=np.int64)
    ix = {c: i for i, c in enumerate(STEP_CODES)}
    tb_key = 0.5 + rng.integers(0, np.maximum(flen - 1, 1)[:, None], (n, _MAX_EXTRA))
    rep_pos = 1 + rng.integers(0, np.maximum(flen - 1, 1)[:, None], (n, _MAX_EXTRA))
    rep_pos = np.where(drop[:, None] & (rep_pos == drop_pos[:, None]), rep_pos - 1, rep_pos)
    rep_code = np.take_along_axis(F, rep_pos, axis=1)
    for s in range(_MAX_EXTRA):
        on = s < n_extra
        kk = kind[:, s]
        keys_e[:, s] = np.where(
            kk == 0, 0.5, np.where(kk == 1, tb_key[:, s], np.where(kk == 2, rep_pos[:, s] + 0.25, ctx.it_tail_key[ai]))
        )
        codes_e[:, s] = np.where(
            kk == 0, ix["BZ"], np.where(kk == 1, ix["TB"], np.where(kk == 2, rep_code[:, s], ctx.it_tail_code[ai]))
        )
        keys_e[~on, s] = np.inf
    keys = np.concatenate([keys_f, keys_e], axis=1)
    codes_all = np.concatenate([F, codes_e], axis=1)
    order = np.argsort(keys, axis=1, kind="stable")
    codes = np.take_along_axis(codes_all, order, axis=1)
    nst = np.isfinite(keys).sum(axis=1)
    J = int(nst.max()) if n else 0
    codes = codes[:, :J]
    jj = np.arange(J)[None, :]
    valid = jj < nst[:, None]
    susp = valid & ((codes == ix["TB"]) | (codes == ix["BZ"]))

    # countable days per ordinary step (the total is e); calendar days per suspension
    W = rng.gamma(1.0, 1.0, (n, J))
    if J:
        W[:, 0] *= 0.15
    normal = valid & ~susp
    W = np.where(normal, W, 0.0)
    cw = np.cumsum(W, axis=1)
    tot = np.maximum(cw[:, -1:], 1e-12) if J else np.ones((n, 1))
    pos = np.floor(cw / tot * e[:, None] + 0.5).astype(np.int64)
    cdays = np.diff(np.concatenate([np.zeros((n, 1), dtype=np.int64), pos], axis=1), axis=1)
    is_bz = codes == ix["BZ"]
    sdays = np.where(
        is_bz, np.minimum(rng.geometric(0.15, (n, J)), 30), np.minimum(1 + rng.geometric(0.08, (n, J)), 60)
    )

    # lay the steps out in time
    start = np.zeros((n, J), dtype=np.int64)
    finish = np.zeros((n, J), dtype=np.int64)
    cur = recv_t.copy()
    last = len(ctx.cum_wd) - 1
    for j in range(J):
        cur_day = cur // _DAY
        day_end = cur_day * _DAY + _DAY - 1
        gap = rng.integers(60, 1200, n) if j == 0 else rng.integers(60, 2400, n)
        st = np.minimum(cur + gap, day_end)
        c = cdays[:, j]
        tgt = np.searchsorted(ctx.cum_wd, ctx.cum_wd[cur_day] + c, side="left")
        tgt = np.where(wd, tgt, cur_day + c)
        tgt = np.where(susp[:, j], cur_day + sdays[:, j], tgt)
        tgt = np.minimum(tgt, last)
        later = tgt * _DAY + rng.integers(8 * 3600 + 1800, 17 * 3600 + 1800, n)
        same = np.minimum(st + rng.integers(300, 5400, n), day_end)
        fin = np.where(~susp[:, j] & (c == 0), same, later)
        fin = np.maximum(fin, st)
        start[:, j] = st
        finish[:, j] = fin
        cur = np.where(valid[:, j], fin, cur)

    # how far each case gets: all steps, a prefix (withdrawn/terminated), or stuck in an open step
    m = nst.copy()
    wt = (fate == 1) | (fate == 2)
    m = np.where(wt, 1 + rng.integers(0, np.maximum(nst - 1, 1)), m)
    stalled = fate == 3
    m = np.where(stalled, 1 + rng.integers(0, np.maximum(nst, 1)), m)
    last_fin = finish[rows, m - 1] if J else recv_t
    case_fin = np.minimum(last_fin + rng.integers(0, 1800, n), (last_fin // _DAY) * _DAY + _DAY - 1)
    keep = (jj < m[:, None]) & (start <= ctx.snap)
    kept = keep.sum(axis=1)
    open_ = keep & ((finish > ctx.snap) | (stalled[:, None] & (jj == (m - 1)[:, None])))
    fin_out = np.where(open_, -1, finish)
    done = ~stalled & (case_fin <= ctx.snap)
    status = np.where(done, np.choose(np.minimum(fate, 2), [1, 2, 3]), 0)

    # now and then a step is recorded with a start earlier than the one before it
    inv = (kept >= 3) & (rng.random(n) < 0.006 * q)
    ir = rows[inv]
    if len(ir):
        j_inv = rng.integers(1, kept[ir])
        prev_st = start[ir, j_inv - 1]
        room = np.minimum(prev_st - recv_t[ir], 3600)
        start[ir, j_inv] = prev_st - rng.integers(1, np.maximum(room, 1) + 1)
        start[ir, j_inv] = np.maximum(start[ir, j_inv], recv_t[ir])

    completed = status == 1
    fin_t = np.where(status == 0, -1, case_fin)
    # results, notes, fees, penalties, ratings (only for completed cases)
    ur = rng.random(n)
    result = np.where(completed, np.where(ur < 0.86, 0, np.where(ur < 0.91, 1, 2)), -1)
    rr = np.maximum(result, 0) + 3 * exo
    note = ctx.note_off[rr] + (rng.random(n) * ctx.note_n[rr]).astype(np.int64)
    note_null = np.where(result == 2, rng.random(n) < 0.12 * q, rng.random(n) < 0.10)
    note = np.where(completed & ~note_null, note, 0)
    item_fee = ctx.it_fee[ai]
    uf = rng.random(n)
    fee = np.zeros(n, dtype=np.int64)
    relief = np.full(n, -1, dtype=np.int64)
    has_fee = completed & (item_fee > 0)
    fee = np.where(has_fee & (uf < 0.90), item_fee, fee)
    relief_pick = rng.integers(0, len(pools.RELIEF_REASONS), n)
    relief = np.where(has_fee & (uf >= 0.90) & (uf < 0.975), relief_pick, relief)
    fee = np.where(has_fee & (uf >= 0.95) & (uf < 0.975), item_fee // 2, fee)  # halved, with a reason
    fee = np.where(has_fee & (uf >= 0.99), item_fee * 2, fee)  # charged twice (NR01)
    # 0.975..0.99: nothing paid and no reason (NR01); fee-free items are sometimes charged anyway
    fee = np.where(completed & (item_fee < 0) & (uf < 0.003), 2000, fee)
    pmin, pmax = ctx.it_pmin[ai], ctx.it_pmax[ai]
    punished = completed & (pmin >= 0) & (result != 2)
    hundreds = pmin // 100 + (rng.random(n) * (np.maximum(pmax - pmin, 0) // 100 + 1)).astype(np.int64)
    penalty = np.where(punished, np.maximum(hundreds * 100, pmin), -1)
    penalty = np.minimum(penalty, pmax)
    out_of_range = punished & (rng.random(n) < 0.04 * q)
    above = out_of_range & ((pmin < 200) | (rng.random(n) < 0.5))
    penalty = np.where(above, pmax + 100 * rng.integers(1, 20, n), penalty)
    penalty = np.where(out_of_range & ~above, np.maximum(pmin - 100 * rng.integers(1, 5, n), 0), penalty)
    us = rng.random(n)
    us = np.where(exo, us * 3.0, us)  # parties to enforcement seldom rate it
    satisf = np.where(completed, np.where(us < 0.72, 0, np.where(us < 0.84, 1, np.where(us < 0.87, 2, -1))), -1)

    # steps (flat)
    s_row, s_col = np.nonzero(keep)
    s_code = codes[s_row, s_col] if J else np.zeros(0, dtype=np.int64)
    s_start = start[s_row, s_col]
    s_fin = fin_out[s_row, s_col]
    sd = dept[s_row]
    s_handler = ctx.h_off[sd] + (rng.random(len(s_row)) * ctx.h_n[sd]).astype(np.int64)
    s_op = ctx.op_off[s_code] + (rng.random(len(s_row)) * ctx.op_n[s_code]).astype(np.int64)
    denied_step = (result[s_row] == 2) & np.isin(s_code, [ix["PZ"], ix["JD"]])
    s_op = np.where(denied_step, ctx.deny_op + exo[s_row], s_op)
    s_op = np.where(s_fin < 0, 0, s_op)
    s_upd = np.minimum(np.where(s_fin < 0, s_start, s_fin) + rng.integers(30, 1800, len(s_row)), ctx.snap)
    s_version = np.ones(len(s_row), dtype=np.int64)
    act_t = np.where(keep, np.maximum(start, fin_out), -1).max(axis=1) if J else recv_t
    upd_t = np.minimum(np.maximum(np.maximum(act_t, recv_t), fin_t) + rng.integers(60, 3600, n), ctx.snap)
    version = np.ones(n, dtype=np.int64)

    blk = _Block(
        n=n,
        case_id=case_id,
        ai=ai,
        dept=dept,
        app_type=app_type,
        app_name=app_name,
        id_type=id_type,
        id_no=id_no,
        channel=ch,
        recv_t=recv_t,
        promised=P,
        status=status,
        fin_t=fin_t,
        result=result,
        note=note,
        fee=fee,
        relief=relief,
        penalty=penalty,
        satisf=satisf,
        version=version,
        upd_t=upd_t,
        s_row=s_row,
        s_no=s_col + 1,
        s_code=s_code,
        s_handler=s_handler,
        s_start=s_start,
        s_fin=s_fin,
        s_op=s_op,
        s_version=s_version,
        s_upd=s_upd,
        case_updates=[],
        step_updates=[],
        case_dup=0,
        case_stale=0,
        step_dup=0,
        plain=np.zeros(0, dtype=np.int64),
    )
    _versions(ctx, blk, rng)
    return blk


def _versions(ctx: _Ctx, blk: _Block, rng: np.random.Generator) -> None:
    """Turn some cases into two versions (first sent while in progress, or corrected later) and pick
    exact and stale re-sends; fills the block's update lists and rewrites its main rows to version 1."""
    n, share = blk.n, ctx.spec.update_share
    rows = np.arange(n)
    comp = blk.status == 1
    first = np.searchsorted(blk.s_row, rows)  # index of each case's first step
    has_steps = first < len(blk.s_row)
    st0 = np.where(has_steps, blk.s_start[np.minimum(first, max(len(blk.s_row) - 1, 0))], blk.recv_t)
    kept = np.bincount(blk.s_row, minlength=n)
    u = rng.random((n, 6))
    prog = comp & (kept >= 2) & (u[:, 0] < 0.06 * share) & (blk.fin_t - st0 > 600)
    moment = st0 + 60 + (u[:, 1] * np.maximum(blk.fin_t - st0 - 120, 0)).astype(np.int64)
    v2_upd = blk.upd_t + rng.integers(3600, 7 * _DAY, n)
    room = v2_upd <= ctx.snap
    c_sat = comp & ~prog & (blk.satisf >= 0) & (u[:, 2] < 0.05 * share) & room
    c_rel = comp & ~prog & (blk.relief >= 0) & (u[:, 2] < 0.30 * share) & room
    c_note = comp & ~prog & (blk.result == 2) & (blk.note > 0) & (u[:, 2] < 0.25 * share) & room
    corr = c_sat | c_rel | c_note
    dup = ~prog & ~corr & (u[:, 3] < 0.005 * share)
    stale = prog & (u[:, 4] < 0.10)
    sdup = ~prog & ~corr & (u[:, 5] < 0.003 * share)

    # version 2 as it will be sent later: the final state
    changed = rows[prog | corr]
    finals = _case_dicts(ctx, blk, changed)
    v2_upd_s = ctx.ts(np.where(corr[changed], v2_upd[changed], -1)).tolist()
    for r, rec, upd in zip(changed.tolist(), finals, v2_upd_s, strict=True):
        rec["version"] = 2
        if corr[r]:
            rec["updated_at"] = upd
    s_prog = prog[blk.s_row]
    s_m = moment[blk.s_row]
    after = s_prog & (blk.s_start > s_m)
    open_at_m = s_prog & ~after & (blk.s_fin > s_m)
    step_later_idx = np.nonzero(after | open_at_m)[0]
    step_later = _step_dicts(ctx, blk, step_later_idx)
    for i, rec in zip(step_later_idx.tolist(), step_later, strict=True):
        if open_at_m[i]:
            rec["version"] = 2

    # version 1 (what the regular files carry)
    pr = rows[prog]
    blk.status[pr] = 0
    blk.fin_t[pr] = -1
    blk.result[pr] = -1
    blk.note[pr] = 0
    blk.fee[pr] = 0
    blk.relief[pr] = -1
    blk.penalty[pr] = -1
    blk.satisf[pr] = -1
    blk.upd_t[pr] = moment[pr]
    blk.satisf[c_sat] = -1
    blk.relief[c_rel] = -1
    blk.note[c_note] = 0
    before = s_prog & ~after
    blk.s_upd = np.where(before, np.minimum(blk.s_upd, s_m), blk.s_upd)
    blk.s_fin = np.where(open_at_m, -1, blk.s_fin)
    blk.s_op = np.where(open_at_m, 0, blk.s_op)
    blk.s_upd = np.where(open_at_m, s_m, blk.s_upd)
    keep = ~after
    for name in ("s_row", "s_no", "s_code", "s_handler", "s_start", "s_fin", "s_op", "s_version", "s_upd"):
        setattr(blk, name, getattr(blk, name)[keep])

    # the updates file, case by case
    v1_rows = rows[stale | dup]
    v1 = dict(zip(v1_rows.tolist(), _case_dicts(ctx, blk, v1_rows), strict=True))
    v2 = dict(zip(changed.tolist(), finals, strict=True))
    for r in sorted(set(v1) | set(v2)):
        if r in v2:
            blk.case_updates.append(v2[r])
        if r in v1:
            blk.case_updates.append(v1[r])
    blk.case_dup, blk.case_stale = int(dup.sum()), int(stale.sum())
    resend = np.nonzero(sdup[blk.s_row])[0]
    blk.step_updates = step_later + _step_dicts(ctx, blk, resend)
    blk.step_dup = len(resend)
    blk.plain = rows[comp & ~prog & ~corr & ~dup & ~sdup]


# --------------------------------------------------------------------------------------------------
# Blocks to columns, dicts and lines


def _money(v: np.ndarray, cents: bool) -> np.ndarray:
    """Object array of money strings (None where ``v`` < 0)."""
    uniq, inv = np.unique(v, return_inverse=True)
    out = []
    for x in uniq.tolist():
        if x < 0:
            out.append(None)
        elif cents:
            out.append("0" if x == 0 else f"{x // 100}.{x % 100:02d}")
        else:
            out.append(f"{x}.00")
    return np.array(out, dtype=object)[inv.reshape(-1)]


_STATUS = np.array(STATUSES, dtype=object)
_RESULT = np.array((None, *RESULTS), dtype=object)
_SATISF = np.array((None, *SATISFACTIONS), dtype=object)
_RELIEF = np.array((None, *pools.RELIEF_REASONS), dtype=object)
_CHANNEL = np.array(CHANNELS, dtype=object)
_APPTYPE = np.array(("", "1", "2"), dtype=object)
_CODES = np.array(STEP_CODES, dtype=object)


def _case_columns(ctx: _Ctx, blk: _Block, rows: np.ndarray | None = None) -> list[np.ndarray]:
    def s(a: np.ndarray) -> np.ndarray:
        return a if rows is None else a[rows]

    n = blk.n if rows is None else len(rows)
    return [
        np.full(n, ctx.spec.source_system, dtype=object),
        s(blk.case_id),
        ctx.it_code[s(blk.ai)],
        ctx.dept_codes[s(blk.dept)],
        _APPTYPE[s(blk.app_type)],
        s(blk.app_name),
        s(blk.id_type),
        s(blk.id_no),
        _CHANNEL[s(blk.channel)],
        ctx.ts(s(blk.recv_t)),
        s(blk.promised),
        _STATUS[s(blk.status)],
        ctx.ts(s(blk.fin_t)),
        _RESULT[s(blk.result) + 1],
        ctx.notes[s(blk.note)],
        _money(s(blk.fee), cents=True),
        _RELIEF[s(blk.relief) + 1],
        _money(s(blk.penalty), cents=False),
        _SATISF[s(blk.satisf) + 1],
        s(blk.version),
        ctx.ts(s(blk.upd_t)),
    ]


def _step_columns(ctx: _Ctx, blk: _Block, idx: np.ndarray | None = None) -> list[np.ndarray]:
    def s(a: np.ndarray) -> np.ndarray:
        return a if idx is None else a[idx]

    h = s(blk.s_handler)
    return [
        np.full(len(h), ctx.spec.source_system, dtype=object),
        blk.case_id[s(blk.s_row)],
        s(blk.s_no),
        _CODES[s(blk.s_code)],
        ctx.handler_ids[h],
        ctx.handler_names[h],
        ctx.ts(s(blk.s_start)),
        ctx.ts(s(blk.s_fin)),
        ctx.opinions[s(blk.s_op)],
        s(blk.s_version),
        ctx.ts(s(blk.s_upd)),
    ]


def _dicts(fields: Sequence[str], cols: list[np.ndarray]) -> list[dict]:
    return [dict(zip(fields, row, strict=True)) for row in zip(*(c.tolist() for c in cols), strict=True)]


def _case_dicts(ctx: _Ctx, blk: _Block, rows: np.ndarray | None = None) -> list[dict]:
    return _dicts(CASE_FIELDS, _case_columns(ctx, blk, rows))


def _step_dicts(ctx: _Ctx, blk: _Block, idx: np.ndarray | None = None) -> list[dict]:
    return _dicts(CASE_STEP_FIELDS, _step_columns(ctx, blk, idx))


def _jsonl_template(entity: str, fields: Sequence[str]) -> str:
    """A %-template that renders a row exactly like ``json.dumps(record, ensure_ascii=False)``; nullable
    fields come pre-rendered as JSON tokens."""
    parts = []
    for f in fields:
        if f in INT_FIELDS:
            parts.append(f'"{f}": %d')
        elif f in NULLABLE.get(entity, ()):
            parts.append(f'"{f}": %s')
        else:
            parts.append(f'"{f}": "%s"')
    return "{" + ", ".join(parts) + "}\n"


def _json_lines(entity: str, cols: list[np.ndarray]) -> list[str]:
    fields = FIELDS[entity]
    nullable = NULLABLE.get(entity, frozenset())
    prepared = []
    for f, c in zip(fields, cols, strict=True):
        if f in nullable:
            null = np.equal(c, None)
            filled = np.where(null, "", c)
            c = np.where(null, "null", '"' + filled + '"')
        prepared.append(c.tolist())
    tpl = _jsonl_template(entity, fields)
    return [tpl % row for row in zip(*prepared, strict=True)]


def _csv_lines(entity: str, cols: list[np.ndarray]) -> list[str]:
    fields = FIELDS[entity]
    prepared = []
    for f, c in zip(fields, cols, strict=True):
        if f in NULLABLE.get(entity, ()):
            c = np.where(np.equal(c, None), "", c)
        prepared.append(c.tolist())
    tpl = ",".join("%d" if f in INT_FIELDS else "%s" for f in fields) + "\n"
    return [tpl % row for row in zip(*prepared, strict=True)]


# --------------------------------------------------------------------------------------------------
# Complaints and invalid records


def _complaints(ctx: _Ctx, links: dict[int, tuple[str, int, int, int]], picks: np.ndarray) -> list[dict]:
    spec = ctx.spec
    rng = np.random.default_rng([spec.seed, 2, 1])
    n = spec.complaints
    out: list[dict] = []
    linked = [links[g] for g in picks.tolist() if g in links]
    n_link = len(linked)
    dept_w = np.bincount(ctx.it_dept, weights=ctx.it_prob, minlength=spec.departments) * ctx.dept_q
    dept_w = dept_w / dept_w.sum()
    u = rng.random((n, 6))
    for i in range(n):
        if i < n_link:
            case_id, d, r, a = linked[i]
            lag = int(u[i, 0] * max(min(30 * _DAY, ctx.snap - r - 600), 0))
            recv = r + lag
            issues = (
                pools.ENFORCEMENT_ISSUES if POWER_TYPES[ctx.it_type[a]] in pools.EX_OFFICIO else pools.COMPLAINT_ISSUES
            )
            issue = issues[int(u[i, 1] * len(issues))]
            content = f"反映{ctx.it_name[a]}办理中{issue}"
            case_sys, cid = spec.source_system, case_id
        else:
            d = int(rng.choice(spec.departments, p=dept_w))
            day = ctx.start_day + int(u[i, 0] * (ctx.end_day - ctx.start_day + 1))
            recv = day * _DAY + 8 * 3600 + int(u[i, 1] * 12 * 3600)
            issue = pools.COMPLAINT_ISSUES[int(u[i, 2] * len(pools.COMPLAINT_ISSUES))]
            content = f"{issue}，请尽快处理"
            case_sys, cid = None, None
        rday = recv // _DAY
        due = int(np.searchsorted(ctx.cum_wd, ctx.cum_wd[rday] + 10, side="left"))
        v = u[i, 3]
        on_time = 1.0 - 0.2 * float(ctx.dept_q[d])
        closed: int | None
        if v < on_time:
            closed = recv + 3600 + int(u[i, 4] * max(due * _DAY + 17 * 3600 - recv - 3600, 0))
        elif v < on_time + (1.0 - on_time) * 0.6:
            closed = (due + 1 + int(u[i, 4] * 15)) * _DAY + 9 * 3600 + int(u[i, 5] * 8 * 3600)
        else:
            closed = None
        if closed is not None and closed > ctx.snap:
            closed = None
        result = None if closed is None else COMPLAINT_RESULTS[int(rng.choice(3, p=[0.25, 0.20, 0.55]))]
        upd = min((closed if closed is not None else recv) + 300 + int(u[i, 5] * 7200), ctx.snap)
        recv_s, closed_s, upd_s = ctx.ts(np.array([recv, -1 if closed is None else closed, upd])).tolist()
        out.append(
            {
                "complaint_id": f"TS{recv_s[:10].replace('-', '')}{i:05d}",
                "case_source_system": case_sys,
                "case_id": cid,
                "dept_code": ctx.dept_codes[d],
                "received_at": recv_s,
                "status": "OPEN" if closed is None else "CLOSED",
                "closed_at": closed_s,
                "result": result,
                "content": content,
                "source_system": "UNIFIED",
                "version": 1,
                "updated_at": upd_s,
            }
        )
    return out


def _invalid_cases(ctx: _Ctx, bases: list[dict]) -> tuple[list[dict], list[InvalidRecord]]:
    """Deliberately invalid cases, each breaking one rule family, built from valid ones."""
    spec = ctx.spec
    if not bases or not spec.invalid_cases:
        return [], []
    rng = np.random.default_rng([spec.seed, 3])
    items = {it["power_code"]: it for it in ctx.items}
    out: list[dict] = []
    manifest: list[InvalidRecord] = []
    conflict_used: set[str] = set()
    for k in range(spec.invalid_cases):
        fam = INVALID_FAMILIES[k % len(INVALID_FAMILIES)]
        var = k // len(INVALID_FAMILIES)
        pool = bases
        if fam == "ID_CHECKDIGIT":
            want = "SFZ" if var % 2 == 0 else "USCC"
            pool = [b for b in bases if b["applicant_id_type"] == want] or bases
        if fam == "VERSION_CONFLICT":
            pool = [b for b in bases if b["case_id"] not in conflict_used] or bases
        base = pool[int(rng.integers(0, len(pool)))]
        rec = dict(base)
        if fam != "VERSION_CONFLICT":
            rec["case_id"] = f"BAD{k:04d}{fam.replace('_', '')[:6]}"
        if fam == "ID_CHECKDIGIT":
            idn = rec["applicant_id_no"]
            alphabet = "0123456789X" if rec["applicant_id_type"] == "SFZ" else "0123456789ABCDEFGHJKLMNPQRTUWXY"
            wrong = [c for c in alphabet if c != idn[-1]]
            rec["applicant_id_no"] = idn[:-1] + wrong[int(rng.integers(0, len(wrong)))]
        elif fam == "NAIVE_DATETIME":
            f = ("received_at", "finished_at", "updated_at")[var % 3]
            rec[f] = rec[f][:19]
        elif fam == "UNKNOWN_POWER":
            rec["power_code"] = rec["power_code"][:11] + f"{9000 + k:04d}000"
        elif fam == "TIME_ORDER":
            recv = datetime.fromisoformat(rec["received_at"])
            rec["finished_at"] = (recv - timedelta(days=1 + var % 3, hours=2)).isoformat()
        elif fam == "MISSING_FIELD":
            del rec[("channel", "applicant_name", "promised_limit", "fee_paid")[var % 4]]
        elif fam == "BAD_CODE":
            f, bad = (("channel", "5"), ("applicant_type", "3"), ("satisfaction", "X"), ("result", "OK"))[var % 4]
            rec[f] = bad
        elif fam == "EXTRA_FIELD":
            rec[("remark", "operator")[var % 2]] = ("补录", "系统管理员")[var % 2]
        elif fam == "MONEY_FORMAT":
            rec["fee_paid"] = ("1,500.00", 80.0, "80.5.0", "-20.00", "12.345", "080.00")[var % 6]
        elif fam == "REQUIRED_IFF":
            v = var % 3
            if v == 0:
                rec["result"] = None
            else:
                rec["status"] = "IN_PROGRESS" if v == 1 else "WITHDRAWN"
                rec["result"] = rec["result_note"] = rec["satisfaction"] = None
                rec["penalty_amount"] = None
                rec["fee_paid"], rec["relief_reason"] = "0", None
                if v == 2:
                    rec["finished_at"] = None
        elif fam == "DEPT_MISMATCH":
            others = [c for c in ctx.dept_codes.tolist() if c != rec["dept_code"]]
            rec["dept_code"] = others[int(rng.integers(0, len(others)))]
        elif fam == "PROMISE_ABOVE_ITEM":
            rec["promised_limit"] = items[rec["power_code"]]["promised_limit"] + 1 + 2 * (var % 3)
        elif fam == "VERSION_CONFLICT":
            conflict_used.add(rec["case_id"])
            rec["result_note"] = (rec["result_note"] or "依法办理") + "（重新推送）"
        out.append(rec)
        manifest.append(InvalidRecord("case", (rec["source_system"], rec["case_id"]), fam))
    return out, manifest


# --------------------------------------------------------------------------------------------------
# The run: blocks, then complaints and invalid records


@dataclass
class _Run:
    ctx: _Ctx
    picks: np.ndarray
    links: dict[int, tuple[str, int, int, int]] = field(default_factory=dict)
    bases: list[dict] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


def _start(spec: GeneratorSpec) -> _Run:
    ctx = _build_context(spec)
    rng = np.random.default_rng([spec.seed, 2, 0])
    n_link = min(int(round(spec.complaints * 0.6)), spec.cases)
    picks = rng.choice(spec.cases, n_link, replace=False) if n_link else np.zeros(0, dtype=np.int64)
    counts = {e: {"sent": 0, "duplicate": 0, "stale": 0, "invalid": 0, "keys": 0} for e in ENTITIES}
    counts["department"]["sent"] = counts["department"]["keys"] = len(ctx.departments)
    counts["power_item"]["sent"] = counts["power_item"]["keys"] = len(ctx.items)
    return _Run(ctx=ctx, picks=np.sort(picks), counts=counts)


def _blocks(run: _Run) -> Iterator[_Block]:
    spec = run.ctx.spec
    for k in range((spec.cases + CASE_BLOCK - 1) // CASE_BLOCK):
        blk = _block(run.ctx, k)
        n0 = k * CASE_BLOCK
        lo, hi = np.searchsorted(run.picks, [n0, n0 + blk.n])
        for g in run.picks[lo:hi].tolist():
            r = g - n0
            run.links[g] = (blk.case_id[r], int(blk.dept[r]), int(blk.recv_t[r]), int(blk.ai[r]))
        if k == 0 and spec.invalid_cases:
            take = blk.plain[:400]
            run.bases = _case_dicts(run.ctx, blk, take)
        c, s = run.counts["case"], run.counts["case_step"]
        c["sent"] += blk.n + len(blk.case_updates)
        c["duplicate"] += blk.case_dup
        c["stale"] += blk.case_stale
        c["keys"] += blk.n
        s["sent"] += len(blk.s_row) + len(blk.step_updates)
        s["duplicate"] += blk.step_dup
        s["keys"] += len(blk.s_row) + sum(1 for r in blk.step_updates if r["version"] == 1) - blk.step_dup
        yield blk


def _finish(run: _Run) -> tuple[list[dict], list[dict], list[InvalidRecord]]:
    complaints = _complaints(run.ctx, run.links, run.picks)
    invalid, manifest = _invalid_cases(run.ctx, run.bases)
    run.counts["complaint"]["sent"] = run.counts["complaint"]["keys"] = len(complaints)
    run.counts["case"]["sent"] += len(invalid)
    run.counts["case"]["invalid"] += len(invalid)
    return complaints, invalid, manifest


def generate(spec: GeneratorSpec | None = None) -> GeneratedData:
    """Generate everything in memory (for tests and demos; use ``write_bulk`` for large volumes)."""
    spec = spec or GeneratorSpec()
    run = _start(spec)
    cases: list[dict] = []
    steps: list[dict] = []
    case_up: list[dict] = []
    step_up: list[dict] = []
    for blk in _blocks(run):
        cases.extend(_case_dicts(run.ctx, blk))
        steps.extend(_step_dicts(run.ctx, blk))
        case_up.extend(blk.case_updates)
        step_up.extend(blk.step_updates)
    complaints, invalid, manifest = _finish(run)
    return GeneratedData(
        spec=spec,
        records={
            "department": [dict(d) for d in run.ctx.departments],
            "power_item": [dict(i, flow=list(i["flow"])) for i in run.ctx.items],
            "case": cases,
            "case_step": steps,
            "complaint": complaints,
        },
        updates={"case": case_up, "case_step": step_up},
        invalid={"case": invalid},
        manifest=manifest,
        counts=run.counts,
    )


# --------------------------------------------------------------------------------------------------
# Writing files


class _Rolling:
    """Writes one entity's lines into ``{entity}.{tag}-{nnnn}.{ext}`` files of at most ``chunk_rows``
    lines, each first as ``.part`` and renamed when complete."""

    def __init__(self, folder: Path, entity: str, tag: str, ext: str, chunk_rows: int | None) -> None:
        self.folder, self.entity, self.tag, self.ext = folder, entity, tag, ext
        self.chunk_rows = chunk_rows or 0
        self.part = 0
        self.rows = 0
        self.fh: io.TextIOWrapper | None = None
        self.path: Path | None = None
        self.paths: list[Path] = []

    def _open(self) -> None:
        self.part += 1
        self.path = self.folder / f"{self.entity}.{self.tag}-{self.part:04d}.{self.ext}"
        self.fh = open(self.path.with_name(self.path.name + ".part"), "w", encoding="utf-8", newline="")  # noqa: SIM115
        self.rows = 0
        if self.ext == "csv":
            self.fh.write(",".join(FIELDS[self.entity]) + "\n")

    def write(self, lines: list[str]) -> None:
        i = 0
        while i < len(lines):
            if self.fh is None:
                self._open()
            room = len(lines) - i if not self.chunk_rows else self.chunk_rows - self.rows
            chunk = lines[i : i + room]
            assert self.fh is not None
            self.fh.write("".join(chunk))
            self.rows += len(chunk)
            i += len(chunk)
            if self.chunk_rows and self.rows >= self.chunk_rows:
                self.close()

    def close(self) -> None:
        if self.fh is not None and self.path is not None:
            self.fh.close()
            os.replace(self.path.with_name(self.path.name + ".part"), self.path)
            self.paths.append(self.path)
            self.fh = None


def _write_whole(path: Path, text: str) -> Path:
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8", newline="")
    os.replace(part, path)
    return path


def _dump_jsonl(records: Iterable[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def _dump_csv(entity: str, records: Iterable[dict]) -> list[str]:
    """One CSV line per record (quoted where a value needs it)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    out = []
    for r in records:
        buf.seek(0)
        buf.truncate()
        w.writerow(["" if r.get(f) is None else r.get(f) for f in FIELDS[entity]])
        out.append(buf.getvalue())
    return out


def _folders(inbox_dir: Path, spec: GeneratorSpec) -> dict[str, Path]:
    """Where each entity goes; a self-built system sends only cases and steps (§3), so for one the
    catalogue and complaints are not written (they would belong in ``UNIFIED/``)."""
    source = inbox_dir / spec.source_system
    source.mkdir(parents=True, exist_ok=True)
    if spec.source_system != "UNIFIED":
        return {"case": source, "case_step": source}
    return dict.fromkeys(ENTITIES, source)


def write_inbox(
    data: GeneratedData,
    inbox_dir: Path,
    *,
    csv_entities: Sequence[str] = ("case", "case_step"),
    chunk_rows: int | None = 50_000,
    tag: str | None = None,
) -> list[Path]:
    """Write generated data as a file drop (§10.1): ``{inbox}/{system}/{entity}.{tag}-{nnnn}.jsonl|csv``,
    then ``case.{tag}-x-invalid.jsonl`` and ``{entity}.{tag}-z-updates.jsonl`` (read after the regular
    files, in name order). Power items are always JSON Lines. For a self-built system (``source_system``
    other than ``UNIFIED``) only cases and steps are written. Every file is written as ``.part`` and
    renamed when complete."""
    inbox_dir = Path(inbox_dir)
    tag = tag or data.spec.tag
    folders = _folders(inbox_dir, data.spec)
    paths: list[Path] = []
    for entity in ENTITIES:
        if entity not in folders:
            continue
        records = data.records.get(entity, [])
        ext = "csv" if entity in csv_entities and entity != "power_item" else "jsonl"
        if records:
            roll = _Rolling(folders[entity], entity, tag, ext, chunk_rows)
            if ext == "csv":
                roll.write(_dump_csv(entity, records))
            else:
                roll.write([json.dumps(r, ensure_ascii=False) + "\n" for r in records])
            roll.close()
            paths.extend(roll.paths)
        if data.invalid.get(entity):
            paths.append(
                _write_whole(folders[entity] / f"{entity}.{tag}-x-invalid.jsonl", _dump_jsonl(data.invalid[entity]))
            )
        if data.updates.get(entity):
            paths.append(
                _write_whole(folders[entity] / f"{entity}.{tag}-z-updates.jsonl", _dump_jsonl(data.updates[entity]))
            )
    return paths


def write_bulk(
    spec: GeneratorSpec,
    inbox_dir: Path,
    fmt: str = "jsonl",
    *,
    chunk_rows: int | None = 50_000,
    tag: str | None = None,
) -> BulkResult:
    """Stream ``spec`` to files without holding it in memory: the same records as ``generate(spec)`` in
    the same file layout as ``write_inbox`` (``fmt`` ``"csv"`` writes cases and steps as CSV)."""
    if fmt not in ("jsonl", "csv"):
        raise GeneratorError(f"生成参数无效 / invalid generator spec: format must be jsonl or csv, not {fmt!r}")
    t0 = time.perf_counter()
    inbox_dir = Path(inbox_dir)
    tag = tag or spec.tag
    run = _start(spec)
    ctx = run.ctx
    folders = _folders(inbox_dir, spec)
    paths: list[Path] = []
    for entity, recs in (("department", ctx.departments), ("power_item", ctx.items)):
        if entity in folders:
            paths.append(_write_whole(folders[entity] / f"{entity}.{tag}-0001.jsonl", _dump_jsonl(recs)))
    ext = fmt
    lines = _csv_lines if fmt == "csv" else _json_lines
    case_roll = _Rolling(folders["case"], "case", tag, ext, chunk_rows)
    step_roll = _Rolling(folders["case_step"], "case_step", tag, ext, chunk_rows)
    upd_paths = {e: folders[e] / f"{e}.{tag}-z-updates.jsonl" for e in ("case", "case_step")}
    upd_fh = {e: open(p.with_name(p.name + ".part"), "w", encoding="utf-8", newline="") for e, p in upd_paths.items()}  # noqa: SIM115
    upd_n = dict.fromkeys(upd_paths, 0)
    try:
        for blk in _blocks(run):
            case_roll.write(lines("case", _case_columns(ctx, blk)))
            step_roll.write(lines("case_step", _step_columns(ctx, blk)))
            for e, recs in (("case", blk.case_updates), ("case_step", blk.step_updates)):
                upd_fh[e].write(_dump_jsonl(recs))
                upd_n[e] += len(recs)
    finally:
        case_roll.close()
        step_roll.close()
        for fh in upd_fh.values():
            fh.close()
    complaints, invalid, manifest = _finish(run)
    paths.extend(case_roll.paths)
    if invalid:
        paths.append(_write_whole(folders["case"] / f"case.{tag}-x-invalid.jsonl", _dump_jsonl(invalid)))
    for e, p in upd_paths.items():
        part = p.with_name(p.name + ".part")
        if upd_n[e]:
            os.replace(part, p)
            if e == "case":
                paths.append(p)
        else:
            part.unlink()
    paths.extend(step_roll.paths)
    if upd_n["case_step"]:
        paths.append(upd_paths["case_step"])
    if complaints and "complaint" in folders:
        paths.append(_write_whole(folders["complaint"] / f"complaint.{tag}-0001.jsonl", _dump_jsonl(complaints)))
    return BulkResult(paths=paths, counts=run.counts, manifest=manifest, seconds=time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------------
# Command line


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m simulators.generator",
        description="Write a synthetic Liyang dataset (Interface Standard v1) as an inbox file drop.",
    )
    p.add_argument("--cases", type=int, default=GeneratorSpec.cases)
    p.add_argument("--out", type=Path, required=True, help="inbox directory (system folders are created in it)")
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="format of case and step files")
    p.add_argument("--seed", type=int, default=GeneratorSpec.seed)
    p.add_argument("--departments", type=int, default=GeneratorSpec.departments)
    p.add_argument("--items-per-department", type=int, default=GeneratorSpec.items_per_department)
    p.add_argument("--steps-per-case", type=float, default=GeneratorSpec.steps_per_case)
    p.add_argument("--complaints", type=int, default=GeneratorSpec.complaints)
    p.add_argument("--invalid", type=int, default=GeneratorSpec.invalid_cases, help="deliberately invalid cases")
    p.add_argument("--start", type=date.fromisoformat, default=GeneratorSpec.start)
    p.add_argument("--end", type=date.fromisoformat, default=GeneratorSpec.end)
    p.add_argument("--source-system", default=GeneratorSpec.source_system)
    p.add_argument("--catalogue-seed", type=int, help="seed of the catalogue (default: --seed)")
    p.add_argument("--power-codes", help="comma-separated items the cases may use (a self-built system's scope)")
    p.add_argument("--chunk-rows", type=int, default=50_000, help="records per file (0 = one file per entity)")
    p.add_argument("--manifest", type=Path, help="write the invalid-record manifest to this JSON file")
    args = p.parse_args(argv)
    spec = GeneratorSpec(
        seed=args.seed,
        departments=args.departments,
        items_per_department=args.items_per_department,
        cases=args.cases,
        steps_per_case=args.steps_per_case,
        complaints=args.complaints,
        invalid_cases=args.invalid,
        start=args.start,
        end=args.end,
        source_system=args.source_system,
        catalogue_seed=args.catalogue_seed,
        power_codes=tuple(args.power_codes.split(",")) if args.power_codes else None,
    )
    try:
        res = write_bulk(spec, args.out, args.format, chunk_rows=args.chunk_rows or None)
    except GeneratorError as exc:
        print(exc.message, file=sys.stderr)
        return 2
    if args.manifest:
        args.manifest.write_text(
            json.dumps([r._asdict() for r in res.manifest], ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
    c = res.counts
    print(
        f"wrote {len(res.paths)} files to {args.out}: {c['case']['keys']} cases, {c['case_step']['keys']} steps, "
        f"{c['complaint']['keys']} complaints, {c['case']['invalid']} invalid cases in {res.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
