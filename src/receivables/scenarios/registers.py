"""Disputes, promises to pay and payment plans: what credit managers record, as data.

    disputes.csv      dispute_id,customer_id,invoice_id,reason_code,status,opened_on,resolved_on,note
                      D-7,C042,FA-2025-0142,quality,open,2025-06-12,,"3 pallets damaged"
    promises.csv      promise_id,customer_id,invoice_ids,made_on,promised_date,amount,currency,note
                      P-3,C042,FA-2025-0157,2025-06-20,2025-06-30,1200.00,EUR,"call with Mrs Martin"
    payment_plans.csv plan_id,customer_id,invoice_ids,total,currency,instalments,first_date,frequency,status,agreed_on
                      PP-1,C077,FA-1 FA-2,3000.00,EUR,3,2025-07-05,monthly,active,2025-06-28
    call_outcomes.csv outcome_id,action_key,customer_id,called_on,outcome,invoice_ids,promised_date,amount,currency,dispute_reason,note
                      what collectors recorded after the calls: channels/calls.py, include/samples/call_outcomes.csv

    read_register(Path("promises.csv"), "promises")   # DataFrame, or RegisterError listing every bad cell

A register file is all or nothing: one bad row rejects the file with every problem listed as
`file, line N, field 'x': reason`. Quarantining a row would be wrong here, because a dispute or
a promise that silently fails to load would let reminders go out to a customer who was told
they would not. Importing a register upserts by its id: a row changes the record with its id;
records absent from the file are kept (a file may carry only today's changes).

Rules the planner and the KPIs rely on:

- A dispute holds the reminders of its invoice until its status is `resolved` (statuses: open,
  investigating, resolved; reason codes: price, quantity, quality, delivery, duplicate_invoice,
  already_paid, other).
- A promise names its invoices (`invoice_ids`, space-separated) or, left empty, every invoice
  of the customer issued on or before `made_on`. It is judged after the day's cash
  (`judge_promises`): *kept* once the open amount of its invoices fell by at least the promised
  amount since the promise was first seen (`open_minor_at_promise`, filled on first sight when
  the file does not give it), *broken* when `promised_date` plus the grace days passed first.
  A pending or kept promise holds reminders until `promised_date` + grace; a broken one does not.
- A payment plan puts its invoices aside (no reminder on them) and is followed instalment by
  instalment (`instalments`): the total split equally in minor units (the first instalments take
  the remainder, one unit each), due on `first_date` then every `frequency` (weekly, biweekly,
  monthly, quarterly). What was paid on the plan (its total minus what its invoices still owe)
  settles the instalments in order; each instalment still owed is an item the scenario reminds
  on its own due date. A cancelled plan releases its invoices to the normal scenario; a
  completed one has nothing left to follow.

Amounts in files are decimal text in the currency (`1200.00`, `1200,00`); more decimals than the
currency has is an error, never a rounding. Dates are ISO (YYYY-MM-DD).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pandas as pd

from receivables.ledger.schema import LedgerFormatError
from receivables.ledger.textfile import read_delimited
from receivables.money import ISO_4217, exponent

PROMISE_GRACE_DAYS = 3
DISPUTE_REASONS = ("price", "quantity", "quality", "delivery", "duplicate_invoice", "already_paid", "other")
DISPUTE_STATUSES = ("open", "investigating", "resolved")
PROMISE_STATUSES = ("pending", "kept", "broken")
PLAN_STATUSES = ("active", "cancelled", "completed")
CALL_OUTCOMES = ("reached", "no_answer", "promise", "dispute", "wrong_number")
FREQUENCIES = {"weekly": pd.DateOffset(weeks=1), "biweekly": pd.DateOffset(weeks=2),
               "monthly": pd.DateOffset(months=1), "quarterly": pd.DateOffset(months=3)}


@dataclass(frozen=True)
class _Field:
    name: str
    kind: str                 # id, text, ids, date, amount, currency, int, choice
    required: bool = True
    choices: tuple[str, ...] = ()
    default: str = ""


REGISTERS: dict[str, tuple[str, tuple[_Field, ...]]] = {
    "disputes": ("dispute_id", (
        _Field("dispute_id", "id"), _Field("customer_id", "id"), _Field("invoice_id", "id"),
        _Field("reason_code", "choice", choices=DISPUTE_REASONS),
        _Field("status", "choice", required=False, choices=DISPUTE_STATUSES, default="open"),
        _Field("opened_on", "date"), _Field("resolved_on", "date", required=False),
        _Field("note", "text", required=False))),
    "promises": ("promise_id", (
        _Field("promise_id", "id"), _Field("customer_id", "id"), _Field("invoice_ids", "ids", required=False),
        _Field("made_on", "date"), _Field("promised_date", "date"), _Field("amount", "amount"),
        _Field("currency", "currency"), _Field("open_at_promise", "amount", required=False),
        _Field("note", "text", required=False))),
    "payment_plans": ("plan_id", (
        _Field("plan_id", "id"), _Field("customer_id", "id"), _Field("invoice_ids", "ids"),
        _Field("total", "amount"), _Field("currency", "currency"), _Field("instalments", "int"),
        _Field("first_date", "date"), _Field("frequency", "choice", choices=tuple(FREQUENCIES)),
        _Field("status", "choice", required=False, choices=PLAN_STATUSES, default="active"),
        _Field("agreed_on", "date", required=False), _Field("note", "text", required=False))),
    # what a collector recorded after each call of the call list (channels/calls.py)
    "call_outcomes": ("outcome_id", (
        _Field("outcome_id", "id"), _Field("action_key", "id", required=False), _Field("customer_id", "id"),
        _Field("called_on", "date"), _Field("outcome", "choice", choices=CALL_OUTCOMES),
        _Field("invoice_ids", "ids", required=False), _Field("promised_date", "date", required=False),
        _Field("amount", "amount", required=False), _Field("currency", "currency", required=False),
        _Field("dispute_reason", "choice", required=False, choices=DISPUTE_REASONS),
        _Field("note", "text", required=False))),
}


class RegisterError(ValueError):
    """A register file that cannot be imported; the message lists every problem found."""

    def __init__(self, source: str, problems: list[str]):
        self.source, self.problems = source, problems
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        super().__init__(f"{source}: nothing imported, {len(problems)} problem(s): " + "; ".join(shown))


def _amount_minor(text: str, currency: str) -> int:
    value = Decimal(text.replace("\u00a0", "").replace(" ", "").replace(",", "."))
    if not value.is_finite():
        raise InvalidOperation
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"more decimals than {currency} has")
    return int(scaled)


def read_register(path: Path, kind: str) -> pd.DataFrame:
    """The rows of a register CSV, typed (amounts in minor units as `<field>_minor`, dates as
    datetime.date); raises `RegisterError` listing every bad cell, or naming the missing columns."""
    key, fields = REGISTERS[kind]
    source = Path(path).name
    try:
        table = read_delimited(Path(path).read_bytes(), source)
    except OSError as exc:
        raise RegisterError(source, [f"cannot read the file: {exc.strerror}"]) from None
    except LedgerFormatError as exc:
        raise RegisterError(source, [str(exc)]) from None
    header = [h.strip().lower() for h in table.header]
    missing = [f.name for f in fields if f.required and f.name not in header]
    if missing:
        raise RegisterError(source, [f"line {table.header_line}: missing column(s) {', '.join(missing)} "
                                     f"(expected {','.join(f.name for f in fields)})"])
    position = {name: i for i, name in enumerate(header)}
    problems: list[str] = []
    records: list[dict] = []
    seen: dict[str, int] = {}
    for cells, line in zip(table.rows, table.line_no):
        record: dict = {"line_no": line}
        invalid: set[str] = set()          # cells already reported: no rule repeats their problem
        for f in sorted(fields, key=lambda f: f.kind != "currency"):   # amounts need their currency
            i = position.get(f.name)
            text = (cells[i] if i is not None and i < len(cells) else "").strip()
            where = f"line {line}, field {f.name!r}"
            if not text:
                if f.required and f.kind != "ids":
                    problems.append(f"{where}: empty")
                record[f.name] = None if f.kind in ("date", "amount", "int") else f.default
                continue
            try:
                record[f.name] = _cell(f, text, record)
            except (ValueError, InvalidOperation) as exc:
                detail = str(exc) if isinstance(exc, ValueError) and str(exc) else "not valid"
                problems.append(f"{where}: {detail} ({text!r})")
                record[f.name] = None
                invalid.add(f.name)
        ident = record.get(key)
        if ident:
            if ident in seen:
                problems.append(f"line {line}, field {key!r}: {ident!r} already given on line {seen[ident]}")
            seen[ident] = line
        problems += _row_rules(kind, record, line, invalid)
        records.append(record)
    if problems:
        raise RegisterError(source, problems)
    frame = pd.DataFrame(records, columns=["line_no", *(f.name for f in fields)])
    for f in fields:
        if f.kind == "amount":
            frame[f"{f.name}_minor"] = pd.array([None if v is None else v for v in frame.pop(f.name)], dtype="Int64")
    if kind == "payment_plans":
        frame["instalments"] = frame["instalments"].astype("int64")
    return frame.drop(columns="line_no")


def _cell(f: _Field, text: str, record: dict) -> object:
    if f.kind in ("id", "text"):
        return text
    if f.kind == "ids":
        return " ".join(sorted(dict.fromkeys(text.replace(",", " ").replace(";", " ").split())))
    if f.kind == "date":
        return dt.date.fromisoformat(text)
    if f.kind == "currency":
        code = text.upper()
        if code not in ISO_4217:
            raise ValueError("not an ISO 4217 currency code")
        return code
    if f.kind == "int":
        value = int(text)
        if not 1 <= value <= 120:
            raise ValueError("must be a whole number from 1 to 120")
        return value
    if f.kind == "choice":
        value = text.lower().replace(" ", "_")
        if value not in f.choices:
            raise ValueError(f"must be one of {', '.join(f.choices)}")
        return value
    if f.kind == "amount":
        value = _amount_minor(text, record.get("currency") or "EUR")
        if value < 0:
            raise ValueError("must not be negative")
        return value
    raise AssertionError(f.kind)


# A call outcome's fields that its kind needs (with what is missing, as a clerk reads it), and
# the fields only one kind of outcome may carry (a promised date on a 'reached' call is a typo
# that would otherwise hold nothing).
_OUTCOME_NEEDS = {"promise": {"promised_date": "the date promised", "amount": "the amount promised, above 0",
                              "currency": "the currency of the amount"},
                  "dispute": {"dispute_reason": f"a reason ({', '.join(DISPUTE_REASONS)})",
                              "invoice_ids": "the invoices disputed"}}
_OUTCOME_ONLY = {"promised_date": "promise", "amount": "promise", "dispute_reason": "dispute"}


def _row_rules(kind: str, record: dict, line: int, invalid: set[str] = frozenset()) -> list[str]:
    """Rules across the fields of one row (`invalid`: fields whose cell was already reported)."""
    out = []
    if kind == "call_outcomes" and record.get("outcome"):
        outcome = record["outcome"]
        for name, what in _OUTCOME_NEEDS.get(outcome, {}).items():
            if name not in invalid and not record.get(name):
                out.append(f"line {line}, field {name!r}: a {outcome} needs {what}")
        for name, only in _OUTCOME_ONLY.items():
            if outcome != only and record.get(name) not in (None, ""):
                out.append(f"line {line}, field {name!r}: only a {only} has one (outcome {outcome!r})")
        if record.get("promised_date") and record.get("called_on") and record["promised_date"] < record["called_on"]:
            out.append(f"line {line}, field 'promised_date': before the call ({record['called_on']})")
    if kind == "disputes" and record.get("status") == "resolved" and record.get("resolved_on") is None:
        out.append(f"line {line}, field 'resolved_on': a resolved dispute needs its resolution date")
    if kind == "promises" and record.get("made_on") and record.get("promised_date") \
            and record["promised_date"] < record["made_on"]:
        out.append(f"line {line}, field 'promised_date': before the promise was made ({record['made_on']})")
    if kind == "payment_plans" and record.get("total") == 0:
        out.append(f"line {line}, field 'total': a plan of nothing")
    return out


# -- payment plans --------------------------------------------------------------------------------

INSTALMENT_COLUMNS = ["plan_id", "customer_id", "seq", "invoice_id", "due_date", "currency", "amount_minor",
                      "open_minor"]


def instalment_schedule(plans: pd.DataFrame) -> pd.DataFrame:
    """One row per instalment of each plan: plan_id, customer_id, seq (1-based), due_date,
    currency, amount_minor (equal split, the first `total % n` instalments one minor unit more)."""
    if plans.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in INSTALMENT_COLUMNS[:3] + ["due_date", "currency",
                                                                                             "amount_minor"]})
    n = plans["instalments"].astype("int64").to_numpy()
    rows = plans.loc[plans.index.repeat(n)].reset_index(drop=True)
    rows["seq"] = rows.groupby("plan_id").cumcount() + 1
    total = rows["total_minor"].astype("int64")
    count = rows["instalments"].astype("int64")
    rows["amount_minor"] = total // count + (rows["seq"] <= total % count).astype("int64")
    first = pd.to_datetime(rows["first_date"])
    due = pd.Series(pd.NaT, index=rows.index, dtype="datetime64[ns]")
    for name, offset in FREQUENCIES.items():   # one vectorized shift per frequency
        at = (rows["frequency"] == name).to_numpy()
        if at.any():
            k = rows.loc[at, "seq"].to_numpy() - 1
            if name in ("weekly", "biweekly"):
                due[at] = first[at] + pd.to_timedelta(k * 7 * offset.weeks, unit="D")
            else:
                due[at] = [d + pd.DateOffset(months=int(m) * offset.months) for d, m in zip(first[at], k)]
    rows["due_date"] = due
    return rows[["plan_id", "customer_id", "seq", "due_date", "currency", "amount_minor"]]


def _open_of(invoice_lists: pd.DataFrame, items: pd.DataFrame, key: str) -> pd.Series:
    """The open amount today of the invoices listed per `key` row (`invoice_ids` space-separated)."""
    exploded = (invoice_lists[[key, "customer_id", "invoice_ids"]]
                .assign(invoice_id=invoice_lists["invoice_ids"].fillna("").str.split()).explode("invoice_id"))
    exploded = exploded[exploded["invoice_id"].notna()]
    invoices = items[items["item_type"] == "invoice"][["customer_id", "invoice_id", "open_minor"]]
    merged = exploded.merge(invoices, on=["customer_id", "invoice_id"], how="left")
    return merged.groupby(key)["open_minor"].sum().reindex(invoice_lists[key]).fillna(0).astype("int64")


def plan_instalments(plans: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """The instalments of the active plans still owed today, each an item the scenario follows:
    INSTALMENT_COLUMNS, invoice_id '<plan_id>#<seq>', open_minor what is left of it."""
    active = plans[plans["status"] == "active"].reset_index(drop=True)
    schedule = instalment_schedule(active)
    if schedule.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in INSTALMENT_COLUMNS})
    owed = _open_of(active, items, "plan_id")
    paid = (active.set_index("plan_id")["total_minor"].astype("int64") - owed).clip(lower=0)
    schedule = schedule.sort_values(["plan_id", "seq"]).reset_index(drop=True)
    cumulative = schedule.groupby("plan_id")["amount_minor"].cumsum()
    paid_here = schedule["plan_id"].map(paid).fillna(0).astype("int64")
    schedule["open_minor"] = np.minimum((cumulative - paid_here).clip(lower=0), schedule["amount_minor"])
    schedule["invoice_id"] = schedule["plan_id"].astype(str) + "#" + schedule["seq"].astype(str)
    return schedule[schedule["open_minor"] > 0][INSTALMENT_COLUMNS].reset_index(drop=True)


def plan_invoices(plans: pd.DataFrame) -> pd.DataFrame:
    """(customer_id, invoice_id) of the invoices on an active plan: not reminded themselves."""
    active = plans[plans["status"] == "active"]
    out = active[["customer_id"]].assign(invoice_id=active["invoice_ids"].str.split()).explode("invoice_id")
    return out.dropna().reset_index(drop=True)


# -- promises -------------------------------------------------------------------------------------

def judge_promises(promises: pd.DataFrame, items: pd.DataFrame, as_of: dt.date,
                   grace_days: int = PROMISE_GRACE_DAYS) -> pd.DataFrame:
    """The promises with `status` (pending, kept, broken), `judged_on`, `open_at_promise_minor`
    filled on first sight and `open_now_minor`, after the day's cash (`items`: open items after
    matching). Promises already judged keep their verdict. A blanket promise (no invoice_ids)
    covers the customer's invoices issued on or before `made_on`."""
    out = promises.copy()
    for column, default in (("status", "pending"), ("judged_on", None), ("open_at_promise_minor", None)):
        if column not in out:
            out[column] = default
    out["status"] = out["status"].fillna("pending")
    out["judged_on"] = out["judged_on"].astype(object)
    if out.empty:
        return out.assign(open_now_minor=pd.Series(dtype="int64"))
    invoices = items[items["item_type"] == "invoice"]
    listed = out["invoice_ids"].fillna("") != ""
    lists = out[["promise_id", "customer_id", "invoice_ids"]].copy()
    if (~listed).any():   # blanket promises: the customer's invoices issued by made_on
        issued = invoices[["customer_id", "invoice_id", "doc_date"]].merge(
            out.loc[~listed, ["promise_id", "customer_id", "made_on"]], on="customer_id")
        issued = issued[pd.to_datetime(issued["doc_date"]) <= pd.to_datetime(issued["made_on"])]
        blanket = issued.groupby("promise_id")["invoice_id"].agg(" ".join)
        lists.loc[~listed, "invoice_ids"] = lists.loc[~listed, "promise_id"].map(blanket).fillna("")
    out["open_now_minor"] = _open_of(lists, items, "promise_id").to_numpy()
    baseline = pd.array(out["open_at_promise_minor"], dtype="Int64")
    out["open_at_promise_minor"] = baseline.fillna(pd.array(out["open_now_minor"], dtype="Int64"))
    pending = (out["status"] == "pending").to_numpy()
    paid = (out["open_at_promise_minor"].astype("int64") - out["open_now_minor"]).to_numpy()
    kept = pending & (paid >= out["amount_minor"].astype("int64").to_numpy())
    deadline = pd.to_datetime(out["promised_date"]) + pd.Timedelta(days=grace_days)
    broken = pending & ~kept & (pd.Timestamp(as_of) > deadline).to_numpy()
    out.loc[kept, "status"] = "kept"
    out.loc[broken, "status"] = "broken"
    out.loc[kept | broken, "judged_on"] = as_of
    return out


