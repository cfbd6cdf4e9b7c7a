"""Open items rebuilt from lettering, their due dates and buckets, the aged balance, DSO
(countback) and the KPI rows, on small ledgers written as normalized lines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from receivables.kpis.aging import AGING_COLUMNS, aging, dso_countback
from receivables.kpis.daily import KpiInputs, daily_kpis
from receivables.ledger.open_items import OPEN_ITEM_COLUMNS, bucket_of, open_items

from ar_documents import D, NO_CUSTOMERS, ledger, line, master  # noqa: E402



def items_by_id(items: pd.DataFrame) -> dict[str, dict]:
    assert list(items.columns) == OPEN_ITEM_COLUMNS
    assert items["invoice_id"].is_unique
    return items.set_index("invoice_id").to_dict("index")


# Customer C001: invoice FA-1 1200.00 on 2025-03-01 (due 2025-03-31 at 30 days), paid 1200.00 on
# 2025-04-10, both lettered 'AA' on 2025-04-12 (the open_items docstring).
PAID_AND_LETTERED = ledger(
    line("VE", "1", "2025-03-01", "C001", "FA-1", debit=120000, let="AA", let_date="2025-04-12"),
    line("BQ", "7", "2025-04-10", "C001", "VIR-7", credit=120000, let="AA", let_date="2025-04-12"),
)


# -- lettering -------------------------------------------------------------------------------------

def test_an_invoice_is_not_open_before_it_is_booked():
    assert open_items(PAID_AND_LETTERED, NO_CUSTOMERS, dt.date(2025, 2, 28)).empty


def test_an_unpaid_invoice_one_day_past_its_due_date_is_open_and_one_day_overdue():
    items = items_by_id(open_items(PAID_AND_LETTERED, NO_CUSTOMERS, dt.date(2025, 4, 1)))
    assert list(items) == ["FA-1"]
    fa1 = items["FA-1"]
    assert (fa1["customer_id"], fa1["currency"], fa1["item_type"]) == ("C001", "EUR", "invoice")
    assert (fa1["original_minor"], fa1["open_minor"]) == (120000, 120000)
    assert (fa1["doc_date"], fa1["due_date"]) == (D("2025-03-01"), D("2025-03-31"))
    assert (fa1["days_overdue"], fa1["bucket"]) == (1, "d1_30")


def test_a_payment_not_yet_lettered_leaves_the_invoice_open_beside_an_unapplied_credit():
    items = items_by_id(open_items(PAID_AND_LETTERED, NO_CUSTOMERS, dt.date(2025, 4, 11)))
    assert items["FA-1"]["open_minor"] == 120000 and items["FA-1"]["days_overdue"] == 11
    payment = items["VIR-7"]
    assert (payment["item_type"], payment["original_minor"], payment["open_minor"]) == ("credit", -120000, -120000)
    assert (payment["due_date"], payment["days_overdue"]) == (D("2025-04-10"), 1)
    assert sum(i["open_minor"] for i in items.values()) == 0


@pytest.mark.parametrize("as_of", [dt.date(2025, 4, 12), dt.date(2025, 4, 13), dt.date(2025, 12, 31)])
def test_a_paid_invoice_is_closed_on_and_after_its_lettering_date(as_of):
    assert open_items(PAID_AND_LETTERED, NO_CUSTOMERS, as_of).empty


def test_with_no_lettering_date_a_group_counts_as_lettered_on_its_last_line_date():
    # Exports that leave DateLet empty: FA-2 and its payment VIR-9 of 2025-04-10 share 'AB'.
    lines = ledger(
        line("VE", "2", "2025-03-05", "C002", "FA-2", debit=60000, let="AB"),
        line("BQ", "9", "2025-04-10", "C002", "VIR-9", credit=60000, let="AB"),
    )
    before = items_by_id(open_items(lines, NO_CUSTOMERS, dt.date(2025, 4, 9)))
    assert list(before) == ["FA-2"] and before["FA-2"]["open_minor"] == 60000
    assert open_items(lines, NO_CUSTOMERS, dt.date(2025, 4, 10)).empty
    assert open_items(lines, NO_CUSTOMERS, dt.date(2025, 5, 31)).empty


def test_a_lettering_dated_after_the_payment_keeps_both_open_until_that_date_even_without_a_date_on_one_line():
    # The payment line carries DateLet, the invoice line does not: each line is lettered on its own date.
    lines = ledger(
        line("VE", "3", "2025-03-05", "C003", "FA-3", debit=50000, let="AC"),
        line("BQ", "9", "2025-04-10", "C003", "VIR-9", credit=50000, let="AC", let_date="2025-04-15"),
    )
    assert open_items(lines, NO_CUSTOMERS, dt.date(2025, 4, 15)).empty
    on_14 = items_by_id(open_items(lines, NO_CUSTOMERS, dt.date(2025, 4, 14)))
    assert sum(i["open_minor"] for i in on_14.values()) == 0


def test_a_partial_lettering_leaves_the_balance_on_the_newest_invoice_the_oldest_being_paid_first():
    # FA-4 1000.00 (1 March) and FA-5 500.00 (15 March) lettered 'AD' with a 1200.00 transfer:
    # FA-4 is paid in full, 300.00 remain on FA-5. The ledger lists FA-5 first.
    lines = ledger(
        line("VE", "5", "2025-03-15", "C004", "FA-5", debit=50000, let="AD", let_date="2025-04-10"),
        line("VE", "4", "2025-03-01", "C004", "FA-4", debit=100000, let="AD", let_date="2025-04-10"),
        line("BQ", "11", "2025-04-10", "C004", "VIR-11", credit=120000, let="AD", let_date="2025-04-10"),
    )
    items = items_by_id(open_items(lines, NO_CUSTOMERS, dt.date(2025, 4, 30)))
    assert list(items) == ["FA-5"]
    fa5 = items["FA-5"]
    assert (fa5["original_minor"], fa5["open_minor"]) == (50000, 30000)
    assert (fa5["due_date"], fa5["days_overdue"], fa5["bucket"]) == (D("2025-04-14"), 16, "d1_30")


def test_a_partial_payment_smaller_than_the_oldest_invoice_leaves_it_partly_open():
    lines = ledger(
        line("VE", "4", "2025-03-01", "C004", "FA-4", debit=100000, let="AE", let_date="2025-04-10"),
        line("VE", "5", "2025-03-15", "C004", "FA-5", debit=50000, let="AE", let_date="2025-04-10"),
        line("BQ", "11", "2025-04-10", "C004", "VIR-11", credit=40000, let="AE", let_date="2025-04-10"),
    )
    items = items_by_id(open_items(lines, NO_CUSTOMERS, dt.date(2025, 4, 30)))
    assert {k: v["open_minor"] for k, v in items.items()} == {"FA-4": 60000, "FA-5": 50000}


def test_an_overpayment_leaves_the_newest_credit_open_as_a_negative_item():
    # FA-6 1000.00 paid twice 600.00 (20 March and 5 April), all lettered 'AF': 200.00 overpaid.
    lines = ledger(
        line("VE", "6", "2025-03-01", "C005", "FA-6", debit=100000, let="AF", let_date="2025-04-05"),
        line("BQ", "12", "2025-03-20", "C005", "VIR-12", credit=60000, let="AF", let_date="2025-04-05"),
        line("BQ", "15", "2025-04-05", "C005", "VIR-15", credit=60000, let="AF", let_date="2025-04-05"),
    )
    items = items_by_id(open_items(lines, NO_CUSTOMERS, dt.date(2025, 4, 30)))
    assert list(items) == ["VIR-15"]
    credit = items["VIR-15"]
    assert (credit["item_type"], credit["original_minor"], credit["open_minor"]) == ("credit", -60000, -20000)
    assert (credit["doc_date"], credit["due_date"], credit["days_overdue"]) == (D("2025-04-05"), D("2025-04-05"), 25)


def test_an_unlettered_credit_note_is_a_negative_credit_item_aged_from_its_date():
    lines = ledger(
        line("VE", "20", "2025-04-20", "C006", "AV-1", credit=30000),
    )
    items = items_by_id(open_items(lines, NO_CUSTOMERS, dt.date(2025, 4, 30)))
    note = items["AV-1"]
    assert (note["item_type"], note["original_minor"], note["open_minor"]) == ("credit", -30000, -30000)
    assert (note["doc_date"], note["due_date"], note["days_overdue"], note["bucket"]) == (
        D("2025-04-20"), D("2025-04-20"), 10, "d1_30")


def test_lines_on_other_accounts_are_not_receivables():
    lines = ledger(
        line("VE", "1", "2025-03-01", "C001", "FA-1", debit=120000),
        line("VE", "1", "2025-03-01", "", "FA-1", credit=100000, account="706000"),
        line("VE", "1", "2025-03-01", "", "FA-1", credit=20000, account="445710"),
        line("AC", "2", "2025-03-02", "F001", "FF-9", credit=5000, account="401000"),
    )
    items = open_items(lines, NO_CUSTOMERS, dt.date(2025, 3, 31))
    assert items["invoice_id"].tolist() == ["FA-1"] and items["open_minor"].tolist() == [120000]


def test_without_an_auxiliary_account_the_411_account_is_the_customer():
    lines = ledger(line("VE", "1", "2025-03-01", "", "FA-1", debit=120000, account="411DUPONT"))
    items = open_items(lines, NO_CUSTOMERS, dt.date(2025, 3, 31))
    assert items["customer_id"].tolist() == ["411DUPONT"]


def test_a_receivable_line_without_a_piece_ref_is_named_after_its_entry():
    lines = ledger(line("VE", "42", "2025-03-01", "C001", "", debit=120000))
    items = open_items(lines, NO_CUSTOMERS, dt.date(2025, 3, 31))
    assert items["invoice_id"].tolist() == ["VE-42"]


# -- due dates -------------------------------------------------------------------------------------

def test_the_due_date_is_the_document_date_plus_the_customer_terms_else_the_default():
    lines = ledger(
        line("VE", "1", "2025-03-01", "C045", "FA-1", debit=10000),       # 45 days in the master
        line("VE", "2", "2025-03-01", "CNONE", "FA-2", debit=20000),      # in the master, terms unknown
        line("VE", "3", "2025-03-01", "CABSENT", "FA-3", debit=30000),    # not in the master
        line("VE", "4", "2025-03-01", "C000", "FA-4", debit=40000),       # cash on delivery
        line("VE", "5", "2025-03-03", "C045", "FA-5", debit=50000, piece_date="2025-02-25"),  # booked late
    )
    customers = master(("C045", "PME", 45), ("CNONE", "TPE", None), ("C000", "GE", 0))
    items = items_by_id(open_items(lines, customers, dt.date(2025, 4, 30)))
    assert items["FA-1"]["due_date"] == D("2025-04-15")
    assert items["FA-2"]["due_date"] == D("2025-03-31")
    assert items["FA-3"]["due_date"] == D("2025-03-31")
    assert items["FA-4"]["due_date"] == D("2025-03-01") and items["FA-4"]["days_overdue"] == 60
    assert items["FA-5"]["doc_date"] == D("2025-02-25") and items["FA-5"]["due_date"] == D("2025-04-11")
    with_60 = items_by_id(open_items(lines, customers, dt.date(2025, 4, 30), default_terms_days=60))
    assert with_60["FA-2"]["due_date"] == with_60["FA-3"]["due_date"] == D("2025-04-30")
    assert with_60["FA-1"]["due_date"] == D("2025-04-15")


def test_a_due_date_given_by_the_source_wins_over_the_terms():
    lines = ledger(line("VE", "1", "2025-03-01", "C045", "FA-1", debit=10000, due="2025-03-10"))
    items = items_by_id(open_items(lines, master(("C045", "PME", 45)), dt.date(2025, 3, 31)))
    assert (items["FA-1"]["due_date"], items["FA-1"]["days_overdue"]) == (D("2025-03-10"), 21)


# -- buckets ---------------------------------------------------------------------------------------

def test_bucket_edges():
    days = pd.Series([-10, 0, 1, 30, 31, 60, 61, 90, 91, 120, 121, 999])
    assert bucket_of(days).tolist() == ["not_due", "not_due", "d1_30", "d1_30", "d31_60", "d31_60", "d61_90",
                                        "d61_90", "d91_120", "d91_120", "over_120", "over_120"]


@pytest.mark.parametrize("days_late,bucket", [(0, "not_due"), (1, "d1_30"), (30, "d1_30"), (31, "d31_60"),
                                              (120, "d91_120"), (121, "over_120")])
def test_an_invoice_lands_in_its_bucket_by_days_past_due(days_late, bucket):
    as_of = dt.date(2025, 6, 30)
    invoice_date = as_of - dt.timedelta(days=30 + days_late)
    lines = ledger(line("VE", "1", invoice_date.isoformat(), "C001", "FA-1", debit=10000))
    item = open_items(lines, NO_CUSTOMERS, as_of).iloc[0]
    assert (item["days_overdue"], item["bucket"]) == (days_late, bucket)


# -- aged balance ----------------------------------------------------------------------------------

def portfolio() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Open on 2025-06-30 (default 30 days):
    C001 (PME): FA-1 1000.00 of 2025-05-11, due 2025-06-10, 20 days late; FA-2 500.00 of 2025-06-20, not due.
    C002 (GE): FA-3 300.00 of 2025-04-01, due 2025-05-01, 60 days late; credit note AV-1 100.00 of 2025-06-25;
               FA-4 80.00 USD of 2025-06-01, due 2025-07-01, not due.
    C003 (GE): FA-7 250.00 of 2025-03-01, paid and lettered on 2025-04-02."""
    lines = ledger(
        line("VE", "1", "2025-05-11", "C001", "FA-1", debit=100000),
        line("VE", "2", "2025-06-20", "C001", "FA-2", debit=50000),
        line("VE", "3", "2025-04-01", "C002", "FA-3", debit=30000),
        line("VE", "4", "2025-06-25", "C002", "AV-1", credit=10000),
        line("VE", "5", "2025-06-01", "C002", "FA-4", debit=8000, currency="USD"),
        line("VE", "7", "2025-03-01", "C003", "FA-7", debit=25000, let="A", let_date="2025-04-02"),
        line("BQ", "8", "2025-04-02", "C003", "VIR-8", credit=25000, let="A", let_date="2025-04-02"),
    )
    return lines, master(("C001", "PME", None), ("C002", "GE", None), ("C003", "GE", None))


