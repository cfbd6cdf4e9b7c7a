"""All the KPIs of one business date, from what the warehouse holds for it.

    result = daily_kpis(KpiInputs(items=..., lines=..., customers=..., outbox=..., ...), as_of)
    result.kpis       # kpi_daily rows: metric, segment, currency, collector, breakdown, value (Decimal)
    result.outcomes   # the actions the effectiveness ratios measured (fact_collection_actions)
    result.weekly     # expected receipts per scope and week (fact_cash_forecast, cash_forecast_minor)

Each module computes one concept (`aging`, `collection`, `disputes`, `effectiveness`,
`cash_application`, `forecast`) for every scope of `kpis.scopes`. Nothing here reads the clock or
a database: the caller hands in the day's snapshots and the ledger, and every figure is the one
`as_of` would have shown (lines booked and lettered on or before it, registers by their dates).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from receivables.kpis import aging, cash_application, collection, disputes, effectiveness, forecast
from receivables.kpis.scopes import KPI_COLUMNS, SCOPE, concat
from receivables.ledger.open_items import receivable_lines


def _frame(*columns: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


@dataclass
class KpiInputs:
    items: pd.DataFrame                      # open items of as_of after the day's cash (open_items)
    lines: pd.DataFrame                      # the receivable ledger lines (LINE_COLUMNS)
    customers: pd.DataFrame                  # the master: customer_id, segment, collector, ...
    disputes: pd.DataFrame | None = None     # the registers, as recorded
    promises: pd.DataFrame | None = None
    outbox: pd.DataFrame = field(default_factory=lambda: _frame(
        "action_key", "as_of", "customer_id", "channel", "step_id", "state"))
    actions: pd.DataFrame = field(default_factory=lambda: _frame("as_of", "action_key", "currency", "amount_minor"))
    action_lines: pd.DataFrame = field(default_factory=lambda: _frame(
        "as_of", "action_key", "customer_id", "invoice_id", "open_minor"))
    allocations: pd.DataFrame = field(default_factory=lambda: _frame(   # the day's, with the line's currency
        "account", "statement_id", "bank_line_id", "customer_id", "status", "line_currency"))
    applied: pd.DataFrame = field(default_factory=lambda: _frame(       # auto allocations up to as_of
        "as_of", "customer_id", "invoice_id", "amount_minor", "rule"))
    exceptions: pd.DataFrame = field(default_factory=lambda: _frame(
        "account", "statement_id", "bank_line_id", "currency", "reason_code", "suggested_customer_id"))
    calls: pd.DataFrame = field(default_factory=lambda: _frame("customer_id", "currency"))
    predictions: pd.DataFrame = field(default_factory=lambda: _frame(
        "customer_id", "currency", "open_minor", "expected_payment_date"))
    ledger_currency: str = "EUR"
    default_terms_days: int = 30


@dataclass
class DailyKpis:
    kpis: pd.DataFrame
    outcomes: pd.DataFrame
    weekly: pd.DataFrame


def settled_invoices(inputs: KpiInputs, as_of: dt.date) -> pd.DataFrame:
    """(customer_id, invoice_id, paid_on) of the invoices the ledger shows settled on `as_of`."""
    from receivables.scoring.history import invoice_history

    history = invoice_history(inputs.lines, inputs.customers, as_of, inputs.default_terms_days)
    settled = history[history["settle_date"].notna()]
    return settled[["customer_id", "invoice_id"]].assign(paid_on=settled["settle_date"])


def daily_kpis(inputs: KpiInputs, as_of: dt.date) -> DailyKpis:
    customers = inputs.customers
    per = aging.balances(inputs.items, customers)
    scopes = per[SCOPE]
    rec = receivable_lines(inputs.lines, as_of)   # booked on or before as_of, with their customer
    sales = aging.scoped_sales(rec, customers)
    sent = inputs.outbox["state"].isin(effectiveness.SENT_STATES).any()
    settled = settled_invoices(inputs, as_of) if sent else _frame("customer_id", "invoice_id", "paid_on")
    outcomes = effectiveness.action_outcomes(inputs.outbox, inputs.actions, inputs.action_lines, settled,
                                             inputs.applied, as_of)
    weekly = forecast.weekly_receipts(inputs.predictions, customers, as_of, scopes)
    currencies = disputes.invoice_currencies(rec)
    rows = concat([
        aging.balance_kpis(inputs.items, customers),
        collection.days_sales_kpis(per, sales, as_of),
        collection.cei_kpis(per, collection.window_flows(rec, customers, as_of)),
        disputes.dispute_kpis(inputs.disputes, inputs.items, customers, as_of, scopes, currencies,
                              inputs.ledger_currency),
        effectiveness.promise_kpis(inputs.promises, customers, as_of),
        effectiveness.reminders_sent_kpis(outcomes, customers, as_of, scopes),
        effectiveness.paid_within_kpis(outcomes, customers),
        cash_application.cash_application_kpis(inputs.allocations, inputs.exceptions, customers, scopes),
        effectiveness.call_list_kpis(inputs.calls, customers, scopes),
        forecast.cash_forecast_kpis(weekly),
    ])
    rows = rows.sort_values(KPI_COLUMNS[:5], kind="stable").reset_index(drop=True)
    return DailyKpis(kpis=rows, outcomes=outcomes, weekly=weekly)
