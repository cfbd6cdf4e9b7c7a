"""SMS reminders through the official `twilio` client and a local Twilio double, on SQLite and
PostgreSQL: each message goes once, a STOP is honoured, Twilio's refusals and failures land in the
outbox, and a message whose answer never came is found in Twilio's list instead of being resent."""

from __future__ import annotations

import datetime as dt
import hashlib
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from sqlalchemy import select

from doubles.twilio_api import TwilioDouble
from receivables.channels import outbox
from receivables.channels.sms import (SmsConfigurationError, dispatch_sms, record_inbound, segments, twilio_client,
                                      verify_inbound)
from receivables.ledger.schema import CUSTOMER_COLUMNS, conform
from receivables.scenarios.planner import ACTION_COLUMNS, LINE_COLUMNS, SKIPPED_COLUMNS
from receivables.scenarios.render import Creditor
from receivables.warehouse.db import make_engine
from receivables.warehouse.schema import contact_suppressions
from receivables.warehouse.store import refresh_customers, replace_plan

MONDAY = dt.date(2025, 7, 7)
UTC = dt.timezone.utc
NOW = dt.datetime(2025, 7, 7, 7, 30, tzinfo=UTC)             # 09:30 in Paris, 03:30 in Martinique
SENDER = "+33757000000"
CALLBACK = "https://receivables.example/twilio/status"
INBOUND = "https://receivables.example/twilio/inbound"
CREDITOR = Creditor.from_env({})

# customer_id: (name, country, phone, planned send time in UTC: 09:00 in the customer's zone)
CUSTOMERS = {
    "C001": ("Boulangerie Martin SARL", "FR", "06 12 34 56 78", dt.datetime(2025, 7, 7, 7, 0, tzinfo=UTC)),
    "C002": ("Garage Dupont & Fils", "FR", "+33 7 11 22 33 44", dt.datetime(2025, 7, 7, 7, 0, tzinfo=UTC)),
    "C003": ("Atelier sans numéro", "FR", "", dt.datetime(2025, 7, 7, 7, 0, tzinfo=UTC)),
    "C004": ("Rhumerie du Carbet", "MQ", "0696 11 22 33", dt.datetime(2025, 7, 7, 13, 0, tzinfo=UTC)),
}
NUMBERS = {"C001": "+33612345678", "C002": "+33711223344", "C004": "+596696112233"}


def key_of(customer_id: str) -> str:
    return hashlib.sha256(f"{customer_id}|standard|reminder_2|sms|EUR|2025-06-27".encode()).hexdigest()[:20]


def plan(url: str, customer_ids: tuple[str, ...] = ("C001", "C002", "C003"), *, phones: dict | None = None,
         send_at: dt.datetime | None = None) -> dict[str, str]:
    """Monday's plan: one SMS reminder per customer for its invoice due on 27 June, enqueued.
    Returns {customer_id: action_key}."""
    phones = phones or {}
    master = conform(pd.DataFrame([{"customer_id": c, "name": n, "country": country, "language": "fr",
                                    "email": "", "phone": phones.get(c, phone), "address": "", "segment": "PME",
                                    "strategic": False, "payment_terms_days": 30, "opt_out_channels": ""}
                                   for c, (n, country, phone, _) in CUSTOMERS.items()]), CUSTOMER_COLUMNS)
    actions, lines = [], []
    for number, customer_id in enumerate(customer_ids, start=1):
        key, amount, invoice = key_of(customer_id), 120_000 + number * 1_000, f"FA-2025-{140 + number:04d}"
        actions.append({"action_key": key, "as_of": MONDAY, "customer_id": customer_id, "scenario": "standard",
                        "step_id": "reminder_2", "offset_days": 10, "channel": "sms", "template": "sms/reminder_2",
                        "tone": "firm", "invoice_ids": invoice, "amount_minor": amount, "principal_minor": amount,
                        "interest_minor": None, "indemnity_minor": 0, "currency": "EUR", "language": "fr",
                        "requires_approval": False, "legal_fees": False, "hold_reason": "",
                        "send_at": send_at or CUSTOMERS[customer_id][3]})
        lines.append({"action_key": key, "customer_id": customer_id, "invoice_id": invoice, "step_id": "reminder_2",
                      "doc_date": dt.date(2025, 5, 28), "due_date": dt.date(2025, 6, 27), "original_minor": amount,
                      "open_minor": amount, "days_overdue": 10, "late_interest_minor": None, "indemnity_minor": 0})
    actions = pd.DataFrame(actions)[ACTION_COLUMNS].astype({"interest_minor": "Int64"})
    lines = pd.DataFrame(lines)[LINE_COLUMNS].astype({"late_interest_minor": "Int64"})
    for column in ("as_of",):
        actions[column] = pd.to_datetime(actions[column])
    for column in ("doc_date", "due_date"):
        lines[column] = pd.to_datetime(lines[column])
    engine = make_engine(url)
    with engine.begin() as conn:
        refresh_customers(conn, master)
        replace_plan(conn, MONDAY, actions=actions, lines=lines, skipped=pd.DataFrame(columns=SKIPPED_COLUMNS))
        outbox.enqueue(conn, actions, MONDAY, now=NOW - dt.timedelta(hours=1))
    return {c: key_of(c) for c in customer_ids}


