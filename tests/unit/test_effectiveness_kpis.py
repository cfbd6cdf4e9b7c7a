"""What the reminders did: sent per channel, invoices paid within 7 and 14 days, promises kept, calls."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd

from receivables.kpis.effectiveness import (
    action_outcomes,
    call_list_kpis,
    paid_within_kpis,
    promise_kpis,
    reminders_sent_kpis,
)

AS_OF = dt.date(2025, 6, 30)
MASTER = pd.DataFrame({"customer_id": ["C1"], "segment": ["PME"], "collector": ["domestic"]})
EVERYONE = pd.DataFrame({"segment": [""], "collector": [""], "currency": ["EUR"]})
NO_CASH = pd.DataFrame(columns=["as_of", "customer_id", "invoice_id", "amount_minor", "rule"])


def dispatched(*rows: tuple) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(action_key, step, channel, sent on, state, invoice ids) of C1, each asking 100.00 per invoice:
    the outbox rows, the planned actions and their lines."""
    outbox = pd.DataFrame([{"action_key": k, "as_of": pd.Timestamp(d).date(), "customer_id": "C1", "channel": c,
                            "step_id": s, "state": st} for k, s, c, d, st, _ in rows])
    actions = pd.DataFrame([{"as_of": pd.Timestamp(d).date(), "action_key": k, "currency": "EUR",
                             "amount_minor": 10000 * len(ids)} for k, _, _, d, _, ids in rows])
    lines = pd.DataFrame([{"as_of": pd.Timestamp(d).date(), "action_key": k, "customer_id": "C1", "invoice_id": i,
                           "open_minor": 10000} for k, _, _, d, _, ids in rows for i in ids],
                         columns=["as_of", "action_key", "customer_id", "invoice_id", "open_minor"])
    return outbox, actions, lines


def paid(*rows: tuple[str, str]) -> pd.DataFrame:
    """(invoice_id, paid on) as the ledger shows them settled on the as-of date."""
    return pd.DataFrame({"customer_id": "C1", "invoice_id": [i for i, _ in rows],
                         "paid_on": pd.to_datetime([d for _, d in rows])})


WORKED_EXAMPLE = dispatched(
    ("A1", "reminder_1", "email", "2025-06-02", "sent", ["FA-1"]),
    ("A2", "reminder_1", "email", "2025-06-02", "sent", ["FA-2"]),
    ("A3", "reminder_1", "email", "2025-06-02", "sent", ["FA-3", "FA-4"]),
    ("A4", "reminder_2", "sms", "2025-06-25", "sent", ["FA-5"]),
    ("A5", "call", "call", "2025-06-30", "sent", ["FA-6"]),
)
PAID = paid(("FA-1", "2025-06-06"), ("FA-2", "2025-06-13"), ("FA-3", "2025-06-05"))


def figures(rows: pd.DataFrame) -> dict:
    return {(r.metric, r.breakdown): r.value for r in rows.itertuples(index=False)
            if r.segment == "" and r.collector == ""}


def test_the_worked_example_shares_of_reminders_followed_by_payment_within_7_and_14_days():
    outcomes = action_outcomes(*WORKED_EXAMPLE, PAID, NO_CASH, AS_OF)
    value = figures(paid_within_kpis(outcomes, MASTER))
    # A1 paid after 4 days; A2 after 11; A3's FA-4 is still open.
    assert value[("paid_within_7d_ratio", "reminder_1")] == Decimal("0.3333")
    assert value[("paid_within_14d_ratio", "reminder_1")] == Decimal("0.6667")
    # A4 (5 days ago) and A5 (today) are not measurable yet: no reminder_2 or call row.
    assert {step for _, step in value} == {"reminder_1"}
    flags = outcomes.set_index("action_key")
    assert flags.loc["A4", "paid_within_7d"] is pd.NA and flags.loc["A2", "paid_within_14d"]


def test_reminders_sent_today_are_counted_per_channel_with_zeros():
    outcomes = action_outcomes(*WORKED_EXAMPLE, PAID, NO_CASH, AS_OF)
    rows = reminders_sent_kpis(outcomes, MASTER, AS_OF, EVERYONE)
    assert {b: v for (m, b), v in figures(rows).items()} == {
        "email": Decimal(0), "sms": Decimal(0), "letter": Decimal(0), "call": Decimal(1)}
    by_collector = rows[(rows["collector"] == "domestic") & (rows["segment"] == "PME")]
    assert by_collector.set_index("breakdown")["value"].to_dict()["call"] == Decimal(1)


