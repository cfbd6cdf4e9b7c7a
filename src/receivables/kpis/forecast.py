"""Expected receipts per week, from the day's payment predictions.

    as_of 2025-06-30 (a Monday). Predictions of that day (invoice_predictions):
      FA-1 600.00 expected 2025-07-03, FA-2 1200.00 expected 2025-07-08,
      FA-3 300.00 expected 2025-09-15 (beyond the 8 weeks)
    cash_forecast_minor: 2025-06-30 600.00, 2025-07-07 1200.00, 2025-07-14 ... 2025-08-18 0.00

Eight weeks, each named by its Monday (ISO date), from the week of `as_of` on; an invoice's
open amount counts in the week of its expected payment date (a business day after `as_of`, see
`scoring.dates`). Amounts are the invoices' open amounts in their currency after the day's cash.
Every week gets a row, 0 when nothing is expected.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from receivables.kpis.scopes import SCOPE, amounts, complete, scope_totals, with_scope

WEEKS = 8


def week_starts(as_of: dt.date, weeks: int = WEEKS) -> list[pd.Timestamp]:
    monday = pd.Timestamp(as_of) - pd.Timedelta(days=as_of.weekday())
    return [monday + pd.Timedelta(weeks=k) for k in range(weeks)]


def weekly_receipts(predictions: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date,
                    scopes: pd.DataFrame) -> pd.DataFrame:
    """SCOPE + week_start + expected: what each scope expects to collect each of the 8 weeks."""
    weeks = week_starts(as_of)
    expected = pd.to_datetime(predictions["expected_payment_date"])
    week = expected - pd.to_timedelta(expected.dt.weekday, unit="D")
    inside = (week >= weeks[0]) & (week <= weeks[-1])
    frame = with_scope(predictions[inside.to_numpy()], customers).assign(
        week_start=week[inside].dt.normalize(), expected=predictions.loc[inside.to_numpy(), "open_minor"])
    per = scope_totals(frame[SCOPE + ["week_start", "expected"]], ["expected"], by=["week_start"])
    per = complete(per, scopes, weeks, ["expected"], by="week_start")
    return per.sort_values(SCOPE + ["week_start"]).reset_index(drop=True)


def cash_forecast_kpis(per: pd.DataFrame) -> pd.DataFrame:
    return amounts("cash_forecast_minor", per, "expected", pd.to_datetime(per["week_start"]).dt.strftime("%Y-%m-%d"))
