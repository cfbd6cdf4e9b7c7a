"""Aged balance, DSO (countback) and overdue ratio, per `as_of`.

    Open on 2025-06-30: FA-1 1000.00 due 2025-06-10 (20 days overdue), FA-2 500.00 not yet due.
    aging(items)  ->  d1_30 1000.00, not_due 500.00, total 1500.00, overdue 1000.00
    overdue ratio = 1000 / 1500 = 0.6667

DSO by the countback method: take the receivables open on `as_of` and walk back month by month
through what was invoiced; each month fully covered adds its days, the month where the balance
runs out adds the covered fraction of its days. With 1500.00 open, 1200.00 invoiced in June
(30 days) and 900.00 in May (31 days): DSO = 30 + 31 x 300/900 = 40.33 days.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from receivables.ledger.open_items import BUCKETS, is_opening, receivable_lines

AGING_COLUMNS = ["customer_id", "currency", *(f"{b}_minor" for b in BUCKETS),
                 "total_minor", "overdue_minor", "open_items"]


def aging(items: pd.DataFrame) -> pd.DataFrame:
    """One row per customer and currency with the open amount of each bucket (minor units)."""
    if items.empty:
        return pd.DataFrame(columns=AGING_COLUMNS)
    pivot = items.pivot_table(index=["customer_id", "currency"], columns="bucket", values="open_minor",
                              aggfunc="sum", fill_value=0, observed=True)
    pivot = pivot.reindex(columns=list(BUCKETS), fill_value=0)
    pivot.columns = [f"{b}_minor" for b in pivot.columns]
    out = pivot.reset_index()
    keys = ["customer_id", "currency"]
    overdue = items[(items["item_type"] == "invoice") & (items["days_overdue"] > 0)]
    out = out.merge(overdue.groupby(keys)["open_minor"].sum().rename("overdue_minor").reset_index(),
                    on=keys, how="left")
    out = out.merge(items.groupby(keys).size().rename("open_items").reset_index(), on=keys, how="left")
    out["overdue_minor"] = out["overdue_minor"].fillna(0).astype("int64")
    out["total_minor"] = out[[f"{b}_minor" for b in BUCKETS]].sum(axis=1).astype("int64")
    for column in AGING_COLUMNS[2:]:
        out[column] = out[column].astype("int64")
    return out[AGING_COLUMNS]


def invoiced_per_day(lines: pd.DataFrame, as_of: dt.date, segment_of: pd.Series) -> pd.DataFrame:
    """Amounts invoiced (receivable debits outside opening entries) per segment, currency and day."""
    rec = receivable_lines(lines, as_of)
    sales = rec[~is_opening(rec) & (rec["debit_minor"] > 0)]
    sales = sales.assign(segment=sales["customer_id"].map(segment_of).fillna(""))
    return sales.groupby(["segment", "currency", "entry_date"])["debit_minor"].sum().reset_index()


def dso_countback(receivables_minor: int, invoiced: pd.DataFrame, as_of: dt.date,
                  max_months: int = 24) -> Decimal | None:
    """Countback DSO in days for one currency (`invoiced`: entry_date, debit_minor rows).

    None when there is nothing open; when the open balance exceeds all the sales of
    `max_months`, the DSO is capped at those months' days.
    """
    if receivables_minor <= 0:
        return None if receivables_minor == 0 else Decimal(0)
    remaining = Decimal(receivables_minor)
    days = Decimal(0)
    anchor = end = pd.Timestamp(as_of)
    # Calendar months back from `as_of`, each computed from `as_of` (chaining a one-month step
    # drifts: 30 June -> 30 May -> ...); from a month end, the previous month ends (31 May).
    month_end = anchor.is_month_end
    for months in range(1, max_months + 1):
        start = anchor - (pd.offsets.MonthEnd(months) if month_end else pd.DateOffset(months=months))
        in_month = invoiced[(invoiced["entry_date"] > start) & (invoiced["entry_date"] <= end)]
        sales = Decimal(int(in_month["debit_minor"].sum()))
        period_days = Decimal((end - start).days)
        if sales >= remaining and sales > 0:
            days += period_days * remaining / sales
            return days.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        days += period_days
        remaining -= sales
        end = start
    return days.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def kpis(items: pd.DataFrame, lines: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """kpi_daily rows (metric, segment, currency, value) for all customers ('') and per segment."""
    segment_of = customers.set_index("customer_id")["segment"] if len(customers) else pd.Series(dtype=object)
    items = items.assign(segment=items["customer_id"].map(segment_of).fillna(""))
    sales = invoiced_per_day(lines, as_of, segment_of)
    rows = []
    for segment in ["", *sorted(s for s in items["segment"].unique() if s)]:
        scoped = items if segment == "" else items[items["segment"] == segment]
        scoped_sales = sales if segment == "" else sales[sales["segment"] == segment]
        for currency, cur in scoped.groupby("currency"):
            total = int(cur["open_minor"].sum())
            invoices = cur[cur["item_type"] == "invoice"]
            overdue = int(invoices.loc[invoices["days_overdue"] > 0, "open_minor"].sum())
            gross = int(invoices["open_minor"].sum())
            ratio = Decimal(overdue) / Decimal(gross) if gross > 0 else Decimal(0)
            rows += [
                ("ar_total_minor", segment, currency, Decimal(total)),
                ("overdue_minor", segment, currency, Decimal(overdue)),
                ("overdue_ratio", segment, currency, ratio.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)),
                ("open_items", segment, currency, Decimal(len(cur))),
            ]
            dso = dso_countback(total, scoped_sales[scoped_sales["currency"] == currency], as_of)
            if dso is not None:
                rows.append(("dso_countback_days", segment, currency, dso))
    return pd.DataFrame(rows, columns=["metric", "segment", "currency", "value"])
