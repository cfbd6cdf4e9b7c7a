"""Payer profiles, the late-payment model and risk scores on small ledgers that read like AR
documents (invoices, payments, lettering) and on generated portfolios with known behaviour."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest

from ar_documents import D, NO_CUSTOMERS, ledger, line, master
from receivables.calendar import is_business_day
from receivables.ledger.open_items import open_items
from receivables.scoring.features import FEATURES, features
from receivables.scoring.history import invoice_history
from receivables.scoring.model import PRIOR_LATE, train
from receivables.scoring.portfolio import conditional_late, score_portfolio
from receivables.scoring.profile import payer_profiles, segment_from_volume
from receivables.scoring.risk import risk_class

_numbers = itertools.count(1)


def paid_invoice(customer: str, issued: str, amount: int, paid_days_after_due: int | None, *, terms: int = 30,
                 instalments: int = 1) -> list[dict]:
    """An invoice of `amount` cents issued on `issued`, due `terms` days later, paid (and lettered on
    the payment day) `paid_days_after_due` days after its due date, or left unpaid (None)."""
    n = next(_numbers)
    ref = f"FA-{n}"
    if paid_days_after_due is None:
        return [line("VE", f"V{n}", issued, customer, ref, debit=amount)]
    paid = (D(issued) + pd.Timedelta(days=terms + paid_days_after_due)).date().isoformat()
    code = f"L{n}"
    rows = [line("VE", f"V{n}", issued, customer, ref, debit=amount, let=code, let_date=paid)]
    first = amount // instalments
    for k in range(instalments):
        part = first if k < instalments - 1 else amount - first * (instalments - 1)
        day = (D(paid) - pd.Timedelta(days=10 * (instalments - 1 - k))).date().isoformat()
        rows.append(line("BQ", f"B{n}-{k}", day, customer, f"VIR-{n}-{k}", credit=part, let=code, let_date=paid))
    return rows


def monthly_invoices(customer: str, months: int, days_late: int | list[int], *, start: str = "2024-01-05",
                     amount: int = 100_000, terms: int = 30) -> list[dict]:
    rows = []
    for m in range(months):
        late = days_late[m % len(days_late)] if isinstance(days_late, list) else days_late
        issued = (D(start) + pd.DateOffset(months=m)).date().isoformat()
        rows += paid_invoice(customer, issued, amount, late, terms=terms)
    return rows


AS_OF = dt.date(2025, 6, 30)


# -- history: what the lettering says about each invoice ------------------------------------------

def test_a_lettered_invoice_is_settled_on_the_day_of_its_payment():
    lines = ledger(*paid_invoice("C1", "2025-03-01", 120_000, 10))
    history = invoice_history(lines, NO_CUSTOMERS, AS_OF)
    row = history.iloc[0]
    assert (row["due_date"], row["settle_date"]) == (D("2025-03-31"), D("2025-04-10"))
    assert row["open_minor"] == 0 and not row["partial"]


def test_an_invoice_lettered_after_the_as_of_date_is_still_unsettled_on_that_date():
    lines = ledger(*paid_invoice("C1", "2025-03-01", 120_000, 10))
    history = invoice_history(lines, NO_CUSTOMERS, dt.date(2025, 4, 9))
    assert pd.isna(history.iloc[0]["settle_date"]) and history.iloc[0]["open_minor"] == 120_000


def test_an_invoice_paid_in_three_instalments_is_partial_and_settled_by_the_last_one():
    lines = ledger(*paid_invoice("C1", "2025-01-10", 90_000, 25, instalments=3))
    row = invoice_history(lines, NO_CUSTOMERS, AS_OF).iloc[0]
    assert row["partial"] and row["settle_date"] == D("2025-03-06")


def test_invoices_carried_in_by_the_opening_entries_are_outside_the_history_window():
    lines = ledger(
        line("AN", "1", "2025-01-01", "C1", "FA-OLD", debit=50_000, piece_date="2024-11-15"),
        *paid_invoice("C1", "2025-01-20", 10_000, 0),
    )
    history = invoice_history(lines, NO_CUSTOMERS, AS_OF).set_index("invoice_id")
    assert not history.loc["FA-OLD", "in_history_window"]
    assert history.drop(index="FA-OLD")["in_history_window"].all()


# -- point-in-time features ------------------------------------------------------------------------

def test_features_see_only_what_was_settled_before_the_moment_they_describe():
    lines = ledger(*paid_invoice("C1", "2025-01-01", 10_000, 10),     # settled 2025-02-10
                   *paid_invoice("C1", "2025-02-01", 10_000, 20))     # settled 2025-03-23
    history = invoice_history(lines, NO_CUSTOMERS, AS_OF)
    queries = pd.DataFrame({"customer_id": "C1", "invoice_id": "X", "currency": "EUR", "original_minor": 10_000,
                            "doc_date": D("2025-03-01"), "due_date": D("2025-03-31"),
                            "at": [D("2025-02-10"), D("2025-02-11"), D("2025-03-24")]})
    X = features(history, queries, NO_CUSTOMERS)
    assert list(X["settled_n"]) == [0, 1, 2]             # a settlement on the very day is not known yet
    assert np.isnan(X.loc[0, "days_late_mean"]) and list(X["days_late_mean"][1:]) == [10, 15]
    assert list(X.columns) == FEATURES


def test_a_training_invoice_never_sees_its_own_payment_in_its_features():
    lines = ledger(*monthly_invoices("C1", 12, 40))
    history = invoice_history(lines, NO_CUSTOMERS, AS_OF)
    X = features(history, history.assign(at=history["doc_date"]), NO_CUSTOMERS)
    # Each invoice is paid 70 days after issue: at issue time, the one before is not paid yet.
    assert list(X["settled_n"][:4]) == [0, 0, 0, 1]


def test_the_invoice_being_predicted_is_not_counted_in_its_customers_overdue_balance():
    lines = ledger(*paid_invoice("C1", "2025-04-01", 30_000, None), *paid_invoice("C1", "2025-05-02", 20_000, None))
    history = invoice_history(lines, NO_CUSTOMERS, AS_OF)
    queries = history.assign(at=D("2025-07-01"))
    X = features(history, queries, NO_CUSTOMERS)
    # both are overdue on 30 June: each sees the other one only
    assert list(X["overdue_n"]) == [1, 1]
    assert list(np.round(np.expm1(X["log_overdue_amount"]) * 100)) == [20_000, 30_000]


# -- the model and its fallbacks -------------------------------------------------------------------

def test_a_ledger_with_no_history_gets_the_rules_with_their_priors_and_no_crash():
    lines = ledger(*paid_invoice("NEW", "2025-06-20", 50_000, None))
    items = open_items(lines, NO_CUSTOMERS, AS_OF)
    result = score_portfolio(lines, NO_CUSTOMERS, items, AS_OF)
    assert result.model.kind == "rules" and "0 settled invoices" in result.model.report.reason
    prediction = result.predictions.iloc[0]
    assert prediction["p_late"] == pytest.approx(PRIOR_LATE)
    assert prediction["expected_payment_date"] > D(AS_OF)
    assert result.risk.iloc[0]["drivers"].startswith("new customer")


def test_an_empty_ledger_scores_nobody_and_does_not_crash():
    lines = ledger(*paid_invoice("C1", "2025-06-20", 50_000, None)).iloc[0:0]
    result = score_portfolio(lines, NO_CUSTOMERS, open_items(lines, NO_CUSTOMERS, AS_OF), AS_OF)
    assert result.predictions.empty and result.risk.empty and result.model.kind == "rules"


def test_a_customer_with_a_single_settled_invoice_is_scored_by_the_rules():
    lines = ledger(*paid_invoice("C1", "2025-01-10", 10_000, 5), *paid_invoice("C1", "2025-06-10", 10_000, None))
    result = score_portfolio(lines, NO_CUSTOMERS, open_items(lines, NO_CUSTOMERS, AS_OF), AS_OF)
    # one late invoice out of one, shrunk toward the portfolio rate (here: that same invoice)
    assert result.model.kind == "rules"
    assert 0 < result.predictions.iloc[0]["p_late"] <= 1
    assert list(result.risk["customer_id"]) == ["C1"]


def test_a_portfolio_where_everyone_pays_on_time_has_nothing_to_learn_and_says_so():
    rows = []
    for c in range(20):
        rows += monthly_invoices(f"C{c}", 14, -2)
    lines = ledger(*rows)
    model = train(invoice_history(lines, NO_CUSTOMERS, AS_OF), NO_CUSTOMERS, AS_OF)
    assert model.kind == "rules" and "fewer than 20 rows of one outcome" in model.report.reason


def test_without_payment_terms_anywhere_the_due_date_is_the_legal_default_of_thirty_days():
    lines = ledger(*paid_invoice("C1", "2025-06-10", 10_000, None))
    customers = master(("C1", "PME", None))
    result = score_portfolio(lines, customers, open_items(lines, customers, AS_OF), AS_OF)
    assert result.predictions.iloc[0]["due_date"] == D("2025-07-10")
    custom = score_portfolio(lines, customers, open_items(lines, customers, AS_OF, 45), AS_OF, default_terms_days=45)
    assert custom.predictions.iloc[0]["due_date"] == D("2025-07-25")


def behaviour_portfolio(customers: int = 40, months: int = 16) -> pd.DataFrame:
    """Half the customers pay 2 days early, half 25 days late (some invoices of each escape)."""
    rng = np.random.default_rng(3)
    rows = []
    for c in range(customers):
        habit = -2 if c % 2 else 25
        lateness = [int(habit + rng.integers(-3, 4)) if rng.random() > 0.1 else int(rng.integers(-3, 30))
                    for _ in range(months)]
        rows += monthly_invoices(f"C{c:02d}", months, lateness, start="2024-03-03", amount=100_000 + 1000 * c)
    return ledger(*rows)


@pytest.fixture(scope="module")
def habits():
    lines = behaviour_portfolio()
    items = open_items(lines, NO_CUSTOMERS, AS_OF)
    return lines, items, score_portfolio(lines, NO_CUSTOMERS, items, AS_OF, min_settled=100)


def test_with_enough_history_the_gradient_boosting_model_learns_who_pays_late(habits):
    _, _, result = habits
    report = result.model.report
    assert report.kind == "gbm"
    assert report.metrics["auc"] > 0.8 and 0 <= report.metrics["brier"] < 0.25
    assert report.rows["test"] > 0 and report.rows["snapshots"] > report.rows["late_rows"]
    not_due = result.predictions[result.predictions["days_overdue"] <= 0]
    late_payers = not_due["customer_id"].str[1:].astype(int) % 2 == 0
    assert not_due.loc[late_payers, "p_late"].mean() > not_due.loc[~late_payers, "p_late"].mean() + 0.4
    # and it expects the late payers' money later
    assert not_due.loc[late_payers, "expected_days_late"].mean() > 15
    assert not_due.loc[~late_payers, "expected_days_late"].mean() < 5


def test_every_expected_payment_date_is_a_business_day_after_the_as_of_date(habits):
    _, _, result = habits
    dates = result.predictions["expected_payment_date"].dt.date
    assert (dates > AS_OF).all()
    assert all(is_business_day(d, "FR") for d in dates)


def test_an_invoice_already_overdue_will_be_late_for_sure_and_beyond_thirty_days_past_thirty():
    raw = pd.DataFrame({"p_late": [0.4, 0.4, 0.4, 0.4], "p_late_30": [0.1, 0.5, 0.2, 0.2]})
    p, p30 = conditional_late(raw, np.array([-5, 0, 15, 31]))
    assert list(p) == [0.4, 0.4, 1.0, 1.0]
    # the model already knows how far past due each is; > 30 days is never likelier than late
    assert list(p30) == [0.1, 0.4, 0.2, 1.0]


# -- risk scores and profiles ---------------------------------------------------------------------

def test_risk_classes_follow_the_documented_thresholds():
    assert list(risk_class(pd.Series([0, 24, 25, 49, 50, 74, 75, 100]))) == [
        "low", "low", "medium", "medium", "high", "high", "critical", "critical"]


def test_every_customer_gets_a_score_with_drivers_in_words_and_late_payers_rank_higher(habits):
    _, _, result = habits
    risk = result.risk.set_index("customer_id")
    assert risk["score"].between(0, 100).all()
    late = risk[risk.index.str[1:].astype(int) % 2 == 0]
    prompt = risk[risk.index.str[1:].astype(int) % 2 == 1]
    assert late["score"].median() > prompt["score"].median()
    assert late["drivers"].str.contains("invoices late").any()


def test_a_long_overdue_invoice_makes_a_customer_at_least_high_risk():
    rows = paid_invoice("C1", "2025-01-02", 5_000, None) + monthly_invoices("C2", 5, 0, start="2025-01-03")
    lines = ledger(*rows)
    result = score_portfolio(lines, NO_CUSTOMERS, open_items(lines, NO_CUSTOMERS, AS_OF), AS_OF)
    c1 = result.risk.set_index("customer_id").loc["C1"]
    assert c1["oldest_overdue_days"] > 90 and c1["risk_class"] in ("high", "critical")
    assert c1["drivers"].startswith("1 invoice overdue, oldest")


def test_a_customer_with_nothing_open_is_scored_on_the_invoice_it_would_get_next():
    lines = ledger(*monthly_invoices("C1", 10, 40, start="2024-06-01"))
    items = open_items(lines, NO_CUSTOMERS, AS_OF)
    assert items.empty
    result = score_portfolio(lines, NO_CUSTOMERS, items, AS_OF)
    risk = result.risk.iloc[0]
    assert risk["open_minor"] == 0 and risk["p_late"] > PRIOR_LATE   # always 40 days late


def test_the_profile_knows_the_usual_payment_day_and_the_lateness_trend():
    lines = ledger(*monthly_invoices("C1", 12, [5, 5, 5, 5, 5, 5, 5, 5, 5, 30, 30, 30], start="2024-05-10"))
    profile = payer_profiles(invoice_history(lines, NO_CUSTOMERS, AS_OF), open_items(lines, NO_CUSTOMERS, AS_OF),
                             NO_CUSTOMERS, AS_OF).iloc[0]
    assert profile["invoices_settled"] == 12 and profile["late_share"] == 1.0
    assert profile["days_late_3m"] == 30 and profile["trend_3m_vs_12m"] > 10
    assert profile["segment"] == "PME" and profile["segment_source"] == "volume"   # 12,000.00 billed in a year
    assert pd.isna(profile["dispute_rate"])      # no dispute register yet: unknown, not zero


def test_a_customer_without_a_settled_invoice_has_empty_shares_not_zeros():
    lines = ledger(*paid_invoice("C1", "2025-06-01", 10_000, None))
    profile = payer_profiles(invoice_history(lines, NO_CUSTOMERS, AS_OF), open_items(lines, NO_CUSTOMERS, AS_OF),
                             master(("C1", "GE", 60)), AS_OF).iloc[0]
    assert profile["invoices_settled"] == 0 and pd.isna(profile["late_share"]) and pd.isna(profile["usual_pay_day"])
    assert (profile["segment"], profile["segment_source"]) == ("GE", "master")


def test_segments_from_billed_volume_use_the_documented_limits():
    billed = pd.Series([0, 9_999_99, 10_000_00, 99_999_99, 100_000_00, 1_000_000_00])
    assert list(segment_from_volume(billed)) == ["TPE", "TPE", "PME", "PME", "ETI", "GE"]


# -- expected payment dates ------------------------------------------------------------------------

def test_an_overdue_invoice_is_expected_after_the_customers_delays_longer_than_what_has_elapsed():
    from receivables.scoring.dates import expected_days_late

    lines = ledger(*monthly_invoices("C1", 3, [12, 20, 31], start="2025-01-06"))
    history = invoice_history(lines, NO_CUSTOMERS, AS_OF)
    days = expected_days_late(history, pd.Series(["C1", "C1", "C1", "NEW"]), np.array([-10, 25, 40, 0]))
    # not yet due: the mean (21); 25 days overdue: only the 31-day delay counts; beyond every
    # delay on record: two weeks from now; a new customer: the portfolio's mean
    assert list(days) == [21, 31, 40 + 14, 21]


def test_a_customer_paying_on_a_fixed_day_of_the_month_is_expected_on_that_day():
    from receivables.scoring.dates import regular_payment_days, snap_to_payment_day

    rows = []
    for m in range(8):   # invoices of the 15th, due the 15th of the next month, paid on the 5th after
        issued = (D("2024-10-15") + pd.DateOffset(months=m)).date()
        due = D(issued) + pd.Timedelta(days=30)
        paid = (due + pd.offsets.MonthBegin(1) + pd.Timedelta(days=4))
        rows += paid_invoice("C1", issued.isoformat(), 10_000, (paid - due).days)
    history = invoice_history(ledger(*rows), NO_CUSTOMERS, AS_OF)
    assert regular_payment_days(history, AS_OF).to_dict() == {"C1": 5}
    snapped = snap_to_payment_day(pd.Series([D("2025-07-21"), D("2025-07-28"), D("2025-07-02")]),
                                  pd.Series([5, 31, 5]), D("2025-07-03"))
    # the nearest 5th; the 31st; the 5th of July, the first on or after 3 July
    assert list(snapped) == [D("2025-08-05"), D("2025-07-31"), D("2025-07-05")]


def test_the_stored_date_error_is_backtested_on_invoices_open_four_months_earlier(habits):
    _, _, result = habits
    metrics = result.model.report.metrics
    assert metrics["mae_rows"] > 0 and 0 <= metrics["mae_days"] < metrics["baseline_mean_days_late_mae_days"] + 5
