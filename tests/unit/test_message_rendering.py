"""Collection messages rendered from the template files: every template in every language, the
customer's language and locale, amounts from minor units, and templates that cannot misbehave
(autoescaping, sandbox, StrictUndefined). No PDF here: tests/integration/test_message_pdf.py."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from babel.numbers import format_currency

from receivables.scenarios.render import (CHANNEL_PARTS, LANGUAGES, PRINTED, TEMPLATES_DIR, Creditor, TemplateError,
                                          address_lines, available_language, gsm7_septets, make_environment,
                                          message_context, message_language, render_action)

AS_OF = dt.date(2025, 7, 15)
CREDITOR = Creditor.from_env({})
BOULANGERIE = {"customer_id": "C001", "name": "Boulangerie Martin SARL", "country": "FR", "language": "fr",
               "email": "compta@boulangerie-martin.example", "phone": "+33 4 72 10 20 30",
               "address": "14 rue des Lilas\n69003 Lyon", "segment": "TPE", "strategic": False}
RISK = {"score": 0.82, "risk_class": "high",
        "drivers": "pays 23 days late on average; 3 invoices overdue; credit limit exceeded since June"}
FOLDER_CHANNEL = {"email": "email", "sms": "sms", "call": "call", "letter": "letter", "statement": "statement",
                  "formal_notice": "formal_notice", "agency_handoff": "agency_handoff"}


def spaces(text: str) -> str:
    """Babel's narrow and ordinary no-break spaces as plain spaces, to compare with what we read."""
    return text.replace("\u202f", " ").replace("\u00a0", " ")


# -- small AR documents ----------------------------------------------------------------------

def invoice(invoice_id: str, doc: str, due: str, original: int, open_: int | None = None, *, interest: int | None = 0,
            indemnity: int = 4000, currency: str = "EUR") -> dict:
    due_date = dt.date.fromisoformat(due)
    return {"invoice_id": invoice_id, "doc_date": dt.date.fromisoformat(doc), "due_date": due_date,
            "original_minor": original, "open_minor": original if open_ is None else open_,
            "days_overdue": (AS_OF - due_date).days, "late_interest_minor": interest, "indemnity_minor": indemnity,
            "currency": currency}


def frame(*rows: dict) -> pd.DataFrame:
    lines = pd.DataFrame(list(rows))
    lines["late_interest_minor"] = lines["late_interest_minor"].astype("Int64")
    return lines


def two_invoices(interest: bool = True) -> pd.DataFrame:
    """Boulangerie Martin: FA-2025-0142 (1 234,50 €, due 31 May) and FA-2025-0157 (980 €, 500 paid)."""
    return frame(invoice("FA-2025-0142", "2025-04-30", "2025-05-31", 123450, interest=1580 if interest else None),
                 invoice("FA-2025-0157", "2025-05-12", "2025-06-11", 98000, 48000, interest=570 if interest else None))


def action_for(template: str, lines: pd.DataFrame, *, language: str = "fr", tone: str = "firm", interest: bool = True,
               currency: str = "EUR", **overrides) -> dict:
    channel = FOLDER_CHANNEL[template.split("/")[0]]
    principal = int(lines["open_minor"].sum())
    legal = channel == "formal_notice"
    interest_minor = (int(lines["late_interest_minor"].sum()) if interest else None) if legal else 0
    indemnity_minor = int(lines["indemnity_minor"].sum()) if legal else 0
    action = {"action_key": "3f9a0c1d2e4b5a6c7d8e", "as_of": AS_OF, "customer_id": "C001", "scenario": "standard",
              "step_id": template.split("/")[1], "offset_days": 10, "channel": channel, "template": template,
              "tone": tone, "invoice_ids": " ".join(sorted(lines["invoice_id"])),
              "amount_minor": principal + (interest_minor or 0) + indemnity_minor, "principal_minor": principal,
              "interest_minor": interest_minor, "indemnity_minor": indemnity_minor, "currency": currency,
              "language": language, "requires_approval": legal, "legal_fees": legal, "hold_reason": ""}
    action.update(overrides)
    return action