def test_the_aged_balance_sums_each_customer_and_currency_by_bucket():
    lines, customers = portfolio()
    items = open_items(lines, customers, dt.date(2025, 6, 30))
    assert len(items) == 5
    table = aging(items)
    assert list(table.columns) == AGING_COLUMNS
    rows = {(r.customer_id, r.currency): r._asdict() for r in table.itertuples(index=False)}
    assert set(rows) == {("C001", "EUR"), ("C002", "EUR"), ("C002", "USD")}
    c1 = rows[("C001", "EUR")]
    assert (c1["not_due_minor"], c1["d1_30_minor"], c1["d31_60_minor"]) == (50000, 100000, 0)
    assert (c1["total_minor"], c1["overdue_minor"], c1["open_items"]) == (150000, 100000, 2)
    c2 = rows[("C002", "EUR")]
    # AV-1 (5 days old) sits in d1_30 as -100.00; FA-3 (60 days late) in d31_60.
    assert (c2["not_due_minor"], c2["d1_30_minor"], c2["d31_60_minor"]) == (0, -10000, 30000)
    assert (c2["total_minor"], c2["overdue_minor"], c2["open_items"]) == (20000, 30000, 2)
    usd = rows[("C002", "USD")]
    assert (usd["not_due_minor"], usd["total_minor"], usd["overdue_minor"], usd["open_items"]) == (8000, 8000, 0, 1)
    assert table[[c for c in AGING_COLUMNS if c.endswith("_minor")]].dtypes.eq("int64").all()


