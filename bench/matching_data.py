"""Labelled cash-application data: open items, customers, bank lines and the true allocations.

    >>> data = generate(n_lines=5_000, n_items=50_000, seed=7)      # doctest: +SKIP
    >>> data.lines            # BANK_LINE_COLUMNS, what the engine takes
    >>> data.items            # OPEN_ITEM_COLUMNS as of `data.as_of` (the eve of the statement month)
    >>> data.truth            # bank_line_id, invoice_id, amount_minor: the cash each line applies
    >>> data.labels           # bank_line_id, category, detail, name_variant, account_state

Deterministic by seed, vectorized (numpy / pandas string ops; no per-row Python except over the
distinct customer names). Every bank line belongs to one category of `CATEGORIES` (share of the
lines, meaning); a line's truth is the set {invoice_id: cash applied}, empty for "none" lines.
Conventions of the truth:
- cash only: a payment short by bank fees applies what was paid (the difference is a write-off,
  not cash); an overpayment applies the open amount (the excess stays on account);
- a grouped payment netting a credit note applies the credit note's (negative) open amount too;
- instalments of one invoice in the same statement each apply their own amount.

The world: `n_customers` companies (names from word lists with legal forms, some homonyms, as
in life), ~2 % of the open items are credit notes, invoice numbers FA<year>-<6 digits> issued
sparsely (most issued invoices are already paid), 25 % of customers bill a recurring amount
(so an amount alone is often ambiguous), 7 % of invoices already partly paid. Payers are shown
as banks show them (upper case, accents dropped, legal form moved or dropped, words swapped,
cut at 18 characters); 80 % of customer payments carry the payer's IBAN, and `known_accounts`
holds the primary IBAN of half the customers (what history would have taught).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

from receivables.bank.schema import BANK_LINE_COLUMNS
from receivables.ledger.open_items import OPEN_ITEM_COLUMNS, bucket_of
from receivables.ledger.schema import CUSTOMER_COLUMNS, conform

# name -> (share of the bank lines, what the line is)
CATEGORIES: dict[str, tuple[float, str]] = {
    "exact_ref": (0.50, "one invoice, its number as issued (FA2024-000123) in the remittance or end-to-end id"),
    "rf_ref": (0.03, "one invoice, ISO 11649 structured reference RFxx<invoice number>, no free text"),
    "ref_variant": (0.10, "one invoice, number re-spelled: FA 2024 123, fa2024000123, 2024-000123, Facture 000123..."),
    "typo": (0.05, "one invoice, number with one character substituted / dropped / O for 0 / I for 1"),
    "amount_only": (0.10, "one invoice, no reference: the payer's name (and maybe IBAN) and the amount"),
    "grouped_ref": (0.04, "2-5 invoices of one customer, their numbers listed"),
    "grouped_noref": (0.02, "2-5 invoices of one customer, no reference"),
    "grouped_netted": (0.01, "1-4 invoices less an open credit note of the customer, listed or not"),
    "partial": (0.02, "part of one invoice (20-80 %), with its reference"),
    "instalment": (0.02, "one of 2-3 instalments of one invoice in the same month, with its reference"),
    "fee": (0.03, "one invoice less 0.50-5.00 of bank charges, with (80 %) or without reference"),
    "overpay": (0.02, "one invoice plus a few cents to 500.00, with its reference"),
    "third_party": (0.02, "one invoice paid by someone else (holding, factor, person, another customer), with its reference"),
    "unrelated": (0.02, "a credit that pays no invoice: interest, tax refund, supplier refund (also from a customer)"),
    "debit": (0.02, "money out: direct debits, card, supplier transfers"),
}
NONE_CATEGORIES = ("unrelated", "debit")

TRADES = """Boulangerie Boucherie Pharmacie Garage Menuiserie Plomberie Électricité Transports Imprimerie
Librairie Fromagerie Pâtisserie Quincaillerie Charpente Maçonnerie Peinture Couverture Hôtel Restaurant Brasserie
Épicerie Optique Coiffure Bâtiment Informatique Conseil Logistique Distribution Négoce Matériaux Atelier Laboratoire
Clinique Bäckerei Metzgerei Apotheke Autohaus Schreinerei Elektrotechnik Spedition Druckerei Maschinenbau Gärtnerei
Brauerei Bakery Motors Logistics Software Consulting Engineering Trading Foods Printing Marine Textiles Retail
Bakkerij Bouwbedrijf Techniek Installatietechniek Construcciones Ferretería Panadería Costruzioni Trasporti
Alimentari Emballages Automatismes Chaudronnerie Mécanique Vins Traiteur Nettoyage Sécurité Paysages""".split()
SURNAMES = """Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent Lefèvre Michel
Garcia Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Smith Jones Taylor Brown Williams
Wilson Evans Jansen Bakker Visser Rossi Russo Ferrari Esposito Bianchi Romano Fernández López Martínez Sánchez Pérez
Gómez Rousseau Blanc Guérin Henry Roussel Nicolas Perrin Morin Mathieu Clément Gauthier Dumont Fontaine Chevalier
Robin Masson Gérard Nguyen Boyer Denis Lemaire Duval Joly Roger Roche Noël Lucas Meunier Marchand Dufour Blanchard
Giraud Brun Gaillard Barbier Arnaud Schmitt Colin Vidal Caron Picard Fabre Aubert Lemoine Renaud Dumas Lacroix
Olivier Philippe Bourgeois Benoît Leclerc Payet Rolland Leclercq Guillaume Lecomte Dupuy Guillot Hubert Berger
Carpentier Dupuis Moulin Deschamps Huet Vasseur Boucher Fleury Royer Klein Jacquet Poirier Marty Aubry Guyot Carré
Renard Charpentier Ménard Maillard Baron Bertin Bailly Hervé Collet Léger Bouvier Prévost Millet Perrot Cousin
Germain Breton Besson Langlois Rémy Pelletier Lévêque Perrier Leblanc Barré Lebrun Marchal Mallet Hamon Jacob Monnier
Michaud Guichard Gillet Étienne Grondin Poulain Tessier Chauvin Bouchet Lemaître Bénard Maréchal Humbert Reynaud
Antoine Hoarau Perret Barthélemy Cordier Pichon Lejeune Gilbert Lamy Delaunay Pasquier Carlier Laporte Koch Richter
Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange Werner Krause Lehmann Köhler Walker
Wright Thompson White Hughes Edwards Green Hall Wood Harris Clarke Jackson Turner Hill Moore Cooper Ward Morris Peeters
Janssens Maes Jacobs Mertens Willems Claes Goossens Wouters Dekker Mulder Bos Vos Peters Hendriks Dijkstra Smit
Conti Ricci Marino Greco Bruno Gallo Colombo Moretti Fontana Santoro Navarro Torres Domínguez Vázquez Ramos Gil""".split()
PLACES = """Atlantique Méditerranée Alpes Provence Bretagne Normandie Alsace Lorraine Rhône Loire Garonne Nord Sud Ouest
Centre Océan Azur Europa Nordic Baltic Rhein Bayern Hanse Thames Pennine Highland Flandre Wallonie Brabant Zeeland
Iberia Castilla Toscana Lombardia Piemonte Vendée Savoie Dauphiné Auvergne Limousin Périgord Quercy Béarn Champagne
Bourgogne Jura Vosges Ardennes Picardie Artois Anjou Touraine Berry Sologne Beauce Armor Cévennes Camargue Lubéron
Vercors Morvan Gascogne Corbières Roussillon Cotentin Léman Mosel Schwaben Franken Sachsen Holstein""".split()
FIRST_NAMES = "Jean Marie Pierre Sophie Luc Anne Paul Claire Marc Julie Hans Eva John Emma Pieter Sanne Marco Giulia".split()
LEGAL_FORMS = {  # country -> (forms, probabilities)
    "FR": (["SARL", "SAS", "SA", "EURL", "SASU", "S.A.R.L.", "S.A.S."], [.32, .32, .1, .1, .08, .04, .04]),
    "DE": (["GmbH", "AG", "KG", "GmbH & Co. KG", "UG"], [.65, .1, .1, .1, .05]),
    "BE": (["SRL", "SA", "BV", "SPRL"], [.45, .3, .15, .1]),
    "NL": (["BV", "B.V.", "NV"], [.7, .15, .15]),
    "GB": (["Ltd", "Limited", "PLC", "LLP"], [.7, .1, .1, .1]),
    "ES": (["SL", "S.L.", "SA"], [.6, .1, .3]),
    "IT": (["Srl", "S.r.l.", "SpA"], [.6, .1, .3]),
}
COUNTRIES = (["FR", "DE", "BE", "NL", "GB", "ES", "IT"], [.6, .12, .08, .06, .06, .04, .04])
IBAN_BBAN = {"FR": (None, 23), "DE": (None, 18), "BE": (None, 12), "NL": (["ABNA", "INGB", "RABO", "SNSB"], 10),
             "GB": (["NWBK", "BARC", "HBUK", "LOYD"], 14), "ES": (None, 20), "IT": (["X", "Y", "Z"], 22)}
NAME_VARIANTS = (["as_master", "upper_ascii", "upper", "lower", "no_legal_form", "legal_form_moved", "word_order",
                  "truncated18"], [.15, .30, .08, .05, .12, .08, .06, .16])


@dataclass
class LabelledSet:
    items: pd.DataFrame           # OPEN_ITEM_COLUMNS
    customers: pd.DataFrame       # CUSTOMER_COLUMNS
    known_accounts: pd.DataFrame  # account, customer_id
    lines: pd.DataFrame           # BANK_LINE_COLUMNS
    truth: pd.DataFrame           # bank_line_id, invoice_id, amount_minor
    labels: pd.DataFrame          # bank_line_id, category, detail, name_variant, account_state
    as_of: dt.date


# -- small vectorized helpers ----------------------------------------------------------------------

def _pick(rng, options, size, p=None) -> np.ndarray:
    options = np.asarray(options, dtype=object)
    return options[rng.choice(len(options), size=size, p=p)]


def _ascii(values: pd.Series) -> pd.Series:
    distinct = pd.unique(values)
    plain = {s: unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii") for s in distinct}
    return values.map(plain)


def _mod97(digits: pd.Series) -> np.ndarray:
    """Integer value mod 97 of each all-digit string, column by column."""
    width = int(digits.str.len().max())
    padded = np.array(digits.str.zfill(width).tolist(), dtype=f"U{width}")
    matrix = padded.view(np.uint32).reshape(len(padded), width) - ord("0")
    rest = np.zeros(len(padded), dtype=np.int64)
    for col in range(width):
        rest = (rest * 10 + matrix[:, col]) % 97
    return rest


def _letters_to_digits(text: pd.Series) -> pd.Series:
    out = text
    for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        out = out.str.replace(ch, str(ord(ch) - 55), regex=False)
    return out


def _digits(rng, size, width) -> pd.Series:
    block = rng.integers(0, 10, size=(size, width)).astype(np.uint32) + ord("0")
    return pd.Series(np.ascontiguousarray(block).view(f"U{width}").ravel().astype(object))


def _ibans(rng, countries: np.ndarray) -> pd.Series:
    out = pd.Series("", index=range(len(countries)), dtype=object)
    for country, (banks, width) in IBAN_BBAN.items():
        ix = np.flatnonzero(countries == country)
        if not len(ix):
            continue
        bban = _digits(rng, len(ix), width)
        if banks:
            bban = pd.Series(_pick(rng, banks, len(ix))) + bban
        check = 98 - _mod97(_letters_to_digits(bban + country + "00"))
        out.iloc[ix] = (country + pd.Series(check).astype(str).str.zfill(2) + bban).to_numpy()
    return out


def _rf_reference(body: pd.Series) -> pd.Series:
    """ISO 11649: RF + 2 check digits + the reference (alphanumeric, upper case)."""
    body = body.str.upper().str.replace(r"[^0-9A-Z]", "", regex=True)
    check = 98 - _mod97(_letters_to_digits(body + "RF00"))
    return "RF" + pd.Series(check, index=body.index).astype(str).str.zfill(2) + body


def _render(template: str, size: int, **columns) -> pd.Series:
    """Fill "{ref} ..." templates column-wise."""
    out = pd.Series([""] * size, dtype=object)
    for part in re.split(r"(\{\w+\})", template):
        if part.startswith("{") and part.endswith("}"):
            out = out + pd.Series(columns[part[1:-1]]).reset_index(drop=True).astype(str)
        elif part:
            out = out + part
    return out.str.strip()


def _fill(rng, templates: list[str], size: int, weights=None, **columns) -> tuple[np.ndarray, np.ndarray]:
    """One template per row (by weight), rendered; returns (text, template index)."""
    choice = rng.choice(len(templates), size=size, p=weights)
    out = np.empty(size, dtype=object)
    for k, template in enumerate(templates):
        ix = np.flatnonzero(choice == k)
        if len(ix):
            sub = {name: np.asarray(col, dtype=object)[ix] for name, col in columns.items()}
            out[ix] = _render(template, len(ix), **sub).to_numpy()
    return out, choice


# -- customers ---------------------------------------------------------------------------------------

def _customers(rng, n: int) -> pd.DataFrame:
    trade = _pick(rng, TRADES, n)
    surname = _pick(rng, SURNAMES, n)
    surname2 = _pick(rng, SURNAMES, n)
    place = _pick(rng, PLACES, n)
    letters = (rng.integers(0, 26, size=(n, 3)) + ord("A")).astype(np.uint32)
    acronym = pd.Series(np.ascontiguousarray(letters).view("U3").ravel().astype(object))
    pattern = rng.choice(6, size=n, p=[.22, .38, .1, .1, .1, .1])
    core = np.select(
        [pattern == 0, pattern == 1, pattern == 2, pattern == 3, pattern == 4],
        [trade + " " + surname, trade + " " + surname + " " + place, place + " " + trade,
         surname + " & " + surname2, trade + " " + surname + " et Fils"],
        default=(acronym + " " + pd.Series(trade) + " " + pd.Series(place)).to_numpy())
    country = _pick(rng, COUNTRIES[0], n, COUNTRIES[1])
    form = np.empty(n, dtype=object)
    for c, (forms, p) in LEGAL_FORMS.items():
        ix = np.flatnonzero(country == c)
        form[ix] = _pick(rng, forms, len(ix), p)
    form[rng.random(n) < 0.08] = ""          # sole traders
    prefix = (country == "FR") & (rng.random(n) < 0.35) & (form != "")
    core_s, form_s = pd.Series(core, dtype=object), pd.Series(form, dtype=object)
    name = np.where(prefix, form_s + " " + core_s, np.where(form_s == "", core_s, core_s + " " + form_s))
    ids = "C" + pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(6)
    terms = _pick(rng, [30, 45, 60, 0], n, [.55, .2, .2, .05]).astype(int)
    customers = pd.DataFrame({
        "customer_id": ids, "name": name, "country": country, "language": "", "email": "", "phone": "",
        "address": "", "segment": _pick(rng, ["TPE", "PME", "ETI", "GE"], n, [.5, .3, .15, .05]),
        "strategic": rng.random(n) < 0.03, "payment_terms_days": terms, "opt_out_channels": "",
        # private: parts for the bank's spelling of the name, accounts
        "_core": core_s, "_form": form_s, "_prefix": prefix,
        "_iban": _ibans(rng, country), "_iban2": "",
        "_recurring": rng.random(n) < 0.25,
    })
    second = rng.random(n) < 0.10
    customers.loc[second, "_iban2"] = _ibans(rng, country[second]).to_numpy()
    return customers


def payer_names(customers: pd.DataFrame, rows: np.ndarray, variant: np.ndarray) -> np.ndarray:
    """The customer's name as the bank shows it, one spelling per row."""
    c = customers.iloc[rows].reset_index(drop=True)
    full, core, form = c["name"], c["_core"], c["_form"]
    up = _ascii(full).str.upper()
    core_up, form_up = _ascii(core).str.upper(), _ascii(form).str.upper()
    moved = np.where(c["_prefix"], core_up + " " + form_up, (form_up + " " + core_up).str.strip())
    words = core_up.str.split(" ")
    swapped = words.str[-1] + " " + words.str[:-1].str.join(" ")
    swapped = np.where(words.str.len() > 1, (swapped + " " + form_up).str.strip(), up)
    options = {
        "as_master": full, "upper_ascii": up, "upper": full.str.upper(), "lower": full.str.lower(),
        "no_legal_form": core_up, "legal_form_moved": pd.Series(moved), "word_order": pd.Series(swapped),
        "truncated18": up.str.slice(0, 18).str.rstrip(),
    }
    out = np.empty(len(rows), dtype=object)
    for key, values in options.items():
        ix = np.flatnonzero(variant == key)
        out[ix] = pd.Series(values).to_numpy()[ix]
    return out


