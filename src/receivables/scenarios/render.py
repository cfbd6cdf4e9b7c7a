"""Collection messages: the planner's actions rendered through Jinja templates, PDF for paper.

    env = make_environment()                                    # include/templates, sandboxed
    message_language("pt", "BE", default="fr")                  # 'fr': no Portuguese, Belgium -> fr
    context = message_context(action, lines, customer, Creditor.from_env(os.environ),
                              annual_rate=Decimal("12.15"))
    context["total_due"], context["pay_by"]                     # ('1 714,50 €', '23 juillet 2025')
    message = render_action(env, action, context)               # action["template"] == "letter/reminder_1"
    message.html                                                # letter/reminder_1.fr.html.j2, rendered
    message.pdf()                                               # b'%PDF-1.7 ...' (A4, WeasyPrint)

A template is a file `include/templates/<channel>/<name>.<language>.<part>.j2`, one per part of
its channel (`CHANNEL_PARTS`: an email has a subject, an HTML and a text part; a letter an
HTML part printed to PDF). Files and folders whose name starts with `_` are shared pieces
(layouts, macros, the labels of each language in `_i18n/<language>.j2`, the preview index),
never messages. A message file extends its channel's layout (`_layout/email.html.j2`,
`_layout/email.txt.j2`, `_layout/letter.html.j2` for every printed channel: A4, the address in a
French window envelope, legal footer; `_layout/call.txt.j2`) and holds the words only; tables
come from `_macros.html.j2` with the labels of `_i18n/<language>.j2`. A new language is a new
`_i18n/<xx>.j2`, one file per message and part, and its code in `LANGUAGES`.

Templates run in a sandboxed Jinja environment that also refuses to modify the context,
with StrictUndefined (a misspelt variable is an error, never an empty string; printing a
None is an error too: a template tests it first), autoescaping for `.html.j2` files only.
They receive values already formatted for the customer's locale (Babel: amounts from integer
minor units through Decimal, dates, percentages): a template never does arithmetic on money,
and a customer called `{{ 7*7 }}` is printed as written, never evaluated. Any failure of a
template is a `TemplateError` naming the file (and the layout or macro file it came from).

Pure: no Airflow, no clock, no environment (`Creditor.from_env` reads the mapping it is given).
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import os
import re
import traceback
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jinja2
import jinja2.compiler
import jinja2.runtime
import jinja2.sandbox
import markupsafe
import pandas as pd
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, match_skeleton
from babel.languages import get_official_languages
from babel.numbers import (format_currency, format_decimal, get_currency_precision, get_currency_symbol,
                           get_decimal_symbol, get_group_symbol)

from receivables.money import exponent

TEMPLATES_DIR = Path(__file__).resolve().parents[3] / "include" / "templates"

LANGUAGES = ("fr", "en", "de", "es", "it", "nl")
CHANNEL_PARTS = {"email": ("subject", "html", "txt"), "sms": ("txt",), "call": ("txt",),
                 "letter": ("html",), "statement": ("html",), "formal_notice": ("html",),
                 "agency_handoff": ("html",)}
PRINTED = frozenset({"letter", "statement", "formal_notice", "agency_handoff"})

PAY_WITHIN_DAYS = 8           # pay_by = as_of + 8 calendar days, the delay the messages give

# The language a French creditor writes in to a customer of that country when the customer's
# own language is unknown or not offered. Where a country has several languages this is a
# choice, not Babel's first official language (Belgium: Babel says nl, French customers' files
# are mostly Walloon or Brussels). Other countries: Babel's first de facto official language.
COUNTRY_LANGUAGES = {
    "FR": "fr", "BE": "fr", "LU": "fr", "MC": "fr", "CH": "de", "LI": "de", "AT": "de", "DE": "de",
    "ES": "es", "IT": "it", "SM": "it", "VA": "it", "NL": "nl", "GB": "en", "IE": "en", "US": "en",
    "CA": "en", "MT": "en",
}

_LANGUAGE = re.compile(r"[a-z]{2}\Z")
_TEMPLATE = re.compile(r"[A-Za-z0-9_-]+/[A-Za-z0-9_-]+\Z")
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9_-]")


class TemplateError(ValueError):
    """A message template that cannot be used; the message starts with the template file."""

    def __init__(self, template: str, message: str):
        self.template = template
        super().__init__(f"{template}: {message}")


# -- language --------------------------------------------------------------------------------

def _code(value: object, length: int) -> str | None:
    """'fr', 'FR', 'fr-BE', 'fr_BE' -> 'fr' (length 2); None, NaN, '' -> None."""
    if not isinstance(value, str):
        return None
    head = re.split(r"[-_]", value.strip(), maxsplit=1)[0]
    return head if len(head) == length and head.isalpha() else None


def message_language(language: str | None, country: str | None, default: str) -> str:
    """The customer's language if supported, else the main language of its country if
    supported (`COUNTRY_LANGUAGES`, else Babel's first official language), else `default`.

    >>> message_language("DE", "FR", "fr"), message_language(None, "BE", "en"), message_language("pt", "PT", "fr")
    ('de', 'fr', 'fr')
    """
    own = _code(language, 2)
    if own is not None and own.lower() in LANGUAGES:
        return own.lower()
    territory = _code(country, 2)
    if territory is not None:
        territory = territory.upper()
        main = COUNTRY_LANGUAGES.get(territory)
        if main is None:
            official = get_official_languages(territory, de_facto=True)
            main = official[0] if official else None
        if main in LANGUAGES:
            return main
    return default


def available_language(env: jinja2.Environment, template: str, channel: str, language: str,
                       default: str) -> str:
    """`language` if every part of `template` exists in it, else `default` if they do, else 'en'
    (and rendering then names the file that is missing)."""
    for candidate in (language, default):
        if isinstance(candidate, str) and _LANGUAGE.match(candidate) and all(
                _exists(env, _part_file(template, candidate, part)) for part in CHANNEL_PARTS[channel]):
            return candidate
    return "en"


def _exists(env: jinja2.Environment, name: str) -> bool:
    try:
        env.loader.get_source(env, name)
    except jinja2.TemplateNotFound:
        return False
    return True


# -- the creditor ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Creditor:
    """Our company, as every message shows it (header, footer, payment details)."""

    name: str
    address: str                 # lines separated by "\n" or ", "
    email: str
    phone: str
    iban: str
    bic: str
    registration: str            # e.g. "SIREN 123 456 789"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "Creditor":
        """RECEIVABLES_CREDITOR_NAME, _ADDRESS, _EMAIL, _PHONE, _IBAN, _BIC, _REGISTRATION from
        `environ`; an unset or blank variable takes the demo value (a fictitious Paris company)."""
        values = {}
        for item in fields(cls):
            value = environ.get(f"RECEIVABLES_CREDITOR_{item.name.upper()}", "")
            values[item.name] = value.strip() or _DEMO_CREDITOR[item.name]
        return cls(**values)


_DEMO_CREDITOR = {
    "name": "Demo Distribution SAS",
    "address": "12 rue de la Paix\n75002 Paris\nFrance",
    "email": "recouvrement@demo-distribution.example",
    "phone": "+33 1 23 45 67 89",
    "iban": "FR76 3000 6000 0112 3456 7890 189",
    "bic": "AGRIFRPPXXX",
    "registration": "SAS au capital de 100 000 € · SIREN 123 456 789 · RCS Paris · TVA FR32 123456789",
}


# -- formatting ------------------------------------------------------------------------------

@functools.lru_cache(maxsize=256)
def _locale(language: str, country: str | None) -> Locale:
    """`<language>_<country>` when Babel knows it (fr_BE, de_CH), else `<language>`."""
    if country:
        try:
            return Locale.parse(f"{language}_{country}")
        except (UnknownLocaleError, ValueError):
            pass
    return Locale.parse(language)


def _missing(value: object) -> bool:
    if value is None:
        return True
    if type(value) is str or type(value) is int:    # the common cases, never missing for pandas either
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):      # a list or another non-scalar
        return False


def _text(value: object) -> str:
    return "" if _missing(value) else str(value).strip()


def _minor(value: object) -> int | None:
    """An integer amount of minor units, None when missing; a float with a fraction is a bug."""
    if _missing(value):
        return None
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"amounts are integer minor units, got {value!r}")
    return int(value)


def _amount(minor: int, currency: str) -> Decimal:
    return Decimal(int(minor)).scaleb(-exponent(currency))


_QUOTED = re.compile(r"'([^']*)'")


@functools.lru_cache(maxsize=1024)
def _currency_format(currency: str, locale: Locale) -> tuple | None:
    """`format_currency(amount, currency, locale=locale)` taken apart once per currency and locale:
    (prefixes, suffixes with the currency resolved, grouping, minimum integer digits, group
    symbol, decimal symbol, decimals); None where `_money` leaves the whole work to Babel (a
    pattern with the currency's long name, scientific or significant digits, a scale, no number,
    or a currency whose minor unit Babel counts differently from us, where Babel rounds).

    `_money` then does what `NumberPattern.apply` does for an amount of `exponent(currency)`
    decimals (the same steps on integers: no Decimal, no lookups), so the text is Babel's."""
    pattern = locale.currency_formats["standard"]
    marks = "".join(pattern.prefix + pattern.suffix)
    decimals = get_currency_precision(currency)
    if (pattern.exp_prec or "@" in pattern.pattern or pattern.scale or pattern.number_pattern == ""
            or "¤¤¤" in marks or decimals != exponent(currency)):
        return None
    code, symbol = currency.upper(), get_currency_symbol(currency, locale)

    def resolved(text: str) -> str:
        return text.replace("¤¤", code).replace("¤", symbol)

    return (tuple(map(resolved, pattern.prefix)), tuple(map(resolved, pattern.suffix)), pattern.grouping,
            pattern.int_prec[0], get_group_symbol(locale, numbering_system="latn"),
            get_decimal_symbol(locale, numbering_system="latn"), decimals)


def _money(minor: int | None, currency: str, locale: Locale) -> str | None:
    if minor is None:
        return None
    resolved = _currency_format(currency, locale)
    if resolved is None:
        return format_currency(_amount(minor, currency), currency, locale=locale)
    prefix, suffix, grouping, int_min, group, point, decimals = resolved
    negative = 1 if minor < 0 else 0
    units = -minor if negative else minor
    if decimals:
        whole, fraction = divmod(units, 10 ** decimals)
        value, fraction = str(whole), point + str(fraction).zfill(decimals)
    else:
        value, fraction = str(units), ""
    if len(value) < int_min:                                  # NumberPattern._format_int
        value = "0" * (int_min - len(value)) + value
    size, grouped = grouping[0], ""
    while len(value) > size:
        grouped = group + value[-size:] + grouped
        value = value[:-size]
        size = grouping[1]
    text = prefix[negative] + value + grouped + fraction + suffix[negative]
    return _QUOTED.sub(lambda m: m.group(1) or "'", text) if "'" in text else text


def _day(value: object) -> dt.date | None:
    if _missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


@functools.lru_cache(maxsize=16384)
def _long_date(day: dt.date, locale: Locale) -> str:
    return format_date(day, "long", locale=locale)


@functools.lru_cache(maxsize=1024)
def _skeleton_pattern(skeleton: str, locale: Locale) -> object:
    """The pattern `babel.dates.format_skeleton` resolves `skeleton` to (fuzzy match), once."""
    skeletons = locale.datetime_skeletons
    return skeletons[skeleton if skeleton in skeletons else match_skeleton(skeleton, skeletons)]


@functools.lru_cache(maxsize=65536)
def _short_day(day: dt.date, locale: Locale) -> str:
    # what format_skeleton("yMMdd", day, locale=locale) returns, its skeleton resolved once
    return format_datetime(day, _skeleton_pattern("yMMdd", locale), None, locale)


def _short_date(value: object, locale: Locale) -> str:
    day = _day(value)
    return "" if day is None else _short_day(day, locale)


@functools.lru_cache(maxsize=65536)
def _integer(value: int, locale: Locale) -> str:
    return format_decimal(value, locale=locale)


def _number(value: object, locale: Locale) -> str:
    return _integer(value, locale) if type(value) is int else format_decimal(value, locale=locale)


def _percent(rate: Decimal, locale: Locale) -> str:
    """12.15 (percent) -> '12,15 %' (fr), '12.15%' (en): the locale's pattern, two decimals."""
    pattern = copy.copy(locale.percent_formats[None])
    pattern.frac_prec = (2, 2)
    return pattern.apply(Decimal(rate) / 100, locale)


@functools.lru_cache(maxsize=1024)
def _percent_text(rate: str, locale: Locale) -> str:
    return _percent(Decimal(rate), locale)


def address_lines(address: object) -> list[str]:
    """Free-text address -> its lines: split on new lines, else (one line) on ', '."""
    text = _text(address).replace("\r\n", "\n").replace("\r", "\n")
    parts = text.split("\n") if "\n" in text else text.split(", ")
    return [part.strip() for part in parts if part.strip()]


# -- the context -----------------------------------------------------------------------------

_ITEM_DEFAULTS = {"doc_date": None, "due_date": None, "original_minor": None, "late_interest_minor": None,
                  "indemnity_minor": 0, "days_overdue": None, "currency": None}


def _days_overdue(row: Mapping, as_of: dt.date) -> int:
    """The row's days_overdue, else counted from its due date (0 without one)."""
    days = _minor(row["days_overdue"])
    if days is None:
        due = _day(row["due_date"])
        days = (as_of - due).days if due is not None else 0
    return days


Rows = Sequence[Mapping]


def _records(rows: pd.DataFrame | Rows | None) -> list[Mapping]:
    """Invoice lines or account items as a list of mappings (a DataFrame's records)."""
    if rows is None:
        return []
    if isinstance(rows, pd.DataFrame):
        return [] if rows.empty else rows.to_dict("records")
    return list(rows)


def _items(frame: pd.DataFrame | Rows | None, currency: str, locale: Locale, as_of: dt.date) -> list[dict]:
    """Invoices (or statement items) as templates see them, by due date then id."""
    rows = _records(frame)
    if not rows:
        return []
    rows.sort(key=lambda r: (_day(r.get("due_date")) or dt.date.min, str(r.get("invoice_id"))))
    out = []
    for row in rows:
        row = {**_ITEM_DEFAULTS, **row}
        cur = _text(row["currency"]) or currency
        open_minor = _minor(row["open_minor"]) or 0
        original = _minor(row["original_minor"])
        days = _days_overdue(row, as_of)
        out.append({
            "id": _text(row["invoice_id"]),
            "date": _short_date(row["doc_date"], locale),
            "due_date": _short_date(row["due_date"], locale),
            "original": _money(open_minor if original is None else original, cur, locale),
            "open": _money(open_minor, cur, locale),
            "days_overdue": _number(days, locale),
            "interest": _money(_minor(row["late_interest_minor"]), cur, locale),
            "indemnity": _money(_minor(row["indemnity_minor"]) or 0, cur, locale),
            "late": days > 0 and open_minor > 0,
            "credit": open_minor < 0,
        })
    return out


def _risk(risk: Mapping | None, locale: Locale) -> dict | None:
    if risk is None:
        return None
    score = risk.get("score")
    drivers = _text(risk.get("drivers"))
    return {"score": "" if _missing(score) else _number(score, locale),
            "risk_class": _text(risk.get("risk_class")),
            "drivers": [d.strip() for d in drivers.split(";") if d.strip()]}


@functools.lru_cache(maxsize=64)
def _creditor_fields(creditor: Creditor) -> tuple[tuple, tuple]:
    return tuple((f.name, getattr(creditor, f.name)) for f in fields(creditor)), tuple(address_lines(creditor.address))


def message_context(action: Mapping, lines: pd.DataFrame | Rows, customer: Mapping, creditor: Creditor, *,
                    risk: Mapping | None = None, account_items: pd.DataFrame | Rows | None = None,
                    annual_rate: Decimal | None = None) -> dict:
    """Everything a template may use, already formatted for the customer's locale (Babel).

    language; customer {id, name, address_lines, email, phone}; creditor {name, address,
    address_lines, email, phone, iban, bic, registration}; reference (the action key); date
    (as_of, long); invoices [{id, date, due_date, original, open, days_overdue, interest (None:
    unknown), indemnity, late, credit}]; count; currency; total_open, total_interest (None:
    unknown), total_indemnity, total_due (what the message asks for: the action's amount);
    pay_by (as_of + 8 days, long); annual_rate ('12,15 %', None when not given); hold_reason
    (internal: call scripts only); risk {score, risk_class, drivers [..]} or None; account
    {items (as invoices, credit notes included), balance, overdue} (`account['items']` in a
    template: `.items` is the dict method); step; tone; legal_fees.

    Amounts come from integer minor units (Decimal, never float). Missing values are '' for
    text and None where the template must say something else (interest unknown, no risk
    score, no annual rate). An action without principal_minor / indemnity_minor takes the
    open total of `lines` / 0. `account_items` (statements) are in the action's currency.
    `lines` and `account_items` are DataFrames or their records (a sequence of mappings)."""
    language = str(action["language"])
    currency = str(action["currency"])
    country = _code(customer.get("country"), 2)
    locale = _locale(language, country.upper() if country else None)
    as_of = _day(action["as_of"])
    money = functools.partial(_money, currency=currency, locale=locale)

    count = len(lines)
    lines = _records(lines)
    principal = _minor(action.get("principal_minor"))
    if principal is None:
        principal = sum(_minor(row["open_minor"]) or 0 for row in lines)
    items = lines if account_items is None else _records(account_items)
    balance = overdue = 0
    for row in items:
        open_minor = _minor(row["open_minor"])
        balance += open_minor or 0
        if (open_minor or 0) > 0 and _days_overdue({**_ITEM_DEFAULTS, **row}, as_of) > 0:
            overdue += open_minor
    invoices = _items(lines, currency, locale, as_of)
    account = [dict(item) for item in invoices] if account_items is None else _items(items, currency, locale, as_of)
    creditor_fields, creditor_lines = _creditor_fields(creditor)
    return {
        "language": language,
        "customer": {"id": _text(customer.get("customer_id")), "name": _text(customer.get("name")),
                     "address_lines": address_lines(customer.get("address")),
                     "email": _text(customer.get("email")), "phone": _text(customer.get("phone"))},
        "creditor": {**dict(creditor_fields), "address_lines": list(creditor_lines)},
        "reference": _text(action["action_key"]),
        "date": _long_date(as_of, locale),
        "invoices": invoices,
        "count": count,
        "currency": currency,
        "total_open": money(principal),
        "total_interest": money(_minor(action.get("interest_minor"))),
        "total_indemnity": money(_minor(action.get("indemnity_minor")) or 0),
        "total_due": money(_minor(action["amount_minor"])),
        "pay_by": _long_date(as_of + dt.timedelta(days=PAY_WITHIN_DAYS), locale),
        "annual_rate": None if _missing(annual_rate) else _percent_text(str(annual_rate), locale),
        "hold_reason": _text(action.get("hold_reason")),
        "risk": _risk(risk, locale),
        "account": {"items": account, "balance": money(balance), "overdue": money(overdue)},
        "step": _text(action.get("step_id")),
        "tone": _text(action.get("tone")),
        "legal_fees": bool(action.get("legal_fees", False)),
    }


# -- rendering -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rendered:
    action_key: str
    channel: str
    language: str
    template: str                 # "<channel>/<name>"
    subject: str | None
    html: str | None
    text: str | None
    customer_id: str = ""         # for the preview index
    customer_name: str = ""
    step: str = ""

    def pdf(self) -> bytes:
        """The HTML part printed (A4, WeasyPrint); only for the printed channels."""
        if self.channel not in PRINTED or self.html is None:
            raise ValueError(f"{self.template}: the {self.channel} channel is not printed")
        return render_pdf(self.html)


def _autoescape(name: str | None) -> bool:
    return name is not None and (name.endswith(".html.j2") or name.endswith(".html"))


def _no_none(value: object) -> object:
    # A None printed would show "None" to a customer: a template tests optional values first.
    if value is None:
        raise jinja2.UndefinedError("a value that is None was printed; test it first ({% if x is none %})")
    return value


def make_environment(templates_dir: Path = TEMPLATES_DIR) -> jinja2.sandbox.SandboxedEnvironment:
    """The sandboxed environment messages render in (immutable: templates cannot change the
    context they are given, which several parts of one message share)."""
    return _environment(templates_dir)


_DICT_ATTRIBUTES = frozenset(dir(dict))

try:    # MarkupSafe 3: the C escape of a str, without building a Markup around it
    from markupsafe import _escape_inner as _escape_str
except ImportError:  # pragma: no cover - MarkupSafe 2: escape itself is C
    _escape_str = markupsafe.escape


def _html_output(value: object) -> str:
    """`escape(finalize(value))`, what an autoescaped `{{ value }}` prints, for the output only
    (a Markup's text or the escaped text as a str: the template's output is joined as text)."""
    kind = type(value)
    if kind is str:
        return _escape_str(value)
    if kind is markupsafe.Markup:
        return value
    return markupsafe.escape(_no_none(value))


def _text_output(value: object) -> str:
    """`str(finalize(value))`, what `{{ value }}` prints in a template that does not escape."""
    return value if type(value) is str else str(_no_none(value))


class _MessageCodeGenerator(jinja2.compiler.CodeGenerator):
    """Jinja's code, except that a printed value (`{{ value }}`) goes through one call
    (`_html_output` / `_text_output`: escape and finalize fused) instead of two or three."""

    def _fused(self, frame: jinja2.compiler.Frame, finalize) -> bool:  # noqa: ANN001
        return not frame.eval_ctx.volatile and finalize.src == "environment.finalize(" \
            and self.environment.finalize is _no_none

    def _output_child_pre(self, node, frame, finalize) -> None:  # noqa: ANN001
        if self._fused(frame, finalize):
            self.write("environment.html_output(" if frame.eval_ctx.autoescape else "environment.text_output(")
        else:
            super()._output_child_pre(node, frame, finalize)

    def _output_child_post(self, node, frame, finalize) -> None:  # noqa: ANN001
        if self._fused(frame, finalize):
            self.write(")")
        else:
            super()._output_child_post(node, frame, finalize)


class _MessageEnvironment(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The immutable sandbox, its verdicts unchanged, with shorter paths for what messages do
    thousands of times:

    - reading a key of a dict (`creditor.name`, `invoice.id`): for a name that is not an
      attribute of dict, the sandbox's getattr ends in `obj[name]` after an AttributeError; the
      lookup is made at once (a dict method's name still goes through the sandbox's checks);
    - reading a name of an imported template module (`t.<label>` of _i18n, `m.<macro>`) or of a
      loop (`loop.last`): for a TemplateModule or a LoopContext the sandbox's verdict depends on
      the attribute's name alone (neither is a function, method, type, frame..., nor a mutable
      container): it is asked once per name;
    - calling a macro (it takes neither the context nor the environment);
    - printing a value: escape and finalize in one call (`_MessageCodeGenerator`);
    - a template's globals are a plain dict, the environment's globals with the template's over
      them (not a ChainMap, which each render and import walks): the globals of this
      environment are never changed once a template is loaded (Jinja's own advice)."""

    code_generator_class = _MessageCodeGenerator
    html_output = staticmethod(_html_output)
    text_output = staticmethod(_text_output)
    # the verdicts that depend on the attribute's name alone, for these types (see the docstring)
    _name_verdicts: dict[tuple[type, str], bool] = {}

    def is_safe_attribute(self, obj: object, attr: str, value: object) -> bool:
        kind = type(obj)
        if kind is not jinja2.environment.TemplateModule and kind is not jinja2.runtime.LoopContext:
            return super().is_safe_attribute(obj, attr, value)
        verdict = self._name_verdicts.get((kind, attr))
        if verdict is None:
            verdict = self._name_verdicts[kind, attr] = super().is_safe_attribute(obj, attr, value)
        return verdict

    def getattr(self, obj: object, attribute: str) -> object:
        kind = type(obj)
        if kind is dict:
            if attribute not in _DICT_ATTRIBUTES:
                try:
                    return obj[attribute]
                except KeyError:
                    return self.undefined(obj=obj, name=attribute)
        elif kind is jinja2.environment.TemplateModule or kind is jinja2.runtime.LoopContext:
            if self._name_verdicts.get((kind, attribute)) is True:
                # what the sandbox's getattr does when the attribute exists and is not str.format
                value = obj.__dict__.get(attribute, _ABSENT) if kind is jinja2.environment.TemplateModule \
                    else getattr(obj, attribute, _ABSENT)
                if value is not _ABSENT and not isinstance(value, (types.MethodType, types.BuiltinMethodType)):
                    return value
        return super().getattr(obj, attribute)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN204, N805
        if type(__obj) is jinja2.runtime.Macro and __self.is_safe_callable(__obj):
            # what Context.call does for a macro (it takes neither the context nor the environment)
            kwargs.pop("_block_vars", None)
            kwargs.pop("_loop_vars", None)
            try:
                return __obj(*args, **kwargs)
            except StopIteration:
                return __self.undefined("value was undefined because a callable raised a StopIteration exception")
        return super().call(__context, __obj, *args, **kwargs)

    def make_globals(self, d):  # noqa: ANN001, ANN201
        return {**self.globals, **(d or {})}


_ABSENT = object()


def _environment(templates_dir: Path | str, *, auto_reload: bool = True,
                 cache_size: int = 400) -> jinja2.sandbox.SandboxedEnvironment:
    return _MessageEnvironment(
        loader=jinja2.FileSystemLoader(str(templates_dir), encoding="utf-8"),
        autoescape=_autoescape, undefined=jinja2.StrictUndefined, finalize=_no_none,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
        auto_reload=auto_reload, cache_size=cache_size)


def shared_environment(templates_dir: Path | str = TEMPLATES_DIR) -> jinja2.sandbox.SandboxedEnvironment:
    """The environment of `make_environment(templates_dir)` (same sandbox, same options), one
    per folder for the whole process, for batches of messages: each template is compiled once,
    and a message does not look at the disk again (no modification time checked per template
    per message, no LRU bookkeeping: every template of the folder stays compiled). Each call
    checks the templates compiled so far and starts afresh when a file was edited or removed
    since: a batch renders the templates as they are when it starts."""
    folder = str(templates_dir)
    env = _shared_environment(folder, None if os.path.isabs(folder) else os.getcwd())
    if not all(template.is_up_to_date for template in list(env.cache.values())):
        env.cache.clear()
    return env


@functools.lru_cache(maxsize=16)
def _shared_environment(folder: str, cwd: str | None) -> jinja2.sandbox.SandboxedEnvironment:
    # a relative folder is relative to the working directory of the call: one environment per one
    return _environment(folder, auto_reload=False, cache_size=-1)


def _part_file(template: str, language: str, part: str) -> str:
    return f"{template}.{language}.{part}.j2"


def _where(env: jinja2.Environment, error: BaseException) -> str:
    """' (in _layout/letter.html.j2, line 12)': the deepest template frame of the error."""
    roots = [Path(p).resolve() for p in getattr(env.loader, "searchpath", [])]
    found = None
    if isinstance(error, jinja2.TemplateSyntaxError) and error.name:
        found = (error.name, error.lineno)
    else:
        for frame in traceback.extract_tb(error.__traceback__):
            path = Path(frame.filename)
            for root in roots:
                if path.is_absolute() and path.resolve().is_relative_to(root):
                    found = (path.resolve().relative_to(root).as_posix(), frame.lineno)
    return "" if found is None else f" (in {found[0]}, line {found[1]})"


def _render(env: jinja2.Environment, name: str, context: dict) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateNotFound as error:
        searched = ", ".join(getattr(env.loader, "searchpath", []))
        if error.name == name:
            raise TemplateError(name, f"template not found in {searched}") from None
        raise TemplateError(name, f"includes {error.name!r}, not found in {searched}") from None
    except jinja2.sandbox.SecurityError as error:
        raise TemplateError(name, f"refused by the sandbox{_where(env, error)}: {error}") from None
    except jinja2.TemplateSyntaxError as error:
        raise TemplateError(name, f"syntax error{_where(env, error)}: {error.message}") from None
    except jinja2.UndefinedError as error:
        raise TemplateError(name, f"undefined{_where(env, error)}: {error}") from None
    except Exception as error:  # a template bug of another kind (a filter on the wrong type ...)
        raise TemplateError(name, f"{type(error).__name__}{_where(env, error)}: {error}") from None


# SMS are billed per GSM-7 segment of 160 septets; one character outside GSM-7 turns the whole
# message into UCS-2 (70 characters). Babel's narrow no-break spaces and typographic quotes
# have GSM-7 equivalents, so an SMS body is normalised to them.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
_GSM7_EQUIVALENTS = str.maketrans({"\u202f": " ", "\u00a0": " ", "\u2009": " ", "\u2019": "'", "\u2018": "'",
                                   "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"', "\u2013": "-",
                                   "\u2014": "-", "\u2212": "-", "\u2026": "...", "\u2011": "-"})


def gsm7_septets(text: str) -> int | None:
    """The length of `text` in GSM-7 septets (extension characters count 2); None when a
    character is not in GSM-7 (the SMS would go as UCS-2)."""
    total = 0
    for char in text:
        if char in GSM7_BASIC:
            total += 1
        elif char in GSM7_EXTENSION:
            total += 2
        else:
            return None
    return total


def render_action(env: jinja2.Environment, action: Mapping, context: dict) -> Rendered:
    """Render every part of the action's channel from `<template>.<language>.<part>.j2`.

    The language is the action's, resolved beforehand (`message_language`, `available_language`):
    a missing file is a TemplateError naming it, never a silent switch to another language."""
    template, channel, language = str(action["template"]), str(action["channel"]), str(action["language"])
    if channel not in CHANNEL_PARTS:
        raise ValueError(f"unknown channel {channel!r} (expected one of {', '.join(CHANNEL_PARTS)})")
    if not _TEMPLATE.match(template):
        raise TemplateError(template, "a template is named <channel-folder>/<name>")
    if not _LANGUAGE.match(language):
        raise TemplateError(template, f"{language!r} is not a two-letter language code")
    parts = {part: _render(env, _part_file(template, language, part), context) for part in CHANNEL_PARTS[channel]}
    subject = " ".join(parts["subject"].split()) if "subject" in parts else None
    text = parts["txt"].strip() if "txt" in parts else None
    if text is not None and channel == "sms":
        text = " ".join(text.translate(_GSM7_EQUIVALENTS).split())
    return Rendered(action_key=_text(action["action_key"]), channel=channel, language=language, template=template,
                    subject=subject, html=parts.get("html", "").strip() or None, text=text,
                    customer_id=_text(action.get("customer_id")), step=_text(action.get("step_id")),
                    customer_name=_text(context.get("customer", {}).get("name")))


# -- PDF -------------------------------------------------------------------------------------

@functools.cache
def _local_fetcher_class() -> type:
    from weasyprint.urls import URLFetcher   # heavy (Pango, fonts): imported for the first PDF

    class LocalFetcher(URLFetcher):
        """Resources of a printed message (a stylesheet, a logo) come from the templates folder
        or data: URLs: never the network, never another file of the machine."""

        def __init__(self, root: Path):
            super().__init__(allowed_protocols=("file", "data"))
            self.root = root

        def fetch(self, url, headers=None):  # noqa: ANN001, ANN202
            if urlsplit(url).scheme == "file" and not Path(unquote(urlsplit(url).path)).resolve().is_relative_to(self.root):
                raise ValueError(f"{url}: outside {self.root}")
            return super().fetch(url, headers)

    return LocalFetcher


def render_document(html: str, base_url: Path = TEMPLATES_DIR, *, font_config=None):  # noqa: ANN001, ANN201
    """Lay out an HTML message into pages (a WeasyPrint Document), not written yet: the pages of
    many messages can be written into one PDF (`documents[0].copy(pages).write_pdf()`), which
    embeds each font once. `font_config` (a weasyprint FontConfiguration) can be shared by the
    messages of a batch."""
    import weasyprint

    root = Path(base_url).resolve()
    return weasyprint.HTML(string=html, base_url=str(root) + "/",
                           url_fetcher=_local_fetcher_class()(root)).render(font_config=font_config)


def render_pdf(html: str, base_url: Path = TEMPLATES_DIR) -> bytes:
    """Print an HTML message to PDF (the page size and margins come from its @page rule)."""
    return render_document(html, base_url).write_pdf()


# -- preview ---------------------------------------------------------------------------------

def _file_stem(rendered: Rendered) -> str:
    return f"{_UNSAFE_FILE_CHARS.sub('_', rendered.action_key) or 'message'}.{_UNSAFE_FILE_CHARS.sub('_', rendered.channel)}"


def write_preview(directory: Path, rendered: Iterable[Rendered], *, templates_dir: Path = TEMPLATES_DIR,
                  pdf: bool = True) -> list[Path]:
    """Write each message's parts (<key>.<channel>.subject.txt / .html / .txt / .pdf) and an
    index.html listing them all; returns the files written, the index last.

    The index is a template (`_preview/index.html.j2`) rendered in the same sandboxed,
    autoescaping environment: names and subjects come from customer data."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    rows = []
    seen = set()
    for message in rendered:
        stem = _file_stem(message)
        if stem in seen:
            raise ValueError(f"{message.action_key} on {message.channel} appears twice in the preview")
        seen.add(stem)
        files = []
        for label, suffix, content in (("subject", ".subject.txt", message.subject), ("html", ".html", message.html),
                                       ("text", ".txt", message.text)):
            if content is not None:
                path = directory / f"{stem}{suffix}"
                path.write_text(content + "\n", encoding="utf-8")
                files.append({"label": label, "href": path.name})
                written.append(path)
        if pdf and message.channel in PRINTED and message.html is not None:
            path = directory / f"{stem}.pdf"
            path.write_bytes(message.pdf())
            files.append({"label": "pdf", "href": path.name})
            written.append(path)
        rows.append({"action_key": message.action_key, "customer_id": message.customer_id,
                     "customer_name": message.customer_name, "channel": message.channel,
                     "step": message.step, "language": message.language, "template": message.template,
                     "subject": message.subject or "", "files": files})
    index = directory / "index.html"
    env = make_environment(templates_dir)
    index.write_text(_render(env, "_preview/index.html.j2", {"messages": rows}) + "\n", encoding="utf-8")
    written.append(index)
    return written


__all__ = ["CHANNEL_PARTS", "COUNTRY_LANGUAGES", "Creditor", "LANGUAGES", "PRINTED", "Rendered", "TEMPLATES_DIR",
           "TemplateError", "address_lines", "available_language", "gsm7_septets", "make_environment",
           "message_context", "message_language", "render_action", "render_document", "render_pdf",
           "shared_environment", "write_preview"]
