"""What an SMS costs and when it may go: GSM-7 and UCS-2 segments, quiet hours in the customer's
time zone, numbers in E.164, reply keywords."""

from __future__ import annotations

import datetime as dt

import pytest

from receivables.channels.sms import customer_calendar, e164, effective_send_time, keyword, segments

UTC = dt.timezone.utc


# -- segments --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("a" * 160, ("GSM-7", 1)),
    ("a" * 161, ("GSM-7", 2)),
    ("a" * 306, ("GSM-7", 2)),
    ("a" * 307, ("GSM-7", 3)),
    ("", ("GSM-7", 0)),
])
def test_gsm_text_fits_160_characters_in_one_sms_then_153_per_segment(text, expected):
    assert segments(text) == expected


def test_an_extension_character_counts_two_septets():
    assert segments("€" * 80) == ("GSM-7", 1)             # 160 septets
    assert segments("€" * 81) == ("GSM-7", 2)             # 162 septets
    assert segments("Total : 1 234,50 € [FA-1]" + "a" * 130) == ("GSM-7", 1)   # 155 + 2 + 2 + 1 septets = 160


def test_an_extension_character_is_never_split_across_two_segments():
    # 152 + 77 * 2 = 306 septets would fill two segments exactly, but the escape pair of the 77th
    # euro sign cannot straddle the first boundary: a third segment is needed
    assert segments("a" * 152 + "€" * 77) == ("GSM-7", 3)


def test_a_french_accent_stays_gsm_but_a_polish_letter_or_an_emoji_switches_to_ucs2():
    assert segments("é" * 160) == ("GSM-7", 1)
    assert segments("Facture réglée à échéance") == ("GSM-7", 1)
    assert segments("ł" + "a" * 69) == ("UCS-2", 1)
    assert segments("ł" + "a" * 70) == ("UCS-2", 2)
    assert segments("a" * 159 + "😀") == ("UCS-2", 3)      # 161 UTF-16 units


@pytest.mark.parametrize("text, expected", [
    ("ł" * 70, ("UCS-2", 1)),
    ("ł" * 71, ("UCS-2", 2)),
    ("ł" * 134, ("UCS-2", 2)),
    ("ł" * 135, ("UCS-2", 3)),
    ("😀" * 35, ("UCS-2", 1)),                              # an emoji is two UTF-16 code units
    ("😀" * 36, ("UCS-2", 2)),
    ("a" * 66 + "😀" + "a" * 66, ("UCS-2", 3)),             # 134 units, but the emoji cannot straddle unit 67
])
def test_ucs2_text_fits_70_code_units_in_one_sms_then_67_per_segment(text, expected):
    assert segments(text) == expected


# -- quiet hours -------------------------------------------------------------------------------

MONDAY = dt.date(2025, 7, 7)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), UTC)


def test_an_sms_planned_at_seven_in_paris_goes_at_eight():
    planned = at(MONDAY, 5)                                  # 07:00 in Paris (summer time)
    assert effective_send_time(planned, at(MONDAY, 4), "FR") == at(MONDAY, 6)


def test_an_sms_within_the_window_goes_at_its_planned_time_or_now_when_later():
    assert effective_send_time(at(MONDAY, 7), at(MONDAY, 6), "FR") == at(MONDAY, 7)
    assert effective_send_time(at(MONDAY, 7), at(MONDAY, 9, 30), "FR") == at(MONDAY, 9, 30)


def test_friday_at_nine_in_the_evening_goes_on_monday_at_eight():
    friday_evening = at(dt.date(2025, 7, 4), 19)              # 21:00 in Paris
    assert effective_send_time(friday_evening, friday_evening, "FR") == at(MONDAY, 6)


def test_a_public_holiday_is_skipped_like_a_weekend():
    friday_evening = at(dt.date(2025, 7, 11), 19)             # Monday 14 July is Bastille Day
    assert effective_send_time(friday_evening, friday_evening, "FR") == at(dt.date(2025, 7, 15), 6)


def test_a_customer_in_martinique_gets_its_sms_at_eight_in_martinique():
    paris_morning = at(MONDAY, 7)                             # 09:00 in Paris, 03:00 in Fort-de-France
    assert effective_send_time(paris_morning, paris_morning, "MQ") == at(MONDAY, 12)   # UTC-4


def test_the_window_follows_winter_time():
    january = dt.date(2025, 1, 6)
    assert effective_send_time(at(january, 5), at(january, 5), "FR") == at(january, 7)   # 08:00 CET


def test_a_customer_of_unknown_country_follows_the_companys_calendar_and_zone():
    assert customer_calendar("") == ("FR", "Europe/Paris")
    assert customer_calendar("mq") == ("MQ", "America/Martinique")
    assert effective_send_time(at(MONDAY, 5), at(MONDAY, 5), "") == at(MONDAY, 6)


def test_a_custom_window_and_a_naive_time_read_as_utc():
    naive = dt.datetime(2025, 7, 7, 5, 0)
    assert effective_send_time(naive, at(MONDAY, 5), "FR", (9, 18)) == at(MONDAY, 7)
    assert effective_send_time(at(MONDAY, 16), at(MONDAY, 16), "FR", (9, 18)) == at(dt.date(2025, 7, 8), 7)
    with pytest.raises(ValueError, match="window"):
        effective_send_time(naive, naive, "FR", (20, 8))


# -- numbers and keywords ------------------------------------------------------------------------

@pytest.mark.parametrize("phone, country, expected", [
    ("+33 6 12 34 56 78", "FR", "+33612345678"),
    ("06.12.34.56.78", "FR", "+33612345678"),
    ("06-12-34-56-78", "FR", "+33612345678"),
    ("0033 6 12 34 56 78", "", "+33612345678"),
    ("+33 (0)6 12 34 56 78", "", "+33612345678"),
    ("0696 12 34 56", "MQ", "+596696123456"),
    ("0696 12 34 56", "FR", "+596696123456"),                # an overseas prefix says its own code
    ("06 12 34 56 78", "MQ", "+33612345678"),                # a mainland mobile of a Martinique customer
    ("0470 12 34 56", "BE", "+32470123456"),
    ("06 1234 5678", "IT", "+390612345678"),                 # Italian numbers keep their 0
    ("030 1234567", "DE", "+49301234567"),
    ("06 12 34 56 78", "", ""),                              # national, country unknown
    ("06 12 34 56 78", "ZZ", ""),
    ("12", "FR", ""),
    ("", "FR", ""),
    (None, "FR", ""),
    (float("nan"), "FR", ""),
    ("call the office", "FR", ""),
])
def test_a_phone_number_is_written_in_e164(phone, country, expected):
    assert e164(phone, country) == expected


@pytest.mark.parametrize("body, expected", [
    ("STOP", "STOP"), ("stop", "STOP"), (" Stop. ", "STOP"), ("arrêt", "ARRET"), ("Stop  SMS", "STOP SMS"),
    ("Start!", "START"), ("", ""), (None, ""),
])
def test_a_reply_is_read_as_a_keyword(body, expected):
    assert keyword(body) == expected
