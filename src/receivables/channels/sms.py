"""SMS: the day's reminders through Twilio's Messages API, one request per message, each exactly once.

    client = twilio_client(account_sid, auth_token)              # base_url=... for another host
    summary = dispatch_sms(engine, part=(0, 2), now=now, client=client, sender="+33757000000",
                           messaging_service_sid="MG...", creditor=creditor)
    summary  # {'sent': 310, 'scheduled': 42, 'failed': 1, 'suppressed': 3, 'in_doubt': 0, 'segments': 389, ...}

    segments("Votre facture FA-1 reste impayée")                 # ('GSM-7', 1): 'é' is in GSM-7
    segments("Przypomnienie: faktura zaległa")                   # ('UCS-2', 1): 'ł' is not
    effective_send_time(send_at, now, "FR")                      # 07:00 Paris -> 08:00; Friday 21:00 -> Monday 08:00

Segments. An SMS of GSM-7 text holds 160 septets (an extension character such as '€' takes two),
a longer one is cut into segments of 153; one character outside GSM-7 sends the whole text as
UCS-2: 70 UTF-16 code units, else segments of 67 (an emoji is two units, never split). Twilio
bills per segment: `units` of the outbox row records them.

Quiet hours. A message goes out only within `window` (08:00-20:00 by default) on a business day
of the customer's country, in its time zone (`customer_calendar`: the country and zone the
planner's send_at uses). `effective_send_time` is the first such instant at or after
max(planned send_at, now). A message whose effective time has come goes at once; a later one is
scheduled with Twilio (`messaging_service_sid`, `send_at`, `schedule_type='fixed'`: Twilio only
schedules through a Messaging Service, between 5 minutes and 35 days ahead; we schedule at least
15 minutes ahead so the request's own delay never lands it under that minimum). Without a
Messaging Service such a row is handed back 'pending' (reason '') for a later run: only rows
whose planned time has passed are claimed then, so those are the rows a run outside the
customer's window finds.

Answers. 201: sent (or scheduled) with Twilio's sid (recorded COMMIT_EVERY at a time). 21610 (the number replied STOP to our
sender): suppressed, and the number joins `contact_suppressions`. Any other 4xx: failed with
Twilio's code and words. 401/403/20404: our credentials or account are wrong: everything
claimed goes back to pending and `SmsConfigurationError` is raised. 429 and 5xx: retried with
exponential backoff (Retry-After when Twilio gives one), at most `max_attempts` times; then the
message and the rest of the batch go back to pending for the next run. No answer (a read
timeout, a connection broken after the request left): the message is *in doubt* and stays
'sending'; the rest of the batch goes back to pending and the run stops sending.

In doubt. Before sending anything new, rows left 'sending' are looked up in Twilio's message list
(To = the number, DateSent = the day of the claim and the day it was due, and, for a scheduled
hand-off, the number's latest messages, which hold scheduled ones): a message with exactly the
body we render for the row means sent, with its sid. Nothing found: the row stays 'sending' and
counts in `in_doubt` (the task fails loudly, Airflow retries later; see `outbox`).

Inbound. Twilio posts replies to our webhook: `verify_inbound` checks its signature,
`record_inbound` turns a STOP (Twilio's opt-out keywords, plus the French ARRET and STOP SMS)
into a `contact_suppressions` row and a START back into nothing.

Personal data stays out of the logs: counts and action keys only, and the HTTP client logs the
method and path of each request, never its query (phone numbers) or body.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import pandas as pd
import requests
from sqlalchemy import Connection, Engine, delete, select
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from receivables.calendar import is_business_day
from receivables.channels import outbox
from receivables.channels.messages import rendered
from receivables.scenarios.legal import LegalRules
from receivables.scenarios.render import GSM7_EXTENSION, Creditor, gsm7_septets
from receivables.warehouse.schema import contact_suppressions, customers
from receivables.warehouse.store import read_customers

log = logging.getLogger(__name__)

PROVIDER = "twilio"
TWILIO_API = "https://api.twilio.com"
GSM7, UCS2 = "GSM-7", "UCS-2"
GSM7_SINGLE, GSM7_SEGMENT = 160, 153       # septets
UCS2_SINGLE, UCS2_SEGMENT = 70, 67          # UTF-16 code units
DEFAULT_WINDOW = (8, 20)
SCHEDULE_AHEAD = dt.timedelta(minutes=15)   # under this, a scheduled time is pushed to now + 15 minutes
MAX_SCHEDULE_AHEAD = dt.timedelta(days=35)  # Twilio's limit for SendAt
UNSUBSCRIBED = 21610                        # "Attempt to send to unsubscribed recipient"
CONFIGURATION_CODES = (20003, 20404)        # authentication failed, account (path) not found
NO_PHONE = "no phone number"
OPTED_OUT = "opted out by STOP"
# Twilio's default keywords (an exact one-word reply, any case), plus the French ones
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT",
                              "ARRET", "STOP SMS"})
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
COMMIT_EVERY = 50                           # accepted messages recorded per transaction
_MAX_DAYS_AHEAD = 40                        # a calendar never goes that long without a business day


class SmsConfigurationError(RuntimeError):
    """Twilio refuses our credentials or account: no message can go, none is lost."""


# -- the official client, on Twilio or on another host ---------------------------------------------

class HostHttpClient(TwilioHttpClient):
    """The official HTTP client, sending what it would send to https://api.twilio.com to
    `base_url` instead (when given); it remembers the last Retry-After and logs the method and
    path of a request, never its query or body (phone numbers, messages)."""

    def __init__(self, base_url: str | None = None, *, timeout: float = 10):
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None
        self.retry_after: str | None = None

    def request(self, method, url, *args, **kwargs):  # noqa: ANN001, ANN201
        if self.base_url and url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API):]
        response = super().request(method, url, *args, **kwargs)
        self.retry_after = (response.headers or {}).get("Retry-After") if response.status_code in (429, 503) else None
        return response

    def log_request(self, kwargs) -> None:  # noqa: ANN001
        self.logger.info("%s %s", kwargs["method"], urlsplit(kwargs["url"]).path)

    def log_response(self, status_code, response) -> None:  # noqa: ANN001
        self.logger.info("Response Status Code: %s", status_code)


def twilio_client(account_sid: str, auth_token: str, *, base_url: str | None = None, timeout: float = 10) -> Client:
    """The official `twilio.rest.Client`, sending to `base_url` instead of https://api.twilio.com
    when given (a connection's host, a test double), with a `timeout` in seconds per request.

    The host is rewritten in the HTTP client rather than through `edge`/`region` (which only
    build *.twilio.com names), so next-page links and every resource follow it. TWILIO_EDGE and
    TWILIO_REGION from the process environment are ignored: the connection says where to go."""
    client = Client(account_sid, auth_token, http_client=HostHttpClient(base_url, timeout=timeout))
    client.edge = client.region = None
    return client


# -- segments ------------------------------------------------------------------------------------

def _count(units: Iterable[int], single: int, segment: int) -> int:
    """Segments for characters of `units` size each: one if they fit `single`, else packed into
    segments of `segment` without splitting a character (an escape pair, a surrogate pair)."""
    sizes = list(units)
    if sum(sizes) <= single:
        return 1 if sizes else 0
    count, used = 1, 0
    for size in sizes:
        if used + size > segment:
            count, used = count + 1, 0
        used += size
    return count


def segments(text: str) -> tuple[str, int]:
    """(encoding, segment count) of an SMS body: ('GSM-7', n) or ('UCS-2', n)."""
    if gsm7_septets(text) is not None:
        return GSM7, _count((2 if c in GSM7_EXTENSION else 1 for c in text), GSM7_SINGLE, GSM7_SEGMENT)
    return UCS2, _count((2 if ord(c) > 0xFFFF else 1 for c in text), UCS2_SINGLE, UCS2_SEGMENT)


# -- quiet hours ---------------------------------------------------------------------------------

def customer_calendar(country: str, default_country: str = "FR") -> tuple[str, str]:
    """(calendar country, IANA time zone) of a customer, as the planner's send_at reads them: the
    customer's country when a public-holiday calendar exists for it, else the company's
    (`default_country`); the zone is that country's first in the tz database (Europe/Paris for FR,
    America/Martinique for MQ), else the company's, else UTC."""
    import pytz

    calendar = (country or "").strip().upper() or default_country.upper()
    try:
        is_business_day(dt.date(2000, 1, 3), calendar)
    except ValueError:
        calendar = default_country.upper()
    zones = pytz.country_timezones.get(calendar) or pytz.country_timezones.get(default_country.upper()) or ["UTC"]
    return calendar, zones[0]


