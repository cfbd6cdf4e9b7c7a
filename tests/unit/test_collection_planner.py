"""The daily collection plan on small AR documents: invoices with a due date, a customer master,
what was already sent, and the reasons a due step does not go out."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pandas as pd

from ar_documents import ledger, line
from receivables.ledger.open_items import open_items
from receivables.ledger.schema import CUSTOMER_COLUMNS, conform
from receivables.scenarios.legal import load_rules
from receivables.scenarios.planner import ACTION_COLUMNS, LINE_COLUMNS, PASSING_REASONS, SKIPPED_COLUMNS, plan_actions
from receivables.scenarios.registers import plan_instalments, plan_invoices
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
    return list(result.skipped[["customer_id", "invoice_id", "step_id", "reason"]].itertuples(index=False, name=None))


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
    within = pd.DataFrame({"customer_id": ["C1"], "invoice_ids": ["FA-1"], "promised_date": [pd.Timestamp("2025-07-12")]})
    assert _excluded(promises=within) == ([("C1", "reminder_1", "email", "FA-2")],
                                          [("C1", "FA-1", "reminder_1", "promised")])
    broken = within.assign(promised_date=pd.Timestamp("2025-07-11"))   # grace ended on 14 July
    assert _excluded(promises=broken) == ([("C1", "reminder_1", "email", "FA-1 FA-2")], [])


def test_a_promise_without_an_invoice_covers_all_the_customers_invoices():
    promise = pd.DataFrame({"customer_id": ["C1"], "invoice_ids": [""], "promised_date": [pd.Timestamp("2025-07-15")]})
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


# -- legal fees on formal notices -----------------------------------------------------------------

def test_a_formal_notice_asks_for_the_principal_the_late_interest_and_the_indemnity():
    docs = [invoice("C1", "FA-1", "2025-05-30", 100_000)]
    result = plan(docs, "2025-07-15", done=done(("C1", "FA-1", LATE_STEPS[:-1])), legal=load_rules("FR"))
    action, line_ = result.actions.iloc[0], result.lines.iloc[0]
    # 1,000.00 EUR late from 31 May: 31 days of H1 at 3.15 + 10 % and 15 days of H2 at 2.15 + 10 %
    # 1000 x (31 x 13.15 + 15 x 12.15) / 100 / 365 = 11.17 + 4.99 = 16.16 EUR; indemnity 40.00 EUR
    assert (line_["late_interest_minor"], line_["indemnity_minor"]) == (1616, 4000)
    assert action[["principal_minor", "interest_minor", "indemnity_minor", "amount_minor"]].tolist() == [
        100_000, 1616, 4000, 105_616]
    assert action["hold_reason"] == ""


def test_a_formal_notice_past_the_rate_table_is_held_with_the_file_to_complete():
    docs = [invoice("C1", "FA-1", "2025-12-01", 100_000, issued="2025-11-01")]
    result = plan(docs, "2026-01-16", done=done(("C1", "FA-1", LATE_STEPS[:-1])), legal=load_rules("FR"))
    action = result.actions.iloc[0]
    assert action["step_id"] == "formal_notice" and pd.isna(action["interest_minor"])
    assert action["amount_minor"] == 100_000 + 4000 and action["requires_approval"]
    assert action["hold_reason"].startswith("FR.yaml: no reference rate for 2026-01-16")


def test_only_legal_steps_carry_interest_and_indemnities():
    result = plan([invoice("C1", "FA-1", "2025-07-10", 50_000)], "2025-07-15",
                  done=done(("C1", "FA-1", ["courtesy"])), legal=load_rules("FR"))
    assert result.actions.iloc[0][["principal_minor", "indemnity_minor", "amount_minor"]].tolist() == [
        50_000, 0, 50_000]
    assert pd.isna(result.actions.iloc[0]["interest_minor"]) and result.lines["indemnity_minor"].eq(0).all()


# -- partial payments, passed steps and dunning cycles ----------------------------------------------

def test_a_partly_paid_invoice_is_reminded_of_what_is_left():
    # 200.00 of the 500.00 paid on 11 July, lettered to FA-1 partially (code AA)
    docs = [{**invoice("C1", "FA-1", "2025-07-10", 50_000), "let_code": "AA", "let_date": pd.Timestamp("2025-07-11")},
            line("BQ", "P1", "2025-07-11", "C1", "VIR-0711", credit=20_000, let="AA", let_date="2025-07-11")]
    result = plan(docs, "2025-07-15", done=done(("C1", "FA-1", ["courtesy"])))
    assert result.actions.iloc[0][["invoice_ids", "amount_minor"]].tolist() == ["FA-1", 30_000]


def register_after(result) -> pd.DataFrame:  # noqa: ANN001
    """What the warehouse's step register gives the next run: planned and passed steps."""
    passed = result.skipped[result.skipped["reason"].isin(PASSING_REASONS)]
    parts = [frame[["customer_id", "invoice_id", "step_id", "due_date"]] for frame in (result.lines, passed)
             if not frame.empty]
    return pd.concat(parts, ignore_index=True)


