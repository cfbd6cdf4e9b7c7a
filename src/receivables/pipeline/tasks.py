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


def backfilled_in_order(context) -> None:  # noqa: ANN001
    """A backfill recomputes history one business day after the other, or not at all.

    A day's wave reads what the days before it wrote: the step register (which reminder comes
    next), the previous day's open items (thank-you notes), the payer accounts learnt from earlier
    cash, and, for its KPIs, their outbox and plans. Airflow runs up to 10 days of a backfill at
    once unless it is created with `--max-active-runs 1` (the DAG's own max_active_runs does not
    apply to backfills), so the days would read each other half-written. A backfill day whose
    previous run has not succeeded stops here, first and without retry, instead of computing a
    history that never was. Other runs (scheduled, manual, re-runs) are left alone.
    """
    if not _is_backfill(context):
        return
    from airflow.sdk.exceptions import AirflowFailException

    previous = context["ti"].get_previous_dagrun()
    if previous is None:
        log.info("backfill: no run before this one, history starts here")
        return
    state = str(getattr(previous.state, "value", previous.state))
    day = as_of_from_context({"data_interval_start": previous.data_interval_start, "dag": context["dag"]})
    log.info("backfill: the run of the previous business day %s is %s", day, state)
    if state != "success":
        raise AirflowFailException(
            f"the run of the previous business day {day.isoformat()} is {state}, not success: a backfill recomputes "
            "one day after the other. Create it with --max-active-runs 1 (to resume one that stopped: "
            "airflow backfill create ... --max-active-runs 1 --reprocess-behavior failed)")


@_fail_on_bad_input
def extract_ledger(context) -> dict:  # noqa: ANN001
    backfilled_in_order(context)
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


def compute_kpis(context) -> dict:  # noqa: ANN001
    from receivables.pipeline import kpis

    return kpis.compute_kpis(settings_from_airflow(context.get("params")), as_of_from_context(context))


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


def train_scoring_model(context) -> list:  # noqa: ANN001
    settings = settings_from_airflow(context.get("params"))
    return wave.train_scoring_model(settings, as_of_from_context(context), now=dt.datetime.now(dt.timezone.utc))["shards"]


def score_customers(shard: list, context) -> dict:  # noqa: ANN001
    settings = settings_from_airflow(context.get("params"))
    return wave.score_shard(settings, as_of_from_context(context), tuple(shard))


def publish_scores(context) -> dict:  # noqa: ANN001
    settings = settings_from_airflow(context.get("params"))
    return wave.publish_scores(settings, as_of_from_context(context), now=dt.datetime.now(dt.timezone.utc))


@_fail_on_bad_input
def plan_shards(context) -> list:  # noqa: ANN001
    settings = settings_from_airflow(context.get("params"))
    return wave.plan_shards(settings, now=dt.datetime.now(dt.timezone.utc))["shards"]


@_fail_on_bad_input
def plan_collection_actions(shard: list, context) -> dict:  # noqa: ANN001
    settings = settings_from_airflow(context.get("params"))
    return wave.plan_collection_actions(settings, as_of_from_context(context), now=dt.datetime.now(dt.timezone.utc),
                                        shard=tuple(shard), import_first=False)


# -- dispatch ---------------------------------------------------------------------------------------

def _optional_connection(conn_id: str):  # noqa: ANN202
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None


def dispatch_settings_from_airflow():  # noqa: ANN201
    """Variables (else env) for the switches and addresses; the providers' secrets come from the
    connections `sendgrid_default` (password = API key, host = another endpoint) and
    `twilio_default` (login = account SID, password = auth token, host, extra from /
    messaging_service_sid), else from the RECEIVABLES_SENDGRID_* / RECEIVABLES_TWILIO_* env."""
    from receivables.pipeline.dispatch import dispatch_settings

    settings = dispatch_settings(_lookup)
    sendgrid = _optional_connection("sendgrid_default")
    if sendgrid is not None and sendgrid.password:
        settings.sendgrid_api_key = sendgrid.password
        settings.sendgrid_host = sendgrid.host or settings.sendgrid_host
    twilio = _optional_connection("twilio_default")
    if twilio is not None and twilio.login and twilio.password:
        extra = twilio.extra_dejson or {}
        settings.twilio_account_sid, settings.twilio_auth_token = twilio.login, twilio.password
        settings.twilio_host = twilio.host or settings.twilio_host
        settings.sms_from = extra.get("from", settings.sms_from)
        settings.messaging_service_sid = extra.get("messaging_service_sid", settings.messaging_service_sid)
    return settings


def _company_today(context) -> dt.date:  # noqa: ANN001
    """The company's calendar date now: whether a run is for a past date is a question about the
    wall clock, not about the run's data."""
    import pendulum

    timezone = getattr(getattr(context["dag"], "timetable", None), "timezone", None) or "Europe/Paris"
    return pendulum.now(timezone).date()


def _is_backfill(context) -> bool:  # noqa: ANN001
    run = context.get("dag_run")
    return str(getattr(run, "run_type", "")).lower().endswith("backfill")