def _utc(moment: object) -> dt.datetime:
    value = pd.Timestamp(moment)
    value = value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")
    return value.to_pydatetime()


def effective_send_time(send_at: object, now: dt.datetime, country: str, window: tuple[int, int] = DEFAULT_WINDOW,
                        *, default_country: str = "FR") -> dt.datetime:
    """The first instant at or after max(send_at, now) that falls within `window` (local hours,
    from the first included to the second excluded) on a business day of the customer's country,
    in its time zone; in UTC. A naive time is read as UTC."""
    first, last = window
    if not 0 <= first < last <= 24:
        raise ValueError(f"quiet-hours window {window}: expected 0 <= start < end <= 24")
    calendar, zone = customer_calendar(country, default_country)
    tz = ZoneInfo(zone)
    start = max(_utc(send_at), _utc(now))
    local = start.astimezone(tz)
    for offset in range(_MAX_DAYS_AHEAD):
        day = local.date() + dt.timedelta(days=offset)
        if not is_business_day(day, calendar):
            continue
        opens = dt.datetime.combine(day, dt.time(first), tz)
        closes = dt.datetime.combine(day + dt.timedelta(days=last // 24), dt.time(last % 24), tz)
        if offset == 0 and local >= opens:
            if local < closes:
                return start
            continue
        return opens.astimezone(dt.timezone.utc)
    raise ValueError(f"no business day within {_MAX_DAYS_AHEAD} days for {calendar}")


# -- phone numbers ---------------------------------------------------------------------------------

_CALLING_CODES = {"FR": "33", "MC": "377", "BE": "32", "LU": "352", "CH": "41", "DE": "49", "AT": "43", "NL": "31",
                  "ES": "34", "PT": "351", "IT": "39", "SM": "378", "GB": "44", "IE": "353", "GP": "590", "BL": "590",
                  "MF": "590", "MQ": "596", "GF": "594", "RE": "262", "YT": "262", "PM": "508"}
_TRUNK_ZERO_KEPT = {"IT", "SM"}   # Italian numbers keep their leading 0 in E.164
# France and its overseas departments share one national plan: the prefix says which code
_FRENCH_PLAN = {"FR", "GP", "BL", "MF", "MQ", "GF", "RE", "YT", "PM"}
_FRENCH_OVERSEAS = {"590": "590", "690": "590", "691": "590", "596": "596", "696": "596", "697": "596",
                    "594": "594", "694": "594", "262": "262", "263": "262", "692": "262", "693": "262",
                    "269": "262", "639": "262", "508": "508"}
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def e164(phone: object, country: str = "") -> str:
    """The number in E.164 (+33612345678), or '' when it cannot be told: spaces, dots, dashes,
    slashes and a '(0)' are dropped, 00 becomes +, and a national number (0X...) takes the
    calling code of `country` (France's overseas prefixes their own: 0696... is +596696...)."""
    text = "" if phone is None or (isinstance(phone, float) and math.isnan(phone)) else str(phone)
    text = re.sub(r"[\s.\-/()\u00a0\u202f]", "", text.replace("(0)", ""))
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+"):
        code = (country or "").strip().upper()
        if not text.startswith("0") or code not in _CALLING_CODES or not text[1:].isdigit():
            return ""
        national = text if code in _TRUNK_ZERO_KEPT else text[1:]
        prefix = _CALLING_CODES[code]
        if code in _FRENCH_PLAN:
            prefix = _FRENCH_OVERSEAS.get(national[:3], "33")
        text = f"+{prefix}{national}"
    return text if _E164.match(text) else ""


# -- inbound replies (STOP) ------------------------------------------------------------------------

def verify_inbound(url: str, form: dict, signature: str, auth_token: str) -> bool:
    """Whether a webhook request comes from Twilio: its X-Twilio-Signature over the full `url`
    Twilio called and the posted `form`, with our auth token."""
    if not signature or not auth_token:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(form), signature))


