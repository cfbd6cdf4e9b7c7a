"""Email: the day's messages through SendGrid's v3 Mail Send, many per request, each exactly once.

    client = sendgrid_client(api_key, host="https://api.sendgrid.com")
    summary = dispatch_email(engine, part=(0, 2), now=now, sender=SendGridSender(client),
                             settings=EmailSettings(from_email="recouvrement@acme.fr", from_name="ACME"),
                             creditor=creditor)
    summary  # {'sent': 1812, 'failed': 3, 'suppressed': 1, 'in_doubt': 0, 'deferred': 0, 'requests': 3, ...}

Requests. Messages are rendered here (Jinja, per customer), so each personalization carries its
own subject and, through `substitutions`, its own HTML and text body: the request's content is
the two tags `-html-` / `-text-`. Up to 1000 personalizations per request (SendGrid's limit),
an address at most once per request, grouped by what SendGrid only accepts per request: the
categories (the step), the unsubscribe group (courtesy notices only: a customer may refuse
courtesy mail, never a reminder of a debt or a legal notice) and attachments. A message that
carries attachments (copies of its invoices, when a documents folder is configured) or whose
body is over SendGrid's 10,000-byte substitution budget goes alone, its body inline. Each
personalization has `custom_args.action_key` (SendGrid echoes it on every Event Webhook event:
that is how bounces and in-doubt sends find their action) and its own `send_at` (the planned
send time, at most 72 hours ahead: later ones wait for a later run).

Answers. 202: every message of the request is sent, with the request's X-Message-Id. 400: the
errors name personalizations (`personalizations.3.to`): those messages fail with SendGrid's
words, the others go again at once; an error SendGrid does not pin on one personalization
splits the request into single messages, so only the guilty one fails. 413: split in two.
429: wait until X-RateLimit-Reset, then again; 5xx: exponential backoff; after `max_attempts`
the request's messages go back to pending for the next run (nothing was accepted). 401/403: the
API key is wrong: everything claimed goes back to pending and the task fails. A timeout or a
broken connection is *in doubt*: SendGrid may have the mail. Those rows stay 'sending' and are
reconciled on the next attempt (see `outbox`): an Event Webhook event with their key means sent;
no event while events for other mail kept arriving for `in_doubt_grace` after the claim means
SendGrid never had it, and it goes again; otherwise it waits, loudly.

Without an API key (the demo), `FileSender` writes each message as an RFC 5322 `.eml` file
under the outbox folder instead: same claims, same states, provider 'file'.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.contentmanager
import email.message
import email.policy
import email.utils
import json
import logging
import os
import random
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, func, select

from receivables.channels import outbox
from receivables.channels.messages import rendered
from receivables.scenarios.legal import LegalRules
from receivables.scenarios.render import Creditor
from receivables.warehouse.schema import email_events

log = logging.getLogger(__name__)

MAX_PERSONALIZATIONS = 1000
SUBSTITUTIONS_BUDGET = 10_000          # bytes of substitutions per personalization (SendGrid)
MAX_SEND_AHEAD = dt.timedelta(hours=71)  # SendGrid refuses send_at beyond 72 hours
MAX_ATTACHMENTS_BYTES = 20 * 1024 * 1024  # under the 30 MB message limit, base64 included
HTML_TAG, TEXT_TAG = "-html-", "-text-"
_PERSONALIZATION_FIELD = re.compile(r"^personalizations\.(\d+)")
COURTESY_TONES = ("courtesy",)


class DispatchConfigurationError(RuntimeError):
    """The provider refuses our credentials or configuration: no message can go, none is lost."""


@dataclass(frozen=True)
class EmailSettings:
    from_email: str
    from_name: str = ""
    reply_to: str = ""
    unsubscribe_group: int | None = None     # SendGrid ASM group id, courtesy notices only
    invoice_documents: Path | None = None    # <folder>/<invoice_id>.pdf attached when present
    in_doubt_grace: dt.timedelta = dt.timedelta(minutes=10)
    sandbox: bool = False                    # SendGrid validates, delivers nothing


@dataclass
class Outgoing:
    action_key: str
    to: str
    name: str
    subject: str
    html: str
    text: str
    category: str
    courtesy: bool
    send_at: int | None
    attachments: list[tuple[str, bytes]] = field(default_factory=list)

    def substitutions_size(self) -> int:
        return len(self.html.encode()) + len(self.text.encode()) + len(HTML_TAG) + len(TEXT_TAG)

    def alone(self) -> bool:
        return bool(self.attachments) or self.substitutions_size() > SUBSTITUTIONS_BUDGET


@dataclass
class Answer:
    status: int                      # 202 accepted; 0: no answer (timeout, connection broken)
    message_id: str = ""
    errors: list[dict] = field(default_factory=list)
    reset_at: float | None = None    # X-RateLimit-Reset


# -- requests ----------------------------------------------------------------------------------

def _name(name: str) -> str:
    # SendGrid refuses ';' and ',' in a recipient name
    return re.sub(r"[;,]", " ", name).strip()[:200]


def _personalization(message: Outgoing, *, inline: bool) -> dict:
    person = {"to": [{"email": message.to, **({"name": _name(message.name)} if _name(message.name) else {})}],
              "subject": message.subject, "custom_args": {"action_key": message.action_key}}
    if not inline:
        person["substitutions"] = {HTML_TAG: message.html, TEXT_TAG: message.text}
    if message.send_at is not None:
        person["send_at"] = message.send_at
    return person


def request_body(messages: list[Outgoing], settings: EmailSettings) -> dict:
    """The Mail Send body of one request (messages of one group, addresses unique)."""
    first = messages[0]
    inline = len(messages) == 1 and first.alone()
    body = {
        "personalizations": [_personalization(m, inline=inline) for m in messages],
        "from": {"email": settings.from_email, **({"name": _name(settings.from_name)} if settings.from_name else {})},
        "content": ([{"type": "text/plain", "value": first.text}, {"type": "text/html", "value": first.html}]
                    if inline else [{"type": "text/plain", "value": TEXT_TAG}, {"type": "text/html", "value": HTML_TAG}]),
        "categories": ["receivables", first.category[:255]],
    }
    if settings.reply_to:
        body["reply_to"] = {"email": settings.reply_to}
    if first.courtesy and settings.unsubscribe_group is not None:
        body["asm"] = {"group_id": int(settings.unsubscribe_group)}
    if first.attachments:
        body["attachments"] = [{"content": base64.b64encode(content).decode("ascii"), "filename": name,
                                "type": "application/pdf", "disposition": "attachment"}
                               for name, content in first.attachments]
    if settings.sandbox:
        body["mail_settings"] = {"sandbox_mode": {"enable": True}}
    return body


def pack(messages: list[Outgoing]) -> list[list[Outgoing]]:
    """Requests: a message that must go alone goes alone; the others by (category, courtesy), up
    to 1000 per request, each address once per request."""
    requests: list[list[Outgoing]] = []
    groups: dict[tuple, list[tuple[list[Outgoing], set[str]]]] = {}
    for message in messages:
        if message.alone():
            requests.append([message])
            continue
        address = message.to.lower()
        open_requests = groups.setdefault((message.category, message.courtesy), [])
        target = next((r for r in open_requests if len(r[0]) < MAX_PERSONALIZATIONS and address not in r[1]), None)
        if target is None:
            target = ([], set())
            open_requests.append(target)
        target[0].append(message)
        target[1].add(address)
    requests.extend(r for open_requests in groups.values() for r, _ in open_requests)
    return requests


# -- senders -------------------------------------------------------------------------------------

def sendgrid_client(api_key: str, host: str | None = None, *, timeout: float = 30.0):  # noqa: ANN201
    """The official client, on SendGrid or on another host (a test double, a regional endpoint)."""
    from sendgrid import SendGridAPIClient

    client = SendGridAPIClient(api_key=api_key, **({"host": host.rstrip("/")} if host else {}))
    client.client.timeout = timeout
    return client


def _mail_send(client, body: dict):  # noqa: ANN001, ANN202
    """`client.client.mail.send.post(request_body=body)`: the same request through the official
    client's own transport (its URL, headers, timeout, error classes and Response), less its
    debug logging, which formats the whole JSON payload (megabytes) into a string on every
    request even when debug logging is off. A client that is not python_http_client's posts
    the usual way."""
    import urllib.request

    from python_http_client.client import Response

    endpoint = client.client.mail.send
    build_url, make_request = getattr(endpoint, "_build_url", None), getattr(endpoint, "_make_request", None)
    headers = getattr(endpoint, "request_headers", None)
    if build_url is None or make_request is None or not isinstance(headers, dict) \
            or headers.get("Content-Type", "application/json") != "application/json":
        return endpoint.post(request_body=body)
    request = urllib.request.Request(build_url(None), headers={**headers, "Content-Type": "application/json"},
                                     data=json.dumps(body).encode("utf-8"), method="POST")
    return Response(make_request(urllib.request.build_opener(), request))


class SendGridSender:
    provider = "sendgrid"

    def __init__(self, client, *, max_attempts: int = 6, sleep: Callable[[float], None] | None = None,  # noqa: ANN001
                 clock: Callable[[], float] | None = None, max_wait: float = 60.0):
        self.client = client
        self.max_attempts = max_attempts
        self.sleep = sleep or time.sleep
        self.clock = clock or time.time
        self.max_wait = max_wait
        self.requests = 0
        self.waited = 0.0

    def _post(self, body: dict) -> Answer:
        from python_http_client.exceptions import HTTPError

        self.requests += 1
        try:
            response = _mail_send(self.client, body)
        except HTTPError as error:
            headers = error.headers or {}
            try:
                errors = json.loads(error.body or b"{}").get("errors") or []
            except ValueError:
                errors = []
            reset = headers.get("X-RateLimit-Reset")
            return Answer(error.status_code, errors=errors, reset_at=float(reset) if reset else None)
        except (TimeoutError, OSError) as error:   # urllib's URLError is an OSError
            log.warning("SendGrid did not answer (%s): the request's messages are in doubt", type(error).__name__)
            return Answer(0)
        return Answer(response.status_code, message_id=(response.headers or {}).get("X-Message-Id", ""))

    def send(self, body: dict) -> Answer:
        """POST with backoff: 429 until its reset time, 5xx exponentially; the last answer."""
        for attempt in range(self.max_attempts):
            answer = self._post(body)
            if answer.status == 429 or answer.status >= 500:
                if attempt == self.max_attempts - 1:
                    return answer
                wait = (max(answer.reset_at - self.clock(), 0.0) + 0.05 if answer.reset_at is not None
                        else min(0.5 * 2 ** attempt, self.max_wait))
                wait = min(wait, self.max_wait)
                self.waited += wait
                self.sleep(wait)
                continue
            return answer
        raise AssertionError("unreachable")


class FileSender:
    """Each personalization as an .eml file (`<folder>/<action_key>.eml`): the demo's outbox.

    The files are what `email.message.EmailMessage` (policy SMTP) wrote for the same mail, part
    for part (multipart/alternative, text then HTML, in multipart/mixed with base64 PDF
    attachments when there are any; the same headers, the same content transfer encodings,
    `email.contentmanager`'s own choice and encoders), written directly rather than through
    the email package's header registry, parser and generator (milliseconds per message, most
    of a demo wave's dispatch). What differs is the raw form of a header that needs RFC 2047
    encoding (a non-ASCII subject or name): encoded words of whole characters, which decode to
    the same text. A mail outside what that covers (a non-ASCII address, another content type,
    an attachment name to encode...) is written by the email package, as before."""

    provider = "file"

    def __init__(self, folder: Path, *, clock: Callable[[], dt.datetime] | None = None):
        self.folder = Path(folder)
        self.requests = 0
        self.clock = clock

    def path(self, action_key: str) -> Path:
        return self.folder / f"{action_key}.eml"

    def send(self, body: dict) -> Answer:
        self.requests += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        for person in body["personalizations"]:
            key = person["custom_args"]["action_key"]
            try:
                data = _eml(body, person)
            except UnicodeError:    # a value that is not text UTF-8 can encode, an 8-bit header
                data = None
            if data is None:
                data = _eml_by_email_package(body, person)
            target = self.path(key)
            temporary = target.with_suffix(".eml.tmp")
            temporary.write_bytes(data)
            os.replace(temporary, target)   # whole file or none
        return Answer(202, message_id="file")


def _eml_by_email_package(body: dict, person: dict) -> bytes:
    """The .eml of one personalization through `email.message.EmailMessage` (policy SMTP)."""
    subs = person.get("substitutions", {})
    parts = {c["type"]: subs.get(c["value"], c["value"]) for c in body["content"]}
    mail = email.message.EmailMessage(policy=email.policy.SMTP)
    sender = body["from"]
    mail["From"] = email.utils.formataddr((sender.get("name", ""), sender["email"]))
    to = person["to"][0]
    mail["To"] = email.utils.formataddr((to.get("name", ""), to["email"]))
    mail["Subject"] = person["subject"]
    if "reply_to" in body:
        mail["Reply-To"] = body["reply_to"]["email"]
    key = person["custom_args"]["action_key"]
    mail["Message-ID"] = email.utils.make_msgid(idstring=key, domain="receivables.local")
    if "send_at" in person:
        mail["Date"] = email.utils.formatdate(person["send_at"], localtime=False)
    mail["X-Action-Key"] = key
    mail["X-Categories"] = ", ".join(body.get("categories", []))
    if "asm" in body:
        mail["X-Unsubscribe-Group"] = str(body["asm"]["group_id"])
    mail.set_content(parts["text/plain"])
    mail.add_alternative(parts["text/html"], subtype="html")
    for attachment in body.get("attachments", []):
        mail.add_attachment(base64.b64decode(attachment["content"]), maintype="application",
                            subtype="pdf", filename=attachment["filename"])
    return mail.as_bytes()


# -- .eml files without the email package's machinery -------------------------------------------
# Each piece below is what EmailMessage / BytesGenerator (policy SMTP: CRLF, lines of 78) write.

_CRLF = "\r\n"
_LINE = email.policy.SMTP.max_line_length          # 78
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')       # email.utils.formataddr's quoting rule
_ESCAPES = re.compile(r'[\\"]')
_PRINTABLE = re.compile(r"[\x20-\x7e]*\Z")        # ASCII without control characters
_TOKEN_NAME = re.compile(r"[A-Za-z0-9_.-]+\Z")    # an attachment name written as is
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")
_WORD_BYTES = 39                                   # UTF-8 bytes per encoded word: 64 characters


def _encoded_words(text: str) -> list[str]:
    """RFC 2047 'B' encoded words of `text` (UTF-8, whole characters in each word): decoded and
    joined, adjacent words separated by folding white space give `text` back exactly."""
    words, chunk, size = [], [], 0
    for char in text:
        length = len(char.encode("utf-8", "surrogatepass"))
        if chunk and size + length > _WORD_BYTES:
            words.append(chunk)
            chunk, size = [], 0
        chunk.append(char)
        size += length
    if chunk:
        words.append(chunk)
    return ["=?utf-8?b?" + base64.b64encode("".join(w).encode("utf-8")).decode("ascii") + "?=" for w in words]


def _folded(name: str, tokens: list[str]) -> str:
    """`name: token token ...` folded before a token where a line would pass 78 characters."""
    lines, line = [], name + ":"
    for token in tokens:
        if line != name + ":" and len(line) + 1 + len(token) > _LINE:
            lines.append(line)
            line = ""
        line += " " + token
    lines.append(line)
    return _CRLF.join(lines) + _CRLF


def _unstructured(name: str, value: str) -> str:
    if _PRINTABLE.match(value) and "=?" not in value:
        if len(name) + 2 + len(value) <= _LINE:
            return f"{name}: {value}{_CRLF}"
        words = value.split(" ")
        if " ".join(value.split()) == value and all(len(w) + 1 <= _LINE for w in words):
            return _folded(name, words)
    return _folded(name, _encoded_words(value))


def _address(name: str, display: str, address: str) -> str | None:
    """`name: <formataddr((display, address))>`; None for an address that is not plain ASCII."""
    if not _PRINTABLE.match(address) or not address:
        return None
    if not display:
        return f"{name}: {address}{_CRLF}"
    if _PRINTABLE.match(display) and "=?" not in display:
        quote = '"' if _SPECIALS.search(display) else ""
        shown = quote + _ESCAPES.sub(r"\\\g<0>", display) + quote
        if len(name) + 2 + len(shown) + 2 + len(address) + 1 <= _LINE:
            return f"{name}: {shown} <{address}>{_CRLF}"
    # a display name is a phrase: a reader joins its words with one space, so each encoded
    # word holds whole words (one too long for an encoded word: the email package writes it)
    words = _phrase_words(display)
    return None if words is None else _folded(name, [*words, f"<{address}>"])


def _phrase_words(display: str) -> list[str] | None:
    chunks: list[str] = []
    for word in display.split():
        if len(word.encode("utf-8", "surrogatepass")) > _WORD_BYTES:
            return None
        candidate = f"{chunks[-1]} {word}" if chunks else word
        if chunks and len(candidate.encode("utf-8", "surrogatepass")) <= _WORD_BYTES:
            chunks[-1] = candidate
        else:
            chunks.append(word)
    return [_encoded_words(chunk)[0] for chunk in chunks] or None


def _boundary(parts: list[bytes]) -> str:
    while True:
        boundary = "=" * 15 + f"{random.randrange(sys.maxsize):019d}" + "=="
        marker = ("--" + boundary).encode("ascii")
        if not any(marker in part for part in parts):
            return boundary


def _lines(text: str) -> bytes:
    """A payload as BytesGenerator writes it: every line break CRLF, 8-bit text as its bytes."""
    if not text:
        return b""
    pieces = _LINE_BREAKS.split(text)
    out = _CRLF.join(pieces) if pieces[-1] else _CRLF.join(pieces[:-1]) + _CRLF
    return out.encode("ascii", "surrogateescape")


def _text_part(text: str, subtype: str, *, mime_version: bool) -> bytes:
    cte, payload = email.contentmanager._encode_text(text, "utf-8", None, email.policy.SMTP)
    head = (f'Content-Type: text/{subtype}; charset="utf-8"{_CRLF}Content-Transfer-Encoding: {cte}{_CRLF}'
            + (f"MIME-Version: 1.0{_CRLF}" if mime_version else "") + _CRLF)
    return head.encode("ascii") + _lines(payload)


def _multipart(subtype: str, parts: list[bytes]) -> tuple[bytes, bytes]:
    """(Content-Type header, body) of a multipart of `parts`."""
    boundary = _boundary(parts)
    delimiter = f"{_CRLF}--{boundary}{_CRLF}".encode("ascii")
    body = (f"--{boundary}{_CRLF}".encode("ascii") + delimiter.join(parts)
            + f"{_CRLF}--{boundary}--{_CRLF}".encode("ascii"))
    value = f'multipart/{subtype}; boundary="{boundary}"'
    content_type = (f"Content-Type: {value}{_CRLF}" if len(value) + 14 <= _LINE
                    else f"Content-Type: multipart/{subtype};{_CRLF} boundary=\"{boundary}\"{_CRLF}")
    return content_type.encode("ascii"), body


def _eml(body: dict, person: dict) -> bytes | None:
    """The .eml of one personalization, as `_eml_by_email_package` writes it (see FileSender);
    None when the mail is not one this covers."""
    subs = person.get("substitutions", {})
    parts = {c["type"]: subs.get(c["value"], c["value"]) for c in body["content"]}
    attachments = body.get("attachments", [])
    if set(parts) != {"text/plain", "text/html"} or not all(
            _TOKEN_NAME.match(str(a.get("filename", ""))) for a in attachments):
        return None
    sender, to = body["from"], person["to"][0]
    key = person["custom_args"]["action_key"]
    headers = [_address("From", sender.get("name", ""), sender["email"]),
               _address("To", to.get("name", ""), to["email"]),
               _unstructured("Subject", person["subject"])]
    if "reply_to" in body:
        headers.append(_address("Reply-To", "", body["reply_to"]["email"]))
    headers.append(f"Message-ID: {email.utils.make_msgid(idstring=key, domain='receivables.local')}{_CRLF}")
    if "send_at" in person:
        headers.append(f"Date: {email.utils.formatdate(person['send_at'], localtime=False)}{_CRLF}")
    headers.append(_unstructured("X-Action-Key", key))
    headers.append(_unstructured("X-Categories", ", ".join(body.get("categories", []))))
    if "asm" in body:
        headers.append(_unstructured("X-Unsubscribe-Group", str(body["asm"]["group_id"])))
    if any(h is None for h in headers):
        return None
    headers.append(f"MIME-Version: 1.0{_CRLF}")
    content_type, payload = _multipart("alternative", [_text_part(parts["text/plain"], "plain", mime_version=False),
                                                       _text_part(parts["text/html"], "html", mime_version=True)])
    if attachments:
        files = [(f"Content-Type: application/pdf{_CRLF}Content-Transfer-Encoding: base64{_CRLF}"
                  f'Content-Disposition: attachment; filename="{a["filename"]}"{_CRLF}MIME-Version: 1.0{_CRLF}{_CRLF}'
                  ).encode("ascii")
                 + _lines(email.contentmanager._encode_base64(base64.b64decode(a["content"]), _LINE))
                 for a in attachments]
        content_type, payload = _multipart("mixed", [content_type + _CRLF.encode("ascii") + payload, *files])
    return "".join(headers).encode("ascii") + content_type + _CRLF.encode("ascii") + payload


# -- dispatch ------------------------------------------------------------------------------------

def _attachments(invoice_ids: str, folder: Path | None) -> list[tuple[str, bytes]]:
    if folder is None:
        return []
    found, size = [], 0
    for invoice in str(invoice_ids).split():
        path = Path(folder) / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', invoice)}.pdf"
        if path.is_file():
            content = path.read_bytes()
            if size + len(content) * 4 // 3 > MAX_ATTACHMENTS_BYTES:
                break   # the rest stay in the account: the message lists every invoice anyway
            found.append((path.name, content))
            size += len(content) * 4 // 3
    return found


def _send_at(value: object, now: dt.datetime) -> int | None:
    moment = value if type(value) is pd.Timestamp else pd.Timestamp(value)
    if moment.tzinfo is None:
        moment = moment.tz_localize("UTC")
    return int(moment.timestamp()) if moment.to_pydatetime() > now else None


def _reconcile(conn, sender, rows: pd.DataFrame, settings: EmailSettings, now: dt.datetime) -> tuple[int, int]:  # noqa: ANN001
    """In-doubt rows: (found sent, still in doubt). See the module docstring for the policy."""
    if rows.empty:
        return 0, 0
    if isinstance(sender, FileSender):   # the file is written whole or not at all
        done = rows[rows["action_key"].map(lambda k: sender.path(k).is_file())]
        outbox.mark_sent(conn, done.assign(provider="file", provider_message_id=done["action_key"] + ".eml"), now=now)
        outbox.release(conn, rows.loc[~rows.index.isin(done.index), "action_key"], now=now)
        return len(done), 0
    from receivables.channels.events import reconcile

    found = reconcile(conn, rows)
    if not found.empty:
        outbox.mark_sent(conn, found.assign(provider="sendgrid"), now=now)
    rest = rows[~rows["action_key"].isin(found["action_key"])]
    last_event = conn.execute(select(func.max(email_events.c.received_at))).scalar()
    if last_event is not None and pd.Timestamp(last_event).tzinfo is None:
        last_event = pd.Timestamp(last_event).tz_localize("UTC")
    claimed = pd.to_datetime(rest["updated_at"], utc=True)
    # SendGrid posts 'processed' within seconds of accepting a mail: events that kept arriving
    # well after the claim, none of them for this message, mean it never reached SendGrid
    never = (claimed + settings.in_doubt_grace < pd.Timestamp(last_event)) if last_event is not None \
        else pd.Series(False, index=rest.index)
    outbox.release(conn, rest.loc[never, "action_key"], now=now)
    return len(found), int((~never).sum())


def dispatch_email(engine: Engine, *, part: tuple[int, int], now: dt.datetime, sender, settings: EmailSettings,  # noqa: ANN001
                   creditor: Creditor, legal: LegalRules | None = None, chunk: int = 5000,
                   after_claim: Callable[[pd.DataFrame], None] | None = None,
                   after_send: Callable[[list[str]], None] | None = None) -> dict:
    """Send the ready email rows of this task's part. `after_claim` / `after_send` are the
    fault-injection seams of the tests (a task killed after its claim, or after the provider
    accepted and before our commit); production passes None."""
    summary = {"sent": 0, "failed": 0, "suppressed": 0, "deferred": 0, "in_doubt": 0, "reconciled": 0,
               "requests": 0}
    with engine.begin() as conn:
        found, doubtful = _reconcile(conn, sender, outbox.in_doubt(conn, "email", part=part), settings, now)
    summary["reconciled"], summary["in_doubt"] = found, doubtful
    if doubtful:
        log.warning("%d email(s) in doubt from an interrupted attempt: not resent, waiting for SendGrid's events",
                    doubtful)
    start_requests = sender.requests
    while True:
        with engine.begin() as conn:
            rows = outbox.claim(conn, "email", part=part, now=now, limit=chunk, until=now + MAX_SEND_AHEAD)
        if rows.empty:
            break
        if after_claim is not None:
            after_claim(rows)
        outcome = _send_rows(engine, rows, sender=sender, settings=settings, creditor=creditor, legal=legal,
                             now=now, after_send=after_send)
        for name, count in outcome.items():
            summary[name] += count
        if outcome.get("deferred"):
            break   # the provider is struggling: what is left waits for the next attempt
    summary["requests"] = sender.requests - start_requests
    return summary


def _outgoing(engine: Engine, rows: pd.DataFrame, *, settings: EmailSettings, creditor: Creditor,
              legal: LegalRules | None, now: dt.datetime) -> tuple[list[Outgoing], dict[str, str]]:
    from receivables.warehouse.schema import contact_suppressions

    messages, suppressed = [], {}
    with engine.connect() as conn:
        blocked = set(conn.execute(select(contact_suppressions.c.address)
                                   .where(contact_suppressions.c.channel == "email")).scalars())
        for row, message, customer in rendered(conn, rows, creditor=creditor, legal=legal):
            address = str(customer.get("email") or "").strip()
            if not address:
                suppressed[row["action_key"]] = "no email address"
                continue
            if address.lower() in blocked:
                suppressed[row["action_key"]] = "address suppressed (bounce, spam report or unsubscribe)"
                continue
            messages.append(Outgoing(
                action_key=row["action_key"], to=address, name=str(customer.get("name") or ""),
                subject=message.subject or "", html=message.html or "", text=message.text or "",
                category=str(row["step_id"]), courtesy=str(row.get("tone")) in COURTESY_TONES,
                send_at=_send_at(row["send_at"], now),
                attachments=_attachments(row.get("invoice_ids", ""), settings.invoice_documents)))
    return messages, suppressed


def _send_rows(engine: Engine, rows: pd.DataFrame, *, sender, settings: EmailSettings, creditor: Creditor,  # noqa: ANN001
               legal: LegalRules | None, now: dt.datetime, after_send) -> dict:  # noqa: ANN001
    outcome = {"sent": 0, "failed": 0, "suppressed": 0, "deferred": 0, "in_doubt": 0}
    messages, suppressed = _outgoing(engine, rows, settings=settings, creditor=creditor, legal=legal, now=now)
    if suppressed:
        with engine.begin() as conn:
            outcome["suppressed"] += outbox.suppress(conn, suppressed, now=now, source="sending")
    queue = pack(messages)
    while queue:
        batch = queue.pop(0)
        answer = sender.send(request_body(batch, settings))
        keys = [m.action_key for m in batch]
        if answer.status in (200, 202):
            if after_send is not None:
                after_send(keys)
            with engine.begin() as conn:
                outcome["sent"] += outbox.mark_sent(conn, pd.DataFrame({
                    "action_key": keys, "provider": sender.provider,
                    "provider_message_id": [answer.message_id if sender.provider != "file" else f"{k}.eml" for k in keys],
                    "recipient": [m.to for m in batch]}), now=now)
        elif answer.status == 0:
            outcome["in_doubt"] += len(keys)        # left 'sending': reconciled on the next attempt
        elif answer.status in (401, 403):
            with engine.begin() as conn:
                outbox.release(conn, [m.action_key for r in [batch, *queue] for m in r], now=now)
            raise DispatchConfigurationError(f"SendGrid refused the API key ({answer.status}): "
                                             "check the connection sendgrid_default; nothing was sent")
        elif answer.status == 413 and len(batch) > 1:
            queue[:0] = [batch[:len(batch) // 2], batch[len(batch) // 2:]]
        elif answer.status == 400:
            guilty = _guilty(answer.errors, len(batch))
            if guilty is None and len(batch) > 1:
                queue[:0] = [[m] for m in batch]    # not pinned on one message: find it alone
                continue
            guilty = guilty if guilty is not None else {0: "; ".join(_messages(answer.errors))}
            reasons = {batch[i].action_key: f"SendGrid 400: {text}" for i, text in guilty.items()}
            with engine.begin() as conn:
                outcome["failed"] += outbox.mark_failed(conn, reasons, now=now, provider=sender.provider)
            rest = [m for i, m in enumerate(batch) if i not in guilty]
            if rest:
                queue.insert(0, rest)
        elif answer.status == 429 or answer.status >= 500:
            left = [m.action_key for r in [batch, *queue] for m in r]
            with engine.begin() as conn:
                outbox.release(conn, left, now=now)
            outcome["deferred"] += len(left)
            log.warning("SendGrid kept answering %s: %d email(s) left for the next attempt", answer.status, len(left))
            break
        else:
            reasons = {m.action_key: f"SendGrid {answer.status}: {'; '.join(_messages(answer.errors))}" for m in batch}
            with engine.begin() as conn:
                outcome["failed"] += outbox.mark_failed(conn, reasons, now=now, provider=sender.provider)
    return outcome


def _messages(errors: list[dict]) -> list[str]:
    return [f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message")) for e in errors] \
        or ["refused without a reason"]


def _guilty(errors: list[dict], size: int) -> dict[int, str] | None:
    """{personalization index: reason} when every error names a personalization, else None."""
    guilty: dict[int, list[str]] = {}
    for error in errors:
        match = _PERSONALIZATION_FIELD.match(str(error.get("field") or ""))
        if match is None or int(match.group(1)) >= size:
            return None
        guilty.setdefault(int(match.group(1)), []).append(f"{error.get('field')}: {error.get('message')}")
    return {i: "; ".join(reasons) for i, reasons in guilty.items()} or None
