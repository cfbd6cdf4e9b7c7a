import doctest
from datetime import date, datetime

import pytest

import receivables.calendar
from receivables.calendar import (
    business_days_between,
    is_business_day,
    next_business_day,
    previous_business_day,
)

FRENCH_PUBLIC_HOLIDAYS_2025 = [
    date(2025, 1, 1),  # Jour de l'an
    date(2025, 4, 21),  # Lundi de Pâques
    date(2025, 5, 1),  # Fête du travail
    date(2025, 5, 8),  # Victoire 1945
    date(2025, 5, 29),  # Ascension
    date(2025, 6, 9),  # Lundi de Pentecôte
    date(2025, 7, 14),  # Fête nationale
    date(2025, 8, 15),  # Assomption
    date(2025, 11, 1),  # Toussaint (a Saturday in 2025)
    date(2025, 11, 11),  # Armistice
    date(2025, 12, 25),  # Noël
]


def test_bastille_day_is_not_a_business_day():
    assert not is_business_day(date(2025, 7, 14))


def test_an_ordinary_tuesday_is_a_business_day():
    assert is_business_day(date(2025, 7, 15))


def test_saturday_and_sunday_are_not_business_days():
    assert not is_business_day(date(2025, 6, 28))
    assert not is_business_day(date(2025, 6, 29))


@pytest.mark.parametrize("holiday", FRENCH_PUBLIC_HOLIDAYS_2025, ids=str)
def test_every_french_public_holiday_of_2025_is_not_a_business_day(holiday):
    assert not is_business_day(holiday, "FR")


def test_friday_is_followed_by_monday():
    assert next_business_day(date(2025, 6, 27)) == date(2025, 6, 30)


def test_monday_is_preceded_by_friday():
    assert previous_business_day(date(2025, 6, 30)) == date(2025, 6, 27)


def test_easter_monday_2025_is_skipped():
    assert next_business_day(date(2025, 4, 18)) == date(2025, 4, 22)
    assert previous_business_day(date(2025, 4, 22)) == date(2025, 4, 18)


def test_a_friday_before_bastille_day_is_followed_by_tuesday():
    assert next_business_day(date(2025, 7, 11)) == date(2025, 7, 15)


def test_next_and_previous_business_day_are_strictly_after_and_before():
    tuesday = date(2025, 7, 15)
    assert next_business_day(tuesday) == date(2025, 7, 16)
    assert previous_business_day(tuesday) == date(2025, 7, 11)


def test_the_search_crosses_a_year_end():
    assert next_business_day(date(2025, 12, 31)) == date(2026, 1, 2)
    assert previous_business_day(date(2026, 1, 2)) == date(2025, 12, 31)


def test_business_days_between_counts_a_month_of_june_2025():
    june = business_days_between(date(2025, 6, 1), date(2025, 6, 30))
    # 21 weekdays in June 2025, minus Whit Monday (9 June).
    assert len(june) == 20
    assert june[0] == date(2025, 6, 2)
    assert june[-1] == date(2025, 6, 30)
    assert date(2025, 6, 9) not in june


def test_business_days_between_includes_both_ends():
    assert business_days_between(date(2025, 7, 15), date(2025, 7, 16)) == [
        date(2025, 7, 15),
        date(2025, 7, 16),
    ]


def test_business_days_between_is_empty_when_the_end_comes_first():
    assert business_days_between(date(2025, 7, 16), date(2025, 7, 15)) == []


def test_alsace_moselle_days_count_only_with_the_subdivision():
    good_friday = date(2025, 4, 18)
    saint_stephen = date(2025, 12, 26)
    assert is_business_day(good_friday) and is_business_day(saint_stephen)
    assert not is_business_day(good_friday, "FR", subdiv="57")
    assert not is_business_day(saint_stephen, "FR", subdiv="57")


def test_german_unity_day_is_a_holiday_in_germany_but_not_in_france():
    unity_day = date(2025, 10, 3)  # a Friday
    assert not is_business_day(unity_day, "DE")
    assert is_business_day(unity_day, "FR")
    assert next_business_day(date(2025, 10, 2), "DE") == date(2025, 10, 6)


def test_bastille_day_is_a_business_day_in_germany():
    assert is_business_day(date(2025, 7, 14), "DE")


def test_bavaria_adds_epiphany_to_the_german_national_calendar():
    epiphany = date(2025, 1, 6)  # a Monday
    assert is_business_day(epiphany, "DE")
    assert not is_business_day(epiphany, "DE", subdiv="BY")


def test_country_codes_are_case_insensitive():
    assert not is_business_day(date(2025, 7, 14), "fr")


def test_an_unknown_country_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="'XX'"):
        is_business_day(date(2025, 7, 15), "XX")


def test_a_datetime_is_refused_because_it_would_never_match_a_holiday():
    with pytest.raises(TypeError, match="datetime.date"):
        is_business_day(datetime(2025, 7, 14, 9, 0))


def test_holiday_sets_are_cached_per_country_and_year():
    receivables.calendar._public_holidays.cache_clear()
    is_business_day(date(2025, 7, 14))
    is_business_day(date(2025, 7, 15))
    is_business_day(date(2025, 7, 14), "DE")
    is_business_day(date(2026, 7, 14))
    info = receivables.calendar._public_holidays.cache_info()
    assert (info.misses, info.hits) == (3, 1)


def test_the_module_docstring_example_holds():
    failures, attempted = doctest.testmod(receivables.calendar)
    assert attempted > 0
    assert failures == 0
