"""Exact amount parsing: what a FEC, a CSV export or a spreadsheet writes, to minor units."""

import doctest

import numpy as np
import pandas as pd
import pytest

import receivables.ledger.amounts
import receivables.ledger.dates
from receivables.ledger.amounts import cells_to_minor, floats_to_minor, parse_amounts
from receivables.ledger.dates import cells_to_dates, parse_dates


def parsed(values, **options):
    minor, bad = parse_amounts(pd.Series(values, dtype=object), **options)
    assert minor.dtype == "Int64" and bad.dtype == bool
    return [None if pd.isna(m) else int(m) for m in minor], bad.tolist()


def test_a_zero_padded_fec_amount_reads_as_cents():
    assert parsed(["0000000069,60", "0000001234,5", "000000000000"]) == ([6960, 123450, 0], [False] * 3)


def test_french_amounts_with_spaces_as_thousands_separators_read_exactly():
    values = ["1 234,56", " 12 345 678,90 ", "1\u00a0234,56", "1\u202f234,56"]
    assert parsed(values) == ([123456, 1234567890, 123456, 123456], [False] * 4)


def test_no_decimals_and_one_decimal_are_completed_to_cents():
    assert parsed(["12", "12,5", "12,", ",5"]) == ([1200, 1250, 1200, 50], [False] * 4)


def test_a_leading_or_trailing_minus_or_parentheses_make_a_credit():
    values = ["-12,50", "12,50-", "(12,50)", "+12,50", "\u221212,50", "-0"]
    assert parsed(values) == ([-1250, -1250, -1250, 1250, -1250, 0], [False] * 6)


def test_two_signs_or_unbalanced_parentheses_are_bad():
    minor, bad = parsed(["-12-", "+12-", "(-12)", "(12", "12)", "--12"])
    assert bad == [True] * 6 and minor == [None] * 6


def test_a_decimal_point_file_reads_with_decimal_point():
    assert parsed(["1234.56", "-0.5", "1,234.56"], decimal=".", thousands=",") == (
        [123456, -50, 123456], [False] * 3
    )


def test_a_comma_is_not_a_decimal_mark_in_a_decimal_point_file():
    # "12,50" under decimal "." with no thousands separator declared is not an amount
    assert parsed(["12,50"], decimal=".") == ([None], [True])


def test_an_explicit_thousands_separator_must_group_by_three():
    minor, bad = parsed(["1.234.567,89", "1.234,5", "12.5", "1.23,00"], decimal=",", thousands=".")
    assert minor == [123456789, 123450, None, None]
    assert bad == [False, False, True, True]


def test_empty_cells_are_missing_but_not_bad():
    minor, bad = parsed(["", "   ", None, np.nan])
    assert minor == [None] * 4 and bad == [False] * 4


def test_garbage_is_bad():
    values = ["n/a", "12,3,4", "1e5", "12 EUR", "€12", "-", ",", "12..5", "0x10", "douze"]
    minor, bad = parsed(values)
    assert bad == [True] * len(values) and minor == [None] * len(values)


def test_extra_decimals_are_accepted_only_when_they_are_zeros():
    assert parsed(["12,500", "12,505", "12,5000000"]) == ([1250, None, 1250], [False, True, False])


def test_a_currency_without_decimals_reads_whole_units():
    # XOF, JPY: exponent 0
    assert parsed(["1 500", "1 500,00", "1 500,5"], exponent=0) == ([1500, 1500, None], [False, False, True])


def test_a_currency_with_three_decimals_reads_thousandths():
    # KWD, TND: exponent 3
    assert parsed(["12,345", "12,3", "-0,001", "12,3456"], exponent=3) == (
        [12345, 12300, -1, None], [False, False, False, True]
    )


def test_large_amounts_up_to_ten_to_the_thirteen_are_exact():
    values = ["10000000000000,00", "99999999999999,99", "-12345678901234,56", "9999999999999999,99"]
    assert parsed(values) == (
        [10**15, 9_999_999_999_999_999, -1_234_567_890_123_456, 999_999_999_999_999_999], [False] * 4
    )


def test_an_amount_that_would_overflow_int64_is_bad_not_wrapped():
    assert parsed(["99999999999999999,99", "123456789012345678901"]) == ([None, None], [True, True])


def test_the_result_keeps_the_index_of_the_input():
    series = pd.Series(["1,00", "x"], index=[10, 42])
    minor, bad = parse_amounts(series)
    assert minor.index.tolist() == [10, 42] and bad.index.tolist() == [10, 42]


def test_an_empty_series_gives_empty_results():
    minor, bad = parse_amounts(pd.Series([], dtype=object))
    assert len(minor) == 0 and len(bad) == 0 and minor.dtype == "Int64"


def test_same_thousands_and_decimal_separators_are_a_programming_error():
    with pytest.raises(ValueError, match="both"):
        parse_amounts(pd.Series(["1"]), decimal=",", thousands=",")


def test_spreadsheet_floats_become_cents_when_they_have_no_more_decimals_than_the_currency():
    minor, bad = floats_to_minor(np.array([69.6, 0.1 + 0.2, -1234.56, 12.0, np.nan]))
    assert minor.tolist()[:4] == [6960, 30, -123456, 1200] and pd.isna(minor.iloc[4])
    assert bad.tolist() == [False] * 5


def test_spreadsheet_floats_with_real_extra_decimals_are_bad_not_rounded():
    minor, bad = floats_to_minor(np.array([1.005, 69.6001, np.inf]))
    assert bad.tolist() == [True, True, True] and minor.isna().all()


def test_spreadsheet_cells_of_mixed_types_are_read_by_type():
    cells = pd.Series(["1 234,56", 12, 69.6, None, True, pd.Timestamp("2024-01-31"), "abc"], dtype=object)
    minor, bad = cells_to_minor(cells, decimal=",")
    assert minor.tolist()[:3] == [123456, 1200, 6960]
    assert bad.tolist() == [False, False, False, False, True, True, True]


def test_dates_follow_the_format_and_impossible_dates_are_bad():
    values = pd.Series(["31/01/2024", " 1/2/2024 ", "", None, "31/02/2024", "01/13/2024", "2024-01-31", "1/1/24"])
    dates, bad = parse_dates(values, "%d/%m/%Y")
    assert dates.dtype == "datetime64[ns]"
    assert dates.iloc[0] == pd.Timestamp("2024-01-31") and dates.iloc[1] == pd.Timestamp("2024-02-01")
    assert bad.tolist() == [False, False, False, False, True, True, True, True]


def test_a_compact_fec_date_must_have_all_its_digits():
    dates, bad = parse_dates(pd.Series(["20240131", "2024013", "20241301"]), "%Y%m%d")
    assert dates.iloc[0] == pd.Timestamp("2024-01-31") and bad.tolist() == [False, True, True]


def test_spreadsheet_date_cells_are_used_as_they_are_and_text_follows_the_format():
    cells = pd.Series([pd.Timestamp("2024-01-31 10:30"), "15/02/2024", 20240131, 45322.0, None], dtype=object)
    dates, bad = cells_to_dates(cells, "%d/%m/%Y")
    assert dates.iloc[0] == pd.Timestamp("2024-01-31") and dates.iloc[1] == pd.Timestamp("2024-02-15")
    assert bad.tolist() == [False, False, True, True, False]


def test_the_module_examples_run():
    for module in (receivables.ledger.amounts, receivables.ledger.dates):
        assert doctest.testmod(module).failed == 0
