"""A deterministic, fake but plausible receivables portfolio: a French FEC, its customer master
and the bank statement of the as-of date.

    >>> from pathlib import Path
    >>> out = generate_portfolio(Path("demo"), customers=200, seed=42)   # doctest: +SKIP
    >>> out["customers"], out["lines"] > 10_000                          # doctest: +SKIP
    (200, True)
    >>> generate_portfolio(Path("big"), customers=customers_for_lines(1_000_000))  # doctest: +SKIP

writes `demo/123456789FEC20250630.txt` (18 months of sales, credit notes, bank receipts and
opening entries up to 2025-06-30), `demo/customers.csv` (DESIGN.md "customer master CSV", plus `iban` and `collector`) and
`demo/statement_20250630.camt053.xml` (the bank statement of 2025-06-30, CAMT.053). The same
arguments always give byte-identical files.

The day's story: the accounting system exports the ledger at the start of business day `end`
(the bank receipts up to the day before are booked), and the bank sends the statement of
`end` the same morning. So the receipts dated `end` are not in the FEC (their invoices are
still open and unlettered there; sales and credit notes dated `end` are) but on the statement,
one `Ntry` each, with the payer's name (as in the master, or spelt by a bank: upper case, no
accents, cut at 35 characters, legal form dropped or moved first), often the payer's IBAN (the
master's `iban` column knows it for about half the customers), an end-to-end id (NOTPROVIDED
for many), and the remittance wording of the FEC receipts (`VIR <NAME> FA2024-000123`,
`... FACT FA2024000123`, several invoices of a payment run, or nothing usable), or for ~15 %
a structured creditor reference (the invoice numbers); foreign-currency receipts carry the
instructed amount. Plus a few lines that are not customer payments: a bank interest credit, a
supplier's refund and the month's bank fees (the one debit). The statement covers the receipts
of `end` only: about 20 for 300 customers on 2025-06-30 (a Monday: the weekend's transfers
arrive with it), ~1,100 for a million-line portfolio.

Sizing: a portfolio has about `LINES_PER_CUSTOMER_MONTH * months` ledger lines per customer
(~85 over the default 18 months, so `customers=200` gives ~17k lines);
`customers_for_lines(n, months)` returns the customer count for about `n` lines (within a few
percent from ~100k lines up, usually a little over; small portfolios vary more with the seed).
A million lines take about 4 s and 550 MB (memory grows ~0.5 GB per extra million):
everything is drawn as numpy arrays (one element per customer, invoice, settlement or line),
never in a Python loop per invoice or per line, and the FEC is formatted and written in chunks.

What the ledger holds (the story a collections pipeline should be able to read back):

- every customer has a hidden payment behaviour (`customer_profiles(...)["behaviour"]`):
  early (0-10 days before the due date), on_time (+-3 days), late (5-40 days after),
  very_late (30-150 days after), partial (most invoices paid in two instalments: 30-70 %,
  then the rest 15-75 days later) or disputed (about a third of the invoices never paid);
  8 % of any customer's invoices are paid "on time or a bit late" whatever the behaviour;
- the due date is the invoice date plus the customer's payment terms (30 days when the
  master leaves them empty, the French legal default);
- sales (journal VE): 411000 debit TTC / 706000 credit HT / 445710 credit VAT 20 %,
  invoice numbers `FA<year>-<6 digits>` in chronological order per year;
- credit notes (~3 % of invoices, VE, `AV<year>-<6 digits>`): 35 % cancel the invoice,
  the others reduce it by 10-50 %; the payment then covers the rest;
- bank receipts (journal BQ): 512000 debit / 411000 credit; some customers pay on a monthly
  payment run (one transfer for the invoices falling due around it); labels carry the invoice
  number, a variant of it, or nothing a machine can use;
- lettering: a fully settled invoice, its credit note and its payments share one EcritureLet
  code (AA, AB, ... per customer, AAA after ZZ) and DateLet = the last settlement date;
  anything still open (or partly paid) on `end` is unlettered;
- opening entries (journal AN, first day of the horizon, counterpart 890000) carry the
  invoices of the previous six months still open then; invoices settled before the horizon
  do not appear at all;
- nothing dated after `end` is in the file (payments due later have not happened yet), and
  no receipt dated `end` (it is on the statement of `end`);
- a few GB/CH customers are invoiced in GBP/CHF at a fixed rate (Montantdevise/Idevise on
  their lines; no exchange differences are booked).
"""

from __future__ import annotations

import csv
import datetime
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from receivables.money import format_minor

__all__ = [
    "BEHAVIOURS",
    "LINES_PER_CUSTOMER_MONTH",
    "FEC_COLUMNS",
    "customer_profiles",
    "customers_for_lines",
    "fec_file_name",
    "generate_portfolio",
    "statement_file_name",
]

FEC_COLUMNS = (
    "JournalCode JournalLib EcritureNum EcritureDate CompteNum CompteLib CompAuxNum CompAuxLib "
    "PieceRef PieceDate EcritureLib Debit Credit EcritureLet DateLet ValidDate "
    "Montantdevise Idevise"
).split()
MASTER_COLUMNS = [
    "customer_id", "name", "country", "language", "email", "phone", "address", "segment",
    "strategic", "payment_terms_days", "opt_out_channels", "iban", "collector",
]

# Measured on 20k-customer portfolios over 6 to 36 months (4.7-5.0): the low end, so that
# customers_for_lines(n) usually gives slightly more than n lines.
LINES_PER_CUSTOMER_MONTH = 4.7

DEFAULT_TERMS_DAYS = 30
VAT_RATE_PERCENT = 20
CHUNK_LINES = 100_000

BEHAVIOURS = ("early", "on_time", "late", "very_late", "partial", "disputed")
_BEHAVIOUR_WEIGHTS = (0.15, 0.35, 0.25, 0.10, 0.10, 0.05)
# days after the due date, inclusive bounds, per behaviour (index as BEHAVIOURS)
_DAYS_LATE_LO = np.array([-10, -3, 5, 30, 0, 0])
_DAYS_LATE_HI = np.array([0, 3, 40, 150, 30, 60])
EARLY, ON_TIME, LATE, VERY_LATE, PARTIAL, DISPUTED = range(6)

SEGMENTS = ("TPE", "PME", "ETI", "GE")
_SEGMENT_WEIGHTS = (0.50, 0.35, 0.12, 0.03)
_INVOICES_PER_MONTH = np.array([0.32, 0.85, 2.6, 7.0])
_MEDIAN_HT_CENTS = np.array([450_00, 1_800_00, 6_500_00, 22_000_00], dtype=np.float64)

_TERMS = (30, 45, 60, 0, -1)  # -1: empty cell (unknown, the default applies)
_TERMS_WEIGHTS = (0.55, 0.15, 0.12, 0.06, 0.12)

_FX_RATES = {"GBP": 1.17, "CHF": 1.05}  # EUR per unit, fixed over the horizon

# our bank account: the statement of `end` is this account's
CAMT053_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
BANK_ACCOUNT_IBAN = "FR7630006000011234567890189"
BANK_BIC = "AGRIFRPPXXX"

# journals and accounts
_JOURNALS = np.array(["AN", "VE", "BQ"], dtype=object)
_JOURNAL_LIBS = np.array(["A nouveaux", "Ventes", "Banque"], dtype=object)
AN, VE, BQ = range(3)
_ACCOUNTS = np.array(["411000", "706000", "445710", "512000", "890000"], dtype=object)
_ACCOUNT_LIBS = np.array(
    ["Clients", "Prestations de services", "TVA collectée", "Banque", "Bilan d'ouverture"],
    dtype=object,
)
A411, A706, A445, A512, A890 = range(5)

_EPOCH = datetime.date(1970, 1, 1)


# --------------------------------------------------------------------------------------------
# locales: what a customer's name, phone and address look like
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Locale:
    country: str
    language: str
    weight: float
    activities: tuple[str, ...]
    surnames: tuple[str, ...]
    small_forms: tuple[str, ...]     # legal forms of TPE/PME
    large_forms: tuple[str, ...]     # legal forms of ETI/GE
    surname_first: bool              # "Müller Logistik GmbH" vs "Boulangerie Martin SARL"
    email_user: str
    phone_prefix: str
    phone_digits: int
    phone_first: str                 # allowed first digits of the national number
    streets: tuple[str, ...]
    number_first: bool               # "12 rue Pasteur" vs "Hauptstraße 12"
    cities: tuple[tuple[str, str], ...]  # (postcode, city)
    city_first: bool = False         # "London EC1A 1BB" vs "75011 Paris"
    large_activities: tuple[str, ...] = ()  # for ETI/GE names when a corner shop would jar
    currency: str = "EUR"            # a share of these customers is invoiced in it


