"""Printed collection messages made for real: WeasyPrint PDFs read back with pypdf, and the
preview folder a clerk opens to check a collection wave before it goes out."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
from decimal import Decimal

import pandas as pd
import pytest
from pypdf import PdfReader

from receivables.scenarios.render import Creditor, make_environment, message_context, render_action, write_preview

AS_OF = dt.date(2025, 7, 15)
MM = 72 / 25.4                       # PDF points per millimetre
A4 = (210 * MM, 297 * MM)            # 595.3 x 841.9 pt
CREDITOR = Creditor.from_env({})
CUSTOMERS = {
    "fr": {"customer_id": "C001", "name": "Boulangerie Martin SARL", "country": "FR", "language": "fr",
           "email": "compta@boulangerie-martin.example", "phone": "+33 4 72 10 20 30",
           "address": "14 rue des Lilas\n69003 Lyon", "segment": "TPE", "strategic": False},
    "de": {"customer_id": "C017", "name": "Bäckerei Müller GmbH", "country": "DE", "language": "de",
           "email": "buchhaltung@baeckerei-mueller.example", "phone": "+49 30 1234567",
           "address": "Lindenstraße 12, 10969 Berlin, Deutschland", "segment": "PME", "strategic": False},
}
TEMPLATES = {"letter": "letter/reminder_1", "formal_notice": "formal_notice/formal_notice",
             "statement": "statement/account_statement"}


def invoice(invoice_id: str, doc: str, due: str, original: int, open_: int | None = None, interest: int | None = 0) -> dict:
    due_date = dt.date.fromisoformat(due)
    return {"invoice_id": invoice_id, "doc_date": dt.date.fromisoformat(doc), "due_date": due_date,
            "original_minor": original, "open_minor": original if open_ is None else open_,
            "days_overdue": (AS_OF - due_date).days, "late_interest_minor": interest, "indemnity_minor": 4000,
            "currency": "EUR"}


def frame(*rows: dict) -> pd.DataFrame:
    lines = pd.DataFrame(list(rows))
    lines["late_interest_minor"] = lines["late_interest_minor"].astype("Int64")
    return lines


def two_invoices() -> pd.DataFrame:
    return frame(invoice("FA-2025-0142", "2025-04-30", "2025-05-31", 123450, interest=1580),
                 invoice("FA-2025-0157", "2025-05-12", "2025-06-11", 98000, 48000, interest=570))


def message(channel: str, language: str, lines: pd.DataFrame | None = None, customer: dict | None = None, **extra):
    lines = two_invoices() if lines is None else lines
    legal = channel == "formal_notice"
    principal = int(lines["open_minor"].sum())
    interest = int(lines["late_interest_minor"].sum()) if legal else 0
    indemnity = int(lines["indemnity_minor"].sum()) if legal else 0
    customer = customer or CUSTOMERS[language]
    action = {"action_key": f"{channel[:4]}{language}0c1d2e4b5a6c7d8e", "as_of": AS_OF, "customer_id": customer["customer_id"],
              "scenario": "standard", "step_id": channel, "offset_days": 45, "channel": channel,
              "template": TEMPLATES[channel], "tone": "legal" if legal else "friendly",
              "invoice_ids": " ".join(lines["invoice_id"]), "amount_minor": principal + interest + indemnity,
              "principal_minor": principal, "interest_minor": interest, "indemnity_minor": indemnity, "currency": "EUR",
              "language": language, "requires_approval": legal, "legal_fees": legal, "hold_reason": ""}
    context = message_context(action, lines, customer, CREDITOR, annual_rate=Decimal("12.15"), **extra)
    return render_action(make_environment(), action, context), context


def plain(text: str) -> str:
    """Text read back from a PDF or formatted by Babel, with every kind of space as one space."""
    return re.sub(r"[\s\u00a0\u202f]+", " ", text)


def pdf_text(data: bytes) -> list[str]:
    return [plain(page.extract_text()) for page in PdfReader(io.BytesIO(data)).pages]


@pytest.mark.parametrize("language", ["fr", "de"])
@pytest.mark.parametrize("channel", ["letter", "formal_notice", "statement"])
def test_a_printed_message_is_an_a4_pdf_naming_the_customer_the_invoices_and_the_total(channel, language):
    rendered, context = message(channel, language)
    data = rendered.pdf()
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(width - A4[0]) < 1 and abs(height - A4[1]) < 1
    text = " ".join(pdf_text(data))
    assert CUSTOMERS[language]["name"] in text
    assert "FA-2025-0142" in text and "FA-2025-0157" in text
    assert plain(context["total_due"]) in text
    assert "SIREN 123 456 789" in text and "FR76 3000 6000 0112 3456 7890 189" in text


def test_the_address_sits_in_the_window_of_a_french_envelope():
    rendered, _ = message("letter", "fr")
    page = PdfReader(io.BytesIO(rendered.pdf())).pages[0]
    found = []

    def visit(text, cm, tm, font, size):  # noqa: ANN001
        if "Boulangerie Martin SARL" in text:
            found.append((tm[4] * cm[0] + cm[4], tm[5] * cm[3] + cm[5]))

    page.extract_text(visitor_text=visit)
    assert found, "the customer's name is not on the first page"
    x, y = found[0]
    left_mm, top_mm = x / MM, (A4[1] - y) / MM
    assert 108 <= left_mm <= 112, left_mm           # window left edge at ~110 mm
    assert 45 <= top_mm <= 52, top_mm               # first line's baseline just under 45 mm


def test_a_long_list_of_invoices_runs_over_several_pages_with_the_legal_footer_on_each():
    lines = frame(*[invoice(f"FA-2025-{n:04d}", "2025-03-01", f"2025-04-{n:02d}", 10000 + 137 * n, interest=150 + n)
                    for n in range(1, 31)] + [invoice(f"FA-2025-{n:04d}", "2025-04-01", f"2025-05-{n - 30:02d}", 20000, interest=90)
                                              for n in range(31, 61)])
    rendered, context = message("formal_notice", "fr", lines)
    pages = pdf_text(rendered.pdf())
    assert len(pages) >= 2
    assert all("SIREN 123 456 789" in page for page in pages)
    assert all(f"{n}/{len(pages)}" in pages[n - 1] for n in range(1, len(pages) + 1))
    assert "FA-2025-0001" in pages[0] and "FA-2025-0060" in " ".join(pages)
    assert plain(context["total_due"]) in " ".join(pages)


def test_a_statement_pdf_lists_the_credit_note_and_the_balance():
    items = frame(*two_invoices().to_dict("records"),
                  {**invoice("AV-2025-0009", "2025-06-20", "2025-06-20", -15000), "indemnity_minor": 0})
    rendered, context = message("statement", "de", account_items=items)
    text = " ".join(pdf_text(rendered.pdf()))
    assert "Gutschrift AV-2025-0009" in text
    assert plain(context["account"]["balance"]) in text and plain(context["account"]["balance"]) == "1.564,50 €"


def test_the_preview_writes_every_part_and_an_index_linking_each_file(tmp_path):
    letter, _ = message("letter", "fr")
    hostile = {**CUSTOMERS["de"], "customer_id": "C666", "name": "<script>alert(1)</script> GmbH"}
    notice, _ = message("formal_notice", "de", customer=hostile)
    env = make_environment()
    lines = two_invoices()
    email_action = {"action_key": "mail0c1d2e4b5a6c7d8e", "as_of": AS_OF, "customer_id": "C001", "scenario": "standard",
                    "step_id": "reminder_2", "offset_days": 10, "channel": "email", "template": "email/reminder_2",
                    "tone": "firm", "invoice_ids": "FA-2025-0142 FA-2025-0157", "amount_minor": 171450,
                    "currency": "EUR", "language": "fr", "requires_approval": False, "legal_fees": False, "hold_reason": ""}
    email = render_action(env, email_action, message_context(email_action, lines, CUSTOMERS["fr"], CREDITOR))
    sms_action = {**email_action, "channel": "sms", "template": "sms/reminder_2", "action_key": "sms00c1d2e4b5a6c7d8e"}
    sms = render_action(env, sms_action, message_context(sms_action, lines, CUSTOMERS["fr"], CREDITOR))

    written = write_preview(tmp_path / "preview", [letter, notice, email, sms])

    names = sorted(path.name for path in written)
    assert names == sorted(["lettfr0c1d2e4b5a6c7d8e.letter.html", "lettfr0c1d2e4b5a6c7d8e.letter.pdf",
                            "formde0c1d2e4b5a6c7d8e.formal_notice.html", "formde0c1d2e4b5a6c7d8e.formal_notice.pdf",
                            "mail0c1d2e4b5a6c7d8e.email.subject.txt", "mail0c1d2e4b5a6c7d8e.email.html",
                            "mail0c1d2e4b5a6c7d8e.email.txt", "sms00c1d2e4b5a6c7d8e.sms.txt", "index.html"])
    assert all(path.is_file() and path.stat().st_size > 0 for path in written)
    assert (tmp_path / "preview" / "formde0c1d2e4b5a6c7d8e.formal_notice.pdf").read_bytes().startswith(b"%PDF-")
    index = (tmp_path / "preview" / "index.html").read_text(encoding="utf-8")
    for path in written[:-1]:
        assert f'href="{path.name}"' in index, path.name
    assert "&lt;script&gt;alert(1)&lt;/script&gt; GmbH" in index and "<script>" not in index
    assert "Boulangerie Martin SARL" in index and "C666" in index and "reminder_2" in index
    assert (tmp_path / "preview" / "mail0c1d2e4b5a6c7d8e.email.subject.txt").read_text(encoding="utf-8").startswith(
        "Deuxième rappel")


def test_a_preview_file_name_is_made_safe_from_the_action_key(tmp_path):
    rendered, _ = message("letter", "fr")
    odd = dataclasses.replace(rendered, action_key="../../etc/passwd")
    written = write_preview(tmp_path, [odd], pdf=False)
    assert {path.parent for path in written} == {tmp_path}
    assert written[0].name == "______etc_passwd.letter.html"
