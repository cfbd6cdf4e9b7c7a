"""Emailing a planned day through the official SendGrid client and the local SendGrid double,
with faults injected where they hurt: a task killed after its claim, SendGrid accepting a request
whose answer is lost, 429 storms, 500s, time-outs and a refused address. After re-runs each
action has reached SendGrid exactly once, and sent = planned - suppressed - failed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from doubles.sendgrid_api import SendGridDouble
from doubles.sendgrid_events import events_for
from sqlalchemy import bindparam, delete, select, text, update

from receivables.channels import outbox
from receivables.channels.events import ingest_events
from receivables.pipeline import dispatch, wave
from receivables.pipeline.dispatch import DispatchIncomplete, DispatchSettings
from receivables.warehouse.db import make_engine, upgrade
from receivables.warehouse.schema import (
    collection_actions,
    contact_suppressions,
    customers,
    dispatch_approvals,
    dispatch_outbox,
    email_events,
)

from test_collection_planning_wave import MONDAY, NOW, run_day, settings_for


class Killed(BaseException):
    """The worker process dies here (a BaseException: nothing in the code catches it)."""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def planned_warehouse(request, tmp_path_factory, demo_portfolio) -> wave.WaveSettings:
    """The demo portfolio planned for Monday once per database (planning takes seconds)."""
    tmp = tmp_path_factory.mktemp(f"planned-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'warehouse.db'}"
        upgrade(make_engine(url))
        settings = settings_for(url, tmp, demo_portfolio)
        run_day(settings, MONDAY)
        yield settings
        return
    engine = request.getfixturevalue("postgres_engine")
    schema = f"wh_email_{os.getpid()}"
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = engine.url.set(query={"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    upgrade(make_engine(url))
    settings = settings_for(url, tmp, demo_portfolio)
    run_day(settings, MONDAY)
    yield settings
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture
def planned_day(planned_warehouse, tmp_path) -> wave.WaveSettings:
    """Monday's plan with an empty outbox, events and suppressions, and the master as loaded."""
    engine = make_engine(planned_warehouse.warehouse_url)
    with engine.connect() as conn:
        master = pd.read_sql(select(customers.c.customer_id, customers.c.email), conn)
    yield dataclasses.replace(planned_warehouse, data_dir=tmp_path / "data")
    with engine.begin() as conn:
        for table in (dispatch_outbox, email_events, contact_suppressions, dispatch_approvals):
            conn.execute(delete(table))
        conn.execute(update(customers).where(customers.c.customer_id == bindparam("cid")).values(email=bindparam("mail")),
                     [{"cid": c, "mail": m} for c, m in zip(master["customer_id"], master["email"])])


def emails_planned(settings: wave.WaveSettings) -> set[str]:
    with make_engine(settings.warehouse_url).connect() as conn:
        actions = pd.read_sql(select(collection_actions).where(collection_actions.c.as_of == MONDAY), conn)
    return set(actions.loc[actions["channel"] == "email", "action_key"])


def sendgrid_settings(double: SendGridDouble, **overrides) -> DispatchSettings:
    return DispatchSettings(sendgrid_api_key=double.api_key, sendgrid_host=double.url, **overrides)


def keys_received(double: SendGridDouble) -> Counter:
    return Counter(p["custom_args"]["action_key"] for record in double.accepted
                   for p in record["body"]["personalizations"])


def sendable(settings: wave.WaveSettings) -> set[str]:
    """The planned emails whose customer has an address."""
    with make_engine(settings.warehouse_url).connect() as conn:
        actions = pd.read_sql(select(collection_actions.c.action_key, customers.c.email)
                              .join(customers, customers.c.customer_id == collection_actions.c.customer_id)
                              .where(collection_actions.c.as_of == MONDAY, collection_actions.c.channel == "email"), conn)
    return set(actions.loc[actions["email"] != "", "action_key"])


