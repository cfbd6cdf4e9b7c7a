"""The call list: who our collectors call today, in which order, and what the calls gave.

    ranked = prioritise(calls)                    # expected_value_minor, priority 1..n
    publish_call_list(engine, as_of=date(2025, 6, 30), now=now, out_dir=Path("runs"), creditor=creditor)
    # -> call_list rows of 30 June, runs/2025-06-30/call_list.csv, the 'call' outbox rows sent
    outcomes = read_outcomes(Path("call_outcomes.csv"))   # or RegisterError naming line and field
    with engine.begin() as conn:
        import_outcomes(conn, outcomes, now=now)  # call_outcomes + the promises and disputes they imply

Ranking. A call is worth what it may bring in: `expected_value_minor` = amount_minor x
risk_score / 100 x age factor, where the age factor is min(days_overdue, 180) / 30 and at least
1/30 (one day). Why those terms: the amount is what the call asks for; the risk score (0-100,
the late-payment model's) is how likely the money does not come on its own, so a call on a
safe payer adds little; and an older debt is both harder to collect and more urgent (each
month without payment lowers the odds of ever being paid), so the factor rises with age, one
unit per month late. It is capped at six months: past that the debt is in the formal notice or
agency track, another month does not make a call more useful, and an ancient invoice must not
sit on top of the list forever. A call planned before the due date (or on it) counts one day,
so it ranks by amount x risk instead of vanishing to zero. A missing risk score counts as 50
(no opinion either way).

    10 000 € at risk 80, 60 days late: 1 000 000 x 80 x 60 / 3000 = 1 600 000 (16 000.00 €)
    12 000 € at risk 10,  5 days late: 1 200 000 x 10 x  5 / 3000 =    20 000 (   200.00 €)

The value is integer arithmetic on minor units, rounded down to the minor unit (it ranks, it is
never billed), and exact for any int64 amount (no float, no overflow: the product is split
around the divisor). Ties go to the larger amount, then the customer id, then the action key.
Amounts of different currencies are compared in minor units as they are, without exchange
rates: right for the EUR portfolios this is built for (a single currency, or currencies with
the same exponent and a similar value); a list mixing, say, EUR and JPY ranks the yen calls
far too high, and would need a conversion before ranking.

Publishing. The call list is a hand-off that is our own transaction (outbox policy, point 4):
the day's rows are written to `call_list` and their outbox rows moved to 'sent' (provider
'call_list', recipient the phone number) in one transaction, so no doubt can arise; a 'call' row
found in 'sending' was never handed over and is released first. A customer with no phone number
gets no row: its action is suppressed ('no phone number'). The day's list is the union of what
was published that day, re-ranked each time; publishing again adds nothing and gives the same
table and the same CSV (`<out_dir>/<as_of>/call_list.csv`, amounts as decimal strings, written
to a temporary file then renamed, so a reader never sees half a list).

Outcomes. A collector records each call in a CSV (`include/samples/call_outcomes.csv`):
outcome_id,action_key,customer_id,called_on,outcome,invoice_ids,promised_date,amount,currency,dispute_reason,note
with outcome one of reached, no_answer, promise (needs promised_date, an amount above 0 and its
currency), dispute (needs dispute_reason, a reason code of the disputes register, and the
invoices disputed), wrong_number. The file is read by the register machinery
(`registers.read_register(path, "call_outcomes")`): all or nothing, every problem listed with
file, line and field. A promise becomes a promises register row 'call:<outcome_id>', a dispute
one disputes register row per invoice 'call:<outcome_id>:<invoice_id>': from then on they hold
the reminders like the ones credit managers record.

Pure apart from the warehouse connection it is given: no Airflow, no environment, no clock.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, delete, select

from receivables.channels import outbox
from receivables.channels.messages import plan_of, rendered
from receivables.money import format_minor
from receivables.scenarios.legal import LegalRules
from receivables.scenarios.registers import REGISTERS, read_register
from receivables.scenarios.render import Creditor
from receivables.warehouse.db import bulk_insert, read_where_in
from receivables.warehouse.schema import call_list, call_outcomes, disputes, promises, risk_scores
from receivables.warehouse.store import replace_day, upsert_register

PROVIDER = "call_list"
NO_PHONE = "no phone number"
NEUTRAL_RISK = 50           # a customer not scored: no opinion either way
AGE_CAP_DAYS = 180          # six months late: the call is as urgent as it gets
DAYS_PER_UNIT = 30          # the age factor counts months late
_DIVISOR = 100 * DAYS_PER_UNIT

CALL_LIST_COLUMNS = [c.name for c in call_list.columns]
CSV_COLUMNS = ["as_of", "priority", "action_key", "customer_id", "name", "phone", "email", "step_id",
               "invoice_ids", "amount", "currency", "days_overdue", "risk_score", "expected_value", "drivers",
               "script"]
OUTCOME_COLUMNS = [c.name for c in call_outcomes.columns if c.name != "imported_at"]


# -- ranking --------------------------------------------------------------------------------------

def prioritise(calls: pd.DataFrame) -> pd.DataFrame:
    """`calls` (one row per call action: amount_minor, currency, days_overdue, risk_score, customer_id,
    any other columns) sorted by expected value, best first, with `expected_value_minor` and
    `priority` (1 = call first); see the module docstring for the formula and its reasons."""
    out = calls.copy()
    amount = out["amount_minor"].astype("int64").to_numpy()
    risk = pd.to_numeric(out["risk_score"] if "risk_score" in out else pd.Series(np.nan, index=out.index))
    risk = risk.fillna(NEUTRAL_RISK).clip(0, 100).round().astype("int64").to_numpy()
    days = pd.to_numeric(out["days_overdue"]).fillna(0).clip(1, AGE_CAP_DAYS).astype("int64").to_numpy()
    weight = risk * days                                   # at most 18 000
    # amount x weight // divisor without overflow: amount = q x divisor + r (floor division)
    whole, rest = np.divmod(amount, _DIVISOR)
    out["expected_value_minor"] = whole * weight + (rest * weight) // _DIVISOR
    keys = ["expected_value_minor", "amount_minor", "customer_id"] + (["action_key"] if "action_key" in out else [])
    out = out.sort_values(keys, ascending=[False, False] + [True] * (len(keys) - 2), kind="stable")
    out["priority"] = np.arange(1, len(out) + 1, dtype="int64")
    return out.reset_index(drop=True)


# -- publishing -----------------------------------------------------------------------------------

def publish_call_list(engine: Engine, *, as_of: dt.date, now: dt.datetime, out_dir: Path, creditor: Creditor,
                      legal: LegalRules | None = None) -> dict:
    """Hand the ready 'call' actions to the collectors: the day's `call_list` rows and CSV (module
    docstring). Returns {'as_of', 'released', 'claimed', 'listed', 'suppressed', 'rows', 'path'}."""
    with engine.begin() as conn:   # committed before anything is built from them
        released = outbox.release(conn, outbox.in_doubt(conn, "call")["action_key"], now=now)
        claimed = outbox.claim(conn, "call", part=(0, 1), now=now)
    with engine.connect() as conn:
        entries = _entries(conn, claimed, as_of, creditor=creditor, legal=legal)
    reachable = entries["phone"] != ""
    new = entries[reachable]
    with engine.begin() as conn:
        day = read_call_list(conn, as_of)   # the day's list so far stays, re-ranked with the new calls
        parts = [f for f in (day[~day["action_key"].isin(new["action_key"])], new) if not f.empty]
        listed = prioritise(pd.concat(parts, ignore_index=True)) if parts else day
        replace_day(conn, as_of, {call_list: listed[[c for c in CALL_LIST_COLUMNS if c != "as_of"]]})
        outbox.mark_sent(conn, pd.DataFrame({
            "action_key": new["action_key"], "provider": PROVIDER, "recipient": new["phone"],
            "provider_message_id": f"{as_of.isoformat()}#" + new["action_key"]}), now=now)
        suppressed = outbox.suppress(conn, dict.fromkeys(entries.loc[~reachable, "action_key"], NO_PHONE), now=now,
                                     source="sending")
    path = Path(out_dir) / as_of.isoformat() / "call_list.csv"
    _write_atomically(path, call_list_csv(listed.assign(as_of=as_of)))
    return {"as_of": as_of.isoformat(), "released": released, "claimed": len(claimed), "listed": len(new),
            "suppressed": suppressed, "rows": len(listed), "path": str(path)}


def _entries(conn: Connection, rows: pd.DataFrame, as_of: dt.date, *, creditor: Creditor,
             legal: LegalRules | None) -> pd.DataFrame:
    """The call-list rows of claimed outbox `rows` (phone '' when the master has none), unranked."""
    columns = [c for c in CALL_LIST_COLUMNS if c not in ("as_of", "priority", "expected_value_minor")]
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    plan = plan_of(conn, rows)
    people = []
    for row, message, customer in rendered(conn, rows, creditor=creditor, legal=legal):
        people.append({"action_key": row["action_key"], "script": message.text or "",
                       **{f: _text(customer.get(f)) for f in ("name", "phone", "email")}})
    ids = sorted(set(plan.actions["customer_id"]))
    risk = pd.read_sql(select(risk_scores.c.customer_id, risk_scores.c.score.label("risk_score"), risk_scores.c.drivers)
                       .where(risk_scores.c.as_of == as_of, risk_scores.c.customer_id.in_(ids)), conn)
    oldest = plan.lines.groupby("action_key")["days_overdue"].max().rename("days_overdue")
    out = (plan.actions[["action_key", "customer_id", "step_id", "invoice_ids", "amount_minor", "currency"]]
           .merge(pd.DataFrame(people), on="action_key")
           .merge(oldest, left_on="action_key", right_index=True, how="left")
           .merge(risk, on="customer_id", how="left"))
    out["days_overdue"] = out["days_overdue"].fillna(0).astype("int64")
    out["risk_score"] = pd.array(out["risk_score"], dtype="Int64")
    out["drivers"] = out["drivers"].fillna("")
    return out[columns]


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""     # None, NaN: unknown


def read_call_list(conn: Connection, as_of: dt.date) -> pd.DataFrame:
    """The call list of `as_of` as stored, by priority."""
    frame = pd.read_sql(select(call_list).where(call_list.c.as_of == as_of).order_by(call_list.c.priority), conn)
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date
    for name in ("priority", "amount_minor", "days_overdue", "expected_value_minor"):
        frame[name] = frame[name].astype("int64")
    frame["risk_score"] = pd.array(frame["risk_score"], dtype="Int64")
    return frame


def call_list_csv(listed: pd.DataFrame) -> pd.DataFrame:
    """The call list as its CSV shows it (CSV_COLUMNS): amounts as decimal strings in their
    currency's decimals, ISO dates, '' for an unknown risk score."""
    text = {c: listed[c].astype(str) for c in CSV_COLUMNS if c in listed}
    text.update(as_of=pd.to_datetime(listed["as_of"]).dt.strftime("%Y-%m-%d"),
                amount=[format_minor(m, c) for m, c in zip(listed["amount_minor"], listed["currency"])],
                expected_value=[format_minor(m, c) for m, c in zip(listed["expected_value_minor"], listed["currency"])],
                risk_score=[str(v) if v is not pd.NA else "" for v in pd.array(listed["risk_score"], dtype="Int64")])
    return pd.DataFrame(text, index=listed.index)[CSV_COLUMNS]


