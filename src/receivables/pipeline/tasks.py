"""Airflow task bodies of `ar_collections_daily`: the only module here that imports Airflow.

Each function takes the Airflow context, derives `as_of` from the run's data interval (never
from the clock), reads settings inside the task, and calls the Airflow-free body in `wave.py`.
Data problems that make a whole file unusable fail the task without retry
(`AirflowFailException`): retrying cannot fix a file.
"""

from __future__ import annotations

import datetime as dt
import logging
import os

from receivables.pipeline import wave
from receivables.pipeline.settings import sqlalchemy_url, wave_settings

log = logging.getLogger(__name__)


def as_of_from_context(context) -> dt.date:  # noqa: ANN001
    """The business date of the run: its data interval start in the timetable's timezone."""
    start = context["data_interval_start"]
    timetable = getattr(context["dag"], "timetable", None)
    if hasattr(timetable, "business_date"):
        return timetable.business_date(start)
    return start.date()


def _lookup(key: str) -> str | None:
    from airflow.sdk import Variable

    value = Variable.get(key, default=None)
    return value if value not in (None, "") else os.environ.get(key.upper())


def _connection_url(conn_id: str) -> str:
    from airflow.sdk import Connection

    connection = Connection.get(conn_id)
    return sqlalchemy_url((connection.extra_dejson or {}).get("url") or connection.get_uri())


def _warehouse_url() -> str | None:
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return _connection_url("receivables_warehouse")
    except AirflowNotFoundException:
        return None


def settings_from_airflow(params: dict | None = None) -> wave.WaveSettings:
    settings = wave_settings(_lookup, warehouse_url=_warehouse_url())
    # SQL sources name an Airflow connection; the credentials never leave it.
    settings.sql_sources = [{**spec, "url": _connection_url(spec["conn_id"])} if "conn_id" in spec else spec
                            for spec in settings.sql_sources]
    params = params or {}
    if params.get("ledger"):
        settings.ledger_paths = [p for p in str(params["ledger"]).split(":") if p]
    if params.get("customers"):
        settings.customers_file = params["customers"]
    if params.get("bank"):
        settings.bank_paths = [p for p in str(params["bank"]).split(":") if p]
    return settings


def _fail_on_bad_input(fn):  # noqa: ANN001, ANN202
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        from airflow.sdk.exceptions import AirflowFailException

        from receivables.bank.schema import StatementFormatError
        from receivables.ledger.schema import LedgerFormatError
        from receivables.scenarios.policy import PolicyError
        from receivables.scenarios.registers import RegisterError
        from receivables.validation.ledger import SystemicValidationError

        try:
            return fn(*args, **kwargs)
        except (LedgerFormatError, StatementFormatError, SystemicValidationError, PolicyError,
                RegisterError) as error:
            raise AirflowFailException(str(error)) from error
    wrapper.__name__ = fn.__name__
    return wrapper


@_fail_on_bad_input
def extract_ledger(context) -> dict:  # noqa: ANN001
    settings = settings_from_airflow(context.get("params"))
    return wave.extract_ledger(settings, as_of_from_context(context))


@_fail_on_bad_input
def validate_ledger(manifest: dict, context) -> dict:  # noqa: ANN001
    return wave.validate_ledger(settings_from_airflow(context.get("params")), manifest)


def load_ledger(manifest: dict, context) -> dict:  # noqa: ANN001
    settings = settings_from_airflow(context.get("params"))
    # When the import happened is bookkeeping, not business logic: the wall clock is right here
    # (a `dags test` run's start_date is its logical date, which would date the import wrongly).
    return wave.load_ledger(settings, manifest, now=dt.datetime.now(dt.timezone.utc))


def compute_aging(context) -> dict:  # noqa: ANN001
    settings = settings_from_airflow(context.get("params"))
    summary = wave.compute_aging(settings, as_of_from_context(context))
    log.info("aged balance of %s: %s", summary["as_of"], summary)
    return summary


@_fail_on_bad_input
def extract_bank_statements(context) -> dict:  # noqa: ANN001
    from receivables.pipeline import cash

    return cash.extract_bank_statements(settings_from_airflow(context.get("params")), as_of_from_context(context))


def validate_bank_lines(manifest: dict, context) -> dict:  # noqa: ANN001
    from receivables.pipeline import cash

    return cash.validate_bank_lines(settings_from_airflow(context.get("params")), manifest,
                                    now=dt.datetime.now(dt.timezone.utc))


def match_bank_lines(context) -> dict:  # noqa: ANN001
    from receivables.pipeline import cash

    return cash.match_bank_lines(settings_from_airflow(context.get("params")), as_of_from_context(context))


def apply_matches(context) -> dict:  # noqa: ANN001
    from receivables.pipeline import cash

    return cash.apply_matches(settings_from_airflow(context.get("params")), as_of_from_context(context))


def score_customers(context) -> dict:  # noqa: ANN001
    settings = settings_from_airflow(context.get("params"))
    return wave.score_customers(settings, as_of_from_context(context), now=dt.datetime.now(dt.timezone.utc))


@_fail_on_bad_input
def plan_collection_actions(context) -> dict:  # noqa: ANN001
    settings = settings_from_airflow(context.get("params"))
    return wave.plan_collection_actions(settings, as_of_from_context(context), now=dt.datetime.now(dt.timezone.utc))
