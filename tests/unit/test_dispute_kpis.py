"""Disputed receivables and resolution times, as they stood on the as-of date."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd

from receivables.kpis.disputes import dispute_kpis

AS_OF = dt.date(2025, 6, 30)
MASTER = pd.DataFrame({"customer_id": ["C1"], "segment": ["PME"], "collector": ["domestic"]})


def open_invoices(*rows: tuple[str, int]) -> pd.DataFrame:
    """C1's open invoices (invoice_id, open cents) in EUR."""
    return pd.DataFrame({"customer_id": "C1", "invoice_id": [i for i, _ in rows], "currency": "EUR",
                         "item_type": "invoice", "open_minor": [c for _, c in rows]})


def register(*rows: tuple) -> pd.DataFrame:
    """(dispute_id, invoice_id, reason_code, status, opened_on, resolved_on)"""
    frame = pd.DataFrame(rows, columns=["dispute_id", "invoice_id", "reason_code", "status", "opened_on", "resolved_on"])
    frame["customer_id"] = "C1"
    for column in ("opened_on", "resolved_on"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


CURRENCIES = pd.DataFrame({"customer_id": "C1", "invoice_id": ["FA-1", "FA-2", "FA-3"], "currency": "EUR"})


def figures(rows: pd.DataFrame, collector: str = "") -> dict:
    return {(r.metric, r.breakdown): r.value for r in rows.itertuples(index=False)
            if r.segment == "" and r.collector == collector}


def test_the_worked_example_open_disputed_amounts_by_reason_and_the_mean_resolution_time():
    # Open on 2025-06-30: FA-1 600.00, FA-2 1200.00 (FA-3 is paid).
    disputes = register(
        ("D1", "FA-1", "price", "open", "2025-06-02", None),
        ("D2", "FA-2", "quality", "resolved", "2025-06-20", "2025-07-02"),   # resolved after as_of: open then
        ("D3", "FA-3", "delivery", "resolved", "2025-04-01", "2025-05-11"),  # 40 days
        ("D4", "FA-1", "delivery", "resolved", "2025-02-01", "2025-03-13"),  # more than 90 days ago
    )
    rows = dispute_kpis(disputes, open_invoices(("FA-1", 60000), ("FA-2", 120000)), MASTER, AS_OF,
                        pd.DataFrame(columns=["segment", "collector", "currency"]), CURRENCIES, "EUR")
    value = figures(rows)
    assert value[("disputed_minor", "")] == Decimal(180000)
    assert value[("disputed_minor", "price")] == Decimal(60000)
    assert value[("disputed_minor", "quality")] == Decimal(120000)
    assert value[("disputed_count", "")] == Decimal(2)
    assert value[("disputed_count", "price")] == value[("disputed_count", "quality")] == Decimal(1)
    assert value[("dispute_resolution_days", "")] == Decimal("40.00")
    assert ("disputed_minor", "delivery") not in value
    assert figures(rows, "domestic") == value   # C1 is the collector's only customer


def test_an_invoice_under_two_disputes_counts_once_in_the_amount_and_twice_in_the_count():
    disputes = register(("D1", "FA-1", "price", "open", "2025-06-02", None),
                        ("D2", "FA-1", "quality", "investigating", "2025-06-05", None))
    value = figures(dispute_kpis(disputes, open_invoices(("FA-1", 60000)), MASTER, AS_OF,
                                 pd.DataFrame(columns=["segment", "collector", "currency"]), CURRENCIES, "EUR"))
    assert value[("disputed_minor", "")] == Decimal(60000)
    assert value[("disputed_count", "")] == Decimal(2)
    assert value[("disputed_minor", "price")] == value[("disputed_minor", "quality")] == Decimal(60000)


def test_a_portfolio_without_disputes_shows_zero_disputed_for_every_scope():
    scopes = pd.DataFrame({"segment": ["", "PME"], "collector": ["", ""], "currency": ["EUR", "EUR"]})
    rows = dispute_kpis(None, open_invoices(("FA-1", 60000)), MASTER, AS_OF, scopes, CURRENCIES, "EUR")
    assert sorted((r.metric, r.segment, r.breakdown, r.value) for r in rows.itertuples(index=False)) == [
        ("disputed_count", "", "", Decimal(0)), ("disputed_count", "PME", "", Decimal(0)),
        ("disputed_minor", "", "", Decimal(0)), ("disputed_minor", "PME", "", Decimal(0))]


def test_a_past_date_sees_the_disputes_open_then_and_a_resolved_one_without_date_is_closed():
    disputes = register(("D1", "FA-1", "price", "resolved", "2025-06-02", "2025-06-20"),
                        ("D2", "FA-2", "other", "resolved", "2025-06-02", None))
    invoices = open_invoices(("FA-1", 60000), ("FA-2", 120000))
    empty = pd.DataFrame(columns=["segment", "collector", "currency"])
    before = figures(dispute_kpis(disputes, invoices, MASTER, dt.date(2025, 6, 10), empty, CURRENCIES, "EUR"))
    assert before[("disputed_minor", "")] == Decimal(60000)   # D1 was open on 10 June; D2 has no date
    assert ("dispute_resolution_days", "") not in before
    everyone = pd.DataFrame({"segment": [""], "collector": [""], "currency": ["EUR"]})
    after = figures(dispute_kpis(disputes, invoices, MASTER, AS_OF, everyone, CURRENCIES, "EUR"))
    assert after[("disputed_minor", "")] == Decimal(0)   # nothing disputed: a 0 row for the portfolio's scopes
    assert after[("dispute_resolution_days", "")] == Decimal("18.00")
