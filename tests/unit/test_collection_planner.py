"""The daily collection plan on small AR documents: invoices with a due date, a customer master,
what was already sent, and the reasons a due step does not go out."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from ar_documents import ledger, line
from receivables.ledger.open_items import open_items
from receivables.ledger.schema import CUSTOMER_COLUMNS, conform
from receivables.scenarios.planner import ACTION_COLUMNS, LINE_COLUMNS, SKIPPED_COLUMNS, plan_actions
from receivables.scenarios.policy import default_policy_path, load_policy

POLICY = load_policy(default_policy_path())
STANDARD = [s.id for s in POLICY.scenario("standard").steps]
NO_RISK = pd.DataFrame(columns=["customer_id", "risk_class"])


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def invoice(customer: str, ref: str, due: str, cents: int, *, issued: str = "2025-05-01") -> dict:
    return line("VE", ref, issued, customer, ref, debit=cents, due=due)


def items(*lines: dict, as_of: str) -> pd.DataFrame:
    return open_items(ledger(*lines), customers(), day(as_of))


def customers(*rows: dict) -> pd.DataFrame:
    """Customer master rows: customer_id plus any of segment, strategic, language, opt_out_channels."""
    base = [{"customer_id": c, "name": c} for c in ("C1", "C2", "C3")]
    given = {r["customer_id"]: r for r in rows}
    frame = pd.DataFrame([{**b, **given.get(b["customer_id"], {})} for b in base]
                         + [r for c, r in given.items() if c not in ("C1", "C2", "C3")])
    return conform(frame, CUSTOMER_COLUMNS)


def done(*rows: tuple[str, str, list[str]]) -> pd.DataFrame:
    """(customer, invoice, [steps already sent]) rows."""
    return pd.DataFrame([{"customer_id": c, "invoice_id": i, "step_id": s} for c, i, steps in rows for s in steps],
                        columns=["customer_id", "invoice_id", "step_id"])


def plan(docs: list[dict], as_of: str, *, master: pd.DataFrame | None = None, risk: pd.DataFrame | None = None,
         **kwargs):  # noqa: ANN003, ANN201
    return plan_actions(items(*docs, as_of=as_of), customers() if master is None else master,
                        NO_RISK if risk is None else risk, POLICY, day(as_of), **kwargs)


def sent(result) -> list[tuple[str, str, str, str]]:  # noqa: ANN001
    return list(result.actions[["customer_id", "step_id", "channel", "invoice_ids"]].itertuples(index=False, name=None))


def reasons(result) -> list[tuple[str, str, str, str]]:  # noqa: ANN001
    return list(result.skipped[SKIPPED_COLUMNS].itertuples(index=False, name=None))


# -- which step, when -----------------------------------------------------------------------------

def test_a_courtesy_notice_goes_out_seven_days_before_the_due_date():
    docs = [invoice("C1", "FA-1", "2025-07-22", 120_000)]
    assert sent(plan(docs, "2025-07-14")) == []          # 14 July: a holiday anyway
    assert sent(plan(docs, "2025-07-11")) == []          # D-11
    result = plan(docs, "2025-07-15")
    assert sent(result) == [("C1", "courtesy", "email", "FA-1")]
    action = result.actions.iloc[0]
    assert (action["template"], action["tone"], action["offset_days"]) == ("email/courtesy", "courtesy", -7)
    assert (action["amount_minor"], action["currency"], action["language"]) == (120_000, "EUR", "fr")
    assert action["as_of"] == day("2025-07-15") and not action["requires_approval"]
    assert list(result.actions.columns) == ACTION_COLUMNS and list(result.lines.columns) == LINE_COLUMNS


def test_a_friendly_email_goes_out_three_days_after_the_due_date():
    docs = [invoice("C1", "FA-1", "2025-07-07", 50_000)]
    history = done(("C1", "FA-1", ["courtesy"]))
    assert sent(plan(docs, "2025-07-09", done=history)) == []
    result = plan(docs, "2025-07-10", done=history)
    assert sent(result) == [("C1", "reminder_1", "email", "FA-1")]
    assert result.actions.iloc[0]["tone"] == "friendly"
    assert result.lines.iloc[0][["invoice_id", "open_minor", "days_overdue"]].tolist() == ["FA-1", 50_000, 3]


def test_two_invoices_of_one_customer_at_the_same_step_make_one_message():
    docs = [invoice("C1", "FA-2", "2025-07-07", 30_000), invoice("C1", "FA-1", "2025-07-07", 20_000),
            invoice("C2", "FA-3", "2025-07-07", 10_000)]
    history = done(("C1", "FA-1", ["courtesy"]), ("C1", "FA-2", ["courtesy"]), ("C2", "FA-3", ["courtesy"]))
    result = plan(docs, "2025-07-10", done=history)
    assert sent(result) == [("C1", "reminder_1", "email", "FA-1 FA-2"), ("C2", "reminder_1", "email", "FA-3")]
    assert result.actions["amount_minor"].tolist() == [50_000, 10_000]
    c1 = result.actions.iloc[0]["action_key"]
    assert result.lines.loc[result.lines["action_key"] == c1, "invoice_id"].tolist() == ["FA-1", "FA-2"]


def test_a_step_falling_on_a_holiday_goes_out_the_next_business_day():
    docs = [invoice("C1", "FA-1", "2025-07-11", 50_000)]   # D+3 = Monday 14 July, Bastille Day
    history = done(("C1", "FA-1", ["courtesy"]))
    assert sent(plan(docs, "2025-07-11", done=history)) == []
    assert sent(plan(docs, "2025-07-14", done=history)) == []
    assert sent(plan(docs, "2025-07-15", done=history)) == [("C1", "reminder_1", "email", "FA-1")]


def test_a_run_on_a_saturday_plans_nothing():
    docs = [invoice("C1", "FA-1", "2025-07-02", 50_000)]   # D+10 = Saturday 12 July
    result = plan(docs, "2025-07-12", done=done(("C1", "FA-1", ["courtesy", "reminder_1"])))
    assert result.actions.empty and result.lines.empty and result.skipped.empty
    assert list(result.skipped.columns) == SKIPPED_COLUMNS


def test_after_the_d3_reminder_the_d10_reminder_waits_for_d10():
    docs = [invoice("C1", "FA-1", "2025-07-07", 50_000)]   # D+10 = Thursday 17 July
    history = done(("C1", "FA-1", ["courtesy", "reminder_1"]))
    assert sent(plan(docs, "2025-07-15", done=history)) == []
    assert sent(plan(docs, "2025-07-16", done=history)) == []
    result = plan(docs, "2025-07-17", done=history)
    assert sent(result) == [("C1", "reminder_2", "email", "FA-1"), ("C1", "reminder_2", "sms", "FA-1")]
    assert result.actions["template"].tolist() == ["email/reminder_2", "sms/reminder_2"]


def test_when_the_d3_and_d10_reminders_were_both_missed_only_d3_goes_out_today():
    docs = [invoice("C1", "FA-1", "2025-07-01", 50_000)]   # D+3 = 4 July, D+10 = 11 July
    result = plan(docs, "2025-07-15", done=done(("C1", "FA-1", ["courtesy"])))
    assert sent(result) == [("C1", "reminder_1", "email", "FA-1")]
    later = plan(docs, "2025-07-16", done=done(("C1", "FA-1", ["courtesy", "reminder_1"])))
    assert [s[1] for s in sent(later)] == ["reminder_2", "reminder_2"]


def test_a_high_risk_customer_follows_the_high_risk_scenario():
    docs = [invoice("C1", "FA-1", "2025-07-14", 50_000)]
    risk = pd.DataFrame({"customer_id": ["C1", "C1"], "currency": ["EUR", "USD"], "risk_class": ["low", "high"]})
    result = plan(docs, "2025-07-15", risk=risk, done=done(("C1", "FA-1", ["courtesy"])))
    assert sent(result) == [("C1", "reminder_1", "email", "FA-1")]
    assert result.actions.iloc[0][["scenario", "template"]].tolist() == ["high_risk", "email/reminder_1_firm"]


def test_a_strategic_customer_gets_an_account_statement_from_the_strategic_scenario():
    docs = [invoice("C1", "FA-1", "2025-07-10", 50_000)]
    master = customers({"customer_id": "C1", "strategic": True, "language": "en"})
    assert sent(plan(docs, "2025-07-11", master=master)) == []    # no courtesy notice in that scenario
    result = plan(docs, "2025-07-15", master=master)
    assert sent(result) == [("C1", "statement_1", "statement", "FA-1")]
    assert result.actions.iloc[0][["scenario", "template", "language"]].tolist() == [
        "strategic", "statement/account_statement", "en"]


# -- exclusions -----------------------------------------------------------------------------------

DUE_TODAY = "2025-07-10"                                   # reminder_1 due on 15 July


def _excluded(**kwargs) -> tuple[list, list]:  # noqa: ANN003
    docs = [invoice("C1", "FA-1", DUE_TODAY, 50_000), invoice("C1", "FA-2", DUE_TODAY, 20_000)]
    result = plan(docs, "2025-07-15", done=done(("C1", "FA-1", ["courtesy"]), ("C1", "FA-2", ["courtesy"])),
                  **kwargs)
    return sent(result), reasons(result)


def test_a_disputed_invoice_is_not_dunned_until_the_dispute_is_resolved():
    disputes = pd.DataFrame({"customer_id": ["C1"], "invoice_id": ["FA-1"], "status": ["open"]})
    assert _excluded(disputes=disputes) == ([("C1", "reminder_1", "email", "FA-2")],
                                            [("C1", "FA-1", "reminder_1", "disputed")])
    resolved = disputes.assign(status="resolved")
    assert _excluded(disputes=resolved)[0] == [("C1", "reminder_1", "email", "FA-1 FA-2")]


def test_a_promised_invoice_waits_until_three_days_after_the_promised_date():
    within = pd.DataFrame({"customer_id": ["C1"], "invoice_id": ["FA-1"], "promised_date": [pd.Timestamp("2025-07-12")]})
    assert _excluded(promises=within) == ([("C1", "reminder_1", "email", "FA-2")],
                                          [("C1", "FA-1", "reminder_1", "promised")])
    broken = within.assign(promised_date=pd.Timestamp("2025-07-11"))   # grace ended on 14 July
    assert _excluded(promises=broken) == ([("C1", "reminder_1", "email", "FA-1 FA-2")], [])


def test_a_promise_without_an_invoice_covers_all_the_customers_invoices():
    promise = pd.DataFrame({"customer_id": ["C1"], "invoice_id": [""], "promised_date": [pd.Timestamp("2025-07-15")]})
    assert _excluded(promises=promise) == ([], [("C1", "FA-1", "reminder_1", "promised"),
                                                ("C1", "FA-2", "reminder_1", "promised")])


def test_invoices_on_a_payment_plan_or_paid_today_are_not_dunned():
    plans = pd.DataFrame({"customer_id": ["C1"], "invoice_id": ["FA-1"]})
    paid = pd.DataFrame({"customer_id": ["C1"], "invoice_id": ["FA-2"]})
    assert _excluded(plans=plans, paid_today=paid) == ([], [("C1", "FA-1", "reminder_1", "payment_plan"),
                                                            ("C1", "FA-2", "reminder_1", "paid_today")])


# -- channels ---------------------------------------------------------------------------------------

def test_a_customer_who_opted_out_of_email_gets_the_letter_fallback():
    docs = [invoice("C1", "FA-1", DUE_TODAY, 50_000)]
    master = customers({"customer_id": "C1", "opt_out_channels": "sms email"})
    result = plan(docs, "2025-07-15", master=master, done=done(("C1", "FA-1", ["courtesy"])))
    assert sent(result) == [("C1", "reminder_1", "letter", "FA-1")]
    assert result.actions.iloc[0]["template"] == "letter/reminder_1"


def test_a_customer_who_opted_out_of_email_and_letter_is_skipped():
    docs = [invoice("C1", "FA-1", DUE_TODAY, 50_000)]
    master = customers({"customer_id": "C1", "opt_out_channels": "email letter"})
    result = plan(docs, "2025-07-15", master=master, done=done(("C1", "FA-1", ["courtesy"])))
    assert sent(result) == [] and reasons(result) == [("C1", "FA-1", "reminder_1", "opted_out")]


def test_a_customer_who_opted_out_of_sms_gets_the_email_only():
    docs = [invoice("C1", "FA-1", "2025-07-07", 50_000)]
    master = customers({"customer_id": "C1", "opt_out_channels": "sms"})
    result = plan(docs, "2025-07-17", master=master, done=done(("C1", "FA-1", ["courtesy", "reminder_1"])))
    assert sent(result) == [("C1", "reminder_2", "email", "FA-1")]
    assert reasons(result) == [("C1", "FA-1", "reminder_2", "opted_out")]


# -- amounts, approval, keys ------------------------------------------------------------------------

LATE_STEPS = ["courtesy", "reminder_1", "reminder_2", "reminder_letter", "call", "formal_notice"]


def test_a_customer_under_the_minimum_amount_of_a_step_is_skipped():
    # agency hand-off at D+60, from 500.00 EUR of invoices at that step
    docs = [invoice("C1", "FA-1", "2025-05-15", 30_000),
            invoice("C2", "FA-2", "2025-05-15", 30_000), invoice("C2", "FA-3", "2025-05-15", 20_000)]
    history = done(*[(c, i, LATE_STEPS) for c, i in (("C1", "FA-1"), ("C2", "FA-2"), ("C2", "FA-3"))])
    result = plan(docs, "2025-07-15", done=history)
    assert sent(result) == [("C2", "agency_handoff", "agency_handoff", "FA-2 FA-3")]
    assert reasons(result) == [("C1", "FA-1", "agency_handoff", "under_minimum")]


def test_a_formal_notice_requires_approval_and_shows_legal_fees():
    docs = [invoice("C1", "FA-1", "2025-05-30", 50_000)]     # D+45 = 14 July, a holiday
    result = plan(docs, "2025-07-15", done=done(("C1", "FA-1", LATE_STEPS[:-1])))
    assert sent(result) == [("C1", "formal_notice", "formal_notice", "FA-1")]
    assert result.actions.iloc[0][["requires_approval", "legal_fees", "tone"]].tolist() == [True, True, "legal"]


def test_planning_twice_gives_identical_actions_and_keys():
    docs = [invoice("C1", "FA-1", "2025-07-07", 50_000), invoice("C1", "FA-2", "2025-07-05", 20_000),
            invoice("C2", "FA-3", "2025-07-22", 10_000)]
    history = done(("C1", "FA-1", ["courtesy", "reminder_1"]), ("C1", "FA-2", ["courtesy", "reminder_1"]))
    first, second = plan(docs, "2025-07-17", done=history), plan(docs, "2025-07-17", done=history)
    pd.testing.assert_frame_equal(first.actions, second.actions)
    pd.testing.assert_frame_equal(first.lines, second.lines)
    keys = first.actions["action_key"]
    assert keys.is_unique and keys.str.fullmatch(r"[0-9a-f]{20}").all() and len(keys) == 3


def test_an_invoice_first_seen_after_its_due_date_gets_no_courtesy_notice_but_the_first_reminder():
    docs = [invoice("C1", "FA-LATE", "2025-06-20", 100_000)]
    assert sent(plan(docs, "2025-06-24")) == [("C1", "reminder_1", "email", "FA-LATE")]
