"""The customer master (DESIGN.md, "Contracts"): who the customers are and how to reach them.

    customer_id;name;country;language;email;phone;address;segment;strategic;payment_terms_days;opt_out_channels
    C001;Boulangerie Dupont;fr;FR;compta@dupont.fr;+33 1 23 45 67 89;"1 rue de la Paix
    75002 Paris";PME;non;45;sms letter

read_customer_master(Path("customers.csv")) gives customer C001 with country "FR", language
"fr", strategic False, payment_terms_days 45 and opt_out_channels "sms letter".

What is done with a row, by how much of it is usable:
  - a row that cannot be used at all is quarantined (`quarantine`, QUARANTINE_COLUMNS): no
    customer id, a customer id already defined on an earlier line (the first one wins), or a
    line with more or fewer cells than the header (an unquoted separator in an address: the
    cells no longer line up with their columns);
  - a bad optional field does not lose the customer: the field is blanked (unknown) and
    reported in `warnings` (dicts: line, customer_id, field, reason). Reminders to a customer
    with no language fall back to the default language; an unknown segment scores like "".

Normalization (all vectorized over the columns): cells stripped; `country` upper-cased, ISO
3166-1 alpha-2 (plus XK, Kosovo, as the EU uses it; `UK` and `EL`, the EU's VAT prefixes, read
as GB and GR); `language` lower-cased ISO 639-1 (`fr-FR`/`fr_FR` read as `fr`); `email` one
address or several separated by `,`/`;`, kept as written when each looks like an address;
`segment` upper-cased, one of SEGMENTS; `strategic` (and the optional `dunning_blocked`: no
reminder at all for that customer) true/false/1/0/yes/no/y/n/oui/non/o/vrai/faux
(French Excel writes VRAI/FAUX), empty is False; the optional `contact_hour` the local hour
(0-23, `14` or `14h`) the customer wants messages at, empty unknown; the optional `collector` the id
of who works the account (KPIs per collector; at most 100 characters, empty: nobody);
`payment_terms_days` an integer 0..365, empty
is <NA> (the configured default applies); `opt_out_channels` names separated by spaces, commas
or semicolons, each in CHANNELS, written back space-separated in CHANNELS order.

The file: CSV (or XLSX by its extension, first sheet), header on the first non-blank line,
encoding and separator sniffed (see `textfile`). Header names match ours exactly or ignoring
case; extra columns are ignored. A mapping renames source columns to ours, in the format of
the open-items mappings (`tabular.load_mapping`): `{"columns": {"customer_id": "Code client",
...}}` (a flat `{"customer_id": "Code client"}` is accepted too), plus optional `encoding`,
`separator`, `sheet` and `skip_rows`.

Line numbers are physical lines (header = 1), counted by the CSV reader, so a quoted address on
two lines shifts the following records as it should; for XLSX they are worksheet row numbers.
`rows_read` counts records (blank lines are not records): rows_read == customers + quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from receivables.ledger.schema import (
    CHANNELS,
    CUSTOMER_COLUMNS,
    MAX_COLLECTOR_LENGTH,
    REQUIRED_CUSTOMER_COLUMNS,
    QUARANTINE_COLUMNS,
    SEGMENTS,
    LedgerFormatError,
    conform,
    empty_customers,
    empty_quarantine,
)
from receivables.ledger.textfile import (
    RawTable,
    clean_cells,
    locate_columns,
    read_delimited,
    read_xlsx,
    select_columns,
)

# ISO 3166-1 alpha-2, officially assigned codes, plus XK (Kosovo: user-assigned, used by the EU).
COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR
    BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC
    EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK
    HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB
    LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
    NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU
    RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN
    TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK""".split()
)
COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}  # the EU's VAT prefixes for the United Kingdom, Greece

# ISO 639-1 (two-letter) language codes.
LANGUAGES = frozenset(
    """aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da
    de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz
    ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln
    lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi
    pl ps pt qu rm rn ro ru rw sa sc sd se sg sh si sk sl sm sn so sq sr ss st su sv sw ta te tg th
    ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu""".split()
)

