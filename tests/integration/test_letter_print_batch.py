"""The letter dispatcher's print batch, for real (WeasyPrint PDFs read back with pypdf), on SQLite
and PostgreSQL.

The day: on 30 June 2025 the plan sends
- Boulangerie Martin (Lyon) a reminder letter for FA-2025-0142 and its account statement: one
  ordinary envelope holding both;
- Bäckerei Müller (Berlin) a formal notice for FA-2025-0157, approved by a credit manager: a
  registered envelope with acknowledgement of receipt (LRAR);
- Garage Sans Adresse a reminder letter, but the master has no postal address: suppressed;
- and Boulangerie Martin an email, which the letter dispatcher leaves alone.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
from pathlib import Path

import pandas as pd
import pytest
from pypdf import PdfReader
from sqlalchemy import select

from receivables.channels import letters, outbox
from receivables.ledger.schema import CUSTOMER_COLUMNS, conform
from receivables.scenarios.legal import load_rules
from receivables.scenarios.planner import ACTION_COLUMNS, LINE_COLUMNS
from receivables.scenarios.render import Creditor
from receivables.warehouse.db import bulk_insert, make_engine
from receivables.warehouse.schema import collection_action_lines, collection_actions, open_items, print_batches
from receivables.warehouse.store import refresh_customers

AS_OF = dt.date(2025, 6, 30)
NOW = dt.datetime(2025, 6, 30, 7, 0, tzinfo=dt.timezone.utc)
LATER = NOW + dt.timedelta(hours=2)
CREDITOR = Creditor.from_env({})
D = pd.Timestamp

MASTER = [
    {"customer_id": "C001", "name": "Boulangerie Martin SARL", "country": "FR", "language": "fr",
     "email": "compta@boulangerie-martin.example", "address": "14 rue des Lilas\n69003 Lyon", "segment": "TPE"},
    {"customer_id": "C002", "name": "Bäckerei Müller GmbH", "country": "DE", "language": "de",
     "email": "buchhaltung@baeckerei-mueller.example", "address": "Lindenstraße 12, 10969 Berlin, Deutschland",
     "segment": "PME"},
    {"customer_id": "C003", "name": "Garage Sans Adresse", "country": "FR", "language": "fr", "email": "", "address": "",
     "segment": "TPE"},
]
# (customer, invoice, issued, due, amount in cents) open on 30 June
INVOICES = [("C001", "FA-2025-0142", "2025-04-30", "2025-05-31", 123450),
            ("C001", "FA-2025-0188", "2025-06-10", "2025-07-10", 56000),
            ("C002", "FA-2025-0157", "2025-04-12", "2025-05-12", 98000),
            ("C003", "FA-2025-0160", "2025-04-15", "2025-05-15", 45000)]


def key(name: str) -> str:
    """An action key as the planner makes them (hex: its first digits choose the dispatch batch)."""
    return hashlib.sha256(name.encode()).hexdigest()[:20]


def action(name: str, customer: str, step: str, channel: str, template: str, invoice_ids: list[str], *,
           legal: bool = False) -> tuple[dict, list[dict]]:
    """One planned action and its invoice lines (a formal notice adds interest and the 40 € indemnity)."""
    lines = []
    for cid, invoice_id, issued, due, amount in INVOICES:
        if invoice_id in invoice_ids:
            overdue = (AS_OF - dt.date.fromisoformat(due)).days
            lines.append({"action_key": key(name), "customer_id": cid, "invoice_id": invoice_id, "step_id": step,
                          "doc_date": D(issued), "due_date": D(due), "original_minor": amount, "open_minor": amount,
                          "days_overdue": overdue, "late_interest_minor": 1580 if legal else None,
                          "indemnity_minor": 4000 if legal else 0})
    principal = sum(line["open_minor"] for line in lines)
    interest, indemnity = (1580 * len(lines), 4000 * len(lines)) if legal else (0, 0)
    language = next(c["language"] for c in MASTER if c["customer_id"] == customer)
    row = {"action_key": key(name), "as_of": D(AS_OF), "customer_id": customer, "scenario": "standard",
           "step_id": step, "offset_days": 30, "channel": channel, "template": template,
           "tone": "legal" if legal else "firm", "invoice_ids": " ".join(invoice_ids),
           "amount_minor": principal + interest + indemnity, "principal_minor": principal,
           "interest_minor": interest, "indemnity_minor": indemnity, "currency": "EUR", "language": language,
           "requires_approval": legal, "legal_fees": legal, "hold_reason": "",
           "send_at": pd.Timestamp("2025-06-30 09:00", tz="Europe/Paris")}
    return row, lines


THE_DAY = {
    "martin letter": ("C001", "reminder_letter", "letter", "letter/reminder_letter", ["FA-2025-0142"]),
    "martin statement": ("C001", "statement_1", "statement", "statement/account_statement", ["FA-2025-0142"]),
    "martin email": ("C001", "reminder_2", "email", "email/reminder_2", ["FA-2025-0142"]),
    "muller notice": ("C002", "formal_notice", "formal_notice", "formal_notice/formal_notice", ["FA-2025-0157"]),
    "garage letter": ("C003", "reminder_letter", "letter", "letter/reminder_letter", ["FA-2025-0160"]),
}


def plan_day(url: str, names: list[str]) -> None:
    """The customer master and the open items of 30 June, and the plan's actions `names`."""
    items = pd.DataFrame([{"as_of": D(AS_OF), "customer_id": c, "invoice_id": i, "currency": "EUR",
                           "item_type": "invoice", "doc_date": D(issued), "due_date": D(due), "original_minor": a,
                           "open_minor": a, "days_overdue": (AS_OF - dt.date.fromisoformat(due)).days,
                           "bucket": "1-30"} for c, i, issued, due, a in INVOICES])
    with make_engine(url).begin() as conn:
        refresh_customers(conn, conform(pd.DataFrame(MASTER), CUSTOMER_COLUMNS))
        bulk_insert(conn, open_items, items)
    plan_actions(url, names)


