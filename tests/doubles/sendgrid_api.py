"""A local stand-in for SendGrid's v3 Mail Send endpoint (``POST /v3/mail/send``).

Start it with ``with SendGridDouble() as sendgrid:`` and point the official client at it with
``SendGridAPIClient(api_key=sendgrid.api_key, host=sendgrid.url)``. It answers like SendGrid:

* ``Authorization: Bearer <api_key>`` is required, else 401;
* a body of ``max_body_bytes`` (30 MB) or more is refused 413;
* the body is validated against the documented Mail Send rules and limits (1..1000
  personalizations, at most 1000 recipients per request, each address once, ``from.email``,
  ``subject``, ``content``, ``custom_args`` under 10,000 bytes, at most 10 categories of at most
  255 characters, ``send_at`` at most 72 hours ahead, attachments in valid base64 with a filename,
  recipient names without ``;`` or ``,``); each problem is one entry of the v3 error body
  ``{"errors": [{"message": ..., "field": "personalizations.0.to", "help": null}]}`` and the answer is 400;
* a valid mail is answered 202 with an empty body and an ``X-Message-Id`` header and recorded in
  ``accepted``; with ``mail_settings.sandbox_mode.enable`` it is answered 200 and recorded in
  ``sandboxed`` only.

Failures are injected per request: ``fail_next(429 | 500 | 503, ...)`` and ``stall_next(seconds)``.
"""

from __future__ import annotations

import base64
import binascii
import http.server
import json
import re
import secrets
import time
from typing import Any

from doubles.http_double import LocalHttpDouble

MAIL_SEND_PATH = "/v3/mail/send"
MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_BODY_BYTES = 30 * 1024 * 1024
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_CATEGORIES = 10
MAX_CATEGORY_CHARS = 255
MAX_SEND_AT_AHEAD_SECONDS = 72 * 3600
RATE_LIMIT = 600

_EMAIL = re.compile(r"^[^@\s<>,;\"()\[\]\\]+@[^@\s<>,;\"()\[\]\\]+\.[A-Za-z0-9-]{2,}$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")

_STATUS_MESSAGES = {
    429: "too many requests",
    500: "internal server error",
    502: "bad gateway",
    503: "service unavailable",
    504: "gateway timeout",
}