TRUE_WORDS = frozenset({"true", "1", "yes", "y", "oui", "o", "vrai"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "non", "faux"})
MAX_TERMS_DAYS = 365

_EMAIL = r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+"
_EMAILS = rf"{_EMAIL}(?:\s*[,;]\s*{_EMAIL})*"
_TEXT_FIELDS = ("customer_id", "name", "country", "language", "email", "phone", "address",
                "segment", "strategic", "payment_terms_days", "opt_out_channels")


@dataclass
class CustomerRead:
    """What the customer master gave: usable customers, unusable rows, blanked fields."""

    customers: pd.DataFrame = field(default_factory=empty_customers)    # CUSTOMER_COLUMNS
    quarantine: pd.DataFrame = field(default_factory=empty_quarantine)  # QUARANTINE_COLUMNS
    rows_read: int = 0
    warnings: list[dict] = field(default_factory=list)  # {line, customer_id, field, reason}
    meta: dict = field(default_factory=dict)            # format, encoding, separator, sheet

    def check_conservation(self) -> None:
        if self.rows_read != len(self.customers) + len(self.quarantine):
            raise AssertionError(
                f"row count not conserved: read {self.rows_read}, loaded {len(self.customers)}, "
                f"quarantined {len(self.quarantine)}"
            )


def read_customer_master(path: Path, *, mapping: dict | None = None) -> CustomerRead:
    """Read and normalize a customer master CSV/XLSX (module docstring)."""
    path = Path(path)
    source = path.name
    columns, options = _split_mapping(mapping)
    table = _read_table(path, options)
    positions = locate_columns(table, columns, required=REQUIRED_CUSTOMER_COLUMNS, source=source)
    frame = select_columns(table, positions)
    for name in _TEXT_FIELDS:
        frame[name] = clean_cells(frame[name])

    if "iban" in frame:   # optional: compared without spaces, upper case
        frame["iban"] = frame["iban"].fillna("").astype(str).str.upper().str.replace(r"\s+", "", regex=True)
    if "collector" in frame:   # optional: an id, compared as written
        frame["collector"] = clean_cells(frame["collector"])
    frame, quarantine = _quarantine_unusable(frame, source, len(table.header))
    frame, warnings = _normalize_fields(frame)
    read = CustomerRead(
        customers=conform(frame, CUSTOMER_COLUMNS),
        quarantine=quarantine,
        rows_read=len(table),
        warnings=warnings,
        meta=table.meta,
    )
    read.check_conservation()
    return read


# -- reading ------------------------------------------------------------------------------------

def _split_mapping(mapping: dict | None) -> tuple[dict[str, str], dict]:
    """Our field -> source header name for every field, and the reading options."""
    mapping = dict(mapping or {})
    if "columns" in mapping:
        renames = dict(mapping.pop("columns") or {})
        options = mapping
    else:
        options = {k: mapping.pop(k) for k in ("encoding", "separator", "sheet", "skip_rows", "format") if k in mapping}
        renames = mapping
    unknown = sorted(set(renames) - set(CUSTOMER_COLUMNS))
    if unknown:
        raise ValueError(
            f"customer mapping: unknown field(s) {', '.join(map(repr, unknown))}; "
            f"the fields are {', '.join(CUSTOMER_COLUMNS)}"
        )
    for ours, theirs in renames.items():
        if not isinstance(theirs, str) or not theirs.strip():
            raise ValueError(f"customer mapping: the column for {ours!r} must be a non-empty header name")
    columns = {name: renames.get(name, name) for name in CUSTOMER_COLUMNS}
    return columns, options