def keyword(body: object) -> str:
    """The reply as a keyword: trimmed, upper case, accents and closing punctuation dropped."""
    text = unicodedata.normalize("NFKD", str(body or ""))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.upper().strip(" \t\r\n.!").split())


def _customer_of(conn: Connection, address: str) -> str:
    """The customer whose master phone is `address` (the first by id), else ''."""
    query = select(customers.c.customer_id, customers.c.phone, customers.c.country).where(
        customers.c.phone != "").order_by(customers.c.customer_id)
    for customer_id, phone, country in conn.execute(query):
        if e164(phone, country) == address:
            return str(customer_id)
    return ""


def _suppress_numbers(conn: Connection, rows: list[dict], *, now: dt.datetime) -> None:
    """Numbers -> contact_suppressions (channel 'sms'); a number already there keeps its row."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    values = [{"channel": "sms", "address": str(r["address"])[:320], "customer_id": str(r["customer_id"])[:100],
               "reason": str(r["reason"])[:30], "source_id": str(r["source_id"])[:100], "since": now} for r in rows]
    if values:
        conn.execute(insert(contact_suppressions).on_conflict_do_nothing(), values)


def record_inbound(conn: Connection, form: Mapping, *, now: dt.datetime) -> str:
    """Act on a reply Twilio posted (From, Body, MessageSid): 'stop' when it is an opt-out
    keyword (the number joins contact_suppressions, reason 'stop'), 'start' when an opt-in
    keyword (the number leaves them), else 'ignored'."""
    word = keyword(form.get("Body"))
    address = e164(form.get("From")) or str(form.get("From") or "").strip()
    if not address or word not in OPT_OUT_KEYWORDS | OPT_IN_KEYWORDS:
        return "ignored"
    if word in OPT_IN_KEYWORDS:
        conn.execute(delete(contact_suppressions).where(contact_suppressions.c.channel == "sms",
                                                        contact_suppressions.c.address == address))
        return "start"
    _suppress_numbers(conn, [{"address": address, "customer_id": _customer_of(conn, address), "reason": "stop",
                              "source_id": str(form.get("MessageSid") or form.get("SmsSid") or "")}], now=now)
    return "stop"


# -- dispatch ------------------------------------------------------------------------------------

def _with_key(url: str | None, action_key: str) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query), ("action_key", action_key)])
    return urlunsplit(parts._replace(query=query))


def _wait(client, attempt: int, max_wait: float) -> float:  # noqa: ANN001
    retry_after = getattr(getattr(client, "http_client", None), "retry_after", None)
    try:
        wait = float(retry_after) if retry_after is not None else 0.5 * 2 ** attempt
    except ValueError:   # an HTTP date: not worth parsing, back off as usual
        wait = 0.5 * 2 ** attempt
    return min(max(wait, 0.0), max_wait)


def _never_left(error: Exception) -> bool:
    """Whether a transport error happened before the request could reach Twilio."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(error, requests.exceptions.ConnectionError):
        from urllib3.exceptions import NewConnectionError

        cause = error.args[0] if error.args else None
        return isinstance(getattr(cause, "reason", cause), NewConnectionError)
    return False


