"""Vectorized date parsing with an explicit format: text (or spreadsheet cells) to datetime64.

    >>> when, bad = parse_dates(pd.Series(["31/01/2024", " 1/2/2024 ", "", "31/02/2024"]), "%d/%m/%Y")
    >>> when.dt.strftime("%Y-%m-%d").tolist(), bad.tolist()
    (['2024-01-31', '2024-02-01', nan, nan], [False, False, False, True])

The format is always explicit (a mapping's `date_format`, `%Y%m%d` for a FEC): guessing
`01/02/2024` is how a French ledger ends up with invoices dated in January instead of February.
Empty text is NaT and not bad (whether a date may be missing is the caller's decision); an
impossible date (31/02, month 13), a year outside 1678..2261 (pandas' datetime64[ns] range),
text that does not follow the format exactly, or trailing text are bad. A time of day, when the
format has one, is dropped: ledger dates are dates at midnight (schema.py).
"""

from __future__ import annotations

import re
from datetime import date, datetime

import numpy as np
import pandas as pd


def parse_dates(series: pd.Series, fmt: str) -> tuple[pd.Series, pd.Series]:
    """Parse date strings with the strftime format `fmt`.

    Returns `(dates, bad)` indexed like `series`: `dates` is datetime64[ns] at midnight (NaT
    where empty or bad), `bad` is bool.
    """
    index = series.index
    text = series.astype("string").str.strip()
    empty = (text.isna() | (text == "")).to_numpy(dtype=bool)
    # A ledger has few distinct dates: parse each once (pandas' own cache skips string dtypes).
    codes, uniques = pd.factorize(text.where(~empty, None).astype(object), use_na_sentinel=True)
    uniques = pd.Series(uniques, dtype=object)
    parsed = pd.to_datetime(uniques, format=fmt, errors="coerce")
    if getattr(parsed.dt, "tz", None) is not None:  # a %z format: keep the local calendar date
        parsed = parsed.dt.tz_localize(None)
    parsed = parsed.astype("datetime64[ns]").dt.normalize().to_numpy(dtype="datetime64[ns]", copy=True)
    shape = _shape_regex(fmt)
    if shape is not None and len(uniques):  # strptime is lenient: '%Y%m%d' takes '2024013'
        parsed[~uniques.str.fullmatch(shape).fillna(False).to_numpy(dtype=bool)] = np.datetime64("NaT")
    values = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[ns]")
    found = codes >= 0
    values[found] = parsed[codes[found]]
    bad = np.isnat(values) & ~empty
    return pd.Series(values, index=index), pd.Series(bad, index=index)


# Numeric directives and the digits they take; a field next to another directive with no
# literal between them must have its full width ('%Y%m%d'), else it may drop a leading zero.
_DIRECTIVE_WIDTHS = {"Y": (4, 4), "y": (2, 2), "m": (1, 2), "d": (1, 2), "H": (1, 2), "M": (1, 2),
                     "S": (1, 2), "j": (1, 3)}


def _shape_regex(fmt: str) -> str | None:
    """A regex the text of a date must fully match under `fmt`, or None when `fmt` uses
    directives other than the numeric ones (month names...), which strptime checks itself."""
    tokens: list[tuple[str, str]] = []  # ("dir", letter) or ("lit", text)
    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            letter = fmt[i + 1]
            if letter == "%":
                tokens.append(("lit", "%"))
            elif letter in _DIRECTIVE_WIDTHS:
                tokens.append(("dir", letter))
            else:
                return None
            i += 2
        else:
            tokens.append(("lit", fmt[i]))
            i += 1
    parts = []
    for k, (kind, value) in enumerate(tokens):
        if kind == "lit":
            parts.append(re.escape(value))
            continue
        low, high = _DIRECTIVE_WIDTHS[value]
        glued = (k > 0 and tokens[k - 1][0] == "dir") or (k + 1 < len(tokens) and tokens[k + 1][0] == "dir")
        parts.append(rf"\d{{{high}}}" if glued or low == high else rf"\d{{{low},{high}}}")
    return "".join(parts)


def cells_to_dates(cells: pd.Series, fmt: str) -> tuple[pd.Series, pd.Series]:
    """Spreadsheet cells to dates: date cells as they are, text (and integers such as
    20240131 under `%Y%m%d`) through `parse_dates`; other numbers and booleans are bad.

    A number in a date column is not read as an Excel serial day: openpyxl already turns cells
    formatted as dates into datetimes, and an unformatted 45322 is more likely a mistake than a
    date.
    """
    index = cells.index
    kinds = cells.map(_cell_kind).to_numpy()
    values = np.full(len(cells), np.datetime64("NaT"), dtype="datetime64[ns]")
    bad = kinds == "other"

    is_date = kinds == "date"
    if is_date.any():
        stamps = pd.to_datetime(cells[is_date].map(_as_datetime), errors="coerce")
        values[is_date] = stamps.dt.normalize().to_numpy(dtype="datetime64[ns]")
        bad[is_date] = stamps.isna().to_numpy()  # out of the datetime64[ns] range
    is_text = (kinds == "str") | (kinds == "int")
    if is_text.any():
        parsed, wrong = parse_dates(cells[is_text].map(str), fmt)
        values[is_text] = parsed.to_numpy(dtype="datetime64[ns]")
        bad[is_text] = wrong.to_numpy()
    return pd.Series(values, index=index), pd.Series(bad, index=index)


def _as_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime(value.year, value.month, value.day)  # a date


def _cell_kind(value: object) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return "empty"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (datetime, date)):  # includes pd.Timestamp
        return "date"
    if isinstance(value, (bool, np.bool_)):
        return "other"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, float) and np.isnan(value):
        return "empty"
    return "other"
