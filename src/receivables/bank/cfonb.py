"""CFONB 120 bank statements ("relevé de compte 120 caractères") to normalized bank lines.

    >>> read = read_cfonb(Path("releve.txt"))
    >>> [s.statement_id for s in read.statements]
    ['98765432100/2019-05-15', '00123456789/2019-05-16']
    >>> read.lines.loc[0, ["bank_line_id", "amount_minor", "counterparty_name"]].tolist()
    ['98765432100/2019-05-15#1', -3221, 'INTERNET SFR']

The format (CFONB, "Relevé de compte sur support informatique", 2004, and its 2007 addendum
for SEPA transfers) is a sequence of 120-character records:

    01  old balance: opens a statement (account, date, balance)
    04  operation: one movement on the account
    05  complement of the 04 just before it (qualifier + 70 characters of text), 0..n per 04
    07  new balance: closes the statement

Fixed positions (1-based, inclusive) shared by every record: code 1-2, bank code 3-7, desk
(guichet) code 12-16, currency 17-19, number of decimals 20, account number 22-32. The 01/07
carry their date in 35-40 and the balance in 91-104. A 04 carries the internal operation code
8-11, the interbank operation code 33-34, the booking date 35-40, a rejection code 41-42, the
value date 43-48, the label 49-79, an exoneration code 89, an unavailability code 90, the
amount 91-104 and a reference 105-120. A 05 carries the same key fields up to 40, the
qualifier in 46-48 and its text in 49-118. Dates are DDMMYY (years 70-99 are 19YY, 00-69 are
20YY). An amount is 13 digits and a last "overpunch" character giving the last digit and the
sign: `{` = +0, `A`..`I` = +1..+9, `}` = -0, `J`..`R` = -1..-9; its number of decimals is the
record's own field (a blank field means the currency's usual decimals).

What the 05 qualifiers become (others are kept in `raw` only, counted in meta):
  LIB, LCC, LC2  -> remittance (after the 04 label), in the order given
  LCS            -> structured_ref (the structured remittance)
  NPY / NBE      -> counterparty_name: the payer (NPY) for a credit, the beneficiary (NBE) for
                    a debit, the other one when the preferred one is missing
  NPO            -> ultimate_debtor
  RCN            -> end_to_end_id (its first 35 characters; the rest is the purpose code)
  REF            -> bank_reference (with the 04 reference, when both are given)
  CBE            -> counterparty_account on a debit (the beneficiary's account)
  MMO            -> original_amount_minor / original_currency (the amount before conversion)
  FEE            -> charges_minor, when in the line's currency

Layout variants: one record per line (LF or CRLF, trailing spaces trimmed or not, blank lines
between records), or no line breaks at all (a continuous stream cut every 120 characters).
Line numbers in errors and quarantine records are physical lines; in a stream, the message also
names the record number.

What stops the read (`StatementFormatError`, naming the line and what was expected) and what is
quarantined:
  - the sequence is broken: a 04 outside a statement (before any 01, or after a 07), a 05 with
    no 04 before it, a new 01 before the 07 of the previous statement, a 07 with no open
    statement, a statement still open at the end of the file, an unknown record code;
  - a 01 or 07 that cannot be read (date, balance, currency): the balances are the
    statement's frame, so nothing in it can be checked;
  - a 04 whose date, amount, currency or number of decimals cannot be read, or whose amount is
    zero, is a quarantine record (QUARANTINE_COLUMNS) for that operation and its 05s: the rest
    of the file is sound, and the statement's balance check will then point at the gap.

Ids: statement id `<account>/<date of the 01, ISO>` (a second statement with the same id in one
file gets `-2`, `-3`...); bank_line_id `<statement id>#<position>`, where the position counts
the statement's 04 records from 1, quarantined ones included, so an operation keeps its id when
a neighbour is fixed and the file re-read.

`read_cfonb_operation` reads a fragment holding a single 04 and its 05s (the unit some bank
APIs return): a second 04, a 05 first, or any 01/07 is an error there.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from receivables.bank.schema import (
    statement_bytes,
    BANK_LINE_COLUMNS,
    Statement,
    StatementFormatError,
    StatementRead,
    check_balances,
)
from receivables.ledger.schema import QUARANTINE_COLUMNS, conform, empty_quarantine
from receivables.ledger.textfile import decode
from receivables.money import ISO_4217, exponent, format_minor

RECORD_LENGTH = 120
RECORD_CODES = ("01", "04", "05", "07")
DEFAULT_CURRENCY = "EUR"  # a domestic French format: a blank currency everywhere means euros

# Overpunch: the amount's last character -> (sign, last digit).
OVERPUNCH: dict[str, tuple[int, int]] = {
    "{": (1, 0), **{chr(ord("A") + k): (1, k + 1) for k in range(9)},
    "}": (-1, 0), **{chr(ord("J") + k): (-1, k + 1) for k in range(9)},
}
_AMOUNT = re.compile(r"[0-9]{13}[{}A-R]")
_DATE = re.compile(r"[0-9]{6}")
_DIGITS = tuple("0123456789")

_REMITTANCE_QUALIFIERS = ("LIB", "LCC", "LC2")
_KNOWN_QUALIFIERS = frozenset(_REMITTANCE_QUALIFIERS + (
    "LCS", "NPY", "NBE", "NPO", "NBU", "RCN", "REF", "CBE", "MMO", "FEE", "IPY", "IBE", "IPO",
    "IBU", "RUM",
))


# -- field decoding ------------------------------------------------------------------------------

def decode_overpunch(text: str) -> int:
    """The signed integer a 14-character CFONB amount field writes, decimals not applied:
    `'0000000000322J'` -> -3221. Raises ValueError when the field is not 13 digits and a sign
    character."""
    if not _AMOUNT.fullmatch(text):
        raise ValueError(f"{text!r} is not a CFONB amount (13 digits and a sign character {{, A-I, }}, J-R)")
    sign, last = OVERPUNCH[text[-1]]
    return sign * (int(text[:-1]) * 10 + last)


def decode_amount(text: str, decimals: int, currency: str) -> int:
    """A CFONB amount field to minor units of `currency`, written with `decimals` decimals:
    `decode_amount('0000000001904}', 2, 'EUR')` -> -19040. More decimals than the currency
    has are accepted only when the extra digits are zeros: an amount is never rounded."""
    value = decode_overpunch(text)
    shift = exponent(currency) - decimals
    if shift >= 0:
        return value * 10**shift
    quotient, remainder = divmod(abs(value), 10**-shift)
    if remainder:
        raise ValueError(f"{text!r} with {decimals} decimals has more decimals than {currency} allows")
    return quotient if value >= 0 else -quotient


def decode_date(text: str) -> date | None:
    """DDMMYY to a date (00-69 -> 20YY, 70-99 -> 19YY); blank -> None; else ValueError."""
    if not text.strip():
        return None
    if not _DATE.fullmatch(text):
        raise ValueError(f"{text!r} is not a DDMMYY date")
    day, month, year = int(text[:2]), int(text[2:4]), int(text[4:])
    try:
        return date(year + (1900 if year >= 70 else 2000), month, day)
    except ValueError:
        raise ValueError(f"{text!r} is not a DDMMYY date (no such day)") from None


# -- records -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Record:
    text: str        # exactly 120 characters
    line: int        # physical line (1-based)
    number: int      # record number in the file (1-based)
    stream: bool     # the file has no line breaks between records

    @property
    def code(self) -> str:
        return self.text[:2]

    def at(self, first: int, last: int) -> str:
        """Positions first..last, 1-based and inclusive, as in the CFONB documents."""
        return self.text[first - 1:last]

    @property
    def where(self) -> str:
        return f" (record {self.number})" if self.stream else ""


def _records(text: str) -> tuple[list[_Record], str]:
    """Cut the text into 120-character records; returns the records and the layout."""
    records: list[_Record] = []
    stream = False
    for line_no, line in enumerate(text.splitlines(), start=1):
        line = line.rstrip("\r\n\x1a")  # \x1a: the DOS end-of-file mark some exports keep
        if len(line) > RECORD_LENGTH and line[RECORD_LENGTH:].strip():
            stream = True
            chunks = [line[k:k + RECORD_LENGTH] for k in range(0, len(line), RECORD_LENGTH)]
        else:
            chunks = [line[:RECORD_LENGTH]]
        for chunk in chunks:
            if chunk.strip():
                records.append(_Record(chunk.ljust(RECORD_LENGTH), line_no, len(records) + 1, stream))
    if stream:
        records = [_Record(r.text, r.line, r.number, True) for r in records]
    return records, "stream" if stream else "lines"


# -- operations ----------------------------------------------------------------------------------

@dataclass
class CfonbOperation:
    """One 04 record and its 05 complements, decoded. `problems` lists what could not be read
    as (field, reason_code, reason); an operation with problems is quarantined."""

    line: int
    record: _Record
    account: str
    currency: str
    internal_code: str
    interbank_code: str
    booking_date: date | None
    value_date: date | None
    label: str
    reference: str
    amount_minor: int | None
    details: list[tuple[str, str]] = field(default_factory=list)   # (qualifier, text)
    complements: list[_Record] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(default_factory=list)

    # -- the 05 details, as bank-line fields ----------------------------------------------------
    def texts(self, qualifier: str) -> list[str]:
        return [text.strip() for q, text in self.details if q == qualifier and text.strip()]

    def first(self, qualifier: str) -> str:
        found = self.texts(qualifier)
        return found[0] if found else ""

    @property
    def remittance(self) -> str:
        parts = [self.label] + [text.strip() for q, text in self.details
                                if q in _REMITTANCE_QUALIFIERS and text.strip()]
        return " ".join(p for p in parts if p)

    @property
    def counterparty_name(self) -> str:
        payer, beneficiary = self.first("NPY"), self.first("NBE")
        credit = (self.amount_minor or 0) > 0
        return (payer or beneficiary) if credit else (beneficiary or payer)

    @property
    def end_to_end_id(self) -> str:
        for q, text in self.details:
            if q == "RCN" and text[:35].strip():
                return text[:35].strip()
        return ""

    @property
    def bank_reference(self) -> str:
        parts = [self.reference] + [t for t in self.texts("REF") if t != self.reference]
        return " ".join(p for p in parts if p)

    def _foreign_amount(self, qualifier: str) -> tuple[int | None, str]:
        """MMO/FEE: currency (3), number of decimals (1), unsigned amount (14 digits)."""
        for q, text in self.details:
            if q != qualifier:
                continue
            currency, decimals, digits = text[:3], text[3:4], text[4:18].strip()
            if currency not in ISO_4217 or decimals not in _DIGITS or not re.fullmatch("[0-9]+", digits):
                return None, ""
            value, shift = int(digits), exponent(currency) - int(decimals)
            if shift < 0:
                if value % 10**-shift:
                    return None, currency
                return value // 10**-shift, currency
            return value * 10**shift, currency
        return None, ""

    def bank_line(self) -> dict:
        """The operation as a bank line (BANK_LINE_COLUMNS, without the statement fields)."""
        original, original_currency = self._foreign_amount("MMO")
        if original is not None and (self.amount_minor or 0) < 0:
            original = -original  # MMO is unsigned: it moves the same way as the operation
        fee, fee_currency = self._foreign_amount("FEE")
        return {
            "booking_date": self.booking_date,
            "value_date": self.value_date,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "counterparty_name": self.counterparty_name,
            "counterparty_account": self.first("CBE") if (self.amount_minor or 0) < 0 else "",
            "ultimate_debtor": self.first("NPO"),
            "remittance": self.remittance,
            "structured_ref": self.first("LCS"),
            "end_to_end_id": self.end_to_end_id,
            "bank_reference": self.bank_reference,
            "transaction_code": self.interbank_code,
            "original_amount_minor": original,
            "original_currency": original_currency if original is not None else "",
            "charges_minor": fee if fee is not None and fee_currency == self.currency else None,
            "raw": "\n".join(r.text.rstrip() for r in [self.record, *self.complements]),
        }


def _currency(text: str) -> str | None:
    """The record's currency code, '' when blank, None when not ISO 4217."""
    code = text.strip()
    if not code:
        return ""
    return code if code in ISO_4217 else None


