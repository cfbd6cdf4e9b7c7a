"""The business-day timetable: one DAG run per business day, registered as an Airflow plugin.

A DAG scheduled with ``BusinessDayTimetable(country="FR", timezone="Europe/Paris",
run_at=time(6, 0))`` runs, in the week of 14 July 2025, on Tue 15, Wed 16, Thu 17 and
Fri 18 (Monday 14 July is a public holiday). The run for business day D = 2025-07-15 has

* data interval [D 00:00, D+1 00:00) Europe/Paris, given to Airflow in UTC:
  2025-07-14T22:00Z -> 2025-07-15T22:00Z (the logical date is the interval start);
* ``run_after`` D 06:00 Europe/Paris (2025-07-15T04:00Z): the run works on business day D
  the morning of D.

The business date a run works on (``as_of``) is the interval start read in the timetable's
timezone: ``BusinessDayTimetable.business_date(data_interval_start)`` - never
``data_interval_start.date()``, which is the UTC date, i.e. the day before in Paris.

Bounds (``start_date``, ``end_date``, backfill ``--from-date/--to-date``) are compared with
the interval start, as for Airflow's own timetables: write them as local midnights
(``pendulum.datetime(2025, 6, 2, tz="Europe/Paris")``). A UTC midnight is 02:00 in Paris,
after that day's interval start, so as a lower bound it starts on the next business day.

Airflow only deserializes custom timetables registered by a plugin, keyed by
``receivables_timetables.BusinessDayTimetable`` (this file's name in the plugins folder):
``BusinessDayTimetablePlugin`` below does that for the dag-processor, scheduler and API server.

Parsing cost: this module is imported with every DAG file that uses it, so its top level
imports only what Airflow's DAG parsing has loaded anyway (``airflow.timetables.base``,
``airflow.plugins_manager``, ``pendulum``) and ``receivables.calendar``, which defers the
``holidays`` package to the first business-day question (asked by the scheduler, not by
parsing). The constructor resolves the timezone name (pendulum's cached zoneinfo) and
nothing else.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import pendulum
from airflow.plugins_manager import AirflowPlugin
from airflow.timetables.base import DagRunInfo, DataInterval, Timetable

from receivables import calendar

if TYPE_CHECKING:
    from pendulum import DateTime

    from airflow.timetables.base import TimeRestriction

__all__ = ["BusinessDayTimetable", "BusinessDayTimetablePlugin"]

_ONE_DAY = datetime.timedelta(days=1)


def _utcnow() -> DateTime:
    # One seam for the clock, so tests can pin "now" for catchup=False.
    return pendulum.now("UTC")


def _timezone_name(timezone: str | datetime.tzinfo) -> str:
    if isinstance(timezone, str):
        return timezone
    # pendulum.Timezone has .name, zoneinfo.ZoneInfo has .key; fixed offsets have neither
    # and are refused: a business day follows a place's civil time, DST included.
    name = getattr(timezone, "name", None) or getattr(timezone, "key", None)
    if not isinstance(name, str):
        raise ValueError(f"timezone must be an IANA name such as 'Europe/Paris', got {timezone!r}")
    return name


def _parse_run_at(run_at: datetime.time | str) -> datetime.time:
    if isinstance(run_at, str):
        run_at = datetime.time.fromisoformat(run_at)
    if not isinstance(run_at, datetime.time) or run_at.tzinfo is not None:
        raise ValueError(f"run_at must be a naive local time such as time(6, 0), got {run_at!r}")
    return run_at


class BusinessDayTimetable(Timetable):
    """
    One run per business day D of ``country``, on interval [D 00:00, D+1 00:00) local time.

    :param country: ISO 3166 alpha-2 code understood by the ``holidays`` package.
    :param timezone: IANA timezone name the business days live in.
    :param run_at: local time of day D at which D's run may start.
    :param subdiv: optional subdivision of ``country`` (e.g. "57" for Moselle); national
        holidays only when omitted.
    """

    def __init__(
        self,
        country: str = "FR",
        timezone: str | datetime.tzinfo = "Europe/Paris",
        run_at: datetime.time | str = datetime.time(6, 0),
        *,
        subdiv: str | None = None,
    ) -> None:
        self.country = country.upper()
        self.subdiv = subdiv
        self.timezone = _timezone_name(timezone)
        self.run_at = _parse_run_at(run_at)
        # Raises on an unknown name, so a typo is a DAG import error, not a scheduler error.
        self._tz = pendulum.timezone(self.timezone)
        where = self.country + (f"-{self.subdiv}" if self.subdiv else "")
        self.description = (
            f"Every {where} business day (Mon-Fri except public holidays), "
            f"at {self.run_at.isoformat('minutes')} {self.timezone}; "
            f"data interval: that day, midnight to midnight {self.timezone}"
        )

    # -- Airflow Timetable API ---------------------------------------------------------------

    @property
    def summary(self) -> str:
        where = self.country + (f"-{self.subdiv}" if self.subdiv else "")
        return f"business days {where} {self.run_at.isoformat('minutes')} {self.timezone}"

    def validate(self) -> None:
        # Cheap checks only: this runs on every parse of the DAG file, and asking `holidays`
        # here would add ~150 ms to each parse. So a well-formed but unknown country ("XX")
        # passes; receivables.calendar's ValueError naming it then shows in the
        # dag-processor/scheduler log ("Failed to fetch run info") and the DAG gets no run.
        from airflow.exceptions import AirflowTimetableInvalid

        if len(self.country) != 2 or not self.country.isalpha():
            raise AirflowTimetableInvalid(
                f"country must be an ISO 3166 alpha-2 code such as 'FR', got {self.country!r}"
            )

    def serialize(self) -> dict[str, Any]:
        return {
            "country": self.country,
            "subdiv": self.subdiv,
            "timezone": self.timezone,
            "run_at": self.run_at.isoformat(),
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> BusinessDayTimetable:
        return cls(
            country=data["country"],
            timezone=data["timezone"],
            run_at=data["run_at"],
            subdiv=data.get("subdiv"),
        )

    def infer_manual_data_interval(self, *, run_after: DateTime) -> DataInterval:
        """A manual run on local date X works on X if a business day, else on the one before."""
        return self.data_interval_of(self._on_or_before(self._local_date(run_after)))

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        # Lowest business day allowed by start_date and, with catchup=False, by the clock.
        floor: datetime.date | None = None
        if restriction.earliest is not None:
            floor = self._first_starting_at_or_after(restriction.earliest)
        if not restriction.catchup:
            latest_due = self._latest_due(_utcnow())
            floor = latest_due if floor is None else max(floor, latest_due)

        if last_automated_data_interval is None:
            if floor is None:
                return None  # no start_date and catchup=True: nowhere to start from
            day = floor
        else:
            last_day = self._local_date(last_automated_data_interval.start)
            day = calendar.next_business_day(last_day, self.country, subdiv=self.subdiv)
            if floor is not None:
                day = max(day, floor)

        interval = self.data_interval_of(day)
        if restriction.latest is not None and interval.start > restriction.latest:
            return None
        return DagRunInfo(
            run_after=self.run_after_of(day),
            data_interval=interval,
            partition_date=None,
            partition_key=None,
        )

    # -- business dates <-> instants ----------------------------------------------------------

    def business_date(self, data_interval_start: datetime.datetime) -> datetime.date:
        """The business date (``as_of``) a run with this data interval start works on."""
        return self._local_date(data_interval_start)

    def data_interval_of(self, day: datetime.date) -> DataInterval:
        """[day 00:00, day+1 00:00) in the timetable's timezone, as UTC instants."""
        following = day + _ONE_DAY
        return DataInterval(
            start=self._local(day, datetime.time.min),
            end=self._local(following, datetime.time.min),
        )

    def run_after_of(self, day: datetime.date) -> DateTime:
        """The instant business day ``day``'s run may start: ``run_at`` on ``day``, local time."""
        return self._local(day, self.run_at)

    def _local(self, day: datetime.date, at: datetime.time) -> DateTime:
        # pendulum applies the zone's DST rules (an interval is 23 or 25 hours long on change days).
        local = pendulum.datetime(
            day.year, day.month, day.day, at.hour, at.minute, at.second, at.microsecond, tz=self._tz
        )
        return local.in_timezone("UTC")

    def _local_date(self, instant: datetime.datetime) -> datetime.date:
        if instant.tzinfo is None:  # Airflow's convention for naive datetimes
            instant = instant.replace(tzinfo=datetime.timezone.utc)
        local = instant.astimezone(self._tz)
        return datetime.date(local.year, local.month, local.day)

    def _on_or_before(self, day: datetime.date) -> datetime.date:
        if calendar.is_business_day(day, self.country, subdiv=self.subdiv):
            return day
        return calendar.previous_business_day(day, self.country, subdiv=self.subdiv)

    def _on_or_after(self, day: datetime.date) -> datetime.date:
        if calendar.is_business_day(day, self.country, subdiv=self.subdiv):
            return day
        return calendar.next_business_day(day, self.country, subdiv=self.subdiv)

    def _first_starting_at_or_after(self, earliest: datetime.datetime) -> datetime.date:
        # The scheduler refuses to queue tasks whose logical date (the interval start) is
        # before the DAG's start_date, so a day whose midnight precedes `earliest` is skipped.
        day = self._local_date(earliest)
        if self.data_interval_of(day).start < earliest:
            day += _ONE_DAY
        return self._on_or_after(day)

    def _latest_due(self, now: datetime.datetime) -> datetime.date:
        # The most recent business day whose run time has come (today once run_at passed).
        day = self._local_date(now)
        if self.run_after_of(day) > now:
            day -= _ONE_DAY
        return self._on_or_before(day)

    # -- value semantics (DAG change detection, tests) -------------------------------------------

    def __eq__(self, other: object) -> bool:
        # Compared by class name, not identity: Airflow's plugin loader executes this file
        # again as a fresh module, so a DAG file's import and the registered plugin can hold
        # two distinct BusinessDayTimetable classes.
        mine, theirs = type(self), type(other)
        if (theirs.__module__, theirs.__qualname__) != (mine.__module__, mine.__qualname__):
            return NotImplemented
        return self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash(tuple(self.serialize().items()))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(country={self.country!r}, timezone={self.timezone!r}, "
            f"run_at={self.run_at!r}, subdiv={self.subdiv!r})"
        )


class BusinessDayTimetablePlugin(AirflowPlugin):
    """Registers the timetable so serialized DAGs using it can be deserialized."""

    name = "receivables_timetables"
    timetables = [BusinessDayTimetable]
