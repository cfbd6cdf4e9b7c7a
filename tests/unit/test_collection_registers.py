"""Disputes, promises to pay and payment plans as credit managers write them in CSV files, and
what they do to the open items: promises judged after the day's cash, plans split in instalments."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from receivables.scenarios.registers import (
    RegisterError,
    holding_promises,
    instalment_schedule,
    judge_promises,
    plan_instalments,
    plan_invoices,
    read_register,
)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def csv_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def open_invoices(*rows: tuple[str, str, int, str]) -> pd.DataFrame:
    """(customer, invoice, open cents, issued) -> open items as the planner sees them after cash."""
    return pd.DataFrame([{"customer_id": c, "invoice_id": i, "open_minor": o, "doc_date": pd.Timestamp(d),
                          "item_type": "invoice", "currency": "EUR"} for c, i, o, d in rows])


# -- reading the files ----------------------------------------------------------------------------

def test_a_disputes_file_is_read_with_its_reason_codes_and_statuses(tmp_path):
    path = csv_file(tmp_path, "disputes.csv",
                    "dispute_id,customer_id,invoice_id,reason_code,status,opened_on,resolved_on,note\n"
                    "D-1,C042,FA-2025-0142,quality,open,2025-06-12,,3 pallets damaged\n"
                    "D-2,C042,FA-2025-0150,Duplicate invoice,resolved,2025-06-02,2025-06-20,\n")
    disputes = read_register(path, "disputes")
    assert list(disputes["reason_code"]) == ["quality", "duplicate_invoice"]
    assert list(disputes["status"]) == ["open", "resolved"]
    assert disputes.loc[1, "resolved_on"] == day("2025-06-20") and disputes.loc[0, "note"] == "3 pallets damaged"


def test_a_register_with_bad_cells_is_rejected_whole_naming_file_line_and_field(tmp_path):
    path = csv_file(tmp_path, "promises.csv",
                    "promise_id,customer_id,invoice_ids,made_on,promised_date,amount,currency\n"
                    "P-1,C042,FA-1,2025-06-20,2025-06-30,1200.00,EUR\n"
                    "P-2,C043,FA-2,2025-06-20,2025-06-10,12.345,EUR\n"
                    "P-1,C044,,20/06/2025,2025-07-01,100,XXX\n")
    with pytest.raises(RegisterError) as error:
        read_register(path, "promises")
    message = str(error.value)
    assert message.startswith("promises.csv: nothing imported, 5 problem(s)") and "\n" not in message
    assert "line 3, field 'amount': more decimals than EUR has ('12.345')" in message
    assert "line 3, field 'promised_date': before the promise was made (2025-06-20)" in message
    assert "line 4, field 'made_on'" in message and "line 4, field 'currency'" in message
    assert "line 4, field 'promise_id': 'P-1' already given on line 2" in message


def test_a_register_missing_a_required_column_names_it(tmp_path):
    path = csv_file(tmp_path, "plans.csv", "plan_id,customer_id,total\nPP-1,C1,100\n")
    with pytest.raises(RegisterError, match=r"plans.csv: .*line 1: missing column\(s\) invoice_ids, currency"):
        read_register(path, "payment_plans")


def test_amounts_in_yen_have_no_decimals(tmp_path):
    path = csv_file(tmp_path, "promises.csv",
                    "promise_id;customer_id;invoice_ids;made_on;promised_date;amount;currency\n"
                    "P-1;C1;FA-1;2025-06-20;2025-06-30;120000;JPY\nP-2;C1;FA-2;2025-06-20;2025-06-30;1,5;JPY\n")
    with pytest.raises(RegisterError, match="line 3, field 'amount': more decimals than JPY has"):
        read_register(path, "promises")


# -- payment plans --------------------------------------------------------------------------------

def plan(plan_id: str = "PP-1", *, total: int = 100_000, n: int = 3, first: str = "2025-07-05",
         frequency: str = "monthly", invoices: str = "FA-1 FA-2", status: str = "active") -> dict:
    return {"plan_id": plan_id, "customer_id": "C1", "invoice_ids": invoices, "total_minor": total,
            "currency": "EUR", "instalments": n, "first_date": day(first), "frequency": frequency, "status": status}


def test_a_plan_is_split_in_equal_instalments_the_first_ones_taking_the_remainder():
    schedule = instalment_schedule(pd.DataFrame([plan(total=100_000, n=3)]))
    assert list(schedule["amount_minor"]) == [33_334, 33_333, 33_333]
    assert list(schedule["due_date"].dt.date) == [day("2025-07-05"), day("2025-08-05"), day("2025-09-05")]


def test_weekly_and_month_end_plans_keep_their_rhythm():
    schedule = instalment_schedule(pd.DataFrame([plan("W", n=3, frequency="biweekly", first="2025-07-04"),
                                                 plan("M", n=3, first="2025-01-31")]))
    dates = {p: list(g["due_date"].dt.date) for p, g in schedule.groupby("plan_id")}
    assert dates["W"] == [day("2025-07-04"), day("2025-07-18"), day("2025-08-01")]
    assert dates["M"] == [day("2025-01-31"), day("2025-02-28"), day("2025-03-31")]


def test_what_was_paid_on_a_plan_settles_its_instalments_in_order():
    plans = pd.DataFrame([plan(total=90_000, n=3)])
    # 90,000 owed on FA-1 and FA-2 when the plan was agreed; 40,000 paid since: 50,000 left
    items = open_invoices(("C1", "FA-1", 0, "2025-04-01"), ("C1", "FA-2", 50_000, "2025-04-15"))
    owed = plan_instalments(plans, items)
    assert list(zip(owed["invoice_id"], owed["open_minor"])) == [("PP-1#2", 20_000), ("PP-1#3", 30_000)]
    assert list(plan_invoices(plans).itertuples(index=False, name=None)) == [("C1", "FA-1"), ("C1", "FA-2")]


def test_a_cancelled_plan_releases_its_invoices_and_has_no_instalments():
    plans = pd.DataFrame([plan(status="cancelled")])
    assert plan_instalments(plans, open_invoices(("C1", "FA-1", 1000, "2025-04-01"))).empty
    assert plan_invoices(plans).empty


# -- promises -------------------------------------------------------------------------------------

def promise(promise_id: str, invoices: str, amount: int, *, made: str = "2025-06-20", due: str = "2025-06-27",
            baseline: int | None = None) -> dict:
    return {"promise_id": promise_id, "customer_id": "C1", "invoice_ids": invoices, "made_on": day(made),
            "promised_date": day(due), "amount_minor": amount, "currency": "EUR", "open_at_promise_minor": baseline}


def test_a_promise_paid_in_full_is_kept_as_soon_as_the_cash_is_applied():
    promises = pd.DataFrame([promise("P-1", "FA-1", 50_000, baseline=80_000)])
    judged = judge_promises(promises, open_invoices(("C1", "FA-1", 30_000, "2025-05-01")), day("2025-06-24"))
    assert (judged.loc[0, "status"], judged.loc[0, "judged_on"]) == ("kept", day("2025-06-24"))


def test_a_promise_not_paid_by_its_date_plus_grace_is_broken_and_stops_holding_reminders():
    promises = pd.DataFrame([promise("P-1", "FA-1", 50_000)])
    items = open_invoices(("C1", "FA-1", 80_000, "2025-05-01"))
    first = judge_promises(promises, items, day("2025-06-23"))       # first seen: baseline = 800.00 open
    assert first.loc[0, "status"] == "pending" and first.loc[0, "open_at_promise_minor"] == 80_000
    partly = items.assign(open_minor=60_000)                         # 200.00 of the 500.00 promised
    assert judge_promises(first, partly, day("2025-06-30")).loc[0, "status"] == "pending"   # 27 June + 3 days
    broken = judge_promises(first, partly, day("2025-07-01"))
    assert (broken.loc[0, "status"], broken.loc[0, "judged_on"]) == ("broken", day("2025-07-01"))
    assert holding_promises(first, day("2025-06-30"))["invoice_id"].tolist() == ["FA-1"]
    assert holding_promises(broken, day("2025-06-30")).empty


def test_a_promise_without_invoices_covers_what_the_customer_owed_when_it_was_made():
    promises = pd.DataFrame([promise("P-1", "", 100_000, made="2025-06-20")])
    items = open_invoices(("C1", "FA-1", 60_000, "2025-05-01"), ("C1", "FA-2", 40_000, "2025-06-01"),
                          ("C1", "FA-9", 70_000, "2025-06-25"))               # issued after the promise
    first = judge_promises(promises, items, day("2025-06-23"))
    assert first.loc[0, "open_at_promise_minor"] == 100_000
    paid = items[items["invoice_id"] == "FA-9"]                               # FA-1 and FA-2 paid
    assert judge_promises(first, paid, day("2025-06-26")).loc[0, "status"] == "kept"
