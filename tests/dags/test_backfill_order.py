"""A backfill recomputes one business day after the other: a backfill day whose previous run has
not succeeded stops at its first task, without retry (`tasks.backfilled_in_order`).

    airflow backfill create --dag-id ar_collections_daily --from-date 2025-06-01 --to-date 2025-06-30
    (Airflow's default: up to 10 days at once) -> the run of Tue 3 June starts while Mon 2 June's
    is still running: 3 June stops, naming 2 June and `--max-active-runs 1`.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pendulum
import pytest
from receivables_timetables import BusinessDayTimetable

from receivables.pipeline.tasks import backfilled_in_order

DAG = SimpleNamespace(timetable=BusinessDayTimetable())
MONDAY_2_JUNE = DAG.timetable.data_interval_of(dt.date(2025, 6, 2)).start


def context(run_type: str, previous_state: str | None) -> dict:
    previous = None if previous_state is None else SimpleNamespace(
        state=previous_state, data_interval_start=pendulum.instance(MONDAY_2_JUNE))
    return {"dag": DAG, "dag_run": SimpleNamespace(run_type=run_type),
            "ti": SimpleNamespace(get_previous_dagrun=lambda state=None: previous)}


@pytest.mark.parametrize("state", ["running", "queued", "failed"])
def test_a_backfill_day_whose_previous_day_has_not_succeeded_stops_without_retry(state):
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException) as stopped:
        backfilled_in_order(context("backfill", state))
    assert f"previous business day 2025-06-02 is {state}" in str(stopped.value)
    assert "--max-active-runs 1" in str(stopped.value)


def test_a_backfill_day_after_a_day_that_succeeded_or_at_the_start_of_history_goes_on():
    backfilled_in_order(context("backfill", "success"))
    backfilled_in_order(context("backfill", None))


@pytest.mark.parametrize("run_type", ["scheduled", "manual"])
def test_runs_that_are_not_backfills_never_wait_for_the_previous_day(run_type):
    backfilled_in_order(context(run_type, "failed"))
