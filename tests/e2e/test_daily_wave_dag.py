"""The daily DAG run for real with `dag.test()` on a generated portfolio, asserting warehouse rows."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pendulum
import pytest
from sqlalchemy import func, select

from receivables.warehouse.db import make_engine, upgrade
from receivables.warehouse.schema import (
    aging_snapshots,
    collection_action_lines,
    collection_actions,
    invoice_predictions,
    kpi_daily,
    ledger_lines,
    open_items,
    payer_profiles,
    quarantine,
    risk_scores,
    scoring_models,
    validation_reports,
)

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.xdist_group("airflow_metadata_db")


@pytest.fixture(scope="module")
def airflow_db():
    done = subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
                          capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture
def daily_dag(airflow_db, tmp_path, monkeypatch, demo_portfolio):
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    upgrade(make_engine(url))
    # The warehouse comes from the Airflow connection, the inputs from the environment fallback.
    monkeypatch.setenv("AIRFLOW_CONN_RECEIVABLES_WAREHOUSE", json.dumps({"conn_type": "generic", "extra": {"url": url}}))
    monkeypatch.setenv("RECEIVABLES_HOME", str(tmp_path))
    monkeypatch.setenv("RECEIVABLES_LEDGER", str(demo_portfolio["fec"]))
    monkeypatch.setenv("RECEIVABLES_CUSTOMERS", str(demo_portfolio["customers_csv"]))
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "ar_collections_daily.py"), load_op_links=False)
    dag = bag.dags["ar_collections_daily"]
    for task in dag.tasks:   # a failure must show at once, not after the production retry delay
        task.retries = 0
    return dag, url


def run_on(dag, day: dt.date):
    run = dag.test(logical_date=pendulum.datetime(day.year, day.month, day.day, tz="Europe/Paris"))
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
    return run


def snapshot(url: str, as_of: dt.date) -> dict:
    with make_engine(url).connect() as conn:
        return {
            "lines": conn.execute(select(func.count()).select_from(ledger_lines)).scalar_one(),
            "quarantined": conn.execute(select(func.count()).select_from(quarantine)).scalar_one(),
            "items": sorted(conn.execute(select(open_items.c.customer_id, open_items.c.invoice_id, open_items.c.open_minor,
                                                open_items.c.bucket).where(open_items.c.as_of == as_of)).all()),
            "aging": conn.execute(select(func.count(), func.sum(aging_snapshots.c.total_minor))
                                  .where(aging_snapshots.c.as_of == as_of)).one(),
            "kpis": sorted(conn.execute(select(kpi_daily.c.metric, kpi_daily.c.segment, kpi_daily.c.value,
                                               kpi_daily.c.collector, kpi_daily.c.breakdown, kpi_daily.c.currency)
                                        .where(kpi_daily.c.as_of == as_of)).all()),
            "reports": conn.execute(select(validation_reports.c.report_path)).scalars().all(),
            "risk": sorted(conn.execute(select(risk_scores.c.customer_id, risk_scores.c.score, risk_scores.c.risk_class)
                                        .where(risk_scores.c.as_of == as_of)).all()),
            "actions": sorted(conn.execute(select(collection_actions.c.action_key, collection_actions.c.customer_id,
                                                  collection_actions.c.step_id, collection_actions.c.channel,
                                                  collection_actions.c.amount_minor)
                                           .where(collection_actions.c.as_of == as_of)).all()),
            "predictions": sorted(conn.execute(select(invoice_predictions.c.customer_id, invoice_predictions.c.invoice_id,
                                                      invoice_predictions.c.expected_payment_date)
                                               .where(invoice_predictions.c.as_of == as_of)).all()),
        }


def test_the_daily_wave_loads_the_ledger_and_snapshots_the_aged_balance(daily_dag, demo_portfolio):
    dag, url = daily_dag
    run_on(dag, dt.date(2025, 6, 30))
    state = snapshot(url, dt.date(2025, 6, 30))
    assert state["lines"] + state["quarantined"] == demo_portfolio["lines"]
    assert len(state["items"]) > 0
    assert state["aging"][1] == sum(item[2] for item in state["items"])
    assert {"dso_countback_days", "overdue_ratio"} <= {metric for metric, segment, *_ in state["kpis"] if segment == ""}
    report = Path(state["reports"][0])
    assert report.exists() and "123456789FEC20250630.txt" in report.read_text(encoding="utf-8")


def test_a_finished_wave_leaves_its_counts_per_stage_in_the_runs_note(daily_dag, demo_portfolio):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    dag, url = daily_dag
    run = run_on(dag, dt.date(2025, 6, 30))
    with create_session() as session:
        note = session.query(DagRun).filter(DagRun.dag_id == dag.dag_id, DagRun.run_id == run.run_id).one().note
    lines = note.splitlines()
    assert lines[0] == "**Wave 2025-06-30: success**"
    loaded = next(line for line in lines if line.startswith("- load_ledger:"))
    assert "rows_loaded" in loaded
    assert any(line.startswith("- plan_collection_actions: ") and "actions" in line for line in lines)
    assert len(note) <= 1000


# What the day's ledger, plan and dispatch alone give (no bank statement, no register in this run):
# the KPI contract's metrics but the cash application's, the registers' and those needing weeks of history.
CONTRACT_METRICS = {"ar_total_minor", "overdue_minor", "overdue_ratio", "over_90_ratio", "open_items",
                    "aged_balance_minor", "dso_countback_days", "best_possible_dso_days", "cei_ratio", "add_days",
                    "disputed_minor", "disputed_count", "reminders_sent", "unmatched_bank_lines", "call_list_size",
                    "cash_forecast_minor"}


def test_the_daily_wave_writes_the_contracts_kpis_per_segment_collector_and_currency(daily_dag, demo_portfolio):
    dag, url = daily_dag
    as_of = dt.date(2025, 6, 30)
    run = run_on(dag, as_of)
    assert {ti.task_id: ti.state for ti in run.get_task_instances()}["compute_kpis"] == "success"
    rows = snapshot(url, as_of)["kpis"]
    everyone = {(m, b): v for m, segment, v, collector, b, currency in rows
                if segment == collector == "" and currency == "EUR"}
    assert CONTRACT_METRICS <= {m for m, _ in everyone}
    assert {b for m, b in everyone if m == "aged_balance_minor"} == {"not_due", "d1_30", "d31_60", "d61_90",
                                                                        "d91_120", "over_120"}
    assert {b for m, b in everyone if m == "reminders_sent"} == {"email", "sms", "letter", "call"}
    assert len({b for m, b in everyone if m == "cash_forecast_minor"}) == 8
    assert sum(v for (m, b), v in everyone.items() if m == "aged_balance_minor") == everyone[("ar_total_minor", "")]
    assert everyone[("add_days", "")] == everyone[("dso_countback_days", "")] - everyone[("best_possible_dso_days", "")]
    assert 0 <= everyone[("cei_ratio", "")] <= 1 and everyone[("cash_forecast_minor", "2025-06-30")] >= 0
    # the demo's three collectors each get their rows; segments too
    assert {collector for _, _, _, collector, _, _ in rows} == {"", "domestic", "export", "key_accounts"}
    assert {"", "TPE", "PME", "ETI"} <= {segment for _, segment, *_ in rows} <= {"", "TPE", "PME", "ETI", "GE"}


def test_the_daily_wave_scores_every_customer_and_predicts_every_open_invoice(daily_dag, demo_portfolio):
    dag, url = daily_dag
    as_of = dt.date(2025, 6, 30)
    run_on(dag, as_of)
    state = snapshot(url, as_of)
    open_invoices = {(c, i) for c, i, amount, _ in state["items"] if amount > 0}
    assert {(c, i) for c, i, _ in state["predictions"]} == open_invoices
    assert all(expected > as_of for _, _, expected in state["predictions"])   # unpaid today: paid later
    with make_engine(url).connect() as conn:
        model = conn.execute(select(scoring_models).where(scoring_models.c.as_of == as_of)).one()
        profiles = conn.execute(select(func.count()).select_from(payer_profiles)).scalar_one()
    # The demo's 18 months hold thousands of settled invoices: the model, not the rules.
    assert model.kind == "gbm" and model.auc > 0.7 and Path(model.artifact_path).exists()
    assert len(state["risk"]) == profiles == demo_portfolio["customers"]
    assert {risk_class for _, _, risk_class in state["risk"]} == {"low", "medium", "high", "critical"}


def test_the_daily_wave_plans_todays_reminders_from_the_default_scenarios(daily_dag):
    dag, url = daily_dag
    as_of = dt.date(2025, 6, 30)
    run_on(dag, as_of)
    state = snapshot(url, as_of)
    open_invoices = {(c, i) for c, i, amount, _ in state["items"] if amount > 0}
    with make_engine(url).connect() as conn:
        lines = conn.execute(select(collection_action_lines.c.customer_id, collection_action_lines.c.invoice_id,
                                    collection_action_lines.c.step_id)
                             .where(collection_action_lines.c.as_of == as_of)).all()
        approval = conn.execute(select(collection_actions.c.channel, collection_actions.c.requires_approval)
                                .where(collection_actions.c.as_of == as_of)).all()
    # the first run: every overdue invoice starts at the first reminder (one step per run), strategic
    # accounts get a statement, invoices due within 7 days a courtesy notice
    assert {step for _, _, step, _, _ in state["actions"]} >= {"courtesy", "reminder_1", "statement_1"}
    # every reminder is about an invoice still open after today's cash (a thank-you about one paid)
    assert {(c, i) for c, i, step in lines if step != "thank_you" and "#" not in i} <= open_invoices
    assert all(needs for channel, needs in approval if channel in ("formal_notice", "agency_handoff"))


def test_running_the_wave_again_for_the_same_day_changes_nothing(daily_dag):
    dag, url = daily_dag
    run_on(dag, dt.date(2025, 6, 30))
    first = snapshot(url, dt.date(2025, 6, 30))
    run_on(dag, dt.date(2025, 6, 30))
    assert snapshot(url, dt.date(2025, 6, 30)) == first


def test_a_run_for_a_past_business_day_snapshots_that_day(daily_dag):
    dag, url = daily_dag
    run_on(dag, dt.date(2025, 6, 30))
    run_on(dag, dt.date(2025, 5, 30))
    past = snapshot(url, dt.date(2025, 5, 30))
    assert past["items"] and past["items"] != snapshot(url, dt.date(2025, 6, 30))["items"]


def test_a_file_that_is_not_a_ledger_fails_the_run_at_once_without_retry(daily_dag, monkeypatch, shared_fixtures):
    dag, url = daily_dag
    monkeypatch.setenv("RECEIVABLES_LEDGER", str(shared_fixtures / "camt-genkgo-camt" / "camt053.v2.minimal.xml"))
    run = dag.test(logical_date=pendulum.datetime(2025, 6, 30, tz="Europe/Paris"))
    states = {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert states["extract_ledger"] == ("failed", 1)   # AirflowFailException: retrying cannot fix a file
    assert states["load_ledger"][0] == "upstream_failed"
    assert snapshot(url, dt.date(2025, 6, 30))["lines"] == 0


def test_the_daily_wave_dispatches_on_every_channel_exactly_once_and_a_rerun_sends_nothing(daily_dag, monkeypatch,
                                                                                           tmp_path):
    from receivables.channels import outbox
    from receivables.warehouse.schema import call_list, print_batches

    dag, url = daily_dag
    as_of = dt.date(2025, 6, 30)
    monkeypatch.setenv("RECEIVABLES_TODAY", as_of.isoformat())   # replay that Monday as today
    run_on(dag, as_of)
    with make_engine(url).connect() as conn:
        rows = outbox.read_outbox(conn, as_of=as_of)
        planned = conn.execute(select(func.count()).select_from(collection_actions)
                               .where(collection_actions.c.as_of == as_of)).scalar_one()
        calls = conn.execute(select(func.count()).select_from(call_list)).scalar_one()
        batches = conn.execute(select(print_batches)).all()
    assert len(rows) == planned
    sent = rows[rows["state"] == "sent"]
    # formal notices wait for approval; everything else is sent or suppressed with its reason
    assert set(rows["state"]) <= {"sent", "suppressed", "pending"}
    assert (rows.loc[rows["state"] != "sent", "reason"] != "").all()
    assert {"email", "statement"} <= set(sent["channel"])
    assert set(sent["channel"]) == set(rows.loc[rows["reason"] != "awaiting approval", "channel"])
    outbox_dir = tmp_path / ".data" / "outbox" / as_of.isoformat()
    assert len(list((outbox_dir / "email").glob("*.eml"))) == (sent["channel"] == "email").sum()
    assert batches and Path(batches[0].pdf_path).exists() and Path(batches[0].manifest_path).exists()
    assert calls == (sent["channel"] == "call").sum()
    # the day's KPIs count what went out, per dispatcher (statements are printed: letters)
    counted = {}
    for metric, segment, value, collector, channel, _ in snapshot(url, as_of)["kpis"]:
        if metric == "reminders_sent" and segment == collector == "":
            counted[channel] = counted.get(channel, 0) + int(value)
    assert counted["email"] == (sent["channel"] == "email").sum()
    assert counted["letter"] == sent["channel"].isin(["letter", "statement", "formal_notice", "agency_handoff"]).sum()
    run_on(dag, as_of)   # a re-run of the day: nothing is sent twice
    assert len(list((outbox_dir / "email").glob("*.eml"))) == (sent["channel"] == "email").sum()
    with make_engine(url).connect() as conn:
        again = outbox.read_outbox(conn, as_of=as_of)
    assert again.set_index("action_key")["provider_message_id"].equals(rows.set_index("action_key")["provider_message_id"])
