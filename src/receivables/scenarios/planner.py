"""The daily collection plan: which dunning step goes out today, to whom, on which channel.

    plan = plan_actions(items, customers, risk, policy, date(2025, 7, 15))
    plan.actions    # one row per customer, step, channel and currency: the messages to send
    plan.lines      # one row per invoice of an action
    plan.skipped    # customer_id, invoice_id, step_id, reason: what was due but does not go out

Rules (vectorized: the loops run over scenarios and steps, never over invoices or customers):

- Only invoices are dunned: open items with item_type 'invoice' and open_minor > 0.
- Each customer follows one scenario, chosen by `choose_scenario` on the customer master joined
  with its risk class (a customer absent from `risk` has no risk class, so it matches no
  risk rule; a customer with open invoices but absent from the master has no segment, no
  strategic flag, no language and no opt-out). A customer scored in several currencies takes
  its worst class.
- Runs happen on business days only: when `as_of` is not a business day of `country` the plan
  is empty (nothing planned, nothing skipped). The step dates themselves are not moved.
- A step's date for an invoice is due_date + offset_days. An invoice's step today is the
  *earliest* step of its scenario, in order, that applies to the customer (its `conditions`),
  whose date is on or before `as_of`, and that is not in `done` for that invoice (`done`:
  customer_id, invoice_id, step_id of actions planned on earlier runs of the current dunning
  cycle; the caller keeps it to the cycle). One step per invoice per run: a step missed (a
  holiday, a missed run) goes out on the next run and the one after it waits for a later run,
  even when its own date has passed too. A pre-due step (the courtesy notice) is passed over
  once the invoice is due: an invoice first seen late starts at the first reminder.
- Exclusions, one reason per invoice, checked in this order and recorded in `skipped` with the
  step that was due: 'paid_today' (in `paid_today`), 'disputed' (in `disputes` with a status
  other than 'resolved'), 'payment_plan' (in `plans`), 'promised' (a promise on the invoice,
  or on all the customer's invoices when its invoice_id is '', while as_of <= promised_date +
  3 days of grace). A skipped invoice is not done: it comes back on a later run.
- min_amount (decimal, the invoices' currency, converted to minor units with its exponent) is
  compared with the customer's total open amount of the invoices at that step in that
  currency; below it every such invoice is skipped 'under_minimum'.
- Channels: the step's channel, then its also_channels. A customer who opted out of the main
  channel (opt_out_channels, space-separated) gets the step's fallback_channel instead, unless
  opted out of that too; no usable channel: skipped 'opted_out'. The fallback replaces the main
  channel only: an opted-out also_channel is skipped 'opted_out' (one row per invoice).
- One action per customer, scenario, step, channel and currency, listing its invoices
  (`invoice_ids`, sorted, space-separated), `amount_minor` their open total, the language
  (the customer's, else the scenario's language_default), requires_approval and legal_fees
  from the step, template = step.template_for(channel).
- action_key = sha256 of "customer_id|scenario|step_id|channel|currency|cycle" truncated to 20
  hex digits, where cycle is the earliest due_date of the action's invoices (ISO date): the
  same inputs give the same keys, a later run for the same step and invoices gives the same
  key (idempotent sending), a new invoice reaching the step on another day gets its own key.

Pure: no Airflow, no clock, no environment.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from receivables.calendar import is_business_day
from receivables.money import exponent
from receivables.scenarios.policy import RISK_CLASSES, Policy, choose_scenario

PROMISE_GRACE_DAYS = 3
KEY_LENGTH = 20

ACTION_COLUMNS = ["action_key", "as_of", "customer_id", "scenario", "step_id", "offset_days", "channel",
                  "template", "tone", "invoice_ids", "amount_minor", "currency", "language",
                  "requires_approval", "legal_fees"]
LINE_COLUMNS = ["action_key", "customer_id", "invoice_id", "open_minor", "due_date", "days_overdue"]
SKIPPED_COLUMNS = ["customer_id", "invoice_id", "step_id", "reason"]


@dataclass(frozen=True)
class PlanResult:
    actions: pd.DataFrame
    lines: pd.DataFrame
    skipped: pd.DataFrame


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _empty_plan() -> PlanResult:
    return PlanResult(_empty(ACTION_COLUMNS), _empty(LINE_COLUMNS), _empty(SKIPPED_COLUMNS))


def _pairs(frame: pd.DataFrame, columns: list[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(frame[columns].astype(str))


def _in(rows: pd.DataFrame, other: pd.DataFrame | None, columns: list[str]) -> np.ndarray:
    """Whether each row of `rows` has its `columns` values in `other`."""
    if other is None or other.empty:
        return np.zeros(len(rows), dtype=bool)
    return _pairs(rows, columns).isin(_pairs(other, columns))


def _customer_frame(inv: pd.DataFrame, customers: pd.DataFrame, risk: pd.DataFrame | None) -> pd.DataFrame:
    """One row per customer with open invoices: segment, strategic, risk_class, language, opt-outs."""
    master = customers.drop_duplicates("customer_id").set_index("customer_id")
    frame = pd.DataFrame(index=pd.Index(inv["customer_id"].unique(), name="customer_id"))
    for column, default in (("segment", ""), ("language", ""), ("opt_out_channels", "")):
        values = master[column] if column in master else pd.Series(dtype=object)
        frame[column] = values.reindex(frame.index).fillna(default).astype(str)
    strategic = master["strategic"] if "strategic" in master else pd.Series(dtype=object)
    frame["strategic"] = strategic.reindex(frame.index).astype(object)
    frame["risk_class"] = np.nan
    if risk is not None and not risk.empty:
        rank = risk["risk_class"].map({c: i for i, c in enumerate(RISK_CLASSES)})
        worst = rank.groupby(risk["customer_id"]).max().dropna()
        frame["risk_class"] = worst.map(dict(enumerate(RISK_CLASSES))).reindex(frame.index).astype(object)
    return frame.reset_index()


def _opted_out(opt_out: pd.Series, channel: str) -> np.ndarray:
    return (" " + opt_out.fillna("").astype(str) + " ").str.contains(f" {channel} ", regex=False).to_numpy()


def _action_key(customer_id: str, scenario: str, step_id: str, channel: str, currency: str, cycle: str) -> str:
    text = f"{customer_id}|{scenario}|{step_id}|{channel}|{currency}|{cycle}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_LENGTH]


def plan_actions(items: pd.DataFrame, customers: pd.DataFrame, risk: pd.DataFrame | None, policy: Policy,
                 as_of: dt.date, *, done: pd.DataFrame | None = None, disputes: pd.DataFrame | None = None,
                 promises: pd.DataFrame | None = None, plans: pd.DataFrame | None = None, country: str = "FR",
                 paid_today: pd.DataFrame | None = None) -> PlanResult:
    """The actions to send on `as_of` (see the module docstring for the rules)."""
    if not is_business_day(as_of, country):
        return _empty_plan()
    today = pd.Timestamp(as_of)
    inv = items[(items["item_type"] == "invoice") & (items["open_minor"] > 0)].copy()
    if inv.empty:
        return _empty_plan()
    inv["customer_id"] = inv["customer_id"].astype(str)
    inv["invoice_id"] = inv["invoice_id"].astype(str)
    inv["due_date"] = pd.to_datetime(inv["due_date"])
    inv = inv.reset_index(drop=True)

    cust = _customer_frame(inv, customers, risk)
    cust["scenario"] = choose_scenario(policy, cust).to_numpy()
    inv = inv.merge(cust, on="customer_id", how="left")

    # -- the step of each invoice today: the earliest applicable, due, undone step -------------
    inv["step_id"] = None
    inv["step_pos"] = -1
    done_rows = done if done is not None and not done.empty else None
    for scenario in policy.scenarios:
        in_scenario = (inv["scenario"] == scenario.id).to_numpy()
        if not in_scenario.any():
            continue
        for pos, step in enumerate(scenario.steps):
            free = in_scenario & inv["step_id"].isna().to_numpy()
            if not free.any():
                break
            step_date = inv["due_date"] + pd.Timedelta(days=step.offset_days)
            probe = inv[["customer_id", "invoice_id"]].assign(step_id=step.id)
            # a pre-due step (courtesy notice) is pointless once the invoice is due: passed over
            timely = (inv["due_date"] > today).to_numpy() if step.offset_days < 0 else True
            hit = (free & timely & (step_date <= today).to_numpy() & step.conditions.mask(inv)
                   & ~_in(probe, done_rows, ["customer_id", "invoice_id", "step_id"]))
            inv.loc[hit, "step_id"] = step.id
            inv.loc[hit, "step_pos"] = pos
    inv = inv[inv["step_id"].notna()].reset_index(drop=True)

    skipped: list[pd.DataFrame] = []

    def skip(mask: np.ndarray, reason: str) -> None:
        if mask.any():
            skipped.append(inv.loc[mask, ["customer_id", "invoice_id", "step_id"]].assign(reason=reason))

    # -- exclusions -----------------------------------------------------------------------------
    reason = pd.Series(None, index=inv.index, dtype=object)
    keys = ["customer_id", "invoice_id"]
    open_disputes = None
    if disputes is not None and not disputes.empty:
        open_disputes = disputes[disputes["status"].astype(str) != "resolved"]
    active_promises = None
    if promises is not None and not promises.empty:
        until = pd.to_datetime(promises["promised_date"]) + pd.Timedelta(days=PROMISE_GRACE_DAYS)
        active_promises = promises[(today <= until).to_numpy()]
    promised = _in(inv, active_promises, keys)
    if active_promises is not None and not active_promises.empty:
        blanket = active_promises.loc[active_promises["invoice_id"].fillna("").astype(str) == "", "customer_id"]
        promised |= inv["customer_id"].isin(blanket.astype(str)).to_numpy()
    for name, mask in (("paid_today", _in(inv, paid_today, keys)), ("disputed", _in(inv, open_disputes, keys)),
                       ("payment_plan", _in(inv, plans, keys)), ("promised", promised)):
        reason = reason.mask(reason.isna() & mask, name)
    excluded = reason.notna().to_numpy()
    if excluded.any():
        skipped.append(inv.loc[excluded, ["customer_id", "invoice_id", "step_id"]].assign(reason=reason[excluded]))
    inv = inv[~excluded].reset_index(drop=True)

    # -- minimum amounts, per customer, step and currency ---------------------------------------
    group = ["customer_id", "scenario", "step_id", "currency"]
    total = inv.groupby(group)["open_minor"].transform("sum")
    minimum = pd.Series(0, index=inv.index, dtype="int64")
    for scenario in policy.scenarios:
        for step in scenario.steps:
            if step.min_amount <= 0:
                continue
            at = ((inv["scenario"] == scenario.id) & (inv["step_id"] == step.id)).to_numpy()
            for currency in inv.loc[at, "currency"].unique():
                # below min_amount: exactly, so 12.345 EUR needs 1235 cents
                minimum[at & (inv["currency"] == currency).to_numpy()] = math.ceil(
                    step.min_amount * 10 ** exponent(currency))
    under = (total < minimum).to_numpy()
    skip(under, "under_minimum")
    inv = inv[~under].reset_index(drop=True)

    # -- channels: the main one (or its fallback), then also_channels ---------------------------
    sends: list[pd.DataFrame] = []
    for scenario in policy.scenarios:
        for step in scenario.steps:
            at = ((inv["scenario"] == scenario.id) & (inv["step_id"] == step.id)).to_numpy()
            if not at.any():
                continue
            rows = inv[at]
            opt = rows["opt_out_channels"]
            out_main = _opted_out(opt, step.channel)
            channel = pd.Series(step.channel, index=rows.index, dtype=object)
            if step.fallback_channel is not None:
                fallback_ok = out_main & ~_opted_out(opt, step.fallback_channel)
                channel[fallback_ok] = step.fallback_channel
                out_main &= ~fallback_ok
            skipped.append(rows.loc[out_main, ["customer_id", "invoice_id", "step_id"]].assign(reason="opted_out"))
            sends.append(rows[~out_main].assign(channel=channel[~out_main]))
            for extra in step.also_channels:
                out = _opted_out(opt, extra)
                skipped.append(rows.loc[out, ["customer_id", "invoice_id", "step_id"]].assign(reason="opted_out"))
                sends.append(rows[~out].assign(channel=extra))

    skipped_frame = (pd.concat([s for s in skipped if not s.empty], ignore_index=True)
                     if any(not s.empty for s in skipped) else _empty(SKIPPED_COLUMNS))
    skipped_frame = skipped_frame[SKIPPED_COLUMNS].sort_values(SKIPPED_COLUMNS).reset_index(drop=True)
    sent = pd.concat(sends, ignore_index=True) if sends else pd.DataFrame()
    if sent.empty:
        return PlanResult(_empty(ACTION_COLUMNS), _empty(LINE_COLUMNS), skipped_frame)
    # the fallback may coincide with an also_channel: one message per channel
    sent = sent.drop_duplicates(["customer_id", "invoice_id", "step_id", "channel", "currency"])

    # -- grouping into actions ------------------------------------------------------------------
    action_group = ["customer_id", "scenario", "step_id", "channel", "currency"]
    sent = sent.sort_values(action_group + ["invoice_id"]).reset_index(drop=True)
    actions = (sent.groupby(action_group, sort=True)
               .agg(invoice_ids=("invoice_id", " ".join), amount_minor=("open_minor", "sum"),
                    cycle=("due_date", "min"), language=("language", "first"), step_pos=("step_pos", "first"))
               .reset_index())
    # one hash per action (not per invoice): hashlib has no vectorized form
    actions["action_key"] = [
        _action_key(*row, cycle.date().isoformat())
        for *row, cycle in actions[action_group + ["cycle"]].itertuples(index=False, name=None)
    ]
    steps = pd.DataFrame([
        {"scenario": s.id, "step_id": st.id, "channel": ch, "offset_days": st.offset_days,
         "template": st.template_for(ch), "tone": st.tone, "requires_approval": st.requires_approval,
         "legal_fees": st.legal_fees, "language_default": s.language_default}
        for s in policy.scenarios for st in s.steps
        for ch in dict.fromkeys((*st.channels, *((st.fallback_channel,) if st.fallback_channel else ())))
    ])
    actions = actions.merge(steps, on=["scenario", "step_id", "channel"], how="left")
    actions["language"] = actions["language"].where(actions["language"].fillna("") != "",
                                                     actions["language_default"])
    actions["as_of"] = as_of
    actions["amount_minor"] = actions["amount_minor"].astype("int64")
    actions["offset_days"] = actions["offset_days"].astype("int64")
    actions = (actions.sort_values(["customer_id", "step_pos", "currency", "channel"])
               [ACTION_COLUMNS].reset_index(drop=True))

    lines = sent.merge(
        actions[["action_key", "customer_id", "scenario", "step_id", "channel", "currency"]],
        on=action_group, how="left")
    lines = lines[LINE_COLUMNS].sort_values(["action_key", "invoice_id"]).reset_index(drop=True)
    return PlanResult(actions, lines, skipped_frame)
