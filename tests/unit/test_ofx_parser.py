"""OFX statements: every shared OFX fixture either reads (bank, credit card) or is refused with a
clear message (investment only, sign-on only, error status, broken), amounts exact."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from receivables.bank.ofx import read_ofx
from receivables.bank.schema import BANK_LINE_COLUMNS, StatementFormatError
from receivables.ledger.schema import QUARANTINE_COLUMNS
from shared_paths import SHARED_FIXTURES

OFXPARSE = SHARED_FIXTURES / "ofx-jseutter-ofxparse"
OCA = SHARED_FIXTURES / "ofx-oca-bank-statement-import"

# Every OFX fixture and what it gives: ("ok", statements, lines, quarantined) or
# ("error", line, words of the message). See the SOURCES.md of each folder.
EXPECTED = {
    # bank accounts
    "ofx-jseutter-ofxparse/bank_medium.ofx": ("ok", 1, 3, 0),
    "ofx-jseutter-ofxparse/checking.ofx": ("ok", 1, 3, 0),
    "ofx-jseutter-ofxparse/suncorp.ofx": ("ok", 1, 1, 0),
    "ofx-jseutter-ofxparse/multiple_accounts.ofx": ("ok", 2, 0, 0),
    "ofx-jseutter-ofxparse/multiple_accounts2.ofx": ("ok", 2, 0, 0),
    "ofx-jseutter-ofxparse/ofx-v102-empty-tags.ofx": ("ok", 1, 1, 0),
    "ofx-oca-bank-statement-import/test_ofx.ofx": ("ok", 2, 4, 0),
    "ofx-oca-bank-statement-import/test_ofx_iban.ofx": ("ok", 2, 4, 0),
    # credit card
    "ofx-jseutter-ofxparse/anzcc.ofx": ("ok", 1, 1, 0),
    # fail_nice: a sound file with unusable transactions (quarantined) or no balance (a finding)
    "ofx-jseutter-ofxparse/fail_nice/date_missing.ofx": ("ok", 1, 0, 3),
    "ofx-jseutter-ofxparse/fail_nice/decimal_error.ofx": ("ok", 1, 0, 1),
    "ofx-jseutter-ofxparse/fail_nice/empty_balance.ofx": ("ok", 1, 1, 0),
    # investment only: no bank statement
    "ofx-jseutter-ofxparse/fidelity.ofx": ("error", 11, "only investment statements (INVSTMTRS, account 01234567890)"),
    "ofx-jseutter-ofxparse/fidelity-savings.ofx": ("error", 36, "only investment statements (INVSTMTRS"),
    "ofx-jseutter-ofxparse/investment_401k.ofx": ("error", 36, "only investment statements (INVSTMTRS"),
    "ofx-jseutter-ofxparse/investment_medium.ofx": ("error", 32, "only investment statements (INVSTMTRS"),
    "ofx-jseutter-ofxparse/td_ameritrade.ofx": ("error", 36, "only investment statements (INVSTMTRS"),
    "ofx-jseutter-ofxparse/tiaacref.ofx": ("error", 11, "only investment statements (INVSTMTRS"),
    "ofx-jseutter-ofxparse/vanguard.ofx": ("error", 11, "only investment statements (INVSTMTRS"),
    "ofx-jseutter-ofxparse/vanguard401k.ofx": ("error", 11, "only investment statements (INVSTMTRS"),
    # no statement at all
    "ofx-jseutter-ofxparse/account_listing_aggregation.ofx": ("error", 23, "it is an account list (ACCTINFORS)"),
    "ofx-jseutter-ofxparse/bank_small.ofx": ("error", 11, "the <OFX> element is empty"),
    "ofx-jseutter-ofxparse/signon_success.ofx": ("error", 11, "only a sign-on"),
    "ofx-jseutter-ofxparse/signon_success_no_message.ofx": ("error", 11, "only a sign-on"),
    "ofx-jseutter-ofxparse/signon_fail.ofx": ("error", 11, "the bank answered with error 15500 (Your request "
                                                           "could not be processed"),
    "ofx-jseutter-ofxparse/error_message.ofx": ("error", 22, "the bank answered with error 2000 (General Server Error)"),
    # broken
    "ofx-oca-bank-statement-import/test_ofx_wrong.ofx": ("error", 21, "the bank statement (STMTRS) has no account "
                                                                      "id: expected BANKACCTFROM/ACCTID"),
}


def test_every_ofx_fixture_has_an_expected_outcome():
    found = {str(p.relative_to(SHARED_FIXTURES)) for p in SHARED_FIXTURES.glob("ofx-*/**/*.ofx")}
    assert found == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_ofx_fixture_reads_or_is_refused_clearly(name):
    expected = EXPECTED[name]
    path = SHARED_FIXTURES / name
    if expected[0] == "error":
        _, line, words = expected
        with pytest.raises(StatementFormatError) as caught:
            read_ofx(path)
        assert caught.value.line == line
        assert str(caught.value).startswith(f"{path.name}, line {line}: ")
        assert words in str(caught.value)
        return
    _, statements, lines, quarantined = expected
    read = read_ofx(path)
    assert (len(read.statements), len(read.lines), len(read.quarantine)) == (statements, lines, quarantined)
    assert list(read.lines.columns) == list(BANK_LINE_COLUMNS)
    assert list(read.quarantine.columns) == list(QUARANTINE_COLUMNS)
    read.check_conservation()
    for statement in read.statements:
        ids = read.lines.loc[read.lines["statement_id"] == statement.statement_id, "bank_line_id"]
        assert ids.is_unique


def test_the_oca_sample_gives_the_statement_the_oca_module_expects():
    read = read_ofx(OCA / "test_ofx.ofx")

    bank, card = read.statements
    assert (bank.statement_id, bank.account, bank.currency) == ("123456/2013-08-31", "123456", "USD")
    # OCA's test_ofx_file_import: balance_start 2516.56, balance_end_real 2156.56
    assert (bank.opening_balance_minor, bank.closing_balance_minor) == (251656, 215656)
    assert bank.findings == [] and read.meta["derived_opening"] == ["123456/2013-08-31", "123412341234/2013-08-31"]
    lines = read.lines[read.lines["statement_id"] == bank.statement_id]
    assert lines["counterparty_name"].tolist() == ["Agrolait", "China Export", "Axelor Scuba", "China Scuba"]
    assert lines["amount_minor"].tolist() == [-8000, -9000, -10000, -9000]
    assert lines["bank_reference"].tolist() == ["219378", "219379", "219380", "219381"]
    assert lines["bank_line_id"].tolist() == [f"123456/2013-08-31#{k}" for k in range(1, 5)]
    agrolait = lines.iloc[0]
    assert agrolait["booking_date"] == pd.Timestamp("2013-08-24")  # OCA: line.date == 2013-08-24
    assert pd.isna(agrolait["value_date"]) and agrolait["transaction_code"] == "POS"
    # The credit-card account of the same file: no transactions, a balance.
    assert (card.statement_id, card.closing_balance_minor, card.opening_balance_minor) == (
        "123412341234/2013-08-31", -56200, -56200)


def test_the_statement_date_is_the_banks_local_date_not_utc():
    # DTEND 20130831165153.000[-8:PST] is 1 September 00:51 in UTC: still 31 August for the bank.
    [statement, _] = read_ofx(OCA / "test_ofx.ofx").statements
    assert statement.closing_date == date(2013, 8, 31) and statement.opening_date == date(2013, 8, 1)


def test_a_french_bank_id_desk_and_account_give_the_accounts_iban():
    accounts = read_ofx(OCA / "test_ofx_iban.ofx").meta["accounts"]
    # the IBAN the OCA test registers for this file's journal
    assert accounts[0]["iban"] == "FR7630001007941234567890185"
    assert (accounts[0]["bank_id"], accounts[0]["branch_id"]) == ("30001", "00794")
    assert accounts[1]["iban"] == ""  # a credit card number is not a RIB


def test_amounts_are_exact_cents_signed_as_the_bank_gives_them():
    medium = read_ofx(OFXPARSE / "bank_medium.ofx")
    assert medium.lines["amount_minor"].tolist() == [-660, -31667, -2200]
    assert medium.statements[0].closing_balance_minor == 38234
    assert medium.statements[0].statement_id == "12300 000012345678/2009-05-23"

    checking = read_ofx(OFXPARSE / "checking.ofx")
    assert checking.lines["amount_minor"].tolist() == [1, -3451, -2500]
    assert checking.lines["remittance"].iloc[2] == (
        "RETURNED CHECK FEE, CHECK # 319 FOR $45.33 ON 04/07/11 CHECKNUM 319")


def test_a_credit_card_statement_reads_like_a_bank_one():
    read = read_ofx(OFXPARSE / "anzcc.ofx")

    [statement] = read.statements
    assert (statement.statement_id, statement.currency, statement.closing_balance_minor) == (
        "1234123412341234/2017-05-09", "AUD", -12345)
    line = read.lines.iloc[0]
    assert (line["amount_minor"], line["remittance"], line["bank_reference"]) == (-550, "SOME MEMO", "201705080001")
    assert line["value_date"] == pd.Timestamp("2017-05-08")  # DTUSER
    assert read.meta["accounts"][0]["type"] == "CCSTMTRS"


def test_transactions_without_a_usable_date_are_quarantined_with_their_line():
    read = read_ofx(OFXPARSE / "fail_nice" / "date_missing.ofx")

    assert read.quarantine[["line_no", "field", "reason_code"]].values.tolist() == [
        [33, "booking_date", "missing_date"],
        [40, "booking_date", "missing_date"],
        [48, "booking_date", "bad_date"],
    ]
    assert read.quarantine["reason"].iloc[2] == (
        "transaction 192639749/2011-06-14#3 (FITID 2000957249): posting date DTPOSTED '20120231' is not a "
        "date (YYYYMMDD...)")
    assert "<NAME>TestFail2" in read.quarantine["raw"].iloc[2]
    # The amounts could be read: the derived opening balance makes the gap visible.
    assert read.statements[0].findings == ["opening -320.00 + lines 0.00 != closing 0.00 USD"]


def test_an_unreadable_amount_is_quarantined_with_every_problem_of_its_transaction():
    read = read_ofx(OFXPARSE / "fail_nice" / "decimal_error.ofx")

    held = read.quarantine.iloc[0]
    assert (held["line_no"], held["field"], held["reason_code"]) == (34, "booking_date", "bad_date")
    assert "amount TRNAMT '$120' is not a number" in held["reason"]
    assert read.statements[0].opening_balance_minor is None  # not derivable without that amount


def test_an_empty_ledger_balance_is_a_finding_not_a_failure():
    read = read_ofx(OFXPARSE / "fail_nice" / "empty_balance.ofx")

    [statement] = read.statements
    assert statement.closing_balance_minor is None and statement.opening_balance_minor is None
    assert statement.findings == ["no closing balance: LEDGERBAL/BALAMT is empty (line 37)"]
    assert read.lines["amount_minor"].tolist() == [12000]


def test_empty_sgml_tags_and_a_blank_curdef_are_tolerated():
    read = read_ofx(OFXPARSE / "ofx-v102-empty-tags.ofx")

    [statement] = read.statements
    assert (statement.statement_id, statement.currency) == ("12345678/2018-08-04", "AUD")  # from CURRENCY/CURSYM
    line = read.lines.iloc[0]
    assert (line["amount_minor"], line["remittance"], line["counterparty_name"]) == (1234, "CBA:Transfer", "")


def test_several_accounts_give_several_statements():
    read = read_ofx(OFXPARSE / "multiple_accounts2.ofx")

    assert [(s.statement_id, s.closing_balance_minor) for s in read.statements] == [
        ("9100/2012-06-03", 11100), ("9200/2012-06-03", 22200)]  # no DTEND: the balance date
    assert [a["account_type"] for a in read.meta["accounts"]] == ["CHECKING", "SAVINGS"]


SGML = """OFXHEADER:100
DATA:OFXSGML
VERSION:102
ENCODING:USASCII
CHARSET:1252

