"""CFONB 120 statements: the akretion and pennylane samples, the broken pennylane files, the
overpunch amounts, the layouts banks send (lines, CRLF, no line breaks at all)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from receivables.bank.cfonb import (
    OVERPUNCH,
    decode_amount,
    decode_date,
    decode_overpunch,
    read_cfonb,
    read_cfonb_operation,
)
from receivables.bank.schema import BANK_LINE_COLUMNS, StatementFormatError
from receivables.ledger.schema import QUARANTINE_COLUMNS
from shared_paths import SHARED_FIXTURES

AKRETION = SHARED_FIXTURES / "cfonb-akretion-python-cfonb"
PENNYLANE = SHARED_FIXTURES / "cfonb-pennylane-cfonb"


def _records(path) -> list[str]:
    """The file's records, each padded to 120 characters, blank lines dropped."""
    return [line.ljust(120) for line in path.read_text(encoding="ascii").splitlines() if line.strip()]


# -- the samples ---------------------------------------------------------------------------------

def test_the_akretion_lcl_statement_reads_four_operations_with_their_signs():
    read = read_cfonb(AKRETION / "bank_statement.cfo")

    [statement] = read.statements
    assert statement.statement_id == "0000888899H/2011-09-16"
    assert statement.account == "0000888899H"
    assert statement.currency == "EUR"  # blank on the 01/07, given by the 04s
    assert (statement.opening_balance_minor, statement.closing_balance_minor) == (8, 1187114)
    assert read.lines["amount_minor"].tolist() == [-200000, -100000, 400000, -300000]
    assert read.lines["bank_line_id"].tolist() == [f"0000888899H/2011-09-16#{k}" for k in range(1, 5)]
    assert read.lines["remittance"].tolist() == ["LCL20000000142", "LCL20000000141", "LCL20000000144",
                                                 "LCL20000000143"]
    assert read.lines["booking_date"].iloc[0] == pd.Timestamp("2011-08-21")
    assert read.lines["value_date"].tolist() == [pd.Timestamp(d) for d in
                                                 ("2011-09-23", "2011-09-21", "2011-10-02", "2011-10-01")]
    assert read.entries_read == 4 and read.quarantine.empty


def test_a_statement_whose_lines_do_not_add_up_to_its_new_balance_gets_a_finding():
    [statement] = read_cfonb(AKRETION / "bank_statement.cfo").statements

    assert statement.findings == ["opening 0.08 + lines -2000.00 != closing 11871.14 EUR"]


def test_the_pennylane_example_gives_two_balanced_statements_of_three_operations():
    read = read_cfonb(PENNYLANE / "example.txt")

    first, second = read.statements
    assert (first.statement_id, first.opening_date, first.closing_date) == (
        "98765432100/2019-05-15", date(2019, 5, 15), date(2019, 5, 16))
    assert (first.opening_balance_minor, first.closing_balance_minor) == (-19040, -24121)
    assert (second.statement_id, second.opening_balance_minor, second.closing_balance_minor) == (
        "00123456789/2019-05-16", -24121, -16372)
    assert first.findings == [] and second.findings == []
    by_statement = read.lines.groupby("statement_id")["amount_minor"].apply(list).to_dict()
    assert by_statement == {"98765432100/2019-05-15": [-3221, -1070, -790],
                            "00123456789/2019-05-16": [9749, -1210, -790]}
    assert read.entries_read == 6 and read.quarantine.empty
    assert list(read.lines.columns) == list(BANK_LINE_COLUMNS)
    read.check_conservation()


def test_the_complement_records_are_joined_to_their_operation():
    lines = read_cfonb(PENNYLANE / "example.txt").lines.set_index("bank_line_id")

    direct_debit = lines.loc["98765432100/2019-05-15#1"]
    assert direct_debit["remittance"] == "PRLV SEPA TEST CABINET MENSUEAUHTR13133 MENSUEAUHTR13DUP"
    assert direct_debit["counterparty_name"] == "INTERNET SFR"      # NPY
    assert direct_debit["end_to_end_id"] == "OTHER REFERENCE"       # RCN, without its purpose
    assert direct_debit["bank_reference"] == "REFERENCE"            # REF
    assert direct_debit["transaction_code"] == "B1"
    assert direct_debit["booking_date"] == pd.Timestamp("2019-05-16")
    assert direct_debit["raw"].count("\n") == 12                    # the 04 and its twelve 05s

    transfer = lines.loc["98765432100/2019-05-15#2"]
    assert (transfer["counterparty_name"], transfer["bank_reference"]) == ("ELEC ERDF", "REFERENCE")

    credit = lines.loc["00123456789/2019-05-16#1"]
    assert credit["remittance"] == "PRLV SEPA GROUPAMA CEN P051928612   22793301700040"
    assert (credit["booking_date"], credit["value_date"]) == (pd.Timestamp("2019-05-17"),
                                                              pd.Timestamp("2019-05-15"))


