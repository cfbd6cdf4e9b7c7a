"""The business-day timetable, driven directly: no metadata DB, no scheduler."""

import json
import os
import shutil
import subprocess
import sys
from datetime import date, time
from pathlib import Path

import pendulum
import pytest
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction

import receivables_timetables
from receivables_timetables import BusinessDayTimetable, BusinessDayTimetablePlugin

PARIS = "Europe/Paris"
PLUGIN_FILE = Path(receivables_timetables.__file__)


def paris(*args) -> pendulum.DateTime:
    return pendulum.datetime(*args, tz=PARIS)


def utc(*args) -> pendulum.DateTime:
    return pendulum.datetime(*args, tz="UTC")


def run_day(info: DagRunInfo | None, timetable: BusinessDayTimetable | None = None) -> date | None:
    """The business day a scheduled run works on (its interval start, read in Paris)."""
    if info is None:
        return None
    return (timetable or BusinessDayTimetable()).business_date(info.data_interval.start)


def interval_of(day: date) -> DataInterval:
    return BusinessDayTimetable().data_interval_of(day)


def catching_up_from(start: pendulum.DateTime | None, end: pendulum.DateTime | None = None):
    return TimeRestriction(earliest=start, latest=end, catchup=True)


@pytest.fixture
def frozen_now(monkeypatch):
    """Pin the timetable's clock: frozen_now(paris(2025, 7, 16, 10))."""

    def freeze(now: pendulum.DateTime) -> None:
        monkeypatch.setattr(receivables_timetables, "_utcnow", lambda: now.in_timezone("UTC"))

    return freeze


# -- scheduled runs -----------------------------------------------------------------------------


def test_the_first_run_of_a_dag_starting_on_a_friday_is_that_friday():
    info = BusinessDayTimetable().next_dagrun_info(
        last_automated_data_interval=None, restriction=catching_up_from(paris(2025, 6, 27))
    )
    assert run_day(info) == date(2025, 6, 27)
    assert info.run_after == paris(2025, 6, 27, 6)


def test_the_run_after_a_friday_is_monday():
    info = BusinessDayTimetable().next_dagrun_info(
        last_automated_data_interval=interval_of(date(2025, 6, 27)),
        restriction=catching_up_from(paris(2025, 6, 2)),
    )
    assert run_day(info) == date(2025, 6, 30)
    assert info.run_after == paris(2025, 6, 30, 6)


def test_bastille_day_has_no_run():
    info = BusinessDayTimetable().next_dagrun_info(
        last_automated_data_interval=interval_of(date(2025, 7, 11)),
        restriction=catching_up_from(paris(2025, 6, 2)),
    )
    assert run_day(info) == date(2025, 7, 15)


def test_a_week_of_catching_up_runs_on_the_business_days_only():
    timetable = BusinessDayTimetable()
    restriction = catching_up_from(paris(2025, 7, 10), end=paris(2025, 7, 18))
    days, last = [], None
    while info := timetable.next_dagrun_info(
        last_automated_data_interval=last, restriction=restriction
    ):
        days.append(run_day(info))
        last = info.data_interval
    assert days == [date(2025, 7, d) for d in (10, 11, 15, 16, 17, 18)]


def test_the_interval_of_a_run_is_the_local_day():
    info = BusinessDayTimetable().next_dagrun_info(
        last_automated_data_interval=None, restriction=catching_up_from(paris(2025, 6, 30))
    )
    assert info.data_interval == DataInterval(start=utc(2025, 6, 29, 22), end=utc(2025, 6, 30, 22))
    assert info.run_after == utc(2025, 6, 30, 4)
    assert info.logical_date == utc(2025, 6, 29, 22)
    assert info.data_interval.start.tzinfo is not None
    assert info.run_after.utcoffset().total_seconds() == 0


def test_the_local_day_follows_daylight_saving_time():
    friday_before_the_change = interval_of(date(2025, 3, 28))
    monday_after_the_change = interval_of(date(2025, 3, 31))
    assert friday_before_the_change == DataInterval(utc(2025, 3, 27, 23), utc(2025, 3, 28, 23))
    assert monday_after_the_change == DataInterval(utc(2025, 3, 30, 22), utc(2025, 3, 31, 22))


def test_run_at_and_timezone_are_honoured():
    timetable = BusinessDayTimetable(country="US", timezone="America/New_York", run_at=time(7, 30))
    info = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=catching_up_from(pendulum.datetime(2025, 7, 4, tz="America/New_York")),
    )
    # 4 July is Independence Day, then comes a weekend.
    assert run_day(info, timetable) == date(2025, 7, 7)
    assert info.data_interval.start == utc(2025, 7, 7, 4)
    assert info.run_after == utc(2025, 7, 7, 11, 30)