def _decimals(text: str, currency: str) -> int | None:
    """The record's number of decimals; blank means the currency's own; None when unreadable."""
    if text == " ":
        return exponent(currency)
    return int(text) if text in _DIGITS else None


def _operation(record: _Record, statement_currency: str) -> CfonbOperation:
    """Decode a 04; what cannot be read goes to `problems` (the operation is then quarantined)."""
    problems: list[tuple[str, str, str]] = []
    currency = _currency(record.at(17, 19))
    if currency is None:
        problems.append(("currency", "bad_currency",
                         f"currency code {record.at(17, 19)!r} is not an ISO 4217 code (e.g. EUR)"))
        currency = statement_currency
    currency = currency or statement_currency

    dates = {}
    for name, (first, last), label in (("booking_date", (35, 40), "booking date"),
                                       ("value_date", (43, 48), "value date")):
        try:
            dates[name] = decode_date(record.at(first, last))
        except ValueError as exc:
            dates[name] = None
            problems.append((name, "bad_date", f"{label}: {exc}"))
    if dates["booking_date"] is None and not any(p[0] == "booking_date" for p in problems):
        problems.append(("booking_date", "missing_date", "no booking date (positions 35-40 are blank)"))

    amount: int | None = None
    decimals = _decimals(record.at(20, 20), currency)
    if decimals is None:
        problems.append(("amount", "bad_amount",
                         f"number of decimals {record.at(20, 20)!r} (position 20) is not a digit"))
    else:
        try:
            amount = decode_amount(record.at(91, 104), decimals, currency)
        except ValueError as exc:
            problems.append(("amount", "bad_amount", f"amount {exc}"))
    if amount == 0:
        problems.append(("amount", "zero_amount", "the amount is zero: nothing to apply"))

    return CfonbOperation(
        line=record.line,
        record=record,
        account=record.at(22, 32).strip(),
        currency=currency,
        internal_code=record.at(8, 11).strip(),
        interbank_code=record.at(33, 34).strip(),
        booking_date=dates["booking_date"],
        value_date=dates["value_date"],
        label=record.at(49, 79).strip(),
        reference=record.at(105, 120).strip(),
        amount_minor=amount,
        problems=problems,
    )


