"""The call list of a day on SQLite and PostgreSQL: three customers reach the 'call' step of the
standard scenario on Monday 30 June 2025, the list is published (table, CSV, outbox), and what
the collectors heard on the phone comes back as promises and disputes that hold the next
reminders.

    C1 Dupont SA     FA-101  10 000.00 € due 30 May (31 days late)  risk 80  phone known
    C2 Martin SARL   FA-202  12 000.00 € due 28 May (33 days late)  risk 10  phone known
    C3 Petit & Fils  FA-303   3 000.00 € due 29 May (32 days late)  no score no phone number
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from ar_documents import ledger, line
from receivables.channels import outbox
from receivables.channels.calls import import_outcomes, publish_call_list, read_call_list, read_outcomes
from receivables.ledger.open_items import open_items
from receivables.ledger.schema import CUSTOMER_COLUMNS, conform
from receivables.scenarios.planner import plan_actions
from receivables.scenarios.policy import default_policy_path, load_policy
from receivables.scenarios.registers import planning_registers
from receivables.scenarios.render import Creditor
from receivables.warehouse.db import bulk_insert, make_engine
from receivables.warehouse.schema import risk_scores
from receivables.warehouse.store import read_register_table, refresh_customers, replace_plan, save_promise_verdicts

MONDAY = dt.date(2025, 6, 30)
NOW = dt.datetime(2025, 6, 30, 6, 30, tzinfo=dt.timezone.utc)
LATER = dt.datetime(2025, 6, 30, 11, 0, tzinfo=dt.timezone.utc)
POLICY = load_policy(default_policy_path())
CREDITOR = Creditor.from_env({})
NO_RISK = pd.DataFrame(columns=["customer_id", "risk_class"])

MASTER = conform(pd.DataFrame([
    {"customer_id": "C1", "name": "Dupont SA", "country": "FR", "language": "fr", "email": "compta@dupont.example",
     "phone": "+33 1 40 00 00 01", "segment": "PME", "strategic": False},
    {"customer_id": "C2", "name": "Martin SARL", "country": "FR", "language": "fr", "email": "",
     "phone": "+33 4 72 00 00 02", "segment": "TPE", "strategic": False},
    {"customer_id": "C3", "name": "Petit & Fils", "country": "FR", "language": "fr", "email": "petit@example.fr",
     "phone": "", "segment": "TPE", "strategic": False}]), CUSTOMER_COLUMNS)
LEDGER = ledger(line("VE", "FA-101", "2025-04-30", "C1", "FA-101", debit=1_000_000, due="2025-05-30"),
                line("VE", "FA-202", "2025-04-28", "C2", "FA-202", debit=1_200_000, due="2025-05-28"),
                line("VE", "FA-303", "2025-04-29", "C3", "FA-303", debit=300_000, due="2025-05-29"))
INVOICES = {"C1": "FA-101", "C2": "FA-202", "C3": "FA-303"}


def steps_done(*steps: str) -> pd.DataFrame:
    return pd.DataFrame([{"customer_id": c, "invoice_id": i, "step_id": s} for c, i in INVOICES.items() for s in steps])


BEFORE_THE_CALL = steps_done("courtesy", "reminder_1", "reminder_2", "reminder_letter")


def risk_rows(*rows: tuple[str, int, str]) -> pd.DataFrame:
    return pd.DataFrame([{"as_of": pd.Timestamp(MONDAY), "customer_id": c, "currency": "EUR", "score": score,
                          "risk_class": "medium", "p_late": score / 100, "p_late_30": score / 200, "open_minor": 0,
                          "overdue_minor": 0, "oldest_overdue_days": 31, "expected_late_minor": 0, "drivers": drivers,
                          "model_kind": "rules"} for c, score, drivers in rows])


def monday_plan():  # noqa: ANN201
    return plan_actions(open_items(LEDGER, MASTER, MONDAY), MASTER, NO_RISK, POLICY, MONDAY, done=BEFORE_THE_CALL)


def seeded(url: str, customers: tuple[str, ...] = ("C1", "C2", "C3")) -> Engine:
    """Monday's plan stored, the calls of `customers` handed to dispatch, C1 and C2 scored."""
    plan = monday_plan()
    assert sorted(zip(plan.actions["customer_id"], plan.actions["step_id"])) == [
        ("C1", "call"), ("C2", "call"), ("C3", "call")]
    engine = make_engine(url)
    with engine.begin() as conn:
        refresh_customers(conn, MASTER)
        replace_plan(conn, MONDAY, actions=plan.actions, lines=plan.lines, skipped=plan.skipped)
        bulk_insert(conn, risk_scores, risk_rows(("C1", 80, "3 invoices paid late in 12 months; no payment since April"),
                                                 ("C2", 10, "pays on time")))
        outbox.enqueue(conn, plan.actions[plan.actions["customer_id"].isin(customers)], MONDAY, now=NOW)
    return engine


