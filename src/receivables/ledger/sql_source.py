"""SQL ledger source: run one parameterized query file, normalize its rows as ledger lines.

    >>> read = read_sql_ledger(engine, Path("include/sql/sources/odoo/ledger_lines.sql"),
    ...                        params={"company_id": 1, "as_of": date(2025, 3, 31)},
    ...                        source_name="odoo")                     # doctest: +SKIP
    >>> read.lines[["entry_num", "account", "debit_minor", "credit_minor", "let_code"]].head(3)  # doctest: +SKIP
           entry_num account  debit_minor  credit_minor let_code
    0  INV/2025/0001  706000            0        100000
    1  INV/2025/0001  445710            0         20000
    2  INV/2025/0001  411100       120000             0       17
    >>> read.rows_read == len(read.lines) + len(read.quarantine)             # doctest: +SKIP
    True

(the scenario of tests/integration/test_odoo_sql_source.py: 1000.00 + 20 % VAT, lettered once
the transfer that pays it is booked).

The query contract (column names are matched case-insensitively, extra columns are ignored):

- required: `journal_code`, `entry_num`, `entry_date`, `account`, `debit`, `credit`;
- optional text: `journal_lib`, `account_label`, `aux_account`, `aux_label`, `piece_ref`,
  `label`, `let_code`, `currency_code`, and `currency` (the book currency of debit/credit,
  else `ledger_currency`);
- optional dates: `piece_date`, `let_date`, `valid_date`, `due_date`;
- optional amount: `currency_amount` (signed, in `currency_code`).

Amounts come back in major units as SQL NUMERIC (Decimal), integers or numeric strings, and are
turned into int64 minor units by digit-string arithmetic, never through a float: a value with
more decimals than its currency has (10.005 EUR) is quarantined rather than rounded, since a
silently rounded line would unbalance its entry. The query must order its rows
deterministically: `line_no` is the 1-based row position in the result.

Bind parameters are written `:name` in the file and passed in `params`; extra keys are ignored,
so one dict can serve a source's ledger and customer queries. A `:word` inside an SQL comment is
a parameter too (SQLAlchemy's `text()` does not parse comments), and a cast must be written
`CAST(:x AS date)`, not `:x::date`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy

from receivables.ledger.schema import (
    CUSTOMER_COLUMNS,
    LINE_COLUMNS,
    QUARANTINE_COLUMNS,
    LedgerFormatError,
    LedgerRead,
    conform,
)
from receivables.money import ISO_4217, exponent

REQUIRED_COLUMNS = ("journal_code", "entry_num", "entry_date", "account", "debit", "credit")
_TEXT_COLUMNS = ("journal_lib", "account_label", "aux_account", "aux_label", "piece_ref", "label",
                 "let_code")
_OPTIONAL_DATES = ("piece_date", "let_date", "valid_date", "due_date")

# sign, integer digits, fraction digits, exponent: '1200.00', '-0.5', '1E-7', '12', '.5'
_NUMBER = r"^(?P<sign>[+-]?)(?P<whole>\d*)(?:\.(?P<frac>\d*))?(?:[eE](?P<exp>[+-]?\d{1,4}))?$"
_ARROW_TEXT = pd.ArrowDtype(pa.string())
# int64 holds every 18-digit number; refuse more rather than overflow
_MAX_DIGITS = 18


def read_sql_ledger(
    engine: sqlalchemy.engine.Engine,
    sql_path: Path,
    *,
    params: dict | None = None,
    source_name: str | None = None,
    ledger_currency: str = "EUR",
) -> LedgerRead:
    """Run `sql_path` with `params` and return its rows as normalized ledger lines.

    Rows that cannot be converted (missing account or date, non-numeric or over-precise amount,
    debit and credit both non-zero, unknown currency) become quarantine records with a sentence
    a clerk can act on; a query that lacks a required column raises `LedgerFormatError`.
    """
    if ledger_currency not in ISO_4217:
        raise ValueError(f"ledger_currency {ledger_currency!r} is not an ISO 4217 code")
    sql_path = Path(sql_path)
    source = source_name or sql_path.name
    raw = _run_query(engine, sql_path, params)
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise LedgerFormatError(
            source, None,
            f"the query {sql_path.name} returns no column {', '.join(missing)} "
            f"(a ledger query must return {', '.join(REQUIRED_COLUMNS)})",
        )

    n = len(raw)
    out = pd.DataFrame(index=raw.index)
    out["source_file"] = source
    out["line_no"] = np.arange(1, n + 1, dtype="int64")
    problems = _Problems(raw.index)

    for name in ("journal_code", "entry_num", "account"):
        out[name] = _text(raw[name])
        problems.add(out[name].str.strip() == "", name, "missing_field",
                     _MISSING_REASONS[name])
    for name in _TEXT_COLUMNS:
        out[name] = _text(raw[name]) if name in raw else ""

    out["entry_date"], present, bad = _dates(raw["entry_date"])
    problems.add(~present, "entry_date", "missing_field",
                 "The entry has no date: complete it in the accounting system.")
    problems.add(bad, "entry_date", "bad_date",
                 "The entry date {value} is not a date (or is out of range).")

    book = _optional_text(raw, "currency").str.strip()
    book = book.where(book != "", ledger_currency)
    out["currency"] = book
    problems.add(~book.isin(ISO_4217), "currency", "bad_currency",
                 "The book currency {value} is not an ISO 4217 currency code.")

    book_exponents = _exponents(book)
    for side in ("debit", "credit"):
        minor, present, unusable = _minor_units(raw[side], book_exponents)
        out[f"{side}_minor"] = minor.fillna(0).astype("int64")
        out[f"_{side}_present"] = present
        problems.add_amount(unusable, side, f"The {side} amount {{value}}")
    problems.add(~out["_debit_present"] & ~out["_credit_present"], "", "missing_field",
                 "The line has neither a debit nor a credit amount.")
    problems.add((out["debit_minor"] != 0) & (out["credit_minor"] != 0), "", "debit_and_credit",
                 "The line has both a debit and a credit amount; a ledger line carries one side "
                 "only: split it in the accounting system.")

    fx_code = _optional_text(raw, "currency_code").str.strip()
    out["currency_code"] = fx_code
    problems.add((fx_code != "") & ~fx_code.isin(ISO_4217), "currency_code", "bad_currency",
                 "The foreign currency code {value} is not an ISO 4217 currency code.")
    if "currency_amount" in raw:
        fx_minor, fx_present, fx_unusable = _minor_units(raw["currency_amount"], _exponents(fx_code))
        out["currency_amount_minor"] = fx_minor
        problems.add(fx_present & (fx_code == ""), "currency_code", "missing_field",
                     "The line has a foreign currency amount but no currency code.")
        problems.add_amount(fx_unusable.where(fx_code != "", None), "currency_amount",
                            "The foreign currency amount {value}")

    for name in _OPTIONAL_DATES:
        if name in raw:
            out[name], _, bad = _dates(raw[name])
            problems.add(bad, name, "bad_date",
                         f"The {name.replace('_', ' ')} {{value}} is not a date (or is out of range).")

    failing = problems.failing()
    lines = conform(out.loc[~failing], LINE_COLUMNS)
    quarantine = problems.records(raw, out, source)
    read = LedgerRead(
        lines=lines,
        quarantine=quarantine,
        rows_read=n,
        meta={"format": "sql", "source": source, "query": sql_path.name,
              "dialect": engine.dialect.name},
    )
    read.check_conservation()
    return read


def read_sql_customers(
    engine: sqlalchemy.engine.Engine, sql_path: Path, *, params: dict | None = None
) -> pd.DataFrame:
    """Run a customer-master query and return `CUSTOMER_COLUMNS` (missing columns left empty).

    The query returns at least `customer_id` (the `aux_account` of the ledger query); the other
    customer-master columns are optional. `strategic` accepts booleans or true/false/1/0 text.
    """
    sql_path = Path(sql_path)
    raw = _run_query(engine, sql_path, params)
    if "customer_id" not in raw.columns:
        raise LedgerFormatError(sql_path.name, None,
                                f"the query {sql_path.name} returns no column customer_id")
    out = pd.DataFrame(index=raw.index)
    for name, dtype in CUSTOMER_COLUMNS.items():
        if dtype == "object" and name in raw:
            out[name] = _text(raw[name]).str.strip()
    if "country" in out:
        out["country"] = out["country"].str.upper()
    if "language" in out:
        out["language"] = out["language"].str.lower()
    if "segment" in out:
        out["segment"] = out["segment"].str.upper()
    # set even when the query has no such column: conform() would fill a bool column with NaN,
    # which is truthy
    strategic = _optional_text(raw, "strategic").str.strip().str.lower()
    out["strategic"] = strategic.isin(("true", "t", "1", "yes"))
    if "payment_terms_days" in raw:
        # a day count, not money: a float is harmless here
        days = pd.to_numeric(raw["payment_terms_days"], errors="coerce").astype("Float64")
        out["payment_terms_days"] = days.round().astype("Int64")
    return conform(out, CUSTOMER_COLUMNS)


# -- helpers ------------------------------------------------------------------------------------

_MISSING_REASONS = {
    "journal_code": "The line has no journal code: check the journal of its entry.",
    "entry_num": "The line has no entry number: check that its entry is posted and numbered.",
    "account": "The line has no account: assign one in the accounting system.",
}


_AMOUNT_FAULTS = {
    "not_a_number": "is not a number.",
    "too_precise": "has more decimals than its currency allows; correct it at the source "
                   "rather than let it be rounded.",
    "too_large": "is too large to be an amount: check it at the source.",
}


def _run_query(engine: sqlalchemy.engine.Engine, sql_path: Path, params: dict | None) -> pd.DataFrame:
    """The query's rows as an all-object frame: no dtype inference, so no Decimal becomes a float."""
    statement = sqlalchemy.text(sql_path.read_text(encoding="utf-8"))
    needed = set(statement.compile().params)
    given = dict(params or {})
    absent = sorted(needed - given.keys())
    if absent:
        raise ValueError(
            f"{sql_path.name} needs the parameter(s) {', '.join(absent)}; "
            f"got {', '.join(sorted(given)) or 'none'}"
        )
    with engine.connect() as conn:
        result = conn.execute(statement, {k: v for k, v in given.items() if k in needed})
        columns = [str(k).lower() for k in result.keys()]
        rows = result.fetchall()
    if len(set(columns)) != len(columns):
        raise LedgerFormatError(sql_path.name, None, f"the query returns duplicate columns: {columns}")
    return pd.DataFrame([tuple(r) for r in rows], columns=columns, dtype=object)