def rows(url: str) -> dict[str, dict]:
    with make_engine(url).connect() as conn:
        return {r["customer_id"]: r for r in outbox.read_outbox(conn).to_dict("records")}


def suppressions(url: str) -> list[tuple]:
    with make_engine(url).connect() as conn:
        return [tuple(r) for r in conn.execute(select(contact_suppressions.c.channel, contact_suppressions.c.address,
                                                      contact_suppressions.c.customer_id,
                                                      contact_suppressions.c.reason)
                                               .order_by(contact_suppressions.c.address))]


@pytest.fixture
def twilio():
    with TwilioDouble(clock=NOW.timestamp) as double:
        yield double


def dispatch(url: str, twilio: TwilioDouble, *, now: dt.datetime = NOW, timeout: float = 5, **options) -> dict:
    options.setdefault("sleep", lambda seconds: None)
    client = twilio_client(twilio.account_sid, twilio.auth_token, base_url=twilio.url, timeout=timeout)
    return dispatch_sms(make_engine(url), part=(0, 1), now=now, client=client, sender=SENDER, creditor=CREDITOR,
                        status_callback=CALLBACK, **options)


def test_a_batch_goes_exactly_once_and_running_again_sends_nothing_more(warehouse_url, twilio):
    keys = plan(warehouse_url)

    first = dispatch(warehouse_url, twilio)
    again = dispatch(warehouse_url, twilio)

    assert first["sent"] == 2 and first["suppressed"] == 1 and first["failed"] == first["in_doubt"] == 0
    assert again == dict.fromkeys(again, 0)
    assert sorted(twilio.recipients()) == ["+33612345678", "+33711223344"]
    outbox_rows = rows(warehouse_url)
    by_number = {m["form"]["To"]: m for m in twilio.accepted}
    for customer_id in ("C001", "C002"):
        row, message = outbox_rows[customer_id], by_number[NUMBERS[customer_id]]
        form = message["form"]
        assert row["state"] == "sent" and row["provider"] == "twilio" and row["reason"] == ""
        assert row["provider_message_id"] == message["sid"] and row["recipient"] == NUMBERS[customer_id]
        assert form["From"] == SENDER and "ScheduleType" not in form
        assert parse_qs(urlsplit(form["StatusCallback"]).query) == {"action_key": [keys[customer_id]]}
        assert "Demo Distribution SAS" in form["Body"] and "FA-2025-01" in form["Body"]
        assert row["units"] == segments(form["Body"])[1] == message["num_segments"]
    assert first["segments"] == outbox_rows["C001"]["units"] + outbox_rows["C002"]["units"]
    assert (outbox_rows["C003"]["state"], outbox_rows["C003"]["reason"]) == ("suppressed", "no phone number")