def test_the_aged_balance_of_nothing_open_is_empty():
    lines, customers = portfolio()
    assert aging(open_items(lines, customers, dt.date(2025, 2, 1))).empty


# -- DSO -------------------------------------------------------------------------------------------

def invoiced(*days_and_cents: tuple[str, int]) -> pd.DataFrame:
    return pd.DataFrame({"entry_date": [D(d) for d, _ in days_and_cents],
                         "debit_minor": [c for _, c in days_and_cents]})


@pytest.mark.parametrize("may_day,june_day", [("2025-05-15", "2025-06-15"), ("2025-05-01", "2025-06-01"),
                                               ("2025-05-31", "2025-06-30")])
def test_dso_countback_worked_example(may_day, june_day):
    # 1500.00 open on 2025-06-30; 1200.00 invoiced in June (30 days), 900.00 in May (31 days):
    # 30 + 31 x 300/900 = 40.33 days, wherever the invoices fall inside their month.
    sales = invoiced((may_day, 90000), (june_day, 120000))
    assert dso_countback(150000, sales, dt.date(2025, 6, 30)) == Decimal("40.33")


def test_dso_countback_of_a_balance_covered_by_the_last_month_is_that_month_share():
    sales = invoiced(("2025-06-10", 120000))
    assert dso_countback(60000, sales, dt.date(2025, 6, 30)) == Decimal("15.00")
    assert dso_countback(120000, sales, dt.date(2025, 6, 30)) == Decimal("30.00")


