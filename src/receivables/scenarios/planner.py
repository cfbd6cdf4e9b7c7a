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
- The dunning cycle of an invoice is its due date: `done` rows that carry a due_date count only
  while the invoice still has that due date, so an invoice rescheduled to a new due date starts
  its scenario again (rows without a due_date count whatever the due date).
- Exclusions, one reason per invoice, checked in this order and recorded in `skipped` with the
  step that was due: 'paid_today' (in `paid_today`: invoices with a payment matched today, even
  one a human has still to confirm), 'blocked' (the customer's dunning_blocked flag in the
  master: no message at all, thank-yous included), 'disputed' (in `disputes` with a status other than
  'resolved'), 'payment_plan' (in `plans`), 'promised' (a promise that is not broken, on the
  invoice or, when it names none, on the customer's invoices issued by its made_on (all of them
  when made_on is unknown), while as_of <= promised_date +
  3 days of grace; see `registers.holding_promises`). Such a step is *held*: not done, it
  comes back on a later run.
- Payment plans: each instalment still owed (`instalments`, from `registers.plan_instalments`)
  is an item of its own, invoice_id '<plan>#<n>', due on its date, reminded by the customer's
  scenario like an invoice.
- min_amount (decimal, the invoices' currency, converted to minor units with its exponent) is
  compared with the customer's total open amount of the invoices at that step in that
  currency; below it every such invoice is skipped 'under_minimum'.
- A step skipped 'under_minimum' or 'opted_out' is *passed* (PASSING_REASONS): the caller records
  it as done, so the invoice moves on to its next step on a later run instead of waiting forever.
- Channels: the step's channel, then its also_channels. A customer who opted out of the main
  channel (opt_out_channels, space-separated) gets the step's fallback_channel instead, unless
  opted out of that too; no usable channel: skipped 'opted_out'. The fallback replaces the main
  channel only: an opted-out also_channel is skipped 'opted_out' (one row per invoice).
- One action per customer, scenario, step, channel and currency, listing its invoices
  (`invoice_ids`, sorted, space-separated), `amount_minor` their open total, the language
  (the customer's when messages exist in it, else its country's, else the scenario's
  language_default), requires_approval and legal_fees
  from the step, template = step.template_for(channel).
- Legal fees (steps with legal_fees, given `legal` rules): per invoice, late interest from the
  day after its due date to as_of (`legal.late_interest_minor`) and the fixed recovery
  indemnity in its currency; the action's amount is principal + interest + indemnities. When
  the rate table does not cover the span, interest is left empty (None) and `hold_reason`
  says which table to complete: the step needs approval anyway, and nobody approves it blind.
- Thank-you (policy.thank_you): one email per customer and currency listing the invoices in
  `settled` (overdue at the last run, settled since), step 'thank_you', amount 0: it asks for
  nothing. A customer opted out of email gets none (skipped 'opted_out'), nor does one who gets
  a reminder the same day (skipped 'reminded_today').
- send_at: the customer's contact_hour where the master knows it (the habit it told us), else
  09:00 (policy.send_hour), in the customer's time zone (its country's), on the first business
  day of the customer's country on or after as_of; the company's country when the customer's
  is unknown.
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

from receivables.calendar import is_business_day, roll_forward
from receivables.money import Money, exponent
from receivables.scenarios.legal import LegalRules, LegalRulesError, late_interest_minor
from receivables.scenarios.policy import RISK_CLASSES, Policy, choose_scenario
from receivables.scenarios.registers import holding_promises

KEY_LENGTH = 20

THANK_YOU = "thank_you"
PASSING_REASONS = ("under_minimum", "opted_out")   # the step is over for that invoice: recorded as done

ACTION_COLUMNS = ["action_key", "as_of", "customer_id", "scenario", "step_id", "offset_days", "channel",
                  "template", "tone", "invoice_ids", "amount_minor", "principal_minor", "interest_minor",
                  "indemnity_minor", "currency", "language", "requires_approval", "legal_fees", "hold_reason",
                  "send_at"]
LINE_COLUMNS = ["action_key", "customer_id", "invoice_id", "step_id", "doc_date", "due_date", "original_minor",
                "open_minor", "days_overdue", "late_interest_minor", "indemnity_minor"]
SKIPPED_COLUMNS = ["customer_id", "invoice_id", "step_id", "due_date", "reason"]


