"""A local stand-in for Twilio's Programmable Messaging REST API (the 2010-04-01 Message resource).

Start it with ``with TwilioDouble() as twilio:`` and point the official client at it with
``twilio_client(twilio.account_sid, twilio.auth_token, base_url=twilio.url)``
(`receivables.channels.sms`). It answers like Twilio:

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form-encoded To, From or
  MessagingServiceSid, Body, StatusCallback, SendAt, ScheduleType) creates a message: 201 with the
  Message JSON (sid ``SM`` + 32 hex, status ``queued``, ``accepted`` through a Messaging Service
  without From, or ``scheduled``; ``num_segments``), recorded in ``accepted`` with its form fields;
* ``GET .../Messages.json`` lists them, newest first, filtered by To, From, DateSent (``DateSent<``
  and ``DateSent>`` too: on or before / after that day), paged by PageSize and Page with a
  ``next_page_uri``; ``GET .../Messages/{Sid}.json`` fetches one;
* HTTP Basic auth with the account sid and auth token, else 401 (code 20003); another account in
  the path is 404 (20404);
* a refused message is answered 400 with Twilio's error body ``{"code", "message", "more_info",
  "status"}``: 21604 no To, 21211 a To that is not E.164, 21603 neither From nor
  MessagingServiceSid, 21212 a From that is no number, short code or alphanumeric sender id,
  21705/21701 a malformed/unknown Messaging Service, 21602 no Body, 21617 a Body over 1600
  characters, 21609 a StatusCallback that is not an http(s) URL, 35118 scheduling without a
  Messaging Service, 35111 ScheduleType without SendAt, 35114 a SendAt less than 5 minutes or
  more than 35 days ahead, 21610 a number that replied STOP (``opt_out`` or an ``inbound`` STOP).

A message sent at once has ``date_sent`` = its creation; a scheduled one has none until its SendAt
has passed on the double's clock (``clock``, seconds since the epoch, ``time.time`` unless given),
then reads as sent on that date. Failures are injected per request on message creation:
``fail_next(429 | 500 | 503, ..., retry_after=...)`` and ``stall_next(seconds)`` (the message is
recorded when it arrives, so a client that times out leaves it accepted, as Twilio would).
``inbound(url, from_, body)`` builds the webhook form Twilio posts for a reply and its
X-Twilio-Signature.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import http.server
import json
import re
import secrets
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

from twilio.request_validator import RequestValidator

from doubles.http_double import LocalHttpDouble

API_VERSION = "2010-04-01"
MAX_BODY_CHARS = 1600
MIN_SCHEDULE_AHEAD_SECONDS = 300
MAX_SCHEDULE_AHEAD_SECONDS = 35 * 86400
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "UNSTOP", "YES"})

_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages(?:/(?P<sid>[^/]+))?\.json$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SHORT_CODE = re.compile(r"^\d{3,6}$")
_ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-f]{32}$")
_SEND_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
_GSM7 = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

_STATUS_ERRORS = {
    429: (20429, "Too Many Requests"),
    500: (20500, "An internal server error has occurred"),
    502: (20502, "Bad Gateway"),
    503: (20503, "Service Unavailable"),
}


def _error(code: int, message: str, status: int = 400) -> dict:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


def _rfc2822(moment: float) -> str:
    return email.utils.format_datetime(dt.datetime.fromtimestamp(moment, dt.timezone.utc))


def num_segments(body: str) -> int:
    """Twilio's segment count, computed here independently of the code under test."""
    if all(c in _GSM7 or c in _GSM7_EXTENSION for c in body):
        septets = sum(2 if c in _GSM7_EXTENSION else 1 for c in body)
        return 1 if septets <= 160 else -(-septets // 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


def validate_message(form: dict, *, now: float, services: set[str], opted_out: set[str]) -> dict | None:
    """The error body Twilio would answer for this Message create form (None when valid)."""
    to, sender, service = form.get("To", ""), form.get("From", ""), form.get("MessagingServiceSid", "")
    body, callback = form.get("Body", ""), form.get("StatusCallback", "")
    if not to:
        return _error(21604, "A 'To' phone number is required.")
    if not _E164.match(to):
        return _error(21211, f"Invalid 'To' Phone Number: {to}")
    if not sender and not service:
        return _error(21603, "A 'From' phone number is required.")
    if service and not _SERVICE_SID.match(service):
        return _error(21705, "The Messaging Service is invalid")
    if service and service not in services:
        return _error(21701, "The Messaging Service does not exist")
    if sender and not (_E164.match(sender) or _SHORT_CODE.match(sender) or _ALPHANUMERIC.match(sender)):
        return _error(21212, f"The 'From' number {sender} is not a valid phone number, shortcode, "
                             "or alphanumeric sender ID.")
    if not body and not form.get("MediaUrl"):
        return _error(21602, "Message body is required.")
    if len(body) > MAX_BODY_CHARS:
        return _error(21617, "The concatenated message body exceeds the 1600 character limit.")
    if callback:
        parts = urlsplit(callback)
        if parts.scheme not in ("http", "https") or not parts.hostname or "_" in parts.hostname:
            return _error(21609, "Invalid 'StatusCallback'")
    if form.get("ScheduleType"):
        if not service:
            return _error(35118, "MessagingServiceSid is required to schedule a message")
        if form["ScheduleType"] != "fixed":
            return _error(35111, "ScheduleType must be 'fixed'")
        send_at = form.get("SendAt", "")
        if not send_at:
            return _error(35111, "SendAt timestamp is missing")
        if not _SEND_AT.match(send_at):
            return _error(35114, "Scheduling does not support this timestamp")
        moment = dt.datetime.strptime(send_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp()
        if not now + MIN_SCHEDULE_AHEAD_SECONDS <= moment <= now + MAX_SCHEDULE_AHEAD_SECONDS:
            return _error(35114, "Scheduling does not support this timestamp")
    if to in opted_out:
        return _error(21610, "Attempt to send to unsubscribed recipient")
    return None


class _Handler(http.server.BaseHTTPRequestHandler):
    server: "http.server.ThreadingHTTPServer"
    server_version = "Twilio.Double"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - no request logging (forms hold personal data)
        pass

    def _answer(self, status: int, payload: dict | None = None, headers: dict | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        if payload is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if data:
            self.wfile.write(data)
        self.close_connection = True

    def _route(self) -> tuple[re.Match | None, bool]:
        """(path match, authorized); answers 404/401 itself and returns None when it did."""
        double = self.server.double
        match = _PATH.match(urlsplit(self.path).path)
        expected = "Basic " + base64.b64encode(f"{double.account_sid}:{double.auth_token}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self._answer(401, {**_error(20003, "Authenticate", 401),
                               "detail": "Your AccountSid or AuthToken was incorrect."})
            return None, False
        if match is None or match.group("account") != double.account_sid:
            self._answer(404, _error(20404, f"The requested resource {urlsplit(self.path).path} was not found", 404))
            return None, False
        return match, True

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        double = self.server.double
        double._count("GET")
        match, ok = self._route()
        if not ok:
            return
        if match.group("sid"):
            message = double._find(match.group("sid"))
            if message is None:
                self._answer(404, _error(20404, f"The requested resource {urlsplit(self.path).path} was not found",
                                         404))
            else:
                self._answer(200, message)
            return
        self._answer(200, double._page(urlsplit(self.path).path, dict(parse_qsl(urlsplit(self.path).query))))

    def do_POST(self) -> None:  # noqa: N802
        double = self.server.double
        double._count("POST")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        injected = double._take_injection() if _PATH.match(urlsplit(self.path).path) else None
        if injected is not None and injected[0] == "fail":
            _, status, retry_after = injected
            code, message = _STATUS_ERRORS.get(status, (status, "error"))
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            self._answer(status, _error(code, message, status), headers)
            return
        stall = injected   # None or ("stall", seconds, then_accept)
        match, ok = self._route()
        if not ok:
            return
        if match.group("sid"):
            self._answer(405, _error(20004, "Method not allowed", 405))
            return
        form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        error = validate_message(form, now=double.clock(), services=double.messaging_services,
                                 opted_out=double.opted_out)
        if error is not None:
            self._stall(stall)
            self._answer(400, error)
            return
        accept = stall is None or stall[2]
        message = double._create(form, record=accept)
        self._stall(stall)
        if accept:
            self._answer(201, message)
        else:
            code, text = _STATUS_ERRORS[503]
            self._answer(503, _error(code, text, 503))

    def _stall(self, stall) -> None:
        if stall is not None:
            self.server.double._stall(stall[1])


class TwilioDouble(LocalHttpDouble):
    """Twilio's Message resource on 127.0.0.1 and a free port, for the tests."""

    handler = _Handler
    thread_name = "twilio-double"

    def __init__(self, account_sid: str = "AC" + "0123456789abcdef" * 2, auth_token: str = "test-auth-token", *,
                 messaging_services: tuple[str, ...] = ("MG" + "fedcba9876543210" * 2,),
                 clock: Callable[[], float] = time.time):
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messaging_services = set(messaging_services)
        self.clock = clock
        self.accepted: list[dict] = []
        self.opted_out: set[str] = set()
        self.requests = 0
        self.lists = 0

    @property
    def messaging_service_sid(self) -> str:
        return sorted(self.messaging_services)[0]

    # failure injection
    def fail_next(self, status: int, count: int = 1, *, retry_after: int | None = None) -> None:
        """Answer the next `count` message creations with `status` (429: code 20429; 5xx: 205xx),
        before authentication, with a Retry-After header when `retry_after` is given."""
        if status < 400:
            raise ValueError("fail_next needs an error status")
        self._inject(*[("fail", status, retry_after)] * count)

    def stall_next(self, seconds: float, count: int = 1, *, then_accept: bool = True) -> None:
        """Hold the next `count` message creations `seconds` before answering. A valid message is
        then accepted (recorded at arrival, answered 201) when `then_accept`, else refused 503
        unrecorded."""
        self._inject(*[("stall", seconds, then_accept)] * count)

    # the recipient's side
    def opt_out(self, number: str) -> None:
        """The number replied STOP: Twilio refuses to send to it (21610) until it replies START."""
        with self._lock:
            self.opted_out.add(number)

    def inbound(self, url: str, from_: str, body: str, to: str = "+33757000000") -> tuple[dict, str]:
        """(form, X-Twilio-Signature) of the webhook Twilio posts to `url` for a reply; an
        opt-out or opt-in keyword also changes what Twilio itself will send to that number."""
        form = {"AccountSid": self.account_sid, "ApiVersion": API_VERSION, "Body": body, "From": from_, "To": to,
                "MessageSid": "SM" + secrets.token_hex(16), "SmsSid": "", "NumMedia": "0", "NumSegments": "1",
                "SmsStatus": "received"}
        form["SmsSid"] = form["MessageSid"]
        word = " ".join(body.upper().split())
        with self._lock:
            if word in OPT_OUT:
                self.opted_out.add(from_)
            elif word in OPT_IN:
                self.opted_out.discard(from_)
        return form, RequestValidator(self.auth_token).compute_signature(url, form)

    # observations
    def bodies_to(self, number: str) -> list[str]:
        with self._lock:
            return [m["form"].get("Body", "") for m in self.accepted if m["form"].get("To") == number]

    def recipients(self) -> list[str]:
        with self._lock:
            return [m["form"].get("To", "") for m in self.accepted]

    # used by the handler
    def _count(self, method: str) -> None:
        with self._lock:
            self.requests += 1
            self.lists += method == "GET"

    def _create(self, form: dict, *, record: bool) -> dict:
        now = self.clock()
        sid = "SM" + secrets.token_hex(16)
        scheduled = bool(form.get("ScheduleType"))
        send_at = (dt.datetime.strptime(form["SendAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
                   .timestamp() if scheduled else None)
        status = "scheduled" if scheduled else ("queued" if form.get("From") else "accepted")
        record_ = {"sid": sid, "form": form, "status": status, "created": now, "send_at": send_at,
                   "num_segments": num_segments(form.get("Body", ""))}
        if record:   # recorded before any stall: Twilio has the message even if the client gives up
            with self._lock:
                self.accepted.append(record_)
        return self._json(record_, now, created=True)

    def _json(self, record: dict, now: float, *, created: bool = False) -> dict:
        """The Message JSON: as created (status queued/accepted/scheduled, no date_sent), or as
        read later: sent on its creation, or on its SendAt once that has passed."""
        form, sid = record["form"], record["sid"]
        sent_at = record["created"] if record["send_at"] is None else record["send_at"]
        gone = not created and sent_at <= now
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return {"account_sid": self.account_sid, "api_version": API_VERSION, "body": form.get("Body", ""),
                "date_created": _rfc2822(record["created"]), "date_updated": _rfc2822(record["created"]),
                "date_sent": _rfc2822(sent_at) if gone else None, "direction": "outbound-api",
                "error_code": None, "error_message": None, "from": form.get("From") or None,
                "messaging_service_sid": form.get("MessagingServiceSid") or None, "num_media": "0",
                "num_segments": str(record["num_segments"]), "price": None, "price_unit": "USD", "sid": sid,
                "status": "sent" if gone else record["status"],
                "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
                "to": form.get("To"), "uri": f"{base}.json"}

    def _find(self, sid: str) -> dict | None:
        now = self.clock()
        with self._lock:
            record = next((r for r in self.accepted if r["sid"] == sid), None)
        return None if record is None else self._json(record, now)

    def _page(self, path: str, query: dict) -> dict:
        now = self.clock()
        with self._lock:
            records = list(reversed(self.accepted))   # newest first
        messages = [self._json(r, now) for r in records]

        def day_of(message: dict) -> str | None:
            sent = message["date_sent"]
            return None if sent is None else email.utils.parsedate_to_datetime(sent).date().isoformat()

        for field, key in (("To", "to"), ("From", "from")):
            if query.get(field):
                messages = [m for m in messages if m[key] == query[field]]
        for field, keep in (("DateSent", lambda d, q: d == q), ("DateSent<", lambda d, q: d <= q),
                            ("DateSent>", lambda d, q: d >= q)):
            if query.get(field):
                wanted = query[field][:10]   # the client sends dates as YYYY-MM-DDT00:00:00Z
                messages = [m for m in messages if day_of(m) is not None and keep(day_of(m), wanted)]
        size = max(1, min(int(query.get("PageSize") or DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE))
        page = max(0, int(query.get("Page") or 0))
        chunk = messages[page * size:(page + 1) * size]
        filters = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}

        def uri(number: int) -> str:
            return f"{path}?{urlencode({**filters, 'PageSize': size, 'Page': number, 'PageToken': f'PA{number}'})}"

        more = (page + 1) * size < len(messages)
        return {"messages": chunk, "end": page * size + max(len(chunk) - 1, 0), "first_page_uri": uri(0),
                "next_page_uri": uri(page + 1) if more else None, "page": page, "page_size": size,
                "previous_page_uri": uri(page - 1) if page > 0 else None, "start": page * size, "uri": uri(page)}