def _create(client, request: dict, *, max_attempts: int, sleep: Callable[[float], None],  # noqa: ANN001
            max_wait: float) -> tuple[str, object]:
    """('ok', message) | ('refused', error) | ('busy', error): 429/5xx or no connection after
    every attempt | ('unknown', error): no answer, Twilio may have the message."""
    for attempt in range(max_attempts):
        try:
            return "ok", client.messages.create(**request)
        except TwilioException as error:
            status = int(getattr(error, "status", 0) or 0)
            if not (status == 429 or status >= 500):
                return "refused", error
            outcome = ("busy", error)
        except requests.exceptions.RequestException as error:
            if not _never_left(error):
                return "unknown", error
            outcome = ("busy", error)
        if attempt + 1 < max_attempts:
            sleep(_wait(client, attempt, max_wait))
    return outcome


def _refusal(error: object) -> str:
    message = str(getattr(error, "msg", "") or getattr(error, "detail", "") or getattr(error, "title", ""))
    message = message.removeprefix("Unable to create record: ")
    return f"Twilio {getattr(error, 'code', None) or getattr(error, 'status', '')}: {message}".strip()


def _provider(client) -> str:  # noqa: ANN001
    """'twilio', or what another client with Twilio's interface calls itself (the demo's files)."""
    return str(getattr(client, "provider", PROVIDER))


