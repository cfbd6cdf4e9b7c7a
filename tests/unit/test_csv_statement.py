"""Bank CSV exports read with a YAML mapping: the French example, debit/credit columns, bad rows
quarantined with their line, rows conserved."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from receivables.bank.csv_statement import load_bank_mapping, read_csv_statement
from receivables.bank.schema import BANK_LINE_COLUMNS, StatementFormatError
from receivables.ledger.schema import QUARANTINE_COLUMNS
from receivables.ledger.tabular import MappingError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "tests" / "fixtures" / "bank_statement_fr.csv"
MAPPING = REPO / "include" / "mappings" / "bank_csv_example.yaml"
IBAN = "FR7630001007941234567890185"

FRENCH = {
    "separator": ";", "decimal": ",", "thousands": " ", "date_format": "%d/%m/%Y",
    "account": IBAN, "currency": "EUR",
    "columns": {"booking_date": "Date", "remittance": "Libellé", "debit": "Débit", "credit": "Crédit"},
}


def _csv(tmp_path, *rows: str, header: str = "Date;Libellé;Débit;Crédit") -> Path:
    path = tmp_path / "releve.csv"
    path.write_text("\r\n".join([header, *rows]) + "\r\n", encoding="utf-8")
    return path


def test_the_french_example_export_reads_with_the_example_mapping():
    read = read_csv_statement(EXAMPLE, MAPPING)

    [statement] = read.statements
    assert (statement.statement_id, statement.account, statement.currency) == (
        f"{IBAN}/2024-03-08", IBAN, "EUR")
    assert statement.opening_balance_minor is None and statement.closing_balance_minor is None
    assert (str(statement.opening_date), str(statement.closing_date)) == ("2024-03-01", "2024-03-08")
    assert read.lines["amount_minor"].tolist() == [125000, -84512, 348060, 31240, -1250, 200000]
    assert read.lines["remittance"].iloc[3] == "REMISE CHEQUE N°4521 BOULANGERIE LEROY"  # CP1252, decoded
    assert read.lines["bank_line_id"].tolist() == [f"{IBAN}/2024-03-08#{k}" for k in range(1, 7)]
    assert read.lines["booking_date"].iloc[0] == pd.Timestamp("2024-03-01")
    assert read.lines["value_date"].isna().all()
    assert list(read.lines.columns) == list(BANK_LINE_COLUMNS)
    assert read.meta["encoding"] == "cp1252" and read.meta["header_line"] == 2
    assert read.entries_read == 6 and read.quarantine.empty


def test_a_mapping_may_be_given_as_a_dict_or_a_file():
    assert load_bank_mapping(MAPPING).account == IBAN  # printed with spaces in the file
    by_dict = read_csv_statement(EXAMPLE, {**FRENCH, "skip_rows": 1})

    assert by_dict.lines["amount_minor"].sum() == 618538  # 7 043,00 in, 857,62 out


def test_the_statement_id_follows_the_mappings_template():
    read = read_csv_statement(EXAMPLE, {**FRENCH, "skip_rows": 1, "statement_id": "{account}/{first_date}/{file}"})

    assert read.statements[0].statement_id == f"{IBAN}/2024-03-01/bank_statement_fr"
    assert read.lines["bank_line_id"].iloc[0] == f"{IBAN}/2024-03-01/bank_statement_fr#1"


def test_debit_and_credit_columns_give_amounts_signed_credit_positive(tmp_path):
    path = _csv(tmp_path,
                "01/03/2024;VIR SEPA DUPONT SA F2024-0012;;1 250,00",
                "02/03/2024;PRLV SEPA URSSAF;845,12;",
                "03/03/2024;FRAIS (écrit négatif par la banque);-12,50;",
                "04/03/2024;VIR SEPA LEROY;0,00;312,40")

    read = read_csv_statement(path, FRENCH)

    assert read.lines["amount_minor"].tolist() == [125000, -84512, -1250, 31240]


def test_a_signed_amount_column_is_used_as_it_is(tmp_path):
    path = _csv(tmp_path, "2024-03-01;1250.00;DUPONT SA;F2024-0012;E2E-0012",
                "2024-03-02;-845.12;URSSAF;;",
                header="Booking date;Amount;Counterparty;Details;End to end")
    mapping = {"account": IBAN, "columns": {"booking_date": "Booking date", "amount": "Amount",
                                            "counterparty_name": "Counterparty", "remittance": "Details",
                                            "end_to_end_id": "End to end"}}

    read = read_csv_statement(path, mapping)

    assert read.lines["amount_minor"].tolist() == [125000, -84512]
    assert read.lines["counterparty_name"].tolist() == ["DUPONT SA", "URSSAF"]
    assert read.lines["end_to_end_id"].tolist() == ["E2E-0012", ""]


def test_a_bad_amount_and_a_bad_date_are_quarantined_with_their_line(tmp_path):
    path = _csv(tmp_path,
                "01/03/2024;VIR SEPA DUPONT SA F2024-0012;;1 250,00",
                "31/02/2024;VIR SEPA MARTIN F2024-0031;;3 480,60",
                "05/03/2024;VIR SEPA LEROY F2024-0035;;312,4O",
                "06/03/2024;VIR SEPA GARNIER F2024-0040;;2 000,00")

    read = read_csv_statement(path, FRENCH)

    assert read.quarantine[["line_no", "field", "reason_code"]].values.tolist() == [
        [3, "booking_date", "bad_date"],
        [4, "credit", "bad_amount"],
    ]
    reasons = read.quarantine["reason"].tolist()
    assert reasons[0] == (f"row {IBAN}/2024-03-06#2: booking date '31/02/2024' is not a valid date "
                          "(expected DD/MM/YYYY)")
    assert reasons[1] == (f"row {IBAN}/2024-03-06#3: credit '312,4O' is not an amount with at most 2 "
                          "decimals (decimal mark ',')")
    assert read.quarantine["raw"].tolist()[1] == "05/03/2024;VIR SEPA LEROY F2024-0035;;312,4O"
    assert list(read.quarantine.columns) == list(QUARANTINE_COLUMNS)
    # The good rows keep the numbers they have in the file.
    assert read.lines["position"].tolist() == [1, 4]


def test_rows_read_are_rows_loaded_plus_rows_quarantined(tmp_path):
    path = _csv(tmp_path,
                "01/03/2024;VIR SEPA DUPONT SA;;1 250,00",
                "02/03/2024;LIGNE VIDE;;",
                "03/03/2024;DEUX MONTANTS;10,00;20,00",
                "04/03/2024;MONTANT NUL;0,00;",
                ";SANS DATE;;5,00",
                "06/03/2024;UNE CELLULE;EN TROP;1,00;",
                "07/03/2024;VIR SEPA GARNIER;;2 000,00")

    read = read_csv_statement(path, FRENCH)

    assert read.entries_read == 7 == len(read.lines) + len(read.quarantine)
    read.check_conservation()
    assert read.quarantine.set_index("line_no")["reason_code"].to_dict() == {
        3: "missing_amount", 4: "both_debit_and_credit", 5: "zero_amount", 6: "missing_date",
        7: "wrong_field_count"}


def test_an_export_the_mapping_does_not_describe_stops_the_read(tmp_path):
    path = _csv(tmp_path, "2024-03-01;VIR A;;1250.00", "2024-03-02;VIR B;;80.10")

    with pytest.raises(StatementFormatError, match=r"releve.csv, line 2: none of the 2 values of column 'Date' "
                                                   r"\(booking_date\) can be read with date_format '%d/%m/%Y'"):
        read_csv_statement(path, FRENCH)


def test_a_missing_required_column_is_named(tmp_path):
    path = _csv(tmp_path, "01/03/2024;VIR;1250,00", header="Date;Libellé;Montant")

    with pytest.raises(StatementFormatError, match=r"releve.csv, line 1: missing required columns 'Débit' "
                                                   r"\(for debit\), 'Crédit' \(for credit\)"):
        read_csv_statement(path, FRENCH)


@pytest.mark.parametrize(("change", "key"), [
    ({"account": None}, "account"),
    ({"columns": {"booking_date": "Date", "amount": "Montant", "debit": "Débit", "credit": "Crédit"}},
     "columns.amount"),
    ({"columns": {"booking_date": "Date", "debit": "Débit"}}, "columns.credit"),
    ({"columns": {"booking_date": "Date", "montant": "Montant"}}, "columns.montant"),
    ({"date_format": "dd/mm/yyyy"}, "date_format"),
    ({"statement_id": "{account}/{week}"}, "statement_id"),
])
def test_a_mapping_that_cannot_be_used_names_its_key(change, key):
    with pytest.raises(MappingError, match=f"key '{key}'"):
        read_csv_statement(EXAMPLE, {**FRENCH, **change})
