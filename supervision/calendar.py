"""The working-day calendar (§5.1): official years, provisional years, and vectorised day arrays.

Sources, per year, in order of precedence:

1. the project office's override file (``supervision.override``), where the official schedule of a
   new year is entered as soon as it is published;
2. the ``chinesecalendar`` package (official schedules it carries), cross-checked day by day with
   the ``holidays`` package for every year both carry officially;
3. the ``holidays`` package alone, for a year whose official schedule it carries and
   ``chinesecalendar`` does not;
4. otherwise the year is **provisional**: weekends plus the statutory holidays computed by rule
   (``holidays``, including the weekday given in lieu of a holiday falling on a weekend, which the
   regulation itself prescribes), and no make-up working days.

Local closures from the override file are never workdays, whatever the year.
Days are handled as *epoch days* (days since 1970-01-01) in the vectorised helpers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from supervision.errors import CalendarError, CalendarRangeError
from supervision.override import CalendarOverride, Closure, load_override

EPOCH = dt.date(1970, 1, 1)
# Far enough back for any case the hub holds; older spans work too (see load()).
DEFAULT_FIRST_YEAR = 2020
#: How far past the last official year the calendar reaches by default (provisional years).
DEFAULT_YEARS_AHEAD = 10

SOURCE_OVERRIDE = "override"
SOURCE_CHINESE_CALENDAR = "chinese_calendar"
SOURCE_HOLIDAYS = "holidays"
SOURCE_PROVISIONAL = "provisional"


def epoch_day(d: dt.date) -> int:
    return (d - EPOCH).days


def from_epoch_day(n: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(n))


@dataclass(frozen=True, eq=False)
class WorkCalendar:
    """Workdays per the State Council schedule plus the project office's override.

    Build it with :meth:`load`. The day arrays are read-only and cover ``first_day..last_day``.
    """

    first_day: dt.date
    last_day: dt.date
    #: year -> one of ``override``, ``chinese_calendar``, ``holidays``, ``provisional``
    sources: Mapping[int, str]
    #: year -> official notice entered in the override file
    notices: Mapping[int, str]
    closures: tuple[Closure, ...]
    #: every year some source covers officially, inside the span or not
    known_official: frozenset[int]
    #: year -> the days chinesecalendar and holidays disagree on; such a year is provisional until
    #: the override file enters its schedule
    disputed: Mapping[int, tuple[dt.date, ...]]
    _workday: np.ndarray = field(repr=False)
    _provisional: np.ndarray = field(repr=False)
    _cum_workday: np.ndarray = field(repr=False)
    _cum_provisional: np.ndarray = field(repr=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(
        cls,
        override_file: Path | None = None,
        *,
        first_year: int = DEFAULT_FIRST_YEAR,
        last_year: int | None = None,
        covering: Iterable[dt.date] = (),
    ) -> WorkCalendar:
        """Build the calendar; raise CalendarOverrideError (all problems listed) on a bad override file.
        A year the two packages disagree on, and the override does not settle, is provisional and
        listed in ``disputed``.

        The span reaches back to the earliest of ``covering`` and on to the year after the latest
        (a deadline counted from it may end in the next year): one record dated outside the default
        span must not stop supervision for every other one.
        """
        override = load_override(Path(override_file)) if override_file is not None else CalendarOverride()
        dates = list(covering)
        if dates:
            first_year = min(first_year, min(dates).year)
            last_year = max(last_year or _default_last_year(override, first_year), max(dates).year + 1)
        return cls.from_override(override, first_year=first_year, last_year=last_year)

    @classmethod
    def from_override(
        cls,
        override: CalendarOverride,
        *,
        first_year: int = DEFAULT_FIRST_YEAR,
        last_year: int | None = None,
    ) -> WorkCalendar:
        cc_years, cc_holidays, cc_workdays = _chinese_calendar_data()
        hol_years, hol_makeup = _holidays_official_data()
        if last_year is None:
            last_year = _default_last_year(override, first_year)
        if last_year < first_year:
            raise CalendarError(f"calendar span invalid: last_year {last_year} < first_year {first_year}")
        first_day, last_day = dt.date(first_year, 1, 1), dt.date(last_year, 12, 31)
        n = (last_day - first_day).days + 1
        origin = epoch_day(first_day)
        days = np.arange(n, dtype=np.int64) + origin
        # 1970-01-01 was a Thursday: weekday (Mon=0) = (epoch_day + 3) % 7
        workday = ((days + 3) % 7) < 5
        years = range(first_year, last_year + 1)
        year_of = days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970

        sources: dict[int, str] = {}
        for y in years:
            if y in override.years:
                sources[y] = SOURCE_OVERRIDE
            elif y in cc_years:
                sources[y] = SOURCE_CHINESE_CALENDAR
            elif y in hol_years:
                sources[y] = SOURCE_HOLIDAYS
            else:
                sources[y] = SOURCE_PROVISIONAL

        def set_days(ds: Iterable[dt.date], value: bool) -> None:
            idx = [epoch_day(d) - origin for d in ds]
            idx = [i for i in idx if 0 <= i < n]
            if idx:
                workday[np.asarray(idx)] = value

        import holidays as holidays_pkg

        rule_years = [y for y in years if sources[y] in (SOURCE_HOLIDAYS, SOURCE_PROVISIONAL)]
        if rule_years:
            table = holidays_pkg.China(years=rule_years)
            set_days((d for d in table if sources.get(d.year) in (SOURCE_HOLIDAYS, SOURCE_PROVISIONAL)), False)
            set_days((d for d in hol_makeup if sources.get(d.year) == SOURCE_HOLIDAYS), True)

        cc_in_span = [y for y in years if sources[y] == SOURCE_CHINESE_CALENDAR]
        set_days((d for d in cc_holidays if sources.get(d.year) == SOURCE_CHINESE_CALENDAR), False)
        set_days((d for d in cc_workdays if sources.get(d.year) == SOURCE_CHINESE_CALENDAR), True)

        # Cross-check: every year both packages carry officially must agree day by day. A year they
        # disagree on is official for neither: it is counted as provisional (and marked so), never
        # settled by picking one package, until the override file enters its schedule.
        disputed: dict[int, tuple[dt.date, ...]] = {}
        both = [y for y in cc_in_span if y in hol_years]
        if both:
            table = holidays_pkg.China(years=both)
            for y in both:
                start = epoch_day(dt.date(y, 1, 1)) - origin
                stop = epoch_day(dt.date(y, 12, 31)) - origin + 1
                days_off = [
                    d
                    for d in (from_epoch_day(origin + i) for i in range(start, stop))
                    if bool(workday[epoch_day(d) - origin]) != (d in hol_makeup or (d.weekday() < 5 and d not in table))
                ]
                if days_off:
                    disputed[y] = tuple(days_off)
                    sources[y] = SOURCE_PROVISIONAL
                    workday[start:stop] = ((days[start:stop] + 3) % 7) < 5
                    set_days((d for d in holidays_pkg.China(years=[y]) if d.year == y), False)

        # Override years: weekdays are workdays unless listed as holidays; listed make-up days work.
        for y, schedule in override.years.items():
            if not first_year <= y <= last_year:
                continue
            start = epoch_day(dt.date(y, 1, 1)) - origin
            stop = epoch_day(dt.date(y, 12, 31)) - origin + 1
            workday[start:stop] = ((days[start:stop] + 3) % 7) < 5
            set_days(schedule.holidays, False)
            set_days(schedule.workdays, True)
        set_days((c.day for c in override.closures), False)

        provisional_years = np.array(sorted(y for y, s in sources.items() if s == SOURCE_PROVISIONAL), dtype=np.int64)
        provisional = np.isin(year_of, provisional_years)
        cum_workday = np.cumsum(workday, dtype=np.int64)
        cum_provisional = np.cumsum(provisional, dtype=np.int64)
        for arr in (workday, provisional, cum_workday, cum_provisional):
            arr.flags.writeable = False
        return cls(
            first_day=first_day,
            last_day=last_day,
            sources=MappingProxyType(sources),
            notices=MappingProxyType({y: s.notice for y, s in override.years.items()}),
            closures=override.closures,
            known_official=frozenset({*cc_years, *hol_years, *override.years} - set(disputed)),
            disputed=MappingProxyType(disputed),
            _workday=workday,
            _provisional=provisional,
            _cum_workday=cum_workday,
            _cum_provisional=cum_provisional,
        )

    # ------------------------------------------------------------------ scalar questions
    def is_workday(self, d: dt.date) -> bool:
        return bool(self._workday[self._index(d)])

    def is_provisional(self, d: dt.date) -> bool:
        """True when ``d``'s year is covered neither by the packages nor by the override."""
        source = self.sources.get(d.year)
        if source is None:  # outside the loaded span
            return d.year not in self.known_official
        return source == SOURCE_PROVISIONAL

    def provisional_years(self, start: int | None = None, end: int | None = None) -> tuple[int, ...]:
        """Years of the span (optionally restricted to ``start..end``) that are provisional."""
        lo = self.first_day.year if start is None else start
        hi = self.last_day.year if end is None else end
        return tuple(y for y, s in sorted(self.sources.items()) if s == SOURCE_PROVISIONAL and lo <= y <= hi)

    def official_years(self) -> tuple[int, ...]:
        return tuple(y for y, s in sorted(self.sources.items()) if s != SOURCE_PROVISIONAL)

    def source_of(self, year: int) -> str:
        return self.sources.get(year, SOURCE_PROVISIONAL)

    def add_workdays(self, d: dt.date, k: int) -> dt.date:
        """The k-th workday strictly after ``d`` (``d`` itself for k = 0)."""
        if k <= 0:
            return d
        i = self._index(d)
        j = int(np.searchsorted(self._cum_workday, self._cum_workday[i] + k, side="left"))
        if j >= len(self._cum_workday):
            raise CalendarRangeError(self._range_message(f"{k} workdays after {d.isoformat()}"))
        return from_epoch_day(self.origin + j)

    # ------------------------------------------------------------------ vectorised helpers
    @property
    def origin(self) -> int:
        """Epoch day of ``first_day`` (index 0 of every day array)."""
        return epoch_day(self.first_day)

    @property
    def size(self) -> int:
        return len(self._workday)

    @property
    def workday_flags(self) -> np.ndarray:
        """Read-only bool array, one per day of the span."""
        return self._workday

    @property
    def provisional_flags(self) -> np.ndarray:
        return self._provisional

    @property
    def cum_workdays(self) -> np.ndarray:
        """Read-only int64 array: workdays in ``first_day..that day`` (inclusive)."""
        return self._cum_workday

    @property
    def cum_provisional(self) -> np.ndarray:
        return self._cum_provisional

    def workday_index(self, start: dt.date, end: dt.date) -> np.ndarray:
        """Workday-index array over ``start..end``: element i counts the workdays in ``start..start+i``."""
        i, j = self._index(start), self._index(end)
        base = self._cum_workday[i - 1] if i > 0 else 0
        return self._cum_workday[i : j + 1] - base

    def indices(self, epoch_days: np.ndarray) -> np.ndarray:
        """Epoch days -> array indices, raising CalendarRangeError when any day is outside the span."""
        idx = np.asarray(epoch_days, dtype=np.int64) - self.origin
        if idx.size and (idx.min() < 0 or idx.max() >= self.size):
            bad = idx[(idx < 0) | (idx >= self.size)][0] + self.origin
            raise CalendarRangeError(self._range_message(from_epoch_day(int(bad)).isoformat()))
        return idx

    # ------------------------------------------------------------------ internals
    def _index(self, d: dt.date) -> int:
        i = epoch_day(d) - self.origin
        if not 0 <= i < self.size:
            raise CalendarRangeError(self._range_message(d.isoformat()))
        return i

    def _range_message(self, what: str) -> str:
        return (
            f"日期超出日历范围 / {what} is outside the calendar span "
            f"{self.first_day.isoformat()}..{self.last_day.isoformat()}; load the calendar with a wider span"
        )