@dataclass(frozen=True)
class PlanResult:
    actions: pd.DataFrame
    lines: pd.DataFrame
    skipped: pd.DataFrame


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _empty_plan() -> PlanResult:
    return PlanResult(_empty(ACTION_COLUMNS), _empty(LINE_COLUMNS), _empty(SKIPPED_COLUMNS))


def _in(rows: pd.DataFrame, other: pd.DataFrame | None, columns: list[str]) -> np.ndarray:
    """Whether each row of `rows` has its `columns` values in `other`."""
    if other is None or other.empty:
        return np.zeros(len(rows), dtype=bool)
    # one code per distinct tuple of text values, by hashing (a MultiIndex sorts every level's values)
    both = pd.concat([rows[columns], other[columns]], ignore_index=True).astype(str)
    codes = both.groupby(columns, sort=False).ngroup().to_numpy()
    return np.isin(codes[:len(rows)], codes[len(rows):])


def _customer_frame(ids: pd.Series, customers: pd.DataFrame, risk: pd.DataFrame | None) -> pd.DataFrame:
    """One row per customer id: segment, strategic, risk_class, language, country, opt-outs."""
    master = customers.drop_duplicates("customer_id").set_index("customer_id")
    frame = pd.DataFrame(index=pd.Index(pd.unique(ids), name="customer_id"))
    for column in ("segment", "language", "country", "opt_out_channels"):
        values = master[column] if column in master else pd.Series(dtype=object)
        frame[column] = values.reindex(frame.index).fillna("").astype(str)
    strategic = master["strategic"] if "strategic" in master else pd.Series(dtype=object)
    frame["strategic"] = strategic.reindex(frame.index).astype(object)
    hour = master["contact_hour"] if "contact_hour" in master else pd.Series(dtype="Int64")
    frame["contact_hour"] = hour.reindex(frame.index).astype("Int64")
    blocked = master["dunning_blocked"] if "dunning_blocked" in master else pd.Series(dtype=bool)
    frame["dunning_blocked"] = blocked.astype(bool).reindex(frame.index, fill_value=False)
    frame["risk_class"] = np.nan
    if risk is not None and not risk.empty:
        rank = risk["risk_class"].map({c: i for i, c in enumerate(RISK_CLASSES)})
        worst = rank.groupby(risk["customer_id"].astype(str)).max().dropna()
        frame["risk_class"] = worst.map(dict(enumerate(RISK_CLASSES))).reindex(frame.index).astype(object)
    return frame.reset_index()


def _opted_out(opt_out: pd.Series, channel: str) -> np.ndarray:
    return (" " + opt_out.fillna("").astype(str) + " ").str.contains(f" {channel} ", regex=False).to_numpy()


def _action_key(customer_id: str, scenario: str, step_id: str, channel: str, currency: str, cycle: str) -> str:
    text = f"{customer_id}|{scenario}|{step_id}|{channel}|{currency}|{cycle}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:KEY_LENGTH]


def _invoices(items: pd.DataFrame, instalments: pd.DataFrame | None) -> pd.DataFrame:
    """The dunnable items: open invoices, and the instalments of payment plans still owed."""
    inv = items[(items["item_type"] == "invoice") & (items["open_minor"] > 0)]
    inv = inv[["customer_id", "invoice_id", "currency", "doc_date", "due_date", "original_minor", "open_minor"]]
    if instalments is not None and not instalments.empty:
        extra = instalments.assign(doc_date=instalments["due_date"], original_minor=instalments["amount_minor"])
        inv = pd.concat([inv, extra[inv.columns]], ignore_index=True)
    inv = inv.copy()
    inv["customer_id"] = inv["customer_id"].astype(str)
    inv["invoice_id"] = inv["invoice_id"].astype(str)
    inv["due_date"] = pd.to_datetime(inv["due_date"])
    inv["doc_date"] = pd.to_datetime(inv["doc_date"])
    return inv.reset_index(drop=True)


