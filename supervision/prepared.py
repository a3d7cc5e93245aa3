"""The frames of a SupervisionData turned into per-case and per-step arrays (done once per call)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from supervision import arrays as A
from supervision.calendar import WorkCalendar
from supervision.daycount import DayCounter, Suspensions
from supervision.errors import SupervisionInputError
from supervision.model import SupervisionData, SupervisionSettings

_SUSPENDING = (A.STEP_CODES.index("TB"), A.STEP_CODES.index("BZ"))


@dataclass(frozen=True, eq=False)
class Items:
    """The power-item catalogue as arrays, indexed like ``data.power_items``."""

    power_type: np.ndarray  # index into POWER_TYPES (-1 unknown)
    calendar_days: np.ndarray  # bool: time_unit CD
    fee: np.ndarray
    has_fee: np.ndarray
    pmin: np.ndarray
    pmax: np.ndarray
    has_range: np.ndarray
    flow_pos: np.ndarray  # [item, step code] -> first position in flow, -1 when absent
    flow_mask: np.ndarray  # bitmask of the step codes in the flow
    # item -> its flow as step-code indices, for the items whose flow names a code twice (二次审核):
    # there a step's position is not one number, and the order check matches steps one by one
    repeating_flows: dict[int, tuple[int, ...]]


def prepare_items(items: pd.DataFrame) -> Items:
    n = len(items)
    ptype = A.codes(items["power_type"], A.POWER_TYPES)
    unit = A.codes(items["time_unit"], ("WD", "CD"))
    if n and (unit < 0).any():
        raise SupervisionInputError("power_items.time_unit must be WD or CD")
    fee, has_fee = A.money_cents(items["fee"], "power_items.fee")
    pmin, has_min = A.money_cents(items["penalty_min"], "power_items.penalty_min")
    pmax, has_max = A.money_cents(items["penalty_max"], "power_items.penalty_max")
    flow_pos = np.full((n, len(A.STEP_CODES)), -1, dtype=np.int64)
    flow_mask = np.zeros(n, dtype=np.int64)
    repeating: dict[int, tuple[int, ...]] = {}
    code_of = {c: i for i, c in enumerate(A.STEP_CODES)}
    for i, flow in enumerate(items["flow"].tolist()):
        codes = tuple(code_of.get(code, -1) for code in _flow_list(flow))
        for pos, c in enumerate(codes):
            if c >= 0 and flow_pos[i, c] < 0:
                flow_pos[i, c] = pos
                flow_mask[i] |= 1 << c
        if len(set(codes)) < len(codes):
            repeating[i] = codes
    return Items(ptype, unit == 1, fee, has_fee, pmin, pmax, has_min & has_max, flow_pos, flow_mask, repeating)


def _versions_in_force(cases: pd.DataFrame, versions: pd.DataFrame) -> np.ndarray:
    """Per case, the row of ``versions`` in force when it was received: the latest version of its
    item valid from then or earlier, else (a case older than every version known) the earliest one;
    -1 for an item without any version."""
    n = len(cases)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    left = pd.DataFrame(
        {"code": A.text(cases["power_code"]).to_pylist(), "t": A.instants_us(cases["received_at"]), "i": np.arange(n)}
    ).sort_values("t", kind="stable")
    right = pd.DataFrame(
        {
            "code": A.text(versions["power_code"]).to_pylist(),
            "t": A.instants_us(versions["valid_from_at"]),
            # two versions valid from the same instant: the higher one is in force, as validation reads it
            "version": versions["version"].to_numpy() if "version" in versions.columns else np.zeros(len(versions)),
            "row": np.arange(len(versions), dtype=np.float64),
        }
    ).sort_values(["t", "version"], kind="stable")
    earlier = pd.merge_asof(left, right, on="t", by="code", direction="backward")["row"].to_numpy()
    later = pd.merge_asof(left, right, on="t", by="code", direction="forward")["row"].to_numpy()
    row = np.where(np.isnan(earlier), later, earlier)
    out = np.empty(n, dtype=np.int64)
    out[left["i"].to_numpy()] = np.where(np.isnan(row), -1, row).astype(np.int64)
    return out


def _flow_list(flow: object) -> list[str]:
    if flow is None or (isinstance(flow, float) and flow != flow):
        return []
    if isinstance(flow, str):
        try:
            flow = json.loads(flow)
        except ValueError:
            flow = [f.strip() for f in flow.split(",")]
    return [str(c) for c in flow]  # type: ignore[union-attr]


class Prepared:
    """Per-case arrays plus the day counter; step-derived parts are computed on first use."""

    def __init__(
        self, data: SupervisionData, as_of: dt.datetime, calendar: WorkCalendar, settings: SupervisionSettings
    ) -> None:
        self.data = data
        self.calendar = calendar
        self.settings = settings
        cal = calendar
        self.t = int(cal.indices(np.array([A.day_of(as_of)]))[0])
        cases = data.cases
        self.n = n = len(cases)
        versions = data.power_items if data.power_item_versions is None else data.power_item_versions
        self.items = prepare_items(versions)
        self.item = (
            _versions_in_force(cases, versions)
            if data.power_item_versions is not None
            else (A.lookup(cases["power_code"], versions["power_code"]))
        )
        if n and (self.item < 0).any():
            raise SupervisionInputError(
                f"{int((self.item < 0).sum())} case(s) reference a power_code missing from power_items"
            )
        self.power_type = self.items.power_type[self.item] if n else np.zeros(0, dtype=np.int64)
        self.cd = self.items.calendar_days[self.item] if n else np.zeros(0, dtype=bool)
        self.dept = A.lookup(cases["dept_code"], data.departments["dept_code"])
        self.status = A.codes(cases["status"], A.CASE_STATUS)
        if n and (self.status < 0).any():
            raise SupervisionInputError("cases.status has a value outside IN_PROGRESS/COMPLETED/WITHDRAWN/TERMINATED")
        self.limit = A.int_column(cases["promised_limit"], "cases.promised_limit")
        self.received = cal.indices(A.epoch_days(cases["received_at"], "cases.received_at"))
        fin = A.epoch_days(cases["finished_at"], "cases.finished_at")
        self.finished_valid = fin != A.NO_DAY
        self.finished = np.where(self.finished_valid, fin - cal.origin, -1)
        if self.finished_valid.any():
            cal.indices(fin[self.finished_valid])
        self.in_progress = self.status == A.STATUS_IN_PROGRESS
        self.completed = (self.status == A.STATUS_COMPLETED) & self.finished_valid
        self.cut_off = (self.status == A.STATUS_WITHDRAWN) | (self.status == A.STATUS_TERMINATED)

    # ------------------------------------------------------------------ links to cases
    def resolve(
        self,
        *,
        steps: bool = False,
        suspension_steps: bool = False,
        complaints: bool = False,
        extra: tuple[pd.Series, pd.Series] | None = None,
    ) -> np.ndarray | None:
        """Find the cases behind steps / complaints / other (source_system, case_id) keys in one pass
        over the case table; results are kept for later use. Returns the rows for ``extra``."""
        cases, queries, names = self.data.cases, [], []
        if steps and "step_case" not in self.__dict__:
            queries.append((self.data.steps["source_system"], self.data.steps["case_id"]))
            names.append("step_case")
        elif suspension_steps and "step_case" not in self.__dict__ and "_suspension_case" not in self.__dict__:
            mask = self.suspension_mask
            queries.append((self.data.steps["source_system"][mask], self.data.steps["case_id"][mask]))
            names.append("_suspension_case")
        if complaints and "complaint_case" not in self.__dict__:
            c = self.data.complaints
            queries.append((c["case_source_system"], c["case_id"]))
            names.append("complaint_case")
        if extra is not None:
            queries.append(extra)
            names.append("")
        found = A.lookup_pairs_many(queries, cases["source_system"], cases["case_id"]) if queries else []
        out = None
        for name, rows in zip(names, found, strict=True):
            if name:
                self.__dict__[name] = rows
            else:
                out = rows
        return out

    @cached_property
    def step_case(self) -> np.ndarray:
        """Case index of every step (-1 for a step whose case is not loaded)."""
        self.resolve(steps=True)
        return self.__dict__["step_case"]

    @cached_property
    def complaint_case(self) -> np.ndarray:
        self.resolve(complaints=True)
        return self.__dict__["complaint_case"]

    @cached_property
    def step_code(self) -> np.ndarray:
        return A.codes(self.data.steps["step_code"], A.STEP_CODES)

    @cached_property
    def suspension_mask(self) -> np.ndarray:
        if "step_code" in self.__dict__:
            code = self.step_code
            return (code == _SUSPENDING[0]) | (code == _SUSPENDING[1])
        steps = self.data.steps
        if len(steps) == 0:
            return np.zeros(0, dtype=bool)
        return pc.fill_null(
            pc.is_in(A.text(steps["step_code"]), value_set=A.text(pd.Series(["TB", "BZ"]))), False
        ).to_numpy(zero_copy_only=False)

    @cached_property
    def suspensions(self) -> Suspensions:
        steps = self.data.steps
        if len(steps) == 0 or self.n == 0:
            return Suspensions.empty()
        mask = self.suspension_mask
        if not mask.any():
            return Suspensions.empty()
        if "step_case" in self.__dict__:
            case = self.step_case[mask]
        else:
            if "_suspension_case" not in self.__dict__:
                self.resolve(suspension_steps=True)
            case = self.__dict__["_suspension_case"]
        cal = self.calendar
        start = A.epoch_days(steps["started_at"][mask], "steps.started_at")
        end = A.epoch_days(steps["finished_at"][mask], "steps.finished_at")
        keep = (case >= 0) & (start != A.NO_DAY)
        case, start, end = case[keep], start[keep], end[keep]
        end = np.where(end == A.NO_DAY, self.t + cal.origin, end)  # an open step suspends up to the as-of date
        start = np.clip(start - cal.origin, 0, cal.size - 1)
        end = np.clip(end - cal.origin, 0, cal.size - 1)
        return Suspensions.build(case, start, end, self.received)

    @cached_property
    def ordered_steps(self) -> OrderedSteps:
        """The steps of loaded cases in (case, step_no) order."""
        return OrderedSteps.build(self)

    # ------------------------------------------------------------------ deadlines
    @cached_property
    def counter(self) -> DayCounter:
        return DayCounter(self.calendar, self.cd, self.received, self.suspensions)

    @cached_property
    def deadline(self) -> np.ndarray:
        return self.counter.nth(self.limit)

    @cached_property
    def deadline_provisional(self) -> np.ndarray:
        return self.counter.provisional(self.received, self.deadline)

    @cached_property
    def elapsed_at_finish(self) -> np.ndarray:
        return self.counter.elapsed(self.finished, self.finished_valid)

    @cached_property
    def finish_provisional(self) -> np.ndarray:
        return self.counter.provisional(self.received, self.finished, self.finished_valid)

    def open_on(self, day: np.ndarray) -> np.ndarray:
        """§5.4: IN_PROGRESS at T, or finished on or after ``day``."""
        return self.in_progress | (self.finished_valid & (self.finished >= day))


@dataclass(frozen=True, eq=False)
class OrderedSteps:
    """Steps of loaded cases sorted by case then step_no; ``row`` is the position in ``data.steps``."""

    row: np.ndarray
    case: np.ndarray
    code: np.ndarray
    first: np.ndarray  # True on the first step of each case

    @classmethod
    def build(cls, p: Prepared) -> OrderedSteps:
        case = p.step_case
        row = np.flatnonzero(case >= 0)
        case = case[row]
        step_no = A.int_column(p.data.steps["step_no"], "steps.step_no")[row]
        if case.size:
            top = int(step_no.max(initial=0)) + 1
            if 0 <= step_no.min() and top < 2**31:
                key = case * top + step_no
                # warehouse extracts usually arrive in this order already: skip the sort then
                if not np.all(key[1:] >= key[:-1]):
                    order = np.argsort(key, kind="stable")
                    row, case = row[order], case[order]
            else:
                order = np.lexsort((step_no, case))
                row, case = row[order], case[order]
        first = np.ones(case.size, dtype=bool)
        first[1:] = case[1:] != case[:-1]
        return cls(row=row, case=case, code=p.step_code[row], first=first)


class PreparedComplaints:
    """Complaint arrays: received/closed days, due day, department and the power type of the case."""

    def __init__(self, data: SupervisionData, prepared: Prepared) -> None:
        cal = prepared.calendar
        c = data.complaints
        self.n = n = len(c)
        self.received = cal.indices(A.epoch_days(c["received_at"], "complaints.received_at"))
        closed = A.epoch_days(c["closed_at"], "complaints.closed_at")
        self.closed_valid = closed != A.NO_DAY
        self.closed = np.where(self.closed_valid, closed - cal.origin, -1)
        self.open = A.codes(c["status"], ("OPEN", "CLOSED")) == 0
        self.substantiated = (
            pc.fill_null(
                pc.is_in(A.text(c["result"]), value_set=A.text(pd.Series(["SUBSTANTIATED", "PARTIAL"]))), False
            ).to_numpy(zero_copy_only=False)
            if n
            else np.zeros(0, dtype=bool)
        )
        self.dept = A.lookup(c["dept_code"], data.departments["dept_code"])
        self.case = prepared.complaint_case
        has_case = self.case >= 0
        self.power_type = np.where(
            has_case, prepared.power_type[np.where(has_case, self.case, 0)] if prepared.n else -1, -1
        )
        counter = DayCounter(cal, np.zeros(n, dtype=bool), self.received)
        k = np.full(n, prepared.settings.complaint_limit_workdays, dtype=np.int64)
        self.due = counter.nth(k)
        self.due_provisional = counter.provisional(self.received, self.due)
        # whether a closure was on time is settled by the days up to the closure
        self.closure_provisional = counter.provisional(self.received, self.closed, self.closed_valid)
