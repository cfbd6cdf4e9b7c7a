"""Payer profile per customer on `as_of`: how they pay, what they owe, when they usually pay.

    C1 settled 12 invoices by 2025-06-30, 9 of them late (mean 14.2 days, amount-weighted 17.9),
    3 late in the last 3 months at 25 days on average; owes 8,400.00 of which 5,100.00 overdue
    (oldest 41 days); usually pays on the 10th, a Thursday.
    -> late_share 0.75, days_late_mean 14.2, days_late_3m 25.0, trend_3m_vs_12m +10.8, ...

Built from the lettered history up to `as_of` (`invoice_history`) and the open items of
`as_of` after the day's cash (so an invoice paid this morning is not overdue). Shares and means
are over settled invoices; a customer with none has them empty (NULL), never zero.
`dispute_rate` and `broken_promise_rate` are known only where disputes and promises are
recorded (passed in by the caller), empty otherwise.

Segment: the master's, else from what was billed over the last 12 months (book currency):
under 10,000 TPE, under 100,000 PME, under 1,000,000 ETI, else GE (`segment_source` says which).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from receivables.scoring.dates import usual_payment_day
from receivables.scoring.history import settled_invoices

VOLUME_SEGMENTS = ((10_000_00, "TPE"), (100_000_00, "PME"), (1_000_000_00, "ETI"))  # minor units, else GE

PROFILE_COLUMNS = [
    "customer_id", "currency", "segment", "segment_source", "strategic",
    "invoices", "invoices_settled", "days_to_pay_mean", "days_to_pay_p25", "days_to_pay_p50",
    "days_to_pay_p75", "days_to_pay_p90", "days_late_mean", "days_late_weighted",
    "days_late_3m", "days_late_6m", "days_late_12m", "trend_3m_vs_12m",
    "late_share", "late_30_share", "partial_share", "dispute_rate", "broken_promise_rate",
    "open_minor", "overdue_minor", "overdue_items", "oldest_overdue_days",
    "usual_pay_day", "usual_pay_weekday", "billed_12m_minor",
]


def segment_from_volume(billed_minor: pd.Series) -> pd.Series:
    out = pd.Series("GE", index=billed_minor.index, dtype=object)
    for limit, name in reversed(VOLUME_SEGMENTS):
        out = out.where(billed_minor >= limit, name)
    return out


def profile_ids(history: pd.DataFrame, items: pd.DataFrame, customers: pd.DataFrame) -> pd.Index:
    """The customers that get a profile: known to the master, the history or the open items."""
    return pd.Index(sorted(set(customers["customer_id"]) | set(history["customer_id"]) | set(items["customer_id"])),
                    name="customer_id")


def payer_profiles(history: pd.DataFrame, items: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date,
                   ledger_currency: str = "EUR", disputes: pd.DataFrame | None = None,
                   promises: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per customer known to the master, the history or the open items (PROFILE_COLUMNS)."""
    cutoff = pd.Timestamp(as_of)
    ids = profile_ids(history, items, customers)
    out = pd.DataFrame(index=ids)
    out["currency"] = ledger_currency

    settled = settled_invoices(history).rename(columns={"days_late": "dl", "days_to_pay": "dtp"})
    by = settled.groupby("customer_id")
    out["invoices"] = history.groupby("customer_id").size().reindex(ids).fillna(0).astype("int64")
    out["invoices_settled"] = by.size().reindex(ids).fillna(0).astype("int64")
    out["days_to_pay_mean"] = by["dtp"].mean()
    quantiles = by["dtp"].quantile([0.25, 0.5, 0.75, 0.9]).unstack()
    for q, name in ((0.25, "p25"), (0.5, "p50"), (0.75, "p75"), (0.9, "p90")):
        out[f"days_to_pay_{name}"] = quantiles[q] if len(quantiles) else np.nan
    out["days_late_mean"] = by["dl"].mean()
    weight = settled["original_minor"].astype("float64")
    out["days_late_weighted"] = (settled["dl"] * weight).groupby(settled["customer_id"]).sum() / weight.groupby(
        settled["customer_id"]).sum()
    for days, name in ((91, "3m"), (182, "6m"), (365, "12m")):
        recent = settled[settled["settle_date"] > cutoff - pd.Timedelta(days=days)]
        out[f"days_late_{name}"] = recent.groupby("customer_id")["dl"].mean()
    out["trend_3m_vs_12m"] = out["days_late_3m"] - out["days_late_12m"]
    out["late_share"] = (settled["dl"] > 0).groupby(settled["customer_id"]).mean()
    out["late_30_share"] = (settled["dl"] > 30).groupby(settled["customer_id"]).mean()
    out["partial_share"] = settled["partial"].groupby(settled["customer_id"]).mean()
    out["dispute_rate"] = _rate(disputes, out["invoices"], "invoice_id")
    out["broken_promise_rate"] = _promise_rate(promises)

    invoices = items[items["item_type"] == "invoice"]
    overdue = invoices[invoices["days_overdue"] > 0]
    out["open_minor"] = items.groupby("customer_id")["open_minor"].sum().reindex(ids).fillna(0).astype("int64")
    out["overdue_minor"] = overdue.groupby("customer_id")["open_minor"].sum().reindex(ids).fillna(0).astype("int64")
    out["overdue_items"] = overdue.groupby("customer_id").size().reindex(ids).fillna(0).astype("int64")
    out["oldest_overdue_days"] = overdue.groupby("customer_id")["days_overdue"].max().reindex(ids).astype("Int64")

    usual = usual_payment_day(history, as_of)
    out["usual_pay_day"] = usual["day"].reindex(ids).astype("Int64")
    out["usual_pay_weekday"] = usual["weekday"].reindex(ids).astype("Int64")

    billed = history[history["doc_date"] > cutoff - pd.Timedelta(days=365)]
    out["billed_12m_minor"] = billed.groupby("customer_id")["original_minor"].sum().reindex(ids).fillna(0).astype(
        "int64")
    master = customers.set_index("customer_id") if len(customers) else pd.DataFrame(columns=["segment", "strategic"])
    segment = master["segment"].reindex(ids).fillna("")
    out["segment_source"] = np.where(segment != "", "master", "volume")
    out["segment"] = segment.where(segment != "", segment_from_volume(out["billed_12m_minor"]))
    out["strategic"] = master["strategic"].reindex(ids).eq(True)
    return out.reset_index()[PROFILE_COLUMNS]


def _rate(disputes: pd.DataFrame | None, invoices: pd.Series, key: str) -> pd.Series:
    """Disputed invoices / invoices, where disputes are recorded (else empty)."""
    if disputes is None:
        return pd.Series(np.nan, index=invoices.index)
    disputed = disputes.groupby("customer_id")[key].nunique().reindex(invoices.index).fillna(0)
    return (disputed / invoices.where(invoices > 0)).astype("float64")


def _promise_rate(promises: pd.DataFrame | None) -> pd.Series | float:
    """Broken promises / judged promises (status 'kept' or 'broken'), where promises are recorded."""
    if promises is None or promises.empty:
        return np.nan
    judged = promises[promises["status"].isin(["kept", "broken"])]
    return (judged["status"] == "broken").groupby(judged["customer_id"]).mean()