class _DoneSteps:
    """The `done` register as integer keys, built once per plan: whether a step is done for an
    invoice is then one `np.isin` over integers, not a string MultiIndex per step.

    key = (pair code x steps + step code) x DAYS + due day, where the pair code numbers the
    (customer, invoice) pairs and due day is the dunning cycle (days since 1970), or DAYS - 1 for
    a row done whatever the cycle."""

    DAYS = 1 << 17          # due dates up to 2328; the last value means "any due date"

    def __init__(self, inv: pd.DataFrame, done: pd.DataFrame | None, step_ids: list[str]):
        self.steps = {s: k for k, s in enumerate(dict.fromkeys(step_ids))}
        self.empty = done is None or done.empty
        if self.empty:
            return
        n = len(inv)
        customers, _ = pd.factorize(pd.concat([inv["customer_id"], done["customer_id"].astype(str)],
                                              ignore_index=True))
        invoices, names = pd.factorize(pd.concat([inv["invoice_id"], done["invoice_id"].astype(str)],
                                                 ignore_index=True))
        # one code per (customer, invoice) pair, at most the row count: the keys stay far from 2**63
        pair, _ = pd.factorize(customers.astype("int64") * len(names) + invoices)
        self.inv_pair = pair[:n]
        self.inv_day = _days(inv["due_date"])
        step = done["step_id"].astype(str).map(self.steps)
        known = step.notna().to_numpy()                      # steps no scenario has any more: ignored
        day = _days(pd.to_datetime(done["due_date"])) if "due_date" in done else np.full(len(done), -1)
        day = np.where(day < 0, self.DAYS - 1, day)
        keys = (pair[n:][known] * len(self.steps) + step.to_numpy()[known].astype("int64")) * self.DAYS
        self.keys = np.unique(keys + day[known])            # sorted
        self.empty = len(self.keys) == 0

    def mask(self, rows: np.ndarray, step_id: str) -> np.ndarray:
        """Whether `step_id` is done for the invoices at positions `rows`, in their current cycle."""
        if self.empty:
            return np.zeros(len(rows), dtype=bool)
        base = (self.inv_pair[rows] * len(self.steps) + self.steps[step_id]) * self.DAYS
        return self._member(base + self.inv_day[rows]) | self._member(base + self.DAYS - 1)

    def _member(self, values: np.ndarray) -> np.ndarray:
        # binary search in the sorted keys: np.isin hashes both arrays again on every call
        at = np.searchsorted(self.keys, values).clip(max=len(self.keys) - 1)
        return self.keys[at] == values


def _days(dates: pd.Series) -> np.ndarray:
    """Days since 1970 as int64, -1 where there is no date."""
    values = dates.to_numpy(dtype="datetime64[D]").astype("int64")
    return np.where(pd.isna(dates).to_numpy(), -1, values)


def _send_at(customer_country: pd.Series, hours: pd.Series, as_of: dt.date, country: str) -> pd.Series:
    """The UTC time to send: `hours` local, on the customer's country's first business day >= as_of."""
    import pytz

    out = pd.Series(pd.NaT, index=customer_country.index, dtype="datetime64[ns, UTC]")
    for code, hour in set(zip(customer_country, hours)):
        at = ((customer_country == code) & (hours == hour)).to_numpy()
        zone, calendar = country, code or country
        try:
            day = roll_forward([as_of], calendar)[0]
        except ValueError:                       # no calendar for that country: ours
            day, calendar = roll_forward([as_of], country)[0], country
        zones = pytz.country_timezones.get(calendar.upper()) or pytz.country_timezones.get(zone.upper(), ["UTC"])
        local = pd.Timestamp(day.astype(dt.date)) + pd.Timedelta(hours=hour)
        out[at] = local.tz_localize(zones[0]).tz_convert("UTC")
    return out


def _legal_fees(lines: pd.DataFrame, as_of: dt.date, legal: LegalRules | None) -> tuple[pd.Series, pd.Series, str]:
    """(late interest per line or <NA>, indemnity per line, hold reason) for legal-fee lines."""
    indemnity = pd.Series(0, index=lines.index, dtype="int64")
    interest = pd.Series(pd.NA, index=lines.index, dtype="Int64")
    if legal is None:
        return interest, indemnity, "no late-payment rules configured for the company's country"
    late = (lines["due_date"] < pd.Timestamp(as_of)).to_numpy()
    fixed = legal.fixed_indemnity
    for currency in lines["currency"].unique():
        at = late & (lines["currency"] == currency).to_numpy()
        # the indemnity is a fixed EUR amount: other currencies show none rather than a guess at a rate
        indemnity[at] = Money(fixed.amount, fixed.currency).minor if currency == fixed.currency else 0
    try:
        interest[:] = late_interest_minor(lines["open_minor"].to_numpy(), lines["due_date"].to_numpy(), as_of, legal)
    except LegalRulesError as error:
        return interest, indemnity, str(error)
    return interest, indemnity, ""