def test_unknown_complement_qualifiers_are_counted_not_lost():
    read = read_cfonb(PENNYLANE / "example.txt")

    assert read.meta["unknown_qualifiers"] == {"AAA": 2, "BBB": 1, "CCC": 1, "   ": 1, "N Y": 1, "2'C": 1}
    assert "AAAINTERNETA ABB" in read.lines.loc[0, "raw"]


def test_a_single_operation_fragment_reads_with_its_complements():
    operation = read_cfonb_operation(PENNYLANE / "operation.txt")
    line = operation.bank_line()

    assert line["amount_minor"] == -3221 and line["currency"] == "EUR"
    assert (line["booking_date"], line["value_date"]) == (date(2019, 5, 16), date(2019, 5, 16))
    assert line["remittance"] == "PRLV SEPA TEST CABINET MENSUEAUHTR13133"
    assert (line["counterparty_name"], line["end_to_end_id"], line["bank_reference"]) == (
        "INTERNET SFR", "OTHER REFERENCE", "REFERENCE")
    assert operation.details[3] == ("NPY", "INTERNET SFR".ljust(70))


# -- the broken pennylane files ------------------------------------------------------------------

@pytest.mark.parametrize(("name", "line", "words"), [
    ("operation_unstarted.txt", 1, "complement record 05 without its operation"),
    ("operation_out_of_statement.txt", 1, "operation record 04 outside a statement"),
    ("operation.txt", 1, "operation record 04 outside a statement: expected an old-balance record 01"),
    ("operation_already_defined.txt", 1, "operation record 04 outside a statement"),
    ("operation_detail_without_operation.txt", 3, "complement record 05 without its operation: expected an "
                                                   "operation record 04 before it"),
    ("new_statement_without_previous_ended.txt", 6, "starts before the statement opened on line 1 is closed"),
    ("end_of_statement_without_beginning.txt", 9, "new-balance record 07 without an open statement: expected an "
                                                   "old-balance record 01 before it (the previous statement "
                                                   "was closed on line 6)"),
    ("invalid_date.txt", 1, "old-balance record 01: its date (positions 35-40) '  CART' is not a DDMMYY date"),
])
def test_every_broken_pennylane_file_is_refused_naming_its_line(name, line, words):
    with pytest.raises(StatementFormatError) as caught:
        read_cfonb(PENNYLANE / name)

    assert caught.value.line == line
    assert str(caught.value).startswith(f"{name}, line {line}: ")
    assert words in str(caught.value)


@pytest.mark.parametrize(("name", "line", "words"), [
    ("operation_already_defined.txt", 6, "a second operation record 04"),
    ("operation_unstarted.txt", 1, "complement record 05 without its operation"),
    ("example.txt", 1, "record '01' in an operation fragment"),
])
def test_an_operation_fragment_with_anything_but_one_operation_is_refused(name, line, words):
    with pytest.raises(StatementFormatError) as caught:
        read_cfonb_operation(PENNYLANE / name)

    assert caught.value.line == line and words in str(caught.value)


def test_a_statement_left_open_at_the_end_of_the_file_is_refused(tmp_path):
    truncated = tmp_path / "truncated.txt"
    truncated.write_text("\n".join(_records(PENNYLANE / "example.txt")[:-1]) + "\n", encoding="ascii")

    with pytest.raises(StatementFormatError, match=r"truncated.txt, line 19: the statement opened here "
                                                   r"has no new-balance record 07"):
        read_cfonb(truncated)


def test_a_file_that_is_not_cfonb_is_refused_at_its_first_line(tmp_path):
    other = tmp_path / "ledger.csv"
    other.write_text("JournalCode|JournalLib|EcritureNum\nVE|Ventes|1\n", encoding="ascii")

    with pytest.raises(StatementFormatError, match=r"ledger.csv, line 1: unknown record code 'Jo'.*"
                                                   r"is it a CFONB 120 statement"):
        read_cfonb(other)


def test_an_empty_file_is_refused(tmp_path):
    with pytest.raises(StatementFormatError, match="empty file"):
        read_cfonb(tmp_path / "empty.txt", data=b"\n\n")


# -- a bad operation in a sound file: quarantined ------------------------------------------------

def _changed(path, line: int, first: int, last: int, value: str) -> bytes:
    """The file with positions first..last (1-based) of physical line `line` replaced by value."""
    lines = path.read_text(encoding="ascii").split("\n")
    record = lines[line - 1]
    lines[line - 1] = record[:first - 1] + value + record[last:]
    return "\n".join(lines).encode("ascii")


