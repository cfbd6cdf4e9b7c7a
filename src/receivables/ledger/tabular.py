"""Open items from an aged-balance export (CSV or XLSX), described by a YAML column mapping.

Many accounting systems cannot produce a FEC but can all export a "balance âgée": one row per
open invoice or credit note, with the customer, the invoice number and date, often the due date,
and the amount still open. A mapping file says how to read such an export:

    # include/mappings/aged_balance_example.yaml
    format: csv
    separator: ";"
    decimal: ","
    thousands: " "
    date_format: "%d/%m/%Y"
    skip_rows: 2                    # report title lines above the header
    columns:                        # our field: the export's header
      customer_id: Code client
      invoice_id: N° facture
      invoice_date: Date facture
      due_date: Échéance
      amount: Solde                 # open amount: positive invoice, negative credit

    read = read_open_items(Path("balance.csv"), load_mapping(Path("aged_balance_example.yaml")))

Each row becomes one normalized ledger line (schema.LINE_COLUMNS): account `411000` (the
mapping's `account`), aux_account the customer id, piece_ref and entry_num the invoice id,
journal `AGB`, entry_date = piece_date the invoice date, a positive amount as debit and a
negative one as credit, `let_code` "" (everything in an aged balance is open), `currency` the
row's currency or the ledger currency. An aged-balance line has no counterpart: AGB entries are
single-sided and do not balance, by nature.

A row that cannot be used becomes one quarantine record (QUARANTINE_COLUMNS) with the first
problem as its field and reason code, and the others listed in its reason: wrong_field_count,
missing_customer_id, missing_invoice_id, unknown_currency (not ISO 4217), missing_amount,
bad_amount, missing_invoice_date, bad_date (impossible or not in `date_format`, invoice or due
date), due_before_invoice, unknown_customer (not in `known_customers`, when given),
duplicate_invoice (the same customer and invoice id on an earlier usable line; the first wins).
`original_amount`, when mapped, is checked (its problems go to `meta["warnings"]`) but the
normalized schema has no column for it yet.

Amounts are exact (`amounts.parse_amounts`, in the row currency's exponent); XLSX number cells
are floats, converted by `round(x * 10**exponent)` only when they have no more decimals than the
currency allows (`amounts.floats_to_minor`). Dates follow `date_format` exactly
(`dates.parse_dates`); XLSX date cells are used as they are.

When *no* value of the amount column (or of the invoice date column) can be read, the mapping
does not describe the file (wrong decimal mark, wrong date format): that stops the read with a
`LedgerFormatError` rather than quarantining every row.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import yaml

from receivables.ledger.amounts import DECIMAL_MARKS, THOUSANDS_SEPARATORS, cells_to_minor, parse_amounts
from receivables.ledger.dates import cells_to_dates, parse_dates
from receivables.ledger.schema import (
    LINE_COLUMNS,
    QUARANTINE_COLUMNS,
    RECEIVABLE_ACCOUNT_PREFIX,
    LedgerFormatError,
    LedgerRead,
    conform,
)
from receivables.ledger.rowchecks import RowChecks
from receivables.ledger.textfile import (
    SEPARATORS,
    RawTable,
    clean_cells,
    locate_columns,
    read_delimited,
    read_xlsx,
    select_columns,
)
from receivables.money import ISO_4217, exponent

REQUIRED_FIELDS = ("customer_id", "invoice_id", "invoice_date", "amount")
OPTIONAL_FIELDS = ("customer_name", "due_date", "currency", "original_amount", "label")
JOURNAL_CODE = "AGB"
JOURNAL_LABEL = "Aged balance import"
DEFAULT_ACCOUNT = "411000"
_KEYS = ("format", "sheet", "separator", "encoding", "decimal", "thousands", "date_format",
         "skip_rows", "columns", "account", "description")


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file and the key."""

    def __init__(self, source: str, key: str | None, message: str):
        self.source, self.key = source, key
        where = f"{source}, key {key!r}" if key else source
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class TabularMapping:
    """How to read one kind of aged-balance export (see the module docstring)."""

    columns: dict[str, str]              # our field -> the export's header name
    format: str = "csv"                  # csv | xlsx
    sheet: str | int | None = None       # xlsx: sheet name or 0-based index; None: the first
    separator: str | None = None         # csv: None sniffs it from the header line
    encoding: str | None = None          # csv: None sniffs (UTF-8 with/without BOM, else CP1252)
    decimal: str = "."
    thousands: str | None = None
    date_format: str = "%Y-%m-%d"
    skip_rows: int = 0                   # lines (csv) or rows (xlsx) above the header
    account: str = DEFAULT_ACCOUNT
    source: str = ""                     # the mapping file's name, for messages
    description: str = ""