def plan_actions(items: pd.DataFrame, customers: pd.DataFrame, risk: pd.DataFrame | None, policy: Policy,
                 as_of: dt.date, *, done: pd.DataFrame | None = None, disputes: pd.DataFrame | None = None,
                 promises: pd.DataFrame | None = None, plans: pd.DataFrame | None = None,
                 instalments: pd.DataFrame | None = None, settled: pd.DataFrame | None = None,
                 legal: LegalRules | None = None, country: str = "FR",
                 paid_today: pd.DataFrame | None = None) -> PlanResult:
    """The actions to send on `as_of` (see the module docstring for the rules)."""
    if not is_business_day(as_of, country):
        return _empty_plan()
    today = pd.Timestamp(as_of)
    inv = _invoices(items, instalments)
    thanked = (settled if settled is not None and policy.thank_you else pd.DataFrame(columns=["customer_id"]))
    ids = pd.concat([inv["customer_id"], thanked["customer_id"].astype(str)], ignore_index=True)
    if ids.empty:
        return _empty_plan()
    cust = _customer_frame(ids, customers, risk)
    cust["scenario"] = choose_scenario(policy, cust).to_numpy()
    inv = inv.merge(cust, on="customer_id", how="left")

    # -- the step of each invoice today: the earliest applicable, due, undone step -------------
    inv["step_id"] = None
    inv["step_pos"] = -1
    register = _DoneSteps(inv, done, [st.id for sc in policy.scenarios for st in sc.steps])
    for scenario in policy.scenarios:
        in_scenario = (inv["scenario"] == scenario.id).to_numpy()
        if not in_scenario.any():
            continue
        for pos, step in enumerate(scenario.steps):
            free = in_scenario & inv["step_id"].isna().to_numpy()
            if not free.any():
                break
            step_date = inv["due_date"] + pd.Timedelta(days=step.offset_days)
            # a pre-due step (courtesy notice) is pointless once the invoice is due: passed over
            timely = (inv["due_date"] > today).to_numpy() if step.offset_days < 0 else True
            hit = free & timely & (step_date <= today).to_numpy() & step.conditions.mask(inv)
            hit[hit] = ~register.mask(np.flatnonzero(hit), step.id)
            inv.loc[hit, "step_id"] = step.id
            inv.loc[hit, "step_pos"] = pos
    inv = inv[inv["step_id"].notna()].reset_index(drop=True)

    skipped: list[pd.DataFrame] = []

    def skip(rows: pd.DataFrame, reason: str | pd.Series) -> None:
        if not rows.empty:
            skipped.append(rows[["customer_id", "invoice_id", "step_id", "due_date"]].assign(reason=reason))

    # -- exclusions -----------------------------------------------------------------------------
    reason = pd.Series(None, index=inv.index, dtype=object)
    keys = ["customer_id", "invoice_id"]
    open_disputes = None
    if disputes is not None and not disputes.empty:
        open_disputes = disputes[disputes["status"].astype(str) != "resolved"]
    holding = holding_promises(promises, as_of)
    promised = _in(inv, holding, keys)
    if not holding.empty:
        # a promise naming no invoice covers those the customer had when it was made
        blanket = holding[holding["invoice_id"].fillna("").astype(str) == ""]
        made = pd.to_datetime(blanket["made_on"]) if "made_on" in blanket else pd.Series(pd.NaT, index=blanket.index)
        covered = inv[["customer_id", "doc_date"]].reset_index().merge(
            blanket.assign(customer_id=blanket["customer_id"].astype(str), made=made)[["customer_id", "made"]],
            on="customer_id")
        covered = covered[covered["made"].isna() | (covered["doc_date"] <= covered["made"])]
        promised[covered["index"].unique()] = True
    for name, mask in (("paid_today", _in(inv, paid_today, keys)), ("blocked", inv["dunning_blocked"].to_numpy()),
                       ("disputed", _in(inv, open_disputes, keys)),
                       ("payment_plan", _in(inv, plans, keys)), ("promised", promised)):
        reason = reason.mask(reason.isna() & mask, name)
    excluded = reason.notna().to_numpy()
    skip(inv[excluded], reason[excluded])
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
    skip(inv[under], "under_minimum")
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
            skip(rows[out_main], "opted_out")
            sends.append(rows[~out_main].assign(channel=channel[~out_main]))
            for extra in step.also_channels:
                out = _opted_out(opt, extra)
                skip(rows[out], "opted_out")
                sends.append(rows[~out].assign(channel=extra))
    sends.append(_thank_you_rows(thanked, cust, skip))

    skipped_frame = (pd.concat(skipped, ignore_index=True) if skipped else _empty(SKIPPED_COLUMNS))
    skipped_frame = skipped_frame[SKIPPED_COLUMNS].sort_values(SKIPPED_COLUMNS[:3] + ["reason"]).reset_index(drop=True)
    sent = pd.concat([s for s in sends if not s.empty], ignore_index=True) if any(not s.empty for s in sends) \
        else pd.DataFrame()
    if sent.empty:
        return PlanResult(_empty(ACTION_COLUMNS), _empty(LINE_COLUMNS), skipped_frame)
    # the fallback may coincide with an also_channel: one message per channel
    sent = sent.drop_duplicates(["customer_id", "invoice_id", "step_id", "channel", "currency"])
    # no thank-you beside a reminder the same day: it would read as a contradiction
    thanks = (sent["step_id"] == THANK_YOU).to_numpy()
    reminded = sent["customer_id"].isin(sent.loc[~thanks, "customer_id"]).to_numpy()
    if (thanks & reminded).any():
        late_thanks = sent[thanks & reminded][["customer_id", "invoice_id", "step_id", "due_date"]]
        parts = [f for f in (skipped_frame, late_thanks.assign(reason="reminded_today")) if not f.empty]
        skipped_frame = (pd.concat(parts, ignore_index=True)
                         .sort_values(SKIPPED_COLUMNS[:3] + ["reason"]).reset_index(drop=True))
        sent = sent[~(thanks & reminded)].reset_index(drop=True)
        if sent.empty:
            return PlanResult(_empty(ACTION_COLUMNS), _empty(LINE_COLUMNS), skipped_frame)
    sent["days_overdue"] = (today - sent["due_date"]).dt.days.clip(lower=0).astype("int64")
    return _group(sent, skipped_frame, policy, as_of, country, legal)


