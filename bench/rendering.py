"""Benchmark: the collection messages of a daily plan rendered through `preview.messages`.

    python bench/rendering.py                     # 20,000 emails + sms, letters, statements, calls ...
    python bench/rendering.py --emails 100000     # the dispatch target's volume
    python bench/rendering.py --profile           # then 3,000 actions again under cProfile

What it measures: `preview.messages(result, customers=..., items=..., risk=..., legal=..., as_of=...)`,
the generator a dispatch or a preview iterates, rendering every action of the plan (every part of
its channel: an email's subject, HTML and text; HTML only for the printed channels, *not* printed
to PDF here; text for SMS and call scripts). The time of each message is the time its `next()`
took, counted against its channel; the first one also carries the generator's set-up (indexing the
customers, risk, lines and account items), shown on its own line.

Before the timed run, a small plan (one action per template and language) is rendered once: it
shows what a cold process pays (templates compiled); the timed run is the steady state of a
process that has rendered before.

The plan is generated (seeded, numpy, a second or two), in the planner's column layout
(`planner.ACTION_COLUMNS`, `planner.LINE_COLUMNS` and dtypes: Int64 interest, datetime64 dates,
tz-aware send_at), with the steps and templates of the default policy:
- customers (ledger.schema.CUSTOMER_COLUMNS): FR mostly, some BE (fr, nl) DE ES IT NL GB CH US LU;
  names with '&' and apostrophes, addresses on one line (', ') or several, ~2 % without e-mail,
  ~10 % without phone; EUR, GBP, CHF and USD accounts;
- open items (open_items.OPEN_ITEM_COLUMNS): 1-40 invoices per customer (skewed), ~6 % with
  credit notes, from 120 days overdue to 40 days ahead, ~12 % partly paid;
- risk: one row per scored customer (~90 %), as `read_risk` returns it, 1-3 drivers;
- actions: `--emails` emails over every email template (thank-yous included), plus SMS, letters,
  statements (with every open item of the customer), call scripts, formal notices (legal fees:
  interest per invoice, the fixed indemnity, a few with the interest unknown and a hold reason)
  and agency hand-offs; 1-5 invoice lines each, in the customer's message language.

How to read the figures: messages per second and milliseconds per message for each channel, then
the total; "100,000 emails" projects the email rate on one core. No assertion on time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import sys
import time
import warnings
from collections import defaultdict

import numpy as np
import pandas as pd

from receivables.ledger.open_items import OPEN_ITEM_COLUMNS, bucket_of
from receivables.ledger.schema import CUSTOMER_COLUMNS, conform
from receivables.scenarios import planner
from receivables.scenarios.legal import late_interest_minor, load_rules
from receivables.scenarios.policy import default_policy_path, load_policy
from receivables.scenarios.preview import messages
from receivables.scenarios.render import LANGUAGES, message_language

AS_OF = dt.date(2025, 6, 30)
SEED = 42
EMAILS = 20_000
OTHERS = {"sms": 0.10, "letter": 0.05, "statement": 0.025, "call": 0.05, "formal_notice": 0.01,
          "agency_handoff": 0.005}             # per email
THANK_YOU_SHARE = 0.05                         # of the emails

COUNTRIES = {"FR": 0.70, "BE": 0.06, "DE": 0.05, "ES": 0.04, "IT": 0.04, "NL": 0.04, "GB": 0.03, "CH": 0.02,
             "US": 0.01, "LU": 0.01}
LANGUAGE = {"FR": "fr", "BE": "fr", "DE": "de", "ES": "es", "IT": "it", "NL": "nl", "GB": "en", "CH": "de",
            "US": "en", "LU": "fr"}
DIALING = {"FR": "+33", "BE": "+32", "DE": "+49", "ES": "+34", "IT": "+39", "NL": "+31", "GB": "+44", "CH": "+41",
           "US": "+1", "LU": "+352"}
LEGAL_FORM = {"FR": "SAS", "BE": "SRL", "DE": "GmbH", "ES": "SL", "IT": "Srl", "NL": "BV", "GB": "Ltd", "CH": "AG",
              "US": "Inc.", "LU": "SARL"}
WORDS_A = np.array(["Atelier", "Boulangerie", "Transports", "Garage", "Cabinet", "Pharmacie", "Menuiserie",
                    "Imprimerie", "Laboratoires", "Distribution", "Bâtiment", "Hôtel", "Ferme", "L'Épicerie"], object)
WORDS_B = np.array(["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
                    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "Roux", "Fournier",
                    "Müller & Fils", "O'Brien"], object)
STREETS = np.array(["rue de la République", "avenue Jean Jaurès", "rue Victor Hugo", "boulevard Pasteur",
                    "rue du Moulin", "place de la Gare", "chemin des Vignes", "rue de l'Église"], object)
CITIES = np.array(["69003 Lyon", "75011 Paris", "13008 Marseille", "31000 Toulouse", "33000 Bordeaux",
                   "59000 Lille", "44000 Nantes", "67000 Strasbourg", "35000 Rennes", "21000 Dijon"], object)
DRIVERS = np.array(["pays 23 days late on average", "3 invoices overdue", "credit limit exceeded since June",
                    "oldest invoice 95 days overdue", "paid 2 of 3 invoices late", "new customer",
                    "disputed 2 invoices this year"], object)
RISK_CLASSES = np.array(["low", "medium", "high", "critical"], object)


def _choice(rng: np.random.Generator, shares: dict, size: int) -> np.ndarray:
    keys = np.array(list(shares), dtype=object)
    p = np.array(list(shares.values()), dtype=float)
    return keys[rng.choice(len(keys), size, p=p / p.sum())]


def _s(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype=object)


# -- generation ------------------------------------------------------------------------------------

def make_customers(rng: np.random.Generator, n: int) -> pd.DataFrame:
    ids = np.char.add("C", np.char.zfill(np.arange(1, n + 1).astype(str), 6)).astype(object)
    country = _choice(rng, COUNTRIES, n)
    language = _s(country).map(LANGUAGE).to_numpy(dtype=object)
    language[(country == "BE") & (rng.random(n) < 0.4)] = "nl"
    language[(country == "CH") & (rng.random(n) < 0.3)] = "fr"
    language[rng.random(n) < 0.03] = ""
    surname = WORDS_B[rng.integers(0, len(WORDS_B), n)]
    name = _s(WORDS_A[rng.integers(0, len(WORDS_A), n)]) + " " + _s(surname) + " " + _s(country).map(LEGAL_FORM)
    slug = _s(surname).str.lower().str.replace(r"[^a-z]", "", regex=True)
    email = "compta." + slug + "@" + _s(ids).str.lower() + ".example.com"
    email[rng.random(n) < 0.02] = ""
    phone = _s(country).map(DIALING) + " " + _s(rng.integers(100_000_000, 999_999_999, n).astype(str))
    phone[rng.random(n) < 0.10] = ""
    separator = np.where(rng.random(n) < 0.2, "\n", ", ")
    address = (_s(rng.integers(1, 200, n).astype(str)) + " " + _s(STREETS[rng.integers(0, len(STREETS), n)])
               + _s(separator) + _s(CITIES[rng.integers(0, len(CITIES), n)]))
    segment = _choice(rng, {"TPE": 0.45, "PME": 0.35, "ETI": 0.15, "GE": 0.05}, n)
    frame = pd.DataFrame({"customer_id": ids, "name": name, "country": country, "language": language,
                          "email": email, "phone": phone, "address": address, "segment": segment,
                          "strategic": rng.random(n) < 0.02, "opt_out_channels": "", "iban": ""})
    return conform(frame, CUSTOMER_COLUMNS)


def make_items(rng: np.random.Generator, customers: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Open items sorted by customer, invoices first (at least one per customer), then credit notes;
    and per customer: its number of invoices, the row of its first item."""
    n = len(customers)
    invoices = np.minimum(1 + rng.lognormal(1.2, 1.0, n).astype("int64"), 40)
    credits = np.where(rng.random(n) < 0.06, rng.integers(1, 3, n), 0)
    country = customers["country"].to_numpy(dtype=object)
    currency_of = np.full(n, "EUR", dtype=object)
    currency_of[(country == "GB") & (rng.random(n) < 0.5)] = "GBP"
    currency_of[(country == "CH") & (rng.random(n) < 0.5)] = "CHF"
    currency_of[country == "US"] = "USD"
    currency_of[(country != "US") & (rng.random(n) < 0.005)] = "USD"
    counts = invoices + credits
    cust = np.repeat(np.arange(n), counts)
    m = len(cust)
    rank = np.arange(m) - np.repeat(np.cumsum(counts) - counts, counts)
    credit = rank >= invoices[cust]
    late = 1 + (rng.exponential(35.0, m) % 120).astype("int64")
    days_overdue = np.where(rng.random(m) < 0.35, -rng.integers(0, 41, m), late)
    today = np.datetime64(AS_OF, "D")
    due = today - days_overdue.astype("timedelta64[D]")
    doc = np.where(credit, due, due - rng.choice([30, 45, 60], m).astype("timedelta64[D]"))
    original = np.maximum(np.rint(rng.lognormal(np.log(150_000), 1.1, m)), 500).astype("int64")
    original = np.where(credit, -np.maximum(np.rint(original / 4), 100).astype("int64"), original)
    partial = ~credit & (rng.random(m) < 0.12)
    open_minor = np.where(partial, np.rint(original * rng.uniform(0.05, 0.95, m)), original).astype("int64")
    number = np.char.zfill((np.arange(m) + 1).astype(str), 7)
    invoice_id = np.where(credit, np.char.add("AV", number), np.char.add("FA", number)).astype(object)
    items = pd.DataFrame({"customer_id": customers["customer_id"].to_numpy(dtype=object)[cust],
                          "invoice_id": invoice_id, "currency": currency_of[cust],
                          "item_type": np.where(credit, "credit", "invoice").astype(object),
                          "doc_date": pd.to_datetime(doc), "due_date": pd.to_datetime(due),
                          "original_minor": original, "open_minor": open_minor,
                          "days_overdue": (today - due).astype("int64")})
    items["bucket"] = bucket_of(items["days_overdue"])
    return items[OPEN_ITEM_COLUMNS], invoices, np.cumsum(counts) - counts


