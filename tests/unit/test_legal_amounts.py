"""Legal late-payment amounts on formal notices (France: ECB rate + 10 points by half-year, and
the 40 EUR recovery indemnity), exact to the cent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from receivables.money import Money
from receivables.scenarios.legal import LegalRulesError, late_interest, late_interest_minor, load_rules, recovery_indemnity

FR = load_rules("FR")
EUR = lambda text: Money.parse(text, "EUR")  # noqa: E731


def test_the_french_rate_is_the_ecb_rate_of_the_half_year_plus_ten_points():
    assert FR.rate_on(dt.date(2024, 3, 1)) == Decimal("14.50")
    assert FR.rate_on(dt.date(2024, 7, 1)) == Decimal("14.25")
    assert FR.rate_on(dt.date(2025, 6, 30)) == Decimal("13.15")
    assert FR.rate_on(dt.date(2025, 7, 1)) == Decimal("12.15")


def test_an_invoice_of_1000_euros_45_days_late_across_two_half_years_owes_15_80():
    # 30 days of June 2025 at 13.15 %, 15 days of July at 12.15 %, actual days / 365
    assert late_interest(EUR("1000.00"), due=dt.date(2025, 5, 31), as_of=dt.date(2025, 7, 15), rules=FR) == EUR("15.80")


def test_nothing_is_owed_on_the_due_date_itself_and_one_day_costs_one_day():
    assert late_interest(EUR("1000.00"), due=dt.date(2025, 5, 31), as_of=dt.date(2025, 5, 31), rules=FR) == EUR("0.00")
    # 1000 x 13.15 % / 365 = 0.36027...
    assert late_interest(EUR("1000.00"), due=dt.date(2025, 5, 31), as_of=dt.date(2025, 6, 1), rules=FR) == EUR("0.36")


def test_whole_columns_give_the_same_cents_as_one_invoice_at_a_time():
    amounts = np.array([100_000, 5_000_000, 1, 99_999_999, 250_00])
    dues = np.array(["2025-05-31", "2024-12-31", "2025-01-10", "2023-02-28", "2025-08-01"], dtype="datetime64[D]")
    as_of = dt.date(2025, 7, 15)
    column = late_interest_minor(amounts, dues, as_of, FR)
    one_by_one = [late_interest(Money.from_minor(int(a), "EUR"), due=d.astype(dt.date), as_of=as_of, rules=FR).minor
                  for a, d in zip(amounts, dues)]
    assert list(column) == one_by_one
    assert column[1] == 351014 and column[4] == 0     # 50,000.00 over 196 days; not yet due


def test_the_recovery_indemnity_is_40_euros_between_businesses_only():
    assert recovery_indemnity(FR) == EUR("40.00")
    assert recovery_indemnity(FR, b2b=False) == EUR("0.00")


def test_a_day_beyond_the_published_rates_is_refused_naming_the_rate_file():
    with pytest.raises(LegalRulesError, match=r"FR\.yaml: no reference rate for 2026-01-01 .the table covers 2022-01-01 to 2025-12-31"):
        late_interest(EUR("1000.00"), due=dt.date(2025, 12, 31), as_of=dt.date(2026, 2, 1), rules=FR)


def test_a_rate_table_with_a_missing_half_year_is_refused(tmp_path):
    (tmp_path / "XX.yaml").write_text('country: XX\nmargin_points: "10"\nreference_rates:\n'
                                      '  2024-01-01: "4.50"\n  2025-01-01: "3.15"\n', encoding="utf-8")
    with pytest.raises(LegalRulesError, match="XX.yaml, reference_rates: 2024-07-01 is missing"):
        load_rules("XX", tmp_path)


def test_an_unknown_country_says_where_the_rules_are_expected(tmp_path):
    with pytest.raises(LegalRulesError, match="no late-payment rules for country 'ZZ'"):
        load_rules("ZZ", tmp_path)
