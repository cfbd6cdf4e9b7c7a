"""Fact and dimension rows for BI tools: the day's KPIs at the grain a pivot table wants.

    dim_customer      C001 PME FR fr domestic false        (no name, email, phone or address)
    dim_date          2025-06-30 2025-W27 6 2 2025 true
    fact_receivables  2025-06-30 C001 EUR  not_due 1200.00 ... overdue 600.00, disputed 600.00, high, 0.71
    fact_cash_forecast 2025-06-30 2025-07-07 PME EUR 1200.00

Each fact carries `as_of`, so a BI tool filters on a day and sums: the per-customer rows of
fact_receivables add up to the kpi_daily amounts of that day, fact_cash_forecast to
cash_forecast_minor (all collectors). fact_collection_actions is `effectiveness.action_outcomes`.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from receivables.calendar import is_business_day
from receivables.kpis.disputes import open_disputes
from receivables.ledger.open_items import BUCKETS

DIM_CUSTOMER_COLUMNS = ["customer_id", "segment", "country", "language", "collector", "strategic"]
FACT_RECEIVABLE_COLUMNS = ["customer_id", "currency", *(f"{b}_minor" for b in BUCKETS), "total_minor",
                           "overdue_minor", "disputed_minor", "risk_class", "p_late"]


def dim_customer(customers: pd.DataFrame) -> pd.DataFrame:
    out = customers.reindex(columns=DIM_CUSTOMER_COLUMNS)
    for column in ("segment", "country", "language", "collector"):
        out[column] = out[column].fillna("").astype(str)
    out["strategic"] = out["strategic"].fillna(False).astype(bool)
    return out.drop_duplicates("customer_id").reset_index(drop=True)


def dim_date(first: dt.date, last: dt.date, country: str) -> pd.DataFrame:
    days = pd.date_range(first, last, freq="D")
    iso = days.isocalendar()
    return pd.DataFrame({
        "day": days,
        "iso_week": iso["year"].astype(str).to_numpy() + "-W" + iso["week"].astype(str).str.zfill(2).to_numpy(),
        "month": days.month, "quarter": days.quarter, "year": days.year,
        # one look-up per calendar day (a few hundred), holidays cached per year
        "is_business_day": [is_business_day(d.date(), country) for d in days],
    })


def fact_receivables(aged: pd.DataFrame, items: pd.DataFrame, disputes: pd.DataFrame | None, risk: pd.DataFrame,
                     as_of: dt.date) -> pd.DataFrame:
    """The aged balance of each customer and currency (`aging.aging`), with its disputed amount
    (open invoices under an open dispute) and the customer's risk class and p_late of the day."""
    keys = ["customer_id", "currency"]
    out = aged.copy()
    if disputes is not None and len(disputes):
        live = open_disputes(disputes, as_of)[["customer_id", "invoice_id"]].drop_duplicates()
        invoices = items[(items["item_type"] == "invoice") & (items["open_minor"] > 0)]
        disputed = invoices.merge(live, on=["customer_id", "invoice_id"]).groupby(keys)["open_minor"].sum()
        out = out.join(disputed.rename("disputed_minor"), on=keys)
    out["disputed_minor"] = out.get("disputed_minor", pd.Series(0, index=out.index)).fillna(0).astype("int64")
    scored = risk.drop_duplicates("customer_id").set_index("customer_id") if len(risk) else None
    out["risk_class"] = out["customer_id"].map(scored["risk_class"]).fillna("") if scored is not None else ""
    out["p_late"] = out["customer_id"].map(scored["p_late"]).astype(float) if scored is not None else None
    return out[FACT_RECEIVABLE_COLUMNS].reset_index(drop=True)


def fact_cash_forecast(weekly: pd.DataFrame) -> pd.DataFrame:
    """Per segment ('' = all) and currency, all collectors (`forecast.weekly_receipts`)."""
    rows = weekly[weekly["collector"] == ""]
    return pd.DataFrame({"week_start": pd.to_datetime(rows["week_start"]), "segment": rows["segment"],
                         "currency": rows["currency"], "expected_minor": rows["expected"].astype("int64")})