def _thank_you_rows(settled: pd.DataFrame, cust: pd.DataFrame, skip) -> pd.DataFrame:  # noqa: ANN001
    """The invoices to thank for, one row each, on email unless the customer opted out of it."""
    if settled.empty:
        return pd.DataFrame()
    rows = settled.assign(customer_id=settled["customer_id"].astype(str), invoice_id=settled["invoice_id"].astype(str),
                          due_date=pd.to_datetime(settled["due_date"]), step_id=THANK_YOU, step_pos=-1)
    for column in ("doc_date", "original_minor"):
        if column not in rows:
            rows[column] = rows["due_date"] if column == "doc_date" else rows["open_minor"]
    rows["doc_date"] = pd.to_datetime(rows["doc_date"])
    rows = rows.merge(cust, on="customer_id", how="left")
    blocked = rows["dunning_blocked"].to_numpy(dtype=bool)
    skip(rows[blocked], "blocked")
    out = _opted_out(rows["opt_out_channels"], "email") & ~blocked
    skip(rows[out], "opted_out")
    return rows[~out & ~blocked].assign(channel="email")


def _languages(actions: pd.DataFrame) -> pd.Series:
    """The language of each message: the customer's when we have templates in it, else its
    country's main language, else the scenario's default (`render.message_language`)."""
    from receivables.scenarios.render import message_language

    keys = actions[["language", "country", "language_default"]].fillna("").astype(str)
    chosen = {row: message_language(*row) for row in set(keys.itertuples(index=False, name=None))}
    return pd.Series([chosen[row] for row in keys.itertuples(index=False, name=None)], index=actions.index,
                     dtype=object)