def _recipient(customer: Mapping, country: str) -> str:
    """The customer's number in E.164; as written when it cannot be read (Twilio then says why)."""
    raw = str(customer.get("phone") or "").strip()
    return e164(raw, str(customer.get("country") or country)) or raw


def _master(conn: Connection) -> tuple[pd.DataFrame, dict[str, dict]]:
    frame = read_customers(conn)
    return frame, {str(r["customer_id"]): r for r in frame.drop_duplicates("customer_id").to_dict("records")}


def _blocked(conn: Connection) -> set[str]:
    return set(conn.execute(select(contact_suppressions.c.address)
                            .where(contact_suppressions.c.channel == "sms")).scalars())


def _listed(client, query: dict) -> list:  # noqa: ANN001
    """Twilio's messages for `query`; none when Twilio cannot tell now (the rows stay in doubt)."""
    try:
        return list(client.messages.list(**query))
    except (TwilioException, requests.exceptions.RequestException) as error:
        log.warning("Twilio's message list is unavailable (%s): rows stay in doubt", type(error).__name__)
        return []


def _reconcile(engine: Engine, client, rows: pd.DataFrame, *, creditor: Creditor,  # noqa: ANN001
               legal: LegalRules | None, window: tuple[int, int], country: str,
               now: dt.datetime) -> tuple[int, int]:
    """In-doubt rows: (found at Twilio -> sent, still in doubt)."""
    if rows.empty:
        return 0, 0
    with engine.connect() as conn:
        frame, master = _master(conn)
        texts = {row["action_key"]: message.text or ""
                 for row, message, _ in rendered(conn, rows, creditor=creditor, legal=legal, customers=frame)}
    found, taken = [], set()
    listed: dict[tuple[str, str], list] = {}
    for row in rows.to_dict("records"):
        customer = master.get(str(row["customer_id"]), {})
        to = _recipient(customer, country)
        text = texts.get(row["action_key"])
        if not to or not text:
            continue
        claimed = _utc(row["updated_at"])
        due = effective_send_time(row["send_at"], claimed, str(customer.get("country") or ""), window,
                                  default_country=country)
        days = sorted({claimed.date().isoformat(), due.date().isoformat()})
        if due > claimed:
            days.append("")   # a scheduled hand-off has no DateSent until it goes: the latest messages
        for day in days:
            if (to, day) not in listed:
                query = {"to": to, "date_sent": day} if day else {"to": to, "limit": 50, "page_size": 50}
                listed[to, day] = _listed(client, query)
            match = next((m for m in listed[to, day] if m.sid not in taken and m.body == text
                          and str(getattr(m, "direction", None) or "outbound").startswith("outbound")), None)
            if match is not None:
                taken.add(match.sid)
                found.append({"action_key": row["action_key"], "provider": _provider(client),
                              "provider_message_id": match.sid, "recipient": to, "units": segments(text)[1]})
                break
    if found:
        with engine.begin() as conn:
            outbox.mark_sent(conn, pd.DataFrame(found), now=now)
    return len(found), len(rows) - len(found)