def test_an_operation_with_an_impossible_date_is_quarantined_and_the_rest_loads():
    data = _changed(PENNYLANE / "example.txt", 16, 35, 40, "310219")  # the ERDF transfer, booked on 31 February

    read = read_cfonb(PENNYLANE / "example.txt", data=data)

    assert read.entries_read == 6 and len(read.lines) == 5 and len(read.quarantine) == 1
    read.check_conservation()
    held = read.quarantine.iloc[0]
    assert list(read.quarantine.columns) == list(QUARANTINE_COLUMNS)
    assert (held["line_no"], held["field"], held["reason_code"]) == (16, "booking_date", "bad_date")
    assert held["reason"] == ("operation 98765432100/2019-05-15#2 of -10.70 EUR: booking date: "
                              "'310219' is not a DDMMYY date (no such day)")
    assert "NPYELEC ERDF" in held["raw"]  # its complement goes with it
    # The neighbours keep their ids; the statement no longer balances, and says so.
    assert "98765432100/2019-05-15#3" in set(read.lines["bank_line_id"])
    assert read.statements[0].findings == ["opening -190.40 + lines -40.11 != closing -241.21 EUR"]


def test_an_operation_with_an_unreadable_amount_is_quarantined():
    data = _changed(PENNYLANE / "example.txt", 26, 91, 104, "00000000001X9}")  # the Groupama credit

    read = read_cfonb(PENNYLANE / "example.txt", data=data)

    held = read.quarantine.iloc[0]
    assert (held["line_no"], held["field"], held["reason_code"]) == (26, "amount", "bad_amount")
    assert "'00000000001X9}' is not a CFONB amount" in held["reason"]
    assert len(read.lines) == 5


# -- fields and layouts --------------------------------------------------------------------------

@pytest.mark.parametrize(("char", "sign", "digit"), [
    ("{", 1, 0), ("A", 1, 1), ("B", 1, 2), ("C", 1, 3), ("D", 1, 4), ("E", 1, 5), ("F", 1, 6),
    ("G", 1, 7), ("H", 1, 8), ("I", 1, 9),
    ("}", -1, 0), ("J", -1, 1), ("K", -1, 2), ("L", -1, 3), ("M", -1, 4), ("N", -1, 5), ("O", -1, 6),
    ("P", -1, 7), ("Q", -1, 8), ("R", -1, 9),
])
def test_the_overpunch_character_gives_the_last_digit_and_the_sign(char, sign, digit):
    assert OVERPUNCH[char] == (sign, digit)
    assert decode_overpunch("0000000001234" + char) == sign * (12340 + digit)


def test_the_overpunch_table_has_the_twenty_characters_of_the_standard():
    assert len(OVERPUNCH) == 20


@pytest.mark.parametrize("text", ["0000000001234S", "000000000123{", "00000000 1234{", "0000000001234 "])
def test_a_field_that_is_not_an_overpunch_amount_is_refused(text):
    with pytest.raises(ValueError, match="is not a CFONB amount"):
        decode_overpunch(text)


def test_the_records_number_of_decimals_is_applied_exactly():
    assert decode_amount("0000000001904}", 2, "EUR") == -19040
    assert decode_amount("0000000001904}", 0, "EUR") == -1904000
    assert decode_amount("0000000019040}", 3, "EUR") == -19040     # 19.040: the extra zero is harmless
    assert decode_amount("0000000001904}", 0, "JPY") == -19040
    with pytest.raises(ValueError, match="more decimals than EUR allows"):
        decode_amount("0000000001904E", 3, "EUR")                    # 19.045: never rounded


def test_dates_are_ddmmyy_with_a_century_pivot():
    assert decode_date("150519") == date(2019, 5, 15)
    assert decode_date("311299") == date(1999, 12, 31)
    assert decode_date("      ") is None
    with pytest.raises(ValueError, match="no such day"):
        decode_date("290223")


def test_a_file_with_no_line_breaks_reads_like_the_same_file_with_them():
    stream = "".join(_records(PENNYLANE / "example.txt")).encode("ascii")
    assert b"\n" not in stream

    by_lines = read_cfonb(PENNYLANE / "example.txt")
    as_stream = read_cfonb(PENNYLANE / "example.txt", data=stream)

    assert as_stream.meta["layout"] == "stream" and by_lines.meta["layout"] == "lines"
    columns = [c for c in BANK_LINE_COLUMNS if c != "raw"]
    pd.testing.assert_frame_equal(as_stream.lines[columns], by_lines.lines[columns])
    assert [s.statement_id for s in as_stream.statements] == [s.statement_id for s in by_lines.statements]


def test_an_error_in_a_stream_names_the_record():
    records = _records(PENNYLANE / "operation_out_of_statement.txt")
    with pytest.raises(StatementFormatError, match=r"line 1: operation record 04 outside .* \(record 1\)"):
        read_cfonb(PENNYLANE / "stream.txt", data="".join(records).encode("ascii"))


def test_crlf_line_ends_and_trimmed_trailing_spaces_read_the_same():
    records = [r.rstrip() for r in _records(PENNYLANE / "example.txt")]
    data = ("\r\n".join(records) + "\r\n").encode("ascii")

    read = read_cfonb(PENNYLANE / "example.txt", data=data)

    expected = read_cfonb(PENNYLANE / "example.txt")
    assert read.lines["amount_minor"].tolist() == expected.lines["amount_minor"].tolist()
    assert read.lines["remittance"].tolist() == expected.lines["remittance"].tolist()
