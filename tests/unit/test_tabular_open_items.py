"""Open items from aged-balance exports (CSV, XLSX) read through a YAML column mapping."""

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from receivables.ledger.schema import LINE_COLUMNS, QUARANTINE_COLUMNS, LedgerFormatError
from receivables.ledger.tabular import (
    MappingError,
    default_mapping,
    load_mapping,
    mapping_from_dict,
    read_open_items,
)

REPO = Path(__file__).resolve().parents[2]
MAPPINGS = REPO / "include" / "mappings"
FIXTURES = REPO / "tests" / "fixtures"

FRENCH_CSV = {
    "format": "csv", "separator": ";", "decimal": ",", "thousands": " ", "date_format": "%d/%m/%Y",
    "columns": {"customer_id": "Client", "invoice_id": "Facture", "invoice_date": "Date",
                "due_date": "Echeance", "currency": "Devise", "amount": "Solde"},
}
HEADER = "Client;Facture;Date;Echeance;Devise;Solde"


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def read_csv(tmp_path, body: str, **kwargs):
    path = write(tmp_path, "balance_agee.csv", f"{HEADER}\n{body}")
    return read_open_items(path, mapping_from_dict(FRENCH_CSV, source="fr.yaml"), **kwargs)


# -- the shipped example ------------------------------------------------------------------------

def test_the_shipped_csv_example_reads_a_french_aged_balance():
    # Balance âgée au 31/03/2024: two invoices of Dupont (one partly paid), a credit note of the
    # Café de la Gare, a Swiss invoice in CHF with a zero-padded amount.
    read = read_open_items(FIXTURES / "aged_balance_fr.csv", load_mapping(MAPPINGS / "aged_balance_example.yaml"))
    lines = read.lines
    assert list(lines.columns) == list(LINE_COLUMNS)
    assert lines.dtypes.astype(str).to_dict() == LINE_COLUMNS
    assert lines["piece_ref"].tolist() == ["F2024-0001", "F2024-0007", "AV2024-0002", "F2024-0012"]
    assert lines["aux_account"].tolist() == ["C001", "C001", "C002", "C003"]
    assert lines["debit_minor"].tolist() == [123456, 40000, 0, 6960]
    assert lines["credit_minor"].tolist() == [0, 0, 15000, 0]
    assert lines["currency"].tolist() == ["EUR", "EUR", "EUR", "CHF"]  # an empty currency is the ledger's
    assert lines.loc[0, "entry_date"] == lines.loc[0, "piece_date"] == pd.Timestamp("2024-01-15")
    assert lines.loc[0, "due_date"] == pd.Timestamp("2024-02-14") and pd.isna(lines.loc[2, "due_date"])
    assert lines["line_no"].tolist() == [4, 5, 6, 7]  # title, blank line, header on line 3
    assert set(lines["account"]) == {"411000"} and set(lines["journal_code"]) == {"AGB"}
    assert (lines["entry_num"] == lines["piece_ref"]).all() and set(lines["let_code"]) == {""}
    assert lines.loc[2, "aux_label"] == "Café de la Gare" and lines.loc[0, "label"] == "Facture janvier"
    assert read.meta["encoding"] == "cp1252" and read.rows_read == 4 and read.quarantine.empty


def test_the_shipped_mappings_are_valid():
    assert load_mapping(MAPPINGS / "aged_balance_example.yaml").format == "csv"
    assert load_mapping(MAPPINGS / "aged_balance_example_xlsx.yaml").sheet == "Open items"


# -- amounts and currencies ----------------------------------------------------------------------

def test_french_formatted_amounts_are_exact_cents(tmp_path):
    read = read_csv(tmp_path, "C001;F1;15/01/2024;;EUR;1 234 567 890,12\nC001;F2;15/01/2024;;EUR;0,1\n")
    assert read.lines["debit_minor"].tolist() == [123456789012, 10]


def test_an_invoice_is_a_debit_and_a_credit_note_a_credit(tmp_path):
    read = read_csv(tmp_path, "C001;F1;15/01/2024;;;100,00\nC001;AV1;20/01/2024;;;-30,00\nC001;AV2;21/01/2024;;;30,00-\n")
    assert read.lines[["debit_minor", "credit_minor"]].values.tolist() == [[10000, 0], [0, 3000], [0, 3000]]


def test_amounts_use_the_decimals_of_their_currency(tmp_path):
    read = read_csv(tmp_path, "C001;F1;15/01/2024;;JPY;1 500\nC001;F2;15/01/2024;;KWD;12,345\nC001;F3;15/01/2024;;JPY;1 500,5\n")
    assert read.lines["debit_minor"].tolist() == [1500, 12345]
    assert read.quarantine["reason_code"].tolist() == ["bad_amount"]
    assert "at most 0 decimals" in read.quarantine.loc[0, "reason"]