def _group(sent: pd.DataFrame, skipped: pd.DataFrame, policy: Policy, as_of: dt.date, country: str,
           legal: LegalRules | None) -> PlanResult:
    """One action per customer, scenario, step, channel and currency, with its lines."""
    action_group = ["customer_id", "scenario", "step_id", "channel", "currency"]
    sent = sent.sort_values(action_group + ["invoice_id"]).reset_index(drop=True)
    steps = pd.DataFrame([
        {"scenario": s.id, "step_id": st.id, "channel": ch, "offset_days": st.offset_days,
         "template": st.template_for(ch), "tone": st.tone, "requires_approval": st.requires_approval,
         "legal_fees": st.legal_fees, "language_default": s.language_default}
        for s in policy.scenarios for st in s.steps
        for ch in dict.fromkeys((*st.channels, *((st.fallback_channel,) if st.fallback_channel else ())))
    ] + [{"scenario": s.id, "step_id": THANK_YOU, "channel": "email", "offset_days": 0,
          "template": "email/thank_you", "tone": "courtesy", "requires_approval": False, "legal_fees": False,
          "language_default": s.language_default} for s in policy.scenarios])
    sent = sent.merge(steps[["scenario", "step_id", "channel", "legal_fees"]], on=["scenario", "step_id", "channel"],
                      how="left")
    sent["late_interest_minor"] = pd.Series(pd.NA, index=sent.index, dtype="Int64")
    sent["indemnity_minor"] = 0
    hold = pd.Series("", index=sent.index, dtype=object)
    fees = sent["legal_fees"].fillna(False).to_numpy(dtype=bool)
    if fees.any():
        interest, indemnity, reason = _legal_fees(sent[fees], as_of, legal)
        sent.loc[fees, "late_interest_minor"] = interest
        sent.loc[fees, "indemnity_minor"] = indemnity
        hold[fees] = reason
    # max() of text and a lambda run in Python once per group; the max of sorted codes and any() do not
    hold_code, hold_text = pd.factorize(hold, sort=True)
    sent["hold_reason"] = hold_code
    sent["interest_missing"] = sent["late_interest_minor"].isna()
    thanks = (sent["step_id"] == THANK_YOU).to_numpy()
    sent["asked_minor"] = np.where(thanks, 0, sent["open_minor"])
    sent["interest_or_zero"] = sent["late_interest_minor"].fillna(0).astype("int64")
    actions = (sent.groupby(action_group, sort=True)
               .agg(invoice_ids=("invoice_id", " ".join), principal_minor=("asked_minor", "sum"),
                    interest_minor=("interest_or_zero", "sum"), interest_missing=("interest_missing", "any"),
                    indemnity_minor=("indemnity_minor", "sum"), hold_reason=("hold_reason", "max"),
                    cycle=("due_date", "min"), language=("language", "first"), country=("country", "first"),
                    contact_hour=("contact_hour", "first"),
                    step_pos=("step_pos", "first"))
               .reset_index())
    actions["hold_reason"] = hold_text.to_numpy()[actions["hold_reason"].to_numpy()]
    cycle = actions["cycle"].dt.strftime("%Y-%m-%d").where(actions["step_id"] != THANK_YOU, as_of.isoformat())
    # one hash per action (not per invoice): hashlib has no vectorized form
    actions["action_key"] = [_action_key(*row) for row in
                             zip(*(actions[c] for c in action_group), cycle)]
    actions = actions.merge(steps, on=["scenario", "step_id", "channel"], how="left")
    actions["interest_minor"] = pd.array(actions["interest_minor"], dtype="Int64")
    actions.loc[actions["interest_missing"] & actions["legal_fees"], "interest_minor"] = pd.NA
    actions.loc[~actions["legal_fees"], "interest_minor"] = pd.NA
    actions["amount_minor"] = (actions["principal_minor"] + actions["interest_minor"].fillna(0)
                               + actions["indemnity_minor"]).astype("int64")
    actions["language"] = _languages(actions)
    actions["as_of"] = as_of
    hours = actions["contact_hour"].fillna(policy.send_hour).astype("int64")
    actions["send_at"] = _send_at(actions["country"].fillna(""), hours, as_of, country)
    for column in ("principal_minor", "indemnity_minor", "offset_days"):
        actions[column] = actions[column].astype("int64")
    actions = (actions.sort_values(["customer_id", "step_pos", "currency", "channel"])
               [ACTION_COLUMNS].reset_index(drop=True))

    lines = sent.merge(actions[["action_key", "customer_id", "scenario", "step_id", "channel", "currency"]],
                       on=action_group, how="left")
    lines = lines[LINE_COLUMNS].sort_values(["action_key", "invoice_id"]).reset_index(drop=True)
    return PlanResult(actions, lines, skipped)