def states(settings: wave.WaveSettings) -> pd.DataFrame:
    with make_engine(settings.warehouse_url).connect() as conn:
        rows = outbox.read_outbox(conn)
    return rows[rows["channel"] == "email"].set_index("action_key")


def deliver_events(settings: wave.WaveSettings, double: SendGridDouble, event: str, at: dt.datetime) -> dict:
    with make_engine(settings.warehouse_url).begin() as conn:
        return ingest_events(conn, events_for(double.accepted, event=event, when=at), now=at)


def send(settings, dispatch_settings, now=NOW, **seams) -> dict:  # noqa: ANN001, ANN003
    return dispatch.send_emails(settings, dispatch_settings, MONDAY, part=(0, 1), now=now, **seams)


def test_every_planned_email_reaches_sendgrid_once_however_often_the_tasks_run(planned_day):
    with SendGridDouble() as double:
        first = dispatch.prepare_dispatch(planned_day, sendgrid_settings(double), MONDAY, now=NOW, today=MONDAY)
        dispatch.prepare_dispatch(planned_day, sendgrid_settings(double), MONDAY, now=NOW, today=MONDAY)
        summary = send(planned_day, sendgrid_settings(double))
        again = send(planned_day, sendgrid_settings(double))
    planned = emails_planned(planned_day)
    assert first["email"] == [[0, 1]] and planned
    rows = states(planned_day)
    # the demo master has a customer without an email address: recorded, not lost
    assert set(rows.loc[rows["state"] != "sent", "reason"]) == {"no email address"}
    assert keys_received(double) == Counter({key: 1 for key in sendable(planned_day)})
    assert summary["sent"] == len(planned) - summary["suppressed"] and again["sent"] == again["requests"] == 0
    assert (rows.loc[rows["state"] == "sent", "provider_message_id"] != "").all()
    # one request carried many customers: personalizations, not one request per email
    assert summary["requests"] < len(planned)
    body = double.accepted[0]["body"]
    assert body["categories"][0] == "receivables" and body["content"][1]["value"] == "-html-"
    assert all(len(r["body"]["personalizations"]) <= 1000 for r in double.accepted)


def test_a_task_killed_after_the_provider_accepted_is_reconciled_from_the_events_without_a_resend(planned_day):
    with SendGridDouble() as double:
        dispatch.prepare_dispatch(planned_day, sendgrid_settings(double), MONDAY, now=NOW, today=MONDAY)

        def die(keys):  # noqa: ANN001, ANN202
            raise Killed

        with pytest.raises(Killed):
            send(planned_day, sendgrid_settings(double), after_send=die)
        assert set(states(planned_day)["state"]) >= {"sending"}
        accepted_once = keys_received(double)
        # the first request was accepted; the rest of the claim never left: SendGrid's events
        # settle the first, and nothing is resent while the rest are still in doubt
        deliver_events(planned_day, double, "processed", NOW + dt.timedelta(minutes=1))
        with pytest.raises(DispatchIncomplete, match="in doubt"):
            send(planned_day, sendgrid_settings(double), now=NOW + dt.timedelta(minutes=5))
        assert keys_received(double) == accepted_once
        sent = states(planned_day).query("state == 'sent'")
        assert set(sent.index) == set(accepted_once) and (sent["provider_message_id"] != "").all()
        # events kept coming well after the claim, none for the others: SendGrid never had them
        deliver_events(planned_day, double, "delivered", NOW + dt.timedelta(minutes=15))
        send(planned_day, sendgrid_settings(double), now=NOW + dt.timedelta(minutes=20))
    assert keys_received(double) == Counter({key: 1 for key in sendable(planned_day)})
    assert set(states(planned_day)["state"]) == {"sent", "suppressed"}