def _error(message: str, field: str | None = None) -> dict:
    return {"message": message, "field": field, "help": None}


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _json_below(value: dict, limit: int) -> bool:
    """`_json_size(value) < limit`, without serializing an object of a few ASCII strings: each
    character of a key or value takes at most 6 bytes in JSON (an escape \\uXXXX), each pair
    at most 6 more (quotes, colon, comma), so a small enough object is surely under."""
    if all(type(k) is str and type(v) is str and k.isascii() and v.isascii() for k, v in value.items()) \
            and 2 + sum(6 * (len(k) + len(v)) + 6 for k, v in value.items()) < limit:
        return True
    return _json_size(value) < limit


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_mail(body: Any, *, now: float | None = None) -> list[dict]:
    """The v3 error entries SendGrid would return for this Mail Send body (empty when valid)."""
    now = time.time() if now is None else now
    if not isinstance(body, dict):
        return [_error("Bad Request", None)]
    errors: list[dict] = []

    def address(value: Any, field: str, *, check_name: bool) -> str | None:
        if not isinstance(value, dict) or not isinstance(value.get("email"), str) or not value["email"]:
            errors.append(_error("The email parameter is required and must be a valid email address.", f"{field}.email"))
            return None
        email = value["email"]
        if not _EMAIL.match(email):
            errors.append(_error("Does not contain a valid address.", f"{field}.email"))
        name = value.get("name")
        if name is not None:
            if not isinstance(name, str):
                errors.append(_error("The name must be a string.", f"{field}.name"))
            elif check_name and (";" in name or "," in name):
                errors.append(_error("The name may not contain ';' or ','.", f"{field}.name"))
        return email.lower()

    def custom_args(value: Any, field: str) -> None:
        if not isinstance(value, dict):
            errors.append(_error("custom_args must be an object of string values.", field))
            return
        for key, item in value.items():
            if not isinstance(item, str):
                errors.append(_error("custom_args values must be strings.", f"{field}.{key}"))

    def send_at(value: Any, field: str) -> None:
        if not _is_int(value):
            errors.append(_error("send_at must be a UNIX timestamp (integer).", field))
        elif value > now + MAX_SEND_AT_AHEAD_SECONDS:
            errors.append(_error("send_at may not be scheduled more than 72 hours in advance.", field))

    template_id = body.get("template_id")
    if template_id is not None and (not isinstance(template_id, str) or not template_id):
        errors.append(_error("The template_id must be a non-empty string.", "template_id"))
        template_id = None

    # personalizations
    personalizations = body.get("personalizations")
    seen: dict[str, str] = {}
    if not isinstance(personalizations, list) or not personalizations:
        errors.append(_error("The personalizations field is required and must have at least one personalization.",
                             "personalizations"))
        personalizations = []
    elif len(personalizations) > MAX_PERSONALIZATIONS:
        errors.append(_error(f"The personalizations field may not have more than {MAX_PERSONALIZATIONS} items; "
                             f"it has {len(personalizations)}.", "personalizations"))
    recipients = 0
    every_subject = bool(personalizations)
    top_args = body.get("custom_args")
    if top_args is not None:
        custom_args(top_args, "custom_args")
        if isinstance(top_args, dict) and not _json_below(top_args, MAX_CUSTOM_ARGS_BYTES):
            errors.append(_error(f"The custom_args must total less than {MAX_CUSTOM_ARGS_BYTES} bytes.", "custom_args"))
    for index, personalization in enumerate(personalizations):
        base = f"personalizations.{index}"
        if not isinstance(personalization, dict):
            errors.append(_error("A personalization must be an object.", base))
            every_subject = False
            continue
        for kind in ("to", "cc", "bcc"):
            field = f"{base}.{kind}"
            values = personalization.get(kind)
            if values is None:
                if kind == "to":
                    errors.append(_error("The to array is required for all personalization objects, "
                                         "and must have at least one email object with a valid email address.", field))
                continue
            if not isinstance(values, list) or (kind == "to" and not values):
                errors.append(_error(f"The {kind} array must be a list of email objects"
                                     + (" with at least one item." if kind == "to" else "."), field))
                continue
            recipients += len(values)
            for position, value in enumerate(values):
                email = address(value, f"{field}.{position}", check_name=True)
                if email is None:
                    continue
                if email in seen:
                    errors.append(_error(f"Each email address may appear only once in a request; {value['email']} "
                                         f"is already in {seen[email]}.", f"{field}.{position}.email"))
                else:
                    seen[email] = f"{field}.{position}"
        subject = personalization.get("subject")
        if subject is not None and (not isinstance(subject, str) or not subject):
            errors.append(_error("The subject must be a non-empty string.", f"{base}.subject"))
        if not subject:
            every_subject = False
        if "custom_args" in personalization:
            own = personalization["custom_args"]
            custom_args(own, f"{base}.custom_args")
            if isinstance(own, dict):
                merged = {**(top_args if isinstance(top_args, dict) else {}), **own}
                if not _json_below(merged, MAX_CUSTOM_ARGS_BYTES):
                    errors.append(_error(f"The custom_args must total less than {MAX_CUSTOM_ARGS_BYTES} bytes.",
                                         f"{base}.custom_args"))
        if "send_at" in personalization:
            send_at(personalization["send_at"], f"{base}.send_at")
    if recipients > MAX_RECIPIENTS:
        errors.append(_error(f"The total number of recipients (to, cc and bcc) must be no more than {MAX_RECIPIENTS}; "
                             f"it is {recipients}.", "personalizations"))

    # from / reply_to
    if body.get("from") is None:
        errors.append(_error("The from object must be provided for every email send. "
                             "It is an object that requires an email parameter, but may also contain a name parameter.",
                             "from.email"))
    else:
        address(body["from"], "from", check_name=False)
    if body.get("reply_to") is not None:
        address(body["reply_to"], "reply_to", check_name=False)

    # subject
    subject = body.get("subject")
    if subject is not None and not isinstance(subject, str):
        errors.append(_error("The subject must be a string.", "subject"))
    elif not subject and not every_subject and template_id is None:
        errors.append(_error("The subject is required. You can get around this requirement if you use a template "
                             "with a subject defined or if every personalization has a subject defined.", "subject"))

    # content
    content = body.get("content")
    if content is None:
        if template_id is None:
            errors.append(_error("Unless a valid template_id is provided, the content parameter is required. "
                                 "There must be at least one defined content block.", "content"))
    elif not isinstance(content, list) or (not content and template_id is None):
        errors.append(_error("The content parameter must be an array with at least one content block.", "content"))
    else:
        types = []
        for index, block in enumerate(content):
            field = f"content.{index}"
            if not isinstance(block, dict):
                errors.append(_error("A content block must be an object.", field))
                continue
            kind = block.get("type")
            if not isinstance(kind, str) or not kind or "\r" in kind or "\n" in kind:
                errors.append(_error("The content type is required and may not contain CRLF.", f"{field}.type"))
            else:
                types.append(kind.lower())
            value = block.get("value")
            if not isinstance(value, str) or not value:
                errors.append(_error("The content value must be a string at least one character in length.",
                                     f"{field}.value"))
        if "text/plain" in types and types.index("text/plain") != 0:
            errors.append(_error("If present, text/plain content must be first, followed by any other content.",
                                 "content"))

    # categories
    categories = body.get("categories")
    if categories is not None:
        if not isinstance(categories, list):
            errors.append(_error("The categories must be an array of strings.", "categories"))
        else:
            if len(categories) > MAX_CATEGORIES:
                errors.append(_error(f"You may not have more than {MAX_CATEGORIES} categories per request; "
                                     f"it has {len(categories)}.", "categories"))
            for index, category in enumerate(categories):
                if not isinstance(category, str):
                    errors.append(_error("A category must be a string.", f"categories.{index}"))
                elif len(category) > MAX_CATEGORY_CHARS:
                    errors.append(_error(f"A category may not exceed {MAX_CATEGORY_CHARS} characters.",
                                         f"categories.{index}"))

    if "send_at" in body:
        send_at(body["send_at"], "send_at")

    # attachments
    attachments = body.get("attachments")
    if attachments is not None:
        if not isinstance(attachments, list):
            errors.append(_error("The attachments must be an array.", "attachments"))
            attachments = []
        for index, attachment in enumerate(attachments):
            field = f"attachments.{index}"
            if not isinstance(attachment, dict):
                errors.append(_error("An attachment must be an object.", field))
                continue
            data = attachment.get("content")
            if not isinstance(data, str) or not data:
                errors.append(_error("The attachment content is required.", f"{field}.content"))
            else:
                try:
                    valid = bool(_BASE64.match(data)) and len(data) % 4 == 0
                    base64.b64decode(data, validate=True)
                except (binascii.Error, ValueError):
                    valid = False
                if not valid:
                    errors.append(_error("The attachment content must be base64 encoded.", f"{field}.content"))
            filename = attachment.get("filename")
            if not isinstance(filename, str) or not filename:
                errors.append(_error("The attachment filename is required.", f"{field}.filename"))
            disposition = attachment.get("disposition")
            if disposition is not None and disposition not in ("inline", "attachment"):
                errors.append(_error("The disposition must be 'inline' or 'attachment'.", f"{field}.disposition"))
    return errors