def publish(engine: Engine, out_dir: Path, now: dt.datetime = NOW) -> dict:
    return publish_call_list(engine, as_of=MONDAY, now=now, out_dir=out_dir, creditor=CREDITOR)


def the_list(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return read_call_list(conn, MONDAY)


def calls_in_outbox(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = outbox.read_outbox(conn)
    rows["sent_at"] = pd.to_datetime(rows["sent_at"], utc=True, format="ISO8601")
    return rows.set_index("customer_id").sort_index()


def test_publishing_the_days_call_list_twice_gives_the_same_table_and_csv_and_marks_each_call_sent_once(
        warehouse_url, tmp_path):
    engine = seeded(warehouse_url)
    first = publish(engine, tmp_path)
    assert {k: first[k] for k in ("released", "claimed", "listed", "suppressed", "rows")} == {
        "released": 0, "claimed": 3, "listed": 2, "suppressed": 1, "rows": 2}
    listed, csv = the_list(engine), Path(first["path"]).read_bytes()
    assert first["path"] == str(tmp_path / "2025-06-30" / "call_list.csv")

    # C1 first: 10 000 € x 0.80 x 31/30 = 8 266.66 € beats 12 000 € x 0.10 x 33/30 = 1 320.00 €
    assert listed[["priority", "customer_id", "name", "phone", "invoice_ids", "amount_minor", "days_overdue",
                   "risk_score", "expected_value_minor"]].values.tolist() == [
        [1, "C1", "Dupont SA", "+33 1 40 00 00 01", "FA-101", 1_000_000, 31, 80, 826_666],
        [2, "C2", "Martin SARL", "+33 4 72 00 00 02", "FA-202", 1_200_000, 33, 10, 132_000]]
    dupont = listed.iloc[0]
    assert dupont["drivers"] == "3 invoices paid late in 12 months; no payment since April"
    assert "Dupont SA" in dupont["script"] and "no payment since April" in dupont["script"]
    assert re.search(r"Total .*10\s000,00\s€", dupont["script"])   # in the customer's language

    again = publish(engine, tmp_path, now=LATER)
    assert {k: again[k] for k in ("released", "claimed", "listed", "suppressed", "rows")} == {
        "released": 0, "claimed": 0, "listed": 0, "suppressed": 0, "rows": 2}
    pd.testing.assert_frame_equal(the_list(engine), listed)
    assert Path(again["path"]).read_bytes() == csv
    assert not list((tmp_path / "2025-06-30").glob(".*"))   # no temporary file left behind

    rows = calls_in_outbox(engine)
    assert rows["state"].to_dict() == {"C1": "sent", "C2": "sent", "C3": "suppressed"}
    assert rows.loc["C3", "reason"] == "no phone number" and rows.loc["C3", "provider"] == ""
    sent = rows.loc[["C1", "C2"]]
    assert (sent["attempts"] == 1).all() and (sent["sent_at"] == pd.Timestamp(NOW)).all()
    assert (sent["provider"] == "call_list").all() and sent["recipient"].tolist() == listed["phone"].tolist()
    assert sent.loc["C1", "provider_message_id"] == f"2025-06-30#{sent.loc['C1', 'action_key']}"

    table = pd.read_csv(Path(again["path"]), dtype=str, keep_default_na=False)
    assert table.columns[:4].tolist() == ["as_of", "priority", "action_key", "customer_id"]
    assert table[["as_of", "customer_id", "amount", "currency", "risk_score", "expected_value"]].values.tolist() == [
        ["2025-06-30", "C1", "10000.00", "EUR", "80", "8266.66"],
        ["2025-06-30", "C2", "12000.00", "EUR", "10", "1320.00"]]
    assert table.loc[0, "script"] == dupont["script"]   # a multi-line cell, quoted


def test_calls_handed_over_later_the_same_day_join_the_days_list_ranked_again(warehouse_url, tmp_path):
    engine = seeded(warehouse_url, customers=("C2",))
    publish(engine, tmp_path)
    assert the_list(engine)[["priority", "customer_id"]].values.tolist() == [[1, "C2"]]
    with engine.begin() as conn:   # a later plan of the day hands over C1 and C3 too
        assert outbox.enqueue(conn, monday_plan().actions, MONDAY, now=LATER) == {"new": 2, "known": 1}
    summary = publish(engine, tmp_path, now=LATER)
    assert (summary["claimed"], summary["listed"], summary["suppressed"], summary["rows"]) == (2, 1, 1, 2)
    assert the_list(engine)[["priority", "customer_id"]].values.tolist() == [[1, "C1"], [2, "C2"]]
    csv = pd.read_csv(Path(summary["path"]), dtype=str)
    assert csv[["priority", "customer_id"]].values.tolist() == [["1", "C1"], ["2", "C2"]]
    rows = calls_in_outbox(engine)
    assert rows.loc["C2", "sent_at"] == pd.Timestamp(NOW) and rows.loc["C1", "sent_at"] == pd.Timestamp(LATER)


def test_calls_a_killed_run_left_in_sending_were_never_handed_over_and_are_listed_by_the_next(
        warehouse_url, tmp_path):
    engine = seeded(warehouse_url)
    with engine.begin() as conn:   # claimed and committed, then the task died before its transaction
        assert len(outbox.claim(conn, "call", now=NOW)) == 3
    summary = publish(engine, tmp_path, now=LATER)
    assert (summary["released"], summary["claimed"], summary["listed"], summary["suppressed"]) == (3, 3, 2, 1)
    rows = calls_in_outbox(engine)
    assert rows["state"].to_dict() == {"C1": "sent", "C2": "sent", "C3": "suppressed"}
    assert (rows["attempts"] == 2).all()


def outcomes_of_the_calls(tmp_path: Path, engine: Engine, *, note: str = "transfer on Friday") -> pd.DataFrame:
    keys = the_list(engine).set_index("customer_id")["action_key"]
    path = tmp_path / "call_outcomes.csv"
    path.write_text(
        "outcome_id,action_key,customer_id,called_on,outcome,invoice_ids,promised_date,amount,currency,"
        "dispute_reason,note\n"
        f"O-1,{keys['C1']},C1,2025-06-30,promise,FA-101,2025-07-15,10000.00,EUR,,{note}\n"
        f"O-2,{keys['C2']},C2,2025-06-30,dispute,FA-202,,,,delivery,half the goods never arrived\n",
        encoding="utf-8")
    return read_outcomes(path)


def test_a_promise_made_on_the_phone_holds_the_formal_notice_and_a_dispute_holds_its_invoice(warehouse_url,
                                                                                            tmp_path):
    engine = seeded(warehouse_url)
    publish(engine, tmp_path)
    with engine.begin() as conn:
        imported = import_outcomes(conn, outcomes_of_the_calls(tmp_path, engine), now=LATER)
    assert imported == {"outcomes": 2, "new": 2, "changed": 0, "promises": 1, "disputes": 1}

    # Tuesday 15 July: the formal notice (D+45) is due for all three; nobody paid
    tuesday = dt.date(2025, 7, 15)
    items = open_items(LEDGER, MASTER, tuesday)
    done = steps_done("courtesy", "reminder_1", "reminder_2", "reminder_letter", "call")
    without = plan_actions(items, MASTER, NO_RISK, POLICY, tuesday, done=done)
    assert sorted(without.actions["customer_id"]) == ["C1", "C2", "C3"]
    with engine.connect() as conn:
        registers = planning_registers(items, tuesday, disputes=read_register_table(conn, "disputes"),
                                       promises=read_register_table(conn, "promises"))
    result = plan_actions(items, MASTER, NO_RISK, POLICY, tuesday, done=done, **registers)
    assert result.actions[["customer_id", "step_id"]].values.tolist() == [["C3", "formal_notice"]]
    assert result.skipped[["customer_id", "invoice_id", "step_id", "reason"]].values.tolist() == [
        ["C1", "FA-101", "formal_notice", "promised"], ["C2", "FA-202", "formal_notice", "disputed"]]
    promise = registers["promises"].iloc[0]
    assert (promise["promise_id"], promise["status"], promise["open_at_promise_minor"]) == ("call:O-1", "pending",
                                                                                           1_000_000)


def test_importing_the_same_outcomes_again_changes_nothing_and_a_corrected_one_replaces_what_it_implied(
        warehouse_url, tmp_path):
    engine = seeded(warehouse_url)
    publish(engine, tmp_path)
    outcomes = outcomes_of_the_calls(tmp_path, engine)
    with engine.begin() as conn:
        import_outcomes(conn, outcomes, now=NOW)
        promise = read_register_table(conn, "promises")
        save_promise_verdicts(conn, promise.assign(status="kept", judged_on=dt.date(2025, 7, 2),
                                                   open_at_promise_minor=1_000_000))
    with engine.begin() as conn:   # the daily import reads the same file again
        assert import_outcomes(conn, outcomes, now=LATER) == {"outcomes": 2, "new": 0, "changed": 0, "promises": 0,
                                                              "disputes": 0}
        kept = read_register_table(conn, "promises").iloc[0]
    assert (kept["status"], kept["judged_on"]) == ("kept", dt.date(2025, 7, 2))

    corrected = outcomes_of_the_calls(tmp_path, engine, note="transfer on Monday")
    corrected.loc[1, ["outcome", "invoice_ids", "dispute_reason"]] = ["reached", "", ""]   # not a dispute after all
    with engine.begin() as conn:
        assert import_outcomes(conn, corrected, now=LATER) == {"outcomes": 2, "new": 0, "changed": 2, "promises": 1,
                                                               "disputes": 0}
        promises, disputes = read_register_table(conn, "promises"), read_register_table(conn, "disputes")
        stored = pd.read_sql("SELECT outcome_id, outcome, note FROM call_outcomes ORDER BY outcome_id", conn)
    assert promises[["promise_id", "status", "note"]].values.tolist() == [["call:O-1", "pending", "transfer on Monday"]]
    assert disputes.empty
    assert stored.values.tolist() == [["O-1", "promise", "transfer on Monday"], ["O-2", "reached",
                                                                                 "half the goods never arrived"]]


@pytest.mark.parametrize("outcome", ["no_answer", "wrong_number"])
def test_a_call_that_reached_nobody_is_recorded_and_holds_nothing(warehouse_url, tmp_path, outcome):
    engine = seeded(warehouse_url)
    path = tmp_path / "outcomes.csv"
    path.write_text("outcome_id,action_key,customer_id,called_on,outcome,note\n"
                    f"O-9,,C1,2025-06-30,{outcome},voicemail\n", encoding="utf-8")
    with engine.begin() as conn:
        assert import_outcomes(conn, read_outcomes(path), now=NOW) == {
            "outcomes": 1, "new": 1, "changed": 0, "promises": 0, "disputes": 0}
        assert read_register_table(conn, "promises").empty and read_register_table(conn, "disputes").empty