def test_a_formal_notice_counts_as_a_letter_and_a_suppressed_action_was_not_sent():
    outbox, actions, lines = dispatched(("F1", "formal_notice", "formal_notice", "2025-06-30", "sent", ["FA-1"]),
                                        ("S1", "reminder_1", "email", "2025-06-30", "suppressed", ["FA-2"]))
    outcomes = action_outcomes(outbox, actions, lines, paid(), NO_CASH, AS_OF)
    value = figures(reminders_sent_kpis(outcomes, MASTER, AS_OF, EVERYONE))
    assert value[("reminders_sent", "letter")] == Decimal(1) and value[("reminders_sent", "email")] == Decimal(0)


def test_cash_applied_before_the_ledger_lettered_it_counts_as_paid_on_the_day_it_was_applied():
    outbox, actions, lines = dispatched(("A1", "reminder_1", "email", "2025-06-02", "sent", ["FA-1"]),
                                        ("A2", "reminder_1", "email", "2025-06-02", "sent", ["FA-2"]))
    cash = pd.DataFrame({"as_of": pd.to_datetime(["2025-06-04", "2025-06-05", "2025-06-04"]).date,
                         "customer_id": "C1", "invoice_id": ["FA-1", "FA-1", "FA-2"],
                         "amount_minor": [4000, 6000, 3000], "rule": "reference"})
    outcomes = action_outcomes(outbox, actions, lines, paid(), cash, AS_OF).set_index("action_key")
    # FA-1: 40.00 on 4 June, the remaining 60.00 on 5 June (3 days after the reminder); FA-2: 30.00 of 100.00.
    assert outcomes.loc["A1", "paid_within_7d"] and not outcomes.loc["A2", "paid_within_7d"]


def test_a_past_date_measures_only_what_it_knew():
    outcomes = action_outcomes(*WORKED_EXAMPLE, PAID, NO_CASH, dt.date(2025, 6, 10))
    value = figures(paid_within_kpis(outcomes, MASTER))
    # On 10 June only the 7-day windows of 2 June are over (A4 and A5 come later).
    assert value == {("paid_within_7d_ratio", "reminder_1"): Decimal("0.3333")}
    assert set(outcomes["action_key"]) == {"A1", "A2", "A3"}


def promises(*rows: tuple) -> pd.DataFrame:
    """(promise_id, promised_date, status, judged_on) of C1 in EUR."""
    frame = pd.DataFrame(rows, columns=["promise_id", "promised_date", "status", "judged_on"])
    frame["customer_id"], frame["currency"] = "C1", "EUR"
    for column in ("promised_date", "judged_on"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


def test_promises_kept_among_those_due_in_the_last_90_days_whose_fate_is_known():
    register = promises(("P1", "2025-06-10", "kept", "2025-06-09"),
                        ("P2", "2025-06-12", "broken", "2025-06-16"),
                        ("P3", "2025-06-29", "pending", None),        # within its 3 days of grace
                        ("P4", "2025-03-01", "kept", "2025-02-27"))   # due more than 90 days ago
    assert figures(promise_kpis(register, MASTER, AS_OF)) == {("promise_kept_ratio", ""): Decimal("0.5000")}
    # On 14 June P2 was still within its grace: P1 alone was due and decided.
    assert figures(promise_kpis(register, MASTER, dt.date(2025, 6, 14))) == {
        ("promise_kept_ratio", ""): Decimal("1.0000")}


def test_the_call_list_size_counts_the_days_calls_and_zero_elsewhere():
    calls = pd.DataFrame({"customer_id": ["C1", "C1", "C9"], "currency": "EUR"})
    scopes = pd.concat([EVERYONE, pd.DataFrame({"segment": ["GE"], "collector": [""], "currency": ["EUR"]})])
    rows = call_list_kpis(calls, MASTER, scopes)
    value = {(r.segment, r.collector): r.value for r in rows.itertuples(index=False)}
    assert value == {("", ""): Decimal(3), ("PME", ""): Decimal(2), ("", "domestic"): Decimal(2),
                     ("PME", "domestic"): Decimal(2), ("GE", ""): Decimal(0)}