def test_a_step_a_customer_opted_out_of_is_passed_and_the_next_step_follows():
    master = customers({"customer_id": "C1", "opt_out_channels": "email letter"})
    docs = [invoice("C1", "FA-1", "2025-07-01", 50_000)]
    first = plan(docs, "2025-07-15", master=master, done=done(("C1", "FA-1", ["courtesy"])))
    assert reasons(first) == [("C1", "FA-1", "reminder_1", "opted_out")]
    history = pd.concat([done(("C1", "FA-1", ["courtesy"])), register_after(first)], ignore_index=True)
    second = plan(docs, "2025-07-16", master=master, done=history)
    assert sent(second) == [("C1", "reminder_2", "sms", "FA-1")]   # no email, no letter: the SMS goes


def test_an_invoice_moved_to_a_new_due_date_starts_its_reminders_again():
    first = plan([invoice("C1", "FA-1", "2025-07-01", 50_000)], "2025-07-04", done=done(("C1", "FA-1", ["courtesy"])))
    history = register_after(first)
    assert history["step_id"].tolist() == ["reminder_1"]
    history = pd.concat([history, done(("C1", "FA-1", ["courtesy"])).assign(due_date=pd.Timestamp("2025-07-01"))])
    rescheduled = [invoice("C1", "FA-1", "2025-07-25", 50_000)]     # agreed with the customer: new due date
    assert sent(plan(rescheduled, "2025-07-18", done=history)) == [("C1", "courtesy", "email", "FA-1")]
    same_date = [invoice("C1", "FA-1", "2025-07-01", 50_000)]
    assert sent(plan(same_date, "2025-07-11", done=history)) == [("C1", "reminder_2", "email", "FA-1"),
                                                                  ("C1", "reminder_2", "sms", "FA-1")]


# -- payment plans ---------------------------------------------------------------------------------

def test_a_payment_plan_puts_its_invoices_aside_and_each_instalment_is_reminded_on_its_own_date():
    docs = [invoice("C1", "FA-1", "2025-06-01", 60_000), invoice("C1", "FA-2", "2025-06-15", 30_000)]
    plans = pd.DataFrame([{"plan_id": "PP-1", "customer_id": "C1", "invoice_ids": "FA-1 FA-2", "total_minor": 90_000,
                           "currency": "EUR", "instalments": 3, "first_date": day("2025-07-10"),
                           "frequency": "monthly", "status": "active"}])
    as_of = "2025-07-03"                                               # D-7 of the first instalment
    open_ = items(*docs, as_of=as_of)
    result = plan_actions(open_, customers(), NO_RISK, POLICY, day(as_of), plans=plan_invoices(plans),
                          instalments=plan_instalments(plans, open_))
    assert sent(result) == [("C1", "courtesy", "email", "PP-1#1")]
    assert result.actions.iloc[0]["amount_minor"] == 30_000
    assert reasons(result) == [("C1", "FA-1", "reminder_1", "payment_plan"), ("C1", "FA-2", "reminder_1", "payment_plan")]
    later = plan_actions(open_, customers(), NO_RISK, POLICY, day("2025-07-15"), plans=plan_invoices(plans),
                         instalments=plan_instalments(plans, open_), done=register_after(result))
    assert sent(later) == [("C1", "reminder_1", "email", "PP-1#1")]     # D+3 of the unpaid instalment


# -- thank-you messages and send time ------------------------------------------------------------

def test_a_customer_who_settled_an_overdue_invoice_is_thanked_once_by_email():
    settled = pd.DataFrame([{"customer_id": "C2", "invoice_id": "FA-7", "currency": "EUR",
                             "due_date": pd.Timestamp("2025-06-30"), "open_minor": 45_000}])
    result = plan([invoice("C1", "FA-1", "2025-07-30", 10_000)], "2025-07-15", settled=settled)
    assert sent(result) == [("C2", "thank_you", "email", "FA-7")]
    action = result.actions.iloc[0]
    assert (action["template"], action["amount_minor"], action["language"]) == ("email/thank_you", 0, "fr")
    opted_out = customers({"customer_id": "C2", "opt_out_channels": "email"})
    assert sent(plan([], "2025-07-15", master=opted_out, settled=settled)) == []
    no_thanks = replace(POLICY, thank_you=False)
    assert plan_actions(items(invoice("C1", "FA-1", "2025-07-30", 1), as_of="2025-07-15"), customers(), NO_RISK,
                        no_thanks, day("2025-07-15"), settled=settled).actions.empty


