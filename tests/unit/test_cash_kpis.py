"""The day's cash application rate and the weekly cash forecast."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd

from receivables.kpis.cash_application import cash_application_kpis
from receivables.kpis.forecast import cash_forecast_kpis, weekly_receipts

AS_OF = dt.date(2025, 6, 30)   # a Monday
MASTER = pd.DataFrame({"customer_id": ["C1", "C2"], "segment": ["PME", "GE"], "collector": ["domestic", ""]})
EVERYONE = pd.DataFrame({"segment": [""], "collector": [""], "currency": ["EUR"]})


def figures(rows: pd.DataFrame, segment: str = "") -> dict:
    return {(r.metric, r.breakdown): r.value for r in rows.itertuples(index=False)
            if r.segment == segment and r.collector == ""}


def test_the_worked_example_half_of_the_days_receipts_applied_themselves():
    allocations = pd.DataFrame({
        "account": "FR76", "statement_id": "S1", "bank_line_id": ["B1", "B2", "B3", "B3"],
        "customer_id": ["C1", "C2", "C1", "C1"], "status": ["auto", "auto", "suggested", "suggested"],
        "line_currency": "EUR"})   # B3: two suggested allocations, still one bank line
    exceptions = pd.DataFrame({"account": "FR76", "statement_id": "S1", "bank_line_id": ["B4", "B5"],
                               "currency": "EUR", "reason_code": ["unidentified", "not_a_receipt"],
                               "suggested_customer_id": ""})
    rows = cash_application_kpis(allocations, exceptions, MASTER, EVERYONE)
    assert figures(rows) == {("auto_match_ratio", ""): Decimal("0.5000"), ("unmatched_bank_lines", ""): Decimal(1)}
    # C1's (PME) lines: B1 auto, B3 suggested; the unidentified payer B4 belongs to no segment.
    assert figures(rows, "PME") == {("auto_match_ratio", ""): Decimal("0.5000"),
                                    ("unmatched_bank_lines", ""): Decimal(0)}


def test_a_day_without_receipts_has_no_match_ratio_and_no_unmatched_line():
    nothing = pd.DataFrame(columns=["account", "statement_id", "bank_line_id", "customer_id", "status", "line_currency"])
    none = pd.DataFrame(columns=["account", "statement_id", "bank_line_id", "currency", "reason_code",
                                 "suggested_customer_id"])
    assert figures(cash_application_kpis(nothing, none, MASTER, EVERYONE)) == {("unmatched_bank_lines", ""): Decimal(0)}


def test_the_worked_example_forecast_puts_each_open_invoice_in_the_week_it_is_expected():
    predictions = pd.DataFrame({"customer_id": ["C1", "C2", "C1"], "currency": "EUR",
                                "open_minor": [60000, 120000, 30000],
                                "expected_payment_date": pd.to_datetime(["2025-07-03", "2025-07-08", "2025-09-15"]).date})
    weekly = weekly_receipts(predictions, MASTER, AS_OF, EVERYONE)
    value = figures(cash_forecast_kpis(weekly))
    assert list(value) == [("cash_forecast_minor", d) for d in (
        "2025-06-30", "2025-07-07", "2025-07-14", "2025-07-21", "2025-07-28", "2025-08-04", "2025-08-11", "2025-08-18")]
    assert value[("cash_forecast_minor", "2025-06-30")] == Decimal(60000)
    assert value[("cash_forecast_minor", "2025-07-07")] == Decimal(120000)
    assert sum(value.values()) == Decimal(180000)   # FA-3, expected in September, is beyond the 8 weeks
    per_collector = weekly[(weekly["collector"] == "domestic") & (weekly["segment"] == "")]
    assert per_collector["expected"].tolist() == [60000] + [0] * 7
