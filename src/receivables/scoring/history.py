"""What the ledger says about how each invoice was paid, as it stood on `as_of`.

    Customer C1, 30-day terms: FA-1 1200.00 issued 2025-03-01 (due 2025-03-31), paid
    2025-04-10 and lettered with the payment on 2025-04-12.
    invoice_history(lines, customers, as_of=2025-06-30)
        -> FA-1 settled 2025-04-10, days_late 10, days_to_pay 40, open 0
    invoice_history(lines, customers, as_of=2025-04-11)
        -> FA-1 open 1200.00, not settled (the lettering is dated 2025-04-12): censored

An invoice is settled on `as_of` when its lines are lettered on or before `as_of` and nothing
of it is left open; its settlement date is the date of the last credit (payment or credit
note) of its lettering group, else the lettering date. Only lettering tells which payment paid
which invoice: a ledger without lettering has no settled invoices, so no payment history.
An invoice whose group holds more credits than invoices was paid in instalments (`partial`).
`known_settled` is when the books showed it settled: its lettering date (often days after the
payment). Days late count from the payment; what was known on a past day counts from the lettering.

Invoices dated before the ledger's first non-opening entry came in through the opening entries
(carried forward because they were still open): their earlier history is not in the file, so
`in_history_window` is False for them and the model does not learn from them.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from receivables.ledger.open_items import due_dates, is_opening, receivable_lines_open

INVOICE_HISTORY_COLUMNS = [
    "customer_id", "invoice_id", "currency", "doc_date", "due_date", "original_minor", "open_minor",
    "settle_date", "known_settled", "partial", "in_history_window",
]


def invoice_history(lines: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date,
                    default_terms_days: int = 30, *, lines_open: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per invoice booked on or before `as_of` (INVOICE_HISTORY_COLUMNS), with its
    settlement date when it was settled by then (NaT otherwise). `lines_open`: as open_items'."""
    rec = receivable_lines_open(lines, as_of) if lines_open is None else lines_open
    if rec.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _DTYPES.items()})
    rec = rec.assign(opening=is_opening(rec))
    # The last credit of each lettering group (lettered on as_of) is when the group was settled.
    lettered = rec[rec["lettered"]]
    credits = lettered[lettered["credit_minor"] > 0]
    keys = ["customer_id", "let_code"]
    group = lettered.assign(is_debit=lettered["debit_minor"] > 0).groupby(keys).agg(
        let_day=("let_day", "max"), debits=("is_debit", "sum"))
    group["last_credit"] = credits.groupby(keys)["entry_date"].max()
    group["credits"] = credits.groupby(keys).size()
    group["credits"] = group["credits"].fillna(0)
    group["settled_on"] = group["last_credit"].fillna(group["let_day"])
    group["instalments"] = group["credits"] > group["debits"]

    debits = rec[rec["item_type"] == "invoice"]
    debits = debits.join(group[["settled_on", "instalments"]], on=keys)
    debits["original"] = debits["amount"]
    invoices = (
        debits.groupby(["customer_id", "invoice_id", "currency"], sort=False)
        .agg(doc_date=("doc_date", "min"), source_due=("due_date", "max"), original_minor=("original", "sum"),
             open_minor=("open", "sum"), settled_on=("settled_on", "max"), let_day=("let_day", "max"),
             lettered=("lettered", "all"), partial=("instalments", "any"), opening=("opening", "all"))
        .reset_index()
    )
    invoices["due_date"] = due_dates(invoices, customers, default_terms_days)
    settled = invoices["lettered"] & (invoices["open_minor"] <= 0)
    invoices["settle_date"] = invoices["settled_on"].where(settled)
    invoices["known_settled"] = invoices[["let_day", "settled_on"]].max(axis=1).where(settled)
    invoices["partial"] = invoices["partial"].fillna(False).astype(bool) & settled
    sales = rec[(rec["item_type"] == "invoice") & ~rec["opening"]]
    window_start = sales["entry_date"].min() if len(sales) else pd.NaT
    invoices["in_history_window"] = ~invoices["opening"] & (invoices["doc_date"] >= window_start)
    out = invoices[INVOICE_HISTORY_COLUMNS].copy()
    out["open_minor"] = out["open_minor"].clip(lower=0).astype("int64")
    out["original_minor"] = out["original_minor"].astype("int64")
    return out.sort_values(["customer_id", "doc_date", "invoice_id"], kind="stable").reset_index(drop=True)


_DTYPES = {
    "customer_id": "object", "invoice_id": "object", "currency": "object", "doc_date": "datetime64[ns]",
    "due_date": "datetime64[ns]", "original_minor": "int64", "open_minor": "int64",
    "settle_date": "datetime64[ns]", "known_settled": "datetime64[ns]", "partial": "bool",
    "in_history_window": "bool",
}


def settled_invoices(history: pd.DataFrame) -> pd.DataFrame:
    """The settled invoices of `history` with `days_late` (payment - due date) and `days_to_pay`
    (payment - document date), in days (float)."""
    settled = history[history["settle_date"].notna()]
    return settled.assign(days_late=(settled["settle_date"] - settled["due_date"]).dt.days.astype("float64"),
                          days_to_pay=(settled["settle_date"] - settled["doc_date"]).dt.days.astype("float64"))