def test_a_stop_reply_is_recorded_and_the_next_sms_to_that_number_is_suppressed(warehouse_url, twilio):
    plan(warehouse_url)
    form, signature = twilio.inbound(INBOUND, from_="+33612345678", body="Stop")
    assert verify_inbound(INBOUND, form, signature, twilio.auth_token)
    assert not verify_inbound(INBOUND, {**form, "Body": "Start"}, signature, twilio.auth_token)
    assert not verify_inbound(INBOUND, form, signature, "another-token")
    assert not verify_inbound(INBOUND, form, "", twilio.auth_token)

    with make_engine(warehouse_url).begin() as conn:
        assert record_inbound(conn, form, now=NOW) == "stop"
        assert record_inbound(conn, form, now=NOW) == "stop"        # Twilio retries a webhook: one row
        assert record_inbound(conn, {**form, "Body": "Merci, c'est réglé"}, now=NOW) == "ignored"
    summary = dispatch(warehouse_url, twilio)

    assert suppressions(warehouse_url) == [("sms", "+33612345678", "C001", "stop")]
    assert summary["sent"] == 1 and summary["suppressed"] == 2
    assert twilio.recipients() == ["+33711223344"]
    assert (rows(warehouse_url)["C001"]["state"], rows(warehouse_url)["C001"]["reason"]) == ("suppressed",
                                                                                           "opted out by STOP")
    restart, _ = twilio.inbound(INBOUND, from_="+33612345678", body="START")
    with make_engine(warehouse_url).begin() as conn:
        assert record_inbound(conn, restart, now=NOW) == "start"
    assert suppressions(warehouse_url) == []


def test_twilio_refusing_an_unsubscribed_number_suppresses_the_message_and_the_number(warehouse_url, twilio):
    plan(warehouse_url)
    twilio.opt_out("+33711223344")            # replied STOP to our sender, we never heard of it

    summary = dispatch(warehouse_url, twilio)

    assert summary["sent"] == 1 and summary["suppressed"] == 2 and summary["failed"] == 0
    assert (rows(warehouse_url)["C002"]["state"], rows(warehouse_url)["C002"]["reason"]) == ("suppressed",
                                                                                           "opted out by STOP")
    assert suppressions(warehouse_url) == [("sms", "+33711223344", "C002", "stop")]


def test_a_number_twilio_cannot_read_fails_with_twilios_code_and_words(warehouse_url, twilio):
    plan(warehouse_url, phones={"C002": "7 11 22"})

    summary = dispatch(warehouse_url, twilio)

    assert summary["sent"] == 1 and summary["failed"] == 1
    row = rows(warehouse_url)["C002"]
    assert row["state"] == "failed" and row["provider"] == "twilio"
    assert row["reason"] == "Twilio 21211: Invalid 'To' Phone Number: 7 11 22"


def test_a_server_error_is_retried_and_the_message_goes_once(warehouse_url, twilio):
    plan(warehouse_url)
    twilio.fail_next(500)
    waits: list[float] = []

    summary = dispatch(warehouse_url, twilio, sleep=waits.append)

    assert summary["sent"] == 2 and summary["deferred"] == 0
    assert waits == [0.5]
    assert len(twilio.accepted) == 2 and twilio.requests == 3


def test_twilio_still_rate_limiting_after_every_attempt_leaves_the_batch_pending_for_the_next_run(warehouse_url,
                                                                                                   twilio):
    plan(warehouse_url)
    twilio.fail_next(429, count=3, retry_after=2)
    waits: list[float] = []

    summary = dispatch(warehouse_url, twilio, sleep=waits.append, max_attempts=3)

    assert summary["sent"] == 0 and summary["deferred"] == 2 and waits == [2.0, 2.0]     # Retry-After honoured
    assert {rows(warehouse_url)[c]["state"] for c in ("C001", "C002")} == {"pending"}
    assert dispatch(warehouse_url, twilio)["sent"] == 2
    assert len(twilio.accepted) == 2


def test_a_stalled_request_is_in_doubt_and_the_next_run_finds_it_in_twilios_list_without_resending(warehouse_url,
                                                                                                    twilio):
    keys = plan(warehouse_url)
    twilio.stall_next(1.5)                     # Twilio takes the message, the client gives up after 0.5 s

    first = dispatch(warehouse_url, twilio, timeout=0.5)

    assert first["in_doubt"] == 1 and first["deferred"] == 1 and first["sent"] == 0
    states = {c: r["state"] for c, r in rows(warehouse_url).items()}
    assert sorted(states.values()) == ["pending", "sending", "suppressed"]
    lists_before = twilio.lists

    second = dispatch(warehouse_url, twilio)

    assert second["reconciled"] == 1 and second["in_doubt"] == 0 and second["sent"] == 1
    assert twilio.lists > lists_before
    assert sorted(twilio.recipients()) == ["+33612345678", "+33711223344"]      # nobody got it twice
    outbox_rows = rows(warehouse_url)
    by_number = {m["form"]["To"]: m["sid"] for m in twilio.accepted}
    for customer_id in ("C001", "C002"):
        assert outbox_rows[customer_id]["state"] == "sent"
        assert outbox_rows[customer_id]["provider_message_id"] == by_number[NUMBERS[customer_id]]
    assert keys.keys() == {"C001", "C002", "C003"}