def test_a_task_killed_before_sending_waits_for_proof_then_sends_exactly_once(planned_day):
    with SendGridDouble() as double:
        dispatch.prepare_dispatch(planned_day, sendgrid_settings(double), MONDAY, now=NOW, today=MONDAY)
        claims = []

        def die_on_second_claim(rows):  # noqa: ANN001, ANN202
            claims.append(len(rows))
            if len(claims) == 2:
                raise Killed

        with pytest.raises(Killed):
            send(planned_day, sendgrid_settings(double), chunk=20, after_claim=die_on_second_claim)
        in_doubt = states(planned_day).query("state == 'sending'").index
        assert len(in_doubt) == claims[1] and not set(in_doubt) & set(keys_received(double))
        # the retry five minutes later cannot tell yet: nothing is resent, the task asks to be retried
        with pytest.raises(DispatchIncomplete):
            send(planned_day, sendgrid_settings(double), now=NOW + dt.timedelta(minutes=5))
        assert not set(in_doubt) & set(keys_received(double))
        # SendGrid's events for the mail it did accept keep coming (delivered); none names the
        # rows in doubt: SendGrid never had them, so the next retry sends them
        deliver_events(planned_day, double, "delivered", NOW + dt.timedelta(minutes=15))
        send(planned_day, sendgrid_settings(double), now=NOW + dt.timedelta(minutes=20))
    assert keys_received(double) == Counter({key: 1 for key in sendable(planned_day)})
    assert set(states(planned_day)["state"]) == {"sent", "suppressed"}


def test_a_timed_out_request_is_in_doubt_until_its_events_arrive_and_is_never_sent_twice(planned_day, monkeypatch):
    from receivables.channels import email as email_channel

    original = email_channel.sendgrid_client
    monkeypatch.setattr(email_channel, "sendgrid_client", lambda key, host=None: original(key, host, timeout=0.5))
    with SendGridDouble() as double:
        settings = sendgrid_settings(double)
        dispatch.prepare_dispatch(planned_day, settings, MONDAY, now=NOW, today=MONDAY)
        double.stall_next(3.0)   # SendGrid takes the mail, the client gives up first
        with pytest.raises(DispatchIncomplete):
            send(planned_day, settings)
        deliver_events(planned_day, double, "processed", NOW + dt.timedelta(minutes=1))
        send(planned_day, settings, now=NOW + dt.timedelta(minutes=5))
    assert keys_received(double) == Counter({key: 1 for key in sendable(planned_day)})
    assert set(states(planned_day)["state"]) == {"sent", "suppressed"}


def test_a_429_storm_and_500s_are_waited_out_and_each_email_still_goes_once(planned_day, monkeypatch):
    waits = []
    monkeypatch.setattr("receivables.channels.email.time.sleep", waits.append)
    with SendGridDouble() as double:
        dispatch.prepare_dispatch(planned_day, sendgrid_settings(double), MONDAY, now=NOW, today=MONDAY)
        double.fail_next(429, count=3, retry_after_reset=0)
        double.fail_next(500, count=2)
        summary = send(planned_day, sendgrid_settings(double))
    assert len(waits) == 5 and all(w <= 60 for w in waits)
    assert summary["sent"] == len(sendable(planned_day))
    assert keys_received(double) == Counter({key: 1 for key in sendable(planned_day)})


def test_sendgrid_down_for_good_defers_the_day_and_the_next_attempt_sends_it(planned_day, monkeypatch):
    monkeypatch.setattr("receivables.channels.email.time.sleep", lambda seconds: None)
    with SendGridDouble() as double:
        dispatch.prepare_dispatch(planned_day, sendgrid_settings(double), MONDAY, now=NOW, today=MONDAY)
        double.fail_next(503, count=6)
        with pytest.raises(DispatchIncomplete, match="deferred"):
            send(planned_day, sendgrid_settings(double))
        assert not double.accepted and set(states(planned_day)["state"]) == {"pending", "suppressed"}
        send(planned_day, sendgrid_settings(double))
    assert keys_received(double) == Counter({key: 1 for key in sendable(planned_day)})