def _add_complement(operation: CfonbOperation, record: _Record) -> None:
    operation.complements.append(record)
    operation.details.append((record.at(46, 48), record.at(49, 118)))


# -- statements ----------------------------------------------------------------------------------

@dataclass
class _OpenStatement:
    opening: _Record
    account: str
    currency: str                  # '' until known (a blank 01 currency takes the 04s')
    opening_date: date
    operations: list[CfonbOperation] = field(default_factory=list)


def read_cfonb(path: Path, *, data: bytes | None = None) -> StatementRead:
    """Read a CFONB 120 file (see the module docstring); `data` is the file's bytes when
    already in memory (`path` then only names it)."""
    source, data = statement_bytes(path, data)
    text, encoding = decode(data)
    records, layout = _records(text)
    if not records:
        raise StatementFormatError(source, None, "empty file: no CFONB 120 record")

    def fail(record: _Record, message: str) -> StatementFormatError:
        return StatementFormatError(source, record.line, message + record.where)

    statements: list[Statement] = []
    rows: list[dict] = []
    quarantine: list[dict] = []
    entries = 0
    unknown_qualifiers: Counter[str] = Counter()
    seen_ids: Counter[str] = Counter()
    current: _OpenStatement | None = None
    last_closed: _Record | None = None

    for record in records:
        code = record.code
        if code not in RECORD_CODES:
            hint = " (is it a CFONB 120 statement?)" if record.number == 1 else ""
            raise fail(record, f"unknown record code {code!r}: a CFONB 120 statement has records "
                               f"01, 04, 05 and 07{hint}")
        if code == "01":
            if current is not None:
                raise fail(record, f"a new statement (old-balance record 01) starts before the statement "
                                   f"opened on line {current.opening.line} is closed: expected its "
                                   "new-balance record 07 first")
            current = _open_statement(record, fail)
        elif code == "04":
            if current is None:
                raise fail(record, "operation record 04 outside a statement: expected an old-balance "
                                   "record 01 before it" + _after(last_closed))
            if not current.currency:
                current.currency = _currency(record.at(17, 19)) or ""
            current.operations.append(_operation(record, current.currency or DEFAULT_CURRENCY))
        elif code == "05":
            if current is None or not current.operations:
                where = "" if current is not None else " (and no statement is open: expected an old-balance record 01)"
                raise fail(record, "complement record 05 without its operation: expected an operation "
                                   "record 04 before it" + where)
            _add_complement(current.operations[-1], record)
            qualifier = record.at(46, 48)
            if qualifier not in _KNOWN_QUALIFIERS:
                unknown_qualifiers[qualifier] += 1
        else:  # 07
            if current is None:
                raise fail(record, "new-balance record 07 without an open statement: expected an "
                                   "old-balance record 01 before it" + _after(last_closed))
            statement, lines, held = _close_statement(current, record, source, fail, seen_ids)
            statements.append(statement)
            rows.extend(lines)
            quarantine.extend(held)
            entries += len(current.operations)
            current, last_closed = None, record

    if current is not None:
        raise StatementFormatError(
            source, current.opening.line,
            f"the statement opened here{current.opening.where} has no new-balance record 07: "
            "the file ends before it (truncated?)")

    lines = _lines_frame(rows)
    for statement in statements:
        check_balances(statement, lines)
    read = StatementRead(
        statements=statements,
        lines=lines,
        quarantine=conform(pd.DataFrame(quarantine), QUARANTINE_COLUMNS) if quarantine else empty_quarantine(),
        entries_read=entries,
        meta={"format": "cfonb120", "encoding": encoding, "layout": layout, "records": len(records),
              "unknown_qualifiers": dict(unknown_qualifiers)},
    )
    read.check_conservation()
    return read