def _write_atomically(path: Path, frame: pd.DataFrame) -> None:
    """Write the CSV next to `path` then rename it over `path`: readers see the old list or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            frame.to_csv(out, index=False, lineterminator="\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# -- outcomes -------------------------------------------------------------------------------------

def read_outcomes(path: Path) -> pd.DataFrame:
    """The outcomes of a collector's CSV, OUTCOME_COLUMNS (amount in minor units as amount_minor,
    dates as datetime.date, '' for empty text); raises `registers.RegisterError` listing every
    bad cell with file, line and field."""
    return read_register(Path(path), "call_outcomes")[OUTCOME_COLUMNS]


def _register_columns(kind: str) -> list[str]:
    """The columns `read_register(..., kind)` returns: its fields, amounts last as `<name>_minor`."""
    fields = REGISTERS[kind][1]
    return ([f.name for f in fields if f.kind != "amount"] + [f"{f.name}_minor" for f in fields if f.kind == "amount"])


def _register_frame(kind: str, columns: dict) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    for name in _register_columns(kind):
        if name.endswith("_minor"):
            frame[name] = pd.array(frame[name] if name in frame else [None] * len(frame), dtype="Int64")
        elif name not in frame:
            frame[name] = None
    return frame[_register_columns(kind)].astype({c: object for c in _register_columns(kind)
                                                  if not c.endswith("_minor")}).reset_index(drop=True)


def outcome_registers(outcomes: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{'promises', 'disputes'}: the register rows the outcomes imply, laid out as
    `registers.read_register` returns them (so `store.upsert_register` takes them; a promise's
    status is 'pending' there). A promise is 'call:<outcome_id>', made on the day of the call,
    on its invoices or, naming none, on the customer's invoices issued by then; a dispute is one
    open row per invoice, 'call:<outcome_id>:<invoice_id>', opened on the day of the call."""
    promised = outcomes[outcomes["outcome"] == "promise"].reset_index(drop=True)
    disputed = outcomes[outcomes["outcome"] == "dispute"]
    disputed = disputed.assign(invoice_id=disputed["invoice_ids"].str.split()).explode("invoice_id")
    disputed = disputed[disputed["invoice_id"].notna()].reset_index(drop=True)
    return {
        "promises": _register_frame("promises", {
            "promise_id": "call:" + promised["outcome_id"], "customer_id": promised["customer_id"],
            "invoice_ids": promised["invoice_ids"], "made_on": promised["called_on"],
            "promised_date": promised["promised_date"], "currency": promised["currency"], "note": promised["note"],
            "amount_minor": promised["amount_minor"]}),
        "disputes": _register_frame("disputes", {
            "dispute_id": "call:" + disputed["outcome_id"] + ":" + disputed["invoice_id"],
            "customer_id": disputed["customer_id"], "invoice_id": disputed["invoice_id"],
            "reason_code": disputed["dispute_reason"], "status": "open", "opened_on": disputed["called_on"],
            "note": disputed["note"]}),
    }


