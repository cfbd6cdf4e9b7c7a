"""SendGrid Event Webhook deliveries: signatures checked with the sendgrid library's own helper,
bodies parsed strictly, and the test double's events shaped like SendGrid's."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from doubles.sendgrid_events import WebhookSigner, events_for
from receivables.channels.events import letter_key, parse_events, provider_message_id, verify_signature

NOW = dt.datetime(2025, 6, 30, 9, 0, tzinfo=dt.timezone.utc)
BODY = json.dumps([{"email": "ap@client.example", "timestamp": 1751274000, "event": "delivered",
                    "sg_event_id": "ZGVsaXZlcmVkLTA", "sg_message_id": "14c5d75ce93.filter0001.0",
                    "action_key": "5f0c2a9be41d7a3c8e21"}]).encode()


@pytest.fixture(scope="module")
def signer() -> WebhookSigner:
    return WebhookSigner()


def test_a_body_signed_with_the_configured_key_is_accepted(signer):
    signature, timestamp = signer.sign(BODY, NOW)
    assert verify_signature(BODY, signature, timestamp, signer.public_key, now=NOW)


def test_a_tampered_body_is_refused(signer):
    signature, timestamp = signer.sign(BODY, NOW)
    tampered = BODY.replace(b"delivered", b"bounce")
    assert not verify_signature(tampered, signature, timestamp, signer.public_key, now=NOW)


def test_a_body_signed_with_another_key_is_refused(signer):
    signature, timestamp = WebhookSigner().sign(BODY, NOW)
    assert not verify_signature(BODY, signature, timestamp, signer.public_key, now=NOW)


def test_a_signature_over_another_timestamp_is_refused(signer):
    signature, _ = signer.sign(BODY, NOW)
    later = str(int(NOW.timestamp()) + 1)
    assert not verify_signature(BODY, signature, later, signer.public_key, now=NOW)


def test_a_delivery_signed_more_than_five_minutes_ago_is_refused_as_a_replay(signer):
    signature, timestamp = signer.sign(BODY, NOW - dt.timedelta(seconds=301))
    assert not verify_signature(BODY, signature, timestamp, signer.public_key, now=NOW)


def test_a_delivery_dated_more_than_five_minutes_ahead_is_refused(signer):
    signature, timestamp = signer.sign(BODY, NOW + dt.timedelta(seconds=301))
    assert not verify_signature(BODY, signature, timestamp, signer.public_key, now=NOW)


def test_a_delivery_within_the_tolerance_either_way_is_accepted(signer):
    for offset in (-300, -5, 0, 5, 300):
        signature, timestamp = signer.sign(BODY, NOW + dt.timedelta(seconds=offset))
        assert verify_signature(BODY, signature, timestamp, signer.public_key, now=NOW), offset


def test_the_tolerance_can_be_narrowed(signer):
    signature, timestamp = signer.sign(BODY, NOW - dt.timedelta(seconds=60))
    assert not verify_signature(BODY, signature, timestamp, signer.public_key, now=NOW, tolerance_s=30)


def test_a_naive_now_is_read_as_utc(signer):
    signature, timestamp = signer.sign(BODY, NOW)
    assert verify_signature(BODY, signature, timestamp, signer.public_key, now=NOW.replace(tzinfo=None))


@pytest.mark.parametrize("signature, timestamp", [
    ("", "1751274000"), (None, "1751274000"), ("not base64 !", "1751274000"), ("c2lnbmF0dXJl", "1751274000"),
    ("MEUCIQ==", ""), ("MEUCIQ==", "yesterday"), ("MEUCIQ==", "1751274000.5"),
])
def test_a_missing_or_malformed_signature_or_timestamp_is_refused(signer, signature, timestamp):
    assert not verify_signature(BODY, signature, timestamp, signer.public_key, now=NOW)


def test_a_body_that_is_not_utf8_is_refused(signer):
    body = b"\xff\xfe[]"
    signature, timestamp = signer.sign(body, NOW)
    assert not verify_signature(body, signature, timestamp, signer.public_key, now=NOW)


@pytest.mark.parametrize("key", ["", "not a key", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"])
def test_an_unreadable_public_key_is_a_configuration_error_not_a_refusal(signer, key):
    signature, timestamp = signer.sign(BODY, NOW)
    with pytest.raises(ValueError, match="public key"):
        verify_signature(BODY, signature, timestamp, key, now=NOW)


def test_a_json_array_of_events_is_parsed():
    [event] = parse_events(BODY)
    assert event["event"] == "delivered" and event["action_key"] == "5f0c2a9be41d7a3c8e21"
    assert parse_events(b"[]") == []


@pytest.mark.parametrize("body, message", [
    (b"{\"event\": \"delivered\"}", "JSON array of events, not a dict"),
    (b"null", "JSON array of events, not a NoneType"),
    (b"[{\"event\": \"delivered\", \"timestamp\": 1}", "not JSON"),
    (b"", "not JSON"),
    (b"[\"delivered\"]", "event 0 is a str, not an object"),
    (b"[{\"event\": \"delivered\", \"timestamp\": 1}]", "event 0 has no sg_event_id"),
    (b"[{\"sg_event_id\": \"a\", \"timestamp\": 1}]", "event 0 has no event"),
    (b"[{\"sg_event_id\": \"a\", \"event\": \"open\", \"timestamp\": \"noon\"}]", "event 0 \\(a\\) has no epoch"),
])
def test_anything_but_a_json_array_of_events_is_refused_with_a_clear_message(body, message):
    with pytest.raises(ValueError, match=message):
        parse_events(body)


def test_the_provider_message_id_is_the_x_message_id_part_of_the_event_message_id():
    assert provider_message_id("14c5d75ce93.filter0001.16648.5515E0B88.0") == "14c5d75ce93"
    assert provider_message_id("14c5d75ce93") == "14c5d75ce93"
    assert provider_message_id(None) == ""


def test_a_bounced_email_has_one_fallback_letter_key_the_same_on_every_delivery():
    key = letter_key("5f0c2a9be41d7a3c8e21")
    assert key == letter_key("5f0c2a9be41d7a3c8e21") != letter_key("5f0c2a9be41d7a3c8e22")
    assert len(key) == 20 and int(key, 16) >= 0


def test_the_double_gives_one_event_per_recipient_with_the_custom_args_at_the_top_level():
    accepted = [{"message_id": "W86EgYT6SQKk0lRflfLRsA", "body": {
        "custom_args": {"run": "2025-06-30"}, "categories": ["reminder_1"],
        "personalizations": [{"to": [{"email": "ap@alpha.example"}], "custom_args": {"action_key": "k1"}},
                             {"to": [{"email": "ap@beta.example"}, {"email": "cfo@beta.example"}],
                              "custom_args": {"action_key": "k2"}}]}}]

    events = events_for(accepted, event="bounce", when=NOW, type="blocked")

    assert [(e["email"], e["action_key"], e["sg_message_id"]) for e in events] == [
        ("ap@alpha.example", "k1", "W86EgYT6SQKk0lRflfLRsA.filter0001.0"),
        ("ap@beta.example", "k2", "W86EgYT6SQKk0lRflfLRsA.filter0001.1"),
        ("cfo@beta.example", "k2", "W86EgYT6SQKk0lRflfLRsA.filter0001.2")]
    assert {e["run"] for e in events} == {"2025-06-30"} and events[0]["category"] == ["reminder_1"]
    assert {e["type"] for e in events} == {"blocked"} and all(e["reason"].startswith("550") for e in events)
    assert {e["timestamp"] for e in events} == {int(NOW.timestamp())}
    assert len({e["sg_event_id"] for e in events}) == 3
    assert parse_events(json.dumps(events)) == events
