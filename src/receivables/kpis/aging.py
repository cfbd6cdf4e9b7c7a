"""Aged balance, DSO (countback) and overdue ratios, per `as_of`.

    Open on 2025-06-30: FA-1 1000.00 due 2025-06-10 (20 days overdue), FA-2 500.00 not yet due.
    aging(items)  ->  d1_30 1000.00, not_due 500.00, total 1500.00, overdue 1000.00
    overdue ratio = 1000 / 1500 = 0.6667; over-90 ratio = 0 / 1500 = 0

DSO by the countback method: take the receivables open on `as_of` and walk back month by month
through what was invoiced; each month fully covered adds its days, the month where the balance
runs out adds the covered fraction of its days. With 1500.00 open, 1200.00 invoiced in June
(30 days) and 900.00 in May (31 days): DSO = 30 + 31 x 300/900 = 40.33 days.

The KPI rows (`balance_kpis`, `dso_kpis`; scopes as in `kpis.scopes`):
- `ar_total_minor`: everything open, unapplied credits netted; `open_items`: their count;
- `overdue_minor`: open invoices past their due date; `overdue_ratio` = overdue / open invoices
  (credits not netted: a credit does not make an invoice less late), `over_90_ratio` the share of
  open invoices more than 90 days overdue (both 0 when no invoice is open);
- `aged_balance_minor` per bucket (breakdown not_due, d1_30, ..., over_120), credits in the
  bucket of their date: the buckets add up to ar_total_minor;
- the countback itself (`countback`), which `kpis.collection` runs for `dso_countback_days`
  (on ar_total_minor) and `best_possible_dso_days` (on the current receivables), over the sales
  (receivable debits outside opening entries) booked on or before `as_of`.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

from receivables.kpis.scopes import SCOPE, amounts, concat, empty_kpis, ratios, scope_totals, with_scope
from receivables.ledger.open_items import BUCKETS, is_opening

AGING_COLUMNS = ["customer_id", "currency", *(f"{b}_minor" for b in BUCKETS),
                 "total_minor", "overdue_minor", "open_items"]
DSO_MONTHS = 24


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


def balances(items: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Per scope (SCOPE): total, invoices, overdue, over_90, items and each bucket's `<bucket>_minor`."""
    columns = ["total", "invoices", "overdue", "over_90", "items", *(f"{b}_minor" for b in BUCKETS)]
    if items.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in SCOPE else "int64") for c in SCOPE + columns})
    scoped = with_scope(items, customers)
    invoice = (scoped["item_type"] == "invoice").to_numpy()
    open_minor = scoped["open_minor"].to_numpy(dtype=np.int64)
    late = scoped["days_overdue"].to_numpy(dtype=np.int64)
    measures = scoped[SCOPE].assign(
        total=open_minor, invoices=np.where(invoice, open_minor, 0),
        overdue=np.where(invoice & (late > 0), open_minor, 0), over_90=np.where(invoice & (late > 90), open_minor, 0),
        items=1, **{f"{b}_minor": np.where(scoped["bucket"].to_numpy() == b, open_minor, 0) for b in BUCKETS})
    return scope_totals(measures, columns)


