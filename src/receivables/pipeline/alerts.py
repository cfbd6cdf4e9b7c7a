"""What finance ops hear about a wave: an email when a task fails for good, and the run's note.

A failed task (after its retries) sends one email per recipient of the Variable
`receivables_alert_recipients` (or RECEIVABLES_ALERT_RECIPIENTS; addresses separated by commas
or spaces; none: no email, a warning in the log):

    Subject: [receivables] ar_collections_daily 2025-06-30: load_ledger failed
    The task load_ledger of the run scheduled__2025-06-30... failed (try 3) on 2025-06-30:
    LedgerFormatError: ledger.txt line 12, field Debit: '12,3x' is not an amount
    Log: http://airflow.example/dags/ar_collections_daily/runs/.../tasks/load_ledger

It goes through the same channel as the reminders (SendGrid with the connection
`sendgrid_default`, else `.eml` files under `<data>/outbox/alerts/`), so an alert needs no
other mail set-up. The message holds ids, task names and the error's first line, never a
customer's data beyond what the error names (file, line, field).

The run's note (shown on the run in the Airflow UI) is written when the run ends, from what each
task returned (its counts and amounts): `wave_note` below, called by the listener in
`plugins/receivables_run_notes.py` (a run's note is metadata only the scheduler may write).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from receivables.money import format_minor

log = logging.getLogger(__name__)

NOTE_LIMIT = 1000                 # Airflow's dag_run_note.content is VARCHAR(1000)
_SEPARATORS = re.compile(r"[\s,;]+")
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_.-]+")


def alert_recipients(lookup: Callable[[str], str | None]) -> list[str]:
    """The addresses of `receivables_alert_recipients`, in order, each once."""
    raw = lookup("receivables_alert_recipients") or ""
    return list(dict.fromkeys(a for a in _SEPARATORS.split(raw) if "@" in a))


def failure_alert(*, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int,
                  as_of: dt.date | None, error: BaseException | str | None, log_url: str | None,
                  recipients: list[str]) -> list:
    """The alert's messages (channels.email.Outgoing), one per recipient."""
    from receivables.channels.email import Outgoing

    task = task_id if map_index is None or map_index < 0 else f"{task_id}[{map_index}]"
    day = as_of.isoformat() if as_of else "no business date"
    if isinstance(error, BaseException):
        first = (str(error).strip().splitlines() or [""])[0]
        cause = f"{type(error).__name__}: {first}" if first else type(error).__name__
    else:
        cause = (str(error or "").strip().splitlines() or ["no error recorded"])[0]
    cause = cause[:500]
    subject = f"[receivables] {dag_id} {day}: {task} failed"
    lines = [f"The task {task} of the run {run_id} failed (try {try_number}) on {day}:", cause]
    if log_url:
        lines.append(f"Log: {log_url}")
    lines.append("Nothing was sent twice: a re-run of the task or the run resumes where it stopped.")
    text = "\n".join(lines)
    html = "".join(f"<p>{_escape(line)}</p>" for line in lines)
    key = _UNSAFE_KEY.sub("_", f"alert-{dag_id}-{run_id}-{task}-{try_number}")
    return [Outgoing(action_key=f"{key}-{n}", to=address, name="", subject=subject, html=html, text=text,
                     category="receivables-alert", courtesy=False, send_at=None)
            for n, address in enumerate(recipients, start=1)]


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def send_alert(messages: list, *, api_key: str | None, host: str | None, from_email: str, from_name: str,
               outbox: Path) -> int:
    """Send the alert's messages (one request each: they go to different people); returns how
    many the provider accepted."""
    from receivables.channels.email import EmailSettings, FileSender, SendGridSender, request_body, sendgrid_client

    if not messages:
        return 0
    sender = (SendGridSender(sendgrid_client(api_key, host or None), max_attempts=3) if api_key
              else FileSender(outbox))
    settings = EmailSettings(from_email=from_email, from_name=from_name)
    accepted = 0
    for message in messages:
        answer = sender.send(request_body([message], settings))
        if answer.status in (200, 202):
            accepted += 1
        else:
            log.error("the failure alert %s was refused (%s)", message.action_key, answer.status)
    return accepted


# -- the run's note --------------------------------------------------------------------------------

def _scalar(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, str) and value and len(value) <= 40 and "/" not in value:
        return value
    return None


def _amounts(name: str, value: Mapping) -> list[str]:
    """{currency: minor} or {currency: {bucket: minor}} as '<currency> total'."""
    out = []
    for currency, amount in value.items():
        total = sum(int(v) for v in amount.values()) if isinstance(amount, Mapping) else amount
        if isinstance(total, int) and isinstance(currency, str) and len(currency) == 3:
            out.append(f"{name.removesuffix('_minor')} {format_minor(total, currency)} {currency}")
    return out


def _task_line(value: object) -> str:
    if not isinstance(value, Mapping):
        return _scalar(value) or ""
    parts = []
    for key, item in value.items():
        if key in ("as_of",):
            continue
        if key.endswith("_minor") and isinstance(item, Mapping):
            parts += _amounts(key, item)
        elif isinstance(item, Mapping):
            counts = [f"{k} {_scalar(v)}" for k, v in item.items() if _scalar(v) is not None and not isinstance(v, str)]
            if counts:
                parts.append(f"{key}: " + ", ".join(counts))
        elif isinstance(item, list) and item and all(isinstance(i, Mapping) for i in item):
            # one dict per source (file, statement): their counts added up
            totals: dict[str, int] = {}
            for entry in item:
                for k, v in entry.items():
                    if isinstance(v, int) and not isinstance(v, bool):
                        totals[k] = totals.get(k, 0) + v
            parts.append(f"{key} {len(item)}" + "".join(f", {k} {v:,}" for k, v in totals.items()))
        elif key.endswith("_minor") and isinstance(item, int) and isinstance(value.get("currency"), str):
            parts.append(f"{key.removesuffix('_minor')} {format_minor(item, value['currency'])} {value['currency']}")
        elif _scalar(item) is not None:
            parts.append(f"{key} {_scalar(item)}")
    return " · ".join(parts)


def wave_note(returns: Mapping[str, list[object]], *, state: str, as_of: dt.date | None,
              task_order: list[str], failed: list[str] = ()) -> str:
    """The run's note (Markdown, at most NOTE_LIMIT characters): its state, then one line per
    task that returned something, in the DAG's order, with its counts and amounts (mapped tasks:
    each part on the same line)."""
    head = f"**Wave {as_of.isoformat() if as_of else ''}: {state}**"
    lines = [head]
    if failed:
        lines.append("Failed: " + ", ".join(failed))
    for task in task_order:
        parts = [_task_line(v) for v in returns.get(task, [])]
        parts = [p for p in parts if p]
        if parts:
            lines.append(f"- {task}: " + " | ".join(parts))
    note = "\n".join(lines)
    if len(note) > NOTE_LIMIT:
        note = note[:NOTE_LIMIT - 1].rsplit("\n", 1)[0] + "\n…"
    return note