def dispatch_sms(engine: Engine, *, part: tuple[int, int], now: dt.datetime, client, sender: str,  # noqa: ANN001
                 window: tuple[int, int] = DEFAULT_WINDOW, messaging_service_sid: str | None = None,
                 creditor: Creditor, legal: LegalRules | None = None, chunk: int = 500,
                 status_callback: str | None = None, country: str = "FR", max_attempts: int = 4,
                 max_wait: float = 30.0, sleep: Callable[[float], None] = time.sleep) -> dict:
    """Send the ready SMS rows of this task's part (see the module docstring); returns the counts
    {sent, scheduled, failed, suppressed, in_doubt, segments, reconciled, deferred, waiting}.

    `sender`: our Twilio number or alphanumeric sender id ('' to let the Messaging Service pick);
    `status_callback`: the URL Twilio reports delivery to, the row's action_key added to its
    query; `country`: the company's, for customers whose country is unknown; `sleep`, `max_wait`
    and `max_attempts`: the backoff on 429/5xx. `deferred` counts rows handed back because
    Twilio was struggling, `waiting` rows outside quiet hours with no Messaging Service to
    schedule them (both pending again, for a later run)."""
    summary = dict.fromkeys(("sent", "scheduled", "failed", "suppressed", "in_doubt", "segments", "reconciled",
                             "deferred", "waiting"), 0)
    now = _utc(now)
    with engine.connect() as conn:
        doubtful = outbox.in_doubt(conn, "sms", part=part)
    summary["reconciled"], summary["in_doubt"] = _reconcile(engine, client, doubtful, creditor=creditor, legal=legal,
                                                            window=window, country=country, now=now)
    if summary["in_doubt"]:
        log.warning("%d SMS in doubt from an interrupted attempt: not resent, not in Twilio's list yet",
                    summary["in_doubt"])
    with engine.connect() as conn:
        frame, master = _master(conn)
        blocked = _blocked(conn)
    until = now + MAX_SCHEDULE_AHEAD if messaging_service_sid else now
    waiting: set[str] = set()
    while True:
        # rows already found waiting this run come back with the claim: the limit makes room for them
        with engine.begin() as conn:
            rows = outbox.claim(conn, "sms", part=part, now=now, limit=chunk + len(waiting), until=until)
        if rows.empty:
            break
        again = rows["action_key"].isin(waiting)
        if again.any():
            with engine.begin() as conn:
                outbox.release(conn, rows.loc[again, "action_key"], now=now)
        if again.all():
            break
        outcome = _send_rows(engine, rows[~again], client=client, sender=sender, window=window,
                             messaging_service_sid=messaging_service_sid, creditor=creditor, legal=legal,
                             status_callback=status_callback, country=country, now=now, frame=frame, master=master,
                             blocked=blocked, waiting=waiting, retry=dict(max_attempts=max_attempts, sleep=sleep,
                                                                          max_wait=max_wait))
        for name, count in outcome.items():
            summary[name] += count
        if outcome["deferred"] or outcome["in_doubt"]:
            break   # Twilio is struggling: what is left waits for the next attempt
    summary["waiting"] = len(waiting)
    if summary["deferred"]:
        log.warning("Twilio did not take every SMS: %d left pending for the next attempt", summary["deferred"])
    return summary


