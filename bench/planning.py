"""Benchmark (issue 5): the daily collection plan for 50,000 customers and 1,000,000 open items.

    python bench/planning.py                      # (make bench) the target scale, seed 42
    python bench/planning.py --profile            # the same, then plan_actions again under cProfile
    python bench/planning.py --customers 5000 --items 100000

What it measures: the planning stages of a daily run, in the order the `plan` task runs them,
on as_of = 2025-06-30 (a Monday, a French business day), each timed on its own:

    judge_promises(promises, items, as_of)        the promises' verdicts after today's cash
    plan_instalments(plans, items)                the instalments of active plans still owed
    plan_invoices(plans)                          the invoices an active plan puts aside
    holding_promises(judged, as_of)               (plan_actions calls it again: shown for information)
    plan_actions(items, customers, risk, policy, as_of, done=..., disputes=..., promises=judged,
                 plans=..., instalments=..., settled=..., legal=load_rules("FR"), paid_today=...)

plan_actions is broken down by the package functions it calls by name (and `_group` by its
own): they are wrapped with timers in this process (bench/stage_timer.py; the source files are
untouched). "other" is the time spent in the calling function's own lines (the step loop, the
exclusions, merges and sorts). Reading the inputs from the warehouse is not timed.

The inputs are generated directly, vectorized with numpy (seeded, a few seconds), in the shapes
the pipeline hands the planner (`wave.plan_inputs`), not through a ledger:
- customer master (ledger.schema.CUSTOMER_COLUMNS): FR mostly, some BE DE ES IT NL GB; language
  from the country, ~3 % unknown; segments TPE PME ETI GE; ~2 % strategic; ~5 % opted out of a
  channel; invoice counts per customer skewed (lognormal x segment: a few customers have thousands);
- open items (open_items.OPEN_ITEM_COLUMNS): ~4 % credits (negative open amounts), EUR with ~3 %
  USD/GBP (per customer), due dates from 120 days overdue to 40 days ahead, ~12 % partly paid;
- risk: one class per customer (low medium high critical), as `read_risk` (with its currency);
- done: the steps already planned or passed on earlier runs, as `read_done_steps` returns them
  (due_date as datetime.date objects): for each open invoice and instalment, every step of its
  customer's scenario (`choose_scenario`) dated more than 2 days before as_of, except the steps a
  live hold kept back (an open dispute since opened_on, an active plan since agreed_on, a promise
  since made_on, until its grace ends). So today's steps are those dated on the weekend and today,
  plus the catch-up of holds that ended: catch-up is the exception, as in real life. Millions of
  rows, part of the timed input;
- disputes (~1 % of invoices; open, investigating, resolved), promises (~1 % of customers, ~30 %
  blanket with invoice_ids '', some judged on earlier runs), payment plans (~0.5 % of customers,
  3-6 monthly instalments, some late, ~8 % cancelled; typed as `read_register` returns them),
  paid_today (~0.5 % of invoices), settled (5,000 invoices overdue at the last run, settled since).

How to read the figures:
- total = the sum of the stages, what a plan task spends once its inputs are in memory; target
  <= 30 s on the 2-core machine;
- peak RSS is the process's VmHWM reset just before the first stage (/proc/self/clear_refs,
  after giving the generator's free memory back with malloc_trim): the inputs held in memory plus
  the planning's working set, not the generator's; "inputs" is the RSS when the timing starts;
- output: actions per channel (with their invoice lines), skipped per reason (held: paid_today,
  disputed, payment_plan, promised, the step comes back; passed: under_minimum, opted_out, the step
  is recorded as done), actions awaiting approval, actions on hold (hold_reason), and the lines on
  a step dated before today (the weekend's steps and catch-up);
- checks, ok/FAILED: each action's invoice_ids are exactly its lines; its principal, interest and
  indemnity are its lines' sums (a thank-you asks for 0); amount = principal + interest +
  indemnity; action keys unique; no invoice both planned and held for the same step; one step
  per invoice per run.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import gc
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from stage_timer import StageTimer, called_functions  # noqa: E402

from receivables.ledger.open_items import bucket_of  # noqa: E402
from receivables.ledger.schema import CUSTOMER_COLUMNS, conform  # noqa: E402
from receivables.scenarios import planner  # noqa: E402
from receivables.scenarios.legal import load_rules  # noqa: E402
from receivables.scenarios.policy import RISK_CLASSES, choose_scenario, default_policy_path, load_policy  # noqa: E402
from receivables.scenarios.registers import (  # noqa: E402
    holding_promises,
    judge_promises,
    plan_instalments,
    plan_invoices,
)

AS_OF = dt.date(2025, 6, 30)
CUSTOMERS = 50_000
ITEMS = 1_000_000
SEED = 42
TARGET_SECONDS = 30.0
DONE_LAG_DAYS = 2                  # steps dated more than this before as_of were done on earlier runs
HOLDS = ("paid_today", "disputed", "payment_plan", "promised")

COUNTRIES = {"FR": 0.85, "BE": 0.04, "DE": 0.03, "ES": 0.02, "IT": 0.02, "NL": 0.02, "GB": 0.02}
LANGUAGE = {"FR": "fr", "BE": "fr", "DE": "de", "ES": "es", "IT": "it", "NL": "nl", "GB": "en"}
DIALING = {"FR": "+33", "BE": "+32", "DE": "+49", "ES": "+34", "IT": "+39", "NL": "+31", "GB": "+44"}
LEGAL_FORM = {"FR": "SAS", "BE": "SRL", "DE": "GmbH", "ES": "SL", "IT": "Srl", "NL": "BV", "GB": "Ltd"}
SEGMENTS = {"TPE": 0.45, "PME": 0.35, "ETI": 0.15, "GE": 0.05}
SEGMENT_VOLUME = {"TPE": 1.0, "PME": 3.0, "ETI": 10.0, "GE": 30.0}     # invoices per customer, relative
STRATEGIC_SHARE = {"TPE": 0.005, "PME": 0.01, "ETI": 0.04, "GE": 0.15}
RISK_SHARE = (0.55, 0.30, 0.12, 0.03)
OPT_OUTS = {"sms": 0.35, "email": 0.2, "email letter": 0.1, "letter": 0.15, "call": 0.1, "sms email": 0.1}
WORDS_A = np.array(["Atelier", "Boulangerie", "Transports", "Garage", "Cabinet", "Pharmacie", "Menuiserie",
                    "Imprimerie", "Laboratoires", "Distribution", "Bâtiment", "Hôtel", "Ferme", "Studio"], object)
WORDS_B = np.array(["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
                    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "Roux", "Fournier"], object)
STREETS = np.array(["rue de la République", "avenue Jean Jaurès", "rue Victor Hugo", "boulevard Pasteur",
                    "rue du Moulin", "place de la Gare", "chemin des Vignes", "rue de l'Église"], object)
CITIES = np.array(["69003 Lyon", "75011 Paris", "13008 Marseille", "31000 Toulouse", "33000 Bordeaux",
                   "59000 Lille", "44000 Nantes", "67000 Strasbourg", "35000 Rennes", "21000 Dijon"], object)


# -- generation ------------------------------------------------------------------------------------

def _choice(rng: np.random.Generator, shares: dict, size: int) -> np.ndarray:
    keys = np.array(list(shares), dtype=object)
    p = np.array(list(shares.values()), dtype=float)
    return keys[rng.choice(len(keys), size, p=p / p.sum())]


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(numbers.astype(str), width)).astype(object)


def _s(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype=object)


def _dates(days: np.ndarray) -> np.ndarray:
    """datetime64[D] -> datetime.date objects (as read_sql and read_register give them), one object
    per distinct day, shared: millions of rows cost a lookup, not millions of constructions."""
    days = np.asarray(days, dtype="datetime64[D]")
    unique, codes = np.unique(days, return_inverse=True)
    return pd.DatetimeIndex(unique).date[codes.reshape(-1)]


def make_customers(rng: np.random.Generator, n: int) -> pd.DataFrame:
    ids = _ids("C", np.arange(1, n + 1), 6)
    country = _choice(rng, COUNTRIES, n)
    language = _s(country).map(LANGUAGE).to_numpy(dtype=object)
    language[(country == "BE") & (rng.random(n) < 0.4)] = "nl"
    language[rng.random(n) < 0.03] = ""
    segment = _choice(rng, SEGMENTS, n)
    strategic = rng.random(n) < _s(segment).map(STRATEGIC_SHARE).to_numpy(dtype=float)
    terms = pd.array(rng.choice([30, 45, 60], n, p=[0.55, 0.25, 0.20]), dtype="Int64")
    terms[rng.random(n) < 0.05] = pd.NA
    opt_out = np.full(n, "", dtype=object)
    out = rng.random(n) < 0.05
    opt_out[out] = _choice(rng, OPT_OUTS, int(out.sum()))
    surname = WORDS_B[rng.integers(0, len(WORDS_B), n)]
    name = _s(WORDS_A[rng.integers(0, len(WORDS_A), n)]) + " " + _s(surname) + " " + _s(country).map(LEGAL_FORM)
    email = "compta." + _s(surname).str.lower() + "." + _s(ids).str.lower() + ".example.com"
    email = email.str.replace(".example.com", "@example.com", regex=False)
    email[rng.random(n) < 0.02] = ""
    phone = _s(country).map(DIALING) + " " + _s(rng.integers(100_000_000, 999_999_999, n).astype(str))
    phone[rng.random(n) < 0.10] = ""
    address = (_s(rng.integers(1, 200, n).astype(str)) + " " + _s(STREETS[rng.integers(0, len(STREETS), n)]) + ", "
               + _s(CITIES[rng.integers(0, len(CITIES), n)]))
    frame = pd.DataFrame({"customer_id": ids, "name": name, "country": country, "language": language,
                          "email": email, "phone": phone, "address": address, "segment": segment,
                          "strategic": strategic, "payment_terms_days": terms, "opt_out_channels": opt_out,
                          "iban": ""})
    return conform(frame, CUSTOMER_COLUMNS)


def make_items(rng: np.random.Generator, customers: pd.DataFrame, m: int, as_of: dt.date) -> tuple[pd.DataFrame, dict]:
    """Open items, sorted as open_items sorts them, and per row: the customer's index (for the others)."""
    n = len(customers)
    weight = rng.lognormal(0.0, 1.3, n) * customers["segment"].map(SEGMENT_VOLUME).to_numpy(dtype=float)
    counts = 1 + rng.multinomial(m - n, weight / weight.sum())
    cust = np.repeat(np.arange(n), counts)
    country = customers["country"].to_numpy(dtype=object)
    currency_of = np.full(n, "EUR", dtype=object)         # ~3 % of the items in USD or GBP
    currency_of[(country == "GB") & (rng.random(n) < 0.5)] = "GBP"
    currency_of[(country != "GB") & (rng.random(n) < 0.005)] = "USD"
    terms = customers["payment_terms_days"].fillna(30).to_numpy(dtype="int64")[cust]

    credit = rng.random(m) < 0.04
    ahead = rng.random(m) < 0.45
    late = 1 + (rng.exponential(35.0, m) % 120).astype("int64")          # 1..120 days, most recent first
    days_overdue = np.where(ahead, -np.minimum(rng.integers(0, 41, m), terms), late)
    days_overdue = np.where(credit, rng.integers(0, 121, m), days_overdue)   # credits are aged from their date
    today = np.datetime64(as_of, "D")
    due = today - days_overdue.astype("timedelta64[D]")
    doc = np.where(credit, due, due - terms.astype("timedelta64[D]"))
    original = np.maximum(np.rint(rng.lognormal(np.log(150_000), 1.1, m)), 500).astype("int64")
    original = np.where(credit, -np.maximum(np.rint(rng.lognormal(np.log(40_000), 1.0, m)), 100), original)
    partial = rng.random(m) < 0.12
    open_minor = np.where(partial, np.rint(original * rng.uniform(0.05, 0.95, m)), original).astype("int64")
    open_minor[open_minor == 0] = np.sign(original[open_minor == 0])
    number = rng.permutation(m) + 1
    order = np.lexsort((number, ~credit, cust))          # as open_items sorts: customer, then invoice_id (AV < FA)
    cust, credit, due, doc = cust[order], credit[order], due[order], doc[order]
    number, original, open_minor, days_overdue = number[order], original[order], open_minor[order], days_overdue[order]
    invoice_id = np.where(credit, _ids("AV", number, 7), _ids("FA", number, 7))
    items = pd.DataFrame({
        "customer_id": customers["customer_id"].to_numpy(dtype=object)[cust], "invoice_id": invoice_id,
        "currency": currency_of[cust], "item_type": np.where(credit, "credit", "invoice").astype(object),
        "doc_date": doc.astype("datetime64[ns]"), "due_date": due.astype("datetime64[ns]"),
        "original_minor": original, "open_minor": open_minor, "days_overdue": days_overdue.astype("int64")})
    items["bucket"] = bucket_of(items["days_overdue"])
    return items, {"cust": cust, "currency_of": currency_of, "counts": counts}


