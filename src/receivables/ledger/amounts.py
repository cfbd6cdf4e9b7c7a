"""Exact, vectorized amount parsing: text (or spreadsheet cells) to int64 minor units.

    >>> minor, bad = parse_amounts(pd.Series(["0000000069,60", " 1 234,5 ", "12-", "", "n/a"]))
    >>> minor.tolist(), bad.tolist()
    ([6960, 123450, -1200, <NA>, <NA>], [False, False, False, False, True])

Money is never a float (DESIGN.md, principle 2): the text is split into its integer and
fraction digits with string operations and the digits are cast to int64, so
`'12345678901234,56'` gives exactly `1234567890123456`. The string work runs in Arrow compute
kernels (one RE2 match to validate, then plain string kernels and a C++ cast): about 0.6 s per
million values, where the same steps with pandas `.str` methods take over 2 s.

What a value may look like (`decimal` ',' or '.', optional `thousands`):
  - surrounding and inner spaces (ASCII, no-break U+00A0, narrow no-break U+202F) are ignored:
    they are how French exports group thousands (`1 234,56`);
  - any other thousands separator must be declared (`thousands='.'`: `1.234.567,89`) and must
    group digits by three: `12.5` with `thousands='.'` is bad, since it is probably a decimal
    point in the wrong file, and `1.234,56` without it is bad too;
  - one sign at most: a leading `-`/`+`, a trailing `-` (SAP, AS/400 exports), or accounting
    parentheses `(12,50)`; the Unicode minus U+2212 counts as `-`;
  - zero padding (`0000000069,60`), no decimals (`12`), fewer decimals than the currency (`12,5`),
    a bare decimal mark (`12,` or `,5`);
  - more decimals than the currency allows are accepted only when the extra digits are zeros
    (`12,500` is 12.50 EUR, `12,505` is bad): an amount is never rounded silently;
  - empty (or only spaces) is NA and *not* bad: whether a blank amount is acceptable is the
    caller's decision;
  - anything else (letters, currency symbols, exponents, two decimal marks) is bad.
Values are limited to 18 significant digits in minor units (|x| < 10^18), which keeps int64 safe.
"""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

DECIMAL_MARKS = (",", ".")
# Thousands separators a mapping may declare; spaces are always ignored anyway.
THOUSANDS_SEPARATORS = (".", ",", "'", " ", "\u00a0", "\u202f")
MAX_DIGITS = 18  # significant digits of a minor-unit value: < 10**18 < int64 max (9.22e18)

_INNER_SPACES = (" ", "\u00a0", "\u202f", "\u2007", "\t")


def _check_options(decimal: str, thousands: str | None, exponent: int) -> str | None:
    if decimal not in DECIMAL_MARKS:
        raise ValueError(f"decimal must be ',' or '.', not {decimal!r}")
    if thousands in (None, "", " ", "\u00a0", "\u202f"):
        thousands = None  # spaces are stripped in every case
    elif thousands not in THOUSANDS_SEPARATORS:
        raise ValueError(f"thousands must be one of {THOUSANDS_SEPARATORS!r} or None, not {thousands!r}")
    elif thousands == decimal:
        raise ValueError(f"thousands and decimal separators are both {decimal!r}")
    if not isinstance(exponent, (int, np.integer)) or not 0 <= exponent <= 4:
        raise ValueError(f"exponent must be an integer 0..4, not {exponent!r}")
    return thousands


