"""Reads and writes of the KPI task (`compute_kpis`): the day's inputs, and its own tables.

    >>> with engine.connect() as conn:                                           # doctest: +SKIP
    ...     frames = read_kpi_inputs(conn, as_of)          # snapshots of as_of, trailing windows
    >>> with engine.begin() as conn:                                             # doctest: +SKIP
    ...     replace_kpis(conn, as_of, kpis=..., outcomes=..., receivables=..., forecast=...,
    ...                  customers=..., days=...)

Everything read is what the wave wrote for `as_of` (open items, aged balance, predictions, risk,
cash application, call list) or for the days of a trailing window ending on it (the outbox and
the plans of the last 90 days, the auto allocations since), plus the ledger and the registers,
which the KPI functions filter by their dates. `replace_kpis` rewrites the rows of `as_of` in
kpi_daily and the facts in one transaction (a re-run or backfill rewrites that day only),
replaces dim_customer whole and adds the dim_date days it lacks.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Connection, delete, insert, select

from receivables.warehouse.db import bulk_insert
from receivables.warehouse.schema import (
    aging_snapshots,
    bank_allocations,
    bank_exceptions,
    bank_lines,
    call_list,
    collection_action_lines,
    collection_actions,
    dim_customer,
    dim_date,
    dispatch_outbox,
    fact_cash_forecast,
    fact_collection_actions,
    fact_receivables,
    invoice_predictions,
    kpi_daily,
    open_items,
    risk_scores,
)
from receivables.warehouse.store import read_customers, read_receivable_lines, read_register_table

WINDOW_DAYS = 90   # the effectiveness window (kpis.effectiveness.WINDOW_DAYS)


def _day_of(table, as_of: dt.date, *columns):  # noqa: ANN001, ANN202
    chosen = [table.c[c] for c in columns] if columns else [table]
    return select(*chosen).where(table.c.as_of == as_of)


def _window(table, as_of: dt.date, *columns):  # noqa: ANN001, ANN202
    start = as_of - dt.timedelta(days=WINDOW_DAYS)
    return select(*(table.c[c] for c in columns)).where(table.c.as_of > start, table.c.as_of <= as_of)


def _dates(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column])
    return frame


def _ints(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = frame[column].astype("int64")
    return frame


def read_kpi_inputs(conn: Connection, as_of: dt.date, *, lines: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """The frames `kpis.daily.KpiInputs` takes (by its field names), plus `aged` and `risk`;
    `lines`: the receivable lines when the caller has them (`pipeline.ledger_cache`)."""
    read = lambda query: pd.read_sql(query, conn)   # noqa: E731
    items = _ints(_dates(read(_day_of(open_items, as_of)).drop(columns="as_of"), "doc_date", "due_date"),
                  "original_minor", "open_minor", "days_overdue")
    aged = read(_day_of(aging_snapshots, as_of)).drop(columns="as_of")
    line_currency = (select(bank_allocations.c.account, bank_allocations.c.statement_id, bank_allocations.c.bank_line_id,
                            bank_allocations.c.customer_id, bank_allocations.c.status,
                            bank_lines.c.currency.label("line_currency"))
                     .join(bank_lines, (bank_lines.c.account == bank_allocations.c.account)
                           & (bank_lines.c.statement_id == bank_allocations.c.statement_id)
                           & (bank_lines.c.bank_line_id == bank_allocations.c.bank_line_id))
                     .where(bank_allocations.c.as_of == as_of))
    start = as_of - dt.timedelta(days=WINDOW_DAYS)
    applied = (select(bank_allocations.c.as_of, bank_allocations.c.customer_id, bank_allocations.c.invoice_id,
                      bank_allocations.c.amount_minor, bank_allocations.c.rule)
               .where(bank_allocations.c.status == "auto", bank_allocations.c.as_of > start,
                      bank_allocations.c.as_of <= as_of))
    return {
        "items": items,
        "aged": aged,
        "lines": read_receivable_lines(conn) if lines is None else lines,
        "customers": read_customers(conn),
        "disputes": read_register_table(conn, "disputes"),
        "promises": read_register_table(conn, "promises"),
        "outbox": read(_window(dispatch_outbox, as_of, "action_key", "as_of", "customer_id", "channel", "step_id",
                               "state")),
        "actions": _ints(read(_window(collection_actions, as_of, "as_of", "action_key", "currency", "amount_minor")),
                         "amount_minor"),
        "action_lines": _ints(read(_window(collection_action_lines, as_of, "as_of", "action_key", "customer_id",
                                           "invoice_id", "open_minor")), "open_minor"),
        "allocations": read(line_currency),
        "applied": _ints(read(applied), "amount_minor"),
        "exceptions": read(_day_of(bank_exceptions, as_of, "account", "statement_id", "bank_line_id", "currency",
                                   "reason_code", "suggested_customer_id")),
        "calls": read(_day_of(call_list, as_of, "customer_id", "currency")),
        "predictions": _ints(read(_day_of(invoice_predictions, as_of, "customer_id", "currency", "open_minor",
                                          "expected_payment_date")), "open_minor"),
        "risk": read(_day_of(risk_scores, as_of, "customer_id", "risk_class", "p_late")),
    }


def missing_days(conn: Connection, first: dt.date, last: dt.date) -> list[dt.date]:
    known = {pd.Timestamp(d).date() for (d,) in conn.execute(
        select(dim_date.c.day).where(dim_date.c.day >= first, dim_date.c.day <= last))}
    return [d.date() for d in pd.date_range(first, last, freq="D") if d.date() not in known]


def replace_kpis(conn: Connection, as_of: dt.date, *, kpis: pd.DataFrame, outcomes: pd.DataFrame,
                 receivables: pd.DataFrame, forecast: pd.DataFrame, customers: pd.DataFrame,
                 days: pd.DataFrame) -> None:
    """Replace the KPI rows and facts of `as_of`, the customer dimension; add the missing days."""
    for table in (kpi_daily, fact_receivables, fact_collection_actions, fact_cash_forecast):
        conn.execute(delete(table).where(table.c.as_of == as_of))
    if len(kpis):   # Decimal values: through SQLAlchemy's Numeric, a few thousand rows at most
        conn.execute(insert(kpi_daily), [{"as_of": as_of, **row} for row in kpis.to_dict("records")])
    day = pd.Timestamp(as_of)
    bulk_insert(conn, fact_receivables, receivables.assign(as_of=day))
    flags = [c for c in outcomes if c.startswith("paid_within_")]   # <NA> (window still running) -> NULL
    outcomes = outcomes.astype({c: object for c in flags})
    outcomes[flags] = outcomes[flags].where(outcomes[flags].notna(), None)
    bulk_insert(conn, fact_collection_actions, outcomes.assign(as_of=day))
    bulk_insert(conn, fact_cash_forecast, forecast.assign(as_of=day))
    conn.execute(delete(dim_customer))
    bulk_insert(conn, dim_customer, customers)
    bulk_insert(conn, dim_date, days)
