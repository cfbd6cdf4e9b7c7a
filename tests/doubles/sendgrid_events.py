"""SendGrid's side of the Event Webhook, for the tests: a signing key and events shaped like its.

    signer = WebhookSigner()                        # public_key: what SendGrid's settings page shows
    raw = json.dumps(events_for(double.accepted, event="delivered", when=now)).encode()
    signature, timestamp = signer.sign(raw, now)    # the two X-Twilio-Email-Event-Webhook-* headers

`events_for` turns the mails a `SendGridDouble` accepted into the events SendGrid would post:
one per recipient ("to" of each personalization), carrying the message-level `custom_args` and
the personalization's own merged at the top level (the outbox key travels there), the
categories, and `sg_message_id` = "<X-Message-Id>.filter0001.<n>" (n: the recipient's position
in the request). Every event gets a fresh `sg_event_id`: a redelivery is the same list posted again.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhookHeader

SIGNATURE_HEADER = EventWebhookHeader.SIGNATURE
TIMESTAMP_HEADER = EventWebhookHeader.TIMESTAMP

# What SendGrid adds to each kind of event (the fields the ingestion reads, and a few more).
_DETAILS = {
    "bounce": {"type": "bounce", "status": "5.1.1",
               "reason": "550 5.1.1 The email account that you tried to reach does not exist."},
    "dropped": {"reason": "Bounced Address", "status": "5.0.0"},
    "deferred": {"response": "400 4.2.2 Mailbox full, try again later", "attempt": "1"},
    "delivered": {"response": "250 2.0.0 OK", "ip": "127.0.0.1", "tls": 1},
    "open": {"useragent": "Mozilla/5.0", "ip": "127.0.0.1", "sg_machine_open": False},
    "click": {"useragent": "Mozilla/5.0", "ip": "127.0.0.1", "url": "https://receivables.example/pay"},
    "unsubscribe": {}, "group_unsubscribe": {"asm_group_id": 1}, "spamreport": {}, "processed": {},
}


def _epoch(when: dt.datetime | int | str) -> str:
    if isinstance(when, dt.datetime):
        return str(int(when.timestamp()))
    return str(when)


class WebhookSigner:
    """An ECDSA P-256 key pair like the one SendGrid generates for a signed Event Webhook."""

    def __init__(self) -> None:
        self._private_key = ec.generate_private_key(ec.SECP256R1())
        der = self._private_key.public_key().public_bytes(serialization.Encoding.DER,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_key = base64.b64encode(der).decode("ascii")

    def sign(self, raw_body: bytes, timestamp: dt.datetime | int | str) -> tuple[str, str]:
        """(signature, timestamp) header values: a base64 DER ECDSA/SHA-256 signature of
        timestamp + body, the timestamp in epoch seconds."""
        stamp = _epoch(timestamp)
        signature = self._private_key.sign(stamp.encode("utf-8") + raw_body, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode("ascii"), stamp

    def headers(self, raw_body: bytes, timestamp: dt.datetime | int | str) -> dict[str, str]:
        signature, stamp = self.sign(raw_body, timestamp)
        return {SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: stamp, "Content-Type": "application/json"}


def events_for(accepted_records: list[dict], event: str = "delivered", *, when: dt.datetime, **fields) -> list[dict]:
    """One `event` per recipient of each accepted mail; `fields` add to or override SendGrid's
    details of that event (`type="blocked"` for a soft bounce, `reason=...`)."""
    stamp = int(_epoch(when))
    out = []
    for record in accepted_records:
        body = record["body"]
        message_args = body.get("custom_args") or {}
        categories = body.get("categories") or []
        recipient = 0
        for personalization in body["personalizations"]:
            for to in personalization.get("to", []):
                out.append({
                    "email": to["email"], "timestamp": stamp, "event": event,
                    "sg_event_id": secrets.token_urlsafe(16),
                    "sg_message_id": f"{record['message_id']}.filter0001.{recipient}",
                    "smtp-id": f"<{record['message_id']}@ismtpd0001p1.sendgrid.net>",
                    **({"category": categories} if categories else {}),
                    **_DETAILS.get(event, {}), **message_args, **(personalization.get("custom_args") or {}),
                    **fields,
                })
                recipient += 1
    return out