def _to_arrow_strings(values: pd.Series) -> pa.Array:
    """Arrow utf8 array of the values; None/NaN become null, non-strings their str()."""
    if isinstance(values.dtype, pd.ArrowDtype) and pa.types.is_string(values.dtype.pyarrow_dtype):
        return pa.array(values)   # already Arrow strings: no round trip through Python objects
    obj = values.to_numpy(dtype=object, na_value=None)
    try:
        return pa.array(obj, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Mixed content (ints from a spreadsheet, ...): stringify what is not text.
        fixed = [v if v is None or isinstance(v, str) else str(v) for v in obj]
        return pa.array(fixed, type=pa.string(), from_pandas=True)


def _int64_series(arr: pa.Array, index: pd.Index) -> pd.Series:
    """Arrow int64 (with nulls) to a pandas Int64 series without going through float."""
    mask = pc.is_null(arr).to_numpy(zero_copy_only=False)
    values = pc.fill_null(arr, 0).to_numpy(zero_copy_only=False).astype("int64", copy=False)
    return pd.Series(pd.arrays.IntegerArray(values, mask), index=index)


def parse_amounts(
    series: pd.Series,
    decimal: str = ",",
    thousands: str | None = None,
    exponent: int = 2,
) -> tuple[pd.Series, pd.Series]:
    """Parse amount strings to minor units.

    Returns `(minor, bad)`, both indexed like `series`: `minor` is Int64 (NA where the text is
    empty or bad), `bad` is bool (True where the text is not empty and not an amount).
    """
    thousands = _check_options(decimal, thousands, exponent)
    index = series.index
    if len(series) == 0:
        return pd.Series(pd.array([], dtype="Int64"), index=index), pd.Series([], dtype=bool, index=index)

    text = _to_arrow_strings(series)
    text = pc.utf8_trim_whitespace(text)
    for space in _INNER_SPACES:  # literal replaces: 5x cheaper than one regex replace
        text = pc.replace_substring(text, space, "")
    text = pc.replace_substring(text, "\u2212", "-")
    empty = pc.fill_null(pc.equal(pc.utf8_length(text), 0), True)

    # Validate the shape with one RE2 match (cheap), then take it apart with plain string kernels
    # (a capturing extract_regex costs four times as much).
    d = "\\" + decimal
    int_part = r"\d*" if thousands is None else rf"\d*|\d{{1,3}}(?:\{thousands}\d{{3}})+"
    number = rf"(?:{int_part})(?:{d}\d*)?"
    ok = pc.match_substring_regex(text, rf"^(?:\({number}\)|[+-]?{number}|{number}-)$")
    negative = pc.or_(
        pc.or_(pc.starts_with(text, "-"), pc.ends_with(text, "-")), pc.starts_with(text, "(")
    )
    body = pc.utf8_trim(text, "()+-")
    if thousands is not None:
        body = pc.replace_substring(body, thousands, "")
    # Appending a decimal mark gives every value exactly two parts: "69,60," / "12,".
    parts = pc.split_pattern(pc.binary_join_element_wise(body, decimal, ""), decimal, max_splits=1)
    int_digits = pc.list_element(parts, 0)
    frac = pc.utf8_rtrim(pc.list_element(parts, 1), decimal)

    frac_extra = pc.utf8_slice_codeunits(frac, exponent)
    extra_is_zeros = pc.equal(pc.utf8_length(pc.utf8_ltrim(frac_extra, "0")), 0)
    frac_kept = pc.utf8_rpad(pc.utf8_slice_codeunits(frac, 0, exponent), exponent, "0")
    digits = pc.utf8_ltrim(pc.binary_join_element_wise(int_digits, frac_kept, ""), "0")
    has_digit = pc.greater(pc.add(pc.utf8_length(int_digits), pc.utf8_length(frac)), 0)
    fits = pc.less_equal(pc.utf8_length(digits), MAX_DIGITS)
    ok = pc.fill_null(pc.and_(pc.and_(ok, has_digit), pc.and_(extra_is_zeros, fits)), False)

    digits = pc.if_else(pc.equal(pc.utf8_length(digits), 0), "0", digits)
    magnitude = pc.cast(pc.if_else(ok, digits, pa.scalar(None, pa.string())), pa.int64())
    minor = pc.if_else(pc.fill_null(negative, False), pc.negate(magnitude), magnitude)

    bad = pc.and_(pc.invert(ok), pc.invert(empty))
    return _int64_series(minor, index), pd.Series(bad.to_numpy(zero_copy_only=False), index=index)


def floats_to_minor(values: np.ndarray | pd.Series, exponent: int = 2) -> tuple[pd.Series, pd.Series]:
    """Spreadsheet numbers (binary floats) to minor units: `round(x * 10**exponent)`, checked.

    A float cell holds the binary double nearest to what was typed (`69.6` is
    69.599999999999994315658...), so `x * 100` is only *near* an integer. The value is accepted
    when it is within 1e-14 (relative) of an integer number of minor units, i.e. when its extra
    decimals are representation noise beyond the ~15 significant digits Excel keeps; a value
    with real extra decimals (`1.005` EUR, `69.6001`) is bad, never rounded. NaN is NA (empty
    cell), +-inf and values of 10^18 minor units or more are bad.
    """
    index = values.index if isinstance(values, pd.Series) else pd.RangeIndex(len(values))
    x = np.asarray(values, dtype="float64")
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = x * float(10**exponent)
        nearest = np.rint(scaled)
        tolerance = np.maximum(np.abs(scaled), 1.0) * 1e-14
        ok = np.isfinite(scaled) & (np.abs(scaled - nearest) <= tolerance) & (np.abs(nearest) < 1e18)
    empty = np.isnan(x)
    minor = np.where(ok, nearest, 0).astype("int64")
    out = pd.Series(pd.arrays.IntegerArray(minor, ~ok), index=index)
    return out, pd.Series(~ok & ~empty, index=index)


def cells_to_minor(
    cells: pd.Series,
    decimal: str = ",",
    thousands: str | None = None,
    exponent: int = 2,
) -> tuple[pd.Series, pd.Series]:
    """Spreadsheet cells (str, int, float, None, dates...) to minor units.

    Text cells go through `parse_amounts`, integer cells are exact, float cells go through
    `floats_to_minor`; anything else (a date, a boolean) is bad. Returns `(minor, bad)`.
    """
    _check_options(decimal, thousands, exponent)
    index = cells.index
    kinds = cells.map(_cell_kind).to_numpy()
    values = np.zeros(len(cells), dtype="int64")
    missing = np.ones(len(cells), dtype=bool)
    bad = kinds == "other"

    def put(where: np.ndarray, result: tuple[pd.Series, pd.Series]) -> None:
        m, b = result
        values[where] = m.fillna(0).to_numpy(dtype="int64")
        missing[where] = m.isna().to_numpy()
        bad[where] = b.to_numpy(dtype=bool)

    if (is_text := kinds == "str").any():
        put(is_text, parse_amounts(cells[is_text], decimal=decimal, thousands=thousands, exponent=exponent))
    if (is_int := kinds == "int").any():  # exact: through the decimal string of the integer
        put(is_int, parse_amounts(cells[is_int].map(str), decimal=".", exponent=exponent))
    if (is_float := kinds == "float").any():
        put(is_float, floats_to_minor(cells[is_float].astype("float64"), exponent=exponent))
    return pd.Series(pd.arrays.IntegerArray(values, missing), index=index), pd.Series(bad, index=index)


def _cell_kind(value: object) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return "empty"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (bool, np.bool_)):
        return "other"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "empty" if math.isnan(value) else "float"
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return "other"
    return "other"