def balance_kpis(items: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """ar_total_minor, overdue_minor, overdue_ratio, over_90_ratio, open_items, aged_balance_minor."""
    per = balances(items, customers)
    if per.empty:
        return empty_kpis()
    buckets = [amounts("aged_balance_minor", per, f"{b}_minor", b) for b in BUCKETS]
    return concat([amounts("ar_total_minor", per, "total"), amounts("overdue_minor", per, "overdue"),
                   ratios("overdue_ratio", per, "overdue", "invoices", zero_when_empty=True),
                   ratios("over_90_ratio", per, "over_90", "invoices", zero_when_empty=True),
                   amounts("open_items", per, "items"), *buckets])


def sales_lines(rec: pd.DataFrame) -> pd.DataFrame:
    """What was invoiced: the receivable debits outside opening entries of `rec`
    (`open_items.receivable_lines(lines, as_of)`: the lines booked on or before `as_of`)."""
    return rec[~is_opening(rec) & (rec["debit_minor"] > 0)]


def month_windows(as_of: dt.date, months: int = DSO_MONTHS) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The starts of the calendar months counted back from `as_of` (index 0 is `as_of` itself)
    and each month's days. Each start is computed from `as_of` (chaining a one-month step
    drifts: 30 June -> 30 May -> ...); from a month end, the previous month ends (31 May)."""
    anchor = pd.Timestamp(as_of)
    step = pd.offsets.MonthEnd if anchor.is_month_end else (lambda m: pd.DateOffset(months=m))
    edges = pd.DatetimeIndex([anchor] + [anchor - step(m) for m in range(1, months + 1)])
    return edges, -np.diff(edges.asi8) // 86_400_000_000_000


def countback(receivables: pd.DataFrame, sales: pd.DataFrame, as_of: dt.date, keys: list[str],
              column: str = "receivables_minor", months: int = DSO_MONTHS) -> list[Decimal | None]:
    """Countback days of each row of `receivables` (keys + `column`) over `sales` (keys +
    entry_date + debit_minor), in the order of `receivables`. None when nothing is open, 0 when
    customers are owed; a balance larger than `months` of sales is capped at those months' days.

    Sales are binned once into the months and cumulated per row (numpy); only the final
    fraction is Decimal."""
    edges, days = month_windows(as_of, months)
    ascending = edges[::-1].asi8
    position = np.searchsorted(ascending, sales["entry_date"].to_numpy(dtype="datetime64[ns]").astype(np.int64))
    inside = (position >= 1) & (position <= months)
    binned = sales[inside].assign(month=months - position[inside])   # 0 = the month ending on as_of
    per_month = binned.groupby(keys + ["month"], sort=False)["debit_minor"].sum()
    matrix = (per_month.unstack("month", fill_value=0).reindex(columns=range(months), fill_value=0)
              if len(per_month) else pd.DataFrame(columns=range(months)))
    index = pd.MultiIndex.from_frame(receivables[keys]) if len(keys) > 1 else pd.Index(receivables[keys[0]])
    matrix = matrix.reindex(index, fill_value=0).to_numpy(dtype=np.int64)
    covered = np.cumsum(matrix, axis=1)
    open_minor = receivables[column].to_numpy(dtype=np.int64)
    reached = covered >= open_minor[:, None]
    first = np.where(reached.any(axis=1), reached.argmax(axis=1), -1)
    full_days = np.concatenate([[0], np.cumsum(days)])
    out: list[Decimal | None] = []
    for row, (balance, month) in enumerate(zip(open_minor, first)):   # one per scope
        if balance <= 0:
            out.append(None if balance == 0 else Decimal(0))
            continue
        if month < 0:
            value = Decimal(int(full_days[-1]))
        else:
            before = int(covered[row, month - 1]) if month else 0
            value = Decimal(int(full_days[month])) + Decimal(int(days[month])) * Decimal(int(balance) - before) \
                / Decimal(int(matrix[row, month]))
        out.append(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    return out


def dso_countback(receivables_minor: int, invoiced: pd.DataFrame, as_of: dt.date,
                  max_months: int = DSO_MONTHS) -> Decimal | None:
    """Countback DSO in days for one currency (`invoiced`: entry_date, debit_minor rows)."""
    one = pd.DataFrame({"scope": [0], "receivables_minor": [receivables_minor]})
    return countback(one, invoiced.assign(scope=0), as_of, ["scope"], months=max_months)[0]


def scoped_sales(rec: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Sales per scope and day (SCOPE, entry_date, debit_minor) of the receivable lines `rec`."""
    sold = with_scope(sales_lines(rec), customers)
    return scope_totals(sold, ["debit_minor"], by=["entry_date"])