def test_a_ledger_currency_other_than_euros_applies_to_rows_without_currency(tmp_path):
    read = read_csv(tmp_path, "C001;F1;15/01/2024;;;100\n", ledger_currency="CHF")
    assert read.lines["currency"].tolist() == ["CHF"]


# -- every quarantine reason ---------------------------------------------------------------------

# One aged balance, one problem per line (line numbers: the header is line 1).
TROUBLED_BALANCE = """\
C001;F-100;15/01/2024;14/02/2024;EUR;1 200,00
;F-101;15/01/2024;14/02/2024;EUR;100,00
C001;;15/01/2024;14/02/2024;EUR;100,00
C001;F-103;15/01/2024;14/02/2024;EURO;100,00
C001;F-104;15/01/2024;14/02/2024;EUR;
C001;F-105;15/01/2024;14/02/2024;EUR;cent euros
C001;F-106;;14/02/2024;EUR;100,00
C001;F-107;31/02/2024;14/03/2024;EUR;100,00
C001;F-108;15/01/2024;32/02/2024;EUR;100,00
C001;F-109;15/03/2024;14/02/2024;EUR;100,00
C999;F-110;15/01/2024;14/02/2024;EUR;100,00
C001;F-100;15/01/2024;14/02/2024;EUR;1 200,00
C001;F-112;15/01/2024;14/02/2024;EUR;100,00;en trop
C002;F-100;15/01/2024;14/02/2024;EUR;50,00
"""


def test_every_unusable_row_is_quarantined_with_its_reason(tmp_path):
    read = read_csv(tmp_path, TROUBLED_BALANCE, known_customers={"C001", "C002"})
    quarantine = read.quarantine.set_index("line_no")
    assert quarantine[["field", "reason_code"]].to_dict("index") == {
        3: {"field": "customer_id", "reason_code": "missing_customer_id"},
        4: {"field": "invoice_id", "reason_code": "missing_invoice_id"},
        5: {"field": "currency", "reason_code": "unknown_currency"},
        6: {"field": "amount", "reason_code": "missing_amount"},
        7: {"field": "amount", "reason_code": "bad_amount"},
        8: {"field": "invoice_date", "reason_code": "missing_invoice_date"},
        9: {"field": "invoice_date", "reason_code": "bad_date"},
        10: {"field": "due_date", "reason_code": "bad_date"},
        11: {"field": "due_date", "reason_code": "due_before_invoice"},
        12: {"field": "customer_id", "reason_code": "unknown_customer"},
        13: {"field": "invoice_id", "reason_code": "duplicate_invoice"},
        14: {"field": "", "reason_code": "wrong_field_count"},
    }
    assert list(read.quarantine.columns) == list(QUARANTINE_COLUMNS)
    # the same invoice number for another customer is another invoice
    assert read.lines[["aux_account", "piece_ref"]].values.tolist() == [["C001", "F-100"], ["C002", "F-100"]]


def test_quarantine_reasons_are_sentences_a_clerk_can_act_on(tmp_path):
    read = read_csv(tmp_path, TROUBLED_BALANCE, known_customers={"C001", "C002"})
    reasons = read.quarantine.set_index("line_no")["reason"]
    assert reasons[5] == "unknown currency code 'EURO' (expected ISO 4217, e.g. EUR)"
    assert reasons[7] == "'cent euros' is not an amount with at most 2 decimals (decimal mark ',')"
    assert reasons[9] == "invoice date '31/02/2024' is not a valid date (expected DD/MM/YYYY)"
    assert reasons[11] == "due date '14/02/2024' is before the invoice date '15/03/2024'"
    assert reasons[12] == "customer 'C999' is not in the customer master"
    assert reasons[13] == "invoice 'F-100' of customer 'C001' is already listed on line 2; this line is ignored"
    assert read.quarantine.set_index("line_no").loc[7, "raw"] == "C001;F-105;15/01/2024;14/02/2024;EUR;cent euros"


def test_rows_are_conserved(tmp_path):
    read = read_csv(tmp_path, TROUBLED_BALANCE, known_customers={"C001", "C002"})
    assert read.rows_read == 14 == len(read.lines) + len(read.quarantine)
    read.check_conservation()


