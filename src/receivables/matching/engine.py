"""Cash application (lettrage): bank lines in, allocations to open items out. Pure.

    Open: FA2024-000123 1200.00 and FA2024-000124 480.00, both of C001 Boulangerie Martin.
    Bank: +1680.00 from "BOULANGERIE MARTIN", "FACT FA2024-123 ET 124" ("124" alone is too
          short to be a reference) -> FA2024-000123 1200.00 by reference (auto), then the rest,
          480.00, is the payer's only open item of that amount: FA2024-000124 (auto)
    Bank: +1195.00 "FA2024000123" (5.00 of bank charges kept by the payer's bank)
          -> FA2024-000123 1195.00 auto + write-off 5.00 suggested

The cascade, each stage working on what the previous left:
1. payer: the counterparty account (IBAN seen before or in the master), else the counterparty
   name normalized (accents, case, legal forms, word order) equal to a customer's, else a fuzzy
   name score >= policy.name_score over customers sharing a name token (blocking: no all-pairs);
2. references: invoice numbers in the structured reference, remittance text and end-to-end id,
   found by one hash join of text windows against invoice keys (separators, prefixes, leading
   zeros and case do not matter); OCR-like typos (edit distance 1) are then looked for among the
   identified payer's own open invoices only; the payer's own invoices are preferred;
3. amounts, for a payer without usable reference: the payer's single open item of that amount;
   else a combination of up to `max_subset_items` of the payer's `subset_pool` oldest open items
   (credit notes included, so they are netted) summing to the amount; else within tolerance;
   else oldest first (suggested);
4. what is left is an exception with its reason (a debit, no payer and no reference, ...).

Each allocation carries its rule, a confidence in [0, 1], its evidence and the alternatives;
`auto` only when unambiguous and >= policy.auto_threshold, else `suggested`. An overpayment
leaves an `on_account` row (no invoice), an underpayment within tolerance a `write_off` row.
Amounts are int64 minor units; a line converted by the bank is matched on its original amount
when that is in the invoice currency.

Cost: hash joins and group-bys over the lines and items; per-line Python only where the work is
inherently sequential and bounded: lines whose invoices are also claimed by other lines
(instalments), and subset search within one payer's pool.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd

from receivables.matching.keys import (
    normalize_account,
    normalize_names,
    reference_keys,
    text_windows,
)

ALLOCATION_COLUMNS = ["bank_line_id", "statement_id", "customer_id", "invoice_id", "currency", "amount_minor",
                      "rule", "confidence", "status", "evidence", "alternatives"]
EXCEPTION_COLUMNS = ["bank_line_id", "statement_id", "amount_minor", "currency", "reason_code", "reason",
                     "counterparty_name", "remittance", "suggested_customer_id"]
_KIND_CONFIDENCE = {"full": 1.0, "zeros": 0.97, "noprefix": 0.93, "fuzzy": 0.88}


@dataclass(frozen=True)
class MatchPolicy:
    auto_threshold: float = 0.90
    abs_tolerance_minor: int = 500            # bank charges kept by the payer's bank: 5.00
    pct_tolerance: Decimal = Decimal("0.005")  # or 0.5 % of what is settled, whichever is larger
    max_subset_items: int = 6
    subset_pool: int = 40
    subset_budget: int = 20_000               # combinations tried per size and line
    name_score: float = 90.0
    common_token_customers: int = 50          # a name token shared by more customers does not block


@dataclass
class MatchResult:
    allocations: pd.DataFrame
    exceptions: pd.DataFrame
    stats: dict = field(default_factory=dict)


def _tolerances(policy: MatchPolicy, settled: np.ndarray) -> np.ndarray:
    """max(absolute tolerance, pct x amount), the percentage applied exactly in integers
    (0.005 = 1/200; halves round up)."""
    num, den = policy.pct_tolerance.as_integer_ratio()
    pct = (np.abs(settled).astype(np.int64) * 2 * num + den) // (2 * den)
    return np.maximum(policy.abs_tolerance_minor, pct)


def _tolerance(policy: MatchPolicy, settled: int) -> int:
    return int(_tolerances(policy, np.array([settled], dtype=np.int64))[0])


# -- payer identification ----------------------------------------------------------------------

def identify_payers(lines: pd.DataFrame, customers: pd.DataFrame, known_accounts: pd.DataFrame | None,
                    policy: MatchPolicy) -> pd.DataFrame:
    """Per line (index of `lines`): customer_id, payer_confidence, payer_evidence."""
    out = pd.DataFrame(index=lines.index, data={"customer_id": None, "payer_confidence": 0.0, "payer_evidence": ""})
    accounts = []
    if "iban" in customers:
        accounts.append(customers[["customer_id"]].assign(account=normalize_account(customers["iban"])))
    if known_accounts is not None and len(known_accounts):
        accounts.append(known_accounts[["customer_id"]].assign(account=normalize_account(known_accounts["account"])))
    if accounts:
        known = pd.concat(accounts).drop_duplicates()
        known = known[known["account"] != ""]
        owners = known.groupby("account")["customer_id"].agg(["first", "nunique"])
        owners = owners[owners["nunique"] == 1]["first"]
        by_account = normalize_account(lines["counterparty_account"]).map(owners)
        hit = by_account.notna()
        out.loc[hit, "customer_id"] = by_account[hit]
        out.loc[hit, "payer_confidence"] = 0.99
        out.loc[hit, "payer_evidence"] = "payer account known for this customer"
    # Names: exact after normalization, then fuzzy within token blocks.
    todo = out["customer_id"].isna() & (lines["counterparty_name"].fillna("") != "")
    if not todo.any() or customers.empty:
        return out
    names = normalize_names(customers["name"])
    unique_names = pd.DataFrame({"name": names, "customer_id": customers["customer_id"]})
    unique_names = unique_names[unique_names["name"] != ""]
    counts = unique_names.groupby("name")["customer_id"].transform("nunique")
    by_name = unique_names[counts == 1].drop_duplicates("name").set_index("name")["customer_id"]
    line_names = normalize_names(lines.loc[todo, "counterparty_name"])
    exact = line_names.map(by_name)
    hit = exact.notna()
    if hit.any():
        idx = exact[hit].index
        out.loc[idx, "customer_id"] = exact[hit]
        out.loc[idx, "payer_confidence"] = 0.95
        out.loc[idx, "payer_evidence"] = "payer name equals the customer's"
    remaining = line_names[~hit]
    remaining = remaining[remaining != ""]
    if remaining.empty:
        return out
    fuzzy = _fuzzy_names(remaining, unique_names.drop_duplicates(["name", "customer_id"]), policy)
    if len(fuzzy):
        out.loc[fuzzy.index, "customer_id"] = fuzzy["customer_id"]
        out.loc[fuzzy.index, "payer_confidence"] = fuzzy["score"] / 100 * 0.9
        out.loc[fuzzy.index, "payer_evidence"] = "payer name close to the customer's (" + fuzzy["score"].round(0).astype(int).astype(str) + "%)"
    return out


def _fuzzy_names(line_names: pd.Series, customer_names: pd.DataFrame, policy: MatchPolicy) -> pd.DataFrame:
    from rapidfuzz import fuzz, process

    distinct = pd.Series(pd.unique(line_names))
    q = pd.DataFrame({"q": distinct, "token": distinct.str.split()}).explode("token")
    c = customer_names.assign(token=customer_names["name"].str.split()).explode("token")
    shared = c.groupby("token")["customer_id"].transform("nunique") <= policy.common_token_customers
    pairs = q.merge(c[shared], on="token").drop_duplicates(["q", "customer_id"])
    if pairs.empty:
        return pd.DataFrame(columns=["customer_id", "score"])
    pairs["score"] = process.cpdist(pairs["q"].tolist(), pairs["name"].tolist(), scorer=fuzz.token_set_ratio,
                                    workers=-1)
    pairs = pairs[pairs["score"] >= policy.name_score].sort_values(["q", "score"], ascending=[True, False])
    best = pairs.groupby("q").head(2)
    # A tie between two customers is no identification.
    top = best.groupby("q").agg(customer_id=("customer_id", "first"), score=("score", "first"),
                                second=("score", lambda s: s.iloc[1] if len(s) > 1 else -1))
    top = top[top["score"] > top["second"]]
    found = line_names.to_frame("q").join(top[["customer_id", "score"]], on="q").dropna(subset=["customer_id"])
    return found[["customer_id", "score"]]


# -- the cascade ---------------------------------------------------------------------------------

def match(lines: pd.DataFrame, items: pd.DataFrame, customers: pd.DataFrame,
          known_accounts: pd.DataFrame | None = None, policy: MatchPolicy = MatchPolicy()) -> MatchResult:
    """Allocate the bank lines (BANK_LINE_COLUMNS) to the open items (OPEN_ITEM_COLUMNS)."""
    lines = lines.reset_index(drop=True)
    allocations: list[pd.DataFrame] = []
    exceptions: list[pd.DataFrame] = []

    # Money out, or nothing: not a customer payment.
    credit = lines["amount_minor"] > 0
    if (~credit).any():
        exceptions.append(_exceptions(lines[~credit], "not_a_receipt",
                                      "money out (or zero): not a customer payment"))
    work = lines[credit].copy()
    invoices = items[(items["item_type"] == "invoice") & (items["open_minor"] > 0)].reset_index(drop=True)
    # A line the bank converted is matched on its original amount when invoices are kept in that
    # currency; a ledger that books foreign invoices in its own currency is matched on the booked amount.
    converted = work["original_amount_minor"].notna() & (work["original_currency"].fillna("") != "") \
        & (work["original_currency"] != work["currency"]) & work["original_currency"].isin(set(invoices["currency"]))
    work["match_currency"] = work["currency"].where(~converted, work["original_currency"])
    work["match_amount"] = work["amount_minor"].where(~converted, work["original_amount_minor"]).astype("int64")

    invoices = invoices.sort_values(["customer_id", "due_date", "invoice_id"], kind="stable").reset_index(drop=True)
    payers = identify_payers(work, customers, known_accounts, policy)
    work = work.join(payers)

    # 2. References.
    # An ISO 11649 creditor reference (RF + 2 check digits + our reference) carries the
    # invoice number after its first four characters: both spellings are searched.
    structured = work["structured_ref"].fillna("")
    unwrapped = structured.str.replace(r"^RF\d{2}", "", regex=True).where(structured.str.match(r"^RF\d{2}"), "")
    text = (structured + " " + unwrapped + " " + work["remittance"].fillna("") + " " + work["end_to_end_id"].fillna(""))
    remaining_open = invoices["open_minor"].to_numpy().copy()
    invoice_keys = reference_keys(invoices["invoice_id"])   # once: both passes use them
    windows = text_windows(text)                            # once: invoices and credit notes
    candidates = _reference_candidates(work, windows, invoices, invoice_keys)
    referenced = set(candidates["line"])
    fuzzy = _fuzzy_references(work[~work.index.isin(referenced) & work["customer_id"].notna()], text, invoices,
                              invoice_keys)
    if len(fuzzy):
        # One typo in the number of the payer's own invoice, and the exact amount: two independent
        # pieces of evidence agree, enough to post. A typo alone stays a suggestion.
        exact_amount = work.loc[fuzzy["line"].to_numpy(), "match_amount"].to_numpy() \
            == remaining_open[fuzzy["item"].to_numpy().astype(np.int64)]
        fuzzy.loc[exact_amount, "confidence"] = 0.93
    candidates = pd.concat([c for c in (candidates, fuzzy) if len(c)], ignore_index=True) if len(fuzzy) else candidates
    candidates = candidates.astype({"line": "int64", "item": "int64", "confidence": "float64"})
    credit_notes = items[(items["item_type"] == "credit") & (items["open_minor"] < 0)].reset_index(drop=True)
    credit_candidates = _reference_candidates(work, windows, credit_notes, reference_keys(credit_notes["invoice_id"])) \
        if len(credit_notes) else pd.DataFrame(columns=["line", "item"])
    by_customer = invoices.groupby("customer_id").indices   # positions (invoices is 0..n-1, due order)
    if len(candidates):
        candidates = _keep_own_invoices(candidates, work, invoices)
        simple, rest_candidates = _split_simple(candidates)
        # A line naming a credit note too needs the netting of the sequential pass.
        # So does a line paying more than its invoice: the rest may be another item of the payer.
        names_credit = simple["line"].isin(credit_candidates["line"]).to_numpy()
        overpaid = work.loc[simple["line"].to_numpy(), "match_amount"].to_numpy() > remaining_open[simple["item"].to_numpy()]
        sequential = names_credit | overpaid
        rest_candidates = pd.concat([rest_candidates, simple[sequential]], ignore_index=True)
        simple = simple[~sequential]
        allocations.append(_allocate_simple_references(work, simple, invoices, remaining_open, policy))
        if len(rest_candidates):
            allocations.append(_allocate_by_reference(work, rest_candidates, invoices, remaining_open, policy,
                                                      credit_notes, credit_candidates, by_customer))
    done = set(candidates["line"]) if len(candidates) else set()

    # 3. Amounts, for identified payers without a usable reference.
    rest = work[~work.index.isin(done)]
    rest = rest.assign(names_other_document=text.loc[rest.index].str.contains(r"\d{4,}", regex=True))
    with_payer = rest[rest["customer_id"].notna()]
    by_amount, unresolved = _allocate_by_amount(with_payer, items, invoices, remaining_open, policy)
    allocations.append(by_amount)
    if len(unresolved):
        exceptions.append(_exceptions(with_payer.loc[unresolved], "no_combination",
                                      "payer identified, but no reference and no open item or combination "
                                      "matches the amount", suggested=with_payer.loc[unresolved, "customer_id"]))
    # 4. No payer, no reference: a globally unique amount is only a suggestion.
    anonymous = rest[rest["customer_id"].isna()]
    guessed, unknown = _unique_amount_guess(anonymous, invoices, remaining_open)
    allocations.append(guessed)
    if len(unknown):
        exceptions.append(_exceptions(anonymous.loc[unknown], "unidentified",
                                      "no invoice reference and the payer is not a known customer"))

    result = pd.concat([a for a in allocations if len(a)], ignore_index=True) if any(len(a) for a in allocations) \
        else pd.DataFrame(columns=ALLOCATION_COLUMNS)
    errs = pd.concat([e for e in exceptions if len(e)], ignore_index=True) if any(len(e) for e in exceptions) \
        else pd.DataFrame(columns=EXCEPTION_COLUMNS)
    result["confidence"] = result["confidence"].astype(float).round(3)
    stats = {"lines": len(lines), "receipts": int(credit.sum()),
             "lines_auto": int(result.loc[result["status"] == "auto", "bank_line_id"].nunique()),
             "lines_suggested_only": int((result["status"] != "auto").groupby(result["bank_line_id"]).all().sum())
             if len(result) else 0,
             "exceptions": len(errs)}
    return MatchResult(result[ALLOCATION_COLUMNS], errs[EXCEPTION_COLUMNS], stats)


def _reference_candidates(work: pd.DataFrame, windows: pd.DataFrame, invoices: pd.DataFrame,
                          keys: pd.DataFrame) -> pd.DataFrame:
    """windows: text_windows of the lines (row = index of work); keys: row = index of invoices."""
    # Join on 64-bit hashes (integers join far faster than strings), then keep true equals.
    windows = windows.assign(h=pd.util.hash_array(windows["key"].to_numpy(dtype=object)))
    hashed = keys.assign(h=pd.util.hash_array(keys["key"].to_numpy(dtype=object)))
    found = windows.merge(hashed, on="h").rename(columns={"row_x": "line", "row_y": "item"})
    found = found[found["key_x"].to_numpy() == found["key_y"].to_numpy()]
    if found.empty:
        return pd.DataFrame(columns=["line", "item", "kind", "confidence"])
    # The best kind per (line, item); currencies must agree.
    found["confidence"] = found["kind"].map(_KIND_CONFIDENCE)
    found = found.sort_values("confidence", ascending=False).drop_duplicates(["line", "item"])
    same_currency = work.loc[found["line"], "match_currency"].to_numpy() == invoices.loc[found["item"], "currency"].to_numpy()
    return found[same_currency][["line", "item", "kind", "confidence"]]


def _fuzzy_references(lines: pd.DataFrame, text: pd.Series, invoices: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """Invoice numbers with one typo (OCR, a digit swapped) among the payer's own open invoices."""
    if lines.empty:
        return pd.DataFrame(columns=["line", "item", "kind", "confidence"])
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    windows = text_windows(text.loc[lines.index])
    windows = windows[windows["key"].str.len() >= 6].assign(customer_id=lambda w: lines.loc[w["row"], "customer_id"].to_numpy())
    keys = keys[keys["kind"].isin(["full", "zeros"])].assign(customer_id=lambda k: invoices.loc[k["row"], "customer_id"].to_numpy())
    pairs = windows.merge(keys, on="customer_id", suffixes=("_text", "_invoice"))
    pairs = pairs[(pairs["key_text"].str.len() - pairs["key_invoice"].str.len()).abs() <= 1]
    if pairs.empty:
        return pd.DataFrame(columns=["line", "item", "kind", "confidence"])
    distance = process.cpdist(pairs["key_text"].tolist(), pairs["key_invoice"].tolist(), scorer=Levenshtein.distance,
                              workers=-1)
    close = pairs[distance == 1]
    close = close.drop_duplicates(["row_text", "row_invoice"])
    # One typo must point at one invoice: two invoices one edit away is no evidence.
    unique = close.groupby("row_text")["row_invoice"].transform("nunique") == 1
    close = close[unique]
    return pd.DataFrame({"line": close["row_text"].to_numpy(), "item": close["row_invoice"].to_numpy(), "kind": "fuzzy",
                         "confidence": _KIND_CONFIDENCE["fuzzy"]})