_FR_ACTIVITIES = (
    "Boulangerie", "Transports", "Menuiserie", "Garage", "Plomberie", "Imprimerie", "Pharmacie",
    "Électricité", "Charpente", "Traiteur", "Fromagerie", "Librairie", "Maçonnerie",
    "Pépinières", "Quincaillerie", "Conseil", "Informatique", "Nettoyage", "Ambulances",
    "Hôtel", "Restaurant", "Laboratoires", "Distribution", "Industries", "Logistique",
    "Mécanique", "Papeterie", "Agence", "Carrosserie", "Bâtiment",
)
_FR_LARGE_ACTIVITIES = (
    "Groupe", "Industries", "Distribution", "Logistique", "Laboratoires", "Transports",
    "Bâtiment", "Informatique", "Mécanique",
)
_FR_SURNAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Lefèvre", "Mercier", "Dupont",
    "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Garnier", "Faure", "Rousseau",
    "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu",
    "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin",
)
_LOCALES = (
    _Locale(
        "FR", "fr", 0.75, _FR_ACTIVITIES, _FR_SURNAMES, ("SARL", "SAS", "EURL", "SASU"),
        ("SAS", "SA"), False, "compta", "+33", 9, "1234567",
        ("rue de la République", "avenue Jean Jaurès", "boulevard Voltaire", "rue Victor Hugo",
         "place de la Gare", "chemin des Vignes", "rue du Moulin", "allée des Tilleuls",
         "rue Pasteur", "avenue de la Libération", "rue des Écoles", "impasse des Lilas",
         "route de Lyon", "rue Nationale", "quai de la Loire", "rue du Général de Gaulle"),
        True,
        (("75011", "Paris"), ("69003", "Lyon"), ("13008", "Marseille"), ("31000", "Toulouse"),
         ("33000", "Bordeaux"), ("59000", "Lille"), ("44000", "Nantes"),
         ("67000", "Strasbourg"), ("35000", "Rennes"), ("34000", "Montpellier"),
         ("06000", "Nice"), ("38000", "Grenoble"), ("21000", "Dijon"), ("37000", "Tours"),
         ("51100", "Reims"), ("76000", "Rouen"), ("29200", "Brest"),
         ("63000", "Clermont-Ferrand"), ("87000", "Limoges"), ("49000", "Angers"),
         ("72000", "Le Mans"), ("80000", "Amiens"), ("25000", "Besançon"), ("64000", "Pau"),
         ("17000", "La Rochelle"), ("74000", "Annecy"), ("56100", "Lorient"),
         ("84000", "Avignon"), ("86000", "Poitiers"), ("45000", "Orléans")),
        large_activities=_FR_LARGE_ACTIVITIES,
    ),
    _Locale(
        "BE", "fr", 0.035, _FR_ACTIVITIES,
        ("Dubois", "Lambert", "Dupont", "Martin", "Simon", "Laurent", "Leclercq", "Renard",
         "Lejeune", "Masson", "Collignon", "Gilson"),
        ("SRL", "SC"), ("SA",), False, "comptabilite", "+32", 9, "4",
        ("rue de la Loi", "avenue Louise", "chaussée de Waterloo", "rue Haute",
         "rue Neuve", "boulevard d'Avroy"),
        False,
        (("1000", "Bruxelles"), ("4000", "Liège"), ("5000", "Namur"), ("6000", "Charleroi"),
         ("7000", "Mons"), ("1300", "Wavre")),
        large_activities=_FR_LARGE_ACTIVITIES,
    ),
    _Locale(
        "BE", "nl", 0.025,
        ("Bakkerij", "Transport", "Bouwbedrijf", "Drukkerij", "Schilderwerken", "Logistiek",
         "Techniek", "Groothandel"),
        ("Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens",
         "Wouters", "De Smet", "Vermeulen", "Van den Berghe"),
        ("BV", "CommV"), ("NV",), False, "boekhouding", "+32", 9, "4",
        ("Kerkstraat", "Stationsstraat", "Meir", "Nieuwstraat", "Dorpstraat", "Veldstraat"),
        False,
        (("2000", "Antwerpen"), ("9000", "Gent"), ("8000", "Brugge"), ("3000", "Leuven"),
         ("2800", "Mechelen"), ("3500", "Hasselt")),
    ),
    _Locale(
        "DE", "de", 0.05,
        ("Logistik", "Bau", "Maschinenbau", "Elektro", "Metallbau", "Druckerei", "Holzbau",
         "Spedition", "Software", "Handel", "Technik", "Bäckerei", "Autohaus", "Gartenbau"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
         "Schulz", "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf",
         "Schröder", "Neumann"),
        ("GmbH", "UG", "KG"), ("AG", "GmbH & Co. KG"), True, "buchhaltung", "+49", 10,
        "23456789",
        ("Hauptstraße", "Bahnhofstraße", "Schillerstraße", "Goethestraße", "Industriestraße",
         "Lindenweg", "Gartenstraße", "Am Markt"),
        False,
        (("10115", "Berlin"), ("20095", "Hamburg"), ("80331", "München"), ("50667", "Köln"),
         ("60311", "Frankfurt am Main"), ("70173", "Stuttgart"), ("40213", "Düsseldorf"),
         ("04109", "Leipzig"), ("28195", "Bremen"), ("90402", "Nürnberg")),
    ),
    _Locale(
        "ES", "es", 0.04,
        ("Construcciones", "Transportes", "Talleres", "Distribuciones", "Panadería",
         "Instalaciones", "Suministros", "Gráficas", "Carpintería", "Comercial"),
        ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez",
         "Pérez", "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno",
         "Álvarez"),
        ("SL", "SLU"), ("SA",), False, "contabilidad", "+34", 9, "69",
        ("Calle Mayor", "Avenida de la Constitución", "Calle Real", "Paseo de Gracia",
         "Calle de Alcalá", "Gran Vía"),
        False,
        (("28013", "Madrid"), ("08007", "Barcelona"), ("46002", "Valencia"),
         ("41001", "Sevilla"), ("48001", "Bilbao"), ("50001", "Zaragoza"), ("29015", "Málaga")),
    ),
    _Locale(
        "IT", "it", 0.04,
        ("Trasporti", "Costruzioni", "Officina", "Panificio", "Impianti", "Tipografia",
         "Forniture", "Edilizia", "Arredamenti", "Commerciale"),
        ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
         "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa"),
        ("Srl", "Snc"), ("SpA",), False, "amministrazione", "+39", 10, "3",
        ("Via Roma", "Via Garibaldi", "Corso Italia", "Via Mazzini", "Piazza Duomo",
         "Via Dante"),
        False,
        (("00184", "Roma"), ("20121", "Milano"), ("10121", "Torino"), ("40121", "Bologna"),
         ("50123", "Firenze"), ("80133", "Napoli"), ("16121", "Genova")),
    ),
    _Locale(
        "NL", "nl", 0.03,
        ("Bakkerij", "Transport", "Bouwbedrijf", "Installatietechniek", "Drukkerij",
         "Schilderwerken", "Logistiek", "Techniek", "Handelsonderneming", "Groothandel"),
        ("de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Visser",
         "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters",
         "Hendriks"),
        ("BV", "VOF"), ("NV", "BV"), False, "administratie", "+31", 9, "1234567",
        ("Kerkstraat", "Dorpsstraat", "Stationsweg", "Molenweg", "Hoofdstraat",
         "Schoolstraat"),
        False,
        (("1012 AB", "Amsterdam"), ("3011 AD", "Rotterdam"), ("2511 CV", "Den Haag"),
         ("3511 LX", "Utrecht"), ("5611 AB", "Eindhoven"), ("9711 LV", "Groningen")),
    ),
    _Locale(
        "GB", "en", 0.015,
        ("Logistics", "Engineering", "Building Services", "Printing", "Consulting", "Foods",
         "Electrical", "Joinery", "Supplies", "Haulage"),
        ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
         "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green"),
        ("Ltd", "LLP"), ("plc", "Ltd"), True, "accounts", "+44", 10, "127",
        ("High Street", "Station Road", "Church Lane", "Victoria Road", "Park Road",
         "Mill Lane"),
        True,
        (("EC1A 1BB", "London"), ("M1 1AE", "Manchester"), ("B1 1AA", "Birmingham"),
         ("LS1 4DY", "Leeds"), ("BS1 4DJ", "Bristol"), ("G1 1XQ", "Glasgow")),
        city_first=True, currency="GBP",
    ),
    _Locale(
        "CH", "fr", 0.008, _FR_ACTIVITIES,
        ("Favre", "Rochat", "Bonvin", "Perret", "Rey", "Morel", "Berset", "Jaquet", "Cuche",
         "Mottier"),
        ("Sàrl",), ("SA",), False, "comptabilite", "+41", 9, "2345",
        ("rue du Rhône", "avenue de la Gare", "rue du Marché", "rue de Lausanne"),
        False,
        (("1201", "Genève"), ("1003", "Lausanne"), ("2000", "Neuchâtel"), ("1950", "Sion")),
        currency="CHF", large_activities=_FR_LARGE_ACTIVITIES,
    ),
    _Locale(
        "CH", "de", 0.007,
        ("Treuhand", "Bau", "Elektro", "Holzbau", "Transporte", "Informatik", "Metallbau"),
        ("Müller", "Meier", "Schmid", "Keller", "Weber", "Huber", "Schneider", "Steiner",
         "Gerber", "Brunner"),
        ("GmbH",), ("AG",), True, "buchhaltung", "+41", 9, "2345678",
        ("Bahnhofstrasse", "Seestrasse", "Hauptstrasse", "Dorfstrasse", "Kirchweg"),
        False,
        (("8001", "Zürich"), ("3011", "Bern"), ("4051", "Basel"), ("6003", "Luzern"),
         ("9000", "St. Gallen")),
        currency="CHF",
    ),
)