def _text(values: pd.Series) -> pd.Series:
    """NULL -> '', anything else -> str."""
    return values.where(values.notna(), "").astype(str)


def _optional_text(raw: pd.DataFrame, name: str) -> pd.Series:
    return _text(raw[name]) if name in raw else pd.Series("", index=raw.index, dtype=object)


def _dates(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(datetime64[ns] at midnight, present mask, unreadable mask).

    Accepts date/datetime objects and ISO 8601 text; a timestamp with a time zone is read in UTC.
    A date pandas cannot hold (before 1677 or after 2262) counts as unreadable.
    """
    present = values.notna() & (_text(values).str.strip() != "")
    parsed = pd.to_datetime(values.where(present), errors="coerce", format="ISO8601", utc=True)
    parsed = parsed.dt.tz_localize(None).dt.normalize().astype("datetime64[ns]")
    return parsed, present, present & parsed.isna()


def _exponents(currencies: pd.Series) -> pd.Series:
    table = {c: exponent(c) for c in currencies.unique()}
    return currencies.map(table).astype("int64")


def _minor_units(values: pd.Series, exponents: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Exact major-unit numbers -> (Int64 minor units, present mask, why unusable).

    Works on the decimal digit string of each value (str(Decimal) is exact): the value is
    mantissa * 10**k with trailing zeros moved into k, so '1200.000' EUR is 120000 and
    '10.005' EUR (k < 0 after stripping) is refused. NULL is absent (minor <NA>), NaN is not a
    number. "Why unusable" is None for a usable or absent value, else one of `_AMOUNT_FAULTS`.
    The string work runs on Arrow strings (C++ kernels), ten times faster than Python objects.
    """
    index = values.index
    text = values.astype(str).astype(_ARROW_TEXT).str.strip()
    nan = _bools(text.str.lower().isin(("nan", "-nan", "+nan", "snan")))
    present = (values.notna().to_numpy() | nan) & _bools(text != "")
    parts = text.str.extract(_NUMBER)
    matched = parts["sign"].notna().to_numpy()
    sign, whole, frac, exp = (parts[c].fillna("") for c in ("sign", "whole", "frac", "exp"))
    well_formed = present & matched & _bools((whole != "") | (frac != ""))

    digits = (whole + frac).str.lstrip("0")
    mantissa = digits.str.rstrip("0")
    zero = _bools(mantissa == "")
    mantissa_len = _ints(mantissa.str.len())
    shift = (exponents.to_numpy() + _ints(exp.where(exp != "", "0").astype("int64[pyarrow]"))
             - _ints(frac.str.len()) + (_ints(digits.str.len()) - mantissa_len))
    exact = zero | (shift >= 0)
    fits = zero | (mantissa_len + shift <= _MAX_DIGITS)
    ok = well_formed & exact & fits

    usable = ok & ~zero
    scaled = _ints(mantissa.where(usable, "0").astype("int64[pyarrow]")) * np.power(
        np.int64(10), np.where(usable, shift, 0).clip(0, _MAX_DIGITS))
    scaled = np.where(_bools(sign == "-"), -scaled, scaled)
    minor = pd.Series(pd.array(scaled, dtype="Int64"), index=index).where(ok, pd.NA)
    why = np.select([present & ~well_formed, present & ~exact, present & ~fits],
                    ["not_a_number", "too_precise", "too_large"], default="")
    why = pd.Series(why, index=index, dtype=object).replace("", None)
    return minor, pd.Series(present & ~nan, index=index), why


def _bools(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype=bool, na_value=False)


def _ints(series: pd.Series) -> np.ndarray:
    return series.to_numpy(dtype="int64", na_value=0)


class _Problems:
    """The first problem of each row (one quarantine record per rejected row keeps counts)."""

    def __init__(self, index: pd.Index):
        self.index = index
        self.field = pd.Series(None, index=index, dtype=object)
        self.code = pd.Series(None, index=index, dtype=object)
        self.template = pd.Series(None, index=index, dtype=object)
        self.value_of = pd.Series(None, index=index, dtype=object)

    def add(self, mask: pd.Series, field: str, code: str, template: str) -> None:
        new = mask.fillna(False).astype(bool) & self.code.isna()
        self.field[new] = field
        self.code[new] = code
        self.template[new] = template

    def add_amount(self, why: pd.Series, field: str, subject: str) -> None:
        """The faults `_minor_units` found in an amount column, `subject` opening each sentence."""
        for fault, predicate in _AMOUNT_FAULTS.items():
            self.add(why == fault, field, "bad_amount", f"{subject} {predicate}")

    def failing(self) -> pd.Series:
        return self.code.notna()

    def records(self, raw: pd.DataFrame, out: pd.DataFrame, source: str) -> pd.DataFrame:
        rows = []
        # per-row Python only over the rejected rows, to render them for a clerk
        for i in self.index[self.failing()]:
            record = raw.loc[i]
            field = self.field[i]
            value = record.get(field) if field in raw.columns else None
            rows.append({
                "source_file": source,
                "line_no": int(out.at[i, "line_no"]),
                "field": field,
                "reason_code": self.code[i],
                "reason": self.template[i].format(value=_render(value)),
                "raw": "; ".join(f"{k}={_cell(v)}" for k, v in record.items()),
            })
        return conform(pd.DataFrame(rows, columns=list(QUARANTINE_COLUMNS)), QUARANTINE_COLUMNS)


def _cell(value) -> str:
    if value is None:
        return ""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _render(value) -> str:
    text = _cell(value)
    return f"'{text}'" if text else "(empty)"