def render(template: str, lines: pd.DataFrame | None = None, *, customer: dict = BOULANGERIE, env=None, risk=RISK,
           annual_rate: Decimal | None = Decimal("12.15"), account_items: pd.DataFrame | None = None, **action_fields):
    lines = two_invoices(action_fields.get("interest", True)) if lines is None else lines
    action = action_for(template, lines, **action_fields)
    context = message_context(action, lines, customer, CREDITOR, risk=risk, account_items=account_items,
                              annual_rate=annual_rate)
    return render_action(env or make_environment(), action, context)


def parts(message) -> str:
    return "\n".join(p for p in (message.subject, message.html, message.text) if p is not None)


# -- every template, every language, every part ----------------------------------------------

def message_templates() -> list[str]:
    """<folder>/<name> of every message file under include/templates (shared pieces start with _)."""
    names = set()
    for path in TEMPLATES_DIR.rglob("*.j2"):
        relative = path.relative_to(TEMPLATES_DIR)
        if any(part.startswith("_") for part in relative.parts):
            continue
        names.add(f"{relative.parts[0]}/{relative.name.split('.')[0]}")
    return sorted(names)


def test_the_templates_folder_holds_every_message_the_default_scenarios_name():
    names = set(message_templates())
    assert {"email/courtesy", "email/reminder_1", "email/reminder_2", "email/reminder_1_firm", "email/reminder_2_firm",
            "email/thank_you", "sms/reminder_2", "sms/reminder_2_firm", "letter/reminder_letter", "letter/reminder_1",
            "letter/reminder_2", "letter/reminder_1_firm", "letter/reminder_2_firm", "statement/account_statement",
            "formal_notice/formal_notice", "agency_handoff/agency_handoff", "call/collection_call",
            "call/account_manager"} <= names


@pytest.mark.parametrize("template", message_templates())
def test_every_message_exists_in_every_language_with_every_part_of_its_channel(template):
    channel = FOLDER_CHANNEL[template.split("/")[0]]
    missing = [f"{template}.{language}.{part}.j2" for language in LANGUAGES for part in CHANNEL_PARTS[channel]
               if not (TEMPLATES_DIR / f"{template}.{language}.{part}.j2").is_file()]
    assert missing == []


def many_invoices() -> pd.DataFrame:
    return frame(*[invoice(f"FA-2025-{n:04d}", "2025-03-01", f"2025-04-{n:02d}", 10000 + 137 * n, interest=200 + n)
                   for n in range(1, 15)])


def statement_items() -> pd.DataFrame:
    """Two overdue invoices, one not yet due and a credit note."""
    return frame(*two_invoices().to_dict("records"),
                 invoice("FA-2025-0201", "2025-07-01", "2025-07-31", 56000, interest=None, indemnity=0),
                 invoice("AV-2025-0009", "2025-06-20", "2025-06-20", -15000, interest=None, indemnity=0))


def bare_lines() -> pd.DataFrame:
    """Only what every plan line has: no document date, no original amount, no days overdue."""
    return two_invoices()[["invoice_id", "open_minor", "due_date", "late_interest_minor", "indemnity_minor"]]