# --------------------------------------------------------------------------------------------
# public helpers
# --------------------------------------------------------------------------------------------
def customers_for_lines(lines: int, months: int = 18) -> int:
    """How many customers give about `lines` ledger lines over `months` months."""
    return max(1, math.ceil(lines / (LINES_PER_CUSTOMER_MONTH * months)))


def fec_file_name(siren: str, end: datetime.date) -> str:
    """The legal FEC file name: <SIREN>FEC<closing date YYYYMMDD>.txt."""
    return f"{siren}FEC{end:%Y%m%d}.txt"


def customer_profiles(customers: int = 200, *, seed: int = 42) -> pd.DataFrame:
    """The customer master (MASTER_COLUMNS, in the CSV's text form) plus the hidden columns
    the simulation draws from: `behaviour` (one of BEHAVIOURS), `currency` (the invoicing
    currency), `batch_payer` (pays on a monthly payment run, `run_day` of the month),
    `_iban` (the account the customer pays from; the master's `iban` cell shows it for about
    half the customers, empty for the others).

    Depends only on `customers` and `seed` (not on the horizon), so a test can recover the
    behaviour of every customer of a generated portfolio.
    """
    rng = np.random.default_rng([seed, 1])
    n = int(customers)
    if n < 1:
        raise ValueError("customers must be at least 1")
    width = max(6, len(str(n)))
    ids = "C" + np.char.zfill(np.arange(1, n + 1).astype(str), width).astype(object)

    locale = rng.choice(len(_LOCALES), size=n, p=_normalized([loc.weight for loc in _LOCALES]))
    segment = rng.choice(4, size=n, p=_SEGMENT_WEIGHTS)
    large = segment >= 2
    name = np.empty(n, dtype=object)
    slug = np.empty(n, dtype=object)
    email_user = np.empty(n, dtype=object)
    phone = np.empty(n, dtype=object)
    address = np.empty(n, dtype=object)
    country = np.empty(n, dtype=object)
    language = np.empty(n, dtype=object)
    currency = np.full(n, "EUR", dtype=object)
    legal_form = np.empty(n, dtype=object)
    # one pass per locale (10), whole arrays inside
    u_fx = rng.random(n)
    for k, loc in enumerate(_LOCALES):
        idx = np.flatnonzero(locale == k)
        m = idx.size
        if not m:
            continue
        act = _pick(rng, loc.activities, m)
        if loc.large_activities:
            act = np.where(large[idx], _pick(rng, loc.large_activities, m), act)
        sur = _pick(rng, loc.surnames, m)
        small_form = _pick(rng, loc.small_forms, m)
        large_form = _pick(rng, loc.large_forms, m)
        form = np.where(large[idx], large_form, small_form)
        legal_form[idx] = form
        first, second = (sur, act) if loc.surname_first else (act, sur)
        name[idx] = first + " " + second + " " + form
        slug[idx] = first + " " + second
        email_user[idx] = loc.email_user
        national = _digits(rng, loc.phone_first, loc.phone_digits, m)
        phone[idx] = loc.phone_prefix + national
        number = rng.integers(1, 120, size=m).astype(str).astype(object)
        street = _pick(rng, loc.streets, m)
        street_line = number + " " + street if loc.number_first else street + " " + number
        city_pick = rng.integers(0, len(loc.cities), size=m)
        postcode = np.array([c[0] for c in loc.cities], dtype=object)[city_pick]
        city = np.array([c[1] for c in loc.cities], dtype=object)[city_pick]
        town = city + " " + postcode if loc.city_first else postcode + " " + city
        address[idx] = street_line + ", " + town
        country[idx] = loc.country
        language[idx] = loc.language
        if loc.currency != "EUR":
            currency[idx[u_fx[idx] < 0.5]] = loc.currency

    slug_s = (
        pd.Series(slug).str.normalize("NFKD").str.encode("ascii", "ignore").str.decode("ascii")
        .str.lower().str.replace(r"[^a-z0-9]+", "-", regex=True).str.strip("-")
    )
    email = email_user + "@" + slug_s.to_numpy(dtype=object) + ".example"
    # unknown contact data: a few empty cells, as in any real master
    language[rng.random(n) < 0.03] = ""
    email[rng.random(n) < 0.02] = ""
    phone[rng.random(n) < 0.04] = ""

    strategic = (segment == 3) | ((segment == 2) & (rng.random(n) < 0.3))
    terms = np.array(_TERMS)[rng.choice(len(_TERMS), size=n, p=_TERMS_WEIGHTS)]
    terms_cell = np.where(terms < 0, "", terms.astype(str)).astype(object)
    opt_choices = np.array(["email", "sms", "call", "letter", "sms call", "email sms"],
                           dtype=object)
    opt_out = np.where(
        rng.random(n) < 0.07,
        opt_choices[rng.choice(6, size=n, p=(0.15, 0.35, 0.25, 0.05, 0.15, 0.05))],
        "",
    ).astype(object)

    behaviour = rng.choice(len(BEHAVIOURS), size=n, p=_BEHAVIOUR_WEIGHTS)
    # payment runs: organised payers (never partial or disputed) settle everything due once a month
    batch = (
        (segment >= 1) & np.isin(behaviour, (EARLY, ON_TIME, LATE, VERY_LATE))
        & (rng.random(n) < np.array([0.0, 0.25, 0.45, 0.6])[segment])
    )
    run_day = np.array([5, 10, 15, 25, 31])[rng.integers(0, 5, size=n)]
    rate_mult = rng.lognormal(-0.125, 0.5, size=n)     # mean 1
    amount_scale = rng.normal(0.0, 0.5, size=n)        # log-scale of the customer's amounts
    # the account the customer pays from; the master knows it for about half the customers
    iban_known = rng.random(n) < 0.5
    iban = _fake_ibans(rng, country)

    return pd.DataFrame({
        "customer_id": ids,
        "name": name,
        "country": country,
        "language": language,
        "email": email,
        "phone": phone,
        "address": address,
        "segment": np.array(SEGMENTS, dtype=object)[segment],
        "strategic": np.where(strategic, "true", "false").astype(object),
        "payment_terms_days": terms_cell,
        "opt_out_channels": opt_out,
        "iban": np.where(iban_known, iban, "").astype(object),
        "collector": _collectors(segment, country),
        "behaviour": np.array(BEHAVIOURS, dtype=object)[behaviour],
        "currency": currency,
        "batch_payer": batch,
        "run_day": run_day,
        "_segment": segment,
        "_behaviour": behaviour,
        "_terms": np.where(terms < 0, DEFAULT_TERMS_DAYS, terms),
        "_rate_mult": rate_mult,
        "_amount_scale": amount_scale,
        "_legal_form": legal_form,
        "_iban": iban,
    })


# Who works each account (the master's `collector`): the key-accounts desk takes the ETI and GE,
# two collectors share the small accounts, French and foreign. Drawn from no random number, so
# the rest of a portfolio is the same as before the column existed.
COLLECTORS = ("key_accounts", "domestic", "export")


def _collectors(segment: np.ndarray, country: np.ndarray) -> np.ndarray:
    small = np.where(country == "FR", COLLECTORS[1], COLLECTORS[2])
    return np.where(segment >= 2, COLLECTORS[0], small).astype(object)