def _conformed(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Outcomes typed as read_outcomes gives them, whether read from a file or from the warehouse."""
    out = outcomes[OUTCOME_COLUMNS].copy()
    for name in ("called_on", "promised_date"):
        out[name] = [None if pd.isna(d) else d for d in pd.to_datetime(out[name]).dt.date]
    out["amount_minor"] = pd.array(out["amount_minor"], dtype="Int64")
    for name in ("outcome_id", "action_key", "customer_id", "outcome", "invoice_ids", "currency", "dispute_reason",
                 "note"):
        out[name] = out[name].fillna("").astype(str)
    return out.reset_index(drop=True)


def _fingerprints(outcomes: pd.DataFrame) -> list[str]:
    """One text per (conformed) outcome, equal when every field is."""
    return ["\x1f".join(map(str, values)) for values in outcomes.itertuples(index=False, name=None)]


def import_outcomes(conn: Connection, outcomes: pd.DataFrame, *, now: dt.datetime) -> dict:
    """Upsert the outcomes into `call_outcomes` (by outcome_id) and the promises and disputes they
    imply into their registers. An outcome imported again unchanged changes nothing (a promise
    judged since keeps its verdict, a dispute resolved since stays resolved); a corrected one
    replaces what its previous version implied. Returns {'outcomes', 'new', 'changed', 'promises',
    'disputes'} (the last two: register rows written)."""
    incoming = _conformed(outcomes)
    if incoming.empty:
        return {"outcomes": 0, "new": 0, "changed": 0, "promises": 0, "disputes": 0}
    ids = incoming["outcome_id"].tolist()
    stored = _conformed(read_where_in(conn, select(call_outcomes), call_outcomes.c.outcome_id, ids))
    before = dict(zip(stored["outcome_id"], _fingerprints(stored)))
    fresh = incoming[[before.get(i) != t for i, t in zip(incoming["outcome_id"], _fingerprints(incoming))]]
    replaced = stored[stored["outcome_id"].isin(fresh["outcome_id"])]
    if not replaced.empty:   # what the previous version implied goes; the new version's rows come back
        previous = outcome_registers(replaced)
        for table, key, kind in ((promises, promises.c.promise_id, "promises"),
                                 (disputes, disputes.c.dispute_id, "disputes")):
            if len(previous[kind]):
                conn.execute(delete(table).where(key.in_(previous[kind][key.name].tolist())))
        conn.execute(delete(call_outcomes).where(call_outcomes.c.outcome_id.in_(replaced["outcome_id"].tolist())))
    rows = fresh.assign(called_on=pd.to_datetime(fresh["called_on"]),
                        promised_date=pd.to_datetime(fresh["promised_date"]), imported_at=now)
    bulk_insert(conn, call_outcomes, rows)
    implied = outcome_registers(fresh)
    written = {kind: upsert_register(conn, kind, frame, now=now) if len(frame) else 0
               for kind, frame in implied.items()}
    return {"outcomes": len(incoming), "new": len(fresh) - len(replaced), "changed": len(replaced), **written}
