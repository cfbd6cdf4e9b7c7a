"""Cash application on small AR scenarios: who paid what, and what is left for a human."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from receivables.bank.schema import BANK_LINE_COLUMNS
from receivables.ledger.schema import conform
from receivables.matching.apply import apply_allocations, lettering_export
from receivables.matching.engine import match

T = pd.Timestamp
CUSTOMERS = pd.DataFrame({"customer_id": ["C001", "C002", "C003"],
                          "name": ["Boulangerie Martin SARL", "Müller Logistik GmbH", "Garage Dupont"],
                          "iban": ["", "DE89370400440532013000", ""]})


def invoice(customer: str, number: str, cents: int, due: str, item_type: str = "invoice") -> dict:
    return {"customer_id": customer, "invoice_id": number, "currency": "EUR", "item_type": item_type,
            "doc_date": T(due) - pd.Timedelta(days=30), "due_date": T(due), "original_minor": cents,
            "open_minor": cents, "days_overdue": 0, "bucket": "not_due"}


OPEN = pd.DataFrame([
    invoice("C001", "FA2024-000123", 120000, "2024-05-31"),
    invoice("C001", "FA2024-000124", 48000, "2024-06-02"),
    invoice("C001", "FA2024-000130", 30000, "2024-06-09"),
    invoice("C002", "FA2024-000200", 99900, "2024-06-02"),
    invoice("C002", "FA2024-000201", 10000, "2024-06-03"),
    invoice("C002", "FA2024-000202", 25000, "2024-06-04"),
    invoice("C003", "FA2024-000300", 77700, "2024-06-04"),
])


def bank(*rows: tuple) -> pd.DataFrame:
    """(id, cents, payer name, payer account, remittance[, structured ref])"""
    return conform(pd.DataFrame([{
        "source_file": "releve.xml", "statement_id": "S1", "account": "FR7630006000011234567890189",
        "bank_line_id": r[0], "position": i + 1, "booking_date": T("2024-06-10"), "amount_minor": r[1],
        "currency": "EUR", "counterparty_name": r[2], "counterparty_account": r[3], "remittance": r[4],
        "structured_ref": r[5] if len(r) > 5 else "",
    } for i, r in enumerate(rows)]), BANK_LINE_COLUMNS)


def allocations_of(result, line: str) -> list[tuple]:
    rows = result.allocations[result.allocations["bank_line_id"] == line]
    return [(r.invoice_id, r.amount_minor, r.rule, r.status) for r in rows.itertuples()]


def test_an_invoice_number_written_with_other_separators_and_zeros_is_matched_automatically():
    result = match(bank(("B1", 120000, "BOULANGERIE MARTIN", "", "VIR FACT FA 2024-123")), OPEN, CUSTOMERS)
    assert allocations_of(result, "B1") == [("FA2024-000123", 120000, "reference", "auto")]


def test_a_payment_short_by_bank_charges_settles_the_invoice_and_proposes_a_write_off():
    result = match(bank(("B2", 47500, "SARL BOULANGERIE MARTIN", "", "FA2024000124")), OPEN, CUSTOMERS)
    assert allocations_of(result, "B2") == [("FA2024-000124", 47500, "reference", "auto"),
                                            ("FA2024-000124", 500, "write_off", "suggested")]


def test_a_payment_without_reference_is_matched_to_the_combination_of_the_payers_invoices():
    result = match(bank(("B3", 35000, "MULLER LOGISTIK", "", "Zahlung Rechnungen")), OPEN, CUSTOMERS)
    assert allocations_of(result, "B3") == [("FA2024-000201", 10000, "amount_combination", "auto"),
                                            ("FA2024-000202", 25000, "amount_combination", "auto")]


def test_the_payer_is_known_by_the_account_in_the_customer_master():
    result = match(bank(("B4", 99900, "M. LOGISTIK", "DE89 3704 0044 0532 0130 00", "")), OPEN, CUSTOMERS)
    assert allocations_of(result, "B4") == [("FA2024-000200", 99900, "amount_exact", "auto")]


def test_an_invoice_number_with_a_typo_and_another_amount_is_only_suggested():
    result = match(bank(("B5", 25000, "Boulangerie Martin", "", "FA2024-000I30")), OPEN, CUSTOMERS)
    assert allocations_of(result, "B5") == [("FA2024-000130", 25000, "reference_partial", "suggested")]


def test_instalments_of_one_invoice_are_allocated_in_turn_and_an_overpayment_awaits_a_decision():
    result = match(bank(("B6", 60000, "Boulangerie Martin", "", "FA2024-000123 acompte 1"),
                        ("B7", 70000, "Boulangerie Martin", "", "FA2024-000123 solde")), OPEN, CUSTOMERS)
    assert allocations_of(result, "B6") == [("FA2024-000123", 60000, "reference_partial", "auto")]
    # The payer has other open invoices: whether the 100.00 extra pays one of them is for a human.
    assert allocations_of(result, "B7") == [("FA2024-000123", 60000, "reference", "auto"),
                                            ("", 10000, "on_account", "suggested")]


def test_an_unknown_payer_without_reference_is_an_exception_or_at_most_a_suggestion():
    result = match(bank(("B8", 12345, "INCONNU SA", "", "divers"), ("B9", 77700, "", "", "payment")),
                   OPEN, CUSTOMERS)
    assert result.exceptions[["bank_line_id", "reason_code"]].values.tolist() == [["B8", "unidentified"]]
    assert allocations_of(result, "B9") == [("FA2024-000300", 77700, "amount_unique", "suggested")]


def test_money_going_out_is_not_a_customer_payment():
    result = match(bank(("B10", -5000, "EDF", "", "prelevement")), OPEN, CUSTOMERS)
    assert result.allocations.empty
    assert result.exceptions["reason_code"].tolist() == ["not_a_receipt"]


def test_a_third_party_paying_the_exact_amount_of_the_invoice_it_names_is_posted():
    result = match(bank(("B11", 77700, "Boulangerie Martin", "", "FA2024-000300")), OPEN, CUSTOMERS)
    assert allocations_of(result, "B11") == [("FA2024-000300", 77700, "reference", "auto")]
    assert "third party" in result.allocations["evidence"].iloc[0]


def test_a_third_party_paying_another_amount_is_for_a_human():
    result = match(bank(("B11", 50000, "Boulangerie Martin", "", "FA2024-000300")), OPEN, CUSTOMERS)
    assert allocations_of(result, "B11") == [("FA2024-000300", 50000, "reference_partial", "suggested")]


def test_bank_charges_taken_from_a_known_payer_settle_their_only_close_invoice():
    result = match(bank(("B21", 99500, "Muller Logistik GmbH", "", "Zahlung")), OPEN, CUSTOMERS)
    assert allocations_of(result, "B21") == [("FA2024-000200", 99500, "amount_tolerance", "auto"),
                                             ("FA2024-000200", 400, "write_off", "suggested")]


def test_a_refund_from_a_customer_near_an_invoice_amount_is_not_posted():
    result = match(bank(("B22", 99500, "Muller Logistik GmbH", "", "Rueckerstattung Gutschrift 20374")), OPEN, CUSTOMERS)
    assert set(result.allocations["status"]) == {"suggested"}


def test_a_line_converted_by_the_bank_is_matched_on_its_original_amount():
    usd = pd.concat([OPEN, pd.DataFrame([invoice("C003", "INV-US-0042", 50000, "2024-06-01")]).assign(currency="USD")])
    line = bank(("B12", 46000, "Garage Dupont", "", "INV-US-0042"))
    line["original_amount_minor"] = pd.array([50000], dtype="Int64")
    line["original_currency"] = "USD"
    result = match(line, usd, CUSTOMERS)
    assert allocations_of(result, "B12") == [("INV-US-0042", 50000, "reference", "auto")]


def test_applied_cash_reduces_the_open_items_and_only_full_settlements_are_lettered():
    result = match(bank(("B1", 120000, "BOULANGERIE MARTIN", "", "FA2024-000123"),
                        ("B6", 20000, "Boulangerie Martin", "", "FA2024-000124")), OPEN, CUSTOMERS)
    after = apply_allocations(OPEN, result.allocations, dt.date(2024, 6, 10)).set_index("invoice_id")["open_minor"]
    assert "FA2024-000123" not in after.index
    assert after["FA2024-000124"] == 28000
    ledger = conform(pd.DataFrame([
        {"source_file": "f", "line_no": 2, "journal_code": "VE", "entry_num": "1", "entry_date": T("2024-05-01"),
         "account": "411000", "aux_account": "C001", "piece_ref": "FA2024-000123", "debit_minor": 120000,
         "credit_minor": 0, "currency": "EUR"},
        {"source_file": "f", "line_no": 5, "journal_code": "VE", "entry_num": "2", "entry_date": T("2024-05-03"),
         "account": "411000", "aux_account": "C001", "piece_ref": "FA2024-000124", "debit_minor": 48000,
         "credit_minor": 0, "currency": "EUR"}]), __import__("receivables.ledger.schema", fromlist=["LINE_COLUMNS"]).LINE_COLUMNS)
    export = lettering_export(result.allocations, ledger, dt.date(2024, 6, 10))
    assert export[["line_no", "piece_ref", "let_code"]].values.tolist() == [[2, "FA2024-000123", "RB000001"]]


@pytest.mark.parametrize("remittance", ["FA2024-000123", "fa2024000123", "FA 2024 000123", "FA2024/123",
                                        "Facture FA-2024-000123 merci", "2024-000123"])
def test_reference_spellings_all_find_the_invoice(remittance):
    result = match(bank(("B1", 120000, "", "", remittance)), OPEN, CUSTOMERS)
    assert allocations_of(result, "B1")[0][:2] == ("FA2024-000123", 120000)


def test_a_converted_line_is_matched_on_the_booked_amount_when_the_ledger_keeps_invoices_in_its_own_currency():
    line = bank(("B13", 77700, "Garage Dupont", "", "FA2024-000300"))
    line["original_amount_minor"] = pd.array([72000], dtype="Int64")
    line["original_currency"] = "CHF"
    result = match(line, OPEN, CUSTOMERS)
    assert allocations_of(result, "B13") == [("FA2024-000300", 77700, "reference", "auto")]


def test_an_iso_11649_creditor_reference_wrapping_the_invoice_number_is_matched():
    result = match(bank(("B14", 48000, "", "", "", "RF47FA2024000124")), OPEN, CUSTOMERS)
    assert allocations_of(result, "B14") == [("FA2024-000124", 48000, "reference", "auto")]


def test_a_credit_note_named_in_the_remittance_is_netted_before_posting():
    with_note = pd.concat([OPEN, pd.DataFrame([invoice("C001", "AV2024-000009", -20000, "2024-05-20", "credit")])],
                          ignore_index=True)
    result = match(bank(("B15", 148000, "Boulangerie Martin", "", "FA2024-000123 FA2024-000124 avoir AV2024-000009")),
                   with_note, CUSTOMERS)
    assert allocations_of(result, "B15") == [("FA2024-000123", 120000, "reference", "auto"),
                                             ("FA2024-000124", 48000, "reference", "auto"),
                                             ("AV2024-000009", -20000, "credit_note", "auto")]


def test_a_bare_reference_with_an_unknown_payer_and_a_different_amount_is_not_posted():
    result = match(bank(("B16", 5700, "Librairie Inconnue", "", "REGLEMENT FA2024-000300")), OPEN, CUSTOMERS)
    assert allocations_of(result, "B16") == [("FA2024-000300", 5700, "reference_partial", "suggested")]


def test_a_suggestion_does_not_use_up_the_invoice_a_later_exact_payment_needs():
    result = match(bank(("B17", 30000, "Garage Dupont", "", "FA2024-000I30"),        # a typo, another payer
                        ("B18", 30000, "Boulangerie Martin", "", "FA2024-000130")), OPEN, CUSTOMERS)
    assert allocations_of(result, "B18") == [("FA2024-000130", 30000, "reference", "auto")]


def test_the_rest_of_a_payment_naming_one_invoice_goes_to_the_payers_item_of_that_amount():
    result = match(bank(("B19", 150000, "Boulangerie Martin", "", "FA2024-000123 et 130")), OPEN, CUSTOMERS)
    assert allocations_of(result, "B19") == [("FA2024-000123", 120000, "reference", "auto"),
                                             ("FA2024-000130", 30000, "amount_exact", "auto")]


def test_a_typo_in_the_payers_own_invoice_number_with_the_exact_amount_is_posted():
    result = match(bank(("B20", 48000, "Boulangerie Martin", "", "FA2024-000I24")), OPEN, CUSTOMERS)
    assert allocations_of(result, "B20") == [("FA2024-000124", 48000, "reference", "auto")]
