"""Baseline: the Odoo / OCA `invoice_matching` reconcile model, column-wise, for the benchmark.

Read from OCA/account-reconcile `account_reconcile_model_oca/models/account_reconcile_model.py`
(`_get_invoice_matching_st_line_tokens`, `_get_invoice_matching_amls_candidates`,
`_get_invoice_matching_amls_result`, `_check_rule_propositions`) and
`account_reconcile_model_oca/models/account_bank_statement_line.py` (`_retrieve_partner`);
summarized in /work/shared/notes/peers.md §2. Per statement line:

1. partner (`_retrieve_partner`): the counterparty account equal to a partner bank account held by
   one partner; else the first partner (order: name, then id descending) whose name contains the
   counterparty name, case-insensitive (SQL `ilike`, accents significant); else a partner all of
   whose words of >= 3 characters appear as whole words in the line's texts (unaccented);
2. tokens from the label (remittance) and the reference (structured reference, else the end-to-end
   id as the OCA CAMT import fills `ref`): whitespace tokens stripped to [0-9A-Za-z], >= 4
   characters, reduced to their digits, kept when >= 4 digits ("numerical"); a text that is one
   single token is also an "exact" token (compared with the whole invoice number);
3. candidates: open items of the line's sign (invoices for money in, credit notes for money out),
   same currency, dated within `past_months_limit`, of the partner when one was found, whose
   invoice number's digit tokens (or whole number) are among the line's tokens; ranked by number
   of hits, then maturity, date, id (`old_first`). Tokens but no hit: no proposal (the model
   stops there). No token at all: the partner's open items by maturity, or without a partner the
   open items of exactly the line's amount; such candidates are never auto-reconciled;
4. selection (`match_batch_amls`): the first candidate of exactly the line's amount alone is
   "perfect"; otherwise candidates are kept greedily while the payment still has room; perfect
   when they sum to the amount, partial otherwise;
5. `_check_rule_propositions` with a fixed tolerance (`payment_tolerance_minor`, 5.00 like our
   policy): exact or overpaid (the excess stays open on the statement line) -> auto-reconcilable;
   underpaid within the tolerance -> auto-reconcilable with a write-off; underpaid beyond it ->
   Odoo rejects the proposal; here it is kept as a *suggestion* (the benchmark brief: partial =
   suggested), which can only help the baseline's auto+suggested recall.

Status: `auto` when the candidates came from a token hit and step 5 allows auto-reconcile (the
model's `auto_reconcile` flag on), else `suggested`. Cash is applied to the kept items in rank
order (the last one possibly in part); a write-off row (rule `write_off`) carries a tolerated
shortfall and an `on_account` row the excess of an overpayment, as in our engine's output.

Early-payment discounts are not modelled (the benchmark has none). Cost: one hash join of line
tokens with invoice tokens, group-bys and cumulative sums; per distinct payer name one substring
scan over all partner names (the `ilike`), which is what grows with size.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

OUTPUT_COLUMNS = ["bank_line_id", "customer_id", "invoice_id", "amount_minor", "rule", "status"]


@dataclass(frozen=True)
class OdooModel:
    payment_tolerance_minor: int = 500     # allow_payment_tolerance, fixed_amount 5.00
    past_months_limit: int = 18
    auto_reconcile: bool = True
    keep_rejected_as_suggestion: bool = True


def _unaccent(values: pd.Series) -> pd.Series:
    distinct = pd.unique(values)
    plain = {s: unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii") for s in distinct}
    return values.map(plain)


# -- partner ---------------------------------------------------------------------------------------

def retrieve_partners(lines: pd.DataFrame, customers: pd.DataFrame, known_accounts: pd.DataFrame | None,
                      texts: list[pd.Series]) -> pd.Series:
    """customer_id per line (index of `lines`), None when no partner is found."""
    partner = pd.Series(None, index=lines.index, dtype=object)
    # 1. bank account held by exactly one partner
    if known_accounts is not None and len(known_accounts):
        acc = known_accounts.assign(account=known_accounts["account"].astype(str).str.upper()
                                    .str.replace(r"[^0-9A-Z]", "", regex=True))
        owners = acc.groupby("account")["customer_id"].agg(["first", "nunique"])
        owners = owners.loc[owners["nunique"] == 1, "first"]
        line_acc = lines["counterparty_account"].fillna("").astype(str).str.upper().str.replace(r"[^0-9A-Z]", "",
                                                                                                 regex=True)
        found = line_acc.map(owners)
        partner = partner.where(found.isna(), found)
    # 2. name ilike '%counterparty name%': the first partner in res.partner order
    todo = partner.isna() & (lines["counterparty_name"].fillna("").str.strip() != "")
    if todo.any() and len(customers):
        ordered = customers.assign(_key=customers["name"].str.lower(), _id=customers["customer_id"]) \
            .sort_values(["_key", "_id"], ascending=[True, False])
        names = ordered["_key"].tolist()
        ids = ordered["_id"].to_numpy()
        big = "\x00".join(names)
        starts = np.cumsum([0] + [len(n) + 1 for n in names[:-1]])
        queries = pd.unique(lines.loc[todo, "counterparty_name"].str.strip().str.lower())
        hit = {}
        for q in queries:
            pos = big.find(q)
            if pos >= 0:
                hit[q] = ids[np.searchsorted(starts, pos, side="right") - 1]
        found = lines.loc[todo, "counterparty_name"].str.strip().str.lower().map(hit)
        partner.loc[found.index] = partner.loc[found.index].where(found.isna(), found)
    # 3. every word (>= 3 chars) of a partner's name in the line's texts, unaccented
    todo = partner.isna()
    if todo.any() and len(customers):
        text = pd.concat([t.loc[todo].fillna("") for t in texts], axis=1).agg(" ".join, axis=1)
        words = _unaccent(text).str.upper().str.findall(r"\w+").explode().dropna()
        line_words = pd.DataFrame({"line": words.index, "word": words.to_numpy()}).drop_duplicates()
        cw = _unaccent(customers["name"].fillna("")).str.upper().str.findall(r"\w{3,}").explode().dropna()
        cust_words = pd.DataFrame({"cust": cw.index, "word": cw.to_numpy()}).drop_duplicates()
        if len(line_words) and len(cust_words):
            need = cust_words.groupby("cust").size()
            # block on each partner's rarest word, then check all its words
            freq = cust_words["word"].map(cust_words["word"].value_counts())
            rarest = cust_words.assign(freq=freq).sort_values(["cust", "freq"]).drop_duplicates("cust")
            pairs = rarest[["cust", "word"]].merge(line_words, on="word")[["cust", "line"]]
            if len(pairs):
                check = pairs.merge(cust_words, on="cust").merge(line_words, on=["line", "word"])
                got = check.groupby(["line", "cust"]).size()
                full = got[got.to_numpy() == need.loc[got.index.get_level_values("cust")].to_numpy()]
                first = full.reset_index().sort_values(["line", "cust"]).drop_duplicates("line")
                partner.loc[first["line"].to_numpy()] = customers["customer_id"].to_numpy()[first["cust"].to_numpy()]
    return partner


# -- tokens ----------------------------------------------------------------------------------------

def line_tokens(texts: list[pd.Series]) -> pd.DataFrame:
    """(line, token, kind) for the numerical and exact tokens of each line."""
    out = []
    for text in texts:
        text = text.fillna("").astype(str)
        split = text.str.split()
        n_tokens = split.str.len()
        exploded = split.explode().dropna()
        cleaned = exploded.str.replace(r"[^0-9a-zA-Z]", "", regex=True)
        cleaned = cleaned[cleaned.str.len() >= 4]
        digits = cleaned.str.replace(r"\D", "", regex=True)
        digits = digits[digits.str.len() >= 4]
        out.append(pd.DataFrame({"line": digits.index, "token": digits.to_numpy(), "kind": "numerical"}))
        single = n_tokens == 1
        out.append(pd.DataFrame({"line": text.index[single], "token": text[single].to_numpy(), "kind": "exact"}))
    return pd.concat(out, ignore_index=True).drop_duplicates(["line", "token"])


def item_tokens(items: pd.DataFrame) -> pd.DataFrame:
    """(item, token, hits) as the SQL UNNESTs them: digits and blanks kept, split on blanks; and the
    whole number for exact tokens. The receivable line's name and the move's name both carry the
    invoice number in Odoo, so every token counts twice; the ranking is unchanged by that."""
    ids = items["invoice_id"].astype(str)
    digits = ids.str.replace(r"[^0-9\s]", "", regex=True).str.strip().str.split().explode().dropna()
    digits = digits[digits != ""]
    numerical = pd.DataFrame({"item": digits.index, "token": digits.to_numpy()})
    exact = pd.DataFrame({"item": ids.index, "token": ids.to_numpy()})
    return pd.concat([numerical, exact], ignore_index=True).assign(hits=2)


# -- the model -------------------------------------------------------------------------------------

def match(lines: pd.DataFrame, items: pd.DataFrame, customers: pd.DataFrame,
          known_accounts: pd.DataFrame | None = None, model: OdooModel = OdooModel()) -> pd.DataFrame:
    lines = lines.reset_index(drop=True)
    items = items.reset_index(drop=True)
    label = lines["remittance"].fillna("")
    e2e = lines["end_to_end_id"].fillna("")
    ref = lines["structured_ref"].fillna("").where(lines["structured_ref"].fillna("") != "",
                                                   e2e.where(e2e.str.upper() != "NOTPROVIDED", ""))
    texts = [label, ref]
    partner = retrieve_partners(lines, customers, known_accounts, texts)

    # domain per line: sign, currency, date limit, partner
    balance_sign = np.sign(items["open_minor"].to_numpy())
    line_sign = np.sign(lines["amount_minor"].to_numpy())
    limit = lines["booking_date"] - pd.DateOffset(months=model.past_months_limit)

    def in_domain(pairs: pd.DataFrame) -> np.ndarray:
        li, it = pairs["line"].to_numpy(), pairs["item"].to_numpy()
        ok = balance_sign[it] == line_sign[li]
        ok &= items["currency"].to_numpy()[it] == lines["currency"].to_numpy()[li]
        ok &= items["doc_date"].to_numpy()[it] >= limit.to_numpy()[li]
        p = partner.to_numpy()[li]
        ok &= pd.isna(p) | (items["customer_id"].to_numpy()[it] == p)
        return ok

    tokens = line_tokens(texts)
    open_items = items[items["open_minor"] != 0]
    hits = tokens.merge(item_tokens(open_items), on="token")[["line", "item", "hits"]]
    hits = hits[in_domain(hits)]
    by_token = hits.groupby(["line", "item"], as_index=False)["hits"].sum()
    by_token["auto_ok"] = True
    lines_with_tokens = set(tokens["line"])
    # No token at all: the partner's items, or (no partner) the items of exactly the amount.
    rest = lines.index[~lines.index.isin(lines_with_tokens)]
    with_partner = rest[partner.loc[rest].notna().to_numpy()]
    no_partner = rest[partner.loc[rest].isna().to_numpy()]
    fallback = []
    if len(with_partner):
        pairs = pd.DataFrame({"line": with_partner, "customer_id": partner.loc[with_partner].to_numpy()}) \
            .merge(pd.DataFrame({"item": open_items.index, "customer_id": open_items["customer_id"].to_numpy()}),
                   on="customer_id")[["line", "item"]]
        fallback.append(pairs[in_domain(pairs)])
    if len(no_partner):
        pairs = pd.DataFrame({"line": no_partner, "amount": lines.loc[no_partner, "amount_minor"].to_numpy()}) \
            .merge(pd.DataFrame({"item": open_items.index, "amount": open_items["open_minor"].to_numpy()}),
                   on="amount")[["line", "item"]]
        fallback.append(pairs[in_domain(pairs)])
    cands = [by_token]
    if fallback:
        cands.append(pd.concat(fallback, ignore_index=True).assign(hits=0, auto_ok=False))
    cand = pd.concat(cands, ignore_index=True)
    if cand.empty:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)

    # rank: hits desc, maturity, date, id (old_first)
    it = cand["item"].to_numpy()
    cand["due"] = items["due_date"].to_numpy()[it]
    cand["date"] = items["doc_date"].to_numpy()[it]
    cand = cand.sort_values(["line", "hits", "due", "date", "item"], ascending=[True, False, True, True, True],
                            kind="stable").reset_index(drop=True)
    residual = np.abs(items["open_minor"].to_numpy()[cand["item"].to_numpy()])
    amount = np.abs(lines["amount_minor"].to_numpy()[cand["line"].to_numpy()])
    cand["residual"] = residual
    # match_batch_amls: the first exact single, else the greedy prefix while there is room
    exact = residual == amount
    first_exact = pd.Series(np.where(exact, np.arange(len(cand)), np.iinfo(np.int64).max)).groupby(cand["line"]) \
        .transform("min").to_numpy()
    before = cand.groupby("line")["residual"].cumsum().to_numpy() - residual
    greedy = before < amount
    has_exact = first_exact < np.iinfo(np.int64).max
    kept = np.where(has_exact, np.arange(len(cand)) == first_exact, greedy)
    sel = cand[kept].copy()
    sel["amount"] = np.abs(lines["amount_minor"].to_numpy()[sel["line"].to_numpy()])
    total = sel.groupby("line")["residual"].transform("sum").to_numpy()
    after = sel["amount"].to_numpy() - total        # > 0 overpaid, < 0 underpaid
    tolerated = (after >= 0) | (-after <= model.payment_tolerance_minor)
    auto = sel["auto_ok"].to_numpy() & tolerated & model.auto_reconcile
    if not model.keep_rejected_as_suggestion:
        sel, auto, after, tolerated = sel[tolerated], auto[tolerated], after[tolerated], tolerated[tolerated]
    sel["status"] = np.where(auto, "auto", "suggested")
    sel["perfect"] = after == 0
    # cash in rank order, the last kept item possibly in part
    prior = sel.groupby("line")["residual"].cumsum().to_numpy() - sel["residual"].to_numpy()
    cash = np.clip(sel["amount"].to_numpy() - prior, 0, sel["residual"].to_numpy())
    sign = np.sign(lines["amount_minor"].to_numpy()[sel["line"].to_numpy()])
    line_ids = lines["bank_line_id"].to_numpy()
    item_ids = items["invoice_id"].to_numpy()
    item_cust = items["customer_id"].to_numpy()
    rule = np.where(sel["perfect"], "odoo_perfect", "odoo_partial")
    rule = np.where(sel["auto_ok"].to_numpy(), rule, "odoo_no_token_" + rule)
    s_it = sel["item"].to_numpy()
    out = [pd.DataFrame({"bank_line_id": line_ids[sel["line"].to_numpy()], "customer_id": item_cust[s_it],
                         "invoice_id": item_ids[s_it], "amount_minor": sign * cash, "rule": rule,
                         "status": sel["status"].to_numpy()})[cash > 0]]
    last = ~sel.duplicated("line", keep="last").to_numpy()
    write_off = last & (after < 0) & tolerated
    out.append(pd.DataFrame({"bank_line_id": line_ids[sel["line"].to_numpy()[write_off]],
                             "customer_id": item_cust[s_it[write_off]], "invoice_id": item_ids[s_it[write_off]],
                             "amount_minor": (sign * -after)[write_off], "rule": "write_off",
                             "status": sel["status"].to_numpy()[write_off]}))
    over = last & (after > 0)
    out.append(pd.DataFrame({"bank_line_id": line_ids[sel["line"].to_numpy()[over]],
                             "customer_id": item_cust[s_it[over]], "invoice_id": "",
                             "amount_minor": (sign * after)[over], "rule": "on_account",
                             "status": sel["status"].to_numpy()[over]}))
    return pd.concat(out, ignore_index=True)[OUTPUT_COLUMNS]


def tokens_of(text: str) -> list[str]:
    """The numerical tokens of one text, for explanations (same rule as `line_tokens`)."""
    out = []
    for token in text.split():
        token = re.sub(r"[^0-9a-zA-Z]", "", token)
        digits = re.sub(r"\D", "", token)
        if len(token) >= 4 and len(digits) >= 4:
            out.append(digits)
    return out