def _read_table(path: Path, options: dict) -> RawTable:
    skip_rows = int(options.get("skip_rows") or 0)
    kind = options.get("format") or ("xlsx" if path.suffix.lower() in (".xlsx", ".xlsm") else "csv")
    if kind == "xlsx":
        return read_xlsx(path, sheet=options.get("sheet"), skip_rows=skip_rows)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LedgerFormatError(path.name, None, f"cannot read the file: {exc.strerror}") from None
    return read_delimited(
        data, path.name, encoding=options.get("encoding"), separator=options.get("separator"),
        skip_rows=skip_rows,
    )


# -- rows that cannot be used ------------------------------------------------------------------

def _quarantine_unusable(frame: pd.DataFrame, source: str, header_width: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = frame["customer_id"]
    wrong_width = ~frame["width_ok"]
    missing_id = ~wrong_width & (ids == "")
    candidates = ~wrong_width & ~missing_id
    # Duplicates among usable rows only: the first usable definition of an id wins.
    duplicate = candidates & ids.where(candidates).duplicated(keep="first")
    first_line = frame["line_no"].where(candidates).groupby(ids.where(candidates)).transform("min")

    reasons = pd.DataFrame(index=frame.index, columns=["field", "reason_code", "reason"], dtype=object)
    reasons.loc[wrong_width, ["field", "reason_code"]] = ["", "wrong_field_count"]
    reasons.loc[wrong_width, "reason"] = (
        "the line has " + frame.loc[wrong_width, "width"].astype(str) + " cells where the header has "
        + str(header_width) + ": a separator or a line break inside an unquoted cell?"
        " The line is ignored."
    )
    reasons.loc[missing_id, ["field", "reason_code", "reason"]] = [
        "customer_id", "missing_customer_id", "no customer id: the line cannot be linked to the ledger and is ignored",
    ]
    reasons.loc[duplicate, ["field", "reason_code"]] = ["customer_id", "duplicate_customer_id"]
    reasons.loc[duplicate, "reason"] = (
        "customer id " + ids[duplicate] + " is already defined on line "
        + first_line[duplicate].astype("int64").astype(str) + "; this line is ignored"
    )
    bad = wrong_width | missing_id | duplicate
    quarantine = pd.DataFrame({
        "source_file": source,
        "line_no": frame.loc[bad, "line_no"],
        "field": reasons.loc[bad, "field"],
        "reason_code": reasons.loc[bad, "reason_code"],
        "reason": reasons.loc[bad, "reason"],
        "raw": frame.loc[bad, "raw"],
    })
    return frame.loc[~bad].reset_index(drop=True), conform(quarantine, QUARANTINE_COLUMNS)


# -- optional fields: blank and warn ------------------------------------------------------------

def _normalize_fields(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    problems: list[pd.DataFrame] = []

    def flag(mask: pd.Series, name: str, template: str, values: pd.Series | None = None) -> None:
        """Report the rows of `mask`; `template` gets each row's `value` (the cell as written)."""
        if mask.any():
            shown = (frame[name] if values is None else values)[mask]
            problems.append(pd.DataFrame({
                "line": frame.loc[mask, "line_no"],
                "customer_id": frame.loc[mask, "customer_id"],
                "field": name,
                "reason": [template.format(value=value) for value in shown],  # failing rows only
            }, index=shown.index))

    out = frame.copy()

    country = frame["country"].str.upper().replace(COUNTRY_ALIASES)
    bad = (country != "") & ~country.isin(COUNTRIES)
    flag(bad, "country", "unknown country code {value!r} (expected ISO 3166 two letters, e.g. FR); left blank")
    out["country"] = country.where(~bad, "")

    language = frame["language"].str.lower().str.split(r"[-_]", n=1, regex=True).str[0].fillna("")
    bad = (language != "") & ~language.isin(LANGUAGES)
    flag(bad, "language", "unknown language code {value!r} (expected ISO 639-1 two letters, e.g. fr); left blank")
    out["language"] = language.where(~bad, "")

    email = frame["email"]
    bad = (email != "") & ~email.str.fullmatch(_EMAILS).astype(bool)
    # the address itself stays out of the message: warnings end up in logs (DESIGN principle 5)
    flag(bad, "email", "not an email address (or a list of them separated by ';'); left blank")
    out["email"] = email.where(~bad, "")

    segment = frame["segment"].str.upper()
    bad = (segment != "") & ~segment.isin(SEGMENTS)
    flag(bad, "segment", "unknown segment {value!r} (expected one of " + ", ".join(SEGMENTS) + "); left blank")
    out["segment"] = segment.where(~bad, "")

    for name in ("strategic", "dunning_blocked"):   # dunning_blocked is optional
        if name not in frame:
            continue
        word = frame[name].fillna("").astype(str).str.lower()
        bad = (word != "") & ~word.isin(TRUE_WORDS | FALSE_WORDS)
        flag(bad, name, "not a yes/no value {value!r}; read as false")
        out[name] = word.isin(TRUE_WORDS)

    terms_text = frame["payment_terms_days"]
    is_number = terms_text.str.fullmatch(r"\d{1,4}").astype(bool)
    terms = pd.to_numeric(terms_text.where(is_number, None), errors="coerce").astype("Int64")
    bad = (terms_text != "") & (~is_number | (terms > MAX_TERMS_DAYS).fillna(False))
    flag(bad, "payment_terms_days", "payment terms {value!r} are not a number of days between 0 and "
         + f"{MAX_TERMS_DAYS}; the default terms apply")
    out["payment_terms_days"] = terms.where(~bad, pd.NA).astype("Int64")

    if "contact_hour" in frame:   # optional
        text = frame["contact_hour"].fillna("").astype(str).str.replace(r"\s*h(00)?$", "", regex=True)
        is_hour = text.str.fullmatch(r"\d{1,2}").astype(bool)
        hour = pd.to_numeric(text.where(is_hour, None), errors="coerce").astype("Int64")
        bad = (text != "") & (~is_hour | (hour > 23).fillna(False))
        flag(bad, "contact_hour", "contact hour {value!r} is not an hour from 0 to 23; the default hour applies")
        out["contact_hour"] = hour.where(~bad, pd.NA).astype("Int64")

    if "collector" in frame:   # optional
        bad = frame["collector"].str.len() > MAX_COLLECTOR_LENGTH
        flag(bad, "collector", f"a collector id longer than {MAX_COLLECTOR_LENGTH} characters; left blank",
             frame["collector"].str.slice(0, 20) + "...")
        out["collector"] = frame["collector"].where(~bad, "")

    out["opt_out_channels"], bad_channels = _normalize_channels(frame["opt_out_channels"])
    flag(bad_channels != "", "opt_out_channels",
         "unknown channel(s) {value} ignored (channels are " + ", ".join(CHANNELS) + ")", bad_channels)

    warnings: list[dict] = []
    if problems:
        found = pd.concat(problems).sort_values(["line"], kind="stable")
        found["line"] = found["line"].astype(int)
        warnings = found.to_dict("records")
    return out, warnings


def _normalize_channels(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """('sms, Letter', ...) -> ('sms letter', ...) in CHANNELS order, and the unknown names.

    One substring test per channel (there are four) instead of a per-row split and join."""
    padded = " " + text.str.lower().str.replace(r"[\s,;]+", " ", regex=True).str.strip() + " "
    out = pd.Series("", index=text.index, dtype=object)
    for name in CHANNELS:
        out = out + padded.str.contains(f" {name} ", regex=False).map({True: name + " ", False: ""})
    leftover = padded.str.replace(rf"(?<= )(?:{'|'.join(CHANNELS)})(?= )", "", regex=True).str.strip()
    unknown = pd.Series("", index=text.index, dtype=object)
    has_unknown = leftover != ""
    if has_unknown.any():  # only the rows at fault: list their unknown names
        unknown[has_unknown] = (
            leftover[has_unknown].str.split().map(lambda names: ", ".join(f"'{n}'" for n in dict.fromkeys(names)))
        )
    return out.str.rstrip(), unknown
