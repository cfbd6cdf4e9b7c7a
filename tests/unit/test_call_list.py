"""The call list ranked by what a call may bring in, and the outcomes collectors record after
their calls: read all or nothing, turned into the promises and disputes that hold reminders."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from receivables.channels.calls import (
    OUTCOME_COLUMNS,
    call_list_csv,
    outcome_registers,
    prioritise,
    read_outcomes,
)
from receivables.scenarios.registers import RegisterError, read_register
from shared_paths import REPO

HEADER = "outcome_id,action_key,customer_id,called_on,outcome,invoice_ids,promised_date,amount,currency,dispute_reason,note\n"
SAMPLE = REPO / "include" / "samples" / "call_outcomes.csv"


def calls(*rows: tuple[str, int, int, object]) -> pd.DataFrame:
    """(customer, euros, days overdue, risk score or None) -> one call action each."""
    return pd.DataFrame([{"action_key": f"K-{c}", "customer_id": c, "amount_minor": euros * 100, "currency": "EUR",
                          "days_overdue": days, "risk_score": risk} for c, euros, days, risk in rows])


def order(ranked: pd.DataFrame) -> list[str]:
    return ranked["customer_id"].tolist()


def outcomes_file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "call_outcomes.csv"
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# -- ranking --------------------------------------------------------------------------------------

def test_a_debt_long_overdue_at_high_risk_is_called_before_a_larger_recent_one_at_low_risk():
    ranked = prioritise(calls(("C-RECENT", 12_000, 5, 10), ("C-OLD", 10_000, 60, 80)))
    assert order(ranked) == ["C-OLD", "C-RECENT"]
    assert ranked["expected_value_minor"].tolist() == [1_600_000, 20_000]   # 16 000.00 € and 200.00 €
    assert ranked["priority"].tolist() == [1, 2]


def test_equal_expected_values_go_to_the_larger_amount_then_the_customer_id():
    ranked = prioritise(calls(("C3", 1_000, 30, 60), ("C2", 2_000, 30, 30), ("C1", 1_000, 30, 60),
                              ("C4", 1_000, 60, 30)))
    assert set(ranked["expected_value_minor"]) == {60_000}
    assert order(ranked) == ["C2", "C1", "C3", "C4"]


def test_a_customer_without_a_risk_score_counts_as_an_even_risk_and_stays_unscored():
    ranked = prioritise(calls(("C-NONE", 1_000, 30, None), ("C-49", 1_000, 30, 49), ("C-51", 1_000, 30, 51))
                        .astype({"risk_score": "Int64"}))
    assert order(ranked) == ["C-51", "C-NONE", "C-49"]
    assert ranked.loc[1, "expected_value_minor"] == 50_000 and pd.isna(ranked.loc[1, "risk_score"])


def test_the_age_factor_rises_a_month_at_a_time_is_capped_at_six_months_and_never_drops_to_zero():
    ranked = prioritise(calls(("C-NOT-DUE", 3_000, -5, 100), ("C-DUE", 3_000, 0, 100), ("C-ONE-DAY", 3_000, 1, 100),
                              ("C-SIX-MONTHS", 3_000, 180, 100), ("C-TWO-YEARS", 3_000, 730, 100)))
    value = dict(zip(ranked["customer_id"], ranked["expected_value_minor"]))
    assert value["C-NOT-DUE"] == value["C-DUE"] == value["C-ONE-DAY"] == 300_000 * 1 // 30 == 10_000
    assert value["C-TWO-YEARS"] == value["C-SIX-MONTHS"] == 300_000 * 6 == 1_800_000


def test_the_expected_value_is_integer_arithmetic_rounded_down_even_on_huge_amounts():
    frame = pd.DataFrame({"customer_id": ["A", "B", "C"], "currency": "EUR", "risk_score": [1, 99, 100],
                          "amount_minor": [2_999, 123_456_789, 9_000_000_000_000_000], "days_overdue": [1, 47, 180]})
    ranked = prioritise(frame).set_index("customer_id")
    assert ranked["expected_value_minor"].dtype == "int64"
    assert ranked.loc["A", "expected_value_minor"] == 0                              # 2999 x 1 x 1 / 3000
    assert ranked.loc["B", "expected_value_minor"] == 123_456_789 * 99 * 47 // 3000    # 191 481 479 (floored)
    # 9e15 x 18 000 overflows int64: the split product is still exact
    assert ranked.loc["C", "expected_value_minor"] == 9_000_000_000_000_000 * 100 * 180 // 3000


def test_ranking_keeps_the_other_columns_and_an_empty_list_stays_empty():
    ranked = prioritise(calls(("C1", 100, 10, 20)).assign(script="Call Mrs Martin"))
    assert ranked.loc[0, "script"] == "Call Mrs Martin" and ranked.loc[0, "action_key"] == "K-C1"
    empty = prioritise(calls(("C1", 100, 10, 20)).iloc[0:0])
    assert empty.empty and {"expected_value_minor", "priority"} <= set(empty.columns)


def test_the_call_list_csv_shows_amounts_in_the_currency_decimals_and_iso_dates():
    ranked = prioritise(pd.DataFrame({
        "as_of": [dt.date(2025, 6, 30)] * 2, "action_key": ["K1", "K2"], "customer_id": ["C1", "C2"],
        "name": ["Dupont SA", "Tanaka KK"], "phone": ["+33 1 00", "+81 3 00"], "email": ["", ""],
        "step_id": ["call", "call"], "invoice_ids": ["FA-1 FA-2", "FA-9"], "amount_minor": [123_450, 150_000],
        "currency": ["EUR", "JPY"], "days_overdue": [30, 30], "risk_score": pd.array([None, 20], dtype="Int64"),
        "drivers": ["", "3 invoices late"], "script": ["line 1\nline 2", ""]}))
    rows = call_list_csv(ranked).to_dict("records")
    assert [(r["customer_id"], r["amount"], r["expected_value"], r["risk_score"]) for r in rows] == [
        ("C1", "1234.50", "617.25", ""), ("C2", "150000", "30000", "20")]   # yen have no decimals
    assert rows[0]["as_of"] == "2025-06-30" and rows[1]["priority"] == "2"


# -- outcomes -------------------------------------------------------------------------------------

def test_the_sample_outcome_file_reads_with_every_kind_of_outcome():
    outcomes = read_outcomes(SAMPLE)
    assert list(outcomes.columns) == OUTCOME_COLUMNS
    assert set(outcomes["outcome"]) == {"reached", "no_answer", "promise", "dispute", "wrong_number"}
    promise = outcomes.iloc[0]
    assert (promise["called_on"], promise["promised_date"]) == (dt.date(2025, 6, 30), dt.date(2025, 7, 4))
    assert promise["amount_minor"] == 120_000 and outcomes.loc[1, "amount_minor"] == 250_050   # "2500,50"
    assert pd.isna(outcomes.loc[3, "amount_minor"]) and outcomes.loc[3, "promised_date"] is None


def test_an_outcome_file_with_bad_cells_is_rejected_whole_naming_every_line_and_field(tmp_path):
    path = outcomes_file(
        tmp_path,
        "O-1,K1,C1,2025-06-30,promise,FA-1,,0,EUR,,no date no amount",
        "O-2,K2,C2,2025-06-30,dispute,,,,,too expensive,",
        "O-3,K3,C3,2025-06-30,called back,,,,,,",
        "O-4,K4,C4,2025-06-30,reached,,2025-07-04,,,,",
        "O-5,K5,C5,30/06/2025,promise,FA-5,2025-07-04,100.001,EUR,,",
        "O-6,K6,C6,2025-06-30,promise,FA-6,2025-06-20,100,,,",
        "O-7,K7,C7,2025-06-30,no answer,,,,,,",
    )
    with pytest.raises(RegisterError) as error:
        read_outcomes(path)
    problems = error.value.problems
    assert str(error.value).startswith(f"call_outcomes.csv: nothing imported, {len(problems)} problem(s)")
    assert problems == [
        "line 2, field 'promised_date': a promise needs the date promised",
        "line 2, field 'amount': a promise needs the amount promised, above 0",
        "line 3, field 'dispute_reason': must be one of price, quantity, quality, delivery, duplicate_invoice, "
        "already_paid, other ('too expensive')",
        "line 3, field 'invoice_ids': a dispute needs the invoices disputed",
        "line 4, field 'outcome': must be one of reached, no_answer, promise, dispute, wrong_number ('called back')",
        "line 5, field 'promised_date': only a promise has one (outcome 'reached')",
        "line 6, field 'called_on': Invalid isoformat string: '30/06/2025' ('30/06/2025')",
        "line 6, field 'amount': more decimals than EUR has ('100.001')",
        "line 7, field 'currency': a promise needs the currency of the amount",
        "line 7, field 'promised_date': before the call (2025-06-30)",
    ]   # line 8: 'no answer' is the outcome no_answer


def test_an_outcome_file_without_its_required_columns_names_them(tmp_path):
    path = tmp_path / "outcomes.csv"
    path.write_text("outcome_id,customer_id,outcome\nO-1,C1,reached\n", encoding="utf-8")
    with pytest.raises(RegisterError, match=r"outcomes.csv: .*line 1: missing column\(s\) called_on"):
        read_outcomes(path)


def test_a_promise_and_a_dispute_on_the_phone_become_register_rows_as_credit_managers_write_them(tmp_path):
    outcomes = read_outcomes(SAMPLE)
    implied = outcome_registers(outcomes)
    # the same layout and types as the registers' own files
    (tmp_path / "promises.csv").write_text("promise_id,customer_id,invoice_ids,made_on,promised_date,amount,currency\n"
                                           "P-1,C1,FA-1,2025-06-30,2025-07-04,10.00,EUR\n", encoding="utf-8")
    (tmp_path / "disputes.csv").write_text("dispute_id,customer_id,invoice_id,reason_code,opened_on\n"
                                           "D-1,C1,FA-1,price,2025-06-30\n", encoding="utf-8")
    for kind in ("promises", "disputes"):
        own = read_register(tmp_path / f"{kind}.csv", kind)
        assert list(implied[kind].columns) == list(own.columns)
        assert implied[kind].dtypes.to_dict() == own.dtypes.to_dict()
    promises = implied["promises"].set_index("promise_id")
    assert list(promises.index) == ["call:CALL-20250630-01", "call:CALL-20250630-02"]
    first = promises.loc["call:CALL-20250630-01"]
    assert (first["customer_id"], first["invoice_ids"], first["made_on"], first["promised_date"],
            first["amount_minor"], first["currency"]) == ("C042", "FA-2025-0157", dt.date(2025, 6, 30),
                                                          dt.date(2025, 7, 4), 120_000, "EUR")
    assert promises.loc["call:CALL-20250630-02", "invoice_ids"] == ""   # every invoice issued by the call
    assert pd.isna(first["open_at_promise_minor"])                      # measured on first sight
    disputes = implied["disputes"]
    assert disputes[["dispute_id", "invoice_id", "reason_code", "status", "opened_on"]].values.tolist() == [
        ["call:CALL-20250630-03:FA-2025-0142", "FA-2025-0142", "quality", "open", dt.date(2025, 6, 30)],
        ["call:CALL-20250630-03:FA-2025-0150", "FA-2025-0150", "quality", "open", dt.date(2025, 6, 30)]]
    assert disputes["resolved_on"].isna().all() and (disputes["customer_id"] == "C015").all()


def test_calls_without_a_promise_or_a_dispute_imply_no_register_row():
    quiet = read_outcomes(SAMPLE).query("outcome in ('reached', 'no_answer', 'wrong_number')")
    implied = outcome_registers(quiet)
    assert implied["promises"].empty and implied["disputes"].empty
    assert "amount_minor" in implied["promises"] and "opened_on" in implied["disputes"]