def test_a_row_with_several_problems_lists_them_all(tmp_path):
    read = read_csv(tmp_path, "C001;F1;31/02/2024;99/99/2024;EUR;douze\nC001;F2;15/01/2024;;EUR;12,00\n")
    [record] = read.quarantine.to_dict("records")
    assert record["reason_code"] == "bad_amount"
    assert "(also invoice date '31/02/2024' is not a valid date" in record["reason"]
    assert "due date '99/99/2024' is not a valid date" in record["reason"]


def test_without_a_customer_list_any_customer_is_accepted(tmp_path):
    read = read_csv(tmp_path, "C999;F1;15/01/2024;;EUR;10,00\n")
    assert read.lines["aux_account"].tolist() == ["C999"]


# -- the file does not match its mapping ---------------------------------------------------------

def test_a_column_missing_from_the_export_stops_the_read_naming_file_and_column(tmp_path):
    path = write(tmp_path, "balance_agee.csv", "Client;Facture;Date;Devise;Montant\nC001;F1;15/01/2024;EUR;10,00\n")
    with pytest.raises(LedgerFormatError, match=r"^balance_agee\.csv, line 1: missing required column 'Solde' \(for amount\)"):
        read_open_items(path, mapping_from_dict(FRENCH_CSV))


def test_a_wrong_decimal_mark_in_the_mapping_stops_the_read_instead_of_quarantining_everything(tmp_path):
    mapping = mapping_from_dict({**FRENCH_CSV, "decimal": ".", "thousands": ","}, source="wrong.yaml")
    path = write(tmp_path, "balance_agee.csv", f"{HEADER}\nC001;F1;15/01/2024;;EUR;10,50\nC001;F2;15/01/2024;;EUR;1 200,50\n")
    with pytest.raises(LedgerFormatError, match=r"line 2: none of the 2 values of column 'Solde' \(amount\).*wrong\.yaml"):
        read_open_items(path, mapping)


def test_a_wrong_date_format_in_the_mapping_stops_the_read(tmp_path):
    mapping = mapping_from_dict({**FRENCH_CSV, "date_format": "%Y-%m-%d"})
    path = write(tmp_path, "balance_agee.csv", f"{HEADER}\nC001;F1;15/01/2024;;EUR;10\nC001;F2;16/01/2024;;EUR;12\n")
    with pytest.raises(LedgerFormatError, match="date_format '%Y-%m-%d'"):
        read_open_items(path, mapping)


def test_a_workbook_given_to_a_csv_mapping_is_refused(tmp_path):
    path = tmp_path / "balance.csv"
    openpyxl.Workbook().save(path)
    with pytest.raises(LedgerFormatError, match="XLSX"):
        read_open_items(path, mapping_from_dict(FRENCH_CSV))


# -- XLSX ------------------------------------------------------------------------------------------

def aged_balance_workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    book.active.title = "Summary"
    book.active.append(["Aged receivables at 2024-03-31"])
    sheet = book.create_sheet("Open items")
    sheet.append(["Customer", "Customer name", "Invoice", "Invoice date", "Due date", "Currency", "Open amount"])
    sheet.append([1001, "Boulangerie Dupont", "F2024-0001", datetime(2024, 1, 15), date(2024, 2, 14), "EUR", 1234.56])
    sheet.append([1001, "Boulangerie Dupont", "F2024-0007", "2024-01-31", "2024-03-01", None, "1,200.50"])
    sheet.append([1002, "Café de la Gare", "AV2024-0002", datetime(2024, 2, 2), None, "EUR", -150])
    sheet.append([])  # an empty row in the middle of the sheet
    sheet.append([1003, "Garage Martin", "F2024-0012", datetime(2024, 2, 29), None, "EUR", 69.6])
    sheet.append([1003, "Garage Martin", "F2024-0013", datetime(2024, 3, 1), None, "EUR", 10.005])
    sheet.append([1003, "Garage Martin", "F2024-0014", 45351, None, "EUR", 10])
    book.save(path)
    return path


def test_a_workbook_reads_numbers_dates_and_text_cells_exactly(tmp_path):
    path = aged_balance_workbook(tmp_path / "aged_receivables.xlsx")
    read = read_open_items(path, load_mapping(MAPPINGS / "aged_balance_example_xlsx.yaml"))
    lines = read.lines
    assert lines["aux_account"].tolist() == ["1001", "1001", "1002", "1003"]
    assert lines["debit_minor"].tolist() == [123456, 120050, 0, 6960]
    assert lines["credit_minor"].tolist() == [0, 0, 15000, 0]
    assert lines["piece_date"].tolist() == [pd.Timestamp(d) for d in ("2024-01-15", "2024-01-31", "2024-02-02", "2024-02-29")]
    assert lines.loc[0, "due_date"] == pd.Timestamp("2024-02-14") and lines.loc[1, "due_date"] == pd.Timestamp("2024-03-01")
    assert lines["line_no"].tolist() == [2, 3, 4, 6]  # worksheet rows
    assert read.meta["sheet"] == "Open items"


