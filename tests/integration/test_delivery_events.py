"""What SendGrid reports after a reminder went out, on SQLite and PostgreSQL: events stored once
however often they are delivered, bounces turned into a bounced outbox row, a suppressed address
and one fallback letter, in-doubt rows reconciled by their events; and the webhook endpoint
that receives them (signed deliveries only), as Airflow's API server mounts it.

The story: on Monday 30 June 2025 three emails went out through the SendGrid double, each
carrying its outbox key in custom_args:

    customer  step        template            language
    C001      reminder_1  email/reminder_1    fr        (a letter version exists)
    C002      thank_you   email/thank_you     en        (no letter version)
    C003      reminder_2  email/reminder_2    de        (a letter version exists)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, Mail
from sqlalchemy import func, select

from doubles.sendgrid_api import SendGridDouble
from shared_paths import REPO
from doubles.sendgrid_events import WebhookSigner, events_for
from receivables.channels import events as email_events_module
from receivables.channels import outbox
from receivables.channels.events import ingest_events, letter_key, reconcile
from receivables.warehouse.db import bulk_insert, make_engine
from receivables.warehouse.schema import collection_actions, contact_suppressions, email_events

AS_OF = dt.date(2025, 6, 30)
SENT_AT = dt.datetime(2025, 6, 30, 8, 0, tzinfo=dt.timezone.utc)
NOW = dt.datetime(2025, 6, 30, 9, 30, tzinfo=dt.timezone.utc)
LATER = NOW + dt.timedelta(hours=2)

PLAN = [  # customer, step, template, language, address
    ("C001", "reminder_1", "email/reminder_1", "fr", "compta@alpha.example"),
    ("C002", "thank_you", "email/thank_you", "en", "ap@beta.example"),
    ("C003", "reminder_2", "email/reminder_2", "de", "buchhaltung@gamma.example"),
]
KEYS = {customer: f"{index:x}0e1d2c3b4a5968778{index}" for index, (customer, *_) in enumerate(PLAN, start=1)}


def planned_actions() -> pd.DataFrame:
    return pd.DataFrame([{
        "as_of": pd.Timestamp(AS_OF), "action_key": KEYS[customer], "customer_id": customer,
        "scenario": "default_fr_b2b", "step_id": step, "offset_days": 7, "channel": "email", "template": template,
        "tone": "neutral", "invoice_ids": f"FA-{customer}", "amount_minor": 120_000, "principal_minor": 120_000,
        "interest_minor": pd.NA, "indemnity_minor": 0, "currency": "EUR", "language": language,
        "requires_approval": False, "legal_fees": False, "hold_reason": "", "send_at": pd.Timestamp(SENT_AT)}
        for customer, step, template, language, _ in PLAN]).astype({"interest_minor": "Int64"})


@pytest.fixture
def sendgrid():
    with SendGridDouble() as double:
        yield double


@pytest.fixture
def engine(warehouse_url):
    engine = make_engine(warehouse_url)
    with engine.begin() as conn:
        actions = planned_actions()
        bulk_insert(conn, collection_actions, actions)
        outbox.enqueue(conn, actions, AS_OF, now=SENT_AT)
    yield engine
    engine.dispose()


def send_emails(engine, sendgrid: SendGridDouble, *, record: bool = True) -> dict[str, str]:
    """The email dispatch in short: claim (committed), hand each mail to SendGrid with its key
    in custom_args, then record the X-Message-Id (unless the task 'dies' before: in doubt)."""
    with engine.begin() as conn:
        claimed = outbox.claim(conn, "email", now=SENT_AT)
    client = SendGridAPIClient(api_key=sendgrid.api_key, host=sendgrid.url)
    address = {customer: email for customer, *_, email in PLAN}
    ids = {}
    for row in claimed.to_dict("records"):
        mail = Mail(from_email="ar@receivables.example", to_emails=address[row["customer_id"]],
                    subject="Facture en retard", plain_text_content="Merci de régler la facture.")
        mail.custom_arg = CustomArg("action_key", row["action_key"])
        ids[row["action_key"]] = client.send(mail).headers["X-Message-Id"]
    if record:
        with engine.begin() as conn:
            outbox.mark_sent(conn, pd.DataFrame({"action_key": list(ids), "provider": "sendgrid",
                                                 "provider_message_id": list(ids.values()), "recipient": ""}),
                             now=SENT_AT)
    return ids


def mail_to(sendgrid: SendGridDouble, customer: str) -> list[dict]:
    return [r for r in sendgrid.accepted if r["body"]["custom_args"]["action_key"] == KEYS[customer]]


def ingest(engine, events: list[dict], now: dt.datetime = NOW) -> dict:
    with engine.begin() as conn:
        return ingest_events(conn, events, now=now)


def rows(engine, table) -> pd.DataFrame:  # noqa: ANN001
    with engine.connect() as conn:
        return pd.read_sql(select(table), conn)


def the_outbox(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return outbox.read_outbox(conn).set_index("action_key")


# -- ingestion ------------------------------------------------------------------------------------

def test_ingesting_the_same_payload_twice_stores_each_event_once(engine, sendgrid):
    send_emails(engine, sendgrid)
    delivered = events_for(sendgrid.accepted, event="delivered", when=NOW)

    first = ingest(engine, delivered + delivered[:1])   # SendGrid may repeat an event inside a payload too
    again = ingest(engine, delivered, now=LATER)

    assert (first["stored"], first["duplicates"]) == (3, 1)
    assert (again["stored"], again["duplicates"]) == (0, 3)
    stored = rows(engine, email_events).set_index("sg_event_id")
    assert sorted(stored.index) == sorted(e["sg_event_id"] for e in delivered)
    assert set(stored["action_key"]) == set(KEYS.values())
    assert set(stored["event"]) == {"delivered"} and set(stored["reason"]) == {"250 2.0.0 OK"}
    assert (pd.to_datetime(stored["event_at"], utc=True) == NOW).all()
    assert (pd.to_datetime(stored["received_at"], utc=True) == NOW).all()   # the first delivery's


def test_a_delivered_event_changes_nothing_but_its_own_record(engine, sendgrid):
    send_emails(engine, sendgrid)
    before = the_outbox(engine)

    counts = ingest(engine, events_for(sendgrid.accepted, event="delivered", when=NOW)
                    + events_for(sendgrid.accepted, event="open", when=NOW))

    assert counts == {"events": 6, "stored": 6, "duplicates": 0, "unknown_action": 0, "bounced": 0,
                      "suppressed": 0, "letters": 0}
    pd.testing.assert_frame_equal(the_outbox(engine), before)
    assert rows(engine, contact_suppressions).empty


def test_a_bounce_marks_the_email_bounced_suppresses_the_address_and_enqueues_one_fallback_letter(engine, sendgrid):
    ids = send_emails(engine, sendgrid)
    bounce = events_for(mail_to(sendgrid, "C001"), event="bounce", when=NOW)

    counts = ingest(engine, bounce)
    again = ingest(engine, bounce, now=LATER)                   # SendGrid delivered the payload twice
    another = events_for(mail_to(sendgrid, "C001"), event="bounce", when=LATER)   # a second report of it
    later = ingest(engine, another, now=LATER)

    assert (counts["bounced"], counts["suppressed"], counts["letters"]) == (1, 1, 1)
    assert (again["stored"], again["bounced"], again["letters"]) == (0, 0, 0)
    assert (later["stored"], later["bounced"], later["suppressed"], later["letters"]) == (1, 0, 0, 0)
    box = the_outbox(engine)
    email = box.loc[KEYS["C001"]]
    assert email["state"] == "bounced"
    assert email["reason"] == "bounce: 550 5.1.1 The email account that you tried to reach does not exist."
    assert email["provider_message_id"] == ids[KEYS["C001"]]
    letters = box[box["channel"] == "letter"]
    assert list(letters.index) == [letter_key(KEYS["C001"])]
    letter = letters.iloc[0]
    assert (letter["state"], letter["reason"], letter["customer_id"], letter["step_id"],
            letter["parent_action_key"]) == ("pending", "", "C001", "reminder_1", KEYS["C001"])
    assert pd.Timestamp(letter["as_of"]).date() == AS_OF
    assert pd.Timestamp(letter["send_at"]).tz_localize(None) == pd.Timestamp(NOW).tz_localize(None)
    [suppression] = rows(engine, contact_suppressions).to_dict("records")
    assert {k: suppression[k] for k in ("channel", "address", "customer_id", "reason", "source_id")} == {
        "channel": "email", "address": "compta@alpha.example", "customer_id": "C001", "reason": "bounce",
        "source_id": bounce[0]["sg_event_id"]}
    assert box.loc[[KEYS["C002"], KEYS["C003"]], "state"].tolist() == ["sent", "sent"]


def test_a_dropped_email_is_handled_like_a_bounce(engine, sendgrid):
    send_emails(engine, sendgrid)
    dropped = events_for(mail_to(sendgrid, "C003"), event="dropped", when=NOW)

    counts = ingest(engine, dropped)
    again = ingest(engine, dropped, now=LATER)

    assert (counts["bounced"], counts["suppressed"], counts["letters"]) == (1, 1, 1)
    assert (again["bounced"], again["suppressed"], again["letters"]) == (0, 0, 0)
    box = the_outbox(engine)
    assert (box.loc[KEYS["C003"], "state"], box.loc[KEYS["C003"], "reason"]) == ("bounced", "dropped: Bounced Address")
    assert box.loc[letter_key(KEYS["C003"]), ["channel", "parent_action_key"]].tolist() == ["letter", KEYS["C003"]]
    assert rows(engine, contact_suppressions)[["address", "reason"]].values.tolist() == [
        ["buchhaltung@gamma.example", "dropped"]]


def test_a_bounced_thank_you_has_no_letter_version_so_no_fallback_letter(engine, sendgrid):
    send_emails(engine, sendgrid)

    counts = ingest(engine, events_for(mail_to(sendgrid, "C002"), event="bounce", when=NOW))

    assert (counts["bounced"], counts["suppressed"], counts["letters"]) == (1, 1, 0)
    box = the_outbox(engine)
    assert box.loc[KEYS["C002"], "state"] == "bounced"
    assert (box["channel"] == "letter").sum() == 0


def test_the_emails_with_fallback_letters_are_those_with_letter_templates():
    templates = email_events_module.TEMPLATES_DIR
    assert (templates / "letter" / "reminder_1.fr.html.j2").is_file()
    assert (templates / "letter" / "reminder_2.de.html.j2").is_file()
    assert not list((templates / "letter").glob("thank_you.*")) and not list((templates / "letter").glob("courtesy.*"))


def test_a_blocked_message_is_a_soft_bounce_and_is_only_recorded(engine, sendgrid):
    send_emails(engine, sendgrid)
    before = the_outbox(engine)

    counts = ingest(engine, events_for(mail_to(sendgrid, "C001"), event="bounce", type="blocked",
                                       reason="421 4.7.0 Try again later", when=NOW))

    assert (counts["stored"], counts["bounced"], counts["suppressed"], counts["letters"]) == (1, 0, 0, 0)
    pd.testing.assert_frame_equal(the_outbox(engine), before)
    assert rows(engine, email_events)["reason"].tolist() == ["blocked: 421 4.7.0 Try again later"]


@pytest.mark.parametrize("event", ["spamreport", "unsubscribe", "group_unsubscribe"])
def test_a_spam_report_or_an_unsubscribe_only_suppresses_the_address(engine, sendgrid, event):
    send_emails(engine, sendgrid)
    report = events_for(mail_to(sendgrid, "C003"), event=event, when=NOW)

    counts = ingest(engine, report)

    assert (counts["bounced"], counts["suppressed"], counts["letters"]) == (0, 1, 0)
    assert the_outbox(engine).loc[KEYS["C003"], "state"] == "sent"
    assert rows(engine, contact_suppressions)[["address", "customer_id", "reason", "source_id"]].values.tolist() == [
        ["buchhaltung@gamma.example", "C003", event, report[0]["sg_event_id"]]]


def test_an_address_already_suppressed_keeps_its_first_reason(engine, sendgrid):
    send_emails(engine, sendgrid)
    ingest(engine, events_for(mail_to(sendgrid, "C003"), event="unsubscribe", when=NOW))

    counts = ingest(engine, events_for(mail_to(sendgrid, "C003"), event="bounce", when=LATER), now=LATER)

    assert (counts["bounced"], counts["suppressed"], counts["letters"]) == (1, 0, 1)
    assert rows(engine, contact_suppressions)["reason"].tolist() == ["unsubscribe"]


def test_a_bounce_for_an_email_in_doubt_records_it_as_sent_by_sendgrid_then_bounced(engine, sendgrid):
    ids = send_emails(engine, sendgrid, record=False)      # the task died before recording the ids

    counts = ingest(engine, events_for(mail_to(sendgrid, "C001"), event="bounce", when=NOW))

    assert (counts["bounced"], counts["letters"]) == (1, 1)
    email = the_outbox(engine).loc[KEYS["C001"]]
    assert (email["state"], email["provider"], email["provider_message_id"], email["recipient"]) == (
        "bounced", "sendgrid", ids[KEYS["C001"]], "compta@alpha.example")


def test_events_of_unknown_actions_are_stored_and_counted(engine, sendgrid):
    send_emails(engine, sendgrid)
    strangers = events_for(mail_to(sendgrid, "C001"), event="delivered", when=NOW, action_key="ffffffffffffffffffff")
    no_key = [{k: v for k, v in e.items() if k != "action_key"}
              for e in events_for(mail_to(sendgrid, "C002"), event="bounce", when=NOW)]

    counts = ingest(engine, strangers + no_key)

    assert (counts["stored"], counts["unknown_action"], counts["bounced"], counts["letters"]) == (2, 2, 0, 0)
    assert sorted(rows(engine, email_events)["action_key"]) == ["", "ffffffffffffffffffff"]
    # the address bounced all the same: nobody writes to it again
    assert rows(engine, contact_suppressions)[["address", "customer_id"]].values.tolist() == [["ap@beta.example", ""]]


# -- reconciliation -------------------------------------------------------------------------------

def test_reconcile_finds_the_emails_in_doubt_that_sendgrid_reported(engine, sendgrid):
    ids = send_emails(engine, sendgrid, record=False)      # all three in doubt
    ingest(engine, events_for(mail_to(sendgrid, "C001"), event="processed", when=NOW)
           + events_for(mail_to(sendgrid, "C003"), event="delivered", when=NOW))

    with engine.begin() as conn:
        doubtful = outbox.in_doubt(conn, "email")
        found = reconcile(conn, doubtful)
        moved = outbox.mark_sent(conn, found, now=NOW)

    assert len(doubtful) == 3 and moved == 2
    assert found.set_index("action_key")["provider_message_id"].to_dict() == {
        KEYS["C001"]: ids[KEYS["C001"]], KEYS["C003"]: ids[KEYS["C003"]]}
    box = the_outbox(engine)
    assert box.loc[[KEYS["C001"], KEYS["C002"], KEYS["C003"]], "state"].tolist() == ["sent", "sending", "sent"]
    assert box.loc[KEYS["C003"], "recipient"] == "buchhaltung@gamma.example"


def test_reconcile_ignores_rows_not_in_doubt_and_answers_an_empty_frame_when_nothing_matches(engine, sendgrid):
    send_emails(engine, sendgrid)
    ingest(engine, events_for(sendgrid.accepted, event="delivered", when=NOW))

    with engine.connect() as conn:
        sent = outbox.read_outbox(conn)
        assert reconcile(conn, sent).empty
        assert list(reconcile(conn, sent.iloc[0:0]).columns) == ["action_key", "provider", "provider_message_id",
                                                                  "recipient"]


# -- the webhook endpoint -------------------------------------------------------------------------

@pytest.fixture
def signer() -> WebhookSigner:
    return WebhookSigner()


@pytest.fixture
def webhooks(engine, warehouse_url, signer, monkeypatch):
    import receivables_webhooks

    monkeypatch.setenv("RECEIVABLES_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("RECEIVABLES_SENDGRID_WEBHOOK_PUBLIC_KEY", signer.public_key)
    yield TestClient(receivables_webhooks.app)
    receivables_webhooks._engine.cache_clear()


def post_events(client: TestClient, signer: WebhookSigner, events: list[dict], *,
                signed_at: dt.datetime | None = None, path: str = "/sendgrid/events"):
    raw = json.dumps(events).encode()
    return client.post(path, content=raw, headers=signer.headers(raw, signed_at or dt.datetime.now(dt.timezone.utc)))


def test_a_signed_delivery_is_stored_and_applied_and_a_redelivery_is_ignored(engine, sendgrid, webhooks, signer):
    send_emails(engine, sendgrid)
    payload = events_for(sendgrid.accepted, event="delivered", when=NOW) \
        + events_for(mail_to(sendgrid, "C001"), event="bounce", when=NOW)

    first = post_events(webhooks, signer, payload)
    again = post_events(webhooks, signer, payload)

    assert first.status_code == 200, first.text
    assert first.json() == {"events": 4, "stored": 4, "duplicates": 0, "unknown_action": 0, "bounced": 1,
                            "suppressed": 1, "letters": 1}
    assert again.status_code == 200 and (again.json()["stored"], again.json()["duplicates"]) == (0, 4)
    assert len(rows(engine, email_events)) == 4
    assert the_outbox(engine).loc[KEYS["C001"], "state"] == "bounced"


def test_a_delivery_signed_with_another_key_is_refused_401_and_stores_nothing(engine, sendgrid, webhooks):
    send_emails(engine, sendgrid)
    answer = post_events(webhooks, WebhookSigner(), events_for(sendgrid.accepted, event="bounce", when=NOW))
    assert answer.status_code == 401
    assert rows(engine, email_events).empty and the_outbox(engine)["state"].eq("sent").all()


def test_an_unsigned_delivery_is_refused_401(engine, sendgrid, webhooks):
    send_emails(engine, sendgrid)
    answer = webhooks.post("/sendgrid/events", content=json.dumps(events_for(sendgrid.accepted, when=NOW)),
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 401 and rows(engine, email_events).empty


def test_a_delivery_signed_ten_minutes_ago_is_refused_401_as_a_replay(engine, sendgrid, webhooks, signer):
    send_emails(engine, sendgrid)
    answer = post_events(webhooks, signer, events_for(sendgrid.accepted, when=NOW),
                         signed_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10))
    assert answer.status_code == 401 and rows(engine, email_events).empty


def test_without_a_configured_key_every_delivery_is_refused_503(engine, sendgrid, webhooks, signer, monkeypatch):
    send_emails(engine, sendgrid)
    monkeypatch.delenv("RECEIVABLES_SENDGRID_WEBHOOK_PUBLIC_KEY")
    answer = post_events(webhooks, signer, events_for(sendgrid.accepted, when=NOW))
    assert (answer.status_code, answer.json()) == (503, {"detail": "webhook not configured"})
    assert rows(engine, email_events).empty


def test_an_unreadable_configured_key_is_refused_503_not_401(webhooks, signer, monkeypatch):
    monkeypatch.setenv("RECEIVABLES_SENDGRID_WEBHOOK_PUBLIC_KEY", "not-a-key")
    assert post_events(webhooks, signer, []).status_code == 503


def test_a_signed_body_that_is_not_an_array_of_events_is_refused_400(engine, webhooks, signer):
    raw = b'{"event": "delivered"}'
    answer = webhooks.post("/sendgrid/events", content=raw, headers=signer.headers(raw, dt.datetime.now(dt.timezone.utc)))
    assert answer.status_code == 400 and "JSON array" in answer.json()["detail"]


def test_an_oversized_body_is_refused_413_before_checking_anything(webhooks, signer, monkeypatch):
    import receivables_webhooks

    monkeypatch.setattr(receivables_webhooks, "MAX_BODY_BYTES", 64)
    assert post_events(webhooks, signer, [{"sg_event_id": "x" * 100}]).status_code == 413


@pytest.fixture
def airflow_mounted_webhooks(webhooks, tmp_path, monkeypatch):
    """The plugin found by Airflow's own loader in a plugins folder and mounted by the API
    server's own `init_plugins` on a bare FastAPI app."""
    import shutil

    import receivables_webhooks
    from airflow import plugins_manager, settings
    from airflow.api_fastapi.app import init_plugins

    shutil.copy(receivables_webhooks.__file__, tmp_path / "receivables_webhooks.py")
    monkeypatch.setattr(settings, "PLUGINS_FOLDER", str(tmp_path))
    monkeypatch.setitem(sys.modules, "receivables_webhooks", receivables_webhooks)
    plugins_manager._get_plugins.cache_clear()
    plugins_manager.get_fastapi_plugins.cache_clear()
    server = FastAPI()
    init_plugins(server)
    yield TestClient(server)
    plugins_manager._get_plugins.cache_clear()
    plugins_manager.get_fastapi_plugins.cache_clear()
    sys.modules.get("receivables_webhooks", receivables_webhooks)._engine.cache_clear()


