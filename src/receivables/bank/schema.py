"""The normalized bank statement: what every statement parser (CAMT, MT940, CFONB 120, OFX, CSV)
produces.

A parser returns a `StatementRead`: one `Statement` per statement in the file (its balances and
findings) and the lines of all of them as one DataFrame with exactly `BANK_LINE_COLUMNS`. Amounts
are signed int64 minor units in the line's currency: a credit to our account (money in, a
customer paying) is positive. A line that cannot be used (no amount, a zero amount, an impossible
date) is a quarantine record (`receivables.ledger.schema.QUARANTINE_COLUMNS`, with `line_no` the
physical line for text formats or the 1-based entry position for XML), never silently dropped:
`entries_read == len(lines) + len(quarantine)`.

`bank_line_id` (DESIGN.md): for CAMT the entry's AcctSvcrRef, else its NtryRef, else
`<statement id>#<1-based entry position>`; an entry split into several TxDtls gives lines
`<entry id>/<k>` (k 1-based) unless the transaction has its own AcctSvcrRef; for MT940 the `:61:`
bank reference when unique in the statement, else `<statement id>#<position>`; for the other
formats `<statement id>#<position>`. Ids are unique within a statement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

BANK_LINE_COLUMNS: dict[str, str] = {
    "source_file": "object",
    "statement_id": "object",
    "account": "object",              # our account: IBAN, else the bank's account id
    "bank_line_id": "object",
    "position": "int64",              # 1-based position of the line in its statement
    "booking_date": "datetime64[ns]",
    "value_date": "datetime64[ns]",   # NaT when the format has none
    "amount_minor": "int64",          # signed: credit (money in) positive
    "currency": "object",
    "counterparty_name": "object",    # the payer (debtor) for a credit; ultimate debtor in its own column
    "counterparty_account": "object", # the payer's IBAN or account number
    "ultimate_debtor": "object",
    "remittance": "object",           # unstructured remittance information (free text), joined with ' '
    "structured_ref": "object",       # structured creditor reference (ISO 11649 RF..., or a national one)
    "end_to_end_id": "object",
    "bank_reference": "object",       # the bank's own reference (AcctSvcrRef, :61: bank ref, ...)
    "transaction_code": "object",     # BkTxCd / :61: type / CFONB operation code, as given
    "original_amount_minor": "Int64", # the instructed amount when the bank converted (CAMT InstdAmt)
    "original_currency": "object",
    "charges_minor": "Int64",         # bank charges deducted, when the format says
    "raw": "object",                  # the line (or entry) as read, for the exceptions worklist
}


@dataclass
class Statement:
    statement_id: str
    account: str
    currency: str
    opening_balance_minor: int | None = None
    closing_balance_minor: int | None = None
    opening_date: object = None        # datetime.date or None
    closing_date: object = None
    findings: list[str] = field(default_factory=list)   # e.g. "opening 100.00 + lines 50.00 != closing 140.00"


@dataclass
class StatementRead:
    statements: list[Statement]
    lines: pd.DataFrame
    quarantine: pd.DataFrame
    entries_read: int
    meta: dict = field(default_factory=dict)   # format, version, encoding, ...

    def check_conservation(self) -> None:
        if self.entries_read != len(self.lines) + len(self.quarantine):
            raise AssertionError(f"entries read {self.entries_read} != lines {len(self.lines)} "
                                 f"+ quarantined {len(self.quarantine)}")


class StatementFormatError(ValueError):
    """The file is not a usable statement of the claimed format; the message names file and line."""

    def __init__(self, source: str, line: int | None, message: str):
        self.source, self.line = source, line
        where = f"{source}, line {line}" if line else source
        super().__init__(f"{where}: {message}")


def empty_bank_lines() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in BANK_LINE_COLUMNS.items()})


def check_balances(statement: Statement, lines: pd.DataFrame) -> None:
    """Add a finding when opening balance + the statement's lines != closing balance."""
    if statement.opening_balance_minor is None or statement.closing_balance_minor is None:
        return
    mine = lines[lines["statement_id"] == statement.statement_id]
    total = int(mine["amount_minor"].sum())
    if statement.opening_balance_minor + total != statement.closing_balance_minor:
        from receivables.money import format_minor

        cur = statement.currency or "EUR"
        statement.findings.append(
            f"opening {format_minor(statement.opening_balance_minor, cur)} + lines {format_minor(total, cur)} "
            f"!= closing {format_minor(statement.closing_balance_minor, cur)} {cur}")


def statement_bytes(path, data: bytes | None):  # noqa: ANN001
    """(file name, content): `data` when the bytes are already in memory, else the file's; an
    unreadable file is a `StatementFormatError` naming it."""
    from pathlib import Path

    path = Path(path)
    if data is not None:
        return path.name, data
    try:
        return path.name, path.read_bytes()
    except OSError as exc:
        raise StatementFormatError(path.name, None, f"cannot read the file: {exc.strerror}") from None
