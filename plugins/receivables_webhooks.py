"""Provider webhooks, served by the Airflow API server under /receivables/webhooks.

    POST /receivables/webhooks/sendgrid/events    SendGrid signed Event Webhook (JSON array of events)
    POST /receivables/webhooks/twilio/inbound     Twilio inbound SMS (form-encoded, X-Twilio-Signature)

Airflow mounts a plugin's FastAPI app on its API server without Airflow's authentication
(apache/airflow #72655): that is what a provider needs, since SendGrid and Twilio cannot log
in, so each route authenticates its caller itself, by the provider's signature, and refuses
everything while its key is not configured:

    RECEIVABLES_SENDGRID_WEBHOOK_PUBLIC_KEY   the Event Webhook verification key (base64, as SendGrid shows it)
    RECEIVABLES_TWILIO_AUTH_TOKEN             the Twilio auth token that signs its webhooks
    RECEIVABLES_WAREHOUSE_URL                 where the events go (see receivables.pipeline.settings)

SendGrid event deliveries: 503 'webhook not configured' without a key, 401 for a missing, bad
or stale signature (more than 5 minutes from the server's clock), 413 past 8 MiB, 400 for a
body that is not a JSON array of events, else 200 with counts, the events stored and applied
in one transaction (a redelivered event is ignored: SendGrid retries for 24 hours). A non-2xx
answer makes SendGrid deliver again later, which is what a database outage needs.

The API server, the scheduler and the dag-processor all import this file: its top level imports
FastAPI and Airflow's plugin base only; pandas, SQLAlchemy and the warehouse wait for the first
request, and importing it opens no connection.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from functools import lru_cache

from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

__all__ = ["ReceivablesWebhooksPlugin", "app"]

log = logging.getLogger(__name__)

SENDGRID_KEY_VARIABLE = "RECEIVABLES_SENDGRID_WEBHOOK_PUBLIC_KEY"
TWILIO_TOKEN_VARIABLE = "RECEIVABLES_TWILIO_AUTH_TOKEN"
MAX_BODY_BYTES = 8 * 1024 * 1024
TOLERANCE_S = 300
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

# No OpenAPI pages: the routes are public, nothing to advertise.
app = FastAPI(title="receivables webhooks", docs_url=None, redoc_url=None, openapi_url=None)


class _TooLarge(Exception):
    pass


def _now() -> dt.datetime:
    # One seam for the clock, so tests can pin "now".
    return dt.datetime.now(dt.timezone.utc)


def _refuse(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


async def _body(request: Request) -> bytes:
    """The raw body, exactly as sent (signatures cover these bytes), at most MAX_BODY_BYTES."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def _configured_body(request: Request, variable: str, what: str) -> tuple[str, bytes] | Response:
    """(the secret in `variable`, the raw body), or the refusal: 503 while the secret is not
    configured (nothing unsigned is ever accepted), 413 for a body too large."""
    secret = os.environ.get(variable, "").strip()
    if not secret:
        log.warning("%s refused: %s is not set", what, variable)
        return _refuse(503, "webhook not configured")
    try:
        return secret, await _body(request)
    except _TooLarge:
        return _refuse(413, f"payload larger than {MAX_BODY_BYTES} bytes")


@lru_cache(maxsize=4)
def _engine(url: str):  # noqa: ANN202 - one pool per warehouse URL, made at the first request
    from receivables.warehouse.db import make_engine

    return make_engine(url)


def _warehouse():  # noqa: ANN202
    from receivables.pipeline.settings import wave_settings

    return _engine(wave_settings().warehouse_url)


def _in_one_transaction(work):  # noqa: ANN001, ANN202
    """`work(conn)` in one transaction; once more if a concurrent delivery of the same events
    won the race to insert them (the second run then finds them stored)."""
    from sqlalchemy.exc import IntegrityError

    engine = _warehouse()
    try:
        with engine.begin() as conn:
            return work(conn)
    except IntegrityError:
        with engine.begin() as conn:
            return work(conn)


@app.post("/sendgrid/events")
async def sendgrid_events(request: Request) -> Response:
    received = await _configured_body(request, SENDGRID_KEY_VARIABLE, "SendGrid event delivery")
    if isinstance(received, Response):
        return received
    public_key, raw = received

    from receivables.channels import events

    now = _now()
    try:
        signed = events.verify_signature(raw, request.headers.get(events.SIGNATURE_HEADER, ""),
                                         request.headers.get(events.TIMESTAMP_HEADER, ""), public_key,
                                         now=now, tolerance_s=TOLERANCE_S)
    except ValueError as error:
        log.error("SendGrid event delivery refused: %s (%s)", error, SENDGRID_KEY_VARIABLE)
        return _refuse(503, "webhook not configured")
    if not signed:
        log.warning("SendGrid event delivery refused: missing, invalid or stale signature")
        return _refuse(401, "invalid signature")
    try:
        parsed = events.parse_events(raw)
    except ValueError as error:
        log.warning("SendGrid event delivery refused: %s", error)
        return _refuse(400, str(error))
    counts = await run_in_threadpool(_in_one_transaction, lambda conn: events.ingest_events(conn, parsed, now=now))
    log.info("SendGrid events ingested: %s", " ".join(f"{name}={value}" for name, value in counts.items()))
    return JSONResponse(counts)


@app.post("/twilio/inbound")
async def twilio_inbound(request: Request) -> Response:
    received = await _configured_body(request, TWILIO_TOKEN_VARIABLE, "Twilio inbound message")
    if isinstance(received, Response):
        return received
    token, raw = received

    from urllib.parse import parse_qsl

    from receivables.channels.sms import record_inbound, verify_inbound

    try:
        form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        return _refuse(400, "the form is not UTF-8")
    # Twilio signs the URL it called: the full URL of this request, query string included.
    if not verify_inbound(str(request.url), form, request.headers.get("X-Twilio-Signature", ""), token):
        log.warning("Twilio inbound message refused: missing or invalid signature")
        return _refuse(401, "invalid signature")
    now = _now()
    outcome = await run_in_threadpool(_in_one_transaction, lambda conn: record_inbound(conn, form, now=now))
    log.info("Twilio inbound message %s: %s", form.get("MessageSid", ""), outcome)
    return Response(EMPTY_TWIML, media_type="text/xml")


class ReceivablesWebhooksPlugin(AirflowPlugin):
    name = "receivables_webhooks"
    fastapi_apps = [{"app": app, "url_prefix": "/receivables/webhooks", "name": "receivables webhooks"}]
