"""Bank statements exported as CSV, described by a YAML mapping, to normalized bank lines.

Banks' online exports are CSV files with their own headers, decimal comma, day-first dates and
often a title line above the header. A mapping file says how to read one bank's export:

    # include/mappings/bank_csv_example.yaml
    description: Export CSV "Télécharger mes opérations" (banque française)
    encoding: auto
    separator: ";"
    decimal: ","
    thousands: " "
    date_format: "%d/%m/%Y"
    skip_rows: 1                        # the title line above the header
    account: FR7630001007941234567890185
    currency: EUR                       # when the export has no currency column
    columns:                            # our field: the export's header
      booking_date: Date
      value_date: Date de valeur
      remittance: Libellé               # or a list of headers, joined with ' '
      debit: Débit                      # money out, whatever its sign in the file
      credit: Crédit                    # money in

    read = read_csv_statement(Path("operations.csv"), Path("bank_csv_example.yaml"))

The fields: booking_date (required), value_date, either `amount` (signed, credit positive) or
`debit` and `credit` (one column each, amount = credit - debit; a sign written in these
columns is ignored, since exports differ on it), currency, counterparty_name,
counterparty_account, ultimate_debtor, remittance, structured_ref, end_to_end_id,
bank_reference, transaction_code. The mapping may also be given as a dict of the same shape.

A CSV export is one statement: id `statement_id` from the mapping, a template with
`{account}`, `{first_date}`, `{last_date}` (ISO booking dates) and `{file}` (the file name
without extension), by default `{account}/{last_date}`; bank_line_id `<statement id>#<row>`,
the row being the 1-based data row of the file (quarantined rows keep their number). An
export has no balances: opening and closing are None.

A row that cannot be used is a quarantine record (QUARANTINE_COLUMNS) with its physical line,
the first problem as field and reason code and the others in its reason: wrong_field_count,
unknown_currency, missing_date, bad_date (booking or value date), missing_amount, bad_amount,
both_debit_and_credit, zero_amount. Amounts are exact (`ledger.amounts.parse_amounts`, in the
row currency's exponent), dates follow `date_format` exactly (`ledger.dates.parse_dates`).
When none of several values of the amount (or booking date) column can be read, the mapping
does not describe the file: that stops the read with a StatementFormatError naming the column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from receivables.bank.schema import (
    BANK_LINE_COLUMNS,
    Statement,
    StatementFormatError,
    StatementRead,
    check_balances,
)
from receivables.ledger.amounts import parse_amounts
from receivables.ledger.dates import parse_dates
from receivables.ledger.rowchecks import RowChecks
from receivables.ledger.tabular import MappingError, read_yaml_mapping, text_read_options
from receivables.ledger.schema import QUARANTINE_COLUMNS, LedgerFormatError, conform, empty_quarantine
from receivables.ledger.textfile import (
    SEPARATORS,
    clean_cells,
    locate_columns,
    read_delimited,
    select_columns,
)
from receivables.money import ISO_4217, exponent

TEXT_FIELDS = ("counterparty_name", "counterparty_account", "ultimate_debtor", "remittance",
               "structured_ref", "end_to_end_id", "bank_reference", "transaction_code")
FIELDS = ("booking_date", "value_date", "amount", "debit", "credit", "currency") + TEXT_FIELDS
_KEYS = ("description", "format", "encoding", "separator", "decimal", "thousands", "date_format",
         "skip_rows", "account", "currency", "statement_id", "columns")
DEFAULT_STATEMENT_ID = "{account}/{last_date}"


@dataclass(frozen=True)
class BankCsvMapping:
    """How to read one bank's CSV export (see the module docstring)."""

    columns: dict[str, tuple[str, ...]]    # our field -> the export's header name(s)
    account: str
    currency: str = "EUR"
    separator: str | None = None           # None sniffs it from the header line
    encoding: str | None = None            # None sniffs (UTF-8 with/without BOM, else CP1252)
    decimal: str = "."
    thousands: str | None = None
    date_format: str = "%Y-%m-%d"
    skip_rows: int = 0
    statement_id: str = DEFAULT_STATEMENT_ID
    source: str = ""                       # the mapping file's name, for messages
    description: str = ""


