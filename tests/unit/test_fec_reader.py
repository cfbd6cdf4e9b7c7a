"""The FEC reader on real exports (shared/fixtures/fec-*) and on tiny FEC files written the way
real accounting packages write them: separators, encodings, line ends, header spellings, the
Montant + Sens and cash-basis variants, and the ways a file can be broken."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from receivables.ledger.fec import read_fec, source_name
from receivables.ledger.schema import LINE_COLUMNS, QUARANTINE_COLUMNS, LedgerFormatError

from shared_paths import SHARED_FIXTURES as FIXTURES
NEOLEGAL = FIXTURES / "fec-neolegal-fec-reader"
PIPE_CP850 = NEOLEGAL / "111111111FEC20221231.TXT"
TAB_BOM = NEOLEGAL / "0000000001FEC20220831.txt"
TRYTON = FIXTURES / "fec-tryton-account-fr" / "FEC.csv"
CAMT = FIXTURES / "camt-genkgo-camt" / "camt053.v2.minimal.xml"

FEC_HEADER = ["JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib",
              "CompAuxNum", "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit",
              "EcritureLet", "DateLet", "ValidDate", "Montantdevise", "Idevise"]
JOURNALS = {"VE": "Ventes", "BQ": "Banque", "OD": "Opérations diverses", "AC": "Achats"}
ACCOUNTS = {"411": "Clients", "706": "Prestations de services", "445": "TVA collectée", "512": "Banque"}


def fec_row(row: tuple[str, ...]) -> list[str]:
    """A full 18-field FEC line from the short form
    (journal, entry, date, account, aux, aux label, piece, label, debit, credit, let, date let
    [, montant devise, idevise]); a row that already has another length is used as it is."""
    if len(row) not in (12, 14):
        return list(row)
    journal, num, date, account, aux, aux_label, piece, label, debit, credit, let, let_date = row[:12]
    amount_fx, currency = row[12:] if len(row) == 14 else ("", "")
    return [journal, JOURNALS.get(journal.strip(), journal), num, date, account, ACCOUNTS.get(account[:3], account),
            aux, aux_label, piece, date, label, debit, credit, let, let_date, date, amount_fx, currency]


def fec_text(rows, *, sep: str = "\t", trailing: bool = False, header: list[str] = FEC_HEADER,
             newline: str = "\n") -> str:
    end = sep if trailing else ""
    lines = [sep.join(header) + end] + [sep.join(fec_row(r)) + end for r in rows]
    return newline.join(lines) + newline


def write_fec(tmp_path: Path, rows, *, name: str = "123456789FEC20250630.txt", encoding: str = "utf-8",
              bom: bool = False, **text_options) -> Path:
    """Write a real FEC file (header + TAB or | lines) with the encoding and line ends under test."""
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + fec_text(rows, **text_options).encode(encoding))
    return path


def assert_conserved(read) -> None:
    assert read.rows_read == len(read.lines) + len(read.quarantine)
    assert list(read.lines.columns) == list(LINE_COLUMNS)
    assert list(read.quarantine.columns) == list(QUARANTINE_COLUMNS)


# A sale to the Boulangerie Martin and its payment: the smallest ledger worth reading.
SALE_AND_PAYMENT = [
    ("VE", "1", "20250301", "411000", "C001", "Boulangerie Martin", "FA-1", "Facture FA-1", "1200,00", "0,00", "A", "20250410"),
    ("VE", "1", "20250301", "706000", "", "", "FA-1", "Facture FA-1", "0,00", "1000,00", "", ""),
    ("VE", "1", "20250301", "445710", "", "", "FA-1", "Facture FA-1", "0,00", "200,00", "", ""),
    ("BQ", "7", "20250410", "512000", "", "", "VIR-88", "Virement Boulangerie Martin", "1200,00", "0,00", "", ""),
    ("BQ", "7", "20250410", "411000", "C001", "Boulangerie Martin", "VIR-88", "Virement Boulangerie Martin", "0,00", "1200,00", "A", "20250410"),
]


def assert_sale_and_payment(read) -> None:
    lines = read.lines
    assert_conserved(read)
    assert read.rows_read == 5 and len(lines) == 5 and read.quarantine.empty
    assert lines["line_no"].tolist() == [2, 3, 4, 5, 6]
    assert lines["journal_code"].tolist() == ["VE", "VE", "VE", "BQ", "BQ"]
    assert lines["debit_minor"].tolist() == [120000, 0, 0, 120000, 0]
    assert lines["credit_minor"].tolist() == [0, 100000, 20000, 0, 120000]
    assert lines["aux_account"].tolist() == ["C001", "", "", "", "C001"]
    assert lines["let_code"].tolist() == ["A", "", "", "", "A"]
    assert lines.loc[0, "let_date"] == pd.Timestamp("2025-04-10") and pd.isna(lines.loc[1, "let_date"])
    assert lines.loc[0, "entry_date"] == lines.loc[0, "piece_date"] == pd.Timestamp("2025-03-01")
    assert set(lines["currency"]) == {"EUR"} and set(lines["currency_code"]) == {""}


# -- the real exports -----------------------------------------------------------------------------

def test_the_cp850_pipe_export_loads_934_lines_in_248_entries_over_9_journals():
    read = read_fec(PIPE_CP850)
    lines = read.lines
    assert_conserved(read)
    assert read.rows_read == 934 and len(lines) == 934 and len(read.quarantine) == 0
    assert lines.groupby(["journal_code", "entry_num"]).ngroups == 248
    assert lines["journal_code"].nunique() == 9
    assert read.meta["encoding"] == "cp850" and read.meta["separator"] == "|"
    assert read.meta["columns"] == 18 and read.meta["variant"] == "standard"
    assert read.meta["source"] == "111111111FEC20221231"
    assert lines["line_no"].tolist() == list(range(2, 936))
    # The export balances to the cent, and every entry balances on its own.
    assert lines["debit_minor"].sum() == lines["credit_minor"].sum()
    per_entry = (lines["debit_minor"] - lines["credit_minor"]).groupby(
        [lines["journal_code"], lines["entry_num"]]).sum()
    assert (per_entry == 0).all()


def test_the_0xf8_byte_of_the_cp850_export_is_read_as_a_degree_sign():
    read = read_fec(PIPE_CP850)
    assert_conserved(read)
    assert b"CREAT\xf8 MAQUETTE" in PIPE_CP850.read_bytes()
    lines = read.lines.set_index("line_no")
    assert lines.loc[779, "label"] == "CREAT° MAQUETTE ETIQ"
    assert lines.loc[807, "label"] == "SIMULAT° LICHEN DE M"
    assert not lines["label"].str.contains("ø|\ufffd", regex=True).any()


def test_the_space_padded_zero_padded_fields_of_the_cp850_export_are_trimmed_and_exact():
    read = read_fec(PIPE_CP850)
    assert_conserved(read)
    assert read.quarantine.empty
    lines = read.lines.set_index("line_no")
    first = lines.loc[2]   # VE  |VE11|00000001|20230109|70100000|VENTE NECTAR DE FRAISE      |...|0000000069,60
    assert (first["journal_code"], first["entry_num"], first["account"]) == ("VE", "00000001", "70100000")
    assert first["account_label"] == "VENTE NECTAR DE FRAISE" and first["aux_account"] == ""
    assert first["piece_ref"] == "VE  0123"      # inner spaces are part of the reference
    assert (first["debit_minor"], first["credit_minor"]) == (0, 6960)
    assert (lines.loc[3, "credit_minor"], lines.loc[4, "credit_minor"], lines.loc[5, "credit_minor"]) == (383, 121, 6)
    assert first["entry_date"] == pd.Timestamp("2023-01-09") and first["valid_date"] == pd.Timestamp("2024-03-31")
    supplier = lines.loc[781]  # FOURNISSEURS A 20.0% ... 0000000468,00 lettered AA on 20230505
    assert (supplier["aux_account"], supplier["aux_label"]) == ("40106310", "DECLICEXPRO")
    assert (supplier["debit_minor"], supplier["credit_minor"]) == (0, 46800)
    assert (supplier["let_code"], supplier["let_date"]) == ("AA", pd.Timestamp("2023-05-05"))
    assert pd.isna(first["let_date"]) and first["let_code"] == ""   # '  ' and '        ' are empty


def test_the_utf8_bom_tab_export_loads_5422_lines_with_538_receivable_lines():
    read = read_fec(TAB_BOM)
    lines = read.lines
    assert_conserved(read)
    assert read.rows_read == 5422 and len(lines) == 5422 and len(read.quarantine) == 0
    assert read.meta["encoding"] == "utf-8-sig" and read.meta["separator"] == "TAB"
    receivable = lines[lines["account"].str.startswith("411")]
    assert len(receivable) == 538 and (receivable["aux_account"] != "").all()
    assert lines.loc[0, "journal_code"] == "ANO"      # the BOM is not glued to the first field
    assert lines.loc[0, "account_label"] == "Capital souscrit appelé, versé"
    assert lines.loc[0, "label"] == "Report à nouveau"
    assert (lines.loc[0, "debit_minor"], lines.loc[0, "credit_minor"]) == (0, 1350000)
    assert (lines.loc[1, "debit_minor"], lines.loc[1, "credit_minor"]) == (0, 32040000)
    assert lines["debit_minor"].sum() == lines["credit_minor"].sum()
    assert (lines["let_code"] != "").sum() == 2035


def test_the_tryton_crlf_export_loads_4_lines_in_2_entries():
    read = read_fec(TRYTON)
    lines = read.lines
    assert_conserved(read)
    assert read.rows_read == 4 and len(lines) == 4 and read.quarantine.empty
    assert lines.groupby(["journal_code", "entry_num"]).ngroups == 2
    assert lines["journal_code"].tolist() == ["Deferral", "Deferral", "REV", "REV"]
    assert lines["entry_num"].tolist() == ["0", "0", "1", "1"]
    assert lines["debit_minor"].tolist() == [0, 500, 0, 1000]
    assert lines["credit_minor"].tolist() == [500, 0, 1000, 0]
    assert lines["aux_account"].tolist() == ["", "2", "", "2"]
    assert lines.loc[1, "account_label"] == "Autres comptes débiteurs"
    assert set(lines["currency_code"]) == {""}          # no '\r' left in the last column
    assert lines["valid_date"].eq(pd.Timestamp("2018-01-01")).all()


# -- variants real packages write -----------------------------------------------------------------

@pytest.mark.parametrize("trailing", [True, False], ids=["with-trailing-pipe", "without-trailing-pipe"])
def test_a_pipe_separated_fec_loads_every_line_with_or_without_trailing_separators(tmp_path, trailing):
    read = read_fec(write_fec(tmp_path, SALE_AND_PAYMENT, sep="|", trailing=trailing))
    assert read.meta["separator"] == "|" and read.meta["columns"] == 18
    assert_sale_and_payment(read)


def test_a_pipe_separated_fec_may_mix_lines_with_and_without_the_trailing_separator(tmp_path):
    text = fec_text(SALE_AND_PAYMENT, sep="|", trailing=True).splitlines()
    text[2] = text[2][:-1]   # one line without the trailing separator the others carry
    path = tmp_path / "123456789FEC20250630.txt"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    assert_sale_and_payment(read_fec(path))


def test_a_tab_fec_with_an_empty_last_column_and_no_trailing_separator_keeps_every_field(tmp_path):
    # A USD invoice with its currency amount: the 17th field is set and the 18th (Idevise) is
    # empty, so every line ends with a TAB that is a field separator, not a trailing one.
    rows = [
        ("VE", "2", "20250305", "411000", "C002", "Brasserie du Port", "FA-2", "Facture FA-2", "600,00", "0,00", "", "", "650,00", ""),
        ("VE", "2", "20250305", "706000", "", "", "FA-2", "Facture FA-2", "0,00", "600,00", "", "", "650,00", ""),
    ]
    path = write_fec(tmp_path, rows)
    assert all(line.endswith("650,00\t") for line in path.read_text().splitlines()[1:])
    read = read_fec(path)
    assert_conserved(read)
    assert read.rows_read == 2 and len(read.lines) == 2 and read.quarantine.empty
    assert read.lines["currency_amount_minor"].tolist() == [65000, 65000]
    assert read.lines["currency_code"].tolist() == ["", ""]
    assert read.lines["debit_minor"].tolist() == [60000, 0]


def test_a_tab_fec_with_a_trailing_tab_after_an_empty_last_column_loads_the_same(tmp_path):
    rows = [
        ("VE", "2", "20250305", "411000", "C002", "Brasserie du Port", "FA-2", "Facture FA-2", "600,00", "0,00", "", "", "650,00", ""),
        ("VE", "2", "20250305", "706000", "", "", "FA-2", "Facture FA-2", "0,00", "600,00", "", "", "650,00", ""),
    ]
    read = read_fec(write_fec(tmp_path, rows, trailing=True))
    assert_conserved(read)
    assert len(read.lines) == 2 and read.quarantine.empty
    assert read.lines["currency_amount_minor"].tolist() == [65000, 65000]


def test_a_utf8_fec_with_a_bom_reads_the_first_column_without_the_bom(tmp_path):
    rows = [r[:5] + ("Société Générale",) + r[6:] if r[4] else r for r in SALE_AND_PAYMENT]
    read = read_fec(write_fec(tmp_path, rows, bom=True))
    assert read.meta["encoding"] == "utf-8-sig"
    assert_sale_and_payment(read)
    assert read.lines.loc[0, "aux_label"] == "Société Générale"


def test_a_cp1252_fec_with_accents_is_decoded_as_cp1252(tmp_path):
    rows = [r[:5] + ("Société Générale",) + r[6:] if r[4] else r for r in SALE_AND_PAYMENT]
    path = write_fec(tmp_path, rows, encoding="cp1252")
    assert b"Soci\xe9t\xe9 G\xe9n\xe9rale" in path.read_bytes()
    read = read_fec(path)
    assert read.meta["encoding"] == "cp1252"
    assert_sale_and_payment(read)
    assert read.lines.loc[0, "aux_label"] == "Société Générale"
    assert read.lines.loc[1, "account_label"] == "Prestations de services"
    assert read.lines.loc[3, "journal_lib"] == "Banque"
    assert read.lines.loc[0, "account_label"] == "Clients"


def test_an_iso8859_15_fec_with_a_euro_sign_is_decoded_as_iso8859_15(tmp_path):
    rows = [("VE", "1", "20250301", "411000", "C001", "Café du Marché", "FA-1", "Remise 10 €", "1200,00", "0,00", "", ""),
            ("VE", "1", "20250301", "706000", "", "", "FA-1", "Remise 10 €", "0,00", "1200,00", "", "")]
    read = read_fec(write_fec(tmp_path, rows, encoding="iso8859_15"))
    assert_conserved(read)
    assert read.meta["encoding"] == "iso8859_15"
    assert read.lines["label"].tolist() == ["Remise 10 €", "Remise 10 €"]
    assert read.lines.loc[0, "aux_label"] == "Café du Marché"


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r\r\n"], ids=["LF", "CRLF", "CRCRLF"])
def test_every_line_ending_real_exports_use_ends_a_line_and_nothing_more(tmp_path, newline):
    # Idevise is the last column: a stray CR would end up in it.
    rows = [r + ("", "EUR") for r in SALE_AND_PAYMENT]
    path = write_fec(tmp_path, rows, newline=newline)
    read = read_fec(path)
    assert_conserved(read)
    assert read.rows_read == 5 and len(read.lines) == 5 and read.quarantine.empty
    assert read.lines["line_no"].tolist() == [2, 3, 4, 5, 6]     # CR CR LF is one line end, not two
    assert read.lines["currency_code"].tolist() == ["EUR"] * 5
    assert read.lines["debit_minor"].tolist() == [120000, 0, 0, 120000, 0]


@pytest.mark.parametrize("amount_name,currency_name", [
    ("Montantdevise", "Idevise"), ("MontantDevise", "Idevise"), ("Montantdevise", "IDevise"),
    ("MONTANTDEVISE", "idevise"),
])
def test_the_currency_columns_are_found_whatever_their_case(tmp_path, amount_name, currency_name):
    header = FEC_HEADER[:16] + [amount_name, currency_name]
    rows = [("VE", "3", "20250310", "411000", "C003", "Hôtel Bellevue SA", "FA-3", "Facture FA-3", "920,00", "0,00", "", "", "1000,00", "CHF"),
            ("VE", "3", "20250310", "706000", "", "", "FA-3", "Facture FA-3", "0,00", "920,00", "", "", "1000,00", "CHF")]
    read = read_fec(write_fec(tmp_path, rows, header=header, sep="|"))
    assert_conserved(read)
    assert read.quarantine.empty
    assert read.lines["currency_amount_minor"].tolist() == [100000, 100000]
    assert read.lines["currency_code"].tolist() == ["CHF", "CHF"]
    assert read.lines["debit_minor"].tolist() == [92000, 0]


def test_the_montant_and_sens_variant_puts_each_amount_on_its_side(tmp_path):
    header = FEC_HEADER[:11] + ["Montant", "Sens"] + FEC_HEADER[13:]

    def line(account, aux, amount, sens):
        return ("VE", "Ventes", "4", "20250312", account, ACCOUNTS[account[:3]], aux, "", "FA-4", "20250312",
                "Facture FA-4", amount, sens, "", "", "20250312", "", "")

    rows = [line("411000", "C004", "0000000600,00", "D"), line("706000", "", "500,00", "C"),
            line("445710", "", "100,00", "c"), line("411000", "C004", "12,00", "X")]
    read = read_fec(write_fec(tmp_path, rows, header=header))
    assert_conserved(read)
    assert read.meta["variant"] == "montant-sens"
    assert read.rows_read == 4 and len(read.lines) == 3
    assert read.lines["debit_minor"].tolist() == [60000, 0, 0]
    assert read.lines["credit_minor"].tolist() == [0, 50000, 10000]
    bad = read.quarantine.iloc[0]
    assert (bad["line_no"], bad["field"], bad["reason_code"]) == (5, "Sens", "bad_sens")
    assert bad["reason"] == "Sens 'X' is neither D nor C"


def test_the_22_column_cash_basis_variant_loads(tmp_path):
    header = FEC_HEADER + ["DateRglt", "ModeRglt", "NatOp", "IdClient"]
    rows = [tuple(fec_row(r)) + extra for r, extra in [
        (SALE_AND_PAYMENT[0], ("20250410", "VIR", "Prestation", "C001")),
        (SALE_AND_PAYMENT[1], ("", "", "", "")),
        (SALE_AND_PAYMENT[2], ("", "", "", "")),
        (SALE_AND_PAYMENT[3], ("20250410", "VIR", "", "")),
        (SALE_AND_PAYMENT[4], ("20250410", "VIR", "Prestation", "C001")),
    ]]
    read = read_fec(write_fec(tmp_path, rows, header=header))
    assert read.meta["variant"] == "cash-basis" and read.meta["columns"] == 22
    assert_sale_and_payment(read)


def test_a_bad_payment_date_in_the_cash_basis_variant_is_quarantined_on_daterglt(tmp_path):
    header = FEC_HEADER + ["DateRglt", "ModeRglt", "NatOp", "IdClient"]
    rows = [tuple(fec_row(SALE_AND_PAYMENT[0])) + ("20251341", "VIR", "", "C001"),
            tuple(fec_row(SALE_AND_PAYMENT[1])) + ("", "", "", ""),
            tuple(fec_row(SALE_AND_PAYMENT[2])) + ("", "", "", "")]
    read = read_fec(write_fec(tmp_path, rows, header=header))
    assert_conserved(read)
    assert read.rows_read == 3 and len(read.lines) == 2
    assert read.quarantine[["line_no", "field", "reason_code"]].values.tolist() == [[2, "DateRglt", "bad_date"]]


def test_zero_padded_and_space_padded_fields_are_trimmed_and_amounts_exact(tmp_path):
    rows = [("VE  ", "00000012", "20250301", "41100000", "C001    ", "Boulangerie Martin      ", "FA-12   ", "Facture FA-12     ",
             "0000001234,56", "0000000000,00", "  ", "        "),
            ("VE  ", "00000012", "20250301", "70600000", "        ", "                        ", "FA-12   ", "Facture FA-12     ",
             "   0,00", " 1 234,56 ", "  ", "        ")]
    read = read_fec(write_fec(tmp_path, rows, sep="|", trailing=True))
    assert_conserved(read)
    lines = read.lines
    assert read.quarantine.empty and len(lines) == 2
    assert lines["journal_code"].tolist() == ["VE", "VE"] and lines["entry_num"].tolist() == ["00000012"] * 2
    assert lines["aux_account"].tolist() == ["C001", ""] and lines["piece_ref"].tolist() == ["FA-12", "FA-12"]
    assert lines["label"].tolist() == ["Facture FA-12"] * 2
    assert lines["debit_minor"].tolist() == [123456, 0] and lines["credit_minor"].tolist() == [0, 123456]
    assert lines["let_code"].tolist() == ["", ""] and lines["let_date"].isna().all()


def test_a_decimal_point_is_tolerated_in_amounts(tmp_path):
    rows = [("VE", "5", "20250315", "411000", "C005", "Garage Lefèvre", "FA-5", "Facture FA-5", "1200.50", "0.00", "", ""),
            ("VE", "5", "20250315", "706000", "", "", "FA-5", "Facture FA-5", "0", "1200.5", "", "")]
    read = read_fec(write_fec(tmp_path, rows))
    assert_conserved(read)
    assert read.quarantine.empty
    assert read.lines["debit_minor"].tolist() == [120050, 0]
    assert read.lines["credit_minor"].tolist() == [0, 120050]


def test_the_source_of_a_legally_named_fec_is_its_siren_and_closing_date(tmp_path):
    assert source_name(Path("123456789FEC20250630.txt")) == "123456789FEC20250630"
    assert source_name(Path("0000000001FEC20220831.txt")) == "0000000001FEC20220831"
    assert source_name(Path("111111111fec20221231.TXT")) == "111111111FEC20221231"   # one source, whatever the case
    assert source_name(Path("grand-livre.txt")) == "grand-livre"
    read = read_fec(write_fec(tmp_path, SALE_AND_PAYMENT, name="123456789FEC20250630.txt"))
    assert read.meta["source"] == "123456789FEC20250630"
    assert set(read.lines["source_file"]) == {"123456789FEC20250630.txt"}


# -- broken files ---------------------------------------------------------------------------------

def test_an_empty_file_is_refused_naming_the_file_and_line_1(tmp_path):
    path = tmp_path / "123456789FEC20250630.txt"
    path.write_bytes(b"")
    with pytest.raises(LedgerFormatError) as error:
        read_fec(path)
    assert error.value.line == 1 and error.value.source == "123456789FEC20250630.txt"
    assert str(error.value) == "123456789FEC20250630.txt, line 1: the file is empty"


def test_a_file_of_blank_lines_and_a_bom_is_empty_too(tmp_path):
    path = tmp_path / "vide.txt"
    path.write_bytes(b"\xef\xbb\xbf\r\n\r\n")
    with pytest.raises(LedgerFormatError, match=r"^vide\.txt, line 1: the file is empty$"):
        read_fec(path)


def test_a_fec_with_a_header_and_no_line_is_refused(tmp_path):
    path = write_fec(tmp_path, [])
    with pytest.raises(LedgerFormatError) as error:
        read_fec(path)
    assert error.value.line == 2
    assert str(error.value).startswith("123456789FEC20250630.txt, line 2: ")
    assert "no entry line" in str(error.value)


def test_a_truncated_fec_quarantines_its_cut_last_line_and_loads_the_others(tmp_path):
    path = write_fec(tmp_path, SALE_AND_PAYMENT)
    data = path.read_bytes()
    path.write_bytes(data[:data.rindex(b"Virement Boulangerie") + len(b"Virement Boul")])   # cut mid-label
    read = read_fec(path)
    assert_conserved(read)
    assert read.rows_read == 5 and len(read.lines) == 4
    assert read.lines["line_no"].tolist() == [2, 3, 4, 5]
    bad = read.quarantine.iloc[0]
    assert (bad["source_file"], bad["line_no"], bad["reason_code"]) == ("123456789FEC20250630.txt", 6, "wrong_field_count")
    assert bad["reason"] == "11 fields where the header has 18"
    assert bad["raw"].endswith("Virement Boul")


def test_a_semicolon_separated_file_is_not_a_fec(tmp_path):
    path = tmp_path / "123456789FEC20250630.txt"
    path.write_text(";".join(FEC_HEADER) + "\n" + ";".join(fec_row(SALE_AND_PAYMENT[0])) + "\n", encoding="utf-8")
    with pytest.raises(LedgerFormatError) as error:
        read_fec(path)
    assert error.value.line == 1
    assert str(error.value).startswith("123456789FEC20250630.txt, line 1: not a FEC header (no TAB or | separator)")


def test_a_non_numeric_amount_is_quarantined_on_the_debit_field_with_its_line(tmp_path):
    rows = list(SALE_AND_PAYMENT)
    rows[3] = rows[3][:8] + ("12,3x", "0,00") + rows[3][10:]
    read = read_fec(write_fec(tmp_path, rows))
    assert_conserved(read)
    assert read.rows_read == 5 and len(read.lines) == 4 and 5 not in read.lines["line_no"].tolist()
    bad = read.quarantine.iloc[0]
    assert (bad["line_no"], bad["field"], bad["reason_code"]) == (5, "Debit", "bad_amount")
    assert bad["reason"] == "'12,3x' is not an amount"
    assert "12,3x" in bad["raw"]


def test_an_impossible_date_is_quarantined_as_a_bad_date(tmp_path):
    rows = list(SALE_AND_PAYMENT)
    rows[1] = rows[1][:2] + ("20230230",) + rows[1][3:]
    read = read_fec(write_fec(tmp_path, rows))
    assert_conserved(read)
    assert read.rows_read == 5 and len(read.lines) == 4
    bad = read.quarantine.iloc[0]
    assert (bad["line_no"], bad["field"], bad["reason_code"]) == (3, "EcritureDate", "bad_date")
    assert bad["reason"] == "'20230230' is not a date (expected YYYYMMDD)"


def test_invalid_bytes_in_a_utf8_fec_with_a_bom_quarantine_only_their_line(tmp_path):
    path = write_fec(tmp_path, [r[:5] + ("Société Générale",) + r[6:] if r[4] else r for r in SALE_AND_PAYMENT], bom=True)
    data = path.read_bytes().replace(b"Virement Boulangerie Martin\t0,00", b"Virement Boulang\xe8rie Martin\t0,00")
    path.write_bytes(data)
    read = read_fec(path)
    assert_conserved(read)
    assert read.meta["encoding"] == "utf-8-sig"
    assert read.rows_read == 5 and len(read.lines) == 4
    assert read.lines.loc[0, "aux_label"] == "Société Générale"
    bad = read.quarantine.iloc[0]
    assert (bad["line_no"], bad["field"], bad["reason_code"]) == (6, "", "invalid_bytes")
    assert bad["reason"] == "bytes that are not valid utf-8-sig text"


def test_a_camt_bank_statement_passed_as_a_fec_is_refused_at_line_1_as_xml():
    with pytest.raises(LedgerFormatError) as error:
        read_fec(CAMT)
    assert error.value.line == 1
    assert str(error.value).startswith("camt053.v2.minimal.xml, line 1: ")
    assert "XML" in str(error.value)


def test_a_binary_file_with_nul_bytes_is_refused(tmp_path):
    path = tmp_path / "123456789FEC20250630.txt"
    path.write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)) * 4)
    with pytest.raises(LedgerFormatError) as error:
        read_fec(path)
    assert error.value.line == 1
    assert str(error.value).startswith("123456789FEC20250630.txt, line 1: binary content (NUL bytes)")


def test_a_cp1252_export_whose_accent_pair_looks_like_utf8_is_still_read_as_cp1252(tmp_path):
    # "É" followed by a no-break space is a valid UTF-8 pair by accident; the other accents are not.
    rows = [("VE", "1", "20250301", "411000", "C001", "Société Générale", "FA-1", "ACOMPTE VERSÉ\xa0: 30 %",
             "100,00", "0,00", "", ""),
            ("VE", "1", "20250301", "706000", "", "", "FA-1", "Vente été", "0,00", "100,00", "", "")]
    read = read_fec(write_fec(tmp_path, rows, encoding="cp1252"))
    assert read.meta["encoding"] == "cp1252"
    assert read.lines["label"].tolist() == ["ACOMPTE VERSÉ\xa0: 30 %", "Vente été"]
    assert read.quarantine.empty


def test_a_foreign_currency_amount_uses_the_decimals_of_its_currency(tmp_path):
    header = [*FEC_HEADER]
    text = "\t".join(header) + "\n" + "\n".join([
        "VE\tVentes\t1\t20250301\t411000\tClients\tC001\tTokyo Trading\tFA-1\t20250301\tFacture FA-1\t100,00\t0,00\t\t\t20250301\t15000\tJPY",
        "VE\tVentes\t1\t20250301\t706000\tVentes\t\t\tFA-1\t20250301\tFacture FA-1\t0,00\t100,00\t\t\t20250301\t120,50\tUSD",
    ]) + "\n"
    path = tmp_path / "123456789FEC20250630.txt"
    path.write_text(text, encoding="utf-8")
    read = read_fec(path)
    assert read.lines["currency_amount_minor"].tolist() == [15000, 12050]   # yen have no minor unit
    assert read.lines["currency_code"].tolist() == ["JPY", "USD"]