def test_dso_countback_mid_month_walks_back_month_by_month_from_the_as_of_date():
    # as_of 2025-06-15: (15 May, 15 June] is 31 days, (15 April, 15 May] is 30 days.
    sales = invoiced(("2025-05-10", 60000), ("2025-06-01", 30000))
    assert dso_countback(60000, sales, dt.date(2025, 6, 15)) == Decimal("46.00")


def test_dso_countback_is_none_with_nothing_open_and_zero_when_customers_are_owed():
    sales = invoiced(("2025-06-10", 120000))
    assert dso_countback(0, sales, dt.date(2025, 6, 30)) is None
    assert dso_countback(-5000, sales, dt.date(2025, 6, 30)) == Decimal(0)


def test_dso_countback_is_capped_at_the_months_it_looks_back():
    sales = invoiced(("2025-06-10", 10000))
    assert dso_countback(50000, sales, dt.date(2025, 6, 30), max_months=3) == Decimal("91.00")  # June+May+April


# -- KPI rows --------------------------------------------------------------------------------------

def kpis(items, lines, customers, as_of):
    """The day's kpi_daily rows with nothing but the ledger (no registers, no dispatch, no cash)."""
    return daily_kpis(KpiInputs(items=items, lines=lines, customers=customers), as_of).kpis