def _default_last_year(override: CalendarOverride, first_year: int) -> int:
    """The last official year any source knows, plus the provisional years ahead."""
    official_max = max(
        [*_chinese_calendar_data()[0], *_holidays_official_data()[0], *override.years], default=first_year
    )
    return max(official_max, first_year) + DEFAULT_YEARS_AHEAD


def _chinese_calendar_data() -> tuple[set[int], set[dt.date], set[dt.date]]:
    """Years chinesecalendar carries officially and its holiday / make-up day sets."""
    try:
        from chinese_calendar import constants
    except ImportError:  # pragma: no cover - dependency is pinned
        return set(), set(), set()
    hol = set(constants.holidays)
    work = set(constants.workdays)
    present = {d.year for d in hol | work}
    years = set(range(min(present), max(present) + 1)) if present else set()
    return years, hol, work


def _holidays_official_data() -> tuple[set[int], set[dt.date]]:
    """Years the holidays package carries official schedules for, and the make-up workdays it knows.

    The package computes any year by rule; only years up to the last one with an entered State Council
    notice (its table of moved days) count as official here.
    """
    try:
        from holidays.countries.china import ChinaStaticHolidays
    except ImportError:  # pragma: no cover
        return set(), set()
    table = getattr(ChinaStaticHolidays, "special_public_holidays", None)
    if not isinstance(table, Mapping) or not table:
        return set(), set()
    makeup: set[dt.date] = set()
    try:
        for year, entries in table.items():
            if entries and isinstance(entries[0], int):
                entries = (entries,)
            for entry in entries:
                if len(entry) >= 4 and isinstance(entry[2], int):
                    from_year = entry[4] if len(entry) >= 5 else year
                    makeup.add(dt.date(from_year, entry[2], entry[3]))
    except (TypeError, ValueError, IndexError):
        return set(), set()
    years = [y for y in table if isinstance(y, int)]
    return set(range(2001, max(years) + 1)), makeup