def plan_actions(url: str, names: list[str]) -> None:
    """Add actions to the plan of 30 June and enqueue them; a formal notice is approved by a credit
    manager."""
    planned = [action(n, *THE_DAY[n], legal=THE_DAY[n][2] == "formal_notice") for n in names]
    actions = pd.DataFrame([a for a, _ in planned])[ACTION_COLUMNS]
    lines = pd.DataFrame([line for _, ls in planned for line in ls])[LINE_COLUMNS]
    lines["late_interest_minor"] = lines["late_interest_minor"].astype("Int64")
    with make_engine(url).begin() as conn:
        bulk_insert(conn, collection_actions, actions)
        bulk_insert(conn, collection_action_lines, lines.assign(as_of=D(AS_OF)))
        outbox.enqueue(conn, actions, AS_OF, now=NOW)
        approvals = actions[actions["requires_approval"]][["action_key"]].assign(
            as_of=AS_OF, decision="approved", decided_by="credit.manager", note="")
        outbox.record_decisions(conn, approvals, now=NOW)


def print_day(url: str, out_dir: Path, now: dt.datetime = NOW) -> dict:
    return letters.print_letters(make_engine(url), part=(0, 1), now=now, as_of=AS_OF, out_dir=out_dir,
                                 creditor=CREDITOR, legal=load_rules("FR"))


def outbox_rows(url: str) -> pd.DataFrame:
    with make_engine(url).connect() as conn:
        return outbox.read_outbox(conn).set_index("action_key")


def batches(url: str) -> pd.DataFrame:
    with make_engine(url).connect() as conn:
        return pd.read_sql(select(print_batches).order_by(print_batches.c.batch_id), conn)


