"""DSO, best possible DSO, ADD and CEI of small AR documents, per segment and per collector."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd

from ar_documents import ledger, line
from receivables.kpis.aging import balances, countback, dso_countback, scoped_sales
from receivables.kpis.collection import cei_kpis, days_sales_kpis, window_flows
from receivables.kpis.scopes import expand, scope_totals
from receivables.ledger.open_items import open_items, receivable_lines
from receivables.ledger.schema import CUSTOMER_COLUMNS, conform

AS_OF = dt.date(2025, 6, 30)


def customers(*rows: tuple[str, str, str]) -> pd.DataFrame:
    """(customer_id, segment, collector); 30-day terms (the default) for everyone."""
    return conform(pd.DataFrame([{"customer_id": c, "segment": s, "collector": k} for c, s, k in rows]),
                   CUSTOMER_COLUMNS)


def book() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The collection module's worked example, plus a second customer without a collector:
    C1 (PME, collector 'domestic'): FA-1 1000.00 of 2025-05-11 (due 2025-06-10), 400.00 of it
      paid 2025-06-20 (lettered partially: 600.00 still open); FA-2 1200.00 of 2025-06-15 (due 2025-07-15).
    C2 (GE, no collector): FA-9 500.00 of 2025-06-01 (due 2025-07-01), unpaid."""
    lines = ledger(
        line("VE", "1", "2025-05-11", "C1", "FA-1", debit=100000, let="A", let_date="2025-06-20"),
        line("BQ", "2", "2025-06-20", "C1", "VIR-2", credit=40000, let="A", let_date="2025-06-20"),
        line("VE", "3", "2025-06-15", "C1", "FA-2", debit=120000),
        line("VE", "4", "2025-06-01", "C2", "FA-9", debit=50000),
    )
    return lines, customers(("C1", "PME", "domestic"), ("C2", "GE", ""))


def figures(rows: pd.DataFrame) -> dict:
    return {(r.metric, r.segment, r.collector): r.value for r in rows.itertuples(index=False)}


def test_scopes_count_a_customer_without_collector_in_the_all_collectors_rows_only():
    # Open (EUR): C1 (PME, domestic) 100.00, C2 (GE, key_accounts) 300.00, C3 (PME, nobody) 50.00.
    frame = pd.DataFrame({"segment": ["PME", "GE", "PME"], "collector": ["domestic", "key_accounts", ""],
                          "currency": "EUR", "open": [10000, 30000, 5000]})
    per = scope_totals(frame, ["open"])
    totals = {(r.segment, r.collector): r.open for r in per.itertuples(index=False)}
    assert totals == {("", ""): 45000, ("PME", ""): 15000, ("GE", ""): 30000, ("", "domestic"): 10000,
                      ("", "key_accounts"): 30000, ("PME", "domestic"): 10000, ("GE", "key_accounts"): 30000}
    assert len(expand(frame)) == 3 + 3 + 2 + 2   # every row in ('', ''), its segment; two with a collector


def test_countback_of_several_scopes_at_once_agrees_with_the_single_scope_countback():
    sales = pd.DataFrame({"scope": ["a", "a", "b", "b", "b"],
                          "entry_date": pd.to_datetime(["2025-06-15", "2025-05-15", "2025-06-01", "2025-03-31",
                                                        "2023-01-01"]),
                          "debit_minor": [120000, 90000, 10000, 50000, 99999]})
    open_ = pd.DataFrame({"scope": ["a", "b", "c"], "receivables_minor": [150000, 40000, 0]})
    together = countback(open_, sales, AS_OF, ["scope"])
    alone = [dso_countback(int(r.receivables_minor), sales[sales["scope"] == r.scope], AS_OF)
             for r in open_.itertuples()]
    assert together == alone
    # a: 30 + 31 x 300/900; b: June's 100.00 (30 days), nothing in May (31) nor April (30: the
    # sale of 31 March is March's), then 300.00 of March's 500.00 (31 x 3/5); c: nothing open.
    assert together == [Decimal("40.33"), Decimal("109.60"), None]