def totals(rows) -> dict:
    """(metric, segment, currency) -> value of the all-collectors rows with no breakdown."""
    plain = rows[(rows["collector"] == "") & (rows["breakdown"] == "")]
    return {(r.metric, r.segment, r.currency): r.value for r in plain.itertuples(index=False)}


def test_kpis_give_ar_overdue_ratio_and_dso_overall_and_per_segment():
    lines, customers = portfolio()
    as_of = dt.date(2025, 6, 30)
    rows = kpis(open_items(lines, customers, as_of), lines, customers, as_of)
    assert list(rows.columns) == ["metric", "segment", "currency", "collector", "breakdown", "value"]
    value = totals(rows)
    assert set(rows["segment"]) == {"", "GE", "PME"}
    # Everyone, EUR: 1000 + 500 + 300 - 100 open; invoices 1800, of which 1300 overdue.
    assert value[("ar_total_minor", "", "EUR")] == Decimal(170000)
    assert value[("overdue_minor", "", "EUR")] == Decimal(130000)
    assert value[("overdue_ratio", "", "EUR")] == Decimal("0.7222")
    assert value[("open_items", "", "EUR")] == Decimal(4)
    # 1700 open: June sales 500 (30 days), May 1000 (31 days), then 200 of April's 300 (30 x 2/3).
    assert value[("dso_countback_days", "", "EUR")] == Decimal("81.00")
    # PME (C001), the aging docstring example: 1000 overdue of 1500.
    assert value[("ar_total_minor", "PME", "EUR")] == Decimal(150000)
    assert value[("overdue_ratio", "PME", "EUR")] == Decimal("0.6667")
    assert value[("dso_countback_days", "PME", "EUR")] == Decimal("61.00")
    # GE (C002, C003): 300 - 100 open, all of the invoice overdue; C003's paid March sale is not reached.
    assert value[("ar_total_minor", "GE", "EUR")] == Decimal(20000)
    assert value[("overdue_ratio", "GE", "EUR")] == Decimal("1.0000")
    assert value[("dso_countback_days", "GE", "EUR")] == Decimal("81.00")
    # USD: 80.00 not due, invoiced on 1 June.
    assert value[("overdue_ratio", "", "USD")] == Decimal("0.0000")
    assert value[("dso_countback_days", "GE", "USD")] == Decimal("30.00")
    assert {m for m, _, _ in value} >= {"ar_total_minor", "overdue_minor", "overdue_ratio", "open_items",
                                        "dso_countback_days", "over_90_ratio", "best_possible_dso_days", "add_days"}