def load_bank_mapping(path: Path) -> BankCsvMapping:
    """Read and validate a YAML bank-CSV mapping; a problem raises MappingError naming the key."""
    return bank_mapping_from_dict(read_yaml_mapping(path), source=Path(path).name)


def bank_mapping_from_dict(data: object, *, source: str = "<mapping>") -> BankCsvMapping:
    if not isinstance(data, dict):
        raise MappingError(source, None, "expected a mapping of keys (account, columns, ...)")
    unknown = [k for k in data if k not in _KEYS]
    if unknown:
        raise MappingError(source, str(unknown[0]), f"unknown key; the keys are {', '.join(_KEYS)}")
    if data.get("format", "csv") != "csv":
        raise MappingError(source, "format", f"a bank statement mapping reads csv, not {data['format']!r}")
    options: dict = {"source": source, "description": str(data.get("description") or "")}

    separator = data.get("separator")
    if separator not in (None, "", "auto"):
        if not isinstance(separator, str) or len(separator) != 1:
            examples = " ".join(map(repr, SEPARATORS))
            raise MappingError(source, "separator", f"must be one character (e.g. {examples}) or auto, not {separator!r}")
        options["separator"] = separator
    options.update(text_read_options(data, source))

    account = data.get("account")
    if not isinstance(account, (str, int)) or isinstance(account, bool) or not str(account).strip():
        raise MappingError(source, "account", "the bank account the export comes from is required (its IBAN)")
    options["account"] = "".join(str(account).split())  # 'FR76 3000 ...' as printed -> compact
    currency = str(data.get("currency") or "EUR").upper()
    if currency not in ISO_4217:
        raise MappingError(source, "currency", f"{currency!r} is not an ISO 4217 currency code")
    options["currency"] = currency
    statement_id = data.get("statement_id") or DEFAULT_STATEMENT_ID
    try:
        str(statement_id).format(account="A", first_date="D", last_date="D", file="F")
    except (KeyError, IndexError, ValueError) as exc:
        raise MappingError(source, "statement_id", f"{statement_id!r} is not a template of {{account}}, "
                           f"{{first_date}}, {{last_date}}, {{file}}: {exc}") from None
    options["statement_id"] = str(statement_id)

    columns = data.get("columns")
    if not isinstance(columns, dict):
        raise MappingError(source, "columns", "must map our fields to the export's header names")
    mapped: dict[str, tuple[str, ...]] = {}
    for ours, theirs in columns.items():
        if ours not in FIELDS:
            raise MappingError(source, f"columns.{ours}", f"unknown field; the fields are {', '.join(FIELDS)}")
        names = theirs if isinstance(theirs, list) and ours == "remittance" else [theirs]
        if not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise MappingError(source, f"columns.{ours}", "must be the export's header name (text)"
                               + (" or a list of them" if ours == "remittance" else ""))
        mapped[ours] = tuple(n.strip() for n in names)
    if "booking_date" not in mapped:
        raise MappingError(source, "columns.booking_date", "required field booking_date not mapped")
    has_amount, has_split = "amount" in mapped, "debit" in mapped or "credit" in mapped
    if has_amount == has_split:
        raise MappingError(source, "columns.amount", "map either amount (signed) or debit and credit, not both"
                           if has_amount else "required: amount (signed), or debit and credit")
    if has_split and not ("debit" in mapped and "credit" in mapped):
        missing = "credit" if "debit" in mapped else "debit"
        raise MappingError(source, f"columns.{missing}", "debit and credit go together: map both")
    options["columns"] = mapped
    return BankCsvMapping(**options)


# -- reading ------------------------------------------------------------------------------------

