"""The demo's .eml outbox writes each mail itself (milliseconds less per message than the email
package): a mail reader must see exactly what the email package's version says."""

from __future__ import annotations

import base64
import email
import email.message
import email.policy

import pytest

from receivables.channels.email import _eml, _eml_by_email_package

NAMES = ["Boulangerie Martin", "Müller & Fils, O'Brien", "ACME, Inc.", 'Quote "this" \\ back', "Ωμέγα Ελλάδα " * 8,
         "Jean-Édouard de la Tour d'Auvergne et Compagnie Générale des Eaux Minérales SA", "", "😀 emoji name"]
SUBJECTS = ["Rappel : facture FA-2025-00123 échue", "Reminder", "x" * 100, "Word " * 30, "😀 " * 40,
            "Zahlungserinnerung – Rechnung RE-2025-0042 überfällig seit 12 Tagen, bitte begleichen"]
TEXTS = ["Madame, Monsieur,\n\nla facture FA-1 de 1 234,56 € est échue.\n", "line\r\nwith\rbreaks\n", "é" * 200,
         "x" * 2000, "=3D= equals = at end="]


def body(name: str, subject: str, text: str, *, attachments: bool = False) -> tuple[dict, dict]:
    person = {"to": [{"email": "compta@boulangerie-martin.example", "name": name}], "subject": subject,
              "custom_args": {"action_key": "3f9a1c0b7d2e4a5f6b7c"}, "send_at": 1751270400}
    request = {"from": {"email": "recouvrement@demo-distribution.example", "name": "Demo Distribution SAS"},
               "reply_to": {"email": "compta@demo-distribution.example"},
               "content": [{"type": "text/plain", "value": text}, {"type": "text/html", "value": f"<p>{text}</p>"}],
               "categories": ["reminder_1"], "asm": {"group_id": 42}, "personalizations": [person]}
    if attachments:
        request["attachments"] = [{"content": base64.b64encode(b"%PDF-1.7 facture").decode(), "filename": "FA-1.pdf",
                                   "type": "application/pdf", "disposition": "attachment"}]
    return request, person


def read(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def lines_of(text: str) -> str:
    """A body as a reader compares it: its line breaks, less the one the writer ends it with."""
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("subject", SUBJECTS)
def test_a_reader_finds_the_name_address_and_subject_as_given(name, subject):
    request, person = body(name, subject, TEXTS[0])
    mail = read(_eml(request, person))
    [to] = mail["To"].addresses
    assert (to.display_name, to.addr_spec) == (" ".join(name.split()), "compta@boulangerie-martin.example")
    assert mail["Subject"] == subject
    assert mail["From"].addresses[0].display_name == "Demo Distribution SAS"
    assert mail["X-Action-Key"] == "3f9a1c0b7d2e4a5f6b7c"
    assert mail["Date"].datetime.timestamp() == 1751270400


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("attachments", [False, True])
def test_bodies_and_pdf_attachments_read_back_as_the_email_package_writes_them(text, attachments):
    request, person = body("Boulangerie Martin", "Rappel", text, attachments=attachments)
    ours, package = read(_eml(request, person)), read(_eml_by_email_package(request, person))
    for mail in (ours, package):
        assert lines_of(mail.get_body(("plain",)).get_content()) == lines_of(text)
        assert lines_of(mail.get_body(("html",)).get_content()) == lines_of(f"<p>{text}</p>")
    assert [(p.get_content_type(), p["Content-Transfer-Encoding"]) for p in ours.walk()] == \
        [(p.get_content_type(), p["Content-Transfer-Encoding"]) for p in package.walk()]
    assert [(a.get_filename(), a.get_content()) for a in ours.iter_attachments()] == \
        [(a.get_filename(), a.get_content()) for a in package.iter_attachments()] == \
        ([("FA-1.pdf", b"%PDF-1.7 facture")] if attachments else [])


def test_a_line_break_in_a_name_or_subject_cannot_add_a_header():
    request, person = body("Boulangerie Martin\r\nBcc: thief@example.com", "Rappel\r\nBcc: thief@example.com", "x")
    mail = read(_eml(request, person))
    assert mail["Bcc"] is None
    assert "thief@example.com" in mail["Subject"]
