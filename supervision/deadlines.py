"""Deadlines and outcomes of cases (§5.2, §5.3)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from supervision import arrays as A
from supervision.calendar import WorkCalendar
from supervision.daycount import to_dates
from supervision.model import SupervisionData, SupervisionSettings
from supervision.prepared import Prepared

DEADLINE_COLUMNS = (
    "source_system",
    "case_id",
    "received_date",
    "deadline_date",
    "finish_date",
    "on_time",
    "early",
    "overdue",
    "provisional",
)


def case_deadlines(
    data: SupervisionData, as_of: dt.datetime, calendar: WorkCalendar, settings: SupervisionSettings
) -> pd.DataFrame:
    """One row per case (in the order of ``data.cases``): received, deadline and finish dates,
    the §5.3 outcome (NA unless COMPLETED) and whether any of it rests on a provisional calendar day."""
    return deadlines_from(Prepared(data, as_of, calendar, settings))


def outcomes(p: Prepared) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(on_time, early, overdue, provisional) per case; the first three are False unless completed."""
    comp = p.completed
    on_time = comp & (p.finished <= p.deadline)
    overdue = comp & (p.finished > p.deadline)
    early = comp & (p.elapsed_at_finish < p.limit)
    provisional = p.deadline_provisional | (comp & p.finish_provisional)
    return on_time, early, overdue, provisional


def deadlines_from(p: Prepared) -> pd.DataFrame:
    cases = p.data.cases
    on_time, early, overdue, provisional = outcomes(p)

    def outcome(values: np.ndarray) -> pd.arrays.BooleanArray:
        return pd.arrays.BooleanArray(values.copy(), ~p.completed)

    return A.frame(
        {
            "source_system": A.text(cases["source_system"]),
            "case_id": A.text(cases["case_id"]),
            "received_date": to_dates(p.received, p.calendar),
            "deadline_date": to_dates(p.deadline, p.calendar),
            "finish_date": to_dates(np.where(p.finished_valid, p.finished, 0), p.calendar, p.finished_valid),
            "on_time": outcome(on_time),
            "early": outcome(early),
            "overdue": outcome(overdue),
            "provisional": provisional,
        },
        DEADLINE_COLUMNS,
    )