def make_risk(rng: np.random.Generator, customers: pd.DataFrame, currency_of: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": customers["customer_id"], "currency": currency_of,
                         "risk_class": np.array(RISK_CLASSES, dtype=object)[rng.choice(4, len(customers), p=RISK_SHARE)]})


def make_plans(rng: np.random.Generator, customers: pd.DataFrame, items: pd.DataFrame, cust: np.ndarray,
               as_of: dt.date) -> pd.DataFrame:
    """Payment plans on ~0.5 % of the customers, on 2-6 of their oldest overdue invoices. A plan's
    total is what its invoices owed when agreed: the instalments paid so far (all those due, or one
    less for a quarter of the plans: a late instalment) plus what they owe today. Items' open
    amounts are nudged by a few cents so that the split is exact (no spurious 1-cent instalment)."""
    from receivables.scenarios.registers import instalment_schedule

    n = len(customers)
    overdue = (items["item_type"] == "invoice").to_numpy() & (items["days_overdue"] > 30).to_numpy()
    eligible = np.flatnonzero(np.bincount(cust[overdue], minlength=n) >= 2)
    chosen = np.sort(rng.choice(eligible, max(1, round(0.005 * n)), replace=False))
    k = len(chosen)
    wanted = pd.Series(rng.integers(2, 7, k), index=chosen)
    rows = np.flatnonzero(overdue & np.isin(cust, chosen))
    on = items.loc[rows, ["customer_id", "invoice_id", "due_date", "open_minor", "currency"]].assign(cust=cust[rows])
    on = on.sort_values(["cust", "due_date", "invoice_id"])
    on = on[on.groupby("cust").cumcount().to_numpy() < on["cust"].map(wanted).to_numpy()]
    per = on.groupby("cust").agg(invoice_ids=("invoice_id", lambda v: " ".join(sorted(v))),
                                 owed=("open_minor", "sum"), currency=("currency", "first"),
                                 first_row=("invoice_id", lambda v: v.index[0]))
    count = rng.integers(3, 7, k)
    agreed = np.datetime64(as_of, "D") - rng.integers(0, 30 * (count - 1) + 1).astype("timedelta64[D]")
    first = agreed + rng.integers(5, 16, k).astype("timedelta64[D]")
    plans = pd.DataFrame({"plan_id": _ids("PP-", np.arange(1, k + 1), 5),
                          "customer_id": customers["customer_id"].to_numpy(dtype=object)[per.index],
                          "invoice_ids": per["invoice_ids"].to_numpy(), "total_minor": 0,
                          "currency": per["currency"].to_numpy(), "instalments": count.astype("int64"),
                          "first_date": _dates(first), "frequency": "monthly", "status": "active",
                          "agreed_on": _dates(agreed), "note": ""})
    due = instalment_schedule(plans.assign(total_minor=count))
    fallen_due = (due["due_date"] <= pd.Timestamp(as_of)).groupby(due["plan_id"]).sum().reindex(plans["plan_id"])
    paid_n = np.minimum(fallen_due.to_numpy() - (rng.random(k) < 0.25), count - 1).clip(min=0)
    owed = per["owed"].to_numpy()
    share = -(-owed // (count - paid_n))            # equal instalments, the unpaid ones owing >= owed
    total = share * count
    nudge = share * (count - paid_n) - owed           # a few cents onto the first invoice
    first_row = per["first_row"].to_numpy()
    items.loc[first_row, "open_minor"] += nudge
    items.loc[first_row, "original_minor"] = items.loc[first_row, ["original_minor", "open_minor"]].max(axis=1)
    plans["total_minor"] = pd.array(total, dtype="Int64")
    plans.loc[rng.random(k) < 0.08, "status"] = "cancelled"
    return plans


def make_disputes(rng: np.random.Generator, items: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    rows = np.flatnonzero((items["item_type"] == "invoice").to_numpy() & (items["days_overdue"] > -15).to_numpy())
    k = round(0.01 * (items["item_type"] == "invoice").sum())
    pick = np.sort(rng.choice(rows, k, replace=False))
    today = np.datetime64(as_of, "D")
    doc = items["doc_date"].to_numpy()[pick].astype("datetime64[D]")
    opened = np.maximum(today - rng.integers(0, 61, k).astype("timedelta64[D]"), doc)
    status = np.array(["open", "investigating", "resolved"], dtype=object)[rng.choice(3, k, p=[0.45, 0.25, 0.30])]
    resolved = np.minimum(opened + rng.integers(1, 31, k).astype("timedelta64[D]"), today)
    resolved_on = np.where(status == "resolved", _dates(resolved), None)
    reason = np.array(["price", "quantity", "quality", "delivery", "duplicate_invoice", "already_paid", "other"],
                      dtype=object)[rng.integers(0, 7, k)]
    return pd.DataFrame({"dispute_id": _ids("D-", np.arange(1, k + 1), 6),
                         "customer_id": items["customer_id"].to_numpy()[pick],
                         "invoice_id": items["invoice_id"].to_numpy()[pick], "reason_code": reason, "status": status,
                         "opened_on": _dates(opened), "resolved_on": resolved_on, "note": ""})


def make_promises(rng: np.random.Generator, customers: pd.DataFrame, items: pd.DataFrame, cust: np.ndarray,
                  currency_of: np.ndarray, as_of: dt.date) -> pd.DataFrame:
    """~1 % of the customers with overdue invoices: 30 % blanket ('' invoice_ids), else their 1-3
    oldest overdue invoices. Some were judged on earlier runs (kept or broken, with judged_on); of
    the others, most were first seen earlier (open_at_promise_minor known: a fifth of them paid
    since, so they are kept today), the rest are seen today for the first time (<NA>)."""
    n = len(customers)
    overdue = (items["item_type"] == "invoice").to_numpy() & (items["days_overdue"] > 0).to_numpy()
    eligible = np.flatnonzero(np.bincount(cust[overdue], minlength=n) >= 1)
    chosen = np.sort(rng.choice(eligible, max(1, round(0.01 * n)), replace=False))
    k = len(chosen)
    rows = np.flatnonzero(overdue & np.isin(cust, chosen))
    listed = items.loc[rows, ["invoice_id", "due_date", "open_minor"]].assign(cust=cust[rows])
    listed = listed.sort_values(["cust", "due_date", "invoice_id"])
    listed = listed[listed.groupby("cust").cumcount().to_numpy() < listed["cust"].map(
        pd.Series(rng.integers(1, 4, k), index=chosen)).to_numpy()]
    per = listed.groupby("cust").agg(invoice_ids=("invoice_id", lambda v: " ".join(sorted(v))),
                                     owed=("open_minor", "sum")).reindex(chosen)
    blanket = rng.random(k) < 0.30
    whole = pd.Series(items["open_minor"].to_numpy()[rows]).groupby(cust[rows]).sum().reindex(chosen).to_numpy()
    owed = np.where(blanket, whole, per["owed"].to_numpy())
    today = np.datetime64(as_of, "D")
    made = today - rng.integers(0, 21, k).astype("timedelta64[D]")
    promised = made + rng.integers(2, 22, k).astype("timedelta64[D]")
    amount = np.maximum(np.rint(owed * np.where(rng.random(k) < 0.7, 1.0, rng.uniform(0.3, 1.0, k))), 1)
    status = np.array(["pending", "kept", "broken"], dtype=object)[rng.choice(3, k, p=[0.88, 0.04, 0.08])]
    seen = made < today
    paid = seen & (rng.random(k) < 0.2)
    at_promise = pd.array(np.where(paid, owed + amount, owed).astype("int64"), dtype="Int64")
    at_promise[~seen] = pd.NA
    return pd.DataFrame({"promise_id": _ids("P-", np.arange(1, k + 1), 5),
                         "customer_id": customers["customer_id"].to_numpy(dtype=object)[chosen],
                         "invoice_ids": np.where(blanket, "", per["invoice_ids"].to_numpy()).astype(object),
                         "made_on": _dates(made), "promised_date": _dates(promised),
                         "currency": currency_of[chosen], "note": "",
                         "amount_minor": pd.array(amount.astype("int64"), dtype="Int64"),
                         "open_at_promise_minor": at_promise, "status": status,
                         "judged_on": np.where(status == "pending", None, _dates(np.minimum(promised + 4, today)))})


def make_settled(rng: np.random.Generator, customers: pd.DataFrame, counts: np.ndarray, currency_of: np.ndarray,
                 as_of: dt.date, k: int, first_number: int) -> pd.DataFrame:
    """Invoices overdue at the last run and settled since, as `previous_overdue_invoices` gives them."""
    who = rng.choice(len(customers), k, p=counts / counts.sum())
    due = np.datetime64(as_of, "D") - rng.integers(1, 121, k).astype("timedelta64[D]")
    original = np.maximum(np.rint(rng.lognormal(np.log(150_000), 1.1, k)), 500).astype("int64")
    return pd.DataFrame({"customer_id": customers["customer_id"].to_numpy(dtype=object)[who],
                         "invoice_id": _ids("FA", first_number + np.arange(k), 7), "currency": currency_of[who],
                         "doc_date": _dates(due - 30), "due_date": _dates(due), "original_minor": original,
                         "open_minor": original})


def make_done(policy, customers: pd.DataFrame, risk: pd.DataFrame, items: pd.DataFrame, instalments: pd.DataFrame,  # noqa: ANN001
              disputes: pd.DataFrame, plans: pd.DataFrame, promises: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The steps done on earlier runs (see the module docstring), vectorized per scenario step."""
    inv = items[(items["item_type"] == "invoice") & (items["open_minor"] > 0)][["customer_id", "invoice_id", "doc_date",
                                                                             "due_date"]]
    extra = instalments[["customer_id", "invoice_id", "due_date"]].assign(doc_date=instalments["due_date"])
    inv = pd.concat([inv, extra[inv.columns]], ignore_index=True)
    frame = customers[["customer_id", "segment", "strategic"]].assign(risk_class=risk["risk_class"].to_numpy())
    scenario = choose_scenario(policy, frame).to_numpy()
    position = pd.Index(customers["customer_id"])
    row_cust = position.get_indexer(inv["customer_id"])
    due = inv["due_date"].to_numpy().astype("datetime64[D]")
    doc = pd.to_datetime(inv["doc_date"]).to_numpy().astype("datetime64[D]")
    today = np.datetime64(as_of, "D")
    never = np.datetime64("2999-12-31", "D")

    # holds: steps dated on or after a hold's start were held, not done (until the hold ended)
    held = np.full(len(inv), never)
    keys = pd.MultiIndex.from_frame(inv[["customer_id", "invoice_id"]])

    def hold(customer_ids, invoice_ids, since) -> None:  # noqa: ANN001
        at = keys.get_indexer(pd.MultiIndex.from_arrays([np.asarray(customer_ids, object),
                                                         np.asarray(invoice_ids, object)]))
        since = np.asarray(since, dtype="datetime64[D]")[at >= 0]
        at = at[at >= 0]
        np.minimum.at(held, at, since)

    live = disputes[disputes["status"] != "resolved"]
    hold(live["customer_id"], live["invoice_id"], pd.to_datetime(live["opened_on"]).to_numpy())
    on_plan = plans[plans["status"] == "active"].assign(invoice_id=lambda p: p["invoice_ids"].str.split())
    on_plan = on_plan.explode("invoice_id")
    hold(on_plan["customer_id"], on_plan["invoice_id"], pd.to_datetime(on_plan["agreed_on"]).to_numpy())
    until = pd.to_datetime(promises["promised_date"]) + pd.Timedelta(days=3)
    recent = promises[(promises["status"] != "broken").to_numpy()
                      & (until >= pd.Timestamp(as_of) - pd.Timedelta(days=5)).to_numpy()]
    named = recent[recent["invoice_ids"] != ""].assign(invoice_id=lambda p: p["invoice_ids"].str.split())
    named = named.explode("invoice_id")
    hold(named["customer_id"], named["invoice_id"], pd.to_datetime(named["made_on"]).to_numpy())
    blanket = recent[recent["invoice_ids"] == ""]     # the planner holds every invoice of the customer
    whose = pd.Series(pd.to_datetime(blanket["made_on"]).to_numpy(),
                      index=position.get_indexer(blanket["customer_id"])).groupby(level=0).min()
    since = whose.reindex(row_cust).to_numpy().astype("datetime64[D]")
    has = ~np.isnat(since)
    held[has] = np.minimum(held[has], np.maximum(since[has], doc[has]))

    cutoff = today - np.timedelta64(DONE_LAG_DAYS, "D")
    rows, steps = [], []
    for sc in policy.scenarios:
        in_scenario = scenario[row_cust] == sc.id
        for step in sc.steps:
            applies = step.conditions.mask(frame)[row_cust]
            date = due + np.timedelta64(step.offset_days, "D")
            hit = in_scenario & applies & (date < cutoff) & (date < held) & (doc <= date)
            at = np.flatnonzero(hit)
            rows.append(at)
            steps.append(np.full(len(at), step.id, dtype=object))
    rows = np.concatenate(rows)
    return pd.DataFrame({"customer_id": inv["customer_id"].to_numpy(dtype=object)[rows],
                         "invoice_id": inv["invoice_id"].to_numpy(dtype=object)[rows],
                         "step_id": np.concatenate(steps), "due_date": _dates(due[rows])})


def portfolio(customers_n: int, items_n: int, seed: int, as_of: dt.date, policy) -> dict:  # noqa: ANN001
    rng = np.random.default_rng(seed)
    customers = make_customers(rng, customers_n)
    items, aux = make_items(rng, customers, items_n, as_of)
    risk = make_risk(rng, customers, aux["currency_of"])
    plans = make_plans(rng, customers, items, aux["cust"], as_of)
    disputes = make_disputes(rng, items, as_of)
    promises = make_promises(rng, customers, items, aux["cust"], aux["currency_of"], as_of)
    invoices = items[items["item_type"] == "invoice"]
    paid_today = invoices.sample(frac=0.005, random_state=seed)[["customer_id", "invoice_id"]].reset_index(drop=True)
    settled = make_settled(rng, customers, aux["counts"], aux["currency_of"], as_of, min(5_000, items_n // 200),
                           items_n + 1)
    instalments = plan_instalments(plans, items)     # only to give the instalments their done steps
    done = make_done(policy, customers, risk, items, instalments, disputes, plans, promises, as_of)
    return {"customers": customers, "items": items, "risk": risk, "done": done, "disputes": disputes,
            "promises": promises, "plans": plans, "paid_today": paid_today, "settled": settled,
            "counts": aux["counts"]}


def code_version() -> str:
    """Which planner was measured: a hash of the files and their git state (others edit them)."""
    import hashlib
    import subprocess

    folder = Path(planner.__file__).parent
    files = [folder / "planner.py", folder / "registers.py"]
    digest = hashlib.sha1(b"".join(p.read_bytes() for p in files)).hexdigest()[:10]
    state = subprocess.run(["git", "status", "--porcelain", "--", *map(str, files)], capture_output=True, text=True,
                           cwd=folder).stdout.split()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=folder)
    changed = " ".join(state) or "committed"
    return f"planner code: planner.py + registers.py sha1 {digest} (git HEAD {head.stdout.strip()}, {changed})"


# -- memory ----------------------------------------------------------------------------------------

def _status_gb(field: str) -> float:
    status = Path("/proc/self/status").read_text()
    return int(status.split(f"{field}:")[1].split()[0]) / 1024 / 1024


def reset_peak() -> bool:
    """Give freed memory back, then reset this process's peak RSS (VmHWM) to its current RSS."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# -- checks ----------------------------------------------------------------------------------------

def checks(result) -> list[tuple[str, bool, str]]:  # noqa: ANN001
    actions, lines, skipped = result.actions, result.lines, result.skipped
    out = []
    listed = (actions[["action_key", "invoice_ids"]].assign(invoice_id=actions["invoice_ids"].str.split())
              .explode("invoice_id")[["action_key", "invoice_id"]])
    a = pd.MultiIndex.from_frame(listed).sort_values()
    b = pd.MultiIndex.from_frame(lines[["action_key", "invoice_id"]]).sort_values()
    same = len(a) == len(b) and a.equals(b)
    out.append(("each action's invoice_ids are exactly its lines", same,
                f"{len(a):,} listed, {len(b):,} lines, {len(a.difference(b)):,} listed without a line, "
                f"{len(b.difference(a)):,} lines not listed"))
    out.append(("action keys unique", actions["action_key"].is_unique,
                f"{actions['action_key'].duplicated().sum():,} duplicated"))
    sums = (lines.assign(interest=lines["late_interest_minor"].astype("Int64").fillna(0).astype("int64"))
            .groupby("action_key").agg(open_minor=("open_minor", "sum"), interest=("interest", "sum"),
                                       indemnity=("indemnity_minor", "sum")))
    per = actions.set_index("action_key").join(sums)
    thanks = per["step_id"] == planner.THANK_YOU
    principal_ok = np.where(thanks, per["principal_minor"] == 0, per["principal_minor"] == per["open_minor"])
    interest = per["interest_minor"].astype("Int64")
    interest_ok = (interest.isna() | (interest == per["interest"])).to_numpy(dtype=bool)
    indemnity_ok = (per["indemnity_minor"] == per["indemnity"]).to_numpy()
    total_ok = (per["amount_minor"] == per["principal_minor"] + interest.fillna(0) + per["indemnity_minor"]).to_numpy(
        dtype=bool)
    out.append(("amounts: principal = lines' open (thank-you 0), interest and indemnity = lines' sums",
                bool(principal_ok.all() and interest_ok.all() and indemnity_ok.all()),
                f"{(~principal_ok).sum():,} principal, {(~interest_ok).sum():,} interest, "
                f"{(~indemnity_ok).sum():,} indemnity mismatches"))
    out.append(("amount = principal + interest + indemnity", bool(total_ok.all()), f"{(~total_ok).sum():,} mismatches"))
    key = ["customer_id", "invoice_id", "step_id"]
    planned = lines[key].drop_duplicates()
    held = skipped[skipped["reason"].isin(HOLDS)][key]
    both = planned.merge(held, on=key)
    out.append(("no invoice both planned and held for the same step", both.empty, f"{len(both):,} such invoices"))
    dunned = planned[planned["step_id"] != planner.THANK_YOU]
    twice = dunned.duplicated(["customer_id", "invoice_id"])
    out.append(("one step per invoice per run", not twice.any(), f"{twice.sum():,} invoices at two steps"))
    return out


# -- run -------------------------------------------------------------------------------------------

def timed_calls(timer: StageTimer, fn, module, *, prefix: str = "", nested: bool = False,  # noqa: ANN001
                leave: tuple[str, ...] = ()) -> list[str]:
    """StageTimer.wrap_calls, minus `leave` (functions called once per row: a timer would cost more
    than they do)."""
    names = [n for n in called_functions(fn, module, "receivables") if n not in leave]
    for name in names:
        setattr(module, name, timer.timed(prefix + name, getattr(module, name), nested))
    return names


def run(data: dict, policy, legal, as_of: dt.date) -> tuple[dict, object, object]:  # noqa: ANN001
    seconds: dict[str, float] = {}

    def stage(name: str, fn, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        t = time.perf_counter()
        out = fn(*a, **k)
        seconds[name] = time.perf_counter() - t
        return out

    judged = stage("judge_promises", judge_promises, data["promises"], data["items"], as_of)
    instalments = stage("plan_instalments", plan_instalments, data["plans"], data["items"])
    on_plan = stage("plan_invoices", plan_invoices, data["plans"])
    holding = stage("holding_promises", holding_promises, judged, as_of)
    result = stage("plan_actions", planner.plan_actions, data["items"], data["customers"], data["risk"], policy,
                   as_of, done=data["done"], disputes=data["disputes"], promises=judged, plans=on_plan,
                   instalments=instalments, settled=data["settled"], legal=legal, paid_today=data["paid_today"])
    return seconds, result, {"judged": judged, "instalments": instalments, "on_plan": on_plan, "holding": holding}


def describe_inputs(data: dict, extra: dict) -> None:
    items, counts = data["items"], data["counts"]
    invoices = (items["item_type"] == "invoice").sum()
    foreign = (items["currency"] != "EUR").mean()
    top = np.sort(counts)[::-1]
    print(f"  customers {len(data['customers']):,} ({data['customers']['strategic'].mean():.1%} strategic, "
          f"{(data['customers']['opt_out_channels'] != '').mean():.1%} with opt-outs, "
          f"{(data['customers']['country'] != 'FR').mean():.1%} abroad); risk rows {len(data['risk']):,}")
    print(f"  open items {len(items):,}: {invoices:,} invoices, {len(items) - invoices:,} credits, "
          f"{foreign:.1%} not EUR, {(items['days_overdue'] > 0).mean():.0%} overdue; items per customer: median "
          f"{int(np.median(counts))}, max {top[0]:,}, {(counts >= 1000).sum()} customers with >= 1,000")
    print(f"  done {len(data['done']):,} rows; disputes {len(data['disputes']):,} "
          f"({', '.join(f'{k} {v:,}' for k, v in data['disputes']['status'].value_counts().items())}); "
          f"promises {len(data['promises']):,} ({(data['promises']['invoice_ids'] == '').sum():,} blanket)")
    print(f"  payment plans {len(data['plans']):,} ({(data['plans']['status'] == 'active').sum():,} active, "
          f"{len(extra['on_plan']):,} invoices on them, {len(extra['instalments']):,} instalments owed); "
          f"paid today {len(data['paid_today']):,}; settled since the last run {len(data['settled']):,}")
    judged = extra["judged"]["status"].value_counts()
    print(f"  promises judged: {', '.join(f'{k} {v:,}' for k, v in judged.items())}; "
          f"holding today: {extra['holding']['customer_id'].nunique():,} customers")


def describe_output(result, as_of: dt.date, policy) -> None:  # noqa: ANN001
    actions, lines, skipped = result.actions, result.lines, result.skipped
    per_key = lines.groupby("action_key").size()
    per_channel = actions.assign(lines=actions["action_key"].map(per_key)).groupby("channel").agg(
        actions=("action_key", "size"), lines=("lines", "sum"), customers=("customer_id", "nunique"))
    print(f"  actions {len(actions):,} for {actions['customer_id'].nunique():,} customers; lines {len(lines):,} "
          f"({lines['invoice_id'].nunique():,} invoices); skipped {len(skipped):,}")
    print("  per channel:  " + "; ".join(f"{ch} {r.actions:,} ({r.lines:,} lines)" for ch, r in per_channel.iterrows()))
    per_step = actions.groupby(["scenario", "step_id"]).size()
    print("  per step:     " + "; ".join(f"{s}/{st} {v:,}" for (s, st), v in per_step.items()))
    reasons = skipped["reason"].value_counts()
    print("  skipped:      " + "; ".join(f"{r} {v:,}" for r, v in reasons.items()))
    approval = actions["requires_approval"].astype(bool)
    hold = actions["hold_reason"].fillna("") != ""
    print(f"  awaiting approval {approval.sum():,} actions ({actions.loc[approval, 'channel'].value_counts().to_dict()}), "
          f"on hold {hold.sum():,}" + (f": {sorted(set(actions.loc[hold, 'hold_reason']))}" if hold.any() else ""))
    offsets = {(s.id, st.id): st.offset_days for s in policy.scenarios for st in s.steps}
    lined = lines.merge(actions[["action_key", "scenario"]], on="action_key")
    dunned = lined[lined["step_id"] != planner.THANK_YOU]
    offset = pd.Series([offsets[k] for k in zip(dunned["scenario"], dunned["step_id"])], index=dunned.index)
    step_date = pd.to_datetime(dunned["due_date"]) + pd.to_timedelta(offset, unit="D")
    today = pd.Timestamp(as_of)
    weekend = (step_date >= today - pd.Timedelta(days=DONE_LAG_DAYS)) & (step_date < today)
    older = step_date < today - pd.Timedelta(days=DONE_LAG_DAYS)
    print(f"  step dated: today {(step_date == today).sum():,} lines, on the weekend {weekend.sum():,}, earlier "
          f"(catch-up) {older.sum():,}; thank-you lines {(lined['step_id'] == planner.THANK_YOU).sum():,}")
    biggest = actions.assign(n=actions["action_key"].map(per_key)).nlargest(1, "n").iloc[0]
    print(f"  largest action: {biggest['customer_id']} {biggest['step_id']} {biggest['channel']} "
          f"{biggest['n']:,} invoices, invoice_ids {len(biggest['invoice_ids']):,} characters")


def profile(data: dict, policy, legal, as_of: dt.date, extra: dict) -> None:  # noqa: ANN001
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    planner.plan_actions(data["items"], data["customers"], data["risk"], policy, as_of, done=data["done"],
                         disputes=data["disputes"], promises=extra["judged"], plans=extra["on_plan"],
                         instalments=extra["instalments"], settled=data["settled"], legal=legal,
                         paid_today=data["paid_today"])
    prof.disable()
    print("\n== cProfile of plan_actions (cumulative, top 35)")
    pstats.Stats(prof, stream=sys.stdout).sort_stats("cumulative").print_stats(35)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=CUSTOMERS)
    parser.add_argument("--items", type=int, default=ITEMS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--profile", action="store_true", help="then run plan_actions again under cProfile")
    args = parser.parse_args()
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    policy = load_policy(default_policy_path())
    legal = load_rules("FR")
    print(code_version())
    print(f"== planning on {AS_OF} ({AS_OF:%A}): {args.customers:,} customers, {args.items:,} open items, "
          f"seed {args.seed}; policy {policy.source}, legal rules {legal.source}")
    t = time.perf_counter()
    data = portfolio(args.customers, args.items, args.seed, AS_OF, policy)
    print(f"  generated in {time.perf_counter() - t:.1f} s (not timed)")

    timer = StageTimer()
    stages = timed_calls(timer, planner.plan_actions, planner)
    inner = timed_calls(timer, planner._group, planner, prefix="_group > ", nested=True, leave=("_action_key",))
    print(f"  load average before the run (2 cores): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    measured = reset_peak()
    inputs_gb = _status_gb("VmRSS")
    seconds, result, extra = run(data, policy, legal, AS_OF)
    peak_gb = _status_gb("VmHWM")

    print("\n== inputs")
    describe_inputs(data, extra)
    print("\n== seconds per stage")
    for name in ("judge_promises", "plan_instalments", "plan_invoices", "holding_promises"):
        print(f"  {name:<44}{seconds[name]:8.2f} s")
    print(f"  {'plan_actions':<44}{seconds['plan_actions']:8.2f} s")
    for name in stages:
        if name in timer.seconds:
            print(f"  {'    ' + name:<44}{timer.seconds[name]:8.2f} s")
        if name == "_group":
            for sub in inner:
                if "_group > " + sub in timer.seconds:
                    print(f"  {'        ' + sub:<44}{timer.seconds['_group > ' + sub]:8.2f} s")
            inside = sum(timer.seconds.get("_group > " + sub, 0.0) for sub in inner)
            print(f"  {'        other (groupby, keys, merges)':<44}{timer.seconds.get('_group', 0.0) - inside:8.2f} s")
    staged = sum(timer.seconds.get(name, 0.0) for name in stages)
    print(f"  {'    other (step loop, exclusions, ...)':<44}{seconds['plan_actions'] - staged:8.2f} s")
    total = sum(seconds.values())
    print(f"  {'total':<44}{total:8.2f} s   target {TARGET_SECONDS:g} s: "
          f"{'met' if total <= TARGET_SECONDS else 'missed'}")
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(f"  peak RSS {peak_gb:.2f} GB during planning" + ("" if measured else " (VmHWM not resettable: whole run)")
          + f" (inputs {inputs_gb:.2f} GB when it started); whole process incl. generation "
          f"{cpu.ru_maxrss / 1024 / 1024:.2f} GB; CPU user+sys {cpu.ru_utime + cpu.ru_stime:.1f} s")

    print("\n== output")
    describe_output(result, AS_OF, policy)
    print("\n== checks")
    for label, ok, detail in checks(result):
        print(f"  {'ok    ' if ok else 'FAILED'} {label}" + ("" if ok else f": {detail}"))
    if args.profile:
        profile(data, policy, legal, AS_OF, extra)


if __name__ == "__main__":
    main()