def _after(last_closed: _Record | None) -> str:
    return f" (the previous statement was closed on line {last_closed.line})" if last_closed else ""


def _open_statement(record: _Record, fail) -> _OpenStatement:
    try:
        opening_date = decode_date(record.at(35, 40))
    except ValueError as exc:
        raise fail(record, f"old-balance record 01: its date (positions 35-40) {exc}") from None
    if opening_date is None:
        raise fail(record, "old-balance record 01 has no date (positions 35-40 are blank)")
    currency = _currency(record.at(17, 19))
    if currency is None:
        raise fail(record, f"old-balance record 01: currency {record.at(17, 19)!r} is not an ISO 4217 code")
    account = record.at(22, 32).strip()
    if not account:
        raise fail(record, "old-balance record 01 has no account number (positions 22-32 are blank)")
    return _OpenStatement(opening=record, account=account, currency=currency, opening_date=opening_date)


def _balance(record: _Record, currency: str, what: str, fail) -> int:
    decimals = _decimals(record.at(20, 20), currency)
    if decimals is None:
        raise fail(record, f"{what}: number of decimals {record.at(20, 20)!r} (position 20) is not a digit")
    try:
        return decode_amount(record.at(91, 104), decimals, currency)
    except ValueError as exc:
        raise fail(record, f"{what}: balance {exc}") from None