def read_yaml_mapping(path: Path) -> object:
    """The content of a YAML mapping file; an unreadable file raises `MappingError` naming it."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(path.name, None, f"cannot read the file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise MappingError(path.name, None, f"not valid YAML: {exc}") from None


def load_mapping(path: Path) -> TabularMapping:
    """Read and validate a YAML mapping file; a problem raises `MappingError` naming the key."""
    return mapping_from_dict(read_yaml_mapping(path), source=Path(path).name)


def mapping_from_dict(data: object, *, source: str = "<mapping>") -> TabularMapping:
    """Validate a mapping given as a dict (what `load_mapping` reads from YAML)."""
    if not isinstance(data, dict):
        raise MappingError(source, None, "expected a mapping of keys (format, columns, ...)")
    unknown = [k for k in data if k not in _KEYS]
    if unknown:
        raise MappingError(source, str(unknown[0]), f"unknown key; the keys are {', '.join(_KEYS)}")

    fmt = data.get("format")
    if fmt not in ("csv", "xlsx"):
        raise MappingError(source, "format", f"must be csv or xlsx, not {fmt!r}")
    options: dict = {"format": fmt, "source": source}

    if "sheet" in data and data["sheet"] is not None:
        sheet = data["sheet"]
        if fmt != "xlsx":
            raise MappingError(source, "sheet", "only an xlsx mapping has a sheet")
        if isinstance(sheet, bool) or not isinstance(sheet, (str, int)) or (isinstance(sheet, int) and sheet < 0):
            raise MappingError(source, "sheet", f"must be a sheet name or a 0-based number, not {sheet!r}")
        options["sheet"] = sheet

    for key in ("separator", "encoding"):
        if data.get(key) not in (None, "", "auto") and fmt != "csv":
            raise MappingError(source, key, "only a csv mapping has a separator or an encoding")
    separator = data.get("separator")
    if separator not in (None, "", "auto"):
        if not isinstance(separator, str) or len(separator) != 1:
            examples = " ".join(map(repr, SEPARATORS))
            raise MappingError(source, "separator", f"must be one character (e.g. {examples}) or auto, not {separator!r}")
        options["separator"] = separator
    options.update(text_read_options(data, source))

    account = str(data.get("account", DEFAULT_ACCOUNT))
    if not account.startswith(RECEIVABLE_ACCOUNT_PREFIX):
        raise MappingError(
            source, "account", f"must be a customer account ({RECEIVABLE_ACCOUNT_PREFIX}...), not {account!r}"
        )
    options["account"] = account
    options["description"] = str(data.get("description") or "")

    columns = data.get("columns")
    if not isinstance(columns, dict):
        raise MappingError(source, "columns", "must map our fields to the export's header names")
    for ours, theirs in columns.items():
        if ours not in REQUIRED_FIELDS + OPTIONAL_FIELDS:
            fields = ", ".join(REQUIRED_FIELDS + OPTIONAL_FIELDS)
            raise MappingError(source, f"columns.{ours}", f"unknown field; the fields are {fields}")
        if not isinstance(theirs, str) or not theirs.strip():
            raise MappingError(source, f"columns.{ours}", "must be the export's header name (text)")
    missing = [name for name in REQUIRED_FIELDS if name not in columns]
    if missing:
        raise MappingError(source, f"columns.{missing[0]}", f"required field(s) {', '.join(missing)} not mapped")
    options["columns"] = {ours: theirs.strip() for ours, theirs in columns.items()}
    return TabularMapping(**options)


def default_mapping(fmt: str = "csv") -> TabularMapping:
    """The mapping for an export already in our own terms, used when no mapping file is given:
    headers named like our fields (customer_id, invoice_id, invoice_date, amount, and any of
    the optional ones), amounts with a decimal point and no grouping (`1234.50`, the contract's
    format), ISO dates; encoding and separator sniffed."""
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"no default mapping for format {fmt!r} (csv or xlsx)")
    columns = {name: name for name in REQUIRED_FIELDS + OPTIONAL_FIELDS}
    return TabularMapping(columns=columns, format=fmt, decimal=".", date_format="%Y-%m-%d",
                          source="the default mapping (our field names)")


def text_read_options(data: dict, source: str) -> dict:
    """The reading options every tabular mapping shares (encoding, decimal, thousands,
    date_format, skip_rows), validated; a bad value raises `MappingError` naming its key."""
    options: dict = {}
    encoding = data.get("encoding")
    if encoding not in (None, "", "auto"):
        try:
            codecs.lookup(str(encoding))
        except LookupError:
            raise MappingError(
                source, "encoding", f"unknown encoding {encoding!r} (e.g. utf-8, cp1252, auto)"
            ) from None
        options["encoding"] = str(encoding)

    decimal = data.get("decimal", ".")
    if decimal not in DECIMAL_MARKS:
        raise MappingError(source, "decimal", f"must be ',' or '.', not {decimal!r}")
    options["decimal"] = decimal
    thousands = data.get("thousands")
    if thousands not in (None, ""):
        if thousands not in THOUSANDS_SEPARATORS:
            choices = ", ".join(map(repr, THOUSANDS_SEPARATORS))
            raise MappingError(source, "thousands", f"must be one of {choices} or empty, not {thousands!r}")
        if thousands == decimal:
            raise MappingError(source, "thousands", f"is the same as decimal ({decimal!r})")
        options["thousands"] = thousands

    date_format = data.get("date_format", "%Y-%m-%d")
    if not _date_format_round_trips(date_format):
        raise MappingError(source, "date_format", f"{date_format!r} is not a strftime date format (e.g. '%d/%m/%Y')")
    options["date_format"] = date_format

    skip_rows = data.get("skip_rows", 0)
    if isinstance(skip_rows, bool) or not isinstance(skip_rows, int) or skip_rows < 0:
        raise MappingError(source, "skip_rows", f"must be a whole number >= 0, not {skip_rows!r}")
    options["skip_rows"] = skip_rows
    return options

def _date_format_round_trips(fmt: object) -> bool:
    """True when `fmt` writes and reads back a day, a month and a year."""
    if not isinstance(fmt, str) or "%" not in fmt:
        return False
    sample = date(2024, 1, 31)
    try:
        return datetime.strptime(sample.strftime(fmt), fmt).date() == sample
    except ValueError:
        return False


# -- reading ------------------------------------------------------------------------------------

def read_open_items(
    path: Path,
    mapping: TabularMapping,
    *,
    ledger_currency: str = "EUR",
    known_customers: set[str] | None = None,
) -> LedgerRead:
    """Read an aged-balance export into normalized ledger lines and quarantine records."""
    path = Path(path)
    source = path.name
    if ledger_currency not in ISO_4217:
        raise ValueError(f"ledger_currency {ledger_currency!r} is not an ISO 4217 code")
    table = _read_table(path, mapping)
    positions = locate_columns(table, mapping.columns, required=REQUIRED_FIELDS, source=source)
    frame = select_columns(table, positions)
    spreadsheet = table.meta["format"] == "xlsx"
    for name in REQUIRED_FIELDS + OPTIONAL_FIELDS:
        if name not in frame:
            frame[name] = None

    text = {
        name: clean_cells(frame[name])
        for name in ("customer_id", "invoice_id", "customer_name", "label", "currency")
    }
    currency = text["currency"].str.upper().replace("", ledger_currency)

    def shown(name: str):
        """The cells of a column as written, quoted, for the failing rows only."""
        return lambda rows: "'" + clean_cells(frame.loc[rows, name]) + "'"

    # Reasons are callables evaluated on the failing rows only: building a sentence for every
    # row of a 100k-row export to keep a handful would be most of the reading time.
    checks = RowChecks(frame.index)
    header_width = len(table.header)
    checks.add(~frame["width_ok"], "", "wrong_field_count", lambda rows: (
        "the line has " + frame.loc[rows, "width"].astype(str)
        + f" cells where the header has {header_width}: a separator inside an unquoted cell?"))
    checks.add(text["customer_id"] == "", "customer_id", "missing_customer_id", "no customer id")
    checks.add(text["invoice_id"] == "", "invoice_id", "missing_invoice_id", "no invoice number")
    known_currency = currency.isin(ISO_4217)
    checks.add(~known_currency, "currency", "unknown_currency", lambda rows: (
        "unknown currency code " + shown("currency")(rows) + " (expected ISO 4217, e.g. EUR)"))

    amount, amount_bad = _amounts(frame["amount"], currency, known_currency, mapping, spreadsheet)
    amount_empty = amount.isna() & ~amount_bad
    _stop_if_none_readable(amount_bad, known_currency & ~amount_empty, frame, source, mapping, "amount",
                           f"decimal {mapping.decimal!r} and thousands {mapping.thousands!r}")
    checks.add(known_currency & amount_empty, "amount", "missing_amount", "no open amount")
    checks.add(amount_bad, "amount", "bad_amount", lambda rows: (
        shown("amount")(rows) + " is not an amount with at most "
        + currency[rows].map(exponent).astype(str) + f" decimals (decimal mark {mapping.decimal!r})"))

    invoice_date, invoice_date_bad = _dates(frame["invoice_date"], mapping, spreadsheet)
    invoice_date_given = clean_cells(frame["invoice_date"]) != ""
    _stop_if_none_readable(invoice_date_bad, invoice_date_given, frame, source, mapping, "invoice_date",
                           f"date_format {mapping.date_format!r}")
    expected = _human_format(mapping.date_format)
    checks.add(~invoice_date_given, "invoice_date", "missing_invoice_date", "no invoice date")
    checks.add(invoice_date_bad, "invoice_date", "bad_date", lambda rows: (
        "invoice date " + shown("invoice_date")(rows) + f" is not a valid date (expected {expected})"))
    due_date, due_date_bad = _dates(frame["due_date"], mapping, spreadsheet)
    checks.add(due_date_bad, "due_date", "bad_date", lambda rows: (
        "due date " + shown("due_date")(rows) + f" is not a valid date (expected {expected})"))
    checks.add((due_date < invoice_date).fillna(False), "due_date", "due_before_invoice", lambda rows: (
        "due date " + shown("due_date")(rows) + " is before the invoice date " + shown("invoice_date")(rows)))
    if known_customers is not None:
        checks.add((text["customer_id"] != "") & ~text["customer_id"].isin(set(known_customers)),
                   "customer_id", "unknown_customer", lambda rows: (
                       "customer " + shown("customer_id")(rows) + " is not in the customer master"))

    # Duplicates among otherwise usable rows, so the line a duplicate points to is loaded.
    usable = ~checks.failed
    key = (text["customer_id"] + "\x1f" + text["invoice_id"]).where(usable)
    duplicate = usable & key.duplicated(keep="first")
    first_line = frame["line_no"].where(usable).groupby(key).transform("min")
    checks.add(duplicate, "invoice_id", "duplicate_invoice", lambda rows: (
        "invoice " + shown("invoice_id")(rows) + " of customer " + shown("customer_id")(rows)
        + " is already listed on line " + first_line[rows].astype("int64").astype(str)
        + "; this line is ignored"))

    _, original_bad = _amounts(frame["original_amount"], currency, known_currency, mapping, spreadsheet)
    warnings = [
        {"line": int(line), "field": "original_amount",
         "reason": f"{value} is not an amount; the original amount is ignored"}
        for line, value in zip(frame.loc[original_bad, "line_no"], shown("original_amount")(original_bad))
    ]

    ok = ~checks.failed
    signed = amount.fillna(0).astype("int64")
    lines = pd.DataFrame({
        "source_file": source,
        "line_no": frame["line_no"],
        "journal_code": JOURNAL_CODE,
        "journal_lib": JOURNAL_LABEL,
        "entry_num": text["invoice_id"],
        "entry_date": invoice_date,
        "account": mapping.account,
        "aux_account": text["customer_id"],
        "aux_label": text["customer_name"],
        "piece_ref": text["invoice_id"],
        "piece_date": invoice_date,
        "label": text["label"],
        "debit_minor": signed.clip(lower=0),
        "credit_minor": (-signed).clip(lower=0),
        "let_code": "",
        "due_date": due_date,
        "currency": currency,
    })[ok]
    quarantine = checks.records(frame, source)
    read = LedgerRead(
        lines=conform(lines, LINE_COLUMNS),
        quarantine=conform(quarantine, QUARANTINE_COLUMNS),
        rows_read=len(table),
        meta={**table.meta, "mapping": mapping.source, "header_line": table.header_line,
              "source_kind": "aged_balance", "warnings": warnings},
    )
    read.check_conservation()
    return read


def _read_table(path: Path, mapping: TabularMapping) -> RawTable:
    if mapping.format == "xlsx":
        return read_xlsx(path, sheet=mapping.sheet, skip_rows=mapping.skip_rows)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LedgerFormatError(path.name, None, f"cannot read the file: {exc.strerror}") from None
    if data.startswith(b"PK\x03\x04"):
        raise LedgerFormatError(path.name, None, f"is a spreadsheet (XLSX) but the mapping {mapping.source} says csv")
    return read_delimited(data, path.name, encoding=mapping.encoding, separator=mapping.separator,
                          skip_rows=mapping.skip_rows)


def _amounts(cells: pd.Series, currency: pd.Series, known: pd.Series, mapping: TabularMapping,
             spreadsheet: bool) -> tuple[pd.Series, pd.Series]:
    """Amount cells to minor units, each in its row currency's exponent (one pass per exponent)."""
    minor = pd.Series(pd.array([pd.NA] * len(cells), dtype="Int64"), index=cells.index)
    bad = pd.Series(False, index=cells.index)
    exponents = currency.map(exponent)
    for exp in exponents[known].unique():
        rows = known & (exponents == exp)
        if spreadsheet:
            m, b = cells_to_minor(cells[rows], mapping.decimal, mapping.thousands, int(exp))
        else:
            m, b = parse_amounts(cells[rows], mapping.decimal, mapping.thousands, int(exp))
        minor[rows] = m.to_numpy()
        bad[rows] = b.to_numpy()
    return minor, bad


