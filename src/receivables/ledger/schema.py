"""The normalized ledger: what every ledger source (FEC, CSV/XLSX export, SQL query) produces.

A ledger source returns a `LedgerRead`: the lines it could read, as a DataFrame with exactly
`LINE_COLUMNS` (dtypes below), and the rows it could not, as quarantine records. Row counts are
conserved: `rows_read == len(lines) + len(quarantine)`.

Amounts are int64 minor units of the ledger currency (`currency`, EUR for a French FEC);
`currency_amount_minor`/`currency_code` carry FEC's Montantdevise/Idevise when present.
Dates are pandas datetime64[ns] at midnight (NaT when absent); `due_date` is NaT when the source
does not know it (a FEC never does: terms come from the customer master).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

# column -> pandas dtype
LINE_COLUMNS: dict[str, str] = {
    "source_file": "object",        # file name (or source name for SQL sources)
    "line_no": "int64",             # 1-based physical line in the file, header = line 1
    "journal_code": "object",
    "journal_lib": "object",
    "entry_num": "object",          # EcritureNum; an entry is (journal_code, entry_num)
    "entry_date": "datetime64[ns]",
    "account": "object",            # CompteNum
    "account_label": "object",
    "aux_account": "object",        # CompAuxNum: the customer id on receivable lines, "" if none
    "aux_label": "object",
    "piece_ref": "object",          # PieceRef: the invoice number on a sales line
    "piece_date": "datetime64[ns]",
    "label": "object",              # EcritureLib
    "debit_minor": "int64",
    "credit_minor": "int64",
    "let_code": "object",           # EcritureLet, "" if not lettered
    "let_date": "datetime64[ns]",   # DateLet, NaT if unknown
    "valid_date": "datetime64[ns]",
    "currency_amount_minor": "Int64",
    "currency_code": "object",      # Idevise, "" if none
    "due_date": "datetime64[ns]",
    "currency": "object",           # the ledger (book) currency of debit/credit
}

QUARANTINE_COLUMNS: dict[str, str] = {
    "source_file": "object",
    "line_no": "int64",
    "journal_code": "object",  # the entry the line belongs to, when known: validation holds
    "entry_num": "object",     # back the whole entry of a rejected line
    "field": "object",      # the offending field ('' when the whole line is at fault)
    "reason_code": "object",  # stable machine code, e.g. 'bad_amount', 'unbalanced_entry'
    "reason": "object",     # a sentence a clerk can act on
    "raw": "object",        # the line as read (decoded), so nothing is lost
}

RECEIVABLE_ACCOUNT_PREFIX = "411"


def empty_lines() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in LINE_COLUMNS.items()})


def empty_quarantine() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in QUARANTINE_COLUMNS.items()})


def conform(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Exactly `columns`, in order, with their dtypes (missing text columns become '')."""
    out = pd.DataFrame(index=frame.index)
    for name, dtype in columns.items():
        if name in frame and dtype == "bool":   # a missing flag is False, never bool(NaN) = True
            out[name] = frame[name].astype(object).where(frame[name].notna(), False).astype(bool)
        elif name in frame:
            out[name] = frame[name].astype(dtype)
        elif dtype == "object":
            out[name] = ""
        elif dtype == "bool":
            out[name] = False
        else:
            out[name] = pd.Series(pd.NA if dtype == "Int64" else None, index=frame.index).astype(dtype)
    return out.reset_index(drop=True)


class LedgerFormatError(ValueError):
    """The input as a whole is unusable (not the format it claims, empty, truncated...).

    The message names the file and the line, e.g. "ledger.txt, line 1: not a FEC header ...".
    """

    def __init__(self, source: str, line: int | None, message: str):
        self.source, self.line = source, line
        where = f"{source}, line {line}" if line else source
        super().__init__(f"{where}: {message}")


@dataclass
class LedgerRead:
    """What a source produced: loaded lines, quarantined rows, and how many rows it read."""

    lines: pd.DataFrame
    quarantine: pd.DataFrame = field(default_factory=empty_quarantine)
    rows_read: int = 0
    meta: dict = field(default_factory=dict)   # encoding, separator, variant, ...

    def check_conservation(self) -> None:
        if self.rows_read != len(self.lines) + len(self.quarantine):
            raise AssertionError(
                f"row count not conserved: read {self.rows_read}, loaded {len(self.lines)}, "
                f"quarantined {len(self.quarantine)}"
            )


# The customer master (DESIGN.md "customer master CSV"); extra source columns are dropped.
CUSTOMER_COLUMNS: dict[str, str] = {
    "customer_id": "object",
    "name": "object",
    "country": "object",            # ISO 3166 alpha-2, "" if unknown
    "language": "object",           # ISO 639-1, "" if unknown
    "email": "object",
    "phone": "object",
    "address": "object",
    "segment": "object",            # TPE, PME, ETI, GE, or "" if unknown
    "strategic": "bool",
    "payment_terms_days": "Int64",  # <NA>: use the configured default
    "opt_out_channels": "object",   # space-separated channel names
    "iban": "object",               # optional: the account the customer pays from, "" if unknown
    "dunning_blocked": "bool",      # optional: no reminder at all (insolvency, legal, key account decision)
    "contact_hour": "Int64",        # optional: local hour (0-23) the customer prefers messages, <NA> if unknown
    "collector": "object",          # optional: who works the account (KPIs per collector), "" if nobody
}
OPTIONAL_CUSTOMER_COLUMNS = ("iban", "dunning_blocked", "contact_hour", "collector")
MAX_COLLECTOR_LENGTH = 100
REQUIRED_CUSTOMER_COLUMNS = tuple(c for c in CUSTOMER_COLUMNS if c not in OPTIONAL_CUSTOMER_COLUMNS)
SEGMENTS = ("TPE", "PME", "ETI", "GE")
CHANNELS = ("email", "sms", "letter", "call")


def empty_customers() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in CUSTOMER_COLUMNS.items()})