def _retry_when_incomplete(fn):  # noqa: ANN001, ANN202
    def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        from airflow.sdk.exceptions import AirflowException, AirflowFailException

        from receivables.channels.email import DispatchConfigurationError
        from receivables.pipeline.dispatch import DispatchIncomplete

        try:
            return fn(*args, **kwargs)
        except DispatchConfigurationError as error:
            raise AirflowFailException(str(error)) from error
        except DispatchIncomplete as error:
            raise AirflowException(str(error)) from error   # retried: the retry reconciles
    wrapper.__name__ = fn.__name__
    return wrapper


def prepare_dispatch(context) -> dict:  # noqa: ANN001
    from receivables.pipeline import dispatch

    return dispatch.prepare_dispatch(settings_from_airflow(context.get("params")), dispatch_settings_from_airflow(),
                                     as_of_from_context(context), now=dt.datetime.now(dt.timezone.utc),
                                     today=_company_today(context), backfill=_is_backfill(context))


@_retry_when_incomplete
def send_emails(part: list[int], context) -> dict:  # noqa: ANN001
    from receivables.pipeline import dispatch

    return dispatch.send_emails(settings_from_airflow(context.get("params")), dispatch_settings_from_airflow(),
                                as_of_from_context(context), part=tuple(part), now=dt.datetime.now(dt.timezone.utc))


@_retry_when_incomplete
def send_sms(part: list[int], context) -> dict:  # noqa: ANN001
    from receivables.pipeline import dispatch

    return dispatch.send_sms(settings_from_airflow(context.get("params")), dispatch_settings_from_airflow(),
                             as_of_from_context(context), part=tuple(part), now=dt.datetime.now(dt.timezone.utc))


def print_letters(part: list[int], context) -> dict:  # noqa: ANN001
    from receivables.pipeline import dispatch

    return dispatch.print_letters(settings_from_airflow(context.get("params")), as_of_from_context(context),
                                  part=tuple(part), now=dt.datetime.now(dt.timezone.utc))


def publish_call_list(part: list[int], context) -> dict:  # noqa: ANN001
    from receivables.pipeline import dispatch

    return dispatch.publish_call_list(settings_from_airflow(context.get("params")), as_of_from_context(context),
                                      now=dt.datetime.now(dt.timezone.utc))


def summarise_dispatch(context) -> dict:  # noqa: ANN001
    from receivables.pipeline import dispatch

    return dispatch.summarise_dispatch(settings_from_airflow(context.get("params")), as_of_from_context(context))


def describe_approvals(keys: list[str], context) -> str:  # noqa: ANN001
    from receivables.pipeline import dispatch

    return dispatch.approval_list(settings_from_airflow(context.get("params")), keys)


def record_approvals(keys: list[str], response: dict, context) -> dict:  # noqa: ANN001
    """The approver's answer (the HITL operator's output): Approve with some keys rejected, or Reject."""
    from receivables.pipeline import dispatch

    chosen = (response or {}).get("chosen_options") or ["Reject"]
    rejected = str(((response or {}).get("params_input") or {}).get("reject_action_keys") or "").replace(",", " ").split()
    user = (response or {}).get("responded_by_user") or {}
    return dispatch.record_approvals(settings_from_airflow(context.get("params")), keys, approved=chosen[0] == "Approve",
                                     rejected_keys=rejected, decided_by=str(user.get("name") or "timeout (default: Reject)"),
                                     note="", as_of=as_of_from_context(context), now=dt.datetime.now(dt.timezone.utc))


def dispatch_batches(channel: str, prepared: dict, context) -> list:  # noqa: ANN001
    from receivables.pipeline import dispatch

    return dispatch.dispatch_batches(settings_from_airflow(context.get("params")), channel, prepared)


# -- alerts ----------------------------------------------------------------------------------------

def notify_failure(context) -> None:  # noqa: ANN001
    """on_failure_callback of the wave's tasks (after their retries): email finance ops
    (receivables.pipeline.alerts). An alert that cannot go out is logged, never raised: the
    task has failed already and its own error is what the UI must show."""
    from receivables.pipeline.alerts import alert_recipients, failure_alert, send_alert

    ti = context["ti"]
    try:
        recipients = alert_recipients(_lookup)
        if not recipients:
            log.warning("task %s failed; no alert sent: set the Variable receivables_alert_recipients", ti.task_id)
            return
        try:
            as_of = as_of_from_context(context)
        except (KeyError, TypeError, AttributeError):
            as_of = None
        messages = failure_alert(dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id,
                                 map_index=getattr(ti, "map_index", -1), try_number=ti.try_number, as_of=as_of,
                                 error=context.get("exception"), log_url=getattr(ti, "log_url", None),
                                 recipients=recipients)
        dispatch = dispatch_settings_from_airflow()
        settings = settings_from_airflow(context.get("params"))
        sent = send_alert(messages, api_key=dispatch.sendgrid_api_key, host=dispatch.sendgrid_host,
                          from_email=dispatch.email_from, from_name=dispatch.email_from_name,
                          outbox=settings.data_dir / "outbox" / "alerts")
        log.info("failure of %s: alert sent to %d of %d recipient(s)", ti.task_id, sent, len(recipients))
    except Exception:   # noqa: BLE001 - see the docstring
        log.exception("task %s failed and its alert could not be sent", ti.task_id)