def _close_statement(current: _OpenStatement, closing: _Record, source: str, fail,
                     seen_ids: Counter[str]) -> tuple[Statement, list[dict], list[dict]]:
    currency = current.currency or DEFAULT_CURRENCY
    try:
        closing_date = decode_date(closing.at(35, 40))
    except ValueError as exc:
        raise fail(closing, f"new-balance record 07: its date (positions 35-40) {exc}") from None
    closing_currency = _currency(closing.at(17, 19))
    if closing_currency is None or (closing_currency and closing_currency != currency):
        raise fail(closing, f"new-balance record 07: currency {closing.at(17, 19)!r} is not the "
                            f"statement's ({currency})")
    opening_balance = _balance(current.opening, currency, "old-balance record 01", fail)
    closing_balance = _balance(closing, currency, "new-balance record 07", fail)

    statement_id = f"{current.account}/{current.opening_date.isoformat()}"
    seen_ids[statement_id] += 1
    if seen_ids[statement_id] > 1:
        statement_id = f"{statement_id}-{seen_ids[statement_id]}"
    statement = Statement(
        statement_id=statement_id,
        account=current.account,
        currency=currency,
        opening_balance_minor=opening_balance,
        closing_balance_minor=closing_balance,
        opening_date=current.opening_date,
        closing_date=closing_date,
    )
    lines: list[dict] = []
    held: list[dict] = []
    for position, operation in enumerate(current.operations, start=1):
        bank_line_id = f"{statement_id}#{position}"
        if operation.problems:
            field_name, code, _ = operation.problems[0]
            reasons = "; ".join(reason for _, _, reason in operation.problems)
            amount = (f" of {format_minor(operation.amount_minor, operation.currency)} {operation.currency}"
                      if operation.amount_minor else "")
            held.append({
                "source_file": source,
                "line_no": operation.line,
                "journal_code": "",
                "entry_num": "",
                "field": field_name,
                "reason_code": code,
                "reason": f"operation {bank_line_id}{amount}{operation.record.where}: {reasons}",
                "raw": operation.bank_line()["raw"],
            })
            continue
        lines.append({
            "source_file": source,
            "statement_id": statement_id,
            "account": current.account,
            "bank_line_id": bank_line_id,
            "position": position,
            **operation.bank_line(),
        })
    return statement, lines, held