# -- open items ------------------------------------------------------------------------------------

def _items(rng, customers: pd.DataFrame, n_items: int, as_of: dt.date) -> pd.DataFrame:
    n_cust = len(customers)
    n_credit = int(round(n_items * 0.02))
    n_inv = n_items - n_credit
    weight = np.exp(rng.normal(0, 1.2, size=n_cust))
    weight /= weight.sum()
    cust = np.concatenate([rng.choice(n_cust, size=n_inv, p=weight), rng.choice(n_cust, size=n_credit, p=weight)])
    is_credit = np.arange(n_items) >= n_inv
    age = np.minimum(rng.exponential(75, size=n_items), 520).astype(int)
    doc = pd.Timestamp(as_of) - pd.to_timedelta(age, unit="D")
    # Amounts: lognormal around 600.00, 40 % whole euros, recurring customers bill one amount.
    amount = np.exp(rng.normal(np.log(60_000), 1.1, size=n_items)).astype(np.int64) + 500
    whole = rng.random(n_items) < 0.4
    amount[whole] = (amount[whole] // 100) * 100
    recurring_amount = (np.exp(rng.normal(np.log(40_000), 0.9, size=n_cust)).astype(np.int64) // 100) * 100 + 1_000
    recurring = customers["_recurring"].to_numpy()[cust] & (rng.random(n_items) < 0.8) & ~is_credit
    amount[recurring] = recurring_amount[cust[recurring]]
    amount[is_credit] = np.exp(rng.normal(np.log(12_000), 0.8, size=n_credit)).astype(np.int64) + 100
    # Numbers: per year, sparse (most issued invoices are already paid), in issue order.
    year = doc.year.to_numpy()
    order = np.lexsort((rng.random(n_items), doc.to_numpy(), year, is_credit))
    number = np.zeros(n_items, dtype=np.int64)
    for credit in (False, True):
        for y in np.unique(year):
            ix = order[(is_credit[order] == credit) & (year[order] == y)]
            if not len(ix):
                continue
            mean_gap = max(1.0, min(4.0, 900_000 / len(ix)))
            gaps = rng.geometric(1 / mean_gap, size=len(ix))
            number[ix] = rng.integers(1, 60) + np.cumsum(gaps)
    prefix = np.where(is_credit, "AV", "FA")
    invoice_id = (pd.Series(prefix, dtype=object) + pd.Series(year).astype(str) + "-"
                  + pd.Series(number).astype(str).str.zfill(6))
    terms = customers["payment_terms_days"].to_numpy()[cust]
    due = doc + pd.to_timedelta(np.where(is_credit, 0, terms), unit="D")
    open_minor = amount.copy()
    partly = (rng.random(n_items) < 0.07) & ~is_credit & (amount > 2_000)
    paid = ((amount[partly] * rng.uniform(0.1, 0.9, partly.sum())) // 100 * 100).astype(np.int64)
    open_minor[partly] = amount[partly] - np.maximum(paid, 100)
    sign = np.where(is_credit, -1, 1)
    items = pd.DataFrame({
        "customer_id": customers["customer_id"].to_numpy()[cust], "invoice_id": invoice_id.to_numpy(),
        "currency": "EUR", "item_type": np.where(is_credit, "credit", "invoice"),
        "doc_date": doc, "due_date": due, "original_minor": sign * amount, "open_minor": sign * open_minor,
        "_cust": cust,
    })
    items["days_overdue"] = (pd.Timestamp(as_of) - items["due_date"]).dt.days.astype("int64")
    items["bucket"] = bucket_of(items["days_overdue"])
    items = items.drop_duplicates("invoice_id")   # numbers are unique by construction; belt and braces
    return items.sort_values(["customer_id", "due_date", "invoice_id"], kind="stable").reset_index(drop=True)


# -- reference spellings ---------------------------------------------------------------------------

REF_VARIANTS = {   # name -> template over (p: prefix, y: year, s: 6-digit number, n: number without zeros)
    "spaced_short": "{p} {y} {n}", "lower_nosep": "{pl}{y}{s}", "no_prefix": "{y}-{s}", "facture_number": "Facture {s}",
    "slash_short": "{p}{y}/{n}", "no_zeros": "{p}{y}-{n}", "fact_digits": "FACT {y}{s}", "nosep": "{p}{y}{s}",
}


def _parts(invoice_ids: pd.Series) -> dict:
    parts = invoice_ids.str.extract(r"^([A-Z]+)(\d{4})-(\d+)$")
    return {"p": parts[0], "pl": parts[0].str.lower(), "y": parts[1], "s": parts[2],
            "n": parts[2].str.lstrip("0").replace("", "0"), "ref": invoice_ids}


def ref_variant(invoice_ids: np.ndarray, variant: np.ndarray) -> np.ndarray:
    parts = {k: v.to_numpy() for k, v in _parts(pd.Series(invoice_ids, dtype=object)).items()}
    out = np.array(invoice_ids, dtype=object)
    for name, template in REF_VARIANTS.items():
        ix = np.flatnonzero(variant == name)
        if len(ix):
            out[ix] = _render(template, len(ix), **{k: v[ix] for k, v in parts.items()}).to_numpy()
    return out


TYPOS = (["substitute", "drop", "O_for_0", "I_for_1"], [.35, .25, .25, .15])


def typo(rng, invoice_ids: np.ndarray, kind: np.ndarray, nosep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-character errors on the digits of FA2024-000123 (or FA2024000123), on a char matrix.
    Returns the misspelled ids and the kind applied (I_for_1 without a 1 becomes a substitution)."""
    base = np.where(nosep, pd.Series(invoice_ids, dtype=object).str.replace("-", "", regex=False), invoice_ids)
    width = max(len(s) for s in base) + 1
    chars = np.array(base.tolist(), dtype=f"U{width}").view(np.uint32).reshape(len(base), width).copy()
    n = len(base)
    is_digit = (chars >= ord("0")) & (chars <= ord("9"))
    rows = np.arange(n)

    def random_pos(mask):
        # a random True column per row (rows without any: -1)
        score = np.where(mask, rng.random(mask.shape), -1.0)
        pos = score.argmax(axis=1)
        return np.where(mask.any(axis=1), pos, -1)

    zero_pos = random_pos(chars == ord("0"))
    one_pos = random_pos(chars == ord("1"))
    # the 6-digit number part: digits after the 6th character
    number_part = is_digit & (np.arange(width) >= 6)
    digit_pos = random_pos(number_part)
    kind = np.where((kind == "I_for_1") & (one_pos < 0), "substitute", kind)
    sub = kind == "substitute"
    old = chars[rows[sub], digit_pos[sub]] - ord("0")
    chars[rows[sub], digit_pos[sub]] = ord("0") + (old + rng.integers(1, 10, sub.sum())) % 10
    o = kind == "O_for_0"
    chars[rows[o], zero_pos[o]] = ord("O")
    i = kind == "I_for_1"
    chars[rows[i], one_pos[i]] = ord("I")
    drop = kind == "drop"
    cols = np.arange(width)
    shifted = np.where(cols[None, :] >= digit_pos[:, None], np.roll(chars, -1, axis=1), chars)
    shifted[:, -1] = 0
    chars[drop] = shifted[drop]
    return np.ascontiguousarray(chars).view(f"U{width}").ravel().astype(object), kind


# -- bank lines --------------------------------------------------------------------------------------

def _counts(n_lines: int) -> dict[str, int]:
    shares = np.array([s for s, _ in CATEGORIES.values()])
    raw = shares / shares.sum() * n_lines
    counts = np.floor(raw).astype(int)
    counts[np.argsort(raw - counts)[::-1][: n_lines - counts.sum()]] += 1
    return dict(zip(CATEGORIES, counts.tolist()))


class _Builder:
    """Collects lines (one dict of columns per batch) and their truth."""

    def __init__(self):
        self.batches: list[pd.DataFrame] = []
        self.truth: list[pd.DataFrame] = []
        self.next = 0

    def add(self, category, *, amount, name, account, remittance, detail="", structured="", e2e="NOTPROVIDED",
            name_variant="", account_state="none", truth_rows=None, truth_inv=None, truth_amount=None, day_rank=None):
        n = len(amount)
        keys = np.arange(self.next, self.next + n)
        self.next += n
        frame = pd.DataFrame({"key": keys, "category": category, "detail": detail, "amount_minor": amount,
                              "counterparty_name": name, "counterparty_account": account, "remittance": remittance,
                              "structured_ref": structured, "end_to_end_id": e2e, "name_variant": name_variant,
                              "account_state": account_state,
                              "day_rank": day_rank if day_rank is not None else np.zeros(n)})
        self.batches.append(frame)
        if truth_rows is not None:
            self.truth.append(pd.DataFrame({"key": keys[truth_rows], "invoice_row": truth_inv,
                                            "amount_minor": truth_amount}))
        return keys


def generate(n_lines: int = 5_000, n_items: int = 50_000, n_customers: int | None = None, seed: int = 7,
             as_of: dt.date = dt.date(2025, 6, 30)) -> LabelledSet:
    rng = np.random.default_rng(seed)
    n_customers = n_customers or max(20, n_items // 10)
    customers = _customers(rng, n_customers)
    items = _items(rng, customers, n_items, as_of)
    counts = _counts(n_lines)
    b = _Builder()

    inv = np.flatnonzero(items["item_type"].to_numpy() == "invoice")   # sorted by customer, due, id
    inv_cust = items["_cust"].to_numpy()[inv]
    open_minor = items["open_minor"].to_numpy()
    ids = items["invoice_id"].to_numpy()
    cust_n = np.bincount(inv_cust, minlength=n_customers)
    cust_start = np.concatenate([[0], np.cumsum(cust_n)[:-1]])
    used = np.zeros(len(inv), dtype=bool)          # by position in `inv`
    cust_taken = np.zeros(n_customers, dtype=bool)  # one grouped payment per customer

    credit_rows = np.flatnonzero(items["item_type"].to_numpy() == "credit")
    first_credit = pd.Series(credit_rows, index=items["_cust"].to_numpy()[credit_rows]).groupby(level=0).first()
    has_credit = np.zeros(n_customers, dtype=bool)
    has_credit[first_credit.index.to_numpy()] = True

    def payer(rows_cust, size):
        """Name as the bank shows it, IBAN (80 %: primary 70 % / second 30 % when there is one)."""
        variant = _pick(rng, NAME_VARIANTS[0], size, NAME_VARIANTS[1])
        names = payer_names(customers, rows_cust, variant)
        c = customers.iloc[rows_cust]
        use_second = (c["_iban2"].to_numpy() != "") & (rng.random(size) < 0.3)
        iban = np.where(use_second, c["_iban2"].to_numpy(), c["_iban"].to_numpy())
        has = rng.random(size) < 0.8
        iban = np.where(has, iban, "")
        return names, iban, variant, has, use_second

    def account_state(has, second, rows_cust):
        known = known_mask[rows_cust] & ~second
        return np.where(~has, "none", np.where(known, "known", "unknown"))

    known_mask = rng.random(n_customers) < 0.5
    noise_templates = ["", " CDE 45{po}", " CLIENT {cid}", " DU {dmy}", " {iso}"]
    noise_weights = [.85, .05, .04, .04, .02]

    def noise(size, cust_rows):
        po = _digits(rng, size, 8)
        day = pd.Timestamp(as_of) + pd.to_timedelta(rng.integers(-20, 25, size), unit="D")
        text, _ = _fill(rng, noise_templates, size, noise_weights, po=po,
                        cid=customers["customer_id"].to_numpy()[cust_rows],
                        dmy=pd.Series(day.strftime("%d/%m/%Y")), iso=pd.Series(day.strftime("%Y-%m-%d")))
        return np.where(text == "", "", " " + text.astype(str))

    def e2e(size, ref=None, p_ref=0.0):
        out = np.where(rng.random(size) < 0.6, "NOTPROVIDED",
                       "E2E" + pd.Series(rng.integers(10**9, 10**10, size)).astype(str).to_numpy())
        if ref is not None:
            out = np.where(rng.random(size) < p_ref, ref, out)
        return out

    def take_random(size, mask=None):
        pool = np.flatnonzero(~used & (mask if mask is not None else True))
        chosen = rng.choice(pool, size=size, replace=False)
        used[chosen] = True
        return chosen

    # Grouped payments first: one per customer, 2-5 of its oldest open invoices (30 %: one skipped).
    def grouped(count, k_low, k_high, need_credit=False):
        k = rng.integers(k_low, k_high + 1, size=count)
        members, lines_of, credit_of = [], [], []
        line_no = 0
        for size in range(k_low, k_high + 1):
            want = int((k == size).sum())
            eligible = np.flatnonzero((cust_n >= size + 1) & ~cust_taken & (~need_credit | has_credit))
            if not want or not len(eligible):
                continue
            chosen = rng.choice(eligible, size=min(want, len(eligible)), replace=False)
            cust_taken[chosen] = True
            offs = np.tile(np.arange(size), (len(chosen), 1))
            skip = rng.random(len(chosen)) < 0.3
            hole = rng.integers(0, size, len(chosen))
            offs = np.where(skip[:, None] & (offs >= hole[:, None]), offs + 1, offs)
            pos = cust_start[chosen][:, None] + offs
            members.append(pos.ravel())
            lines_of.append(np.repeat(np.arange(line_no, line_no + len(chosen)), size))
            credit_of.append(chosen)
            line_no += len(chosen)
        pos = np.concatenate(members) if members else np.array([], dtype=int)
        used[pos] = True
        return pos, (np.concatenate(lines_of) if lines_of else np.array([], dtype=int)), \
            (np.concatenate(credit_of) if credit_of else np.array([], dtype=int)), line_no

    def list_refs(pos, line_of, n, short_share):
        frame = pd.DataFrame({"line": line_of, "id": ids[inv[pos]]})
        parts = _parts(frame["id"])
        # "FA2024-000123/000130": the following numbers without prefix and year, when the year is the same
        first_year = parts["y"].groupby(frame["line"]).transform("first")
        frame["short"] = parts["s"].where(parts["y"] == first_year, frame["id"])
        full = frame.groupby("line")["id"].agg(" ".join)
        first = frame.groupby("line")["id"].first()
        rest = frame.groupby("line")["short"].agg(lambda s: "/".join(s.iloc[1:]))
        short = first + "/" + rest
        use_short = rng.random(n) < short_share
        return np.where(use_short, short.to_numpy(), full.to_numpy()), np.where(use_short, "list_short", "list_full")

    for category, with_refs in (("grouped_ref", True), ("grouped_noref", False)):
        if not counts[category]:
            continue
        pos, line_of, cust_rows, n = grouped(counts[category], 2, 5)
        amount = np.bincount(line_of, weights=open_minor[inv[pos]], minlength=n).astype(np.int64)
        names, iban, variant, has, second = payer(cust_rows, n)
        if with_refs:
            refs, detail = list_refs(pos, line_of, n, 0.2)
            remit, _ = _fill(rng, ["{refs}", "FACTURES {refs}", "REGLEMENT {refs}", "PAIEMENT FACT {refs} MERCI"],
                             n, refs=refs)
        else:
            remit, _ = _fill(rng, ["", "REGLEMENT RELEVE", "PAIEMENT FACTURES", "VIREMENT {name}", "SOLDE COMPTE"],
                             n, name=names)
            detail = np.array([f"{k}_invoices" for k in np.bincount(line_of, minlength=n)], dtype=object)
        b.add(category, amount=amount, name=names, account=iban, remittance=remit, detail=detail,
              name_variant=variant, account_state=account_state(has, second, cust_rows), e2e=e2e(n),
              truth_rows=line_of, truth_inv=inv[pos], truth_amount=open_minor[inv[pos]])

    if counts["grouped_netted"]:
        want = counts["grouped_netted"]
        pos, line_of, cust_rows, n = grouped(want + want // 3 + 2, 1, 4, need_credit=True)
        credit_row = first_credit.loc[cust_rows].to_numpy()
        invoice_sum = np.bincount(line_of, weights=open_minor[inv[pos]], minlength=n).astype(np.int64)
        amount = invoice_sum + open_minor[credit_row]
        ok = amount > 0
        ok &= np.cumsum(ok) <= want          # the spare groups only replace a credit note bigger than the invoices
        keep = ok[line_of]
        renumber = np.cumsum(ok) - 1
        pos, line_of, cust_rows, credit_row, amount = pos[keep], renumber[line_of[keep]], cust_rows[ok], \
            credit_row[ok], amount[ok]
        n = int(ok.sum())
        names, iban, variant, has, second = payer(cust_rows, n)
        refs, _ = list_refs(pos, line_of, n, 0.0)
        listed = rng.random(n) < 0.5
        remit = np.where(listed, refs + " AVOIR " + ids[credit_row], "REGLEMENT RELEVE")
        truth_line = np.concatenate([line_of, np.arange(n)])
        truth_inv = np.concatenate([inv[pos], credit_row])
        b.add("grouped_netted", amount=amount, name=names, account=iban, remittance=remit,
              detail=np.where(listed, "listed", "not_listed"), name_variant=variant,
              account_state=account_state(has, second, cust_rows), e2e=e2e(n),
              truth_rows=truth_line, truth_inv=truth_inv, truth_amount=open_minor[truth_inv])

    # Instalments: 2-3 parts of one invoice; the last part sometimes falls next month.
    if counts["instalment"]:
        cap = counts["instalment"]
        parts = rng.integers(2, 4, size=cap)
        present = np.where(rng.random(cap) < 0.5, parts, parts - 1)
        cum = np.cumsum(present)
        groups = int(np.searchsorted(cum, cap)) + 1
        parts, present = parts[:groups], present[:groups].copy()
        present[-1] -= cum[groups - 1] - cap          # the month ends: the last group is cut
        big = open_minor[inv] >= 20_000
        chosen = take_random(groups, big)
        rows = inv[chosen]
        line_group = np.repeat(np.arange(groups), present)[: counts["instalment"]]
        k = np.concatenate([np.arange(p) for p in present])[: counts["instalment"]]
        base = (open_minor[rows] // parts // 100) * 100
        last = open_minor[rows] - base * (parts - 1)
        amount = np.where(k[:] == parts[line_group] - 1, last[line_group], base[line_group])
        cust_rows = items["_cust"].to_numpy()[rows[line_group]]
        n = len(amount)
        names, iban, variant, has, second = payer(cust_rows, n)
        ref = ids[rows[line_group]]
        label = "ECHEANCE " + pd.Series(k + 1).astype(str) + "/" + pd.Series(parts[line_group]).astype(str)
        remit, _ = _fill(rng, ["{ref} {label}", "{label} FACTURE {ref}", "{ref}"], n, ref=ref, label=label)
        b.add("instalment", amount=amount, name=names, account=iban, remittance=remit,
              detail=np.where(present[line_group] == parts[line_group], "all_parts_this_month", "last_part_later"),
              name_variant=variant, account_state=account_state(has, second, cust_rows), e2e=e2e(n),
              truth_rows=np.arange(n), truth_inv=rows[line_group], truth_amount=amount, day_rank=k)

    # Amount only: 70 % pay their oldest open invoice, the rest any.
    if counts["amount_only"]:
        n = counts["amount_only"]
        n_oldest = int(n * 0.7)
        unused = np.flatnonzero(~used)
        first_unused = pd.Series(unused, index=inv_cust[unused]).groupby(level=0).first()
        pick = rng.choice(len(first_unused), size=min(n_oldest, len(first_unused)), replace=False)
        oldest = first_unused.to_numpy()[pick]
        used[oldest] = True
        chosen = np.concatenate([oldest, take_random(n - len(oldest))])
        rows = inv[chosen]
        cust_rows = items["_cust"].to_numpy()[rows]
        names, iban, variant, has, second = payer(cust_rows, n)
        remit, _ = _fill(rng, ["", "VIREMENT", "PAIEMENT", "REGLEMENT FACTURE", "VIR SEPA {name}", "SALDO"], n,
                         name=names)
        b.add("amount_only", amount=open_minor[rows], name=names, account=iban, remittance=remit,
              detail=np.where(np.arange(n) < len(oldest), "oldest_open", "any_open"), name_variant=variant,
              account_state=account_state(has, second, cust_rows), e2e=e2e(n),
              truth_rows=np.arange(n), truth_inv=rows, truth_amount=open_minor[rows])

    ref_templates = ["{ref}", "FACTURE {ref}", "REGLEMENT {ref}", "/INV/{ref}", "{ref} {name}",
                     "PAIEMENT FACT {ref} MERCI", "INV {ref}", "VIR {name} {ref}"]

    def single(category, n, *, amount_fn=None, ref_fn=None, remit_templates=ref_templates, mask=None):
        chosen = take_random(n, mask)
        rows = inv[chosen]
        cust_rows = items["_cust"].to_numpy()[rows]
        names, iban, variant, has, second = payer(cust_rows, n)
        ref, detail = ref_fn(rows) if ref_fn else (ids[rows], np.full(n, "", dtype=object))
        remit, _ = _fill(rng, remit_templates, n, ref=ref, name=names)
        remit = pd.Series(remit + noise(n, cust_rows), dtype=object).str.strip().to_numpy()
        amount, truth_amount, more = amount_fn(rows) if amount_fn else (open_minor[rows], open_minor[rows], "")
        if isinstance(more, np.ndarray):
            detail = np.where(detail == "", more, detail + "," + more)
        return rows, cust_rows, names, iban, variant, account_state(has, second, cust_rows), remit, amount, \
            truth_amount, detail

    def add_single(category, result, e2e_ref_share=0.0, structured=""):
        rows, cust_rows, names, iban, variant, state, remit, amount, truth_amount, detail = result
        n = len(rows)
        b.add(category, amount=amount, name=names, account=iban, remittance=remit, detail=detail, structured=structured,
              name_variant=variant, account_state=state, e2e=e2e(n, ids[rows], e2e_ref_share),
              truth_rows=np.arange(n), truth_inv=rows, truth_amount=truth_amount)

    if counts["exact_ref"]:
        n = counts["exact_ref"]
        result = single("exact_ref", n)
        # 5 %: the reference only in the end-to-end id (the remittance is generic)
        in_e2e = rng.random(n) < 0.05
        remit = np.where(in_e2e, "VIREMENT", result[6])
        result = result[:6] + (remit,) + result[7:9] + (np.where(in_e2e, "e2e_only", "remittance"),)
        rows = result[0]
        e2e_ids = np.where(in_e2e, ids[rows], e2e(n))
        b.add("exact_ref", amount=result[7], name=result[2], account=result[3], remittance=result[6], detail=result[9],
              name_variant=result[4], account_state=result[5], e2e=e2e_ids,
              truth_rows=np.arange(n), truth_inv=rows, truth_amount=result[8])

    if counts["rf_ref"]:
        n = counts["rf_ref"]
        result = single("rf_ref", n, remit_templates=["", "", "VIREMENT"])
        add_single("rf_ref", result, structured=_rf_reference(pd.Series(ids[result[0]], dtype=object)).to_numpy())

    if counts["ref_variant"]:
        def variant_ref(rows):
            kinds = _pick(rng, list(REF_VARIANTS), len(rows))
            return ref_variant(ids[rows], kinds), kinds
        add_single("ref_variant", single("ref_variant", counts["ref_variant"], ref_fn=variant_ref))

    if counts["typo"]:
        def typo_ref(rows):
            kinds = np.asarray(TYPOS[0], dtype=object)[rng.choice(len(TYPOS[0]), size=len(rows), p=TYPOS[1])]
            return typo(rng, ids[rows], kinds, rng.random(len(rows)) < 0.3)
        add_single("typo", single("typo", counts["typo"], ref_fn=typo_ref))

    if counts["partial"]:
        def partial_amount(rows):
            share = rng.uniform(0.2, 0.8, len(rows))
            paid = np.maximum((open_minor[rows] * share // 100 * 100).astype(np.int64), 100)
            return paid, paid, np.full(len(rows), "part", dtype=object)
        add_single("partial", single("partial", counts["partial"], amount_fn=partial_amount,
                                     mask=open_minor[inv] >= 2_000,
                                     remit_templates=["ACOMPTE {ref}", "{ref} PARTIEL", "{ref}", "REGLEMENT PARTIEL {ref}"]))

    if counts["fee"]:
        n = counts["fee"]
        fee = np.where(rng.random(n) < 0.6, _pick(rng, [50, 100, 150, 250, 300, 500], n).astype(np.int64),
                       rng.integers(50, 501, n))

        def fee_amount(rows):
            return open_minor[rows] - fee, open_minor[rows] - fee, np.full(len(rows), "", dtype=object)
        result = single("fee", n, amount_fn=fee_amount, mask=open_minor[inv] > 1_000)
        with_ref = rng.random(n) < 0.8
        remit = np.where(with_ref, result[6], "VIREMENT")
        detail = np.where(with_ref, "ref", "no_ref")
        result = result[:6] + (remit,) + result[7:9] + (detail,)
        add_single("fee", result)

    if counts["overpay"]:
        def over_amount(rows):
            small = rng.random(len(rows)) < 0.5
            extra = np.where(small, rng.integers(1, 501, len(rows)), rng.integers(1_000, 50_001, len(rows)))
            return open_minor[rows] + extra, open_minor[rows], np.where(small, "extra<=5.00", "extra>5.00")
        add_single("overpay", single("overpay", counts["overpay"], amount_fn=over_amount))

    if counts["third_party"]:
        n = counts["third_party"]
        result = single("third_party", n)
        kind = _pick(rng, ["holding", "factor", "person", "accountant", "other_customer"], n, [.3, .2, .15, .15, .2])
        s, p, f = _pick(rng, SURNAMES, n), _pick(rng, PLACES, n), _pick(rng, FIRST_NAMES, n)
        other = rng.integers(0, n_customers, n)
        other_name = payer_names(customers, other, np.full(n, "upper_ascii", dtype=object))
        names = np.select([kind == "holding", kind == "factor", kind == "person", kind == "accountant"],
                          [("HOLDING " + pd.Series(s) + " " + pd.Series(p)).to_numpy(),
                           _pick(rng, ["BNP PARIBAS FACTOR", "EULER HERMES", "CA LEASING ET FACTORING",
                                       "SOCIETE GENERALE FACTORING", "ALLIANZ TRADE"], n),
                           ("M OU MME " + pd.Series(f) + " " + pd.Series(s)).to_numpy(),
                           ("CABINET " + pd.Series(s) + " EXPERTISE").to_numpy()], default=other_name)
        names = _ascii(pd.Series(names)).str.upper().to_numpy()
        iban = np.where(kind == "other_customer", customers["_iban"].to_numpy()[other],
                        _ibans(rng, _pick(rng, ["FR", "DE", "BE"], n)).to_numpy())
        rows = result[0]
        # the reference as issued (70 %) or re-spelled
        spelled = np.where(rng.random(n) < 0.7, ids[rows], ref_variant(ids[rows], _pick(rng, ["nosep", "no_zeros",
                                                                                             "spaced_short"], n)))
        remit, _ = _fill(rng, ["{ref}", "FACTURE {ref}", "POUR COMPTE DE {cust} {ref}", "REGLEMENT {ref}"], n,
                         ref=spelled, cust=customers["name"].to_numpy()[result[1]])
        state = np.where(kind == "other_customer",
                         np.where(known_mask[other], "known_other_customer", "unknown"), "unknown")
        b.add("third_party", amount=result[7], name=names, account=iban, remittance=remit, detail=kind,
              name_variant="third_party", account_state=state, e2e=e2e(n),
              truth_rows=np.arange(n), truth_inv=rows, truth_amount=result[8])

    if counts["unrelated"]:
        n = counts["unrelated"]
        kind = _pick(rng, ["interest", "tax_refund", "supplier_refund", "supplier_refund_from_customer", "insurance",
                           "card_settlement"], n, [.15, .15, .25, .25, .1, .1])
        other = rng.integers(0, n_customers, n)
        cust_name = payer_names(customers, other, np.full(n, "upper_ascii", dtype=object))
        s, p = pd.Series(_pick(rng, SURNAMES, n)), pd.Series(_pick(rng, PLACES, n))
        amount = np.exp(rng.normal(np.log(30_000), 1.2, n)).astype(np.int64) + 100
        amount = np.where(kind == "interest", rng.integers(100, 30_000, n), amount)
        quarter = pd.Series(rng.integers(1, 5, n)).astype(str)
        num = pd.Series(rng.integers(10_000, 99_999, n)).astype(str)
        names = np.select(
            [kind == "interest", kind == "tax_refund", kind == "supplier_refund", kind == "insurance",
             kind == "card_settlement"],
            [np.full(n, "BNP PARIBAS", dtype=object), np.full(n, "DGFIP", dtype=object),
             _ascii(p + " FOURNITURES " + s).str.upper().to_numpy(), np.full(n, "AXA FRANCE IARD", dtype=object),
             np.full(n, "CB REMISE", dtype=object)], default=cust_name)
        remit = np.select(
            [kind == "interest", kind == "tax_refund", kind == "insurance", kind == "card_settlement"],
            [("INTERETS CREDITEURS " + quarter + "T2025").to_numpy(),
             ("REMBOURSEMENT CREDIT TVA " + quarter + "T2025").to_numpy(),
             ("INDEMNITE SINISTRE SIN" + num).to_numpy(), ("REMISE CB " + num + " TPE 0421").to_numpy()],
            default=("REMBOURSEMENT AVOIR N " + num).to_numpy())
        iban = np.where(kind == "supplier_refund_from_customer", customers["_iban"].to_numpy()[other], "")
        state = np.where(kind == "supplier_refund_from_customer",
                         np.where(known_mask[other], "known", "unknown"), "none")
        b.add("unrelated", amount=amount, name=names, account=iban, remittance=remit, detail=kind,
              name_variant="not_a_customer_payment", account_state=state, e2e=e2e(n))

    if counts["debit"]:
        n = counts["debit"]
        kind = _pick(rng, ["direct_debit", "card", "supplier_transfer", "salary"], n, [.4, .25, .25, .1])
        num = pd.Series(rng.integers(100_000, 999_999, n)).astype(str)
        names = np.select([kind == "direct_debit", kind == "card", kind == "salary"],
                          [_pick(rng, ["URSSAF", "EDF ENTREPRISES", "ORANGE BUSINESS", "DGFIP IMPOTS"], n),
                           np.full(n, "", dtype=object), np.full(n, "SALAIRES", dtype=object)],
                          default=_ascii(pd.Series(_pick(rng, SURNAMES, n)) + " "
                                         + pd.Series(_pick(rng, TRADES, n))).str.upper().to_numpy())
        remit = np.select([kind == "direct_debit", kind == "card", kind == "salary"],
                          [("PRLV SEPA ECH " + num).to_numpy(), ("CB STATION " + num).to_numpy(),
                           np.full(n, "VIREMENTS SALAIRES JUIN", dtype=object)],
                          default=("FACTURE FOURNISSEUR F" + num).to_numpy())
        amount = -(np.exp(rng.normal(np.log(50_000), 1.3, n)).astype(np.int64) + 100)
        b.add("debit", amount=amount, name=names, account="", remittance=remit, detail=kind,
              name_variant="money_out", account_state="none", e2e=e2e(n))

    # -- assemble: shuffle across the month's business days; statement per day ----------------
    lines = pd.concat(b.batches, ignore_index=True)
    n = len(lines)
    days = pd.bdate_range(pd.Timestamp(as_of) + pd.Timedelta(days=1), periods=22)
    base_day = rng.integers(0, len(days) - 3, n)
    day = np.minimum(base_day + lines["day_rank"].to_numpy().astype(int) * rng.integers(3, 8, n), len(days) - 1)
    # instalments of one invoice must follow each other: day grows with the instalment number
    inst = lines["category"].to_numpy() == "instalment"
    if inst.any():
        t = pd.concat(b.truth, ignore_index=True)
        inv_of_key = t.drop_duplicates("key").set_index("key")["invoice_row"]
        group = lines.loc[inst, "key"].map(inv_of_key)
        start = pd.Series(base_day[inst], index=group.index).groupby(group).transform("min")
        day[inst] = np.minimum(start.to_numpy() + lines.loc[inst, "day_rank"].to_numpy().astype(int) * 4, len(days) - 1)
    lines["booking_date"] = days[day]
    lines = lines.iloc[np.lexsort((rng.random(n), lines["booking_date"].to_numpy()))].reset_index(drop=True)
    lines["statement_id"] = "EUR-" + lines["booking_date"].dt.strftime("%Y%m%d")
    lines["position"] = lines.groupby("statement_id").cumcount() + 1
    lines["bank_line_id"] = lines["statement_id"] + "#" + lines["position"].astype(str)
    lines["value_date"] = lines["booking_date"]
    lines["source_file"] = "bench.camt053.xml"
    lines["account"] = "FR7630004000031234567890143"
    lines["currency"] = "EUR"
    lines["bank_reference"] = "BR" + pd.Series(rng.permutation(n) + 10_000_000).astype(str)
    lines["transaction_code"] = np.where(lines["amount_minor"] > 0, "PMNT-RCDT-ESCT", "PMNT-ICDT-ESCT")
    lines["ultimate_debtor"] = ""
    lines["raw"] = ""
    key_to_line = pd.Series(lines["bank_line_id"].to_numpy(), index=lines["key"].to_numpy())

    truth = pd.concat(b.truth, ignore_index=True)
    truth = pd.DataFrame({"bank_line_id": key_to_line.loc[truth["key"]].to_numpy(),
                          "invoice_id": ids[truth["invoice_row"].to_numpy()],
                          "amount_minor": truth["amount_minor"].to_numpy().astype(np.int64)})
    labels = lines[["bank_line_id", "category", "detail", "name_variant", "account_state"]].copy()
    customers_out = conform(customers, CUSTOMER_COLUMNS)
    known = customers.loc[known_mask, ["customer_id", "_iban"]].rename(columns={"_iban": "account"})
    return LabelledSet(items=items[OPEN_ITEM_COLUMNS].copy(), customers=customers_out,
                       known_accounts=known[["account", "customer_id"]].reset_index(drop=True),
                       lines=conform(lines, BANK_LINE_COLUMNS), truth=truth, labels=labels, as_of=as_of)


def save(data: LabelledSet, folder) -> None:
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("items", "customers", "known_accounts", "lines", "truth", "labels"):
        getattr(data, name).to_parquet(folder / f"{name}.parquet", index=False)
    (folder / "as_of.txt").write_text(data.as_of.isoformat())


def load(folder) -> LabelledSet:
    from pathlib import Path

    folder = Path(folder)
    frames = {name: pd.read_parquet(folder / f"{name}.parquet")
              for name in ("items", "customers", "known_accounts", "lines", "truth", "labels")}
    return LabelledSet(**frames, as_of=dt.date.fromisoformat((folder / "as_of.txt").read_text().strip()))


if __name__ == "__main__":
    import sys
    import time

    t = time.perf_counter()
    data = generate(int(sys.argv[1]) if len(sys.argv) > 1 else 5_000, int(sys.argv[2]) if len(sys.argv) > 2 else 50_000)
    print(f"{len(data.lines):,} lines, {len(data.items):,} items, {len(data.customers):,} customers, "
          f"{len(data.truth):,} truth rows in {time.perf_counter() - t:.1f} s")
    print(data.labels["category"].value_counts().to_string())