def test_a_request_twilio_never_took_stays_in_doubt_and_is_not_resent(warehouse_url, twilio):
    plan(warehouse_url, ("C001",))
    twilio.stall_next(1.5, then_accept=False)

    first = dispatch(warehouse_url, twilio, timeout=0.5)
    second = dispatch(warehouse_url, twilio)

    assert first["in_doubt"] == second["in_doubt"] == 1 and second["sent"] == second["reconciled"] == 0
    assert twilio.accepted == [] and rows(warehouse_url)["C001"]["state"] == "sending"


def test_outside_quiet_hours_a_messaging_service_schedules_the_sms_else_it_waits_pending(warehouse_url, twilio):
    friday_evening = dt.datetime(2025, 7, 4, 19, 30, tzinfo=UTC)           # 21:30 in Paris
    plan(warehouse_url, ("C001", "C002"), send_at=dt.datetime(2025, 7, 4, 7, 0, tzinfo=UTC))
    twilio.clock = friday_evening.timestamp

    waiting = dispatch(warehouse_url, twilio, now=friday_evening)

    assert waiting["waiting"] == 2 and waiting["sent"] == waiting["scheduled"] == 0 and twilio.requests == 0
    assert {(r["state"], r["reason"]) for r in rows(warehouse_url).values()} == {("pending", "")}

    scheduled = dispatch(warehouse_url, twilio, now=friday_evening,
                         messaging_service_sid=twilio.messaging_service_sid)

    assert scheduled["scheduled"] == 2 and scheduled["sent"] == 0
    for message in twilio.accepted:
        form = message["form"]
        assert form["MessagingServiceSid"] == twilio.messaging_service_sid and form["ScheduleType"] == "fixed"
        assert form["SendAt"] == "2025-07-07T06:00:00Z"                       # Monday 08:00 in Paris
        assert message["status"] == "scheduled"
    assert {(r["state"], r["reason"]) for r in rows(warehouse_url).values()} == {
        ("sent", "scheduled for 2025-07-07T06:00:00Z")}


def test_a_customer_in_martinique_is_scheduled_for_eight_in_martinique(warehouse_url, twilio):
    plan(warehouse_url, ("C001", "C004"))

    without_service = dispatch(warehouse_url, twilio)            # 03:30 in Martinique: not due yet there
    with_service = dispatch(warehouse_url, twilio, messaging_service_sid=twilio.messaging_service_sid)

    assert without_service["sent"] == 1 and without_service["waiting"] == 0
    assert with_service["scheduled"] == 1
    [martinique] = [m for m in twilio.accepted if m["form"]["To"] == NUMBERS["C004"]]
    assert martinique["form"]["SendAt"] == "2025-07-07T13:00:00Z"   # its planned 09:00 there (UTC-4)


def test_a_stalled_scheduled_message_is_found_among_the_numbers_latest_messages(warehouse_url, twilio):
    plan(warehouse_url, ("C004",))
    twilio.stall_next(1.5)
    service = twilio.messaging_service_sid

    first = dispatch(warehouse_url, twilio, timeout=0.5, messaging_service_sid=service)
    second = dispatch(warehouse_url, twilio, messaging_service_sid=service)

    assert first["in_doubt"] == 1 and second["reconciled"] == 1 and second["in_doubt"] == 0
    assert len(twilio.accepted) == 1
    assert rows(warehouse_url)["C004"]["provider_message_id"] == twilio.accepted[0]["sid"]


def test_twilio_out_of_reach_sends_nothing_and_every_sms_waits_pending(warehouse_url):
    plan(warehouse_url)
    with TwilioDouble() as closed:
        pass                                   # its port is free again: nothing listens there
    waits: list[float] = []

    summary = dispatch(warehouse_url, closed, sleep=waits.append, max_attempts=2)

    assert summary["deferred"] == 2 and summary["sent"] == summary["in_doubt"] == 0 and waits == [0.5]
    assert {r["state"] for c, r in rows(warehouse_url).items() if c != "C003"} == {"pending"}