def _row(line: pd.Series, item: pd.Series | None, amount: int, rule: str, confidence: float, status: str,
         evidence: str, alternatives: str = "") -> dict:
    return {"bank_line_id": line["bank_line_id"], "statement_id": line["statement_id"],
            "customer_id": (item["customer_id"] if item is not None else line["customer_id"]) or "",
            "invoice_id": item["invoice_id"] if item is not None else "", "currency": line["match_currency"],
            "amount_minor": int(amount), "rule": rule, "confidence": confidence, "status": status,
            "evidence": evidence, "alternatives": alternatives}


def _keep_own_invoices(candidates: pd.DataFrame, work: pd.DataFrame, invoices: pd.DataFrame) -> pd.DataFrame:
    """When the text names some of the identified payer's invoices, the others are dropped;
    when it names none of them, all stay and the line is flagged as paid by a third party."""
    customer = invoices["customer_id"].to_numpy()[candidates["item"].to_numpy()]
    payer = work["customer_id"].reindex(candidates["line"]).to_numpy()
    own = pd.Series((customer == payer) & pd.notna(payer), index=candidates.index)
    line_has_own = own.groupby(candidates["line"]).transform("any")
    kept = candidates[own | ~line_has_own].copy()
    kept["third_party"] = (pd.notna(payer) & ~line_has_own.to_numpy())[(own | ~line_has_own).to_numpy()]
    return kept


