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
    flow_pos: np.ndarray  # [item, step code] -> position in flow, -1 when absent
    flow_mask: np.ndarray  # bitmask of the step codes in the flow


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
    code_of = {c: i for i, c in enumerate(A.STEP_CODES)}
    for i, flow in enumerate(items["flow"].tolist()):
        for pos, code in enumerate(_flow_list(flow)):
            c = code_of.get(code)
            if c is not None and flow_pos[i, c] < 0:
                flow_pos[i, c] = pos
                flow_mask[i] |= 1 << c
    return Items(ptype, unit == 1, fee, has_fee, pmin, pmax, has_min & has_max, flow_pos, flow_mask)


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
        self.items = prepare_items(data.power_items)
        self.item = A.lookup(cases["power_code"], data.power_items["power_code"])
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

    # ------------------------------------------------------------------ steps
    @cached_property
    def step_case(self) -> np.ndarray:
        """Case index of every step (-1 for a step whose case is not loaded)."""
        s = self.data.steps
        return A.lookup_pairs(
            s["source_system"], s["case_id"], self.data.cases["source_system"], self.data.cases["case_id"]
        )

    @cached_property
    def step_code(self) -> np.ndarray:
        return A.codes(self.data.steps["step_code"], A.STEP_CODES)

    @cached_property
    def suspensions(self) -> Suspensions:
        steps = self.data.steps
        if len(steps) == 0 or self.n == 0:
            return Suspensions.empty()
        mask = pc.is_in(A.text(steps["step_code"]), value_set=A.text(pd.Series(["TB", "BZ"]))).to_numpy(
            zero_copy_only=False
        )
        if not mask.any():
            return Suspensions.empty()
        sub = steps[mask]
        if "step_case" in self.__dict__:
            case = self.step_case[mask]
        else:
            case = A.lookup_pairs(
                sub["source_system"], sub["case_id"], self.data.cases["source_system"], self.data.cases["case_id"]
            )
        cal = self.calendar
        start = A.epoch_days(sub["started_at"], "steps.started_at")
        end = A.epoch_days(sub["finished_at"], "steps.finished_at")
        keep = (case >= 0) & (start != A.NO_DAY)
        case, start, end = case[keep], start[keep], end[keep]
        end = np.where(end == A.NO_DAY, self.t + cal.origin, end)  # an open step suspends up to the as-of date
        start = np.clip(start - cal.origin, 0, cal.size - 1)
        end = np.clip(end - cal.origin, 0, cal.size - 1)
        return Suspensions.build(case, start, end, self.received)

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
        self.case = A.lookup_pairs(
            c["case_source_system"], c["case_id"], data.cases["source_system"], data.cases["case_id"]
        )
        has_case = self.case >= 0
        self.power_type = np.where(
            has_case, prepared.power_type[np.where(has_case, self.case, 0)] if prepared.n else -1, -1
        )
        counter = DayCounter(cal, np.zeros(n, dtype=bool), self.received)
        k = np.full(n, prepared.settings.complaint_limit_workdays, dtype=np.int64)
        self.due = counter.nth(k)
        self.due_provisional = counter.provisional(self.received, self.due)