def holding_promises(promises: pd.DataFrame, as_of: dt.date, grace_days: int = PROMISE_GRACE_DAYS) -> pd.DataFrame:
    """The promises that hold reminders on `as_of` (not broken, and as_of <= promised_date + grace),
    one row per invoice named (invoice_id '' for a promise naming none)."""
    if promises is None or promises.empty:
        return pd.DataFrame(columns=["customer_id", "invoice_id", "promised_date", "made_on"])
    status = promises["status"] if "status" in promises else pd.Series("pending", index=promises.index)
    until = pd.to_datetime(promises["promised_date"]) + pd.Timedelta(days=grace_days)
    live = promises[(status != "broken").to_numpy() & (pd.Timestamp(as_of) <= until).to_numpy()]
    keep = ["customer_id", "promised_date"] + (["made_on"] if "made_on" in live else [])
    out = live[keep].assign(invoice_id=live["invoice_ids"].fillna("").str.split()).explode("invoice_id")
    out["invoice_id"] = out["invoice_id"].fillna("")      # a promise naming no invoice: ''
    return out.reset_index(drop=True)


def planning_registers(items: pd.DataFrame, as_of: dt.date, *, disputes: pd.DataFrame | None = None,
                       promises: pd.DataFrame | None = None, plans: pd.DataFrame | None = None) -> dict:
    """The registers as `plan_actions` takes them, after today's cash (`items`): disputes as
    they are, promises judged, the invoices on active plans and the instalments still owed."""
    return {"disputes": disputes,
            "promises": judge_promises(promises, items, as_of) if promises is not None else None,
            "plans": plan_invoices(plans) if plans is not None else None,
            "instalments": plan_instalments(plans, items) if plans is not None else None}
