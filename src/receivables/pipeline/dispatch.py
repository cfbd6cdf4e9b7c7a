"""The bodies of the daily wave's dispatch tasks, free of Airflow.

    parts = prepare_dispatch(settings, dispatch, as_of, now=now, today=today, backfill=False)
    parts["email"]        # [[0, 2], [1, 2]]: two mapped email tasks, each its half of the rows
    send_emails(settings, dispatch, as_of, part=(0, 2), now=now)
    send_sms(...); print_letters(...); publish_call_list(...)
    summarise_dispatch(settings, as_of)   # per channel and state; sent = planned - suppressed - failed

`prepare_dispatch` puts the day's plan into the outbox (`channels.outbox`), once per action key.
A run that must contact no one records every action of its date as *suppressed* with the
reason, and gives the channel tasks nothing to do:
- the kill switch: `dispatch_enabled` false (Variable `receivables_dispatch_enabled`, env
  `RECEIVABLES_DISPATCH_ENABLED`);
- a backfill (the run's type);
- a run for a past date: `as_of` before today (the company's calendar date when the task runs; a
  re-run next week of a day already sent re-sends nothing anyway, and a day never sent is stale:
  its amounts, its promises, its send times are those of a past day).
Demos and tests that replay a past day set `RECEIVABLES_TODAY` (the date the wave takes for
today); production never sets it.

Channels and providers (`DispatchSettings`): email through SendGrid when an API key is set
(connection `sendgrid_default`: password = API key, host = another endpoint), else `.eml` files
under `<data>/outbox/<as_of>/email/`; SMS through Twilio when an account is set (connection
`twilio_default`: login = account SID, password = auth token, host = another endpoint, extra
`{"from": "+33...", "messaging_service_sid": "MG..."}`), else text files under
`<data>/outbox/<as_of>/sms/`; letters into print batches under `<data>/outbox/<as_of>/print/`;
the call list into `call_list` and `<data>/outbox/<as_of>/call_list.csv`.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from receivables.pipeline.wave import WaveSettings, _engine

log = logging.getLogger(__name__)

# rows per mapped task, and the most tasks a channel maps to (the pools cap how many run at once)
BATCH_ROWS = {"email": 20_000, "sms": 5_000, "letter": 500, "call": 1_000_000}
MAX_BATCHES = {"email": 8, "sms": 4, "letter": 8, "call": 1}


class DispatchIncomplete(RuntimeError):
    """Some messages are in doubt or deferred: the task must be retried later."""


@dataclass
class DispatchSettings:
    enabled: bool = True
    sendgrid_api_key: str = field(default="", repr=False)
    sendgrid_host: str = ""
    email_from: str = "recouvrement@demo-distribution.example"
    email_from_name: str = "Demo Distribution SAS"
    email_reply_to: str = ""
    unsubscribe_group: int | None = None
    invoice_documents: str = ""
    twilio_account_sid: str = ""
    twilio_auth_token: str = field(default="", repr=False)
    twilio_host: str = ""
    sms_from: str = ""
    messaging_service_sid: str = ""
    sms_window: tuple[int, int] = (8, 20)
    today: dt.date | None = None            # RECEIVABLES_TODAY: replay a past day (demos, tests)


def dispatch_settings(lookup=lambda key: os.environ.get(key.upper())) -> DispatchSettings:  # noqa: ANN001
    def flag(value: str | None, default: bool) -> bool:
        if value in (None, ""):
            return default
        return str(value).strip().lower() not in ("0", "false", "no", "off")

    group = lookup("receivables_unsubscribe_group")
    today = lookup("receivables_today")
    return DispatchSettings(
        enabled=flag(lookup("receivables_dispatch_enabled"), True),
        sendgrid_api_key=lookup("receivables_sendgrid_api_key") or "",
        sendgrid_host=lookup("receivables_sendgrid_host") or "",
        email_from=lookup("receivables_email_from") or DispatchSettings.email_from,
        email_from_name=lookup("receivables_email_from_name") or DispatchSettings.email_from_name,
        email_reply_to=lookup("receivables_email_reply_to") or "",
        unsubscribe_group=int(group) if group else None,
        invoice_documents=lookup("receivables_invoice_documents") or "",
        twilio_account_sid=lookup("receivables_twilio_account_sid") or "",
        twilio_auth_token=lookup("receivables_twilio_auth_token") or "",
        twilio_host=lookup("receivables_twilio_host") or "",
        sms_from=lookup("receivables_sms_from") or "",
        messaging_service_sid=lookup("receivables_messaging_service_sid") or "",
        today=dt.date.fromisoformat(today) if today else None,
    )


def outbox_dir(settings: WaveSettings, as_of: dt.date) -> Path:
    return settings.data_dir / "outbox" / as_of.isoformat()


def _creditor():  # noqa: ANN202
    from receivables.scenarios.render import Creditor

    return Creditor.from_env(os.environ)


def _legal(settings: WaveSettings):  # noqa: ANN202
    from receivables.scenarios.legal import LegalRulesError, load_rules

    try:
        return load_rules(settings.country)
    except LegalRulesError:
        return None


def suppression_reason(dispatch: DispatchSettings, as_of: dt.date, *, today: dt.date | None,
                       backfill: bool) -> str:
    """Why this run contacts no one ('' when it may)."""
    if not dispatch.enabled:
        return "dispatch disabled (kill switch dispatch_enabled)"
    if backfill:
        return "backfill run: recomputes history, contacts no one"
    today = dispatch.today or today
    if today is not None and as_of < today:
        return f"run for a past date ({as_of.isoformat()}, today is {today.isoformat()}): contacts no one"
    return ""


def _parts(conn, dispatcher: str) -> list[list[int]]:  # noqa: ANN001
    from sqlalchemy import func

    from receivables.channels.outbox import DISPATCHERS
    from receivables.warehouse.schema import dispatch_outbox as box

    work = conn.execute(select(func.count()).where(
        box.c.channel.in_(DISPATCHERS[dispatcher]),
        ((box.c.state == "pending") & (box.c.reason == "")) | (box.c.state == "sending"))).scalar()
    if not work:
        return []
    count = max(1, min(MAX_BATCHES[dispatcher], math.ceil(work / BATCH_ROWS[dispatcher])))
    return [[index, count] for index in range(count)]


def prepare_dispatch(settings: WaveSettings, dispatch: DispatchSettings, as_of: dt.date, *, now: dt.datetime,
                     today: dt.date | None, backfill: bool = False) -> dict:
    """Enqueue the plan of `as_of`; returns the parts each channel's mapped task takes (empty:
    nothing to do, the task is skipped) and what waits for approval."""
    from receivables.channels import outbox
    from receivables.warehouse.schema import collection_actions

    reason = suppression_reason(dispatch, as_of, today=today, backfill=backfill)
    engine = _engine(settings)
    with engine.begin() as conn:
        actions = pd.read_sql(select(collection_actions).where(collection_actions.c.as_of == as_of), conn)
        enqueued = outbox.enqueue(conn, actions, as_of, now=now, suppress=reason or None)
        if reason:
            parts = {name: [] for name in outbox.DISPATCHERS}
        else:
            parts = {name: _parts(conn, name) for name in outbox.DISPATCHERS}
        awaiting = outbox.awaiting_approval(conn)
    if reason:
        log.warning("%s: the %d actions of %s are recorded as suppressed", reason, len(actions), as_of)
    summary = {**parts, "as_of": as_of.isoformat(), "enqueued": enqueued, "suppressed_because": reason,
               "awaiting_approval": [] if reason else awaiting["action_key"].tolist()}
    log.info("dispatch of %s: %s", as_of, {k: v for k, v in summary.items() if k != "awaiting_approval"}
             | {"awaiting_approval": len(summary["awaiting_approval"])})
    return summary


def approval_list(settings: WaveSettings, keys: list[str]) -> str:
    """A Markdown table of the actions awaiting approval (for the approver in the Airflow UI)."""
    from receivables.channels import outbox
    from receivables.money import format_minor
    from receivables.warehouse.schema import collection_actions

    if not keys:
        return "Nothing awaits approval."
    with _engine(settings).connect() as conn:
        rows = outbox.read_outbox(conn, keys=keys)
        actions = pd.read_sql(select(collection_actions.c.as_of, collection_actions.c.action_key,
                                     collection_actions.c.amount_minor, collection_actions.c.currency,
                                     collection_actions.c.invoice_ids)
                              .where(collection_actions.c.action_key.in_(keys)), conn)
    actions["as_of"] = pd.to_datetime(actions["as_of"])
    rows["as_of"] = pd.to_datetime(rows["as_of"])
    table = rows.merge(actions, on=["as_of", "action_key"], how="left")
    lines = ["| action key | customer | step | channel | amount | invoices |", "|---|---|---|---|---|---|"]
    for row in table.itertuples():
        amount = f"{format_minor(int(row.amount_minor), row.currency)} {row.currency}" \
            if pd.notna(row.amount_minor) else ""
        lines.append(f"| {row.action_key} | {row.customer_id} | {row.step_id} | {row.channel} | {amount} | "
                     f"{row.invoice_ids if isinstance(row.invoice_ids, str) else ''} |")
    return "\n".join(lines)


def record_approvals(settings: WaveSettings, keys: list[str], *, approved: bool, rejected_keys: list[str],
                     decided_by: str, note: str, as_of: dt.date, now: dt.datetime) -> dict:
    """The approver's answer: every listed action approved except `rejected_keys` (or all
    rejected when not `approved`)."""
    from receivables.channels import outbox

    rejected = set(rejected_keys) | (set() if approved else set(keys))
    unknown = set(rejected_keys) - set(keys)
    if unknown:
        # A mistyped key must not send the notice its approver meant to reject: a legal notice
        # sent by mistake costs more than one sent a day later, so nothing of this answer is approved.
        log.warning("the answer rejects keys not awaiting approval (%s): every waiting action rejected", sorted(unknown))
        rejected = set(keys)
        note = (f"{note}; " if note else "") + f"answer named keys not awaiting approval: {' '.join(sorted(unknown))}"
    decisions = pd.DataFrame({"action_key": keys, "as_of": pd.Timestamp(as_of),
                              "decision": ["rejected" if k in rejected else "approved" for k in keys],
                              "decided_by": decided_by or "unknown", "note": note or ""})
    with _engine(settings).begin() as conn:
        return outbox.record_decisions(conn, decisions, now=now)


def send_emails(settings: WaveSettings, dispatch: DispatchSettings, as_of: dt.date, *, part: tuple[int, int],
                now: dt.datetime, **seams) -> dict:  # noqa: ANN003
    from receivables.channels.email import EmailSettings, FileSender, SendGridSender, dispatch_email, sendgrid_client

    if dispatch.sendgrid_api_key:
        sender = SendGridSender(sendgrid_client(dispatch.sendgrid_api_key, dispatch.sendgrid_host or None))
    else:
        sender = FileSender(outbox_dir(settings, as_of) / "email")
    email_settings = EmailSettings(from_email=dispatch.email_from, from_name=dispatch.email_from_name,
                                   reply_to=dispatch.email_reply_to, unsubscribe_group=dispatch.unsubscribe_group,
                                   invoice_documents=Path(dispatch.invoice_documents) if dispatch.invoice_documents
                                   else None)
    summary = dispatch_email(_engine(settings), part=tuple(part), now=now, sender=sender, settings=email_settings,
                             creditor=_creditor(), legal=_legal(settings), **seams)
    summary["provider"] = sender.provider
    log.info("emails of %s, part %s: %s", as_of, list(part), summary)
    _complete_or_raise("email", summary)
    return summary


def _complete_or_raise(channel: str, summary: dict) -> None:
    if summary.get("in_doubt") or summary.get("deferred"):
        raise DispatchIncomplete(
            f"{channel}: {summary.get('in_doubt', 0)} message(s) in doubt and {summary.get('deferred', 0)} deferred "
            "(provider unavailable or an interrupted attempt): the retry reconciles them without resending what "
            "the provider has; see the outbox (state 'sending')")


def send_sms(settings: WaveSettings, dispatch: DispatchSettings, as_of: dt.date, *, part: tuple[int, int],
             now: dt.datetime) -> dict:
    from receivables.channels import sms

    if dispatch.twilio_account_sid:
        client = sms.twilio_client(dispatch.twilio_account_sid, dispatch.twilio_auth_token,
                                   base_url=dispatch.twilio_host or None)
        sender = dispatch.sms_from
    else:
        from receivables.channels.sms_files import SmsFileClient

        client = SmsFileClient(outbox_dir(settings, as_of) / "sms")
        sender = dispatch.sms_from or "RECEIVABLES"
    summary = sms.dispatch_sms(_engine(settings), part=tuple(part), now=now, client=client, sender=sender,
                               window=dispatch.sms_window, messaging_service_sid=dispatch.messaging_service_sid or None,
                               creditor=_creditor(), legal=_legal(settings))
    log.info("SMS of %s, part %s: %s", as_of, list(part), summary)
    _complete_or_raise("sms", summary)
    return summary


def print_letters(settings: WaveSettings, as_of: dt.date, *, part: tuple[int, int], now: dt.datetime) -> dict:
    from receivables.channels.letters import print_letters as print_batch

    summary = print_batch(_engine(settings), part=tuple(part), now=now, as_of=as_of,
                          out_dir=settings.data_dir / "outbox", creditor=_creditor(), legal=_legal(settings))
    log.info("letters of %s, part %s: %s", as_of, list(part), summary)
    return summary


def publish_call_list(settings: WaveSettings, as_of: dt.date, *, now: dt.datetime) -> dict:
    from receivables.channels.calls import publish_call_list as publish

    summary = publish(_engine(settings), as_of=as_of, now=now, out_dir=settings.data_dir / "outbox",
                      creditor=_creditor(), legal=_legal(settings))
    log.info("call list of %s: %s", as_of, summary)
    return summary


def summarise_dispatch(settings: WaveSettings, as_of: dt.date) -> dict:
    """Per channel and state, the actions planned on `as_of`; and the check that every planned
    action is accounted for: sent + suppressed + failed + bounced + waiting = planned."""
    from receivables.channels import outbox
    from receivables.warehouse.schema import collection_actions

    with _engine(settings).connect() as conn:
        counts = outbox.state_counts(conn, as_of)
        planned = pd.read_sql(select(collection_actions.c.action_key).where(collection_actions.c.as_of == as_of),
                              conn)["action_key"]
        rows = outbox.read_outbox(conn, keys=planned.tolist()) if len(planned) else pd.DataFrame(columns=["state"])
    states = rows["state"].value_counts().to_dict()
    summary = {"as_of": as_of.isoformat(), "planned": int(len(planned)), "per_channel": counts,
               "states": {str(k): int(v) for k, v in states.items()},
               "not_in_outbox": int(len(planned) - len(rows))}
    log.info("dispatch summary of %s: %s", as_of, summary)
    return summary


def dispatch_batches(settings: WaveSettings, channel: str, prepared: dict) -> list[list[int]]:
    """The parts of `channel`'s mapped task, counted now (after approvals); none on a run that
    contacts no one."""
    if prepared.get("suppressed_because"):
        return []
    with _engine(settings).connect() as conn:
        return _parts(conn, channel)
