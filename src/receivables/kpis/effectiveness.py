"""What the collection actions did: reminders sent, invoices paid after them, promises kept, calls.

    as_of 2025-06-30. Sent by earlier waves (dispatch_outbox state 'sent'):
      A1 reminder_1 email, sent on 2025-06-02 about FA-1: paid 2025-06-06 (4 days later)
      A2 reminder_1 email, sent on 2025-06-02 about FA-2: paid 2025-06-13 (11 days later)
      A3 reminder_1 email, sent on 2025-06-02 about FA-3 and FA-4: FA-3 paid 2025-06-05, FA-4 open
      A4 reminder_2 sms,   sent on 2025-06-25 about FA-5 (5 days ago: its 7 days are not over)
      A5 call,             sent on 2025-06-30 (today)
    paid_within_7d_ratio  reminder_1 = 1/3 (A1)   paid_within_14d_ratio reminder_1 = 2/3 (A1, A2)
    (no reminder_2 row: A4's window is still running); reminders_sent call = 1, others 0.
    Promises due in the trailing 90 days: P1 due 2025-06-10 kept on 2025-06-09, P2 due
    2025-06-12 broken, P3 due 2025-06-29 still in its 3 days of grace: promise_kept_ratio = 1/2.

Definitions, as known on `as_of`:
- the day an action was sent is the business date of the wave that dispatched it (the outbox
  row's `as_of`: the wall-clock `sent_at` differs on replays and backfills); sent means the
  outbox state `sent` or `bounced` (it left; the bounce came after);
- `reminders_sent`: actions sent on `as_of`, per channel of the dispatcher that sent them
  (email, sms, letter: letters, statements, formal notices and agency hand-offs are printed;
  call: the call list), 0 for a channel with none;
- `paid_within_7d_ratio` / `paid_within_14d_ratio` per step: among the actions asking for money
  (amount > 0: a thank-you asks for none) sent in the trailing 90 days at least 7 (14) days
  ago, the share whose invoices were all paid within 7 (14) days of sending. An invoice is
  paid on the date the ledger shows it settled (lettered by `as_of` with nothing left open: the
  date of its group's last payment) or on the day the cash application applied payments
  covering what the action asked for on it, whichever comes first. Payment-plan instalments
  (`<plan>#<n>`) are not ledger invoices and are left out;
- `promise_kept_ratio`: among the promises whose promised date is in the trailing 90 days and
  whose fate is known on `as_of` (kept by then, or past the promised date plus the register's
  grace days), the share kept by the promised date plus grace;
- `call_list_size`: the calls on the day's call list.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from receivables.channels.outbox import DISPATCHERS
from receivables.kpis.scopes import SCOPE, amounts, complete, concat, ratios, scope_totals, with_scope
from receivables.matching.apply import SETTLING_RULES
from receivables.scenarios.registers import PROMISE_GRACE_DAYS

WINDOW_DAYS = 90
PAID_WITHIN = (7, 14)
SENT_STATES = ("sent", "bounced")
CHANNELS = tuple(DISPATCHERS)           # email sms letter call
DISPATCHER_OF = {channel: dispatcher for dispatcher, channels in DISPATCHERS.items() for channel in channels}
OUTCOME_COLUMNS = ["action_key", "sent_on", "customer_id", "step_id", "channel", "amount_minor", "currency",
                   "state", *(f"paid_within_{n}d" for n in PAID_WITHIN)]


def _day(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.normalize()


def action_outcomes(outbox: pd.DataFrame, actions: pd.DataFrame, action_lines: pd.DataFrame,
                    settled: pd.DataFrame, applied: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """One row per action handed to dispatch in the trailing 90 days (OUTCOME_COLUMNS), with
    `paid_within_<n>d` True/False once measurable, <NA> before (or for an action not sent).

    outbox: dispatch_outbox rows; actions: collection_actions (as_of, action_key, currency,
    amount_minor); action_lines: collection_action_lines (as_of, action_key, customer_id,
    invoice_id, open_minor); settled: (customer_id, invoice_id, paid_on) from the ledger;
    applied: `auto` bank allocations of the days up to `as_of` (as_of, customer_id, invoice_id,
    amount_minor, rule)."""
    day = pd.Timestamp(as_of)
    sent_on = _day(outbox["as_of"])
    recent = outbox[((sent_on > day - pd.Timedelta(days=WINDOW_DAYS)) & (sent_on <= day)).to_numpy()]
    recent = recent.assign(sent_on=_day(recent["as_of"]))
    planned = actions[["as_of", "action_key", "currency", "amount_minor"]].assign(sent_on=_day(actions["as_of"]))
    out = recent.drop(columns=["as_of"]).merge(planned.drop(columns=["as_of"]), on=["sent_on", "action_key"])
    lines = action_lines.assign(sent_on=_day(action_lines["as_of"]))
    lines = lines[~lines["invoice_id"].str.contains("#", regex=False)].merge(
        out[["sent_on", "action_key"]], on=["sent_on", "action_key"]).reset_index(drop=True)
    lines = lines.assign(paid_on=_paid_on(lines, settled, applied, day))
    measurable = out["state"].isin(SENT_STATES) & (out["amount_minor"] > 0) & out["action_key"].isin(lines["action_key"])
    for n in PAID_WITHIN:
        in_time = lines.assign(ok=(lines["paid_on"] <= lines["sent_on"] + pd.Timedelta(days=n)))
        all_paid = in_time.groupby(["sent_on", "action_key"])["ok"].all().rename("all_paid")
        flag = out.join(all_paid, on=["sent_on", "action_key"])["all_paid"].astype("boolean")
        due = measurable & (out["sent_on"] + pd.Timedelta(days=n) <= day)
        out[f"paid_within_{n}d"] = flag.where(due, pd.NA).astype("boolean")
    return out[OUTCOME_COLUMNS].reset_index(drop=True)


def _paid_on(lines: pd.DataFrame, settled: pd.DataFrame, applied: pd.DataFrame, day: pd.Timestamp) -> pd.Series:
    """Per action line (`lines` indexed 0..n-1): the first day its invoice was known paid (NaT if
    not by `day`)."""
    keys = ["customer_id", "invoice_id"]
    ledger = settled[settled["paid_on"].notna()].assign(paid_on=lambda f: _day(f["paid_on"]))
    by_ledger = lines[keys].merge(ledger[keys + ["paid_on"]].drop_duplicates(keys), on=keys, how="left")["paid_on"]
    cash = applied[(applied["invoice_id"] != "") & applied["rule"].isin(SETTLING_RULES)].assign(day=_day(applied["as_of"]))
    cash = cash[cash["day"] <= day].groupby(keys + ["day"])["amount_minor"].sum()
    if cash.empty:
        return by_ledger
    running = cash.groupby(level=keys).cumsum().rename("paid_so_far").reset_index()
    covered = lines[keys + ["open_minor"]].reset_index(names="line").merge(running, on=keys)
    by_cash = covered[covered["paid_so_far"] >= covered["open_minor"]].groupby("line")["day"].min()
    return pd.concat([by_ledger, by_cash.reindex(lines.index)], axis=1).min(axis=1)


def paid_within_kpis(outcomes: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for n in PAID_WITHIN:
        flag = outcomes[f"paid_within_{n}d"]
        known = outcomes[flag.notna().to_numpy()]
        frame = with_scope(known, customers).assign(breakdown=known["step_id"], measured=1,
                                                    paid=flag[flag.notna()].astype(bool).astype("int64"))
        per = scope_totals(frame[SCOPE + ["breakdown", "measured", "paid"]], ["measured", "paid"], by=["breakdown"])
        parts.append(ratios(f"paid_within_{n}d_ratio", per, "paid", "measured", per["breakdown"]))
    return concat(parts)


def reminders_sent_kpis(outcomes: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date,
                        scopes: pd.DataFrame) -> pd.DataFrame:
    today = outcomes[(outcomes["sent_on"] == pd.Timestamp(as_of)) & outcomes["state"].isin(SENT_STATES)]
    frame = with_scope(today, customers).assign(breakdown=today["channel"].map(DISPATCHER_OF).fillna(today["channel"]),
                                                sent=1)
    per = complete(scope_totals(frame[SCOPE + ["breakdown", "sent"]], ["sent"], by=["breakdown"]), scopes,
                   list(CHANNELS), ["sent"])
    return amounts("reminders_sent", per, "sent", per["breakdown"])


def promise_kpis(promises: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    if promises is None or promises.empty:
        return concat([])
    day = pd.Timestamp(as_of)
    promised = _day(promises["promised_date"])
    deadline = promised + pd.Timedelta(days=PROMISE_GRACE_DAYS)
    judged = _day(promises["judged_on"]) if "judged_on" in promises else pd.Series(pd.NaT, index=promises.index)
    kept = (promises["status"] == "kept") & (judged.isna() | ((judged <= day) & (judged <= deadline)))
    decided = kept | (day > deadline)
    due = (promised > day - pd.Timedelta(days=WINDOW_DAYS)) & (promised <= day) & decided
    frame = with_scope(promises[due.to_numpy()], customers).assign(due=1, kept=kept[due].astype("int64"))
    per = scope_totals(frame[SCOPE + ["due", "kept"]], ["due", "kept"])
    return ratios("promise_kept_ratio", per, "kept", "due")


def call_list_kpis(calls: pd.DataFrame, customers: pd.DataFrame, scopes: pd.DataFrame) -> pd.DataFrame:
    frame = with_scope(calls, customers).assign(breakdown="", calls=1)
    per = complete(scope_totals(frame[SCOPE + ["breakdown", "calls"]], ["calls"], by=["breakdown"]), scopes, [""],
                   ["calls"])
    return amounts("call_list_size", per, "calls")
