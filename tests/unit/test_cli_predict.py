"""`receivables predict` (DESIGN.md): one row per invoice open on the date, with the probability of
paying late and the expected payment date, learnt only from what the ledger shows up to then."""

from __future__ import annotations

import datetime as dt
import re

from cli_csv import command_csv
from receivables.cli import main
from receivables.ledger.customers import read_customer_master
from receivables.ledger.open_items import open_items
from receivables.ledger.sources import read_ledger
from receivables.validation.ledger import validate_ledger

from shared_paths import SHARED_FIXTURES as FIXTURES

LETTERED_FEC = FIXTURES / "fec-neolegal-fec-reader" / "0000000001FEC20220831.txt"
NO_RECEIVABLES_FEC = FIXTURES / "fec-tryton-account-fr" / "FEC.csv"
HEADER = ["invoice_id", "customer_id", "p_late", "expected_payment_date"]


def predict(tmp_path, *args: str) -> list[dict]:
    return command_csv(["predict", *args], tmp_path / "predictions.csv", HEADER)


def open_invoices(path, as_of: dt.date, customers_file=None) -> set[tuple[str, str]]:
    customers = read_customer_master(customers_file).customers if customers_file else None
    lines = validate_ledger(read_ledger(path)).lines
    from receivables.ledger.schema import empty_customers

    items = open_items(lines, customers if customers is not None else empty_customers(), as_of)
    invoices = items[items["item_type"] == "invoice"]
    return set(zip(invoices["invoice_id"], invoices["customer_id"]))


def test_a_real_fec_whose_payments_are_lettered_gets_a_prediction_per_open_invoice(tmp_path, capsys):
    rows = predict(tmp_path, "--ledger", str(LETTERED_FEC), "--as-of", "2022-08-31")
    assert {(r["invoice_id"], r["customer_id"]) for r in rows} == open_invoices(LETTERED_FEC, dt.date(2022, 8, 31))
    assert all(re.fullmatch(r"[01]\.\d{4}", r["p_late"]) and 0 <= float(r["p_late"]) <= 1 for r in rows)
    assert all(dt.date.fromisoformat(r["expected_payment_date"]) > dt.date(2022, 8, 31) for r in rows)
    assert "predicted (gradient boosting" in capsys.readouterr().err


def test_an_earlier_as_of_date_predicts_from_the_history_known_then(tmp_path):
    early = predict(tmp_path, "--ledger", str(LETTERED_FEC), "--as-of", "2022-03-31")
    assert {(r["invoice_id"], r["customer_id"]) for r in early} == open_invoices(LETTERED_FEC, dt.date(2022, 3, 31))


def test_a_ledger_without_receivables_gives_the_header_alone(tmp_path):
    assert predict(tmp_path, "--ledger", str(NO_RECEIVABLES_FEC), "--as-of", "2018-12-31") == []


def test_a_generated_portfolio_with_its_customer_master_is_predicted_with_the_model(tmp_path, demo_portfolio, capsys):
    as_of = dt.date(2025, 6, 30)
    rows = predict(tmp_path, "--ledger", str(demo_portfolio["fec"]), "--customers",
                   str(demo_portfolio["customers_csv"]), "--as-of", as_of.isoformat())
    assert {(r["invoice_id"], r["customer_id"]) for r in rows} == open_invoices(
        demo_portfolio["fec"], as_of, demo_portfolio["customers_csv"])
    assert "gradient boosting" in capsys.readouterr().err


def test_a_file_that_is_not_a_ledger_is_a_one_line_error_naming_it(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n", encoding="utf-8")
    assert main(["predict", "--ledger", str(bad), "--as-of", "2025-06-30", "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "notes.txt" in err