def _dates(cells: pd.Series, mapping: TabularMapping, spreadsheet: bool) -> tuple[pd.Series, pd.Series]:
    if spreadsheet:
        return cells_to_dates(cells, mapping.date_format)
    return parse_dates(cells, mapping.date_format)


def _stop_if_none_readable(bad: pd.Series, present: pd.Series, frame: pd.DataFrame, source: str,
                           mapping: TabularMapping, name: str, setting: str) -> None:
    """More than one value and not one readable: the mapping does not describe this file."""
    if present.sum() > 1 and bad[present].all():
        column = mapping.columns[name]
        first = int(frame.loc[present, "line_no"].iloc[0])
        which = f"the mapping {mapping.source}" if mapping.source else "the mapping"
        raise LedgerFormatError(
            source, first,
            f"none of the {int(present.sum())} values of column {column!r} ({name}) can be read with "
            f"{setting}: does {which} describe this file?",
        )


def _human_format(fmt: str) -> str:
    out = fmt
    for directive, shown in (("%d", "DD"), ("%m", "MM"), ("%Y", "YYYY"), ("%y", "YY"), ("%H", "hh"),
                             ("%M", "mm"), ("%S", "ss"), ("%b", "Mon"), ("%B", "Month")):
        out = out.replace(directive, shown)
    return out
