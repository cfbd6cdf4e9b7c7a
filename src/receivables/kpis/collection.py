"""How well receivables are collected: DSO, best possible DSO, ADD and CEI, per `as_of`.

    Customer C1 on 2025-06-30 (30-day terms):
      FA-1 1000.00 invoiced 2025-05-11, due 2025-06-10; 400.00 of it paid 2025-06-20
      FA-2 1200.00 invoiced 2025-06-15, due 2025-07-15
    open: FA-1 600.00 (20 days overdue), FA-2 1200.00 (current): total 1800.00, overdue 600.00

    DSO (countback of 1800.00)        = 30 (June's 1200.00) + 31 x 600/1000 (May)  = 48.60 days
    best possible DSO (of 1200.00)    = 30 x 1200/1200                            = 30.00 days
    ADD = DSO - best possible DSO     =                                             18.60 days
    CEI over (2025-05-31, 2025-06-30]: opening receivables 1000.00, credit sales 1200.00,
        closing total 1800.00, closing current 1200.00
        = (1000 + 1200 - 1800) / (1000 + 1200 - 1200) = 400 / 1000             = 0.4000

Definitions, all as the ledger stood on `as_of` (lines booked, and lettered, on or before it),
after the day's cash (the open items `compute_aging` snapshots):
- current receivables = total receivables less the overdue invoices (the invoices not yet due,
  net of unapplied credits), so that total = current + overdue and ADD is never negative;
- best possible DSO = the countback (see `kpis.aging`) of the current receivables: the DSO the
  portfolio would have if every customer paid on its due date;
- ADD (average days delinquent) = DSO - best possible DSO;
- CEI (collection effectiveness index) over the trailing `CEI_DAYS` days (as_of - 30, as_of]:
  (opening + credit sales - closing total) / (opening + credit sales - closing current), where
  opening = the receivable balance booked on or before as_of - 30 (plus opening entries dated
  in the window: balances carried forward are not sales), credit sales = receivable debits in
  the window outside opening entries. The numerator is what was collected (or credited) in the
  window (payments, credit notes, and the day's cash not booked yet), the denominator that plus
  what is still overdue, so CEI is in [0, 1] (a negative numerator, which only a ledger booking
  more to receivables than it invoiced could give, counts as 0). No row when nothing was
  collectable.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd

from receivables.kpis.aging import countback
from receivables.kpis.scopes import SCOPE, concat, kpi_rows, ratios, scope_totals, with_scope
from receivables.ledger.open_items import is_opening

CEI_DAYS = 30


def days_sales_kpis(per: pd.DataFrame, sales: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """dso_countback_days, best_possible_dso_days and add_days of each scope of `per`
    (`aging.balances`) over `sales` (`aging.scoped_sales`); none for a scope with nothing open."""
    receivables = per[SCOPE].assign(total=per["total"], current=per["total"] - per["overdue"])
    dso = countback(receivables, sales, as_of, SCOPE, column="total")
    best = countback(receivables, sales, as_of, SCOPE, column="current")
    found = np.array([d is not None for d in dso], dtype=bool)
    dso_days = [d for d in dso if d is not None]
    best_days = [b if b is not None else Decimal("0.00") for b, f in zip(best, found) if f]
    scoped = per[found]
    return concat([kpi_rows("dso_countback_days", scoped, dso_days),
                   kpi_rows("best_possible_dso_days", scoped, best_days),
                   kpi_rows("add_days", scoped, [d - b for d, b in zip(dso_days, best_days)])])


def window_flows(rec: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date, days: int = CEI_DAYS) -> pd.DataFrame:
    """Per scope: `opening` (receivable balance at the window's start) and `sales` in the window,
    from `rec` (`open_items.receivable_lines(lines, as_of)`: the lines booked on or before `as_of`)."""
    if rec.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in SCOPE else "int64") for c in SCOPE + ["opening", "sales"]})
    start = pd.Timestamp(as_of) - pd.Timedelta(days=days)
    carried = (rec["entry_date"] <= start).to_numpy() | is_opening(rec).to_numpy()
    debit = rec["debit_minor"].to_numpy(dtype=np.int64)
    amount = debit - rec["credit_minor"].to_numpy(dtype=np.int64)
    flows = with_scope(rec[["customer_id", "currency"]], customers).assign(
        opening=np.where(carried, amount, 0), sales=np.where(carried, 0, debit))
    return scope_totals(flows, ["opening", "sales"])


def cei_kpis(per: pd.DataFrame, flows: pd.DataFrame) -> pd.DataFrame:
    """cei_ratio per scope from `aging.balances` (closing) and `window_flows` (opening, sales)."""
    both = flows.merge(per[SCOPE + ["total", "overdue"]], on=SCOPE, how="outer").fillna(
        {"opening": 0, "sales": 0, "total": 0, "overdue": 0})
    collected = (both["opening"] + both["sales"] - both["total"]).astype("int64").clip(lower=0)
    both = both.assign(collected=collected, collectable=collected + both["overdue"].astype("int64"))
    return ratios("cei_ratio", both, "collected", "collectable")
