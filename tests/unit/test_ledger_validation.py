"""The ledger suite run for real with Great Expectations on tiny FEC files: what quarantines a
line (and its whole entry), what only warns, when a file is refused as a whole, and the report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from receivables.ledger.fec import read_fec
from receivables.validation.ledger import SystemicValidationError, ValidationOutcome, validate_ledger
from receivables.validation.report import write_report

from shared_paths import SHARED_FIXTURES as FIXTURES
PIPE_CP850 = FIXTURES / "fec-neolegal-fec-reader" / "111111111FEC20221231.TXT"

FEC_HEADER = ["JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib",
              "CompAuxNum", "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit",
              "EcritureLet", "DateLet", "ValidDate", "Montantdevise", "Idevise"]
JOURNALS = {"VE": "Ventes", "BQ": "Banque", "OD": "Opérations diverses"}
ACCOUNTS = {"411": "Clients", "706": "Prestations de services", "445": "TVA collectée", "512": "Banque"}
FILE_NAME = "123456789FEC20250630.txt"


def fec_row(row: tuple[str, ...]) -> list[str]:
    """(journal, entry, date, account, aux, aux label, piece, label, debit, credit, let, date let
    [, montant devise, idevise]) -> the 18 FEC fields."""
    journal, num, date, account, aux, aux_label, piece, label, debit, credit, let, let_date = row[:12]
    amount_fx, currency = row[12:] if len(row) == 14 else ("", "")
    return [journal, JOURNALS.get(journal, journal), num, date, account, ACCOUNTS.get(account[:3], account),
            aux, aux_label, piece, date, label, debit, credit, let, let_date, date, amount_fx, currency]


def write_fec(tmp_path: Path, rows, *, name: str = FILE_NAME, sep: str = "\t") -> Path:
    path = tmp_path / name
    text = "\n".join([sep.join(FEC_HEADER)] + [sep.join(fec_row(r)) for r in rows]) + "\n"
    path.write_bytes(text.encode("utf-8"))
    return path


def invoice(num: str, customer: str, name: str, net_cents: int, day: int = 3) -> list[tuple[str, ...]]:
    """A sales entry: the customer owes net + 20% VAT."""
    vat = net_cents // 5
    euros = lambda cents: f"{cents // 100},{cents % 100:02d}"  # noqa: E731
    date, piece = f"202503{day:02d}", f"FA-{num}"
    return [
        ("VE", num, date, "411000", customer, name, piece, f"Facture {piece}", euros(net_cents + vat), "0,00", "", ""),
        ("VE", num, date, "706000", "", "", piece, f"Facture {piece}", "0,00", euros(net_cents), "", ""),
        ("VE", num, date, "445710", "", "", piece, f"Facture {piece}", "0,00", euros(vat), "", ""),
    ]


# A busy month for a small wholesaler: 50 balanced invoices to 10 customers (150 lines), so that
# one bad entry stays under the 5% the suite tolerates before refusing the file.
CUSTOMERS = {f"C{i:03d}": name for i, name in enumerate(
    ["Boulangerie Martin", "Brasserie du Port", "Hôtel Bellevue", "Garage Lefèvre", "Café de la Gare",
     "Pharmacie Centrale", "Librairie Duval", "Fromagerie Roux", "Atelier Morel", "Pâtisserie Blanc"], start=1)}
BUSY_MONTH = [row for k in range(50) for row in invoice(
    str(100 + k), f"C{k % 10 + 1:03d}", CUSTOMERS[f"C{k % 10 + 1:03d}"], 10000 + 2500 * k, day=1 + k % 28)]


def validate(tmp_path: Path, rows, **kwargs) -> ValidationOutcome:
    outcome = validate_ledger(read_fec(write_fec(tmp_path, rows)), **kwargs)
    assert outcome.rows_read == len(outcome.lines) + len(outcome.quarantine)
    return outcome


def quarantined(outcome: ValidationOutcome) -> list[tuple[int, str, str]]:
    return [(int(q.line_no), q.reason_code, q.reason) for q in outcome.quarantine.itertuples()]


def finding(outcome: ValidationOutcome, code: str):
    found = [f for f in outcome.findings if f.reason_code == code]
    assert len(found) == 1, f"expected one {code} finding in {outcome.findings}"
    return found[0]


# -- a clean ledger ---------------------------------------------------------------------------------

def test_a_month_of_balanced_invoices_loads_whole_with_no_finding(tmp_path):
    outcome = validate(tmp_path, BUSY_MONTH, known_customers=set(CUSTOMERS))
    assert outcome.rows_read == 150 and len(outcome.lines) == 150 and outcome.quarantine.empty
    assert outcome.findings == [] and outcome.success
    assert outcome.source_file == FILE_NAME
    assert all(r.success for r in outcome.results) and len(outcome.results) == 15


def test_the_real_cp850_export_with_identical_vat_lines_loads_with_nothing_quarantined():
    outcome = validate_ledger(read_fec(PIPE_CP850))
    assert outcome.rows_read == 934 == len(outcome.lines) + len(outcome.quarantine)
    assert len(outcome.quarantine) == 0 and outcome.success
    identical = finding(outcome, "identical_lines")
    assert identical.severity == "warning" and identical.count == 19
    assert identical.line_nos[:5] == [8, 10, 17, 19, 26]
    assert [f.reason_code for f in outcome.findings] == ["identical_lines"]


# -- errors: the entry is quarantined whole ---------------------------------------------------------

def test_an_unbalanced_entry_is_quarantined_whole_and_the_other_entries_load(tmp_path):
    # VE 12 bills 1210.00 to the Boulangerie Martin for 1000.00 + 200.00 VAT: 10.00 too much.
    ve12 = [
        ("VE", "12", "20250303", "411000", "C001", "Boulangerie Martin", "FA-12", "Facture FA-12", "1210,00", "0,00", "", ""),
        ("VE", "12", "20250303", "706000", "", "", "FA-12", "Facture FA-12", "0,00", "1000,00", "", ""),
        ("VE", "12", "20250303", "445710", "", "", "FA-12", "Facture FA-12", "0,00", "200,00", "", ""),
    ]
    outcome = validate(tmp_path, ve12 + BUSY_MONTH)
    reason = "entry VE 12 does not balance: debit minus credit is 10.00 EUR"
    assert quarantined(outcome) == [(2, "unbalanced_entry", reason), (3, "unbalanced_entry", reason),
                                    (4, "unbalanced_entry", reason)]
    assert set(outcome.quarantine["field"]) == {"Debit"}
    assert set(outcome.quarantine["source_file"]) == {FILE_NAME}
    assert outcome.quarantine.loc[0, "raw"] == "VE|12|20250303|411000|C001|FA-12|Facture FA-12|121000|0"
    assert len(outcome.lines) == 150 and not outcome.lines["entry_num"].eq("12").any()
    assert outcome.rows_read == 153
    error = finding(outcome, "unbalanced_entry")
    assert (error.severity, error.count, error.line_nos) == ("error", 3, [2, 3, 4])
    assert not outcome.success


def test_an_entry_short_of_credit_reports_a_negative_difference(tmp_path):
    ve12 = [
        ("VE", "12", "20250303", "411000", "C001", "Boulangerie Martin", "FA-12", "Facture FA-12", "1200,00", "0,00", "", ""),
        ("VE", "12", "20250303", "706000", "", "", "FA-12", "Facture FA-12", "0,00", "1000,00", "", ""),
        ("VE", "12", "20250303", "445710", "", "", "FA-12", "Facture FA-12", "0,00", "200,05", "", ""),
    ]
    outcome = validate(tmp_path, ve12 + BUSY_MONTH)
    assert {r for _, _, r in quarantined(outcome)} == {"entry VE 12 does not balance: debit minus credit is -0.05 EUR"}
    assert len(outcome.quarantine) == 3 and len(outcome.lines) == 150


def test_a_line_with_both_a_debit_and_a_credit_holds_its_entry_back(tmp_path):
    # VE 13 nets the customer line (600.00 debit, 100.00 credit): the entry balances, the line is wrong.
    ve13 = [
        ("VE", "13", "20250304", "706000", "", "", "FA-13", "Facture FA-13", "0,00", "500,00", "", ""),
        ("VE", "13", "20250304", "411000", "C002", "Brasserie du Port", "FA-13", "Facture FA-13", "600,00", "100,00", "", ""),
    ]
    outcome = validate(tmp_path, ve13 + BUSY_MONTH)
    assert quarantined(outcome) == [
        (2, "entry_held_back", "held back with its entry VE 13: see line 3"),
        (3, "debit_and_credit", "the line has both a debit and a credit"),
    ]
    assert outcome.quarantine["field"].tolist() == ["", "Debit"]
    assert len(outcome.lines) == 150 and outcome.rows_read == 152
    assert finding(outcome, "debit_and_credit").line_nos == [3]


def test_an_entry_exported_twice_is_a_duplicate_entry(tmp_path):
    ve14 = invoice("14", "C003", "Hôtel Bellevue", 80000)
    outcome = validate(tmp_path, ve14 + BUSY_MONTH[:60] + ve14 + BUSY_MONTH[60:])
    expected = "the whole entry appears twice in the file (a double export?)"
    assert quarantined(outcome) == [(n, "duplicate_entry", expected) for n in (2, 3, 4, 65, 66, 67)]
    assert len(outcome.lines) == 150 and outcome.rows_read == 156
    assert finding(outcome, "duplicate_entry").count == 6


def test_a_ledger_validated_in_slices_finds_exactly_what_it_finds_whole(tmp_path, monkeypatch):
    # A large ledger goes through Great Expectations in slices (GX copies the frame per metric).
    # Entry facts are computed on the whole file first, so an entry exported twice 60 lines apart,
    # an unbalanced entry and a line with both sides are found across slices of 7 lines.
    ve14 = invoice("14", "C003", "Hôtel Bellevue", 80000)
    ve12 = [
        ("VE", "12", "20250303", "411000", "C001", "Boulangerie Martin", "FA-12", "Facture FA-12", "1210,00", "0,00", "", ""),
        ("VE", "12", "20250303", "706000", "", "", "FA-12", "Facture FA-12", "0,00", "1000,00", "", ""),
        ("VE", "12", "20250303", "445710", "", "", "", "", "0,00", "200,00", "", ""),
    ]
    ve13 = [
        ("VE", "13", "20250304", "706000", "", "", "FA-13", "Facture FA-13", "0,00", "500,00", "", ""),
        ("VE", "13", "20250304", "411000", "C002", "Brasserie du Port", "FA-13", "Facture FA-13", "600,00", "100,00", "", ""),
    ]
    rows = ve14 + BUSY_MONTH[:60] + ve12 + ve14 + BUSY_MONTH[60:100] + ve13 + BUSY_MONTH[100:]
    whole = validate(tmp_path, rows, max_error_share=0.5)
    monkeypatch.setattr("receivables.validation.gx.CHUNK_ROWS", 7)
    sliced = validate(tmp_path, rows, max_error_share=0.5)
    assert quarantined(sliced) == quarantined(whole)
    assert {q[1] for q in quarantined(sliced)} == {"duplicate_entry", "unbalanced_entry", "debit_and_credit",
                                                    "entry_held_back"}
    assert [(f.reason_code, f.count, f.line_nos) for f in sliced.findings] == \
        [(f.reason_code, f.count, f.line_nos) for f in whole.findings]
    assert finding(sliced, "missing_label").line_nos == [67]
    assert [(r.name, r.element_count, r.unexpected_count) for r in sliced.results] == \
        [(r.name, r.element_count, r.unexpected_count) for r in whole.results]
    assert {r.element_count for r in sliced.results} == {len(rows)}


def test_identical_lines_inside_a_balanced_entry_only_warn_and_load(tmp_path):
    # Two equal VAT lines (two VAT bases at the same rate), as real exports write them.
    ve15 = [
        ("VE", "15", "20250305", "411000", "C004", "Garage Lefèvre", "FA-15", "Facture FA-15", "240,00", "0,00", "", ""),
        ("VE", "15", "20250305", "706000", "", "", "FA-15", "Facture FA-15", "0,00", "200,00", "", ""),
        ("VE", "15", "20250305", "445710", "", "", "FA-15", "Facture FA-15", "0,00", "20,00", "", ""),
        ("VE", "15", "20250305", "445710", "", "", "FA-15", "Facture FA-15", "0,00", "20,00", "", ""),
    ]
    outcome = validate(tmp_path, ve15 + BUSY_MONTH)
    assert outcome.quarantine.empty and len(outcome.lines) == 154 and outcome.success
    warning = finding(outcome, "identical_lines")
    assert (warning.severity, warning.count, warning.line_nos) == ("warning", 2, [4, 5])
    assert outcome.lines.loc[outcome.lines["entry_num"] == "15", "credit_minor"].tolist() == [0, 20000, 2000, 2000]


def test_an_unknown_currency_code_is_quarantined_with_its_entry(tmp_path):
    # A Swiss customer billed in CHF (valid) and one line of VE 17 in 'XYZ' (not a currency).
    ve16 = [
        ("VE", "16", "20250306", "411000", "C003", "Hôtel Bellevue", "FA-16", "Facture FA-16", "920,00", "0,00", "", "", "1000,00", "CHF"),
        ("VE", "16", "20250306", "706000", "", "", "FA-16", "Facture FA-16", "0,00", "920,00", "", "", "1000,00", "CHF"),
    ]
    ve17 = [
        ("VE", "17", "20250306", "411000", "C003", "Hôtel Bellevue", "FA-17", "Facture FA-17", "460,00", "0,00", "", "", "500,00", "XYZ"),
        ("VE", "17", "20250306", "706000", "", "", "FA-17", "Facture FA-17", "0,00", "460,00", "", "", "", ""),
    ]
    outcome = validate(tmp_path, ve16 + ve17 + BUSY_MONTH)
    assert quarantined(outcome) == [
        (4, "bad_currency", "Idevise 'XYZ' is not an ISO 4217 currency code"),
        (5, "entry_held_back", "held back with its entry VE 17: see line 4"),
    ]
    assert outcome.quarantine.loc[0, "field"] == "Idevise"
    loaded = outcome.lines.set_index("line_no")
    assert loaded.loc[2, "currency_code"] == "CHF" and loaded.loc[2, "currency_amount_minor"] == 100000
    assert len(outcome.lines) == 152


def test_a_line_the_reader_quarantined_holds_the_rest_of_its_entry_back(tmp_path):
    # BQ 8 pays two invoices; the lines for Brasserie du Port have an impossible date. The two
    # lines for the Boulangerie Martin balance on their own, but loading them would load half
    # an entry: they are held back and say which line held them.
    bq8 = [
        ("BQ", "8", "20250320", "512000", "", "", "VIR-8", "Remise de virements", "100,00", "0,00", "", ""),
        ("BQ", "8", "20250320", "411000", "C001", "Boulangerie Martin", "VIR-8", "Remise de virements", "0,00", "100,00", "", ""),
        ("BQ", "8", "20250230", "512000", "", "", "VIR-8", "Remise de virements", "50,00", "0,00", "", ""),
        ("BQ", "8", "20250230", "411000", "C002", "Brasserie du Port", "VIR-8", "Remise de virements", "0,00", "50,00", "", ""),
    ]
    outcome = validate(tmp_path, bq8 + BUSY_MONTH)
    assert [(n, code) for n, code, _ in quarantined(outcome)] == [
        (2, "entry_held_back"), (3, "entry_held_back"), (4, "bad_date"), (5, "bad_date")]
    assert quarantined(outcome)[0][2] == "held back with its entry BQ 8: see line 4"
    assert len(outcome.lines) == 150 and not outcome.lines["journal_code"].eq("BQ").any()


def test_an_entry_left_unbalanced_by_an_unreadable_line_is_held_back_not_called_unbalanced(tmp_path):
    rows = list(BUSY_MONTH)
    rows[4] = rows[4][:8] + ("12,3x", "0,00") + rows[4][10:]   # line 6, in VE 101 (lines 5 to 7)
    outcome = validate(tmp_path, rows)
    assert quarantined(outcome) == [
        (5, "entry_held_back", "held back with its entry VE 101: see line 6"),
        (6, "bad_amount", "'12,3x' is not an amount"),
        (7, "entry_held_back", "held back with its entry VE 101: see line 6"),
    ]
    assert len(outcome.lines) == 147


def test_a_line_without_an_account_is_a_missing_field(tmp_path):
    ve18 = [
        ("VE", "18", "20250307", "411000", "C005", "Café de la Gare", "FA-18", "Facture FA-18", "120,00", "0,00", "", ""),
        ("VE", "18", "20250307", "", "", "", "FA-18", "Facture FA-18", "0,00", "120,00", "", ""),
    ]
    outcome = validate(tmp_path, ve18 + BUSY_MONTH)
    assert quarantined(outcome) == [
        (2, "entry_held_back", "held back with its entry VE 18: see line 3"),
        (3, "missing_field", "CompteNum is empty"),
    ]
    assert outcome.quarantine["field"].tolist() == ["", "CompteNum"]


# -- warnings: the line loads -----------------------------------------------------------------------

def test_a_customer_absent_from_the_master_is_a_warning_and_the_line_loads(tmp_path):
    ve19 = invoice("19", "C099", "Nouveau Client SARL", 50000)
    outcome = validate(tmp_path, ve19 + BUSY_MONTH, known_customers=set(CUSTOMERS))
    assert outcome.quarantine.empty and len(outcome.lines) == 153 and outcome.success
    warning = finding(outcome, "unknown_customer")
    assert (warning.severity, warning.count, warning.line_nos) == ("warning", 1, [2])
    assert "not in the customer master" in warning.reason
    assert outcome.lines.loc[0, "aux_account"] == "C099" and outcome.lines.loc[0, "debit_minor"] == 60000


def test_without_a_customer_master_no_customer_is_unknown(tmp_path):
    outcome = validate(tmp_path, invoice("19", "C099", "Nouveau Client SARL", 50000) + BUSY_MONTH)
    assert not [f for f in outcome.findings if f.reason_code == "unknown_customer"]
    assert len(outcome.lines) == 153


# -- systemic problems: nothing loads --------------------------------------------------------------

def test_more_than_5_percent_of_invalid_lines_refuses_the_file_naming_it_and_a_line(tmp_path):
    # 21 lines, one unbalanced entry of 3 lines: 14% invalid.
    ve12 = [
        ("VE", "12", "20250303", "411000", "C001", "Boulangerie Martin", "FA-12", "Facture FA-12", "1210,00", "0,00", "", ""),
        ("VE", "12", "20250303", "706000", "", "", "FA-12", "Facture FA-12", "0,00", "1000,00", "", ""),
        ("VE", "12", "20250303", "445710", "", "", "FA-12", "Facture FA-12", "0,00", "200,00", "", ""),
    ]
    read = read_fec(write_fec(tmp_path, ve12 + BUSY_MONTH[:18]))
    with pytest.raises(SystemicValidationError) as error:
        validate_ledger(read)
    message = str(error.value)
    assert message.startswith(f"{FILE_NAME}, line 2: 3 of 21 lines are invalid (more than 5%; "
                              "first: entry VE 12 does not balance: debit minus credit is 10.00 EUR)")
    assert "nothing was loaded" in message


def test_parse_quarantine_counts_towards_the_systemic_threshold(tmp_path):
    rows = list(BUSY_MONTH[:9])
    rows[4] = rows[4][:8] + ("12,3x", "0,00") + rows[4][10:]
    read = read_fec(write_fec(tmp_path, rows))
    assert read.rows_read == 9 and len(read.quarantine) == 1
    # Line 6 cannot be read; its entry VE 101 (lines 5 to 7) cannot load: 3 of 9 lines.
    with pytest.raises(SystemicValidationError, match=rf"^{FILE_NAME}, line 5: 3 of 9 lines are invalid"):
        validate_ledger(read)


def test_exactly_5_percent_of_invalid_lines_still_loads_the_rest(tmp_path):
    # 60 lines, 3 of them in one unbalanced entry: 5%, not more.
    ve12 = [
        ("VE", "12", "20250303", "411000", "C001", "Boulangerie Martin", "FA-12", "Facture FA-12", "1210,00", "0,00", "", ""),
        ("VE", "12", "20250303", "706000", "", "", "FA-12", "Facture FA-12", "0,00", "1000,00", "", ""),
        ("VE", "12", "20250303", "445710", "", "", "FA-12", "Facture FA-12", "0,00", "200,00", "", ""),
    ]
    outcome = validate(tmp_path, ve12 + BUSY_MONTH[:57])
    assert outcome.rows_read == 60 and len(outcome.quarantine) == 3 and len(outcome.lines) == 57


# -- the report ------------------------------------------------------------------------------------

def test_the_report_names_the_file_gives_the_counts_and_escapes_source_text(tmp_path):
    rows = list(BUSY_MONTH)
    rows[4] = rows[4][:8] + ("<script>alert(1)</script>", "0,00") + rows[4][10:]
    outcome = validate(tmp_path, rows)
    assert outcome.rows_read == 150 and len(outcome.quarantine) == 3 and len(outcome.lines) == 147
    assert quarantined(outcome)[1] == (6, "bad_amount", "'<script>alert(1)</script>' is not an amount")
    path = write_report(outcome, dt.date(2025, 6, 30), tmp_path / "reports" / "validation.html")
    html = path.read_text(encoding="utf-8")
    assert f"<title>Validation of {FILE_NAME} as of 2025-06-30</title>" in html
    assert '<tr><th>Rows read</th><td class="num">150</td></tr>' in html
    assert '<tr><th>Rows loaded</th><td class="num">147</td></tr>' in html
    assert '<tr><th>Rows quarantined</th><td class="num">3</td></tr>' in html
    assert "3 line(s) quarantined" in html
    assert "&#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39; is not an amount" in html
    assert "<script>" not in html


def test_the_report_of_a_clean_ledger_says_all_lines_are_valid(tmp_path):
    outcome = validate(tmp_path, BUSY_MONTH)
    html = write_report(outcome, dt.date(2025, 3, 31), tmp_path / "ok.html").read_text(encoding="utf-8")
    assert "all lines valid" in html and "quarantined</span>" not in html
    assert '<tr><th>Rows read</th><td class="num">150</td></tr>' in html