def read_csv_statement(path: Path, mapping: dict | Path | BankCsvMapping, *,
                       data: bytes | None = None) -> StatementRead:
    """Read a bank CSV export with its mapping (a YAML file, a dict, or a loaded mapping)."""
    path = Path(path)
    source = path.name
    if isinstance(mapping, dict):
        mapping = bank_mapping_from_dict(mapping)
    elif not isinstance(mapping, BankCsvMapping):
        mapping = load_bank_mapping(Path(mapping))
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StatementFormatError(source, None, f"cannot read the file: {exc.strerror}") from None
    if data.startswith(b"PK\x03\x04"):
        raise StatementFormatError(source, None, "is a spreadsheet (XLSX), not a CSV export: save it as CSV")
    try:
        table = read_delimited(data, source, encoding=mapping.encoding, separator=mapping.separator,
                               skip_rows=mapping.skip_rows)
        wanted = {_key(ours, k): name for ours, names in mapping.columns.items()
                  for k, name in enumerate(names)}
        required = [key for key in wanted if key.split("#")[0] in ("booking_date", "amount", "debit", "credit")]
        positions = locate_columns(table, wanted, required=required, source=source)
    except LedgerFormatError as exc:
        raise StatementFormatError(exc.source, exc.line, str(exc).split(": ", 1)[-1]) from None

    frame = select_columns(table, positions)
    not_found = [name for key, name in wanted.items() if key not in positions]
    for key in [*wanted, "value_date"]:
        if key not in frame:
            frame[key] = None  # an optional column the export does not have: empty cells
    text = {name: _text(frame, mapping, name) for name in TEXT_FIELDS + ("currency",)}
    currency = text["currency"].str.upper().replace("", mapping.currency)
    known_currency = currency.isin(ISO_4217)
    checks = RowChecks(frame.index)

    def shown(key: str):
        return lambda rows: "'" + clean_cells(frame.loc[rows, key]) + "'"

    width = len(table.header)
    checks.add(~frame["width_ok"], "", "wrong_field_count", lambda rows: (
        "the line has " + frame.loc[rows, "width"].astype(str)
        + f" cells where the header has {width}: a separator inside an unquoted cell?"))
    checks.add(~known_currency, "currency", "unknown_currency", lambda rows: (
        "unknown currency code " + shown("currency")(rows) + " (expected ISO 4217, e.g. EUR)"))

    # Dates.
    expected = _human_format(mapping.date_format)
    booking, booking_bad = parse_dates(clean_cells(frame["booking_date"]), mapping.date_format)
    booking_given = clean_cells(frame["booking_date"]) != ""
    _stop_if_none_readable(booking_bad, booking_given, frame, source, mapping, "booking_date",
                           f"date_format {mapping.date_format!r}")
    checks.add(~booking_given, "booking_date", "missing_date", "no booking date")
    checks.add(booking_bad, "booking_date", "bad_date", lambda rows: (
        "booking date " + shown("booking_date")(rows) + f" is not a valid date (expected {expected})"))
    value_date, value_bad = parse_dates(clean_cells(frame["value_date"]), mapping.date_format)
    checks.add(value_bad, "value_date", "bad_date", lambda rows: (
        "value date " + shown("value_date")(rows) + f" is not a valid date (expected {expected})"))

    # Amounts.
    setting = f"decimal {mapping.decimal!r} and thousands {mapping.thousands!r}"

    def amounts(key: str) -> tuple[pd.Series, pd.Series]:
        minor, bad = _amounts(frame[key], currency, known_currency, mapping)
        _stop_if_none_readable(bad, known_currency & (minor.notna() | bad), frame, source, mapping, key, setting)
        checks.add(bad, key, "bad_amount", lambda rows: (
            f"{key.replace('_', ' ')} " + shown(key)(rows) + " is not an amount with at most "
            + currency[rows].map(exponent).astype(str) + f" decimals (decimal mark {mapping.decimal!r})"))
        return minor, bad

    if "amount" in mapping.columns:
        amount, amount_bad = amounts("amount")
        checks.add(known_currency & amount.isna() & ~amount_bad, "amount", "missing_amount", "no amount")
    else:
        debit, debit_bad = amounts("debit")
        credit, credit_bad = amounts("credit")
        debit_abs, credit_abs = debit.abs().fillna(0), credit.abs().fillna(0)
        either_bad = debit_bad | credit_bad
        checks.add(known_currency & debit.isna() & credit.isna() & ~either_bad, "amount", "missing_amount",
                   "no amount: both the debit and the credit cells are empty")
        checks.add((debit_abs != 0) & (credit_abs != 0), "amount", "both_debit_and_credit", lambda rows: (
            "both a debit " + shown("debit")(rows) + " and a credit " + shown("credit")(rows)
            + ": which one is it?"))
        amount = (credit_abs - debit_abs).where(debit.notna() | credit.notna())
        amount_bad = either_bad
    checks.add((amount == 0).fillna(False) & ~amount_bad, "amount", "zero_amount", "the amount is zero: nothing to apply")

    # The statement.
    dated = booking.dropna()
    first = dated.min().date().isoformat() if len(dated) else "undated"
    last = dated.max().date().isoformat() if len(dated) else "undated"
    statement_id = mapping.statement_id.format(account=mapping.account, first_date=first, last_date=last,
                                               file=path.stem)
    ok = ~checks.failed
    position = pd.Series(range(1, len(frame) + 1), index=frame.index, dtype="int64")
    lines = pd.DataFrame({
        "source_file": source,
        "statement_id": statement_id,
        "account": mapping.account,
        "bank_line_id": statement_id + "#" + position.astype(str),
        "position": position,
        "booking_date": booking,
        "value_date": value_date,
        "amount_minor": amount.fillna(0).astype("int64"),
        "currency": currency,
        **{name: text[name] for name in TEXT_FIELDS},
        "raw": frame["raw"],
    })[ok]
    line_currencies = set(lines["currency"])
    statement = Statement(
        statement_id=statement_id,
        account=mapping.account,
        currency=line_currencies.pop() if len(line_currencies) == 1 else mapping.currency,
        opening_date=dated.min().date() if len(dated) else None,
        closing_date=dated.max().date() if len(dated) else None,
    )
    lines = conform(lines, BANK_LINE_COLUMNS)
    check_balances(statement, lines)
    quarantine = checks.records(frame, source, prefix="row " + statement_id + "#" + position.astype(str) + ": ")
    read = StatementRead(
        statements=[statement],
        lines=lines,
        quarantine=conform(quarantine, QUARANTINE_COLUMNS) if len(quarantine) else empty_quarantine(),
        entries_read=len(table),
        meta={**table.meta, "mapping": mapping.source, "header_line": table.header_line,
              "columns_not_found": not_found},
    )
    read.check_conservation()
    return read