def test_wrong_credentials_stop_the_dispatch_and_lose_nothing(warehouse_url, twilio):
    plan(warehouse_url)
    client = twilio_client(twilio.account_sid, "not-the-token", base_url=twilio.url)

    with pytest.raises(SmsConfigurationError, match="20003"):
        dispatch_sms(make_engine(warehouse_url), part=(0, 1), now=NOW, client=client, sender=SENDER,
                     creditor=CREDITOR)

    assert {r["state"] for c, r in rows(warehouse_url).items() if c != "C003"} == {"pending"}
    assert twilio.accepted == []


def test_a_small_chunk_still_sends_every_ready_row_while_others_wait_for_their_quiet_hours(warehouse_url, twilio):
    friday_evening = dt.datetime(2025, 7, 4, 19, 30, tzinfo=UTC)           # 21:30 in Paris, 15:30 in Martinique
    plan(warehouse_url, ("C001", "C002", "C004"), send_at=dt.datetime(2025, 7, 4, 7, 0, tzinfo=UTC))
    twilio.clock = friday_evening.timestamp

    summary = dispatch(warehouse_url, twilio, now=friday_evening, chunk=1)

    assert summary["sent"] == 1 and summary["waiting"] == 2
    assert twilio.recipients() == [NUMBERS["C004"]]
    assert {c: r["state"] for c, r in rows(warehouse_url).items()} == {"C001": "pending", "C002": "pending",
                                                                         "C004": "sent"}


# -- the double itself, through the official client ------------------------------------------------

def refusal(twilio: TwilioDouble, **fields) -> tuple[int, int]:
    from twilio.base.exceptions import TwilioRestException

    client = twilio_client(twilio.account_sid, twilio.auth_token, base_url=twilio.url)
    request = {"to": "+33612345678", "from_": SENDER, "body": "Facture FA-1 impayée", **fields}
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(**request)
    return raised.value.status, raised.value.code


@pytest.mark.parametrize("fields, code", [
    ({"to": ""}, 21604),
    ({"to": "06 12 34 56 78"}, 21211),
    ({"from_": None}, 21603),
    ({"from_": "not a number!"}, 21212),
    ({"messaging_service_sid": "MG123"}, 21705),
    ({"messaging_service_sid": "MG" + "1" * 32}, 21701),
    ({"body": ""}, 21602),
    ({"body": "a" * 1601}, 21617),
    ({"status_callback": "ftp://receivables.example/status"}, 21609),
    ({"schedule_type": "fixed", "send_at": NOW + dt.timedelta(hours=1)}, 35118),
])
def test_the_double_refuses_what_twilio_refuses_with_its_error_codes(twilio, fields, code):
    assert refusal(twilio, **fields) == (400, code)
    assert twilio.accepted == []


@pytest.mark.parametrize("ahead, code", [(dt.timedelta(minutes=2), 35114), (dt.timedelta(days=36), 35114),
                                         (None, 35111)])
def test_the_double_schedules_only_between_five_minutes_and_35_days_ahead(twilio, ahead, code):
    fields = {"messaging_service_sid": twilio.messaging_service_sid, "schedule_type": "fixed"}
    if ahead is not None:
        fields["send_at"] = NOW + ahead
    assert refusal(twilio, **fields) == (400, code)


def test_the_double_lists_a_numbers_messages_by_day_newest_first_across_pages(twilio):
    client = twilio_client(twilio.account_sid, twilio.auth_token, base_url=twilio.url)
    for number in range(3):
        client.messages.create(to="+33612345678", from_=SENDER, body=f"message {number}")
    client.messages.create(to="+33711223344", from_=SENDER, body="someone else")
    scheduled = client.messages.create(to="+33612345678", messaging_service_sid=twilio.messaging_service_sid,
                                       body="later", schedule_type="fixed", send_at=NOW + dt.timedelta(days=1))

    today = client.messages.list(to="+33612345678", date_sent="2025-07-07", page_size=2)
    latest = client.messages.list(to="+33612345678", limit=2)

    assert [m.body for m in today] == ["message 2", "message 1", "message 0"]
    assert {m.status for m in today} == {"sent"} and scheduled.status == "scheduled"
    assert [m.body for m in latest] == ["later", "message 2"] and latest[0].date_sent is None
    assert client.messages.list(to="+33612345678", date_sent="2025-07-08") == []
    assert client.messages(scheduled.sid).fetch().status == "scheduled"