def manifest(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def plain(text: str) -> str:
    """PDF text with every kind of space as one space."""
    return re.sub(r"[\s\u00a0\u202f]+", " ", text)


def pages_text(path: Path) -> list[str]:
    return [plain(page.extract_text()) for page in PdfReader(path).pages]


ALL = ["martin letter", "martin statement", "martin email", "muller notice", "garage letter"]


def test_a_day_of_letters_goes_out_as_one_envelope_per_customer_and_mail_class(warehouse_url, tmp_path):
    plan_day(warehouse_url, ALL)

    summary = print_day(warehouse_url, tmp_path)

    batch_id = "2025-06-30-p0of1-1"
    folder = tmp_path / "2025-06-30" / "print" / batch_id
    assert summary["batch_id"] == batch_id and summary["batch_dir"] == str(folder)
    assert (summary["claimed"], summary["letters"], summary["envelopes"], summary["registered"],
            summary["suppressed"]) == (4, 3, 2, 1, 1)
    rows = manifest(folder / "manifest.csv")
    assert list(rows[0]) == letters.MANIFEST_COLUMNS
    martin, muller = rows                      # ordinary mail first, then registered
    assert (martin["customer_id"], martin["mail_class"], martin["registered"]) == ("C001", "ordinary", "false")
    assert martin["action_keys"] == f"{key('martin letter')} {key('martin statement')}"
    assert martin["name"] == "Boulangerie Martin SARL" and martin["address"] == "14 rue des Lilas | 69003 Lyon"
    assert (muller["customer_id"], muller["mail_class"], muller["registered"]) == ("C002", "LRAR", "true")
    assert muller["address"] == "Lindenstraße 12 | 10969 Berlin | Deutschland" and muller["country"] == "DE"
    assert muller["action_keys"] == key("muller notice")
    assert sorted(p.name for p in folder.iterdir()) == sorted([f"{batch_id}-0001.pdf", f"{batch_id}-0002.pdf",
                                                               "batch.pdf", "manifest.csv"])
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]     # no temporary folder left

    sent = outbox_rows(warehouse_url)
    for name, envelope in (("martin letter", martin), ("martin statement", martin), ("muller notice", muller)):
        row = sent.loc[key(name)]
        assert (row.state, row.provider, row.provider_message_id) == ("sent", "print", envelope["envelope_id"])
        assert row.recipient == ", ".join([envelope["name"], *envelope["address"].split(" | ")])
        assert row.units >= 1
    assert sent.loc[[key("martin letter"), key("martin statement")], "units"].sum() == int(martin["pages"])
    garage = sent.loc[key("garage letter")]
    assert (garage.state, garage.reason) == ("suppressed", "no postal address")
    assert sent.loc[key("martin email"), "state"] == "pending"

    stored = batches(warehouse_url)
    assert stored[["batch_id", "letters", "pages", "registered"]].values.tolist() == [
        [batch_id, 3, int(martin["pages"]) + int(muller["pages"]), 1]]
    assert stored.loc[0, "pdf_path"] == str(folder / "batch.pdf")
    assert stored.loc[0, "manifest_path"] == str(folder / "manifest.csv")