def _send_rows(engine: Engine, rows: pd.DataFrame, *, client, sender: str, window: tuple[int, int],  # noqa: ANN001
               messaging_service_sid: str | None, creditor: Creditor, legal: LegalRules | None,
               status_callback: str | None, country: str, now: dt.datetime, frame: pd.DataFrame,
               master: dict[str, dict], blocked: set[str], waiting: set[str], retry: dict) -> dict:
    outcome = dict.fromkeys(("sent", "scheduled", "failed", "suppressed", "in_doubt", "segments", "deferred"), 0)
    suppressed: dict[str, str] = {}
    numbers: dict[str, tuple[str, dt.datetime]] = {}
    later: list[str] = []
    for row in rows.to_dict("records"):
        key = str(row["action_key"])
        customer = master.get(str(row["customer_id"]), {})
        to = _recipient(customer, country)
        if not to:
            suppressed[key] = NO_PHONE
        elif to in blocked:
            suppressed[key] = OPTED_OUT
        else:
            due = effective_send_time(row["send_at"], now, str(customer.get("country") or ""), window,
                                      default_country=country)
            if due > now and (not messaging_service_sid or due > now + MAX_SCHEDULE_AHEAD):
                later.append(key)
            else:
                numbers[key] = (to, due)
    with engine.begin() as conn:
        outcome["suppressed"] += outbox.suppress(conn, suppressed, now=now, source="sending")
        outbox.release(conn, later, now=now)
    waiting.update(later)
    with engine.connect() as conn:
        messages = [(row, message) for row, message, _ in
                    rendered(conn, rows[rows["action_key"].isin(list(numbers))], creditor=creditor, legal=legal,
                             customers=frame)]
    accepted: list[dict] = []

    def commit_accepted() -> None:
        # a few dozen acceptances per commit: a crash before it leaves them in doubt, and the next
        # run finds them in Twilio's list
        if accepted:
            with engine.begin() as conn:
                outbox.mark_sent(conn, pd.DataFrame(accepted), now=now)
            accepted.clear()

    try:
        for position, (row, message) in enumerate(messages):
            key = str(row["action_key"])
            to, due = numbers[key]
            body = message.text or ""
            request = {"to": to, "body": body, "status_callback": _with_key(status_callback, key)}
            if sender:
                request["from_"] = sender
            if messaging_service_sid:
                request["messaging_service_sid"] = messaging_service_sid
            scheduled = due > now
            if scheduled:
                request.update(send_at=max(due, now + SCHEDULE_AHEAD), schedule_type="fixed")
            kind, answer = _create(client, request, **retry)
            if kind == "ok":
                units = segments(body)[1]
                when = f"scheduled for {request['send_at']:%Y-%m-%dT%H:%M:%SZ}" if scheduled else ""
                accepted.append({"action_key": key, "provider": _provider(client), "units": units,
                                 "provider_message_id": answer.sid, "recipient": to, "reason": when})
                outcome["scheduled" if scheduled else "sent"] += 1
                outcome["segments"] += units
                if len(accepted) >= COMMIT_EVERY:
                    commit_accepted()
                continue
            code = getattr(answer, "code", None)
            if kind == "refused" and code == UNSUBSCRIBED:
                with engine.begin() as conn:
                    outcome["suppressed"] += outbox.suppress(conn, {key: OPTED_OUT}, now=now, source="sending")
                    _suppress_numbers(conn, [{"address": to, "customer_id": row["customer_id"], "reason": "stop",
                                              "source_id": f"twilio {UNSUBSCRIBED} {key}"}], now=now)
                blocked.add(to)
                continue
            rest = [str(r["action_key"]) for r, _ in messages[position + 1:]]
            if kind == "refused" and (getattr(answer, "status", 0) in (401, 403) or code in CONFIGURATION_CODES):
                with engine.begin() as conn:
                    outbox.release(conn, [key, *rest], now=now)
                raise SmsConfigurationError(f"Twilio refused our account or credentials ({_refusal(answer)}): "
                                            "check the connection twilio_default; nothing more was sent")
            if kind == "refused":
                with engine.begin() as conn:
                    outcome["failed"] += outbox.mark_failed(conn, {key: _refusal(answer)}, now=now,
                                                            provider=_provider(client))
                continue
            left = rest if kind == "unknown" else [key, *rest]
            with engine.begin() as conn:
                outbox.release(conn, left, now=now)
            outcome["deferred"] += len(left)
            if kind == "unknown":
                outcome["in_doubt"] += 1   # left 'sending': reconciled on the next attempt
                log.warning("Twilio did not answer for %s (%s): in doubt, not resent", key, type(answer).__name__)
            break
    finally:
        commit_accepted()
    return outcome