def _key(ours: str, k: int) -> str:
    """Column keys: the field name, and `remittance#2`, ... for the extra remittance headers."""
    return ours if k == 0 else f"{ours}#{k + 1}"


def _text(frame: pd.DataFrame, mapping: BankCsvMapping, name: str) -> pd.Series:
    keys = [_key(name, k) for k in range(len(mapping.columns.get(name, ())))]
    if not keys:
        return pd.Series("", index=frame.index, dtype=object)
    parts = [clean_cells(frame[key]) for key in keys]
    out = parts[0]
    for part in parts[1:]:
        out = (out + " " + part).str.strip()
    return out.str.replace("\n", " ", regex=False)


def _amounts(cells: pd.Series, currency: pd.Series, known: pd.Series,
             mapping: BankCsvMapping) -> tuple[pd.Series, pd.Series]:
    """Amount cells to minor units, each in its row currency's exponent (one pass per exponent)."""
    minor = pd.Series(pd.array([pd.NA] * len(cells), dtype="Int64"), index=cells.index)
    bad = pd.Series(False, index=cells.index)
    exponents = currency.map(lambda c: exponent(c) if c in ISO_4217 else 2)
    for exp in exponents[known].unique():
        rows = known & (exponents == exp)
        m, b = parse_amounts(cells[rows], mapping.decimal, mapping.thousands, int(exp))
        minor[rows] = m.to_numpy()
        bad[rows] = b.to_numpy()
    return minor, bad


def _stop_if_none_readable(bad: pd.Series, present: pd.Series, frame: pd.DataFrame, source: str,
                           mapping: BankCsvMapping, key: str, setting: str) -> None:
    """More than one value and not one readable: the mapping does not describe this file."""
    if present.sum() > 1 and bad[present].all():
        column = mapping.columns[key.split("#")[0]][0]
        line = int(frame.loc[present, "line_no"].iloc[0])
        which = f"the mapping {mapping.source}" if mapping.source else "the mapping"
        raise StatementFormatError(
            source, line,
            f"none of the {int(present.sum())} values of column {column!r} ({key}) can be read with "
            f"{setting}: does {which} describe this file?")


def _human_format(fmt: str) -> str:
    out = fmt
    for directive, shown in (("%d", "DD"), ("%m", "MM"), ("%Y", "YYYY"), ("%y", "YY"), ("%H", "hh"),
                             ("%M", "mm"), ("%S", "ss"), ("%b", "Mon"), ("%B", "Month")):
        out = out.replace(directive, shown)
    return out
