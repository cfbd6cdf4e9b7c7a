"""SendGrid Event Webhook: verified, deduplicated, and applied to the outbox.

    if not verify_signature(raw, headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER], public_key, now=now):
        ...                                                   # 401: never ingest an unsigned payload
    with engine.begin() as conn:                              # one transaction per payload
        counts = ingest_events(conn, parse_events(raw), now=now)

SendGrid posts a JSON array of events and retries a delivery it thinks failed for up to 24 hours,
so the same event can arrive several times: `sg_event_id` is the key of `email_events`, and an
event already stored (or repeated within one payload) is ignored, effects included. The
dispatcher puts the outbox `action_key` in the message's `custom_args`, which SendGrid echoes at
the top level of every event: that is how an event finds its outbox row.

What each event does (the event is always stored first):

    bounce (type 'bounce'), dropped   the row (sent, or in doubt in 'sending': the provider had it)
                                      -> 'bounced' with the reason; the address -> contact_suppressions;
                                      a fallback letter enqueued once, when the email's template has
                                      a letter version (reminders do; thank-yous and courtesy notices not)
    bounce (type 'blocked')           stored only: a soft bounce, the address may work tomorrow
    spamreport, unsubscribe,
    group_unsubscribe                 the address -> contact_suppressions (reason: the event name)
    anything else (processed,
    delivered, deferred, open, ...)   stored only

`reconcile` answers the dispatcher's question about rows left in 'sending' by a killed task:
an event carrying the row's key proves SendGrid accepted the message.
"""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook, EventWebhookHeader
from sqlalchemy import Connection, select

from receivables.channels import outbox
from receivables.scenarios.render import TEMPLATES_DIR
from receivables.warehouse.db import bulk_insert
from receivables.warehouse.schema import collection_actions, contact_suppressions, dispatch_outbox, email_events

SIGNATURE_HEADER = EventWebhookHeader.SIGNATURE      # X-Twilio-Email-Event-Webhook-Signature
TIMESTAMP_HEADER = EventWebhookHeader.TIMESTAMP      # X-Twilio-Email-Event-Webhook-Timestamp
PROVIDER = "sendgrid"

UNDELIVERABLE = ("bounce", "dropped")
SOFT_BOUNCE_TYPES = ("blocked",)
OPTED_OUT = ("spamreport", "unsubscribe", "group_unsubscribe")

_CHUNK = 5_000


# -- verification and parsing ---------------------------------------------------------------------

def verify_signature(raw_body: bytes, signature: str, timestamp: str, public_key: str, *, now: dt.datetime,
                     tolerance_s: int = 300) -> bool:
    """Whether `raw_body` is what SendGrid signed at `timestamp` (epoch seconds, the header as
    received), within `tolerance_s` of `now` either way (a replay of an old delivery, or a
    clock far ahead, is refused). `public_key` is the base64 key SendGrid shows (SPKI DER);
    one that is not a P-256 public key raises ValueError: that is a configuration error, not a
    bad request. A naive `now` is taken as UTC."""
    if not public_key:
        raise ValueError("no Event Webhook public key")
    try:
        verifier = EventWebhook(public_key.strip())
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise ValueError(f"the Event Webhook public key is not a base64 SPKI public key: {error}") from None
    if not isinstance(verifier.public_key, ec.EllipticCurvePublicKey):
        raise ValueError("the Event Webhook public key is not an elliptic-curve (P-256) key")
    if not signature or not timestamp or not timestamp.strip().isdigit():
        return False
    instant = now if now.tzinfo is not None else now.replace(tzinfo=dt.timezone.utc)
    if abs(instant.timestamp() - int(timestamp)) > tolerance_s:
        return False
    try:
        payload = raw_body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    try:
        return bool(verifier.verify_signature(payload, signature, timestamp))
    except (binascii.Error, ValueError):   # not base64, or not a DER signature
        return False


def parse_events(raw_body: bytes | str) -> list[dict]:
    """The events of a webhook body: a JSON array of objects, each with a string `sg_event_id`,
    a string `event` and an integer `timestamp`. Anything else raises ValueError saying what."""
    try:
        events = json.loads(raw_body)
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"the Event Webhook body is not JSON: {error}") from None
    if not isinstance(events, list):
        raise ValueError(f"the Event Webhook body must be a JSON array of events, not a {type(events).__name__}")
    for position, event in enumerate(events):
        if not isinstance(event, dict):
            raise ValueError(f"event {position} is a {type(event).__name__}, not an object")
        for field in ("sg_event_id", "event"):
            if not isinstance(event.get(field), str) or not event[field]:
                raise ValueError(f"event {position} has no {field}")
        stamp = event.get("timestamp")
        if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
            raise ValueError(f"event {position} ({event['sg_event_id']}) has no epoch timestamp")
    return events


# -- ingestion ------------------------------------------------------------------------------------