def generate_portfolio(
    out_dir: Path,
    *,
    customers: int = 200,
    months: int = 18,
    end: datetime.date = datetime.date(2025, 6, 30),
    seed: int = 42,
    siren: str = "123456789",
) -> dict:
    """Write `<siren>FEC<end>.txt`, `customers.csv` and `statement_<end>.camt053.xml` into
    `out_dir`; return their paths and counts (`statement_lines`: the statement's entries).

    The ledger covers `months` calendar months ending with `end`'s month and shows the books
    as of `end`. About `LINES_PER_CUSTOMER_MONTH * months` lines per customer: use
    `customers_for_lines(n, months)` to size a portfolio for `n` lines.
    """
    if months < 1:
        raise ValueError("months must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    profiles = customer_profiles(customers, seed=seed)
    ledger = _simulate(profiles, months=months, end=end, seed=seed)

    customers_csv = out_dir / "customers.csv"
    with open(customers_csv, "w", encoding="utf-8", newline="") as fh:
        profiles[MASTER_COLUMNS].to_csv(fh, index=False, lineterminator="\n")
    fec = out_dir / fec_file_name(siren, end)
    with open(fec, "w", encoding="utf-8", newline="") as fh:
        _write_fec(fh, ledger, profiles)
    statement = out_dir / statement_file_name(end)
    statement_lines = _write_statement(statement, ledger.receipts, profiles, end, seed)

    return {
        "fec": fec,
        "customers_csv": customers_csv,
        "customers": len(profiles),
        "lines": ledger.n_lines,
        "entries": ledger.n_entries,
        "invoices": ledger.n_invoices,
        "credit_notes": ledger.n_credit_notes,
        "payments": ledger.n_payments,
        "statement": statement,
        "statement_lines": statement_lines,
    }


# --------------------------------------------------------------------------------------------
# simulation
# --------------------------------------------------------------------------------------------
@dataclass
class _Receipts:
    """The customer payments credited on `end`, one element per transfer."""

    customer: np.ndarray     # int
    amount: np.ndarray       # int64 cents (EUR)
    amount_fx: np.ndarray    # int64 minor units in the customer's currency
    kind: np.ndarray         # int8: 0 payment, 1 first instalment, 2 balance
    label: np.ndarray        # object: the wording the ledger would have booked (EcritureLib)
    invoices: list           # per transfer, the invoice numbers it settles (invoice order)


@dataclass
class _Ledger:
    """Ledger lines as numeric columns (sorted in file order) plus the text tables they index."""

    journal: np.ndarray      # int: AN/VE/BQ
    entry_num: np.ndarray    # int, per journal
    day: np.ndarray          # days since 1970-01-01
    account: np.ndarray      # int index into _ACCOUNTS
    customer: np.ndarray     # int, the entry's customer (-1: none)
    aux: np.ndarray          # bool: CompAuxNum/CompAuxLib filled (411 lines)
    text: np.ndarray         # int index into piece_ref/piece_day/label
    debit: np.ndarray        # int64 cents
    credit: np.ndarray       # int64 cents
    let_group: np.ndarray    # int index into let_code/let_day (-1: unlettered)
    fx_amount: np.ndarray    # int64 minor units in the customer's currency (ignored for EUR)
    piece_ref: np.ndarray    # object
    piece_day: np.ndarray    # int
    label: np.ndarray        # object
    let_code: np.ndarray     # object
    let_day: np.ndarray      # int
    n_entries: int
    n_invoices: int
    n_credit_notes: int
    n_payments: int          # bank entries in the ledger (receipts before `end`)
    receipts: _Receipts      # the receipts of `end`: on the bank statement, not in the ledger

    @property
    def n_lines(self) -> int:
        return int(self.day.size)


def _simulate(profiles: pd.DataFrame, *, months: int, end: datetime.date, seed: int) -> _Ledger:
    rng = np.random.default_rng([seed, 2])
    n_cust = len(profiles)
    seg = profiles["_segment"].to_numpy()
    beh_c = profiles["_behaviour"].to_numpy()
    terms_c = profiles["_terms"].to_numpy()
    batch_c = profiles["batch_payer"].to_numpy()
    run_day_c = profiles["run_day"].to_numpy()
    cur_c = profiles["currency"].to_numpy()
    fx_rate_c = np.ones(n_cust)
    for code, rate in _FX_RATES.items():
        fx_rate_c[cur_c == code] = rate

    month_index = end.year * 12 + end.month - 1 - (months - 1)
    start = datetime.date(month_index // 12, month_index % 12 + 1, 1)
    start_day, end_day = _day(start), _day(end)
    pre_day = start_day - 183            # open invoices of the previous half-year are carried over
    span = end_day - pre_day + 1

    # ---- invoices: drawn per customer as one array, then put in chronological order ----------
    lam = _INVOICES_PER_MONTH[seg] * profiles["_rate_mult"].to_numpy() * span / 30.4375
    counts = rng.poisson(lam)
    inv_c = np.repeat(np.arange(n_cust), counts)
    n_inv = inv_c.size
    inv_day = _previous_weekday(pre_day + 2 + rng.integers(0, span - 2, size=n_inv))
    order = np.lexsort((inv_c, inv_day))
    inv_c, inv_day = inv_c[order], inv_day[order]

    # amounts: HT drawn in the invoicing currency, rounded once to cents; VAT in integer cents
    log_median = np.log(_MEDIAN_HT_CENTS[seg]) + profiles["_amount_scale"].to_numpy()
    ht_fx = np.maximum(20_00, np.floor(
        rng.lognormal(0.0, 0.7, size=n_inv) * np.exp(log_median[inv_c]) + 0.5)).astype(np.int64)
    vat_fx = _vat(ht_fx)
    ttc_fx = ht_fx + vat_fx
    rate = fx_rate_c[inv_c]
    ht, vat = _to_eur(ht_fx, rate), _to_eur(vat_fx, rate)
    ttc = ht + vat

    due = inv_day + terms_c[inv_c]
    beh = beh_c[inv_c]
    # some invoices escape the customer's habit and are paid on time or a bit late
    noise = rng.random(n_inv) < 0.08
    beh_eff = np.where(noise, np.where(rng.random(n_inv) < 0.5, ON_TIME, LATE), beh)
    lo, hi = _DAYS_LATE_LO[beh_eff], _DAYS_LATE_HI[beh_eff]
    pay_day = due + lo + np.floor(rng.random(n_inv) * (hi - lo + 1)).astype(np.int64)
    pay_day = np.maximum(pay_day, inv_day)

    # credit notes: ~3 % overall, more with disputing customers; full cancellation or a rebate
    has_cn = rng.random(n_inv) < np.where(beh == DISPUTED, 0.15, 0.025)
    cn_day = _previous_weekday(inv_day + rng.integers(3, 31, size=n_inv))
    cn_full = has_cn & (rng.random(n_inv) < 0.35)
    frac = rng.uniform(0.1, 0.5, size=n_inv)
    cn_ht_fx = np.where(cn_full, ht_fx, np.floor(ht_fx * frac + 0.5).astype(np.int64))
    cn_vat_fx = np.where(cn_full, vat_fx, _vat(cn_ht_fx))
    cn_ht = np.where(cn_full, ht, _to_eur(cn_ht_fx, rate))
    cn_vat = np.where(cn_full, vat, _to_eur(cn_vat_fx, rate))
    cn_ttc = np.where(has_cn, cn_ht + cn_vat, 0)
    cn_ttc_fx = np.where(has_cn, cn_ht_fx + cn_vat_fx, 0)
    rest, rest_fx = ttc - cn_ttc, ttc_fx - cn_ttc_fx
    pay_day = np.where(has_cn, np.maximum(pay_day, cn_day + 1), pay_day)

    never = ((beh == DISPUTED) & ~noise & (rng.random(n_inv) < 0.35)) | cn_full
    instal = (beh == PARTIAL) & ~noise & ~never & (rng.random(n_inv) < 0.7)
    single = ~never & ~instal
    inst1 = np.maximum(due + rng.integers(-3, 16, size=n_inv), inv_day)
    inst1 = _next_weekday(np.where(has_cn, np.maximum(inst1, cn_day + 1), inst1))
    inst2 = _next_weekday(inst1 + rng.integers(15, 76, size=n_inv))
    part = rng.uniform(0.3, 0.7, size=n_inv)
    part1 = np.floor(rest * part + 0.5).astype(np.int64)
    part1_fx = np.floor(rest_fx * part + 0.5).astype(np.int64)

    batch = single & batch_c[inv_c]
    # a payment run pays what falls due around it: early and late payers stay early and late
    not_before = np.where(has_cn, cn_day + 1, inv_day)   # the credit note precedes the payment
    pay_day = np.where(batch, _nearest_run(pay_day, run_day_c[inv_c], not_before), pay_day)
    pay_day = _next_weekday(pay_day)

    # ---- what the books as of `end` contain -------------------------------------------------
    first_event = np.minimum(
        np.where(has_cn, cn_day, np.iinfo(np.int64).max),
        np.where(single, pay_day, np.where(instal, inst1, np.iinfo(np.int64).max)),
    )
    # an invoice of the previous half-year is in the file only if still untouched at `start`
    kept = (inv_day >= start_day) | (first_event >= start_day)
    cn_kept = kept & has_cn & (cn_day <= end_day)

    # settlements (payment allocations): one per single invoice, two per instalment invoice
    s_single = np.flatnonzero(single & kept)
    s_inst = np.flatnonzero(instal & kept)
    a_inv = np.concatenate([s_single, s_inst, s_inst])
    a_day = np.concatenate([pay_day[s_single], inst1[s_inst], inst2[s_inst]])
    a_amt = np.concatenate([rest[s_single], part1[s_inst], rest[s_inst] - part1[s_inst]])
    a_fx = np.concatenate([rest_fx[s_single], part1_fx[s_inst], rest_fx[s_inst] - part1_fx[s_inst]])
    a_kind = np.concatenate([np.zeros(s_single.size, np.int8), np.ones(s_inst.size, np.int8),
                             np.full(s_inst.size, 2, np.int8)])
    on_books = a_day <= end_day
    a_inv, a_day, a_amt, a_fx, a_kind = (x[on_books] for x in (a_inv, a_day, a_amt, a_fx, a_kind))
    a_batch = batch[a_inv]

    # payment entries: a batch payer's settlements of one day are one transfer
    n_a = a_inv.size
    a_c = inv_c[a_inv]
    key = np.where(a_batch, a_c, n_cust + np.arange(n_a)) * (span + 1) + np.where(
        a_batch, a_day - pre_day, 0)
    pay_keys, a_pay = np.unique(key, return_inverse=True)
    n_pay = pay_keys.size
    pay_amt = np.bincount(a_pay, weights=a_amt, minlength=n_pay).astype(np.int64)
    pay_fx = np.bincount(a_pay, weights=a_fx, minlength=n_pay).astype(np.int64)
    pay_day_e = np.zeros(n_pay, np.int64)
    pay_day_e[a_pay] = a_day
    pay_c = np.zeros(n_pay, np.int64)
    pay_c[a_pay] = a_c
    # the bincount sums above went through float64: exact below 2**53 cents, check anyway
    assert pay_amt.sum() == a_amt.sum()

    # settled invoices and their lettering groups, as the books of `end` show them: the
    # receipts of `end` itself are on that morning's bank statement, not in the ledger yet
    booked = a_day < end_day
    paid = np.bincount(a_inv[booked], weights=a_amt[booked], minlength=n_inv).astype(np.int64)
    settled = kept & (paid + np.where(cn_kept, cn_ttc, 0) == ttc)
    inv_batch_pay = np.full(n_inv, -1, np.int64)
    inv_batch_pay[a_inv[a_batch]] = a_pay[a_batch]
    group_key = np.where(inv_batch_pay >= 0, inv_batch_pay, n_pay + np.arange(n_inv))
    g_keys, inv_group = np.unique(group_key[kept], return_inverse=True)
    n_groups = g_keys.size
    group_of_inv = np.full(n_inv, -1, np.int64)
    group_of_inv[kept] = inv_group
    unsettled_in_group = np.bincount(inv_group, weights=(~settled[kept]).astype(np.float64),
                                     minlength=n_groups)
    g_settled = unsettled_in_group == 0
    last = np.where(cn_kept, cn_day, 0)   # the last settlement date of each invoice
    np.maximum.at(last, a_inv[booked], a_day[booked])
    g_day = np.zeros(n_groups, np.int64)
    np.maximum.at(g_day, inv_group, last[kept])
    g_cust = np.zeros(n_groups, np.int64)
    g_cust[inv_group] = inv_c[kept]
    let_code, g_rank_ok = _let_codes(g_cust, g_day, g_settled)
    g_letter = np.where(g_rank_ok, np.arange(n_groups), -1)   # -1: not lettered
    inv_let = np.full(n_inv, -1, np.int64)
    inv_let[kept] = g_letter[inv_group]
    pay_let = np.full(n_pay, -1, np.int64)
    pay_let[a_pay] = inv_let[a_inv]

    # ---- numbering ---------------------------------------------------------------------------
    inv_year = _year(inv_day)
    inv_num = _numbers("FA", inv_year, np.arange(n_inv))            # chronological already
    cn_idx = np.flatnonzero(cn_kept)
    cn_order = cn_idx[np.lexsort((cn_idx, cn_day[cn_idx]))]
    cn_num_sorted = _numbers("AV", _year(cn_day[cn_order]), np.arange(cn_order.size))
    cn_num = np.empty(n_inv, dtype=object)
    cn_num[cn_order] = cn_num_sorted

    names = profiles["name"].to_numpy(dtype=object)
    bank_names = (
        profiles["name"].str.normalize("NFKD").str.encode("ascii", "ignore").str.decode("ascii")
        .str.upper().to_numpy(dtype=object)
    )

    # ---- texts (PieceRef, PieceDate, EcritureLib) --------------------------------------------
    sales = np.flatnonzero(kept & (inv_day >= start_day))
    opening = np.flatnonzero(kept & (inv_day < start_day))
    t_inv = np.flatnonzero(kept)  # text id of a kept invoice = its rank among kept invoices
    inv_text = np.full(n_inv, -1, np.int64)
    inv_text[t_inv] = np.arange(t_inv.size)
    texts_ref = [inv_num[t_inv]]
    texts_day = [inv_day[t_inv]]
    texts_lib = ["Facture " + inv_num[t_inv] + " " + names[inv_c[t_inv]]]
    base = t_inv.size
    # credit notes
    cn_text = base + np.arange(cn_order.size)
    texts_ref.append(cn_num[cn_order])
    texts_day.append(cn_day[cn_order])
    texts_lib.append("Avoir " + cn_num[cn_order] + " sur " + inv_num[cn_order] + " "
                     + names[inv_c[cn_order]])
    base += cn_order.size
    # payments
    pay_ref, pay_lib = _payment_texts(rng, a_pay, a_inv, a_kind, a_batch, n_pay, pay_day_e, pay_c,
                                      inv_num, bank_names)
    pay_text = base + np.arange(n_pay)
    texts_ref.append(pay_ref)
    texts_day.append(pay_day_e)
    texts_lib.append(pay_lib)
    base += n_pay
    an_text = base
    texts_ref.append(np.array(["AN"], dtype=object))
    texts_day.append(np.array([start_day]))
    texts_lib.append(np.array(["A nouveaux clients"], dtype=object))

    # ---- lines --------------------------------------------------------------------------------
    # entry ids give the order of entries within a (day, journal): opening, invoices,
    # credit notes, payments
    cols: dict[str, list[np.ndarray]] = {k: [] for k in (
        "journal", "entry", "lno", "day", "account", "customer", "aux", "text", "debit",
        "credit", "let", "fx")}

    def add(journal, entry, lno, day, account, customer, aux, text, debit, credit, let, fx):
        args = (journal, entry, lno, day, account, customer, aux, text, debit, credit, let, fx)
        sizes = {np.size(v) for v in args if np.ndim(v) > 0}
        assert len(sizes) <= 1, sizes
        size = sizes.pop() if sizes else 1
        for k, v in (("journal", journal), ("entry", entry), ("lno", lno), ("day", day),
                     ("account", account), ("customer", customer), ("aux", aux),
                     ("text", text), ("debit", debit), ("credit", credit), ("let", let),
                     ("fx", fx)):
            cols[k].append(np.broadcast_to(np.asarray(v), (size,)))

    m = opening.size
    if m:
        add(AN, 0, np.arange(m), start_day, A411, inv_c[opening], True, inv_text[opening],
            ttc[opening], 0, inv_let[opening], ttc_fx[opening])
        add(AN, np.zeros(1, np.int64), m, start_day, A890, -1, False, an_text, 0,
            ttc[opening].sum(), -1, 0)
    e_sales = 1 + sales
    for lno, acct, deb, cre, fx in ((0, A411, ttc, 0, ttc_fx), (1, A706, 0, ht, ht_fx),
                                    (2, A445, 0, vat, vat_fx)):
        add(VE, e_sales, lno, inv_day[sales], acct, inv_c[sales], acct == A411,
            inv_text[sales], _take(deb, sales), _take(cre, sales),
            inv_let[sales] if acct == A411 else -1, fx[sales])
    e_cn = 1 + n_inv + np.arange(cn_order.size)
    c = cn_order
    for lno, acct, deb, cre, fx in ((0, A411, 0, cn_ttc, cn_ttc_fx), (1, A706, cn_ht, 0, cn_ht_fx),
                                    (2, A445, cn_vat, 0, cn_vat_fx)):
        add(VE, e_cn, lno, cn_day[c], acct, inv_c[c], acct == A411, cn_text,
            _take(deb, c), _take(cre, c), inv_let[c] if acct == A411 else -1, fx[c])
    bp = np.flatnonzero(pay_day_e < end_day)    # the receipts of `end` are not booked yet
    e_pay = 1 + n_inv + cn_order.size + bp
    add(BQ, e_pay, 0, pay_day_e[bp], A512, pay_c[bp], False, pay_text[bp], pay_amt[bp], 0, -1,
        pay_fx[bp])
    add(BQ, e_pay, 1, pay_day_e[bp], A411, pay_c[bp], True, pay_text[bp], 0, pay_amt[bp],
        pay_let[bp], pay_fx[bp])

    # the receipts of `end`, with the invoices each settles (few: a Python list is fine)
    today = np.flatnonzero(pay_day_e == end_day)
    t_set = np.flatnonzero(a_day == end_day)
    t_set = t_set[np.lexsort((a_inv[t_set], a_pay[t_set]))]
    cuts = np.flatnonzero(np.diff(a_pay[t_set])) + 1
    receipts = _Receipts(
        customer=pay_c[today], amount=pay_amt[today], amount_fx=pay_fx[today],
        kind=np.maximum.reduceat(a_kind[t_set], np.r_[0, cuts]) if t_set.size
        else np.zeros(0, np.int8),
        label=pay_lib[today],
        invoices=[list(x) for x in np.split(inv_num[a_inv[t_set]], cuts)] if t_set.size else [],
    )

    cat = {}
    for k in list(cols):                 # one column at a time: bounded peak memory
        cat[k] = np.concatenate(cols.pop(k))
    order = np.lexsort((cat["lno"], cat["entry"], cat["journal"], cat["day"]))
    for k in cat:
        cat[k] = cat[k][order]
    # EcritureNum: 1, 2, ... per journal in file (chronological) order
    new_entry = np.r_[True, (cat["entry"][1:] != cat["entry"][:-1])]
    entry_num = np.zeros(order.size, np.int64)
    for j in (AN, VE, BQ):
        in_j = cat["journal"] == j
        entry_num[in_j] = np.cumsum(new_entry[in_j])

    return _Ledger(
        journal=cat["journal"], entry_num=entry_num, day=cat["day"], account=cat["account"],
        customer=cat["customer"], aux=cat["aux"], text=cat["text"], debit=cat["debit"],
        credit=cat["credit"], let_group=cat["let"], fx_amount=cat["fx"],
        piece_ref=np.concatenate(texts_ref), piece_day=np.concatenate(texts_day),
        label=np.concatenate(texts_lib), let_code=let_code, let_day=g_day,
        n_entries=int(new_entry.sum()), n_invoices=int(sales.size + opening.size),
        n_credit_notes=int(cn_order.size), n_payments=int(bp.size), receipts=receipts,
    )


def _payment_texts(rng, a_pay, a_inv, a_kind, a_batch, n_pay, pay_day, pay_c, inv_num,
                   bank_names):
    """PieceRef and EcritureLib of the bank entries, the way bank statements word them."""
    if not n_pay:
        return np.array([], dtype=object), np.array([], dtype=object)
    day_s = _date_strings(pay_day).astype(object)
    name = bank_names[pay_c]
    # settlements of each payment in invoice order: first, second, third invoice numbers
    o = np.lexsort((a_inv, a_pay))
    sp, si = a_pay[o], a_inv[o]
    first = np.flatnonzero(np.r_[True, sp[1:] != sp[:-1]])
    count = np.diff(np.r_[first, sp.size])
    kind = np.zeros(n_pay, np.int8)
    kind[a_pay] = a_kind
    batch = np.zeros(n_pay, bool)
    batch[a_pay] = a_batch
    ref1 = inv_num[si[first]]

    def nth(k):
        has = count > k
        out = np.full(n_pay, "", dtype=object)
        out[has] = " " + inv_num[si[first[has] + k]]
        return out

    refs = ref1 + nth(1) + nth(2) + np.where(count > 3, " ...", "")
    u = rng.random(n_pay)
    vir = ("VIR" + day_s).astype(object)
    compact = np.char.replace(ref1.astype(str), "-", "").astype(object)
    # single settlements: mostly the invoice number, sometimes a variant or nothing usable
    lib = np.select(
        [u < 0.60, u < 0.75, u < 0.90],
        ["VIR " + name + " " + ref1, "VIR SEPA " + name + " " + ref1, "VIR SEPA " + name],
        "VIR " + name + " FACT " + compact,
    )
    ref = np.where((u >= 0.60) & (u < 0.75), ref1, vir)
    months, month_idx = np.unique(pay_day.astype("datetime64[D]").astype("datetime64[M]"),
                                  return_inverse=True)
    month = np.array([f"{str(m)[5:7]}/{str(m)[:4]}" for m in months], dtype=object)[month_idx]
    lib = np.where(batch, np.where(u < 0.7, "VIR " + name + " " + refs,
                                   "VIR " + name + " RELEVE " + month), lib)
    ref = np.where(batch, vir, ref)
    lib = np.where(kind == 1, "VIR " + name + " ACOMPTE " + ref1, lib)
    lib = np.where(kind == 2, "VIR " + name + " SOLDE " + ref1, lib)
    ref = np.where(kind > 0, vir, ref)
    return ref.astype(object), lib.astype(object)


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
def _write_fec(fh, ledger: _Ledger, profiles: pd.DataFrame) -> None:
    ids = np.append(profiles["customer_id"].to_numpy(dtype=object), "")
    names = np.append(profiles["name"].to_numpy(dtype=object), "")
    cur = profiles["currency"].to_numpy(dtype=object)
    fh.write("\t".join(FEC_COLUMNS) + "\n")
    if not ledger.n_lines:
        return
    first = min(int(ledger.day.min()), int(ledger.piece_day.min()))
    last = max(int(ledger.day.max()), int(ledger.piece_day.max()))
    date_table = np.append(_date_strings(np.arange(first, last + 1)).astype(object), "")
    let_codes = np.append(ledger.let_code, "")
    let_days = np.append(ledger.let_day - first, -1)   # -1 -> "" via date_table[-1]
    n_none = len(ids) - 1
    # FEC cells cannot be quoted: no text may hold a separator or a line break
    for table in (ids, names, ledger.piece_ref, ledger.label):
        if pd.Series(table, dtype=object).str.contains("[\t\r\n]", regex=True).any():
            raise ValueError("a generated FEC text holds a tab or a line break")

    for lo in range(0, ledger.n_lines, CHUNK_LINES):
        s = slice(lo, lo + CHUNK_LINES)
        j, acct, cust = ledger.journal[s], ledger.account[s], ledger.customer[s]
        aux_idx = np.where(ledger.aux[s], cust, n_none)
        text = ledger.text[s]
        date = date_table[ledger.day[s] - first]
        lg = ledger.let_group[s]
        fx_cur = np.where(cust >= 0, cur[np.maximum(cust, 0)], "EUR")
        fx = fx_cur != "EUR"
        fx_text = np.full(fx.size, "", dtype=object)
        fx_text[fx] = _format_cents(ledger.fx_amount[s][fx])
        columns = (                      # in FEC_COLUMNS order, every cell a str
            _JOURNALS[j],
            _JOURNAL_LIBS[j],
            ledger.entry_num[s].astype(str).astype(object),
            date,
            _ACCOUNTS[acct],
            _ACCOUNT_LIBS[acct],
            ids[aux_idx],
            names[aux_idx],
            ledger.piece_ref[text],
            date_table[ledger.piece_day[text] - first],
            ledger.label[text],
            _format_cents(ledger.debit[s]),
            _format_cents(ledger.credit[s]),
            let_codes[lg],
            date_table[let_days[lg]],
            date,
            fx_text,
            np.where(fx, fx_cur, "").astype(object),
        )
        # the row loop runs in C (map/zip/join): ~5x faster than DataFrame.to_csv here
        fh.write("\n".join(map("\t".join, zip(*columns))))
        fh.write("\n")


def statement_file_name(end: datetime.date) -> str:
    """The bank statement of `end`: statement_<YYYYMMDD>.camt053.xml."""
    return f"statement_{end:%Y%m%d}.camt053.xml"


def _write_statement(path: Path, receipts: _Receipts, profiles: pd.DataFrame,
                     end: datetime.date, seed: int) -> int:
    """The CAMT.053 statement of `end` for our account: the customer receipts of the day plus
    a few lines that are not customer payments; returns the number of entries."""
    rng = np.random.default_rng([seed, 3])
    n_cust = len(profiles)
    # per customer: how its bank spells the payer, whether the bank passes the payer's account
    name_style = rng.choice(4, size=n_cust, p=(0.35, 0.30, 0.20, 0.15))
    known = profiles["iban"].to_numpy(dtype=object) != ""
    shows_account = rng.random(n_cust) < np.where(known, 0.85, 0.5)

    r = receipts
    n = r.customer.size
    c = r.customer
    currency = profiles["currency"].to_numpy(dtype=object)[c]
    payer = _bank_payer_names(profiles["name"].to_numpy(dtype=object)[c],
                              profiles["_legal_form"].to_numpy(dtype=object)[c], name_style[c])
    payer_iban = np.where(shows_account[c], profiles["_iban"].to_numpy(dtype=object)[c], "")
    first_invoice = np.array([inv[0] for inv in r.invoices], dtype=object)
    u_e2e = rng.random(n)
    payer_ids = np.array([f"PAY{x:012d}" for x in rng.integers(0, 10 ** 12, n)], dtype=object)
    e2e = np.where(u_e2e < 0.4, "NOTPROVIDED", np.where(u_e2e < 0.65, first_invoice, payer_ids))
    # a structured reference instead of free text (payers whose system pays invoices in full)
    structured = (rng.random(n) < 0.15) & (r.kind == 0)
    entries = []
    for k in range(n):                    # one day's receipts: a few per hundred customers
        fx = currency[k] != "EUR"
        entries.append({
            "amount": int(r.amount[k]), "code": ("PMNT", "RCDT", "XBCT" if fx else "ESCT"),
            "info": "VIREMENT INTERNATIONAL RECU" if fx else "VIREMENT SEPA RECU",
            "e2e": e2e[k], "payer": payer[k], "payer_iban": payer_iban[k],
            "ustrd": None if structured[k] else r.label[k],
            "strd": r.invoices[k] if structured[k] else None,
            "instructed": (int(r.amount_fx[k]), currency[k], _FX_RATES[currency[k]]) if fx
            else None,
        })
    entries = [entries[k] for k in rng.permutation(n)]
    # not customer payments: interest, a supplier's refund, and the month's bank fees (a debit)
    supplier = _pick(rng, ("ORANGE BUSINESS SERVICES", "EDF ENTREPRISES", "LYRECO FRANCE",
                           "MANUTAN SA", "BUREAU VALLEE"), 1)[0]
    refund = {
        "amount": int(rng.integers(45_00, 1_800_00)), "code": ("PMNT", "RCDT", "ESCT"),
        "info": "VIREMENT SEPA RECU", "e2e": "NOTPROVIDED", "payer": supplier,
        "payer_iban": _fake_ibans(rng, np.array(["FR"], dtype=object))[0],
        "ustrd": f"REMBOURSEMENT TROP PERCU CDE 45{int(rng.integers(0, 10 ** 8)):08d}",
        "strd": None, "instructed": None,
    }
    interest = {
        "amount": int(rng.integers(8_00, 180_00)), "code": ("ACMT", "MCOP", "INTR"),
        "info": "INTERETS CREDITEURS", "e2e": None, "payer": None, "payer_iban": "",
        "ustrd": f"INTERETS CREDITEURS AU {end:%d/%m/%Y}", "strd": None, "instructed": None,
    }
    for extra in (refund, interest):
        entries.insert(int(rng.integers(0, len(entries) + 1)), extra)
    entries.append({
        "amount": -int(rng.integers(12_00, 65_00)), "code": ("ACMT", "MDOP", "CHRG"),
        "info": "COMMISSIONS ET FRAIS", "e2e": None, "payer": None, "payer_iban": "",
        "ustrd": f"FRAIS TENUE DE COMPTE {end:%m/%Y}", "strd": None, "instructed": None,
    })
    opening = int(rng.integers(60_000_00, 400_000_00))

    document = _camt053(entries, opening, end)
    ET.indent(document, space="  ")
    path.write_bytes(b'<?xml version="1.0" encoding="UTF-8"?>\n'
                     + ET.tostring(document, encoding="utf-8", xml_declaration=False) + b"\n")
    return len(entries)


def _bank_payer_names(names: np.ndarray, forms: np.ndarray, style: np.ndarray) -> np.ndarray:
    """The payer's name as its bank transmits it. Style 0: as in our master; 1: upper case
    without accents, cut at 35 characters; 2: the same without the legal form; 3: the legal
    form first ("SARL BOULANGERIE MARTIN")."""
    def plain(values):
        return (pd.Series(values, dtype=object).str.normalize("NFKD").str.encode("ascii", "ignore")
                .str.decode("ascii").str.upper().to_numpy(dtype=object))

    upper, form = plain(names), plain(forms)
    stem = np.array([u[: len(u) - len(f)].rstrip() if f and u.endswith(" " + f) else u
                     for u, f in zip(upper, form)], dtype=object)
    bank = np.select([style == 1, style == 2], [upper, stem], form + " " + stem)
    bank = np.array([b[:35].rstrip() for b in bank], dtype=object)
    return np.where(style == 0, names, bank).astype(object)


def _amount_text(cents: int) -> str:
    return f"{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _camt053(entries: list[dict], opening: int, end: datetime.date) -> ET.Element:
    """A camt.053.001.02 Document: one statement of our account with its entries."""
    def sub(parent, tag, text=None, **attrib):
        el = ET.SubElement(parent, tag, attrib)
        if text is not None:
            el.text = text
        return el

    def codes(parent, domain, family, sub_family):
        tx = sub(parent, "BkTxCd")
        d = sub(tx, "Domn")
        sub(d, "Cd", domain)
        f = sub(d, "Fmly")
        sub(f, "Cd", family)
        sub(f, "SubFmlyCd", sub_family)

    def balance(parent, code, cents):
        bal = sub(parent, "Bal")
        sub(sub(sub(bal, "Tp"), "CdOrPrtry"), "Cd", code)
        sub(bal, "Amt", _amount_text(cents), Ccy="EUR")
        sub(bal, "CdtDbtInd", "CRDT" if cents >= 0 else "DBIT")
        sub(sub(bal, "Dt"), "Dt", end.isoformat())

    day = f"{end:%Y%m%d}"
    created = f"{end.isoformat()}T06:30:00"
    credits = [e["amount"] for e in entries if e["amount"] > 0]
    debits = [-e["amount"] for e in entries if e["amount"] < 0]
    net = sum(credits) - sum(debits)

    doc = ET.Element("Document", xmlns=CAMT053_NAMESPACE)
    root = sub(doc, "BkToCstmrStmt")
    header = sub(root, "GrpHdr")
    sub(header, "MsgId", f"CAMT053-{day}-0001")
    sub(header, "CreDtTm", created)
    stmt = sub(root, "Stmt")
    sub(stmt, "Id", f"{day}-{BANK_ACCOUNT_IBAN[-13:]}")
    sub(stmt, "ElctrncSeqNb", str(end.timetuple().tm_yday))
    sub(stmt, "CreDtTm", created)
    period = sub(stmt, "FrToDt")
    sub(period, "FrDtTm", f"{end.isoformat()}T00:00:00")
    sub(period, "ToDtTm", f"{end.isoformat()}T23:59:59")
    account = sub(stmt, "Acct")
    sub(sub(account, "Id"), "IBAN", BANK_ACCOUNT_IBAN)
    sub(account, "Ccy", "EUR")
    sub(sub(sub(account, "Svcr"), "FinInstnId"), "BIC", BANK_BIC)
    balance(stmt, "OPBD", opening)
    balance(stmt, "CLBD", opening + net)
    summary = sub(stmt, "TxsSummry")
    total = sub(summary, "TtlNtries")
    sub(total, "NbOfNtries", str(len(entries)))
    sub(total, "Sum", _amount_text(sum(credits) + sum(debits)))
    sub(total, "TtlNetNtryAmt", _amount_text(net))
    sub(total, "CdtDbtInd", "CRDT" if net >= 0 else "DBIT")
    for tag, amounts in (("TtlCdtNtries", credits), ("TtlDbtNtries", debits)):
        part = sub(summary, tag)
        sub(part, "NbOfNtries", str(len(amounts)))
        sub(part, "Sum", _amount_text(sum(amounts)))

    for k, e in enumerate(entries, start=1):
        ntry = sub(stmt, "Ntry")
        sub(ntry, "Amt", _amount_text(e["amount"]), Ccy="EUR")
        sub(ntry, "CdtDbtInd", "CRDT" if e["amount"] > 0 else "DBIT")
        sub(ntry, "Sts", "BOOK")
        sub(sub(ntry, "BookgDt"), "Dt", end.isoformat())
        sub(sub(ntry, "ValDt"), "Dt", end.isoformat())
        sub(ntry, "AcctSvcrRef", f"BK{day}-{k:06d}")
        codes(ntry, *e["code"])
        tx = sub(sub(ntry, "NtryDtls"), "TxDtls")
        if e["e2e"] is not None:
            sub(sub(tx, "Refs"), "EndToEndId", e["e2e"])
        if e["instructed"] is not None:
            amount_fx, cur, fx_rate = e["instructed"]
            instructed = sub(sub(tx, "AmtDtls"), "InstdAmt")
            sub(instructed, "Amt", _amount_text(amount_fx), Ccy=cur)
            xchg = sub(instructed, "CcyXchg")
            sub(xchg, "SrcCcy", cur)
            sub(xchg, "TrgtCcy", "EUR")
            sub(xchg, "UnitCcy", cur)
            sub(xchg, "XchgRate", f"{fx_rate:.4f}")
        if e["payer"] is not None:
            parties = sub(tx, "RltdPties")
            sub(sub(parties, "Dbtr"), "Nm", e["payer"])
            if e["payer_iban"]:
                sub(sub(sub(parties, "DbtrAcct"), "Id"), "IBAN", e["payer_iban"])
        if e["ustrd"] or e["strd"]:
            remittance = sub(tx, "RmtInf")
            if e["ustrd"]:
                sub(remittance, "Ustrd", e["ustrd"][:140])
            for ref in e["strd"] or ():
                creditor_ref = sub(sub(remittance, "Strd"), "CdtrRefInf")
                sub(sub(sub(creditor_ref, "Tp"), "CdOrPrtry"), "Cd", "SCOR")
                sub(creditor_ref, "Ref", ref)
        sub(ntry, "AddtlNtryInf", e["info"])
    return doc


# --------------------------------------------------------------------------------------------
# small vectorized helpers
# --------------------------------------------------------------------------------------------
_CENTS = np.array([f",{c:02d}" for c in range(100)], dtype=object)


def _format_cents(cents: np.ndarray) -> np.ndarray:
    """Non-negative int cents -> '1234,50' (FEC decimal comma), without floats."""
    cents = np.asarray(cents, dtype=np.int64)
    return (cents // 100).astype(str).astype(object) + _CENTS[cents % 100]


def _normalized(weights) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    return w / w.sum()


def _pick(rng, words, size) -> np.ndarray:
    return np.asarray(words, dtype=object)[rng.integers(0, len(words), size=size)]


def _digits(rng, first_digits: str, length: int, size: int) -> np.ndarray:
    first = np.array(list(first_digits), dtype=object)[rng.integers(0, len(first_digits), size)]
    rest = rng.integers(0, 10 ** (length - 1), size=size)
    return first + np.char.zfill(rest.astype(str), length - 1).astype(object)


def _day(d: datetime.date) -> int:
    return (d - _EPOCH).days


def _weekday(day: np.ndarray) -> np.ndarray:
    return (day + 3) % 7   # 1970-01-01 was a Thursday; Monday = 0


def _next_weekday(day: np.ndarray) -> np.ndarray:
    wd = _weekday(day)
    return day + np.where(wd == 5, 2, np.where(wd == 6, 1, 0))


def _previous_weekday(day: np.ndarray) -> np.ndarray:
    wd = _weekday(day)
    return day - np.where(wd == 5, 1, np.where(wd == 6, 2, 0))


def _nearest_run(day: np.ndarray, run_day: np.ndarray, not_before: np.ndarray) -> np.ndarray:
    """The payment-run date (day `run_day` of a month, capped at its end) nearest to `day`,
    never before `not_before` (a run cannot pay an invoice not issued yet)."""
    d = day.astype("datetime64[D]")
    month = d.astype("datetime64[M]")

    def run_in(m):
        length = ((m + 1).astype("datetime64[D]") - m.astype("datetime64[D]")).astype(np.int64)
        return (m.astype("datetime64[D]") + (np.minimum(run_day, length) - 1)).astype(np.int64)

    this = run_in(month)
    after = np.where(this >= day, this, run_in(month + 1))
    before = np.where(this <= day, this, run_in(month - 1))
    nearest = np.where(day - before <= after - day, before, after)
    return np.where(nearest >= not_before, nearest, after)


def _year(day: np.ndarray) -> np.ndarray:
    return day.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _date_strings(day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 -> 'YYYYMMDD'."""
    iso = np.asarray(day, dtype=np.int64).astype("datetime64[D]").astype(str)
    return np.char.replace(iso, "-", "") if iso.size else iso


def _numbers(prefix: str, year: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """'FA2024-000123': a sequence per year in the order given (`rank` increasing)."""
    if not year.size:
        return np.array([], dtype=object)
    first = np.flatnonzero(np.r_[True, year[1:] != year[:-1]])
    seq = rank - np.repeat(rank[first], np.diff(np.r_[first, year.size])) + 1
    width = max(6, len(str(int(seq.max()))))
    return (prefix + year.astype(str).astype(object) + "-"
            + np.char.zfill(seq.astype(str), width).astype(object))


def _vat(ht: np.ndarray) -> np.ndarray:
    """VAT at 20 %, rounded half up to the cent, in integers."""
    return (ht * VAT_RATE_PERCENT + 50) // 100


def _to_eur(amount_fx: np.ndarray, rate: np.ndarray) -> np.ndarray:
    # rate 1.0 for EUR: exact for any amount below 2**53 cents
    return np.floor(amount_fx * rate + 0.5).astype(np.int64)


def _take(value, idx):
    return value[idx] if isinstance(value, np.ndarray) else value


# IBAN layouts (ISO 13616): per country, real bank codes and the count of random digits after
# them; IT starts with a check letter (CIN); FR and BE end with their national check digits.
_IBAN_LAYOUTS = {
    "FR": (("30004", "30003", "30002", "10278", "30066", "20041", "11306", "17515"), 16),
    "BE": (("001", "068", "310", "734", "063"), 7),
    "DE": (("10070000", "37040044", "50010517", "70150000", "20050550"), 10),
    "ES": (("2100", "0049", "0182", "0081", "2085"), 16),
    "IT": (("03069", "02008", "05034", "03062"), 17),
    "NL": (("ABNA", "RABO", "INGB", "TRIO"), 10),
    "GB": (("BARC", "HBUK", "LOYD", "NWBK"), 14),
    "CH": (("00230", "04835", "00700", "08390"), 12),
}


def _fake_ibans(rng, country: np.ndarray) -> np.ndarray:
    """A syntactically valid IBAN (right length, valid check digits) per customer, in the
    customer's country; countries without a layout get a French one."""
    n = country.size
    out = np.empty(n, dtype=object)
    code = np.where(np.isin(country, list(_IBAN_LAYOUTS)), country, "FR").astype(object)
    for cc, (banks, digits) in _IBAN_LAYOUTS.items():   # draws in a fixed order: deterministic
        idx = np.flatnonzero(code == cc)
        if not idx.size:
            continue
        bank = _pick(rng, banks, idx.size)
        rest = _digits(rng, "0123456789", digits, idx.size)
        if cc == "IT":
            bank = _LETTERS[rng.integers(0, 26, idx.size)] + bank
        if cc == "FR":   # 5 bank + 5 branch + 11 account + 2 RIB key (digit-only accounts)
            whole = rest.astype(np.int64)                 # 16 digits < 2**63
            branch, account = whole // 10 ** 11, whole % 10 ** 11
            key = 97 - (89 * bank.astype(np.int64) + 15 * branch + 3 * account) % 97
            bban = bank + rest + np.char.zfill(key.astype(str), 2).astype(object)
        elif cc == "BE":   # 3 bank + 7 account + 2 check digits (mod 97 of the 10, 97 for 0)
            key = (bank + rest).astype(np.int64) % 97
            key = np.where(key == 0, 97, key)
            bban = bank + rest + np.char.zfill(key.astype(str), 2).astype(object)
        else:
            bban = bank + rest
        check = 98 - _mod97(bban + cc + "00")
        out[idx] = cc + np.char.zfill(check.astype(str), 2).astype(object) + bban
    return out


def _mod97(text: np.ndarray) -> np.ndarray:
    """ISO 7064 MOD 97-10 of upper-case alphanumeric strings (letters count as 10..35),
    column by column over the characters (all strings of one call have the same length)."""
    if not text.size:
        return np.zeros(0, np.int64)
    chars = np.frombuffer("".join(text).encode("ascii"), np.uint8).reshape(text.size, -1)
    r = np.zeros(text.size, np.int64)
    for col in chars.T.astype(np.int64):
        letter = col >= 65
        r = np.where(letter, r * 100 + col - 55, r * 10 + col - 48) % 97
    return r


_LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), dtype=object)


def _let_codes(g_cust, g_day, g_settled):
    """Lettering codes AA, AB, ... ZZ, AAA, ... per customer, in settlement order."""
    n = g_cust.size
    codes = np.full(n, "", dtype=object)
    idx = np.flatnonzero(g_settled)
    if not idx.size:
        return codes, g_settled
    o = idx[np.lexsort((idx, g_day[idx], g_cust[idx]))]
    c = g_cust[o]
    first = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    rank = np.arange(o.size) - np.repeat(first, np.diff(np.r_[first, o.size]))
    out = np.empty(o.size, dtype=object)
    offset, width = 0, 2
    while True:
        sel = (rank >= offset) & (rank < offset + 26 ** width)
        r = rank[sel] - offset
        code = np.full(r.size, "", dtype=object)
        for k in range(width):
            code = code + _LETTERS[(r // 26 ** (width - 1 - k)) % 26]
        out[sel] = code
        offset += 26 ** width
        if rank.max() < offset:
            break
        width += 1
    codes[o] = out
    return codes, g_settled


# --------------------------------------------------------------------------------------------
# registers: what the credit team recorded about the portfolio

def write_sample_registers(out_dir: Path, fec: Path, customers_csv: Path, end: datetime.date,
                           seed: int = 42) -> dict:
    """Write `disputes.csv`, `promises.csv` and `payment_plans.csv` as a credit team keeps them
    (scenarios/registers.py formats): a handful of rows on invoices overdue on `end`, chosen
    deterministically from the portfolio read back — disputes of every kind (one resolved),
    a promise on one invoice, a blanket promise, a promise already broken, and a payment plan.
    Returns the three paths."""
    from receivables.ledger.customers import read_customer_master
    from receivables.ledger.open_items import open_items
    from receivables.ledger.sources import read_ledger
    from receivables.scenarios.registers import REGISTERS

    customers = read_customer_master(Path(customers_csv)).customers
    items = open_items(read_ledger(Path(fec)).lines, customers, end)
    overdue = items[(items["item_type"] == "invoice") & (items["days_overdue"] > 5) & (items["currency"] == "EUR")]
    overdue = overdue.sort_values(["customer_id", "invoice_id"]).reset_index(drop=True)
    rng = np.random.default_rng(seed)
    by_customer = list(overdue.groupby("customer_id"))
    order = rng.permutation(len(by_customer))
    picked = [by_customer[k] for k in order[:9]]
    out_dir = Path(out_dir)

    def when(days: int) -> str:
        return (end + datetime.timedelta(days=days)).isoformat()

    def owed(frame: pd.DataFrame) -> str:
        return format_minor(int(frame["open_minor"].sum()), "EUR")

    disputes = [{"dispute_id": f"D-{k + 1:03d}", "customer_id": cid, "invoice_id": rows.iloc[0]["invoice_id"],
                 "reason_code": reason, "status": status, "opened_on": when(-12),
                 "resolved_on": when(-2) if status == "resolved" else "",
                 "note": f"{reason.replace('_', ' ')} reported by the customer"}
                for k, ((cid, rows), (reason, status)) in enumerate(zip(picked, (
                    ("quality", "open"), ("price", "investigating"), ("delivery", "open"),
                    ("duplicate_invoice", "resolved"))))]
    (c4, r4), (c5, r5), (c6, r6), (c7, r7) = picked[4:8]
    promises = [
        {"promise_id": "P-001", "customer_id": c4, "invoice_ids": r4.iloc[0]["invoice_id"], "made_on": when(-3),
         "promised_date": when(4), "amount": owed(r4.iloc[:1]), "note": "call: will pay next week"},
        {"promise_id": "P-002", "customer_id": c5, "invoice_ids": "", "made_on": when(-1), "promised_date": when(7),
         "amount": format_minor(int(r5["open_minor"].sum()) // 2, "EUR"), "note": "half the balance"},
        {"promise_id": "P-003", "customer_id": c6, "invoice_ids": " ".join(r6["invoice_id"]), "made_on": when(-20),
         "promised_date": when(-10), "amount": owed(r6), "note": "promised, not paid"},
    ]
    plans = [{"plan_id": "PP-001", "customer_id": c7, "invoice_ids": " ".join(r7["invoice_id"]), "total": owed(r7),
              "instalments": 3, "first_date": when(5), "frequency": "monthly", "status": "active",
              "agreed_on": when(0), "note": "three monthly instalments"}]
    paths = {}
    for name, rows_ in (("disputes", disputes), ("promises", promises), ("payment_plans", plans)):
        paths[name] = out_dir / f"{name}.csv"
        header = [f.name for f in REGISTERS[name][1]]
        with open(paths[name], "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header, restval="", lineterminator="\n")
            writer.writeheader()
            writer.writerows({"currency": "EUR", **row} if "currency" in header else row for row in rows_)
    return paths
