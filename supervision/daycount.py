"""Countable days of §5.2 for many cases at once: D(k) and elapsed(x), with per-case suspensions.

Every day is an index into the calendar's day arrays. A cumulative count of countable days turns
D(k) into a binary search and elapsed(x) into two lookups; a case's merged suspension intervals
``(start, end]`` remove their countable days. D(k) walks the intervals by rank (first, second, ...
interval of each case) so the loop runs as many times as the most-suspended case has intervals, each
pass vectorised over the cases concerned.

A D(k) after the span's last day is the index ``calendar.size``: later than every date the records
hold and the as-of date (the span covers those), so no event falls due on it and a case finished
within the span is on time; it has no date (``to_dates`` gives None) and counts as provisional.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from supervision.calendar import WorkCalendar, from_epoch_day


@dataclass(frozen=True, eq=False)
class Suspensions:
    """Merged suspension intervals ``(start, end]`` (calendar indices), sorted by case then start."""

    case: np.ndarray
    start: np.ndarray
    end: np.ndarray
    rank: np.ndarray

    @classmethod
    def empty(cls) -> Suspensions:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, z)

    @classmethod
    def build(cls, case: np.ndarray, start: np.ndarray, end: np.ndarray, received: np.ndarray) -> Suspensions:
        """Merge raw intervals per case. ``start`` is clipped to the case's received day; empty ones drop."""
        case = np.asarray(case, dtype=np.int64)
        start = np.maximum(np.asarray(start, dtype=np.int64), received[case]) if case.size else start
        end = np.asarray(end, dtype=np.int64)
        keep = end > start
        case, start, end = case[keep], start[keep], end[keep]
        if case.size == 0:
            return cls.empty()
        order = np.lexsort((start, case))
        case, start, end = case[order], start[order], end[order]
        # running max of end within each case (offset trick: cases are sorted, ends are small)
        span = int(end.max()) + 2
        runmax = np.maximum.accumulate(case * span + end) - case * span
        first = np.ones(case.size, dtype=bool)
        first[1:] = case[1:] != case[:-1]
        prev = np.empty_like(runmax)
        prev[0] = -1
        prev[1:] = runmax[:-1]
        new = first | (start > prev)  # touching intervals (s2 == e1) merge: (1,3] + (3,5] = (1,5]
        group = np.cumsum(new) - 1
        g_case = case[new]
        g_start = start[new]
        g_end = np.zeros(g_case.size, dtype=np.int64)
        np.maximum.at(g_end, group, runmax)
        g_first = np.ones(g_case.size, dtype=bool)
        g_first[1:] = g_case[1:] != g_case[:-1]
        idx = np.arange(g_case.size)
        rank = idx - np.maximum.accumulate(np.where(g_first, idx, 0))
        return cls(g_case, g_start, g_end, rank)


class DayCounter:
    """D(k) and elapsed(x) for a set of cases (or complaints) sharing one calendar."""

    def __init__(
        self,
        calendar: WorkCalendar,
        calendar_days: np.ndarray,
        received: np.ndarray,
        suspensions: Suspensions | None = None,
    ) -> None:
        """``calendar_days`` is True where a case counts calendar days (CD), False for workdays (WD);
        ``received`` are calendar indices of the received dates."""
        self.calendar = calendar
        size = calendar.size
        cum_wd = calendar.cum_workdays
        # One monotone array for both units: WD counts at [0, size), CD counts at [size, 2*size).
        self._cum = np.concatenate([cum_wd, cum_wd[-1] + np.arange(1, size + 1, dtype=np.int64)])
        self._size = size
        self._cd = np.asarray(calendar_days, dtype=bool)
        self._base = np.where(self._cd, size, 0).astype(np.int64)
        self.received = np.asarray(received, dtype=np.int64)
        self.suspensions = suspensions if suspensions is not None else Suspensions.empty()
        s = self.suspensions
        order = np.argsort(s.rank, kind="stable")
        self._by_rank = np.split(order, np.searchsorted(s.rank[order], np.arange(1, int(s.rank.max(initial=-1)) + 1)))
        if s.case.size == 0:
            self._by_rank = []

    def count_to(self, rows: np.ndarray | slice, day: np.ndarray) -> np.ndarray:
        """Cumulative countable days (unit of each case, no suspension) through ``day``."""
        return self._cum[self._base[rows] + day]

    def nth(self, k: np.ndarray) -> np.ndarray:
        """D(k) per case as calendar indices; D(0) is the received day."""
        k = np.asarray(k, dtype=np.int64)
        r = self.received
        target = self.count_to(slice(None), r) + k
        d = self._find(target, slice(None))
        zero = k <= 0
        d[zero] = r[zero]
        s = self.suspensions
        for rows in self._by_rank:
            ci = s.case[rows]
            hit = (~zero[ci]) & (d[ci] > s.start[rows])
            if not hit.any():
                continue
            rows, ci = rows[hit], ci[hit]
            target[ci] += self.count_to(ci, s.end[rows]) - self.count_to(ci, s.start[rows])
            d[ci] = self._find(target[ci], ci)
        return d

    def elapsed(self, x: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """Countable days in ``(received, x]`` per case (0 where ``x`` is not after received or not valid)."""
        x = np.asarray(x, dtype=np.int64)
        r = self.received
        ok = x > r
        if valid is not None:
            ok &= valid
        xs = np.where(ok, x, r)
        out = self.count_to(slice(None), xs) - self.count_to(slice(None), r)
        s = self.suspensions
        if s.case.size:
            xe = xs[s.case]
            upto = np.minimum(s.end, xe)
            lost = np.where(upto > s.start, self.count_to(s.case, upto) - self.count_to(s.case, s.start), 0)
            out -= np.bincount(s.case, weights=lost, minlength=len(r)).astype(np.int64)
        return np.where(ok, out, 0)

    def provisional(self, lo: np.ndarray, hi: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """True where a workday-counted case's window ``(lo, hi]`` touches a provisional day."""
        p = self.calendar.cum_provisional
        lo = np.asarray(lo, dtype=np.int64)
        hi = np.asarray(hi, dtype=np.int64)
        out = (~self._cd) & (hi > lo)
        if valid is not None:
            out &= valid
        beyond = hi >= self._size  # a day after the span lies in a year no source carries
        safe_hi = np.where(out & ~beyond, hi, lo)
        return out & (beyond | (p[safe_hi] - p[lo] > 0))

    def _find(self, target: np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
        """The day each case's cumulative count reaches ``target``; ``calendar.size`` (the first day
        after the span) where the span ends first."""
        pos = np.searchsorted(self._cum, target, side="left")
        return np.minimum(pos - self._base[rows], self._size)


def to_dates(indices: np.ndarray, calendar: WorkCalendar, valid: np.ndarray | None = None) -> np.ndarray:
    """Calendar indices -> object array of datetime.date (None where not valid, or after the span:
    a deadline the calendar cannot place, such as 3,000 workdays ahead, has no date to give)."""
    indices = np.asarray(indices, dtype=np.int64)
    days = (indices + calendar.origin).astype("datetime64[D]")
    out = days.astype(object)
    known = indices < calendar.size if valid is None else valid & (indices < calendar.size)
    if not known.all():
        out[~known] = None
    return out


__all__ = ["DayCounter", "Suspensions", "to_dates", "from_epoch_day"]