def test_airflow_mounts_the_webhooks_under_receivables_webhooks(engine, sendgrid, airflow_mounted_webhooks, signer):
    send_emails(engine, sendgrid)
    answer = post_events(airflow_mounted_webhooks, signer, events_for(sendgrid.accepted, when=NOW),
                         path="/receivables/webhooks/sendgrid/events")
    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] == 3


def test_importing_the_plugin_loads_no_warehouse_code_and_opens_no_database(tmp_path):
    plugins = str(REPO / "plugins")
    database = tmp_path / "never" / "warehouse.db"
    code = ("import sys, receivables_webhooks as m; "
            "heavy = sorted(n for n in ('pandas', 'sendgrid', 'receivables.channels.events', "
            "'receivables.warehouse.db', 'receivables.pipeline.settings') if n in sys.modules); "
            "assert not heavy, heavy; assert m.ReceivablesWebhooksPlugin.fastapi_apps[0]['url_prefix'] == "
            "'/receivables/webhooks'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path,
                   env={**os.environ, "PYTHONPATH": plugins, "RECEIVABLES_WAREHOUSE_URL": f"sqlite:///{database}"})
    assert not database.parent.exists()


# -- Twilio inbound SMS ---------------------------------------------------------------------------

def sms_module():
    try:
        from receivables.channels import sms
    except ImportError as error:
        pytest.skip(f"receivables.channels.sms is not there yet ({error})")
    missing = [name for name in ("verify_inbound", "record_inbound") if not hasattr(sms, name)]
    if missing:
        pytest.skip(f"receivables.channels.sms lacks {', '.join(missing)}")
    return sms