def test_a_workbook_float_with_more_decimals_than_the_currency_is_quarantined_not_rounded(tmp_path):
    path = aged_balance_workbook(tmp_path / "aged_receivables.xlsx")
    read = read_open_items(path, load_mapping(MAPPINGS / "aged_balance_example_xlsx.yaml"))
    quarantine = read.quarantine.set_index("line_no")
    assert quarantine.loc[7, "reason_code"] == "bad_amount"
    assert quarantine.loc[8, ["field", "reason_code"]].tolist() == ["invoice_date", "bad_date"]  # a bare number
    assert read.rows_read == 6 == len(read.lines) + len(read.quarantine)  # the empty row is no record


def test_a_missing_sheet_is_named(tmp_path):
    path = aged_balance_workbook(tmp_path / "aged_receivables.xlsx")
    mapping = mapping_from_dict({"format": "xlsx", "sheet": "Balance", "columns": {
        "customer_id": "Customer", "invoice_id": "Invoice", "invoice_date": "Invoice date", "amount": "Open amount"}})
    with pytest.raises(LedgerFormatError, match=r"no sheet named 'Balance' \(sheets: Summary, Open items\)"):
        read_open_items(path, mapping)


# -- the mapping file -----------------------------------------------------------------------------

def mapping_file(tmp_path: Path, text: str) -> Path:
    return write(tmp_path, "export_sage.yaml", text)


MINIMAL = """\
format: csv
columns:
  customer_id: Client
  invoice_id: Facture
  invoice_date: Date
  amount: Solde
"""


def test_a_minimal_mapping_has_sensible_defaults(tmp_path):
    mapping = load_mapping(mapping_file(tmp_path, MINIMAL))
    assert (mapping.decimal, mapping.date_format, mapping.skip_rows, mapping.account) == (".", "%Y-%m-%d", 0, "411000")
    assert mapping.separator is None and mapping.encoding is None  # sniffed
    assert mapping.source == "export_sage.yaml"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ("format: json", "format"),
        ("decimal: ';'", "decimal"),
        ("thousands: '.'\ndecimal: '.'", "thousands"),
        ("date_format: 'dd/mm/yyyy'", "date_format"),
        ("skip_rows: -1", "skip_rows"),
        ("encoding: klingon", "encoding"),
        ("sheet: Feuil1", "sheet"),
        ("account: '401000'", "account"),
        ("separateur: ';'", "separateur"),
    ],
)
def test_a_bad_mapping_key_is_named_with_the_file(tmp_path, change, key):
    text = MINIMAL.replace("format: csv\n", "" if change.startswith("format") else "format: csv\n") + change + "\n"
    with pytest.raises(MappingError) as error:
        load_mapping(mapping_file(tmp_path, text))
    assert str(error.value).startswith(f"export_sage.yaml, key '{key}'")


def test_a_mapping_without_a_required_field_names_it(tmp_path):
    with pytest.raises(MappingError, match=r"key 'columns\.amount': required field\(s\) amount not mapped"):
        load_mapping(mapping_file(tmp_path, MINIMAL.replace("  amount: Solde\n", "")))


def test_a_mapping_with_an_unknown_field_names_it(tmp_path):
    with pytest.raises(MappingError, match=r"key 'columns\.montant'"):
        load_mapping(mapping_file(tmp_path, MINIMAL + "  montant: Montant\n"))


def test_a_mapping_that_is_not_yaml_is_named(tmp_path):
    with pytest.raises(MappingError, match=r"^export_sage\.yaml: not valid YAML"):
        load_mapping(mapping_file(tmp_path, "format: [csv\n"))


def test_without_a_mapping_file_an_export_in_our_own_terms_is_read(tmp_path):
    path = write(tmp_path, "open_items.csv",
                 "customer_id,invoice_id,invoice_date,due_date,amount\n"
                 "C001,F1,2024-01-15,2024-02-14,1234.50\n"
                 "C002,AV1,2024-01-20,,-99.90\n")
    read = read_open_items(path, default_mapping("csv"))
    assert read.lines[["aux_account", "debit_minor", "credit_minor"]].values.tolist() == [
        ["C001", 123450, 0], ["C002", 0, 9990]]
    assert read.lines.loc[0, "due_date"] == pd.Timestamp("2024-02-14")