@pytest.mark.parametrize("chunk", [letters.CHUNK_LETTERS, 1], ids=["one chunk", "a chunk per envelope"])
def test_the_manifest_pages_are_the_envelope_pdfs_cut_from_the_batch(warehouse_url, tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(letters, "CHUNK_LETTERS", chunk)     # a big batch is laid out and written in chunks
    plan_day(warehouse_url, ALL)
    folder = Path(print_day(warehouse_url, tmp_path)["batch_dir"])

    batch = pages_text(folder / "batch.pdf")
    rows = manifest(folder / "manifest.csv")
    assert int(rows[0]["first_page"]) == 1 and int(rows[-1]["last_page"]) == len(batch)
    for previous, row in zip(rows, rows[1:]):
        assert int(row["first_page"]) == int(previous["last_page"]) + 1
    invoices = {"C001": "FA-2025-0142", "C002": "FA-2025-0157"}
    for row in rows:
        first, last = int(row["first_page"]), int(row["last_page"])
        envelope = pages_text(folder / row["file"])
        assert len(envelope) == int(row["pages"]) == last - first + 1
        assert envelope == batch[first - 1:last]
        # the first page is an address page: our header, the customer's name and address
        assert CREDITOR.name in envelope[0] and row["name"] in envelope[0]
        assert all(line in envelope[0] for line in row["address"].split(" | "))
        assert invoices[row["customer_id"]] in " ".join(envelope)
        assert all("SIREN 123 456 789" in page for page in envelope)       # legal mentions on every page
    martin, muller = rows
    assert "Relevé de compte" in " ".join(pages_text(folder / martin["file"]))
    # the registered mention sits in the window, above the address (the layout prints it in capitals)
    assert "EINSCHREIBEN MIT RÜCKSCHEIN" in pages_text(folder / muller["file"])[0]
    assert "RECOMMANDÉE" not in " ".join(pages_text(folder / martin["file"]))
    # the fonts are shared by the batch: an envelope is tens of kilobytes, not a font file per letter
    assert all((folder / row["file"]).stat().st_size < 150_000 for row in rows)


def test_printing_again_prints_nothing_twice_and_new_letters_go_into_the_next_batch(warehouse_url, tmp_path):
    plan_day(warehouse_url, [n for n in ALL if n != "martin statement"])
    first = print_day(warehouse_url, tmp_path)

    again = print_day(warehouse_url, tmp_path, now=LATER)

    assert first["letters"] == 2 and again["batch_id"] is None and again["claimed"] == 0
    assert len(batches(warehouse_url)) == 1
    assert sorted(p.name for p in (tmp_path / "2025-06-30" / "print").iterdir()) == [first["batch_id"]]
    # the statement is planned later that day: it goes out alone, in batch 2
    plan_actions(warehouse_url, ["martin statement"])
    later = print_day(warehouse_url, tmp_path, now=LATER)
    assert later["batch_id"] == "2025-06-30-p0of1-2" and later["letters"] == 1
    assert manifest(later["manifest"])[0]["action_keys"] == key("martin statement")
    assert batches(warehouse_url)["batch_id"].tolist() == ["2025-06-30-p0of1-1", "2025-06-30-p0of1-2"]


def test_a_crash_before_the_commit_records_no_batch_and_the_next_run_prints_each_letter_once(
        warehouse_url, tmp_path, monkeypatch):
    plan_day(warehouse_url, ALL)

    def crash(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise ConnectionError("the warehouse went away")

    with monkeypatch.context() as patch:
        patch.setattr(outbox, "mark_sent", crash)
        with pytest.raises(ConnectionError):
            print_day(warehouse_url, tmp_path)

    assert batches(warehouse_url).empty
    states = outbox_rows(warehouse_url)
    assert (states.loc[[key("martin letter"), key("martin statement"), key("muller notice")], "state"]
            == "sending").all()
    assert states.loc[key("garage letter"), "state"] == "sending"       # its suppression rolled back too
    assert not list((tmp_path / "2025-06-30" / "print").iterdir())      # no folder the print room could take

    retried = print_day(warehouse_url, tmp_path, now=LATER)

    assert (retried["released"], retried["letters"], retried["envelopes"], retried["suppressed"]) == (4, 3, 2, 1)
    assert retried["batch_id"] == "2025-06-30-p0of1-1"
    states = outbox_rows(warehouse_url)
    printed = states[states["provider"] == "print"]
    assert len(printed) == 3 and (printed["state"] == "sent").all() and (printed["attempts"] == 2).all()
    assert set(printed["provider_message_id"]) == {r["envelope_id"] for r in manifest(retried["manifest"])}
    assert len(batches(warehouse_url)) == 1
    assert print_day(warehouse_url, tmp_path, now=LATER)["claimed"] == 0