def _split_simple(candidates: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lines naming exactly one invoice that no other line names: independent, so allocated
    set-wise. The rest (several invoices, instalments of one invoice) need the sequential pass."""
    per_line = candidates.groupby("line")["item"].transform("size")
    per_item = candidates.groupby("item")["line"].transform("nunique")
    simple = (per_line == 1) & (per_item == 1)
    return candidates[simple], candidates[~simple]


def _allocate_simple_references(work: pd.DataFrame, simple: pd.DataFrame, invoices: pd.DataFrame,
                                remaining: np.ndarray, policy: MatchPolicy) -> pd.DataFrame:
    if simple.empty:
        return pd.DataFrame(columns=ALLOCATION_COLUMNS)
    lines = work.loc[simple["line"].to_numpy()]
    items = invoices.loc[simple["item"].to_numpy()]
    item_ix = simple["item"].to_numpy()
    amount = lines["match_amount"].to_numpy(dtype=np.int64)
    open_amount = remaining[item_ix].copy()
    take = np.minimum(amount, open_amount)
    shortfall = open_amount - amount
    tolerance = _tolerances(policy, open_amount)
    within = (shortfall > 0) & (shortfall <= tolerance)
    third = simple["third_party"].to_numpy(dtype=bool)
    # A third party paying the exact amount of the invoice it names is the ordinary case of a
    # parent company paying for its subsidiary: the discount applies when the amount differs.
    confidence = simple["confidence"].to_numpy() * np.where(third & (shortfall != 0), 0.8, 1.0)
    # Corroboration, as in the sequential pass: the payer is the customer, or the amount is right.
    own = lines["customer_id"].to_numpy() == items["customer_id"].to_numpy()
    corroborated = own | (np.abs(shortfall) <= tolerance)
    status = np.where((confidence >= policy.auto_threshold) & corroborated, "auto", "suggested")
    payer_evidence = lines["payer_evidence"].fillna("").to_numpy()
    evidence = ("reference (" + simple["kind"].to_numpy().astype(object) + ") to " + items["invoice_id"].to_numpy().astype(object)
                + np.where(third, "; paid by a third party", "")
                + np.where(payer_evidence != "", "; " + payer_evidence.astype(object), "")
                + np.where(corroborated, "", "; amount differs and the payer is not confirmed"))
    base = {"bank_line_id": lines["bank_line_id"].to_numpy(), "statement_id": lines["statement_id"].to_numpy(),
            "customer_id": items["customer_id"].to_numpy(), "invoice_id": items["invoice_id"].to_numpy(),
            "currency": lines["match_currency"].to_numpy(), "confidence": confidence, "alternatives": ""}
    paid = pd.DataFrame({**base, "amount_minor": take,
                         "rule": np.where((take == open_amount) | within, "reference", "reference_partial"),
                         "status": status, "evidence": evidence})
    write_off = pd.DataFrame({**base, "amount_minor": shortfall, "rule": "write_off", "status": "suggested",
                              "evidence": evidence + "; short by the bank charges or a difference within tolerance"})[within]
    over = amount > open_amount
    on_account = pd.DataFrame({**base, "invoice_id": "", "amount_minor": amount - open_amount, "rule": "on_account",
                               "status": status, "evidence": evidence + "; paid more than the open amount: kept on account"})[over]
    auto = status == "auto"   # only auto allocations use up open amounts
    remaining[item_ix] -= np.where(auto, take + np.where(within, shortfall, 0), 0)
    # Rows of one line stay together, in the order: allocation, write-off, on account.
    out = pd.concat([paid.assign(_k=0, _n=np.arange(len(paid))), write_off.assign(_k=1, _n=np.flatnonzero(within)),
                     on_account.assign(_k=2, _n=np.flatnonzero(over))], ignore_index=True)
    return out.sort_values(["_n", "_k"], kind="stable").drop(columns=["_k", "_n"])[ALLOCATION_COLUMNS]


def _allocate_by_reference(work: pd.DataFrame, candidates: pd.DataFrame, invoices: pd.DataFrame,
                           remaining: np.ndarray, policy: MatchPolicy, credit_notes: pd.DataFrame,
                           credit_candidates: pd.DataFrame, by_customer: dict) -> pd.DataFrame:
    """The lines that cannot be settled independently, in booking order (instalments of one
    invoice consume it in turn). Plain arrays, no per-line pandas.

    `auto` needs corroboration besides the reference: the payer identified as the invoices'
    customer, or the amount equal (within tolerance) to what is open. Only `auto` allocations
    consume open amounts: a suggestion must not block a later, better match.
    """
    rows: list[dict] = []
    lines = work.loc[pd.unique(candidates["line"])].sort_values(["booking_date", "position"], kind="stable")
    inv_customer = invoices["customer_id"].to_numpy()
    inv_id = invoices["invoice_id"].to_numpy()
    inv_due = invoices["due_date"].to_numpy()
    credit_open = credit_notes["open_minor"].to_numpy().copy() if len(credit_notes) else np.array([], dtype=np.int64)
    credit_customer = credit_notes["customer_id"].to_numpy() if len(credit_notes) else np.array([], dtype=object)
    credit_id = credit_notes["invoice_id"].to_numpy() if len(credit_notes) else np.array([], dtype=object)
    order = candidates.sort_values(["line", "item"])
    groups = {k: (v["item"].to_numpy(), v["confidence"].to_numpy(), v["kind"].to_numpy(), bool(v["third_party"].iloc[0]))
              for k, v in order.groupby("line", sort=False)}
    credits_of = {k: v["item"].to_numpy() for k, v in credit_candidates.groupby("line", sort=False)} \
        if len(credit_candidates) else {}
    columns = ["bank_line_id", "statement_id", "customer_id", "match_currency", "match_amount", "payer_evidence"]
    for line_ix, (bank_line_id, statement_id, payer, currency, amount, payer_evidence) in zip(
            lines.index, lines[columns].itertuples(index=False, name=None)):
        items, confidences, kinds, third_party = groups[line_ix]
        amount = int(amount)
        items_order = np.lexsort((items, inv_due[items]))
        items, confidences, kinds = items[items_order], confidences[items_order], kinds[items_order]

        def row(invoice_id: str, customer: str, value: int, rule: str, confidence: float, status: str,
                evidence: str, alternatives: str = "") -> None:
            rows.append({"bank_line_id": bank_line_id, "statement_id": statement_id, "customer_id": customer or "",
                         "invoice_id": invoice_id, "currency": currency, "amount_minor": int(value), "rule": rule,
                         "confidence": confidence, "status": status, "evidence": evidence,
                         "alternatives": alternatives})

        live = remaining[items] > 0
        if not live.any():
            row("", payer, amount, "already_settled", 0.5, "suggested", "the referenced invoices are already settled",
                ", ".join(inv_id[items]))
            continue
        items, confidences, kinds = items[live], confidences[live], kinds[live]
        open_now = remaining[items]
        customers = set(inv_customer[items])
        ambiguous = len(customers) > 1
        # Credit notes named in the same text, of the same customer, are netted.
        notes = credits_of.get(line_ix, np.array([], dtype=np.int64))
        notes = notes[(credit_open[notes] < 0) & np.isin(credit_customer[notes], list(customers))] if len(notes) else notes
        netted = int(credit_open[notes].sum()) if len(notes) else 0
        total = int(open_now.sum()) + netted
        tolerance = _tolerance(policy, total)
        own = payer is not None and not pd.isna(payer) and customers == {payer}
        corroborated = own or abs(total - amount) <= tolerance
        confidence = float(confidences.min()) * (0.8 if third_party and total != amount else 1.0) \
            * (0.7 if ambiguous else 1.0)
        status = "auto" if confidence >= policy.auto_threshold and not ambiguous and corroborated else "suggested"
        names = ", ".join(inv_id[items])
        evidence = (f"reference ({'/'.join(sorted(set(kinds)))}) to {names}"
                    + (f", credit notes {', '.join(credit_id[notes])} netted" if len(notes) else "")
                    + ("; paid by a third party" if third_party else "")
                    + (f"; {payer_evidence}" if payer_evidence else "")
                    + ("" if corroborated else "; amount differs and the payer is not confirmed"))
        consume = status == "auto"
        shortfall = total - amount
        within_tolerance = 0 < shortfall <= tolerance   # settled, less bank charges: not a partial
        left = amount - netted   # credit notes pay their share first
        for position, item_ix in enumerate(items):
            take = min(left, int(open_now[position]))
            if take <= 0:
                break
            rule = "reference" if take == open_now[position] or within_tolerance else "reference_partial"
            row(inv_id[item_ix], inv_customer[item_ix], take, rule, confidence, status, evidence)
            if consume:
                remaining[item_ix] -= take
            left -= take
        for note in notes:
            row(credit_id[note], credit_customer[note], int(credit_open[note]), "credit_note", confidence, status, evidence)
            if consume:
                credit_open[note] = 0
        if within_tolerance:
            last = items[-1]
            row(inv_id[last], inv_customer[last], shortfall, "write_off", confidence, "suggested",
                f"{evidence}; short by the bank charges or a difference within tolerance")
            if consume:
                remaining[last] -= shortfall
        if left > 0 and own:
            # Paid more than the invoices named: another open item of the payer of that amount?
            pool = by_customer.get(payer, np.array([], dtype=np.int64))
            pool = pool[(remaining[pool] == left) & ~np.isin(pool, items)]
            if len(pool) == 1:
                extra = pool[0]
                row(inv_id[extra], payer, left, "amount_exact", min(confidence, 0.93), status,
                    f"{evidence}; the rest is the payer's only open item of that amount")
                if consume:
                    remaining[extra] = 0
                left = 0
        if left > 0:
            others = by_customer.get(payer, np.array([], dtype=np.int64)) if own else np.array([], dtype=np.int64)
            has_others = bool(len(others) and (remaining[others] > 0).any())
            row("", payer, left, "on_account", confidence, "suggested" if has_others else status,
                f"{evidence}; paid more than the open amount: kept on account")
    return pd.DataFrame(rows, columns=ALLOCATION_COLUMNS)


def _allocate_by_amount(lines: pd.DataFrame, items: pd.DataFrame, invoices: pd.DataFrame, remaining: np.ndarray,
                        policy: MatchPolicy) -> tuple[pd.DataFrame, list]:
    rows: list[dict] = []
    unresolved: list = []
    if lines.empty:
        return pd.DataFrame(columns=ALLOCATION_COLUMNS), unresolved
    # Set-wise first: a line whose amount is exactly one open item of its payer, an item no
    # other line claims. Everything else goes through the sequential search below.
    exact = _exact_amount_pairs(lines, invoices, remaining)
    per_line = exact.groupby("line")["item"].transform("size")
    per_item = exact.groupby("item")["line"].transform("nunique")
    simple = exact[(per_line == 1) & (per_item == 1)]
    fast = pd.DataFrame(columns=ALLOCATION_COLUMNS)
    if len(simple):
        chosen = lines.loc[simple["line"].to_numpy()]
        items = invoices.loc[simple["item"].to_numpy()]
        confidence = np.minimum(0.96, chosen["payer_confidence"].to_numpy(dtype=float))
        fast = pd.DataFrame({
            "bank_line_id": chosen["bank_line_id"].to_numpy(), "statement_id": chosen["statement_id"].to_numpy(),
            "customer_id": items["customer_id"].to_numpy(), "invoice_id": items["invoice_id"].to_numpy(),
            "currency": chosen["match_currency"].to_numpy(), "amount_minor": chosen["match_amount"].to_numpy(),
            "rule": "amount_exact", "confidence": confidence,
            "status": np.where(confidence >= policy.auto_threshold, "auto", "suggested"),
            "evidence": chosen["payer_evidence"].fillna("").to_numpy().astype(object) + "; the only open item of this amount",
            "alternatives": ""})
        applied = fast["status"].to_numpy() == "auto"   # suggestions do not use up open items
        remaining[simple["item"].to_numpy()[applied]] = 0
        lines = lines.drop(index=simple["line"].to_numpy())
    # Credit notes of the payer, netted in combinations.
    credits = items[(items["item_type"] == "credit") & (items["open_minor"] < 0)]
    credits_by_customer = dict(tuple(credits.groupby("customer_id")))
    by_customer = invoices.groupby("customer_id").indices   # positions = index (invoices is 0..n-1)
    for line_ix, line in lines.sort_values(["booking_date", "position"], kind="stable").iterrows():
        pool = by_customer.get(line["customer_id"], np.array([], dtype=int))
        pool = pool[(remaining[pool] > 0) & (invoices.loc[pool, "currency"].to_numpy() == line["match_currency"])]
        amount = int(line["match_amount"])
        payer_conf = float(line["payer_confidence"])
        evidence = line["payer_evidence"]
        open_amounts = remaining[pool]
        exact = pool[open_amounts == amount]
        if len(exact) >= 1:
            chosen = exact[0]   # the oldest: pools are sorted by due date
            confidence = min(0.96, payer_conf)
            unique = len(exact) == 1
            status = "auto" if unique and confidence >= policy.auto_threshold else "suggested"
            alternatives = ", ".join(invoices.loc[exact[1:], "invoice_id"])
            rows.append(_row(line, invoices.loc[chosen], amount, "amount_exact", confidence if unique else confidence * 0.8,
                             status, f"{evidence}; the only open item of this amount" if unique
                             else f"{evidence}; several open items of this amount", alternatives))
            if status == "auto":
                remaining[chosen] -= amount
            continue
        combination, ambiguous = _subset(pool, remaining, amount, line, credits_by_customer, invoices, policy)
        if combination is not None:
            confidence = min(0.93, payer_conf) * (0.8 if ambiguous else 1.0)
            status = "auto" if not ambiguous and confidence >= policy.auto_threshold else "suggested"
            members = [ix for ix in combination if ix >= 0]
            names = ", ".join(invoices.loc[members, "invoice_id"])
            for ix in members:
                rows.append(_row(line, invoices.loc[ix], int(remaining[ix]), "amount_combination", confidence, status,
                                 f"{evidence}; {len(combination)} open items sum to the amount ({names})"))
                if status == "auto":
                    remaining[ix] = 0
            continue
        tolerance = _tolerance(policy, amount)
        near = pool[np.abs(open_amounts - amount) <= tolerance]
        if len(near):
            chosen = near[0]
            open_amount = int(remaining[chosen])
            take = min(amount, open_amount)
            # Bank charges taken from a payer we are sure of, on their only item that close: post
            # the payment; the difference stays a suggested write-off.
            # Not when the text names some other document (a number we could not match): a refund
            # or another kind of payment from the same customer is not an invoice paid less fees.
            sure = len(near) == 1 and payer_conf >= 0.95 and amount <= open_amount \
                and not line.get("names_other_document", False)
            status = "auto" if sure else "suggested"
            rows.append(_row(line, invoices.loc[chosen], take, "amount_tolerance", 0.9 if sure else min(0.8, payer_conf),
                             status, f"{evidence}; amount within tolerance of an open item"))
            if sure:
                remaining[chosen] -= take
            if open_amount > amount:
                rows.append(_row(line, invoices.loc[chosen], open_amount - amount, "write_off", min(0.8, payer_conf),
                                 "suggested", f"{evidence}; difference within tolerance"))
            elif amount > open_amount:
                rows.append(_row(line, None, amount - open_amount, "on_account", min(0.8, payer_conf), "suggested",
                                 f"{evidence}; paid slightly more"))
            continue   # a suggestion: nothing is used up
        if len(pool):
            # Oldest first, as a suggestion: the payer is known, the split is not.
            left = amount
            for ix in pool:
                take = min(left, int(remaining[ix]))
                if take <= 0:
                    break
                rows.append(_row(line, invoices.loc[ix], take, "oldest_first", min(0.6, payer_conf), "suggested",
                                 f"{evidence}; no reference or matching amount: oldest items first"))
                left -= take
            if left > 0:
                rows.append(_row(line, None, left, "on_account", min(0.6, payer_conf), "suggested",
                                 f"{evidence}; more than all the open items"))
            continue
        unresolved.append(line_ix)
    slow = pd.DataFrame(rows, columns=ALLOCATION_COLUMNS)
    return (pd.concat([fast, slow], ignore_index=True) if len(fast) and len(slow) else (fast if len(fast) else slow)), \
        unresolved


def _exact_amount_pairs(lines: pd.DataFrame, invoices: pd.DataFrame, remaining: np.ndarray) -> pd.DataFrame:
    """(line, item) pairs where the line's amount equals an open item of its payer (hash join)."""
    live = np.flatnonzero(remaining > 0)
    items = pd.DataFrame({"item": live, "customer_id": invoices["customer_id"].to_numpy()[live],
                          "currency": invoices["currency"].to_numpy()[live], "amount": remaining[live]})
    wanted = pd.DataFrame({"line": lines.index.to_numpy(), "customer_id": lines["customer_id"].to_numpy(),
                           "currency": lines["match_currency"].to_numpy(),
                           "amount": lines["match_amount"].to_numpy(dtype=np.int64)})
    return wanted.merge(items, on=["customer_id", "currency", "amount"])


def _subset(pool: np.ndarray, remaining: np.ndarray, amount: int, line: pd.Series, credits_by_customer: dict,
            invoices: pd.DataFrame, policy: MatchPolicy) -> tuple[tuple | None, bool]:
    """A combination of the payer's oldest open items (credit notes netted) summing to the amount.

    Returns (members, ambiguous); members are invoice row numbers, credit notes as -1 markers.
    """
    candidates = list(pool[: policy.subset_pool])
    values = [int(remaining[ix]) for ix in candidates]
    credit_notes = credits_by_customer.get(line["customer_id"])
    if credit_notes is not None:
        for value in credit_notes["open_minor"].head(5):
            candidates.append(-1)
            values.append(int(value))
    if len(candidates) < 2:
        return None, False
    values_arr = np.array(values, dtype=np.int64)
    found = []
    for size in range(2, min(policy.max_subset_items, len(candidates)) + 1):
        combos = _combinations(len(candidates), size, policy.subset_budget)
        if combos.size == 0:
            continue
        hits = combos[values_arr[combos].sum(axis=1) == amount]
        for hit in hits[:3]:
            found.append(tuple(candidates[i] for i in hit))
        if found:
            break
    if not found:
        return None, False
    return found[0], len(found) > 1


@functools.lru_cache(maxsize=256)
def _combinations(n: int, size: int, budget: int) -> np.ndarray:
    """Index combinations of `size` among the first `width` of n items, width as large as the
    budget allows (the oldest items first). Cached: every line with the same pool size reuses it."""
    width = n
    while width > size and _comb(width, size) > budget:
        width -= 1
    combos = np.array(list(itertools.combinations(range(width), size)), dtype=np.int32)
    combos.setflags(write=False)
    return combos


def _comb(n: int, k: int) -> int:
    from math import comb

    return comb(n, k)


def _unique_amount_guess(lines: pd.DataFrame, invoices: pd.DataFrame, remaining: np.ndarray) -> tuple[pd.DataFrame, list]:
    """An unidentified payment whose amount equals exactly one open invoice: a suggestion only."""
    if lines.empty:
        return pd.DataFrame(columns=ALLOCATION_COLUMNS), []
    live = np.flatnonzero(remaining > 0)
    items = pd.DataFrame({"item": live, "currency": invoices["currency"].to_numpy()[live], "amount": remaining[live]})
    items = items[items.groupby(["currency", "amount"])["item"].transform("size") == 1]
    wanted = pd.DataFrame({"line": lines.index.to_numpy(), "currency": lines["match_currency"].to_numpy(),
                           "amount": lines["match_amount"].to_numpy(dtype=np.int64)})
    hits = wanted.merge(items, on=["currency", "amount"])
    chosen, found = lines.loc[hits["line"].to_numpy()], invoices.loc[hits["item"].to_numpy()]
    guessed = pd.DataFrame({
        "bank_line_id": chosen["bank_line_id"].to_numpy(), "statement_id": chosen["statement_id"].to_numpy(),
        "customer_id": found["customer_id"].to_numpy(), "invoice_id": found["invoice_id"].to_numpy(),
        "currency": chosen["match_currency"].to_numpy(), "amount_minor": chosen["match_amount"].to_numpy(),
        "rule": "amount_unique", "confidence": 0.5, "status": "suggested",
        "evidence": "payer unknown; the only open invoice of this exact amount", "alternatives": ""})
    unknown = list(lines.index[~lines.index.isin(hits["line"])])
    return guessed[ALLOCATION_COLUMNS], unknown


def _exceptions(lines: pd.DataFrame, code: str, reason: str, suggested: pd.Series | None = None) -> pd.DataFrame:
    return pd.DataFrame({
        "bank_line_id": lines["bank_line_id"].to_numpy(), "statement_id": lines["statement_id"].to_numpy(),
        "amount_minor": lines["amount_minor"].to_numpy(), "currency": lines["currency"].to_numpy(),
        "reason_code": code, "reason": reason, "counterparty_name": lines["counterparty_name"].fillna("").to_numpy(),
        "remittance": lines["remittance"].fillna("").to_numpy(),
        "suggested_customer_id": suggested.to_numpy() if suggested is not None else "",
    })