def test_a_start_date_in_the_middle_of_a_friday_starts_on_monday():
    # Friday's run would have a logical date before start_date, which Airflow refuses to run.
    info = BusinessDayTimetable().next_dagrun_info(
        last_automated_data_interval=None, restriction=catching_up_from(paris(2025, 6, 27, 9))
    )
    assert run_day(info) == date(2025, 6, 30)


def test_a_start_date_on_a_holiday_starts_on_the_next_business_day():
    info = BusinessDayTimetable().next_dagrun_info(
        last_automated_data_interval=None, restriction=catching_up_from(paris(2025, 7, 14))
    )
    assert run_day(info) == date(2025, 7, 15)


def test_a_later_start_date_wins_over_the_day_after_the_last_run():
    info = BusinessDayTimetable().next_dagrun_info(
        last_automated_data_interval=interval_of(date(2025, 6, 27)),
        restriction=catching_up_from(paris(2025, 7, 7)),
    )
    assert run_day(info) == date(2025, 7, 7)


def test_without_a_start_date_a_catching_up_dag_is_not_scheduled():
    info = BusinessDayTimetable().next_dagrun_info(
        last_automated_data_interval=None, restriction=catching_up_from(None)
    )
    assert info is None


def test_no_run_is_scheduled_after_the_end_date():
    info = BusinessDayTimetable().next_dagrun_info(
        last_automated_data_interval=interval_of(date(2025, 7, 18)),
        restriction=catching_up_from(paris(2025, 6, 2), end=paris(2025, 7, 20)),
    )
    assert info is None


def test_the_end_date_business_day_itself_is_scheduled():
    info = BusinessDayTimetable().next_dagrun_info(
        last_automated_data_interval=interval_of(date(2025, 7, 17)),
        restriction=catching_up_from(paris(2025, 6, 2), end=paris(2025, 7, 18)),
    )
    assert run_day(info) == date(2025, 7, 18)


# -- catchup=False ------------------------------------------------------------------------------


def test_catchup_false_starts_at_the_latest_business_day(frozen_now):
    frozen_now(paris(2025, 7, 16, 10))  # a Wednesday, after 06:00
    info = BusinessDayTimetable().next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=paris(2025, 1, 2), latest=None, catchup=False),
    )
    assert run_day(info) == date(2025, 7, 16)


def test_catchup_false_before_run_at_starts_at_the_previous_business_day(frozen_now):
    # Tuesday 05:00: today's run is not due yet, and Monday was Bastille Day.
    frozen_now(paris(2025, 7, 15, 5))
    info = BusinessDayTimetable().next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=paris(2025, 1, 2), latest=None, catchup=False),
    )
    assert run_day(info) == date(2025, 7, 11)


def test_catchup_false_skips_the_days_missed_since_the_last_run(frozen_now):
    frozen_now(paris(2025, 7, 16, 10))
    info = BusinessDayTimetable().next_dagrun_info(
        last_automated_data_interval=interval_of(date(2025, 7, 1)),
        restriction=TimeRestriction(earliest=paris(2025, 1, 2), latest=None, catchup=False),
    )
    assert run_day(info) == date(2025, 7, 16)


def test_catchup_false_never_starts_before_the_start_date(frozen_now):
    frozen_now(paris(2025, 7, 16, 10))
    info = BusinessDayTimetable().next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=paris(2025, 8, 1), latest=None, catchup=False),
    )
    assert run_day(info) == date(2025, 8, 1)


def test_catchup_false_without_a_start_date_starts_at_the_latest_business_day(frozen_now):
    frozen_now(paris(2025, 7, 19, 10))  # a Saturday
    info = BusinessDayTimetable().next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=None, latest=None, catchup=False),
    )
    assert run_day(info) == date(2025, 7, 18)


# -- manual runs and the business date -----------------------------------------------------------


def test_a_manual_run_on_a_sunday_gets_fridays_interval():
    interval = BusinessDayTimetable().infer_manual_data_interval(run_after=paris(2025, 6, 29, 15))
    assert interval == interval_of(date(2025, 6, 27))
    assert interval == DataInterval(utc(2025, 6, 26, 22), utc(2025, 6, 27, 22))


def test_a_manual_run_on_a_business_day_gets_that_days_interval():
    # `airflow dags test ar_collections_daily 2025-06-30` passes UTC midnight.
    interval = BusinessDayTimetable().infer_manual_data_interval(run_after=utc(2025, 6, 30))
    assert interval == interval_of(date(2025, 6, 30))


def test_a_manual_run_on_bastille_day_gets_the_previous_friday():
    interval = BusinessDayTimetable().infer_manual_data_interval(run_after=paris(2025, 7, 14, 11))
    assert interval == interval_of(date(2025, 7, 11))


