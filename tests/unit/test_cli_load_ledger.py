"""`receivables load-ledger`: the JSON summary users and acceptance checks script (DESIGN.md),
and one-line errors with exit status 2 when the input is unusable."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from receivables.cli import main

from shared_paths import SHARED_FIXTURES as FIXTURES
PIPE_CP850 = FIXTURES / "fec-neolegal-fec-reader" / "111111111FEC20221231.TXT"
CAMT = FIXTURES / "camt-genkgo-camt" / "camt053.v2.minimal.xml"

CONTRACT_KEYS = {"lines", "entries", "unbalanced_entries", "customers", "open_items", "open_amount", "quarantined"}
AMOUNT = re.compile(r"^-?\d+\.\d{2}$")

FEC_HEADER = ["JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib",
              "CompAuxNum", "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit",
              "EcritureLet", "DateLet", "ValidDate", "Montantdevise", "Idevise"]
FILE_NAME = "123456789FEC20250630.txt"


def fec_row(row: tuple[str, ...]) -> list[str]:
    """(journal, entry, date, account, aux, aux label, piece, label, debit, credit, let, date let) -> 18 fields."""
    journal, num, date, account, aux, aux_label, piece, label, debit, credit, let, let_date = row
    return [journal, journal, num, date, account, account, aux, aux_label, piece, date, label, debit, credit,
            let, let_date, date, "", ""]


def write_fec(tmp_path: Path, rows, name: str = FILE_NAME) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(["|".join(FEC_HEADER)] + ["|".join(fec_row(r)) for r in rows]) + "\n", encoding="utf-8")
    return path


def invoice(num: str, customer: str, net_cents: int, day: int) -> list[tuple[str, ...]]:
    vat = net_cents // 5
    euros = lambda cents: f"{cents // 100},{cents % 100:02d}"  # noqa: E731
    date, piece = f"202503{day:02d}", f"FA-{num}"
    return [
        ("VE", num, date, "411000", customer, f"Client {customer}", piece, f"Facture {piece}", euros(net_cents + vat), "0,00", "", ""),
        ("VE", num, date, "706000", "", "", piece, f"Facture {piece}", "0,00", euros(net_cents), "", ""),
        ("VE", num, date, "445710", "", "", piece, f"Facture {piece}", "0,00", euros(vat), "", ""),
    ]


# 50 unpaid invoices to 10 customers in March 2025: 1200.00 + k x 300.00 each (k = 0..49), 427500.00 in all.
BUSY_MONTH = [row for k in range(50) for row in invoice(str(100 + k), f"C{k % 10 + 1:03d}", 100000 + 25000 * k, 1 + k % 28)]
VE12_UNBALANCED = [
    ("VE", "12", "20250303", "411000", "C001", "Boulangerie Martin", "FA-12", "Facture FA-12", "1210,00", "0,00", "", ""),
    ("VE", "12", "20250303", "706000", "", "", "FA-12", "Facture FA-12", "0,00", "1000,00", "", ""),
    ("VE", "12", "20250303", "445710", "", "", "FA-12", "Facture FA-12", "0,00", "200,00", "", ""),
]


def load_json(capsys, *args: str) -> dict:
    assert main(["load-ledger", *args, "--json"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1 and err == ""
    summary = json.loads(out)
    assert set(summary) - {"as_of"} == CONTRACT_KEYS
    assert all(AMOUNT.match(v) for v in summary["open_amount"].values())
    return summary


def test_load_ledger_json_of_the_real_cp850_export_prints_the_contract_keys(capsys):
    summary = load_json(capsys, str(PIPE_CP850))
    assert summary == {
        "lines": 934, "entries": 248, "unbalanced_entries": 0, "customers": 34, "open_items": 28,
        "open_amount": {"EUR": "14416.52"}, "quarantined": {}, "as_of": "2023-07-31",
    }


def test_load_ledger_json_of_a_month_of_invoices_counts_what_is_open_on_the_as_of_date(tmp_path, capsys):
    path = write_fec(tmp_path, BUSY_MONTH)
    summary = load_json(capsys, str(path), "--as-of", "2025-03-31")
    assert summary == {
        "lines": 150, "entries": 50, "unbalanced_entries": 0, "customers": 10, "open_items": 50,
        "open_amount": {"EUR": "427500.00"}, "quarantined": {}, "as_of": "2025-03-31",
    }
    # On 2025-03-01 only FA-100 (C001, 1200.00) and FA-128 (C009, 9600.00) are booked.
    early = load_json(capsys, str(path), "--as-of", "2025-03-01")
    assert (early["open_items"], early["open_amount"], early["customers"]) == (2, {"EUR": "10800.00"}, 2)
    assert early["lines"] == 150 and early["entries"] == 50


def test_load_ledger_json_counts_an_unbalanced_entry_and_what_was_quarantined(tmp_path, capsys):
    summary = load_json(capsys, str(write_fec(tmp_path, VE12_UNBALANCED + BUSY_MONTH)), "--as-of", "2025-03-31")
    assert summary["lines"] == 153 and summary["entries"] == 51
    assert summary["unbalanced_entries"] == 1
    assert summary["quarantined"] == {"unbalanced_entry": 3}
    assert summary["open_items"] == 50 and summary["open_amount"] == {"EUR": "427500.00"}   # FA-12 is not loaded


def test_load_ledger_refuses_a_ledger_that_is_mostly_invalid_with_one_line_naming_file_and_line(tmp_path, capsys):
    path = write_fec(tmp_path, VE12_UNBALANCED + BUSY_MONTH[:6])
    assert main(["load-ledger", str(path), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert err.startswith(f"receivables: error: {FILE_NAME}, line 2: 3 of 9 lines are invalid")


def test_load_ledger_of_a_camt_statement_exits_2_with_one_line_naming_the_file_and_line_1(capsys):
    assert main(["load-ledger", str(CAMT), "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1
    assert "camt053.v2.minimal.xml, line 1:" in err and "XML" in err


def test_load_ledger_forced_to_fec_on_a_camt_statement_still_exits_2_at_line_1(capsys):
    assert main(["load-ledger", str(CAMT), "--format", "fec"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "camt053.v2.minimal.xml, line 1:" in err and "XML" in err


@pytest.mark.parametrize("days", ["-1", "366", "1000"])
def test_load_ledger_refuses_default_terms_outside_0_to_365_days(capsys, days):
    with pytest.raises(SystemExit) as exit_:
        main(["load-ledger", str(PIPE_CP850), "--default-terms", days, "--json"])
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "--default-terms: payment terms must be between 0 and 365 days" in err


@pytest.mark.parametrize("days", ["0", "365"])
def test_load_ledger_accepts_default_terms_at_the_edges(tmp_path, capsys, days):
    summary = load_json(capsys, str(write_fec(tmp_path, BUSY_MONTH[:3])), "--default-terms", days)
    assert summary["open_items"] == 1 and summary["open_amount"] == {"EUR": "1200.00"}
