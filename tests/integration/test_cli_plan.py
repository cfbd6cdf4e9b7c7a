"""`receivables plan` (DESIGN.md): one CSV row per message the scenarios call for on a date, and
with --preview every message rendered (HTML, text, PDF) for a human to read before it goes out."""

from __future__ import annotations

import datetime as dt
import re

from pypdf import PdfReader

from cli_csv import command_csv
from receivables.cli import main
from receivables.ledger.open_items import open_items
from receivables.ledger.schema import empty_customers
from receivables.ledger.sources import read_ledger
from receivables.validation.ledger import validate_ledger

from shared_paths import SHARED_FIXTURES as FIXTURES

LETTERED_FEC = FIXTURES / "fec-neolegal-fec-reader" / "0000000001FEC20220831.txt"
HEADER = ["action_key", "customer_id", "step", "channel", "invoice_ids", "amount", "currency", "language",
          "requires_approval"]
FEC_HEADER = ("JournalCode\tJournalLib\tEcritureNum\tEcritureDate\tCompteNum\tCompteLib\tCompAuxNum\tCompAuxLib\t"
              "PieceRef\tPieceDate\tEcritureLib\tDebit\tCredit\tEcritureLet\tDateLet\tValidDate\tMontantdevise\tIdevise")


def plan(tmp_path, *args: str) -> list[dict]:
    return command_csv(["plan", *args], tmp_path / "actions.csv", HEADER)


def sale(num: int, date: str, customer: str, name: str, invoice: str, amount: str) -> str:
    """An invoice booked in the sales journal: 411 debit, 706 credit."""
    day = date.replace("-", "")
    return "\n".join([
        f"VE\tVentes\t{num}\t{day}\t411000\tClients\t{customer}\t{name}\t{invoice}\t{day}\tFacture {invoice}\t{amount}\t0,00\t\t\t{day}\t\t",
        f"VE\tVentes\t{num}\t{day}\t706000\tVentes\t\t\t{invoice}\t{day}\tFacture {invoice}\t0,00\t{amount}\t\t\t{day}\t\t",
    ])


def test_a_real_fec_gets_one_row_per_message_about_its_open_invoices(tmp_path, capsys):
    rows = plan(tmp_path, "--ledger", str(LETTERED_FEC), "--as-of", "2022-08-31")
    items = open_items(validate_ledger(read_ledger(LETTERED_FEC)).lines, empty_customers(), dt.date(2022, 8, 31))
    open_invoices = set(zip(items.loc[items["item_type"] == "invoice", "customer_id"],
                            items.loc[items["item_type"] == "invoice", "invoice_id"]))
    assert rows, "a ledger with overdue invoices calls for reminders"
    for row in rows:   # invoice_ids is space-separated, and this FEC's numbers hold spaces ('FA 220272')
        ids = sorted((i for c, i in open_invoices if c == row["customer_id"]), key=len, reverse=True)
        one = "|".join(re.escape(i) for i in ids)
        assert re.fullmatch(f"(?:{one})(?: (?:{one}))*", row["invoice_ids"]), row
    assert all(r["amount"].count(".") == 1 and len(r["amount"].split(".")[1]) == 2 for r in rows)
    assert {r["requires_approval"] for r in rows} <= {"true", "false"} and {r["language"] for r in rows} == {"fr"}
    assert len({r["action_key"] for r in rows}) == len(rows)
    assert "actions on 2022-08-31" in capsys.readouterr().err


def test_the_preview_renders_every_message_and_prints_hostile_names_harmlessly(tmp_path):
    fec = tmp_path / "123456789FEC20250715.txt"
    fec.write_text("\n".join([
        FEC_HEADER,
        sale(1, "2025-05-15", "C1", "Template Co", "FA-101", "1200,00"),      # due 14 June: D+31, the call
        sale(2, "2025-06-10", "C2", "Script SARL", "FA-102", "840,50"),       # due 10 July: D+5, first reminder
        sale(3, "2025-06-10", "C3", "Gouda BV", "FA-103", "99,90"),
    ]) + "\n", encoding="utf-8")
    customers = tmp_path / "customers.csv"
    customers.write_text(
        "customer_id,name,country,language,email,phone,address,segment,strategic,payment_terms_days,opt_out_channels\n"
        'C1,{{ 7*7 }} Industries,FR,fr,compta@c1.example,+33 1 02 03 04 05,"1 rue A, 75001 Paris",PME,false,30,\n'
        'C2,<script>alert(1)</script> SARL,FR,,compta@c2.example,,"2 rue B, 69001 Lyon",TPE,false,30,email\n'
        'C3,Gouda BV,NL,,inkoop@gouda.example,,"Markt 1, 2801 JG Gouda",PME,false,30,\n', encoding="utf-8")
    history = tmp_path / "history.csv"
    history.write_text("customer_id,invoice_id,step_id\nC1,FA-101,reminder_1\nC1,FA-101,reminder_2\n"
                       "C1,FA-101,reminder_letter\n", encoding="utf-8")
    preview = tmp_path / "preview"
    rows = plan(tmp_path, "--ledger", str(fec), "--customers", str(customers), "--as-of", "2025-07-15",
                "--history", str(history), "--preview", str(preview))
    steps = {(r["customer_id"], r["step"], r["channel"], r["language"]) for r in rows}
    assert steps == {("C1", "call", "call", "fr"), ("C2", "reminder_1", "letter", "fr"),
                     ("C3", "reminder_1", "email", "nl")}
    index = (preview / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index and "<script>alert" not in index
    assert "{{ 7*7 }} Industries" in index
    by_customer = {r["customer_id"]: r["action_key"] for r in rows}
    letter = preview / f"{by_customer['C2']}.letter.pdf"
    text = "".join(page.extract_text() for page in PdfReader(letter).pages)
    assert "<script>alert(1)</script> SARL" in text and "FA-102" in text and "840,50" in text
    script = (preview / f"{by_customer['C1']}.call.txt").read_text(encoding="utf-8")
    assert "{{ 7*7 }} Industries" in script and "49 Industries" not in script and "FA-101" in script
    email = (preview / f"{by_customer['C3']}.email.html").read_text(encoding="utf-8")
    assert "FA-103" in email and "99,90" in email


def test_a_bad_register_file_is_refused_on_one_line_naming_the_file_line_and_field(tmp_path, capsys):
    disputes = tmp_path / "disputes.csv"
    disputes.write_text("dispute_id,customer_id,invoice_id,reason_code,opened_on\nD-1,C1,FA-1,too dear,2025-07-01\n",
                        encoding="utf-8")
    code = main(["plan", "--ledger", str(LETTERED_FEC), "--as-of", "2022-08-31", "--disputes", str(disputes),
                 "--out", str(tmp_path / "actions.csv")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.startswith("receivables: error: disputes.csv: nothing imported, 1 problem(s): line 2, "
                          "field 'reason_code': must be one of price")