<OFX>
<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<SEVERITY>INFO</STATUS><DTSERVER>20240308120000</SONRS></SIGNONMSGSRSV1>
<BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STATUS><CODE>0<SEVERITY>INFO</STATUS>
<STMTRS><CURDEF>EUR<BANKACCTFROM><BANKID>30001<BRANCHID>00794<ACCTID>12345678901<ACCTTYPE>CHECKING</BANKACCTFROM>
<BANKTRANLIST><DTSTART>20240301<DTEND>20240308
<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20240305<DTUSER>20240304<TRNAMT>1250,00<FITID>A1
<NAME>DUPONT &amp; FILS<MEMO>FACTURE F2024-0012</STMTTRN>
<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240306<TRNAMT>-12,50<FITID>A2<NAME><MEMO>FRAIS</STMTTRN>
<STMTTRN><TRNTYPE>CREDIT<DTPOSTED>20240307<TRNAMT>+80.10<FITID>A3<PAYEE><NAME>MARTIN SA<CITY>LYON</PAYEE>
<BANKACCTTO><BANKID>30004<ACCTID>00012345678<ACCTTYPE>CHECKING</BANKACCTTO><CHECKNUM>0004521</STMTTRN>
</BANKTRANLIST><LEDGERBAL><BALAMT>5317,60<DTASOF>20240308</LEDGERBAL></STMTRS></STMTTRNRS></BANKMSGSRSV1>
</OFX>
"""


def test_a_french_sgml_file_with_decimal_commas_and_entities_reads():
    read = read_ofx(OFXPARSE / "fr.ofx", data=SGML.encode("cp1252"))

    [statement] = read.statements
    assert (statement.statement_id, statement.closing_balance_minor, statement.opening_balance_minor) == (
        "12345678901/2024-03-08", 531760, 531760 - 125000 + 1250 - 8010)
    assert read.lines["amount_minor"].tolist() == [125000, -1250, 8010]
    assert read.lines["counterparty_name"].tolist() == ["DUPONT & FILS", "", "MARTIN SA"]
    # An empty <NAME> (no end tag, no text) does not swallow the <MEMO> after it.
    assert read.lines["remittance"].tolist() == ["FACTURE F2024-0012", "FRAIS", "CHECKNUM 0004521"]
    assert read.lines["counterparty_account"].tolist() == ["", "", "00012345678"]
    assert read.lines["value_date"].iloc[0] == pd.Timestamp("2024-03-04")
    assert read.lines["position"].tolist() == [1, 2, 3] and read.meta["version"] == "102"


def test_a_zero_amount_is_quarantined():
    data = SGML.replace("<TRNAMT>-12,50", "<TRNAMT>0.00").encode("cp1252")

    read = read_ofx(OFXPARSE / "fr.ofx", data=data)

    assert read.quarantine[["line_no", "reason_code"]].values.tolist() == [[14, "zero_amount"]]
    assert read.lines["bank_line_id"].tolist() == ["12345678901/2024-03-08#1", "12345678901/2024-03-08#3"]


def test_a_file_that_is_not_ofx_is_refused():
    with pytest.raises(StatementFormatError, match=r"^x.csv: not an OFX file: no <OFX> element$"):
        read_ofx(OFXPARSE / "x.csv", data=b"Date;Montant\n01/03/2024;12,50\n")


def test_an_unreadable_ledger_balance_stops_the_read():
    data = SGML.replace("<BALAMT>5317,60", "<BALAMT>5 317,60 EUR").encode("cp1252")

    with pytest.raises(StatementFormatError, match=r"fr.ofx, line 17: the ledger balance '5 317,60 EUR'"):
        read_ofx(OFXPARSE / "fr.ofx", data=data)