def test_messages_are_scheduled_in_the_morning_of_a_business_day_of_the_customers_country():
    master = customers({"customer_id": "C1", "country": "DE", "language": "de"}, {"customer_id": "C2", "country": "FR"},
                       {"customer_id": "C3", "country": ""})
    docs = [invoice(c, f"FA-{c}", "2025-09-30", 10_000) for c in ("C1", "C2", "C3")]
    history = done(*((c, f"FA-{c}", ["courtesy"]) for c in ("C1", "C2", "C3")))
    result = plan(docs, "2025-10-03", master=master, done=history)     # German Unity Day, a Friday
    send_at = dict(zip(result.actions["customer_id"], result.actions["send_at"].astype(str)))
    assert send_at == {"C1": "2025-10-06 07:00:00+00:00",                # Monday 9:00 in Berlin
                       "C2": "2025-10-03 07:00:00+00:00",                # Friday 9:00 in Paris
                       "C3": "2025-10-03 07:00:00+00:00"}                # unknown country: ours
    assert result.actions.set_index("customer_id").loc["C1", "language"] == "de"


def test_a_customer_who_told_us_its_hour_gets_its_messages_then():
    master = customers({"customer_id": "C1", "country": "BE", "contact_hour": 14})
    result = plan([invoice("C1", "FA-1", "2025-07-10", 10_000)], "2025-07-15", master=master,
                  done=done(("C1", "FA-1", ["courtesy"])))
    assert str(result.actions.iloc[0]["send_at"]) == "2025-07-15 12:00:00+00:00"    # 14:00 in Brussels


def test_the_message_language_is_the_customers_else_its_countrys_else_the_scenarios():
    master = customers({"customer_id": "C1", "language": "nl", "country": "BE"},
                       {"customer_id": "C2", "language": "pt", "country": "BE"},    # no Portuguese messages
                       {"customer_id": "C3", "language": "", "country": "DE"},
                       {"customer_id": "C4", "language": "", "country": ""})
    docs = [invoice(c, f"FA-{c}", "2025-07-22", 10_000) for c in ("C1", "C2", "C3", "C4")]
    result = plan(docs, "2025-07-15", master=master)
    assert dict(zip(result.actions["customer_id"], result.actions["language"])) == {
        "C1": "nl", "C2": "fr", "C3": "de", "C4": "fr"}


def test_a_customer_whose_dunning_is_blocked_gets_no_message_at_all():
    master = customers({"customer_id": "C1", "dunning_blocked": True})
    settled = pd.DataFrame([{"customer_id": "C1", "invoice_id": "FA-0", "currency": "EUR",
                             "due_date": pd.Timestamp("2025-06-30"), "open_minor": 5_000}])
    docs = [invoice("C1", "FA-1", "2025-07-10", 50_000), invoice("C2", "FA-2", "2025-07-10", 50_000)]
    result = plan(docs, "2025-07-15", master=master, settled=settled,
                  done=done(("C1", "FA-1", ["courtesy"]), ("C2", "FA-2", ["courtesy"])))
    assert sent(result) == [("C2", "reminder_1", "email", "FA-2")]
    assert reasons(result) == [("C1", "FA-0", "thank_you", "blocked"), ("C1", "FA-1", "reminder_1", "blocked")]


def test_a_promise_naming_no_invoice_covers_only_what_was_owed_when_it_was_made():
    promise = pd.DataFrame({"customer_id": ["C1"], "invoice_ids": [""], "made_on": [day("2025-07-01")],
                            "promised_date": [day("2025-07-18")], "status": ["pending"]})
    docs = [invoice("C1", "FA-1", "2025-07-10", 50_000, issued="2025-06-10"),
            invoice("C1", "FA-9", "2025-07-10", 20_000, issued="2025-07-02")]    # issued after the promise
    result = plan(docs, "2025-07-15", promises=promise,
                  done=done(("C1", "FA-1", ["courtesy"]), ("C1", "FA-9", ["courtesy"])))
    assert sent(result) == [("C1", "reminder_1", "email", "FA-9")]
    assert reasons(result) == [("C1", "FA-1", "reminder_1", "promised")]


def test_a_customer_reminded_today_is_not_thanked_the_same_day():
    settled = pd.DataFrame([{"customer_id": "C1", "invoice_id": "FA-0", "currency": "EUR",
                             "due_date": pd.Timestamp("2025-06-30"), "open_minor": 5_000}])
    result = plan([invoice("C1", "FA-1", "2025-07-10", 50_000)], "2025-07-15", settled=settled,
                  done=done(("C1", "FA-1", ["courtesy"])))
    assert sent(result) == [("C1", "reminder_1", "email", "FA-1")]
    assert reasons(result) == [("C1", "FA-0", "thank_you", "reminded_today")]