class _Handler(http.server.BaseHTTPRequestHandler):
    server: "http.server.ThreadingHTTPServer"
    server_version = "nginx"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - no request logging (bodies may hold personal data)
        pass

    def _answer(self, status: int, payload: dict | None = None, headers: dict | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if data:
            self.wfile.write(data)
        self.close_connection = True

    def _drain(self) -> bytes | None:
        """Read the whole body (so the client is never reset mid-upload); None when it is too large."""
        length = int(self.headers.get("Content-Length") or 0)
        limit = self.server.double.max_body_bytes
        chunks, read, keep = [], 0, length < limit
        while read < length:
            chunk = self.rfile.read(min(1 << 20, length - read))
            if not chunk:
                break
            read += len(chunk)
            if keep:
                chunks.append(chunk)
        return b"".join(chunks) if keep else None

    def _not_found(self) -> None:
        self.server.double._count()
        self._drain()
        self._answer(404, {"errors": [_error("not found", None)]})

    do_GET = do_PUT = do_PATCH = do_DELETE = _not_found

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        double = self.server.double
        double._count()
        raw = self._drain()
        if self.path.split("?", 1)[0] != MAIL_SEND_PATH:
            self._answer(404, {"errors": [_error("not found", None)]})
            return
        injected = double._take_injection()
        if injected is not None and injected[0] == "fail":
            _, status, reset = injected
            headers = {}
            if status == 429:
                headers = {"X-RateLimit-Limit": RATE_LIMIT, "X-RateLimit-Remaining": 0,
                           "X-RateLimit-Reset": int(time.time()) + (1 if reset is None else reset)}
            self._answer(status, {"errors": [_error(_STATUS_MESSAGES.get(status, "error"), None)]}, headers)
            return
        stall = injected  # None or ("stall", seconds, then_accept)

        if self.headers.get("Authorization") != f"Bearer {double.api_key}":
            self._stall(stall)
            self._answer(401, {"errors": [_error("The provided authorization grant is invalid, expired, or revoked",
                                                 None)]})
            return
        if raw is None:
            self._stall(stall)
            self._answer(413, {"errors": [_error("The JSON payload you have included in your request is too large.",
                                                 None)]})
            return
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self._stall(stall)
            self._answer(400, {"errors": [_error("Bad Request", None)]})
            return
        errors = validate_mail(body)
        if errors:
            self._stall(stall)
            self._answer(400, {"errors": errors})
            return
        sandbox = bool(((body.get("mail_settings") or {}).get("sandbox_mode") or {}).get("enable"))
        accept = stall is None or stall[2]
        message_id = secrets.token_urlsafe(16)  # 22 characters, like SendGrid's ids
        record = {"message_id": message_id, "body": body, "headers": dict(self.headers.items())}
        if accept:  # recorded before the stall: the provider has the mail even if the client gives up
            double._record(record, sandbox=sandbox)
        self._stall(stall)
        if not accept:
            self._answer(503, {"errors": [_error(_STATUS_MESSAGES[503], None)]})
        elif sandbox:
            self._answer(200)
        else:
            self._answer(202, None, {"X-Message-Id": message_id})

    def _stall(self, stall) -> None:
        if stall is not None:
            self.server.double._stall(stall[1])


class SendGridDouble(LocalHttpDouble):
    """A SendGrid v3 Mail Send endpoint on 127.0.0.1 and a free port, for the tests."""

    handler = _Handler
    thread_name = "sendgrid-double"

    def __init__(self, api_key: str = "SG.test-key", *, max_body_bytes: int = MAX_BODY_BYTES):
        super().__init__()
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes
        self.accepted: list[dict] = []
        self.sandboxed: list[dict] = []
        self.requests = 0

    # failure injection
    def fail_next(self, status: int, count: int = 1, *, retry_after_reset: int | None = None) -> None:
        """Answer the next `count` mail-send requests with `status` (429 carries X-RateLimit-* headers,
        X-RateLimit-Reset = now + `retry_after_reset` seconds, default 1), before authentication."""
        if status < 400:
            raise ValueError("fail_next needs an error status")
        self._inject(*[("fail", status, retry_after_reset)] * count)

    def stall_next(self, seconds: float, count: int = 1, *, then_accept: bool = True) -> None:
        """Hold the next `count` mail-send requests `seconds` before answering. A valid mail is then
        accepted (recorded at arrival, answered 202) when `then_accept`, else refused 503 unrecorded."""
        self._inject(*[("stall", seconds, then_accept)] * count)

    # observations
    def recipients_sent(self) -> list[str]:
        """Every "to" address of every accepted personalization, in order."""
        with self._lock:
            records = list(self.accepted)
        return [to["email"] for record in records for personalization in record["body"]["personalizations"]
                for to in personalization.get("to", [])]

    # used by the handler
    def _count(self) -> None:
        with self._lock:
            self.requests += 1

    def _record(self, record: dict, *, sandbox: bool) -> None:
        with self._lock:
            (self.sandboxed if sandbox else self.accepted).append(record)