def make_risk(rng: np.random.Generator, customers: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    scored = customers[rng.random(len(customers)) < 0.9]
    k = len(scored)
    currency = items.drop_duplicates("customer_id").set_index("customer_id")["currency"]
    score = rng.integers(0, 101, k)
    drivers = [
        "; ".join(DRIVERS[rng.choice(len(DRIVERS), rng.integers(1, 4), replace=False)]) for _ in range(k)]
    return pd.DataFrame({"as_of": AS_OF, "customer_id": scored["customer_id"].to_numpy(),
                         "currency": currency.reindex(scored["customer_id"]).to_numpy(), "score": score,
                         "risk_class": RISK_CLASSES[np.minimum(score // 25, 3)], "p_late": score / 100.0,
                         "drivers": np.array(drivers, dtype=object), "model_kind": "gbm"})


def policy_steps() -> pd.DataFrame:
    """(scenario, step_id, offset_days, channel, template, tone, legal_fees, requires_approval,
    language_default) of the default policy, every channel of every step, and the thank-you."""
    policy = load_policy(default_policy_path())
    rows = []
    for scenario in policy.scenarios:
        for step in scenario.steps:
            for channel in (step.channel, *step.also_channels):
                rows.append((scenario.id, step.id, step.offset_days, channel, step.template_for(channel), step.tone,
                             bool(step.legal_fees), bool(step.requires_approval), scenario.language_default))
    rows.append(("standard", planner.THANK_YOU, 0, "email", "email/thank_you", "courtesy", False, False, "fr"))
    return pd.DataFrame(rows, columns=["scenario", "step_id", "offset_days", "channel", "template", "tone",
                                       "legal_fees", "requires_approval", "language_default"])


def make_plan(rng: np.random.Generator, customers: pd.DataFrame, items: pd.DataFrame, invoices: np.ndarray,
              first: np.ndarray, emails: int) -> planner.PlanResult:
    steps = policy_steps()
    picks = []
    for channel, count in [("email", emails)] + [(c, max(1, round(emails * s))) for c, s in OTHERS.items()]:
        choices = steps.index[steps["channel"] == channel].to_numpy()
        if channel == "email":
            thanks = steps.index[steps["step_id"] == planner.THANK_YOU].to_numpy()
            choices = choices[~np.isin(choices, thanks)]
            n_thanks = round(count * THANK_YOU_SHARE)
            picks.append(np.repeat(thanks, n_thanks))
            count -= n_thanks
        picks.append(choices[rng.integers(0, len(choices), count)])
    step_rows = steps.loc[np.concatenate(picks)].reset_index(drop=True)
    n = len(step_rows)
    cust = rng.integers(0, len(customers), n)
    want = 1 + np.minimum(rng.geometric(0.45, n) - 1, 4)                      # 1..5 lines
    k = np.minimum(want, invoices[cust])
    start = first[cust] + (rng.random(n) * (invoices[cust] - k + 1)).astype("int64")
    line_action = np.repeat(np.arange(n), k)
    line_item = np.repeat(start, k) + (np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k))

    cid = customers["customer_id"].to_numpy(dtype=object)[cust]
    currency = items["currency"].to_numpy(dtype=object)[start]
    key_text = [f"{c}|{s}|{st}|{ch}|{cur}|{i}" for i, (c, s, st, ch, cur) in enumerate(
        zip(cid, step_rows["scenario"], step_rows["step_id"], step_rows["channel"], currency))]
    keys = np.array([hashlib.sha256(t.encode()).hexdigest()[:20] for t in key_text], dtype=object)

    picked = items.iloc[line_item].reset_index(drop=True)
    today = pd.Timestamp(AS_OF)
    legal = step_rows["legal_fees"].to_numpy(dtype=bool)[line_action]
    thanks = (step_rows["step_id"] == planner.THANK_YOU).to_numpy()
    rules = load_rules("FR")
    interest = pd.array(np.zeros(len(picked), dtype="int64"), dtype="Int64")
    interest[:] = pd.NA
    if legal.any():
        interest[legal] = late_interest_minor(picked["open_minor"].to_numpy()[legal],
                                              picked["due_date"].to_numpy()[legal], AS_OF, rules)
    unknown = legal & np.isin(line_action, np.flatnonzero(rng.random(n) < 0.1))    # no rate for the span
    interest[unknown] = pd.NA
    lines = pd.DataFrame({"action_key": keys[line_action], "customer_id": cid[line_action],
                          "invoice_id": picked["invoice_id"], "step_id": step_rows["step_id"].to_numpy()[line_action],
                          "doc_date": picked["doc_date"], "due_date": picked["due_date"],
                          "original_minor": picked["original_minor"], "open_minor": picked["open_minor"],
                          "days_overdue": (today - picked["due_date"]).dt.days.clip(lower=0).astype("int64"),
                          "late_interest_minor": interest,
                          "indemnity_minor": np.where(legal, 4000, 0).astype("int64")})[planner.LINE_COLUMNS]

    sums = lines.assign(interest=lines["late_interest_minor"].fillna(0).astype("int64"),
                        missing=lines["late_interest_minor"].isna(), n=line_action).groupby("n").agg(
        invoice_ids=("invoice_id", lambda v: " ".join(sorted(v))), principal=("open_minor", "sum"),
        interest=("interest", "sum"), missing=("missing", "any"), indemnity=("indemnity_minor", "sum"))
    legal_fees = step_rows["legal_fees"].to_numpy(dtype=bool)
    principal = np.where(thanks, 0, sums["principal"].to_numpy())
    interest_minor = pd.array(sums["interest"].to_numpy(), dtype="Int64")
    interest_minor[~legal_fees | sums["missing"].to_numpy()] = pd.NA
    indemnity = sums["indemnity"].to_numpy()
    hold = np.where(legal_fees & sums["missing"].to_numpy(), "no ECB rate for 2025-07-01 in FR.yaml", "")
    hold[(step_rows["channel"] == "call").to_numpy() & (rng.random(n) < 0.05)] = "customer in safeguard proceedings"
    language_of = {}
    lang = customers["language"].to_numpy(dtype=object)[cust]
    country = customers["country"].to_numpy(dtype=object)[cust]
    for pair in set(zip(lang, country, step_rows["language_default"])):
        language_of[pair] = message_language(*pair)
    language = np.array([language_of[p] for p in zip(lang, country, step_rows["language_default"])], dtype=object)
    send_at = pd.Series(pd.Timestamp(f"{AS_OF} 07:00", tz="UTC"), index=range(n))
    actions = pd.DataFrame({
        "action_key": keys, "as_of": AS_OF, "customer_id": cid, "scenario": step_rows["scenario"],
        "step_id": step_rows["step_id"], "offset_days": step_rows["offset_days"].astype("int64"),
        "channel": step_rows["channel"], "template": step_rows["template"], "tone": step_rows["tone"],
        "invoice_ids": sums["invoice_ids"].to_numpy(), "amount_minor": (principal + interest_minor.fillna(0).to_numpy(
            dtype="int64") + indemnity).astype("int64"), "principal_minor": principal.astype("int64"),
        "interest_minor": interest_minor, "indemnity_minor": indemnity.astype("int64"), "currency": currency,
        "language": language, "requires_approval": step_rows["requires_approval"].astype(bool),
        "legal_fees": legal_fees, "hold_reason": hold.astype(object), "send_at": send_at})[planner.ACTION_COLUMNS]
    actions = actions.sort_values(["customer_id", "step_id", "channel"], kind="stable").reset_index(drop=True)
    lines = lines.sort_values(["action_key", "invoice_id"]).reset_index(drop=True)
    return planner.PlanResult(actions, lines, pd.DataFrame(columns=planner.SKIPPED_COLUMNS))


def sample_plan(result: planner.PlanResult) -> planner.PlanResult:
    """One action per template and language (the warm-up: every template file compiled once)."""
    actions = result.actions.drop_duplicates(["template", "language"])
    return planner.PlanResult(actions, result.lines[result.lines["action_key"].isin(actions["action_key"])],
                              result.skipped)


# -- run -------------------------------------------------------------------------------------------

def timed(result: planner.PlanResult, **kwargs) -> dict:  # noqa: ANN003
    """Render every action: wall and CPU seconds and count per channel, the first next() (set-up
    included) on its own, the whole run, the characters rendered."""
    wall: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    sizes = 0
    first = None
    iterator = messages(result, **kwargs)
    start, start_cpu = time.perf_counter(), time.process_time()
    t, c = start, start_cpu
    for message in iterator:
        now, now_cpu = time.perf_counter(), time.process_time()
        if first is None:
            first = (now - t, now_cpu - c)
        else:
            wall[message.channel] += now - t
            cpu[message.channel] += now_cpu - c
            counts[message.channel] += 1
        sizes += sum(len(p) for p in (message.subject, message.html, message.text) if p is not None)
        t, c = time.perf_counter(), time.process_time()
    return {"wall": wall, "cpu": cpu, "counts": counts, "first": first or (0.0, 0.0),
            "total": (time.perf_counter() - start, time.process_time() - start_cpu), "sizes": sizes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--emails", type=int, default=EMAILS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--profile", action="store_true", help="then render 3,000 actions again under cProfile")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)

    t = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    customers = make_customers(rng, max(1_000, round(args.emails * 0.6)))
    items, invoices, first = make_items(rng, customers)
    risk = make_risk(rng, customers, items)
    result = make_plan(rng, customers, items, invoices, first, args.emails)
    legal = load_rules("FR")
    kwargs = dict(customers=customers, items=items, risk=risk, legal=legal, as_of=AS_OF)
    actions, lines = result.actions, result.lines
    print(f"== rendering on {AS_OF}: {len(actions):,} actions, {len(lines):,} lines, seed {args.seed}; generated in "
          f"{time.perf_counter() - t:.1f} s (not timed)")
    print(f"  customers {len(customers):,}, open items {len(items):,}, risk rows {len(risk):,}; languages "
          + ", ".join(f"{k} {v:,}" for k, v in actions["language"].value_counts().items())
          + "; currencies " + ", ".join(f"{k} {v:,}" for k, v in actions["currency"].value_counts().items()))
    per_action = lines.groupby("action_key").size()
    print(f"  lines per action: mean {per_action.mean():.2f}, max {per_action.max()}; statements list "
          f"{items[items['customer_id'].isin(actions.loc[actions['channel'] == 'statement', 'customer_id'])].shape[0]:,}"
          f" open items; templates {actions['template'].nunique()} x languages {actions['language'].nunique()}"
          f" (of {len(LANGUAGES)})")

    sample = sample_plan(result)
    t = time.perf_counter()
    warm = sum(1 for _ in messages(sample, **kwargs))
    print(f"\n== warm-up (cold process): {warm} messages, one per template and language, in "
          f"{time.perf_counter() - t:.2f} s")

    run = timed(result, **kwargs)
    wall, cpu, counts = run["wall"], run["cpu"], run["counts"]
    print("\n== steady state, one core (CPU: this process only; wall: includes other load on the machine, "
          f"load average {os.getloadavg()[0]:.2f})")
    print(f"  {'channel':<16}{'messages':>10}{'CPU s':>9}{'msg/s':>9}{'ms/msg':>9}{'wall s':>9}{'ms/msg':>9}")
    for channel in sorted(counts, key=lambda c: -counts[c]):
        n = counts[channel]
        print(f"  {channel:<16}{n:>10,}{cpu[channel]:>9.2f}{n / cpu[channel]:>9,.0f}{1000 * cpu[channel] / n:>9.3f}"
              f"{wall[channel]:>9.2f}{1000 * wall[channel] / n:>9.3f}")
    print(f"  {'set-up + 1st':<16}{1:>10}{run['first'][1]:>9.2f}{'':>18}{run['first'][0]:>9.2f}")
    n = len(actions)
    total_wall, total_cpu = run["total"]
    print(f"  {'total':<16}{n:>10,}{total_cpu:>9.2f}{n / total_cpu:>9,.0f}{1000 * total_cpu / n:>9.3f}"
          f"{total_wall:>9.2f}{1000 * total_wall / n:>9.3f}")
    print(f"  rendered text {run['sizes'] / 1e6:.1f} MB ({run['sizes'] / n / 1000:.1f} kB per message)")
    email_ms = 1000 * cpu["email"] / counts["email"]
    print(f"  100,000 emails at {email_ms:.3f} ms of CPU each: {email_ms * 100:.1f} s on one core, "
          f"{email_ms * 50:.1f} s on two (rendering only)")

    if args.profile:
        import cProfile
        import pstats

        head = planner.PlanResult(actions.iloc[:3_000], lines[lines["action_key"].isin(actions["action_key"].iloc[:3_000])],
                                  result.skipped)
        prof = cProfile.Profile()
        prof.enable()
        for _ in messages(head, **kwargs):
            pass
        prof.disable()
        print("\n== cProfile of 3,000 actions (tottime, top 30)")
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