def test_dso_best_possible_dso_and_add_of_the_worked_example():
    lines, master = book()
    items = open_items(lines, master, AS_OF)
    per = balances(items, master)
    value = figures(days_sales_kpis(per, scoped_sales(receivable_lines(lines, AS_OF), master), AS_OF))
    # C1 alone (collector 'domestic'): 1800.00 open, 600.00 overdue, 1200.00 current.
    # DSO = June's 1200.00 (30 days) + 31 x 600/1000 of May = 48.60; best possible = 30 x 1200/1200.
    assert value[("dso_countback_days", "", "domestic")] == Decimal("48.60")
    assert value[("best_possible_dso_days", "", "domestic")] == Decimal("30.00")
    assert value[("add_days", "", "domestic")] == Decimal("18.60")
    assert value[("add_days", "PME", "domestic")] == Decimal("18.60")
    # Everyone: 2300.00 open (June sales 1700.00, then 600.00 of May's 1000.00), 1700.00 current.
    assert value[("dso_countback_days", "", "")] == Decimal("48.60")
    assert value[("best_possible_dso_days", "", "")] == Decimal("30.00")
    # C2 (GE) pays nothing late yet: its DSO is all best possible, ADD 0.
    assert value[("dso_countback_days", "GE", "")] == value[("best_possible_dso_days", "GE", "")] == Decimal("30.00")
    assert value[("add_days", "GE", "")] == Decimal("0.00")
    # C2 has no collector: no ('GE', <collector>) row and no row for a collector ''-other-than-all
    assert {c for _, s, c in value if s == "GE"} == {""}


def test_cei_of_the_worked_example_over_the_trailing_30_days():
    lines, master = book()
    per = balances(open_items(lines, master, AS_OF), master)
    value = figures(cei_kpis(per, window_flows(receivable_lines(lines, AS_OF), master, AS_OF)))
    # Opening on 2025-05-31: FA-1 1000.00; credit sales in June 1200.00 (C1) + 500.00 (C2);
    # closing 1800.00 (C1), of which 600.00 overdue: CEI = (1000 + 1200 - 1800) / (1000 + 1200 - 1200).
    assert value[("cei_ratio", "", "domestic")] == Decimal("0.4000")
    assert value[("cei_ratio", "", "")] == Decimal("0.4000")   # (1000 + 1700 - 2300) / (1000 + 1700 - 1700)
    # C2 owed nothing collectable in the window (its invoice is not due): no CEI row for GE.
    assert ("cei_ratio", "GE", "") not in value


def test_cei_looks_at_the_ledger_as_it_stood_on_a_past_date():
    lines, master = book()
    as_of = dt.date(2025, 6, 19)   # the day before the 400.00 payment
    per = balances(open_items(lines, master, as_of), master)
    value = figures(cei_kpis(per, window_flows(receivable_lines(lines, as_of), master, as_of)))
    # Nothing collected yet in (2025-05-20, 2025-06-19]: FA-1 1000.00 (9 days overdue) was collectable.
    assert value[("cei_ratio", "", "domestic")] == Decimal("0.0000")


def test_cash_applied_today_counts_as_collected_and_opening_entries_are_not_sales():
    lines = ledger(
        line("AN", "1", "2025-06-01", "C1", "RAN-1", debit=100000, piece_date="2025-04-15"),   # carried forward
        line("VE", "2", "2025-06-10", "C1", "FA-2", debit=50000),
    )
    master = customers(("C1", "PME", "domestic"))
    items = open_items(lines, master, AS_OF)
    # the day's cash application settled FA-2 (auto allocation): it left the open items
    items = items[items["invoice_id"] != "FA-2"]
    per = balances(items, master)
    value = figures(cei_kpis(per, window_flows(receivable_lines(lines, AS_OF), master, AS_OF)))
    # opening 1000.00 (the carried-forward balance dated in the window), sales 500.00, closing
    # 1000.00 all overdue: (1000 + 500 - 1000) / (1000 + 500 - 0) = 0.3333
    assert value[("cei_ratio", "", "")] == Decimal("0.3333")
