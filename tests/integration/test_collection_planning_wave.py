"""Planning collection actions through the wave bodies, day after day, on SQLite and PostgreSQL:
the step register moves invoices along their scenario, disputes and promises recorded by credit
managers hold reminders, and planning a day again changes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from receivables.pipeline import cash, wave
from receivables.scenarios.registers import RegisterError
from receivables.warehouse.db import make_engine
from receivables.warehouse.schema import collection_action_lines, collection_actions, collection_steps, promises

FRIDAY, MONDAY = dt.date(2025, 6, 27), dt.date(2025, 6, 30)
NOW = dt.datetime(2025, 6, 30, 6, 0, tzinfo=dt.timezone.utc)


def settings_for(url: str, tmp_path: Path, portfolio: dict, **registers: str) -> wave.WaveSettings:
    return wave.WaveSettings(warehouse_url=url, data_dir=tmp_path / "data", ledger_paths=[str(portfolio["fec"])],
                             customers_file=str(portfolio["customers_csv"]), bank_paths=[str(portfolio["statement"])],
                             **registers)


def run_day(settings: wave.WaveSettings, as_of: dt.date) -> dict:
    """The wave without scoring (every customer then follows the default scenario)."""
    wave.load_ledger(settings, wave.validate_ledger(settings, wave.extract_ledger(settings, as_of)), now=NOW)
    cash.validate_bank_lines(settings, cash.extract_bank_statements(settings, as_of), now=NOW)
    cash.match_bank_lines(settings, as_of)
    cash.apply_matches(settings, as_of)
    summary = wave.plan_collection_actions(settings, as_of, now=NOW)
    wave.compute_aging(settings, as_of)
    return summary


def table(url: str, t, as_of: dt.date) -> pd.DataFrame:  # noqa: ANN001
    with make_engine(url).connect() as conn:
        return pd.read_sql(select(t).where(t.c.as_of == as_of), conn)


def test_invoices_move_one_step_per_run_and_never_get_the_same_step_twice(warehouse_url, tmp_path, demo_portfolio):
    settings = settings_for(warehouse_url, tmp_path, demo_portfolio)
    friday = run_day(settings, FRIDAY)
    monday = run_day(settings, MONDAY)
    assert friday["actions"] > 0 and monday["actions"] > 0
    lines = {day: table(warehouse_url, collection_action_lines, day) for day in (FRIDAY, MONDAY)}
    sent_twice = lines[FRIDAY].merge(lines[MONDAY], on=["customer_id", "invoice_id", "step_id"])
    assert sent_twice.empty
    # an invoice reminded on Friday that is still open on Monday is at a later step of its scenario
    order = {s: i for i, s in enumerate(["courtesy", "reminder_1", "reminder_2", "reminder_letter", "call",
                                         "formal_notice", "agency_handoff", "statement_1",
                                         "account_manager_call", "statement_2", "thank_you"])}
    both = lines[FRIDAY].merge(lines[MONDAY], on=["customer_id", "invoice_id"], suffixes=("_fri", "_mon"))
    assert (both["step_id_mon"].map(order) > both["step_id_fri"].map(order)).all()
    actions = table(warehouse_url, collection_actions, MONDAY)
    assert actions["action_key"].is_unique
    amounts = lines[MONDAY].groupby("action_key")["open_minor"].sum()
    regular = actions[actions["step_id"] != "thank_you"].set_index("action_key")
    assert (regular["principal_minor"] == amounts.reindex(regular.index)).all()
    assert (actions["send_at"].notna()).all() and set(actions["language"]) <= {"fr", "en", "de", "es", "it", "nl"}


def test_planning_the_same_day_again_gives_the_same_actions(warehouse_url, tmp_path, demo_portfolio):
    settings = settings_for(warehouse_url, tmp_path, demo_portfolio)
    run_day(settings, FRIDAY)
    first = {t.name: table(warehouse_url, t, FRIDAY) for t in (collection_actions, collection_action_lines,
                                                                collection_steps)}
    wave.plan_collection_actions(settings, FRIDAY, now=NOW)
    for t in (collection_actions, collection_action_lines, collection_steps):
        again = table(warehouse_url, t, FRIDAY)
        keys = list(again.columns[:4])
        pd.testing.assert_frame_equal(first[t.name].sort_values(keys).reset_index(drop=True),
                                      again.sort_values(keys).reset_index(drop=True))


def test_a_day_planned_in_customer_shards_is_the_day_planned_at_once(warehouse_url, tmp_path, demo_portfolio):
    # A large portfolio is planned by one mapped task per customer shard, each replacing only its
    # customers' rows: the three shards together write exactly what one task writes, registers
    # (a dispute, promises, a payment plan) included.
    from receivables.demo.generator import write_sample_registers

    registers = write_sample_registers(tmp_path, demo_portfolio["fec"], demo_portfolio["customers_csv"],
                                       MONDAY)
    settings = settings_for(warehouse_url, tmp_path, demo_portfolio, disputes_file=str(registers["disputes"]),
                            promises_file=str(registers["promises"]), payment_plans_file=str(registers["payment_plans"]))
    run_day(settings, FRIDAY)
    run_day(settings, MONDAY)
    tables = (collection_actions, collection_action_lines, collection_steps)

    def monday() -> dict:
        frames = {t.name: table(warehouse_url, t, MONDAY) for t in tables}
        return {name: f.sort_values(list(f.columns)).reset_index(drop=True) for name, f in frames.items()}

    at_once = monday()
    with make_engine(warehouse_url).begin() as conn:    # the day's plan gone, then planned shard by shard
        for t in tables:
            conn.execute(t.delete().where(t.c.as_of == MONDAY))
    settings.shard_customers = 25                      # 60 customers (and the ledger's own): 3 shards
    prepared = wave.plan_shards(settings, now=NOW)
    assert prepared["shards"] == [[0, 3], [1, 3], [2, 3]] and set(prepared["registers_imported"]) == {
        "disputes", "promises", "payment_plans"}
    summaries = [wave.plan_collection_actions(settings, MONDAY, now=NOW, shard=tuple(s), import_first=False)
                 for s in prepared["shards"]]
    assert all(s["actions"] > 0 for s in summaries) and [s["shard"] for s in summaries] == prepared["shards"]
    sharded = monday()
    for name in at_once:
        pd.testing.assert_frame_equal(sharded[name], at_once[name])
    # planning one shard again replaces that shard's rows and leaves the others alone
    wave.plan_collection_actions(settings, MONDAY, now=NOW, shard=(1, 3), import_first=False)
    for name, frame in monday().items():
        pd.testing.assert_frame_equal(frame, at_once[name])


def test_a_dispute_and_a_promise_recorded_by_credit_managers_hold_the_reminders(warehouse_url, tmp_path,
                                                                               demo_portfolio):
    settings = settings_for(warehouse_url, tmp_path, demo_portfolio)
    run_day(settings, FRIDAY)
    run_day(settings, MONDAY)
    planned = table(warehouse_url, collection_action_lines, MONDAY)
    planned = planned[(planned["step_id"] != "thank_you") & ~planned["invoice_id"].str.contains("#")]
    disputed = planned.iloc[0]
    promised = planned[planned["customer_id"] != disputed.customer_id].iloc[0]
    # the credit managers record a dispute and a promise that morning, and the day is planned again
    (tmp_path / "disputes.csv").write_text(
        "dispute_id,customer_id,invoice_id,reason_code,status,opened_on\n"
        f"D-1,{disputed.customer_id},{disputed.invoice_id},quality,open,2025-06-30\n", encoding="utf-8")
    (tmp_path / "promises.csv").write_text(
        "promise_id,customer_id,invoice_ids,made_on,promised_date,amount,currency\n"
        f"P-1,{promised.customer_id},,2025-06-30,2025-07-04,100.00,EUR\n", encoding="utf-8")
    settings = settings_for(warehouse_url, tmp_path, demo_portfolio, disputes_file=str(tmp_path / "disputes.csv"),
                            promises_file=str(tmp_path / "promises.csv"))
    summary = wave.plan_collection_actions(settings, MONDAY, now=NOW)
    assert summary["registers_imported"] == {"disputes": 1, "promises": 1}
    lines = table(warehouse_url, collection_action_lines, MONDAY)
    held = table(warehouse_url, collection_steps, MONDAY).query("outcome == 'held'")
    assert (disputed.customer_id, disputed.invoice_id) not in set(zip(lines["customer_id"], lines["invoice_id"]))
    assert (disputed.customer_id, disputed.invoice_id, disputed.step_id, "disputed") in set(
        zip(held["customer_id"], held["invoice_id"], held["step_id"], held["reason"]))
    assert promised.customer_id not in set(lines.loc[lines["step_id"] != "thank_you", "customer_id"])
    assert (held.loc[held["customer_id"] == promised.customer_id, "reason"] == "promised").all()
    with make_engine(warehouse_url).connect() as conn:
        stored = conn.execute(select(promises.c.status, promises.c.open_at_promise_minor)).one()
    assert stored.status == "pending" and stored.open_at_promise_minor > 0


def test_a_bad_register_file_fails_the_planning_and_leaves_the_previous_plan(warehouse_url, tmp_path, demo_portfolio):
    settings = settings_for(warehouse_url, tmp_path, demo_portfolio)
    run_day(settings, FRIDAY)
    before = table(warehouse_url, collection_actions, FRIDAY)
    (tmp_path / "disputes.csv").write_text("dispute_id,customer_id,invoice_id,reason_code,opened_on\n"
                                           "D-1,C0001,FA-1,too expensive,2025-06-27\n", encoding="utf-8")
    settings.disputes_file = str(tmp_path / "disputes.csv")
    with pytest.raises(RegisterError, match=r"disputes.csv: nothing imported, 1 problem\(s\): line 2, "
                                            r"field 'reason_code': must be one of price"):
        wave.plan_collection_actions(settings, FRIDAY, now=NOW)
    pd.testing.assert_frame_equal(table(warehouse_url, collection_actions, FRIDAY), before)