def test_kpis_ignore_opening_balances_in_sales_and_cap_the_dso():
    lines = ledger(
        line("AN", "1", "2025-01-01", "C001", "RAN", debit=500000),          # carried forward, still owed
        line("VE", "2", "2025-06-10", "C001", "FA-2", debit=60000, let="A", let_date="2025-06-20"),
        line("BQ", "3", "2025-06-20", "C001", "VIR-3", credit=60000, let="A", let_date="2025-06-20"),
    )
    customers = master(("C001", "PME", 30))
    as_of = dt.date(2025, 6, 30)
    rows = kpis(open_items(lines, customers, as_of), lines, customers, as_of)
    value = totals(rows)
    # 5000.00 carried forward is open; the only sale is FA-2 (600.00 in June): the countback
    # walks all 24 months back to 2023-06-30 (731 days, 2024 being a leap year).
    assert value[("ar_total_minor", "", "EUR")] == Decimal(500000)
    assert value[("dso_countback_days", "", "EUR")] == Decimal("731.00")
    assert value[("dso_countback_days", "PME", "EUR")] == Decimal("731.00")


def test_kpis_have_no_dso_row_when_the_open_balance_nets_to_zero():
    # FA-2 is paid but the payment is not lettered yet: 600.00 open and -600.00 unapplied.
    lines = ledger(
        line("VE", "2", "2025-06-10", "C001", "FA-2", debit=60000),
        line("BQ", "3", "2025-06-20", "C001", "VIR-3", credit=60000),
    )
    customers = master(("C001", "PME", 30))
    as_of = dt.date(2025, 6, 30)
    rows = kpis(open_items(lines, customers, as_of), lines, customers, as_of)
    value = totals(rows)
    assert value[("ar_total_minor", "", "EUR")] == Decimal(0)
    assert value[("open_items", "", "EUR")] == Decimal(2)
    assert value[("overdue_ratio", "", "EUR")] == Decimal("0.0000")
    assert "dso_countback_days" not in set(rows["metric"])