def test_an_address_sendgrid_refuses_fails_that_email_alone_with_the_reason(planned_day):
    engine = make_engine(planned_day.warehouse_url)
    planned = sorted(emails_planned(planned_day))
    with engine.connect() as conn:
        victim = conn.execute(select(collection_actions.c.customer_id).where(
            collection_actions.c.action_key == planned[0], collection_actions.c.as_of == MONDAY)).scalar()
    with engine.begin() as conn:
        conn.execute(update(customers).where(customers.c.customer_id == victim).values(email="compta@@example"))
    with SendGridDouble() as double:
        dispatch.prepare_dispatch(planned_day, sendgrid_settings(double), MONDAY, now=NOW, today=MONDAY)
        summary = send(planned_day, sendgrid_settings(double))
    rows = states(planned_day)
    failed = rows[rows["state"] == "failed"]
    assert set(failed["customer_id"]) == {victim}
    assert failed["reason"].str.contains("SendGrid 400: personalizations").all()
    assert summary["sent"] == len(planned) - summary["failed"] - summary["suppressed"]
    assert summary["sent"] == sum(keys_received(double).values())


@pytest.mark.parametrize("why, switch", [
    ("kill switch", {"enabled": False}),
    ("past date", {"today": MONDAY + dt.timedelta(days=1)}),
])
def test_the_kill_switch_and_a_run_for_a_past_date_contact_no_one(planned_day, why, switch):
    with SendGridDouble() as double:
        settings = sendgrid_settings(double, **switch)
        parts = dispatch.prepare_dispatch(planned_day, settings, MONDAY, now=NOW, today=MONDAY)
        assert parts["email"] == parts["sms"] == parts["letter"] == parts["call"] == []
        send(planned_day, settings)
    assert double.requests == 0
    with make_engine(planned_day.warehouse_url).connect() as conn:
        rows = outbox.read_outbox(conn, as_of=MONDAY)
    assert len(rows) and set(rows["state"]) == {"suppressed"}
    assert rows["reason"].str.contains("contacts no one" if why == "past date" else "kill switch").all()


def test_a_backfill_run_records_the_day_as_suppressed(planned_day):
    parts = dispatch.prepare_dispatch(planned_day, DispatchSettings(), MONDAY, now=NOW, today=MONDAY, backfill=True)
    assert parts["email"] == [] and parts["suppressed_because"].startswith("backfill")


def test_without_an_api_key_each_email_is_written_as_an_eml_file(planned_day):
    dispatch.prepare_dispatch(planned_day, DispatchSettings(), MONDAY, now=NOW, today=MONDAY)
    summary = send(planned_day, DispatchSettings())
    folder = Path(planned_day.data_dir) / "outbox" / MONDAY.isoformat() / "email"
    files = sorted(folder.glob("*.eml"))
    assert summary["provider"] == "file" and len(files) == len(sendable(planned_day)) == summary["sent"]
    import email

    mail = email.message_from_bytes(files[0].read_bytes())
    assert mail["X-Action-Key"] == files[0].stem and mail.get_content_type() == "multipart/alternative"
    with make_engine(planned_day.warehouse_url).connect() as conn:
        sent = pd.read_sql(select(dispatch_outbox.c.provider).where(dispatch_outbox.c.channel == "email",
                                                                    dispatch_outbox.c.state == "sent"), conn)
    assert set(sent["provider"]) == {"file"}


def test_a_bounced_address_makes_the_planner_take_the_fallback_channel_next_time(planned_day):
    engine = make_engine(planned_day.warehouse_url)
    with engine.begin() as conn:
        conn.execute(contact_suppressions.insert().values(channel="email", address="compta@client.example",
                                                          customer_id="C1", reason="bounce", source_id="ev1",
                                                          since=NOW))
    master = pd.DataFrame({"customer_id": ["C1", "C2"], "opt_out_channels": ["sms", ""]})
    with engine.connect() as conn:
        planned_with = wave.with_suppressed_channels(conn, master)
    assert planned_with["opt_out_channels"].tolist() == ["sms email", ""]
