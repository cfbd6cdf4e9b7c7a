"""Disputed receivables and how long disputes take to resolve, per `as_of`.

    C1's invoices open on 2025-06-30: FA-1 600.00, FA-2 1200.00 (FA-3 is paid).
    Disputes recorded by the credit managers:
      D1  FA-1  price     opened 2025-06-02, open
      D2  FA-2  quality   opened 2025-06-20, resolved 2025-07-02 (after as_of: open on 2025-06-30)
      D3  FA-3  delivery  opened 2025-04-01, resolved 2025-05-11 (40 days)
      D4  FA-1  delivery  opened 2025-02-01, resolved 2025-03-13 (resolved more than 90 days ago)
    disputed_minor   '' 1800.00, price 600.00, quality 1200.00
    disputed_count   '' 2,       price 1,      quality 1
    dispute_resolution_days = 40.00 (D3: the only one resolved in the trailing 90 days)

A dispute is open on `as_of` when it was opened on or before it and not resolved by then
(resolved on or before `as_of`, or marked resolved with no date): the register's current
status does not hide what a past day looked like. `disputed_*` count the open disputes on
invoices still open on `as_of` (after the day's cash), with the invoice's open amount; an
invoice under two disputes counts once in the all-reasons amount. `dispute_resolution_days`
is the mean of (resolved - opened) over the disputes resolved in the trailing 90 days, in the
currency of their invoice (the ledger's, when the invoice is not in it).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from receivables.kpis.scopes import SCOPE, amounts, complete, concat, mean_days, scope_totals, with_scope

RESOLUTION_DAYS = 90
INVOICE = ["customer_id", "invoice_id"]


def invoice_currencies(rec: pd.DataFrame) -> pd.DataFrame:
    """(customer_id, invoice_id, currency) of every document of the receivable lines `rec`
    (`open_items.receivable_lines`)."""
    invoice_id = rec["piece_ref"].where(rec["piece_ref"] != "", rec["journal_code"] + "-" + rec["entry_num"])
    return (rec[["customer_id", "currency"]].assign(invoice_id=invoice_id)
            .drop_duplicates(INVOICE)[["customer_id", "invoice_id", "currency"]])


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_datetime(frame[column]) if column in frame else pd.Series(pd.NaT, index=frame.index)


def open_disputes(disputes: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    day = pd.Timestamp(as_of)
    resolved_on = _dates(disputes, "resolved_on")
    resolved = (resolved_on <= day) | (resolved_on.isna() & (disputes["status"] == "resolved"))
    return disputes[(_dates(disputes, "opened_on") <= day) & ~resolved]


def dispute_kpis(disputes: pd.DataFrame, items: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date,
                 scopes: pd.DataFrame, currencies: pd.DataFrame, default_currency: str) -> pd.DataFrame:
    """disputed_minor and disputed_count (by reason, '' = all, 0 where nothing is disputed) and
    dispute_resolution_days."""
    if disputes is None or disputes.empty:
        disputes = pd.DataFrame(columns=["dispute_id", *INVOICE, "reason_code", "status", "opened_on", "resolved_on"])
    invoices = items[(items["item_type"] == "invoice") & (items["open_minor"] > 0)]
    open_amounts = invoices.groupby(INVOICE + ["currency"], as_index=False)["open_minor"].sum()
    live = with_scope(open_disputes(disputes, as_of).merge(open_amounts, on=INVOICE), customers)
    per_reason = live.assign(breakdown=live["reason_code"])
    overall = live.assign(breakdown="")
    counted = pd.concat([per_reason, overall], ignore_index=True).assign(disputes=1)
    amounted = counted.drop_duplicates(["customer_id", "invoice_id", "currency", "breakdown"])
    totals = scope_totals(counted[SCOPE + ["breakdown", "disputes"]], ["disputes"], by=["breakdown"]).merge(
        scope_totals(amounted[SCOPE + ["breakdown", "open_minor"]], ["open_minor"], by=["breakdown"]),
        on=SCOPE + ["breakdown"], how="outer")
    totals = complete(totals, scopes, [""], ["disputes", "open_minor"])
    return concat([amounts("disputed_minor", totals, "open_minor", totals["breakdown"]),
                   amounts("disputed_count", totals, "disputes", totals["breakdown"]),
                   resolution_kpis(disputes, customers, as_of, currencies, default_currency)])


def resolution_kpis(disputes: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date, currencies: pd.DataFrame,
                    default_currency: str) -> pd.DataFrame:
    day = pd.Timestamp(as_of)
    opened, resolved = _dates(disputes, "opened_on"), _dates(disputes, "resolved_on")
    recent = (resolved <= day) & (resolved > day - pd.Timedelta(days=RESOLUTION_DAYS)) & (opened <= resolved)
    done = disputes[recent.to_numpy()].assign(days=(resolved - opened).dt.days[recent.to_numpy()], count=1)
    done = done.merge(currencies, on=INVOICE, how="left")
    done["currency"] = done["currency"].fillna(default_currency)
    done = with_scope(done, customers)
    per = scope_totals(done[SCOPE + ["days", "count"]].astype({"days": np.int64}), ["days", "count"])
    return mean_days("dispute_resolution_days", per, "days", "count")