INBOUND = {"MessageSid": "SM0123456789abcdef0123456789abcdef", "AccountSid": "AC0123456789abcdef0123456789abcdef",
           "From": "+33612345678", "To": "+33700000000", "Body": "STOP", "NumSegments": "1"}


def test_an_inbound_sms_is_refused_503_while_no_twilio_token_is_configured(webhooks, monkeypatch):
    monkeypatch.delenv("RECEIVABLES_TWILIO_AUTH_TOKEN", raising=False)
    answer = webhooks.post("/twilio/inbound", data=INBOUND)
    assert (answer.status_code, answer.json()) == (503, {"detail": "webhook not configured"})


def test_a_signed_stop_reply_suppresses_the_number_and_is_answered_with_empty_twiml(engine, webhooks, monkeypatch):
    sms_module()
    from twilio.request_validator import RequestValidator

    monkeypatch.setenv("RECEIVABLES_TWILIO_AUTH_TOKEN", "twilio-test-token")
    signature = RequestValidator("twilio-test-token").compute_signature("http://testserver/twilio/inbound", INBOUND)

    answer = webhooks.post("/twilio/inbound", data=INBOUND, headers={"X-Twilio-Signature": signature})

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/xml")
    assert answer.text.endswith("<Response/>")
    assert rows(engine, contact_suppressions)[["channel", "address", "reason", "source_id"]].values.tolist() == [
        ["sms", "+33612345678", "stop", INBOUND["MessageSid"]]]


def test_an_inbound_sms_with_a_bad_signature_is_refused_401(engine, webhooks, monkeypatch):
    sms_module()
    monkeypatch.setenv("RECEIVABLES_TWILIO_AUTH_TOKEN", "twilio-test-token")
    answer = webhooks.post("/twilio/inbound", data=INBOUND, headers={"X-Twilio-Signature": "Zm9yZ2Vk"})
    assert answer.status_code == 401
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(contact_suppressions)).scalar() == 0
