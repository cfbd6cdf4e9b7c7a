"""Business days: Monday to Friday, minus the country's public holidays.

A worked example (France, 2025):

>>> from datetime import date
>>> is_business_day(date(2025, 7, 14))        # Bastille Day, a Monday
False
>>> next_business_day(date(2025, 7, 11))      # Friday: skips the weekend and 14 July
datetime.date(2025, 7, 15)
>>> previous_business_day(date(2025, 4, 22))  # Tuesday after Easter Monday
datetime.date(2025, 4, 18)
>>> len(business_days_between(date(2025, 6, 1), date(2025, 6, 30)))  # 21 weekdays - Whit Monday
20
>>> is_business_day(date(2025, 12, 26))       # Saint Stephen's Day: only in Alsace-Moselle
True
>>> is_business_day(date(2025, 12, 26), subdiv="57")
False

Public holidays come from ``holidays.country_holidays(country, subdiv=subdiv)`` (its
default category: public holidays only). Without ``subdiv`` a country's national
calendar applies; for France that leaves out the Alsace-Moselle days (Good Friday,
26 December), which only subdivisions "57" and "6AE" observe.

The module is pure: no Airflow import, no clock, no environment. Holiday sets are cached
per (country, subdivision, year), so a scheduler asking about the same year again costs
a set lookup. ``holidays`` itself is imported on first use (about 70 ms), so importing this
module - which the business-day timetable does whenever a DAG file is parsed - stays cheap.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta

__all__ = [
    "business_days_between",
    "roll_forward",
    "is_business_day",
    "next_business_day",
    "previous_business_day",
]

_ONE_DAY = timedelta(days=1)
# No real calendar goes a month without a business day; the bound turns a broken
# calendar into an error instead of an endless loop inside the scheduler.
_MAX_SEARCH_DAYS = 31


@functools.lru_cache(maxsize=None)
def _public_holidays(country: str, subdiv: str | None, year: int) -> frozenset[date]:
    import holidays  # deferred: see module docstring

    try:
        calendar = holidays.country_holidays(country, subdiv=subdiv, years=year)
    except NotImplementedError as exc:  # what `holidays` raises for an unknown country/subdiv
        raise ValueError(
            f"no public holiday calendar for country {country!r}"
            + (f" subdivision {subdiv!r}" if subdiv else "")
            + f": {exc}"
        ) from exc
    return frozenset(calendar)


def _check_date(day: date) -> None:
    # A datetime is a date subclass but never equals a date, so a holiday lookup with one
    # would silently answer "not a holiday".
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"expected a datetime.date, got {type(day).__name__}: {day!r}")


def is_business_day(day: date, country: str = "FR", *, subdiv: str | None = None) -> bool:
    """Whether ``day`` is a weekday that is not a public holiday in ``country``."""
    _check_date(day)
    if day.weekday() >= 5:  # Saturday, Sunday
        return False
    return date(day.year, day.month, day.day) not in _public_holidays(
        country.upper(), subdiv, day.year
    )


def _step(day: date, step: timedelta, country: str, subdiv: str | None) -> date:
    _check_date(day)
    candidate = day
    for _ in range(_MAX_SEARCH_DAYS):
        candidate = candidate + step
        if is_business_day(candidate, country, subdiv=subdiv):
            return date(candidate.year, candidate.month, candidate.day)
    raise ValueError(
        f"no business day within {_MAX_SEARCH_DAYS} days of {day.isoformat()} "
        f"in {country!r} (subdivision {subdiv!r})"
    )


def next_business_day(day: date, country: str = "FR", *, subdiv: str | None = None) -> date:
    """The first business day strictly after ``day``."""
    return _step(day, _ONE_DAY, country, subdiv)


def previous_business_day(day: date, country: str = "FR", *, subdiv: str | None = None) -> date:
    """The last business day strictly before ``day``."""
    return _step(day, -_ONE_DAY, country, subdiv)


def business_days_between(
    start: date, end: date, country: str = "FR", *, subdiv: str | None = None
) -> list[date]:
    """The business days ``d`` with ``start <= d <= end``, in order (empty if ``end < start``)."""
    _check_date(start)
    _check_date(end)
    days = []
    day = date(start.year, start.month, start.day)
    while day <= end:
        if is_business_day(day, country, subdiv=subdiv):
            days.append(day)
        day += _ONE_DAY
    return days


def roll_forward(days, country: str = "FR", *, subdiv: str | None = None):  # noqa: ANN001, ANN201
    """A numpy datetime64[D] array with each day moved to the next business day (kept if one):
    vectorized (`numpy.busday_offset`) for whole columns of dates."""
    import numpy as np

    days = np.asarray(days, dtype="datetime64[D]")
    if days.size == 0:
        return days
    first, last = int(str(days.min())[:4]), int(str(days.max())[:4])
    holidays = sorted(d for year in range(first, last + 2) for d in _public_holidays(country, subdiv, year))
    return np.busday_offset(days, 0, roll="forward", holidays=np.array(holidays, dtype="datetime64[D]"))