VARIANTS = {
    "two invoices": dict(),
    "plan lines without document dates": dict(lines=bare_lines()),
    "one invoice, interest unknown, no rate": dict(lines=two_invoices(interest=False).iloc[:1], interest=False,
                                                   annual_rate=None, risk=None),
    "fourteen invoices": dict(lines=many_invoices()),
    "statement with a credit note": dict(account_items=statement_items(), tone="courtesy"),
    "a customer with nothing on file": dict(customer={"customer_id": "C404"}, tone="legal"),
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", message_templates())
def test_every_template_renders_in_every_language_for_realistic_documents(template, language):
    env = make_environment()
    for variant, fields in VARIANTS.items():
        message = render(template, env=env, language=language, **fields)
        channel = FOLDER_CHANNEL[template.split("/")[0]]
        produced = {"subject": message.subject, "html": message.html, "txt": message.text}
        for part in CHANNEL_PARTS[channel]:
            text = produced[part]
            assert text and text.strip(), (variant, part)
            assert "{{" not in text and "{%" not in text and "None" not in text, (variant, part)
        if message.subject is not None:
            assert "\n" not in message.subject
        if message.text is not None and channel != "call":
            assert "<p>" not in message.text and "<strong>" not in message.text
        if message.html is not None:
            assert message.html.startswith("<!DOCTYPE html>") and f'<html lang="{language}">' in message.html
        if channel in PRINTED and "customer" not in fields:
            assert "Boulangerie Martin SARL" in message.html and "69003 Lyon" in message.html


# -- language and locale ---------------------------------------------------------------------

@pytest.mark.parametrize("language, country, expected", [
    ("de", "FR", "de"),           # the customer's own language wins
    ("EN", "FR", "en"),           # whatever the case
    ("nl-BE", "BE", "nl"),        # a regional tag counts for its language
    ("pt", "BE", "fr"),           # not offered: Belgium's main language for us
    (None, "CH", "de"),
    (None, "AT", "de"),
    ("", "LU", "fr"),
    (float("nan"), "IT", "it"),   # an empty cell of the customer master
    (None, "MX", "es"),           # no entry of ours: Babel's first official language
    (None, "US", "en"),
    ("pt", "PT", "fr"),           # neither the language nor the country's: the scenario default
    ("pt", None, "en"),
    (None, None, "fr"),
])
def test_the_message_language_is_the_customers_else_its_countrys_else_the_default(language, country, expected):
    default = "en" if (language, country) == ("pt", None) else "fr"
    assert message_language(language, country, default) == expected


def test_a_language_missing_for_a_template_falls_back_to_the_default_then_english(tmp_path):
    for language in ("fr", "en"):
        for part in ("subject", "html", "txt"):
            (tmp_path / "email").mkdir(exist_ok=True)
            (tmp_path / "email" / f"courtesy.{language}.{part}.j2").write_text("x", encoding="utf-8")
    (tmp_path / "email" / "courtesy.de.subject.j2").write_text("x", encoding="utf-8")   # html and txt missing
    env = make_environment(tmp_path)
    assert available_language(env, "email/courtesy", "email", "fr", "en") == "fr"
    assert available_language(env, "email/courtesy", "email", "de", "fr") == "fr"
    assert available_language(env, "email/courtesy", "email", "de", "it") == "en"


def test_french_amounts_and_dates_are_formatted_as_babel_writes_them_for_france():
    lines = two_invoices()
    context = message_context(action_for("letter/reminder_1", lines), lines, BOULANGERIE, CREDITOR)
    assert context["total_due"] == format_currency(Decimal("1714.50"), "EUR", locale="fr_FR")
    assert spaces(context["total_due"]) == "1 714,50 €"
    assert context["total_due"] == "1\u202f714,50\u00a0€"          # narrow no-break space, no-break space
    assert context["date"] == "15 juillet 2025" and context["pay_by"] == "23 juillet 2025"
    assert context["invoices"][0]["due_date"] == "31/05/2025"
    assert context["invoices"][1]["original"] == "980,00\u00a0€" and context["invoices"][1]["open"] == "480,00\u00a0€"


def test_german_and_english_customers_get_their_own_formats():
    lines = two_invoices()
    berlin = {**BOULANGERIE, "country": "DE", "language": "de"}
    context = message_context(action_for("letter/reminder_1", lines, language="de"), lines, berlin, CREDITOR)
    assert spaces(context["total_due"]) == "1.714,50 €"
    assert context["date"] == "15. Juli 2025" and context["invoices"][0]["due_date"] == "31.05.2025"
    london = {**BOULANGERIE, "country": "GB", "language": "en"}
    context = message_context(action_for("letter/reminder_1", lines, language="en"), lines, london, CREDITOR)
    assert context["total_due"] == "€1,714.50" and context["date"] == "15 July 2025"
    boston = {**BOULANGERIE, "country": "US", "language": "en"}
    context = message_context(action_for("letter/reminder_1", lines, language="en"), lines, boston, CREDITOR)
    assert context["date"] == "July 15, 2025"


def test_the_locale_is_language_and_country_when_babel_knows_the_pair_else_the_language():
    lines = two_invoices()
    zurich = {**BOULANGERIE, "country": "CH", "language": "de"}
    context = message_context(action_for("letter/reminder_1", lines, language="de"), lines, zurich, CREDITOR)
    assert context["total_due"] == format_currency(Decimal("1714.50"), "EUR", locale="de_CH")
    german_in_france = {**BOULANGERIE, "country": "FR", "language": "de"}      # Babel has no de_FR
    context = message_context(action_for("letter/reminder_1", lines, language="de"), lines, german_in_france, CREDITOR)
    assert context["total_due"] == format_currency(Decimal("1714.50"), "EUR", locale="de")


@pytest.mark.parametrize("minor, currency, expected", [
    (123456789012, "EUR", "1 234 567 890,12 €"),
    (1, "EUR", "0,01 €"),
    (-15000, "EUR", "-150,00 €"),
    (123456, "JPY", "123 456 JPY"),          # no minor unit
    (1234567, "BHD", "1 234,567 BHD"),       # three decimals
])
def test_amounts_come_from_integer_minor_units_exactly(minor, currency, expected):
    lines = frame(invoice("FA-2025-0142", "2025-04-30", "2025-05-31", minor, currency=currency))
    action = action_for("letter/reminder_1", lines, currency=currency)
    context = message_context(action, lines, BOULANGERIE, CREDITOR)
    assert spaces(context["total_due"]).replace("\u2212", "-") == expected
    assert spaces(context["invoices"][0]["open"]).replace("\u2212", "-") == expected


def test_an_amount_with_a_fraction_of_a_minor_unit_is_refused():
    lines = two_invoices()
    with pytest.raises(ValueError, match="minor units"):
        message_context(action_for("letter/reminder_1", lines, amount_minor=171450.5), lines, BOULANGERIE, CREDITOR)


def test_an_address_is_split_on_new_lines_else_on_commas():
    assert address_lines("14 rue des Lilas\r\n69003 Lyon\n") == ["14 rue des Lilas", "69003 Lyon"]
    assert address_lines("14 rue des Lilas, 69003 Lyon") == ["14 rue des Lilas", "69003 Lyon"]
    assert address_lines(None) == [] and address_lines(float("nan")) == []


def test_the_creditor_comes_from_the_environment_with_demo_values_for_what_is_unset():
    creditor = Creditor.from_env({"RECEIVABLES_CREDITOR_NAME": "Fromagerie Dupont SA",
                                  "RECEIVABLES_CREDITOR_IBAN": "FR14 2004 1010 0505 0001 3M02 606",
                                  "RECEIVABLES_CREDITOR_BIC": "  "})
    assert creditor.name == "Fromagerie Dupont SA" and creditor.iban == "FR14 2004 1010 0505 0001 3M02 606"
    assert creditor.bic == CREDITOR.bic and CREDITOR.name == "Demo Distribution SAS" and "Paris" in CREDITOR.address


# -- customer data cannot become template code or markup -------------------------------------

def test_a_customer_named_like_a_template_is_printed_not_evaluated():
    jinja = {**BOULANGERIE, "name": "{{ 7*7 }} {% if true %}SARL{% endif %}"}
    for template in ("letter/reminder_1", "email/reminder_2", "call/collection_call"):
        message = render(template, customer=jinja)
        text = parts(message)
        assert "{{ 7*7 }}" in text and "{% if true %}" in text and "49" not in text


def test_a_script_in_a_customer_name_is_escaped_in_html_and_plain_in_text():
    script = {**BOULANGERIE, "name": "<script>alert(1)</script> & Fils",
              "address": "<img src=x onerror=alert(1)>\n69003 Lyon"}
    letter = render("letter/reminder_1", customer=script)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Fils" in letter.html
    assert "<script>" not in letter.html and "<img" not in letter.html
    call = render("call/collection_call", customer=script)
    assert "<script>alert(1)</script> & Fils" in call.text


def test_an_invoice_number_with_markup_is_escaped_in_the_email_table():
    lines = frame(invoice("<b>FA-1</b>", "2025-04-30", "2025-05-31", 10000))
    message = render("email/reminder_1", lines)
    assert "&lt;b&gt;FA-1&lt;/b&gt;" in message.html and "<b>FA-1</b>" in message.text


# -- broken templates fail loudly, naming the file -------------------------------------------

def templates_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return tmp_path


def render_in(folder: Path, template: str, channel: str = "letter"):
    lines = two_invoices()
    action = {**action_for("letter/reminder_1", lines), "template": template, "channel": channel}
    context = message_context(action, lines, BOULANGERIE, CREDITOR)
    return render_action(make_environment(folder), action, context)


def test_an_undefined_variable_raises_a_template_error_naming_the_file(tmp_path):
    folder = templates_dir(tmp_path, {"letter/typo.fr.html.j2": "<p>{{ customer.name }}</p>\n<p>{{ totl_due }}</p>"})
    with pytest.raises(TemplateError, match=r"letter/typo\.fr\.html\.j2.*line 2.*'totl_due' is undefined") as error:
        render_in(folder, "letter/typo")
    assert error.value.template == "letter/typo.fr.html.j2"


def test_an_undefined_variable_in_a_layout_names_the_layout_too(tmp_path):
    folder = templates_dir(tmp_path, {"_layout/base.html.j2": "<h1>{{ creditor.nom }}</h1>{% block body %}{% endblock %}",
                                      "letter/child.fr.html.j2": '{% extends "_layout/base.html.j2" %}{% block body %}x{% endblock %}'})
    with pytest.raises(TemplateError, match=r"^letter/child\.fr\.html\.j2: undefined \(in _layout/base\.html\.j2, line 1\)"):
        render_in(folder, "letter/child")


def test_a_sandbox_escape_attempt_raises_a_template_error(tmp_path):
    folder = templates_dir(tmp_path, {"letter/escape.fr.html.j2": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
                                      "letter/globals.fr.html.j2": "{{ lipsum.__globals__['os'].popen('id').read() }}",
                                      "letter/mutate.fr.html.j2": "{{ invoices.append(1) }}{{ invoices|length }}"})
    for name in ("escape", "globals", "mutate"):
        with pytest.raises(TemplateError, match=rf"letter/{name}\.fr\.html\.j2: refused by the sandbox"):
            render_in(folder, f"letter/{name}")


def test_a_missing_template_names_the_path(tmp_path):
    with pytest.raises(TemplateError, match=r"letter/nowhere\.fr\.html\.j2: template not found in .*templates"):
        render_in(TEMPLATES_DIR, "letter/nowhere")
    folder = templates_dir(tmp_path, {"letter/inc.fr.html.j2": '{% include "_parts/gone.html.j2" %}'})
    with pytest.raises(TemplateError, match=r"letter/inc\.fr\.html\.j2: includes '_parts/gone\.html\.j2', not found"):
        render_in(folder, "letter/inc")


def test_a_syntax_error_names_the_file_and_the_line(tmp_path):
    folder = templates_dir(tmp_path, {"letter/broken.fr.html.j2": "<p>ok</p>\n{% if count %}\n<p>no endif</p>"})
    with pytest.raises(TemplateError, match=r"letter/broken\.fr\.html\.j2: syntax error \(in letter/broken\.fr\.html\.j2, line 3\)"):
        render_in(folder, "letter/broken")


def test_printing_a_missing_value_is_an_error_not_the_word_none(tmp_path):
    folder = templates_dir(tmp_path, {"letter/none.fr.html.j2": "<p>{{ risk }}</p>"})
    lines = two_invoices()
    action = {**action_for("letter/reminder_1", lines), "template": "letter/none"}
    context = message_context(action, lines, BOULANGERIE, CREDITOR, risk=None)
    with pytest.raises(TemplateError, match=r"letter/none\.fr\.html\.j2: undefined.*None was printed"):
        render_action(make_environment(folder), action, context)


def test_a_template_name_cannot_leave_the_templates_folder():
    lines = two_invoices()
    action = {**action_for("letter/reminder_1", lines), "template": "../../etc/passwd"}
    with pytest.raises(TemplateError, match="<channel-folder>/<name>"):
        render_action(make_environment(), action, message_context(action, lines, BOULANGERIE, CREDITOR))


def test_an_autoescaped_html_template_and_a_plain_text_one_differ_only_by_their_file_name(tmp_path):
    folder = templates_dir(tmp_path, {"email/x.fr.subject.j2": "{{ customer.name }}", "email/x.fr.html.j2": "{{ customer.name }}",
                                      "email/x.fr.txt.j2": "{{ customer.name }}"})
    lines = two_invoices()
    action = {**action_for("email/reminder_1", lines), "template": "email/x"}
    context = message_context(action, lines, {**BOULANGERIE, "name": "Martin & <Fils>"}, CREDITOR)
    message = render_action(make_environment(folder), action, context)
    assert message.html == "Martin &amp; &lt;Fils&gt;"
    assert message.subject == message.text == "Martin & <Fils>"


# -- what each kind of message says ----------------------------------------------------------

def test_the_formal_notice_shows_the_rate_the_interest_and_indemnity_per_invoice_and_the_total():
    message = render("formal_notice/formal_notice", tone="legal")
    html = spaces(message.html)
    assert "Mise en demeure de payer" in html and "Lettre recommandée avec accusé de réception" in html
    assert "12,15 %" in html and "L441-10" in html and "D441-5" in html and "40 euros" in html
    for amount in ("15,80 €", "5,70 €", "40,00 €", "1 714,50 €", "21,50 €", "80,00 €", "1 816,00 €"):
        assert amount in html, amount
    assert "au plus tard le <strong>23 juillet 2025</strong>" in html
    assert "à calculer au paiement" not in html


TO_BE_COMPUTED = {"fr": "elles seront calculées au jour du paiement", "en": "it will be calculated on the date of payment",
                  "de": "sie werden am Tag der Zahlung berechnet", "es": "se calcularán en la fecha de pago",
                  "it": "saranno calcolati alla data del pagamento", "nl": "zij wordt berekend op de dag van betaling"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_formal_notice_without_the_interest_says_it_is_owed_and_computed_at_payment(language):
    message = render("formal_notice/formal_notice", two_invoices(interest=False), interest=False, language=language,
                     hold_reason="no ECB rate for 2026-01-01 in FR.yaml", tone="legal")
    html = spaces(message.html)
    assert TO_BE_COMPUTED[language] in html
    assert "L441-10" in html and "D441-5" in html and ("12,15" in html or "12.15" in html)
    assert "FR.yaml" not in html and "ECB rate for" not in html        # the hold reason is ours, not the customer's


def test_without_the_interest_the_formal_notice_asks_for_principal_and_indemnities_and_marks_the_interest_cells():
    message = render("formal_notice/formal_notice", two_invoices(interest=False), interest=False, tone="legal")
    html = spaces(message.html)
    assert "Total à régler" in html and "1 794,50 €" in html              # 1 714,50 + 2 x 40,00
    assert html.count("à calculer au paiement") == 3                      # two invoices and the total


def test_the_call_script_lists_every_risk_driver_with_the_score_and_the_class():
    message = render("call/collection_call")
    text = spaces(message.text)
    for line in ("pays 23 days late on average", "3 invoices overdue", "credit limit exceeded since June",
                 "Score : 0,82", "Classe : élevé", "Boulangerie Martin SARL", "+33 4 72 10 20 30",
                 "FA-2025-0142", "FA-2025-0157", "1 714,50 €", "23 juillet 2025"):
        assert line in text, line
    for outcome in ("Client joint", "Pas de réponse", "Promesse de paiement", "Litige", "prix", "quantité", "qualité",
                    "livraison", "facture en double", "déjà payé", "autre"):
        assert outcome in text, outcome


def test_a_call_script_for_an_unscored_customer_without_a_phone_says_so_and_shows_the_hold_reason():
    message = render("call/account_manager", customer={**BOULANGERIE, "phone": None}, risk=None, language="en",
                     hold_reason="customer in safeguard proceedings")
    assert "Phone: not on file" in message.text and "not scored" in message.text
    assert "Note: customer in safeguard proceedings" in message.text


def test_the_statement_shows_every_open_item_with_credit_notes_and_the_balance():
    message = render("statement/account_statement", account_items=statement_items(), tone="courtesy")
    html = spaces(message.html)
    assert "Avoir AV-2025-0009" in html and "Facture FA-2025-0201" in html and "non échu" in html
    assert spaces(format_currency(Decimal("-150.00"), "EUR", locale="fr_FR")) in html
    balance = 123450 + 48000 + 56000 - 15000
    assert spaces(format_currency(Decimal(balance).scaleb(-2), "EUR", locale="fr_FR")) == "2 124,50 €"
    assert "Solde de votre compte" in html and "2 124,50 €" in html
    assert "dont échu" in html and "1 714,50 €" in html


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", ["sms/reminder_2", "sms/reminder_2_firm"])
def test_an_sms_fits_in_one_gsm7_segment(template, language):
    country = {"fr": "FR", "en": "GB", "de": "DE", "es": "ES", "it": "IT", "nl": "NL"}[language]
    customer = {**BOULANGERIE, "country": country, "language": language}
    september = dict(as_of=dt.date(2025, 9, 15))                 # the longest month names
    for lines in (two_invoices(), two_invoices().iloc[:1]):
        message = render(template, lines, customer=customer, language=language, **september)
        assert gsm7_septets(message.text) is not None, message.text
        assert gsm7_septets(message.text) <= 160, (len(message.text), message.text)


def test_an_email_reminder_asks_for_the_amount_by_the_date_in_each_part():
    message = render("email/reminder_2", language="en", customer={**BOULANGERIE, "country": "GB", "language": "en"})
    assert message.subject == "Second reminder: €1,714.50 overdue – Demo Distribution SAS"
    assert "Please settle the amount of <strong>€1,714.50</strong> by <strong>23 July 2025</strong>" in message.html
    assert "Please settle the amount of €1,714.50 by 23 July 2025" in message.text
    assert "IBAN: FR76 3000 6000 0112 3456 7890 189" in message.text


def test_a_pdf_is_only_made_for_printed_channels():
    with pytest.raises(ValueError, match="not printed"):
        render("email/reminder_1").pdf()


def test_the_sms_text_is_normalised_to_gsm7_spaces():
    message = render("sms/reminder_2")
    assert "\u202f" not in message.text and "\u00a0" not in message.text
    assert re.search(r"\(1 714,50 €\)", message.text)


def test_lines_without_document_dates_or_days_overdue_still_read_well():
    message = render("email/reminder_1", bare_lines())
    assert "- Facture FA-2025-0142, échéance 31/05/2025 : 1\u202f234,50\u00a0€" in message.text
    statement = render("statement/account_statement", account_items=bare_lines(), tone="courtesy")
    assert "45 j de retard" in statement.html and "34 j de retard" in statement.html