def _lines_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(BANK_LINE_COLUMNS))
    for name in ("booking_date", "value_date"):
        frame[name] = pd.to_datetime(frame[name].astype(object).where(frame[name].notna(), None))
    return conform(frame, BANK_LINE_COLUMNS)


# -- a single operation --------------------------------------------------------------------------

def read_cfonb_operation(path: Path, *, data: bytes | None = None) -> CfonbOperation:
    """Read a fragment holding exactly one operation: a 04 and its 05 complements. A 05 before
    the 04, a second 04, a 01/07, or an operation that cannot be read raise StatementFormatError."""
    source, data = statement_bytes(path, data)
    text, _ = decode(data)
    records, _ = _records(text)
    operation: CfonbOperation | None = None
    for record in records:
        where = record.where
        if record.code == "04":
            if operation is not None:
                raise StatementFormatError(source, record.line, "a second operation record 04: the "
                                           f"fragment's operation was already given on line {operation.line}" + where)
            currency = _currency(record.at(17, 19)) or DEFAULT_CURRENCY
            operation = _operation(record, currency)
        elif record.code == "05":
            if operation is None:
                raise StatementFormatError(source, record.line, "complement record 05 without its operation: "
                                           "expected an operation record 04 before it" + where)
            _add_complement(operation, record)
        else:
            raise StatementFormatError(source, record.line, f"record {record.code!r} in an operation fragment: "
                                       "expected only an operation record 04 and its complements 05" + where)
    if operation is None:
        raise StatementFormatError(source, None, "no operation record 04 in the fragment")
    if operation.problems:
        raise StatementFormatError(source, operation.line, "; ".join(r for _, _, r in operation.problems))
    return operation