def _text(value: object, size: int | None = None) -> str:
    text = "" if value is None else str(value)
    return text[:size] if size else text


def _told(event: dict) -> str:
    """What SendGrid said: a bounce's or a drop's reason, a deferral's response."""
    return _text(event.get("reason")) or _text(event.get("response"))


def _reason(event: dict) -> str:
    """The stored reason: '<type>: <what it said>' when the event has a type ('bounce: 550 5.1.1
    ...', 'blocked: ...'), else what it said."""
    told, kind = _told(event), _text(event.get("type"))
    return f"{kind}: {told}" if kind and told else kind or told


def _is_undeliverable(event: dict) -> bool:
    return event["event"] in UNDELIVERABLE and _text(event.get("type")).lower() not in SOFT_BOUNCE_TYPES


def _stored_ids(conn: Connection, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        found.update(conn.execute(select(email_events.c.sg_event_id)
                                  .where(email_events.c.sg_event_id.in_(ids[start:start + _CHUNK]))).scalars())
    return found


def _outbox_rows(conn: Connection, keys: Iterable[str]) -> dict[str, dict]:
    keys = sorted({k for k in keys if k})
    rows: dict[str, dict] = {}
    for start in range(0, len(keys), _CHUNK):
        query = select(dispatch_outbox).where(dispatch_outbox.c.action_key.in_(keys[start:start + _CHUNK]))
        rows.update({r["action_key"]: dict(r) for r in conn.execute(query).mappings()})
    return rows


def letter_key(parent_action_key: str) -> str:
    """The outbox key of the letter that replaces a bounced email (the same on every delivery)."""
    return hashlib.sha256(f"{parent_action_key}|letter".encode()).hexdigest()[:20]


def ingest_events(conn: Connection, events: list[dict], *, now: dt.datetime,
                  templates_dir: Path = TEMPLATES_DIR) -> dict:
    """Store the events not stored yet and apply them (see the module docstring), inside the
    caller's transaction. Returns counts: events, stored, duplicates, unknown_action (stored
    events whose action key is absent or not in the outbox), bounced (outbox rows moved to
    'bounced'), suppressed (addresses newly suppressed), letters (fallback letters enqueued)."""
    fresh: dict[str, dict] = {}
    for event in events:
        fresh.setdefault(str(event["sg_event_id"]), event)
    for known in _stored_ids(conn, list(fresh)):
        fresh.pop(known)
    counts = {"events": len(events), "stored": len(fresh), "duplicates": len(events) - len(fresh),
              "unknown_action": 0, "bounced": 0, "suppressed": 0, "letters": 0}
    if not fresh:
        return counts
    stored = pd.DataFrame({
        "sg_event_id": list(fresh),
        "action_key": [_text(e.get("action_key"), 40) for e in fresh.values()],
        "event": [_text(e["event"], 30) for e in fresh.values()],
        "email": [_text(e.get("email")) for e in fresh.values()],
        "event_at": pd.to_datetime([int(e["timestamp"]) for e in fresh.values()], unit="s", utc=True),
        "sg_message_id": [_text(e.get("sg_message_id"), 200) for e in fresh.values()],
        "reason": [_reason(e) for e in fresh.values()],
        "received_at": pd.Timestamp(now),
    })
    bulk_insert(conn, email_events, stored)

    rows = _outbox_rows(conn, stored["action_key"])
    counts["unknown_action"] = int((~stored["action_key"].isin(list(rows))).sum())
    bounced = _bounce(conn, [(sg_id, e) for sg_id, e in fresh.items() if _is_undeliverable(e)], rows, now=now)
    counts["bounced"] = len(bounced)
    counts["letters"] = _enqueue_letters(conn, [rows[k] for k in bounced], now=now, templates_dir=templates_dir)
    counts["suppressed"] = _suppress(
        conn, [(sg_id, e) for sg_id, e in fresh.items() if _is_undeliverable(e) or e["event"] in OPTED_OUT],
        rows, now=now)
    return counts


def _bounce(conn: Connection, undeliverable: list[tuple[str, dict]], rows: dict[str, dict], *,
            now: dt.datetime) -> list[str]:
    """Email rows sent or in doubt -> 'bounced' (an in-doubt row is first recorded as sent with
    the provider's id: SendGrid had it); returns the keys moved."""
    first: dict[str, dict] = {}
    for _, event in undeliverable:
        key = _text(event.get("action_key"))
        if key in rows and rows[key]["channel"] == "email" and rows[key]["state"] in ("sent", "sending"):
            first.setdefault(key, event)
    if not first:
        return []
    in_doubt = [k for k in first if rows[k]["state"] == "sending"]
    if in_doubt:
        outbox.mark_sent(conn, pd.DataFrame({
            "action_key": in_doubt, "provider": PROVIDER,
            "provider_message_id": [provider_message_id(first[k].get("sg_message_id")) for k in in_doubt],
            "recipient": [_text(first[k].get("email")) for k in in_doubt]}), now=now)
    reasons = {k: f"{e['event']}: {_told(e)}" if _told(e) else e["event"] for k, e in first.items()}
    outbox.mark_bounced(conn, reasons, now=now)
    return list(first)


def _letter_template(action: dict, templates_dir: Path) -> bool:
    name = str(action["template"]).split("/", 1)[-1]
    return (templates_dir / "letter" / f"{name}.{action['language']}.html.j2").is_file()


def _enqueue_letters(conn: Connection, parents: list[dict], *, now: dt.datetime, templates_dir: Path) -> int:
    """A pending letter for each bounced email whose template has a letter version, enqueued
    under the parent's plan date (the letter renders the parent's action: same invoices)."""
    new = 0
    by_day: dict[dt.date, list[dict]] = {}
    for parent in parents:
        by_day.setdefault(pd.Timestamp(parent["as_of"]).date(), []).append(parent)
    for day, group in sorted(by_day.items()):
        query = (select(collection_actions.c.action_key, collection_actions.c.template, collection_actions.c.language)
                 .where(collection_actions.c.as_of == day,
                        collection_actions.c.action_key.in_([p["action_key"] for p in group])))
        actions = {r["action_key"]: r for r in conn.execute(query).mappings()}
        wanted = [p for p in group if p["action_key"] in actions
                  and _letter_template(actions[p["action_key"]], templates_dir)]
        if not wanted:
            continue
        letters = pd.DataFrame({
            "action_key": [letter_key(p["action_key"]) for p in wanted],
            "customer_id": [p["customer_id"] for p in wanted], "channel": "letter",
            "step_id": [p["step_id"] for p in wanted], "send_at": pd.Timestamp(now),
            "requires_approval": False, "hold_reason": "",
            "parent_action_key": [p["action_key"] for p in wanted]})
        new += outbox.enqueue(conn, letters, day, now=now)["new"]
    return new


def _suppress(conn: Connection, events: list[tuple[str, dict]], rows: dict[str, dict], *, now: dt.datetime) -> int:
    """Addresses not suppressed yet -> contact_suppressions (the first event that said so wins)."""
    wanted: dict[str, dict] = {}
    for sg_event_id, event in events:
        address = _text(event.get("email")).strip().lower()[:320]
        if address and address not in wanted:
            owner = rows.get(_text(event.get("action_key")), {})
            wanted[address] = {"channel": "email", "address": address, "customer_id": owner.get("customer_id", ""),
                               "reason": _text(event["event"], 30), "source_id": sg_event_id[:100]}
    if not wanted:
        return 0
    addresses = sorted(wanted)
    for start in range(0, len(addresses), _CHUNK):
        query = select(contact_suppressions.c.address).where(
            contact_suppressions.c.channel == "email",
            contact_suppressions.c.address.in_(addresses[start:start + _CHUNK]))
        for known in conn.execute(query).scalars():
            wanted.pop(known, None)
    if not wanted:
        return 0
    return bulk_insert(conn, contact_suppressions, pd.DataFrame(list(wanted.values())).assign(since=pd.Timestamp(now)))


# -- reconciliation -------------------------------------------------------------------------------

def provider_message_id(sg_message_id: object) -> str:
    """The X-Message-Id the Mail Send answer gave: an event's sg_message_id up to its first '.'."""
    return _text(sg_message_id).split(".", 1)[0]


def reconcile(conn: Connection, rows: pd.DataFrame) -> pd.DataFrame:
    """Of outbox `rows` in doubt ('sending'), those SendGrid has events for: action_key,
    provider, provider_message_id, recipient, ready for `outbox.mark_sent`."""
    columns = ["action_key", "provider", "provider_message_id", "recipient"]
    keys = sorted(set(rows.loc[rows["state"] == "sending", "action_key"].astype(str))) if not rows.empty else []
    found = []
    for start in range(0, len(keys), _CHUNK):
        query = (select(email_events.c.action_key, email_events.c.sg_message_id, email_events.c.email)
                 .where(email_events.c.action_key.in_(keys[start:start + _CHUNK]))
                 .order_by(email_events.c.action_key, email_events.c.event_at, email_events.c.sg_event_id))
        found.append(pd.read_sql(query, conn))
    events = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=["action_key", "sg_message_id",
                                                                                      "email"])
    # one event per key, preferring one that names the message
    events = (events.assign(unnamed=events["sg_message_id"].fillna("").astype(str) == "")
              .sort_values(["action_key", "unnamed"], kind="stable").drop_duplicates("action_key"))
    return pd.DataFrame({"action_key": events["action_key"].astype(str).to_numpy(), "provider": PROVIDER,
                         "provider_message_id": events["sg_message_id"].map(provider_message_id).to_numpy(),
                         "recipient": events["email"].astype(str).to_numpy()}, columns=columns)