def test_the_business_date_is_the_local_date_of_the_interval_start():
    timetable = BusinessDayTimetable()
    start = timetable.data_interval_of(date(2025, 6, 30)).start
    assert start.date() == date(2025, 6, 29)  # the UTC date: the wrong as_of
    assert timetable.business_date(start) == date(2025, 6, 30)


# -- construction, serialization, registration ---------------------------------------------------


def test_serialize_deserialize_round_trip():
    timetable = BusinessDayTimetable(
        country="DE", timezone="Europe/Berlin", run_at=time(5, 45), subdiv="BY"
    )
    data = json.loads(json.dumps(timetable.serialize()))
    restored = BusinessDayTimetable.deserialize(data)
    assert restored == timetable
    assert (restored.country, restored.timezone, restored.run_at, restored.subdiv) == (
        "DE",
        "Europe/Berlin",
        time(5, 45),
        "BY",
    )


def test_the_defaults_are_france_paris_at_six():
    assert BusinessDayTimetable().serialize() == {
        "country": "FR",
        "subdiv": None,
        "timezone": "Europe/Paris",
        "run_at": "06:00:00",
    }


def test_summary_and_description_say_when_it_runs():
    timetable = BusinessDayTimetable()
    assert timetable.summary == "business days FR 06:00 Europe/Paris"
    assert "business day" in timetable.description and "06:00 Europe/Paris" in timetable.description


def test_a_timezone_object_is_stored_by_name():
    assert BusinessDayTimetable(timezone=pendulum.timezone(PARIS)).timezone == PARIS


def test_an_unknown_timezone_is_refused_when_the_dag_is_parsed():
    with pytest.raises(Exception, match="Europe/Pariss"):
        BusinessDayTimetable(timezone="Europe/Pariss")


def test_a_country_that_is_not_a_two_letter_code_fails_validation():
    from airflow.exceptions import AirflowTimetableInvalid

    with pytest.raises(AirflowTimetableInvalid, match="FRA"):
        BusinessDayTimetable(country="FRA").validate()


def test_the_plugin_registers_the_timetable():
    assert BusinessDayTimetablePlugin.timetables == [BusinessDayTimetable]
    assert BusinessDayTimetablePlugin.name == "receivables_timetables"


@pytest.fixture
def plugins_folder_with_only_the_timetable(tmp_path, monkeypatch):
    """Airflow's real plugin loading, pointed at a folder holding just this plugin file."""
    from airflow import plugins_manager, settings

    shutil.copy(PLUGIN_FILE, tmp_path / PLUGIN_FILE.name)
    monkeypatch.setattr(settings, "PLUGINS_FOLDER", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    # The loader re-executes the file as module `receivables_timetables`; keep ours afterwards.
    monkeypatch.setitem(sys.modules, "receivables_timetables", receivables_timetables)
    plugins_manager._get_plugins.cache_clear()
    plugins_manager.get_timetables_plugins.cache_clear()
    yield
    plugins_manager._get_plugins.cache_clear()
    plugins_manager.get_timetables_plugins.cache_clear()


def test_airflow_finds_the_timetable_through_the_plugin(plugins_folder_with_only_the_timetable):
    from airflow import plugins_manager

    registered = plugins_manager.get_timetables_plugins()
    assert list(registered) == ["receivables_timetables.BusinessDayTimetable"]


def test_a_dag_using_the_timetable_survives_dag_serialization(
    plugins_folder_with_only_the_timetable,
):
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    timetable = BusinessDayTimetable(run_at=time(6, 30), subdiv="57")
    with DAG("ar_timetable_probe", schedule=timetable, start_date=paris(2025, 6, 2)) as dag:
        EmptyOperator(task_id="noop")

    encoded = json.loads(json.dumps(DagSerialization.to_dict(dag)))
    restored = DagSerialization.from_dict(encoded).timetable

    assert encoded["dag"]["timetable"]["__type"] == "receivables_timetables.BusinessDayTimetable"
    assert restored == timetable
    assert restored.next_dagrun_info(
        last_automated_data_interval=None, restriction=catching_up_from(paris(2025, 12, 26))
    ).data_interval == interval_of(date(2025, 12, 29))  # 26 Dec is a holiday in Moselle


def test_importing_the_plugin_and_building_the_timetable_does_not_load_holiday_data():
    # A DAG file is parsed every few seconds: the `holidays` package (and its data)
    # must wait until the scheduler asks a business-day question.
    code = (
        "import sys, receivables_timetables as m; "
        "m.BusinessDayTimetable().validate(); m.BusinessDayTimetable().serialize(); "
        "assert 'holidays' not in sys.modules, 'holidays imported'"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=PLUGIN_FILE.parent,
        env={**os.environ, "PYTHONPATH": str(PLUGIN_FILE.parent)},
    )
