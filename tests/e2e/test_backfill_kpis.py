"""A backfill after a ledger clean-up gives the KPIs the daily runs gave, and contacts no one.

    June 2025, 20 customers, 18 months of history (the demo generator), 20 French business days
    (Whit Monday, 9 June, is a public holiday).

    Daily runs (warehouse A, SQLite): on each business day D, in order, the wave as it ran that
    morning, on the ledger export as it stood on D (entries dated on or before D; a lettering
    only if its DateLet is on or before D) and, on 30 June, that morning's bank statement; "today"
    is D, so the day's reminders go out (to the file outbox).

    Backfill (warehouse B, PostgreSQL, fresh): the cleaned-up export of 30 June (every entry of
    June and the letterings dated after each day) and the statement in the drop folder, then a
    real `airflow backfill create --dag-id ar_collections_daily --from-date 2025-06-01
    --to-date 2025-06-30` run by a real scheduler (LocalExecutor, API server, PostgreSQL
    metadata database). "Today" is set to 2 June, so only the run's type (a backfill) stops
    the dispatch.

    Then, day by day: the same open items, aged balance, scores, plans and KPIs. The KPIs that
    count what a wave dispatched (`reminders_sent`, `call_list_size`, the `paid_within_*` ratios)
    are the outbox's and the call list's: B's outbox holds only the backfill's suppressed rows and
    no call list was published, so B reports zero sent and no ratio, A what it sent. That is the
    definition (a backfill reports what was really sent; on a warehouse whose outbox keeps the
    daily runs' rows it reports those), and the test checks exactly that difference.

Why the daily runs are not `dag.test()` runs: from 5 June on a day's wave plans formal notices
(the portfolio has invoices 45+ days late), and `dag.test()` waits for their approval forever.
The daily runs run the same task bodies in-process, in the DAG's order, with the approval task's
own default when nobody answers (Reject), while the scheduler works through the backfill: the
two sides share the machine's two cores.

The backfill is created with `--max-active-runs 1`: the days must run in order (a day's plan reads
the step register the days before it wrote); Airflow would run 10 backfill days at once, and then
every day but the first stops at `extract_ledger` (`pipeline.tasks.backfilled_in_order`). The
scheduler starts with the wave's heavy imports done (pandas, Great Expectations, scikit-learn):
its LocalExecutor forks every task process from it, so the ~380 task instances do not import them
again. Measured on the 2-core machine: 7.5-8.5 minutes when little else ran (daily runs ~170 s, in
parallel; backfill 436-487 s from the migrations, runs 13-39 s, mean 20-22 s, ~15 s of it in the
tasks), 15-17 minutes while other test suites loaded the machine.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import secrets
import shutil
import sys
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy
from sqlalchemy import select

from receivables import calendar
from receivables.warehouse.db import make_engine, upgrade
from receivables.warehouse.schema import (
    aging_snapshots,
    call_list,
    collection_actions,
    fact_cash_forecast,
    fact_collection_actions,
    fact_receivables,
    invoice_predictions,
    kpi_daily,
    open_items,
    print_batches,
    risk_scores,
)

import test_celery_wave as stack_tools   # the Stack helper: components as subprocesses, their logs

REPO, BIN, DAG_ID = stack_tools.REPO, stack_tools.BIN, stack_tools.DAG_ID
FIRST, LAST = dt.date(2025, 6, 1), dt.date(2025, 6, 30)
CUSTOMERS, SEED = 20, 7
BACKFILL_DEADLINE_SECONDS = 15 * 60   # a stuck component fails the test with its logs, it never hangs CI
# What a wave dispatched, not what the ledger says: the outbox's and the call list's KPIs.
DISPATCH_METRICS = {"reminders_sent", "call_list_size", "paid_within_7d_ratio", "paid_within_14d_ratio"}
BACKFILL_REASON = "backfill run: recomputes history, contacts no one"
# The scheduler with what the wave's tasks import already imported: the LocalExecutor forks its
# workers from the scheduler and each task process from a worker, so no task pays for pandas,
# Great Expectations or scikit-learn again (~4 s of CPU for Great Expectations alone, in 400 tasks).
SCHEDULER = """
import sys
import great_expectations, great_expectations.expectations, holidays, joblib, pandas, pyarrow.parquet
import sklearn.calibration, sklearn.ensemble, sklearn.metrics
import airflow.providers.standard.operators.hitl
import receivables.bank.sources, receivables.kpis.daily, receivables.ledger.sources, receivables.matching.engine
import receivables.pipeline.cash, receivables.pipeline.dispatch, receivables.pipeline.kpis, receivables.pipeline.tasks
import receivables.scenarios.planner, receivables.scoring.portfolio, receivables.validation.bank
import receivables.validation.customers, receivables.validation.ledger, receivables.validation.report
from airflow.__main__ import main
sys.argv = ["airflow", "scheduler"]
sys.exit(main())
"""

pytestmark = [pytest.mark.xdist_group("airflow_backfill"), pytest.mark.postgres]


def business_days() -> list[dt.date]:
    return [d.date() for d in pd.date_range(FIRST, LAST) if calendar.is_business_day(d.date(), "FR")]


def ledger_as_it_stood(export: Path, day: dt.date, out: Path) -> Path:
    """The FEC export as the accounting system gave it on `day`: the entries dated on or before
    `day`, lettered only when the lettering is dated on or before `day`."""
    lines = pd.read_csv(export, sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE)
    lines = lines[lines["EcritureDate"] <= f"{day:%Y%m%d}"].copy()
    lines.loc[lines["DateLet"] > f"{day:%Y%m%d}", ["EcritureLet", "DateLet"]] = ""
    out.mkdir(parents=True, exist_ok=True)
    path = out / export.name   # the same source name every day: each export replaces the last
    lines.to_csv(path, sep="\t", index=False, quoting=csv.QUOTE_NONE, lineterminator="\n")
    return path


def run_the_wave_of(day: dt.date, settings, bank: list[str], *, backfill: bool = False) -> None:  # noqa: ANN001
    """The DAG's task bodies for `day`, in its order, `day` being today (or in a backfill run);
    approvals: nobody answers, so the approval task's default (Reject) decides."""
    from receivables.pipeline import cash, dispatch, kpis, wave

    settings.bank_paths = bank
    now = dt.datetime.now(dt.timezone.utc)
    manifest = wave.validate_ledger(settings, wave.extract_ledger(settings, day))
    wave.load_ledger(settings, manifest, now=now)
    cash.validate_bank_lines(settings, cash.extract_bank_statements(settings, day), now=now)
    cash.match_bank_lines(settings, day)
    cash.apply_matches(settings, day)
    wave.score_customers(settings, day, now=now)
    wave.plan_collection_actions(settings, day, now=now)
    wave.compute_aging(settings, day)
    switches = dispatch.DispatchSettings(today=day)
    prepared = dispatch.prepare_dispatch(settings, switches, day, now=now, today=day, backfill=backfill)
    if prepared["awaiting_approval"]:
        dispatch.record_approvals(settings, prepared["awaiting_approval"], approved=False, rejected_keys=[],
                                  decided_by="timeout (default: Reject)", note="", as_of=day, now=now)
    for part in dispatch.dispatch_batches(settings, "email", prepared):
        dispatch.send_emails(settings, switches, day, part=tuple(part), now=now)
    for part in dispatch.dispatch_batches(settings, "sms", prepared):
        dispatch.send_sms(settings, switches, day, part=tuple(part), now=now)
    for part in dispatch.dispatch_batches(settings, "letter", prepared):
        dispatch.print_letters(settings, day, part=tuple(part), now=now)
    if dispatch.dispatch_batches(settings, "call", prepared):
        dispatch.publish_call_list(settings, day, now=now)
    dispatch.summarise_dispatch(settings, day)
    kpis.compute_kpis(settings, day)


def daily_runs(portfolio: dict, root: Path) -> dict:
    from receivables.pipeline.wave import WaveSettings

    url = f"sqlite:///{root / 'warehouse.db'}"
    upgrade(make_engine(url))
    started = time.monotonic()
    for day in business_days():
        export = ledger_as_it_stood(portfolio["fec"], day, root / "exports" / day.isoformat())
        if day == LAST:   # nothing dated later: the day's export is the generator's, byte for byte
            assert export.read_bytes() == portfolio["fec"].read_bytes()
        settings = WaveSettings(warehouse_url=url, data_dir=root / ".data", ledger_paths=[str(export)],
                                customers_file=str(portfolio["customers_csv"]))
        # the bank sends the statement of 30 June that morning
        run_the_wave_of(day, settings, [str(portfolio["statement"])] if day == LAST else [])
    return {"url": url, "home": root, "seconds": time.monotonic() - started}


# -- the backfill, on a real scheduler ----------------------------------------------------------------

def _stack_env(root: Path, urls: dict, api_url: str, portfolio: dict) -> dict:
    from cryptography.fernet import Fernet

    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "RECEIVABLES_"))}
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",   # LocalExecutor workers: two cores
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": urls["metadata"],
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": urls["metadata"].replace("+psycopg:", "+psycopg_async:", 1),
        # one signing key for every component: the scheduler's task tokens must verify on the API server
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API__BASE_URL": api_url,
        # unpaused, the DAG would also get its scheduled run for the latest business day: only the backfill runs
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        # the next task of a run is queued sooner (the idle loop's default pause is 1 s; ~13 hops a run)
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        "AIRFLOW_CONN_RECEIVABLES_WAREHOUSE": json.dumps({"conn_type": "generic", "extra": {"url": urls["warehouse"]}}),
        "RECEIVABLES_HOME": str(root / "home"),
        "RECEIVABLES_LEDGER": str(portfolio["fec"]),         # the cleaned-up export
        "RECEIVABLES_CUSTOMERS": str(portfolio["customers_csv"]),
        "RECEIVABLES_BANK": str(portfolio["statement"]),     # the drop folder holds it now
        # not a past date for the runs of 2 June on: only the backfill's run type suppresses the dispatch
        "RECEIVABLES_TODAY": FIRST.isoformat(),
        "GX_ANALYTICS_ENABLED": "False",
    })
    return env


def _backfill_state(metadata_url: str) -> tuple[list, list]:
    """The backfill's runs and the task instances of the DAG (states, start and end), from the metadata DB."""
    engine = sqlalchemy.create_engine(metadata_url)
    try:
        with engine.connect() as conn:
            runs = conn.execute(sqlalchemy.text(
                "SELECT logical_date, state, run_id, start_date, end_date FROM dag_run"
                " WHERE dag_id = :dag AND run_type = 'backfill'"
                " ORDER BY logical_date"), {"dag": DAG_ID}).all()
            tasks = conn.execute(sqlalchemy.text(
                "SELECT run_id, task_id, map_index, state, start_date, end_date FROM task_instance"
                " WHERE dag_id = :dag"), {"dag": DAG_ID}).all()
    finally:
        engine.dispose()
    return runs, tasks


class Backfill(threading.Thread):
    """Migrate, register the DAG, start the API server and the scheduler, create the backfill:
    in a thread, while the daily runs go on in the test's process. Any error is kept for `wait`."""

    def __init__(self, request, root: Path, portfolio: dict):  # noqa: ANN001
        super().__init__(name="backfill-setup", daemon=True)
        self.urls = stack_tools._databases(request)   # fresh metadata and warehouse databases, dropped at the end
        upgrade(make_engine(self.urls["warehouse"]))
        (root / "airflow").mkdir(parents=True)
        (root / "home").mkdir()
        self.port = stack_tools._free_port()
        api_url = f"http://127.0.0.1:{self.port}"
        self.stack = stack_tools.Stack(root, _stack_env(root, self.urls, api_url, portfolio), api_url)
        request.addfinalizer(self.stack.stop)
        self.root, self.home, self.error = root, root / "home", None
        self.started = time.monotonic()

    def run(self) -> None:
        try:
            self._set_up()
        except BaseException as error:   # noqa: BLE001  (raised again by `wait`)
            self.error = error

    def _set_up(self) -> None:
        stack, airflow = self.stack, str(BIN / "airflow")
        pools = self.root / "pools.json"
        pools.write_text(json.dumps({"sendgrid": {"slots": 4, "description": "SendGrid Mail Send"},
                                     "twilio": {"slots": 2, "description": "Twilio Messages"},
                                     "print": {"slots": 2, "description": "PDF rendering of print batches"}}))
        stack.run({"airflow-db-migrate": [airflow, "db", "migrate"]})
        stack.start("api-server", airflow, "api-server", "--host", "127.0.0.1", "--port", str(self.port),
                    "--workers", "1")
        stack.start("scheduler", sys.executable, "-c", SCHEDULER)   # nothing to run until the backfill exists
        # meanwhile the DAG into the metadata database (the dag-processor's job in production) and the pools
        stack.run({"airflow-dags-reserialize": [airflow, "dags", "reserialize"],
                   "airflow-pools-import": [airflow, "pools", "import", str(pools)]})

        def api_up() -> bool:
            try:
                return stack.http.get("/api/v2/version").status_code == 200
            except httpx.TransportError:
                return False

        # the task runners report to the API server's Execution API: it serves before any task starts
        stack.wait_for("the API server", api_up, time.monotonic() + 300)
        # Days run one after the other: a day's plan reads the step register of the days before it
        # (Airflow's default would run up to 10 days at once; the DAG's max_active_runs does not apply).
        stack.run({"airflow-backfill-create": [airflow, "backfill", "create", "--dag-id", DAG_ID,
                                               "--from-date", FIRST.isoformat(), "--to-date", LAST.isoformat(),
                                               "--max-active-runs", "1"]})

    def wait(self) -> dict:
        self.join(timeout=600)
        try:
            if self.error is not None:
                raise self.error
            assert not self.is_alive(), "the Airflow stack did not start within 10 minutes"
            return self._wait_for_runs()
        except BaseException:
            _, tasks = _backfill_state(self.urls["metadata"])
            print(self.stack.tails())
            print(self.stack.task_logs([{"task_id": t.task_id, "state": t.state} for t in tasks]))
            raise

    def _wait_for_runs(self) -> dict:
        expected = len(business_days())
        deadline = time.monotonic() + BACKFILL_DEADLINE_SECONDS
        while True:
            self.stack.check_alive()
            runs, tasks = _backfill_state(self.urls["metadata"])
            broken = [t for t in tasks if t.state in ("failed", "up_for_retry", "upstream_failed", "deferred")]
            # a failed try would be retried in 5 minutes (the DAG's retry_delay): fail now instead
            assert not broken, f"task instances failed: {broken}"
            if len(runs) == expected and all(r.state in ("success", "failed") for r in runs):
                break
            assert time.monotonic() < deadline, f"the backfill is not done after {BACKFILL_DEADLINE_SECONDS} s: {runs}"
            time.sleep(2)
        assert {r.state for r in runs} == {"success"}, runs
        return {"runs": runs, "tasks": tasks, "url": self.urls["warehouse"], "home": self.home,
                "seconds": time.monotonic() - self.started}


@pytest.fixture(scope="module")
def portfolio(tmp_path_factory) -> dict:
    from receivables.demo.generator import generate_portfolio

    return generate_portfolio(tmp_path_factory.mktemp("portfolio"), customers=CUSTOMERS, months=18, end=LAST,
                              seed=SEED)


@pytest.fixture(scope="module")
def both(request, tmp_path_factory, portfolio) -> dict:
    """The backfill starts on the scheduler, the daily runs run here meanwhile; then both are done."""
    started = time.monotonic()
    backfill = Backfill(request, tmp_path_factory.mktemp("backfill"), portfolio)
    backfill.start()
    daily = daily_runs(portfolio, tmp_path_factory.mktemp("daily"))
    backfilled = backfill.wait()
    runs = [(r.end_date - r.start_date).total_seconds() for r in backfilled["runs"]]
    ran = pd.DataFrame([(t.task_id, (t.end_date - t.start_date).total_seconds()) for t in backfilled["tasks"]
                        if t.state == "success"], columns=["task", "seconds"]).groupby("task")["seconds"].mean()
    print(f"\nbackfill of {DAG_ID} over {FIRST}..{LAST}: {len(business_days())} business days; daily runs in-process "
          f"{daily['seconds']:.0f} s; backfill from the migrations to its last run {backfilled['seconds']:.0f} s "
          f"(runs {min(runs):.0f}-{max(runs):.0f} s, mean {sum(runs) / len(runs):.0f} s); both "
          f"{time.monotonic() - started:.0f} s\nmean task seconds: "
          + ", ".join(f"{task} {seconds:.1f}" for task, seconds in ran.sort_values(ascending=False).items()))
    return {"daily": daily, "backfill": backfilled}


def rows(url: str, table, *columns: str) -> dict:  # noqa: ANN001
    """{as_of: sorted rows} of `table` (the given columns)."""
    with make_engine(url).connect() as conn:
        frame = pd.read_sql(select(table.c.as_of, *(table.c[c] for c in columns)), conn)
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.date
    return {day: sorted(map(tuple, part[list(columns)].itertuples(index=False, name=None)))
            for day, part in frame.groupby("as_of")}


KPI_COLUMNS = ("metric", "segment", "currency", "collector", "breakdown", "value")


def test_the_backfill_runs_once_per_business_day_of_the_range_and_every_run_succeeds(both):
    runs = both["backfill"]["runs"]
    local = [pd.Timestamp(r.logical_date).tz_convert("Europe/Paris").date() for r in runs]
    assert local == business_days() and len(local) == 20   # Whit Monday, 9 June, is a holiday
    assert {r.state for r in runs} == {"success"}


def test_the_backfill_gives_every_day_the_kpis_of_the_daily_runs_except_what_was_dispatched(both):
    daily = rows(both["daily"]["url"], kpi_daily, *KPI_COLUMNS)
    backfilled = rows(both["backfill"]["url"], kpi_daily, *KPI_COLUMNS)
    assert sorted(daily) == sorted(backfilled) == business_days()
    for day in business_days():
        ledger_a = [r for r in daily[day] if r[0] not in DISPATCH_METRICS]
        ledger_b = [r for r in backfilled[day] if r[0] not in DISPATCH_METRICS]
        assert ledger_b == ledger_a, (day, sorted(set(ledger_a) ^ set(ledger_b))[:20])
    # what the daily runs dispatched, the backfill did not: zero sent, no call list, no ratio measured
    sent_a = {r[:5]: r[5] for day in business_days() for r in daily[day] if r[0] == "reminders_sent"}
    sent_b = {r[:5]: r[5] for day in business_days() for r in backfilled[day] if r[0] == "reminders_sent"}
    assert set(sent_b) == set(sent_a) and set(sent_b.values()) == {0} and sum(sent_a.values()) > 0
    calls_b = [r for day in business_days() for r in backfilled[day] if r[0] == "call_list_size"]
    assert calls_b and {r[5] for r in calls_b} == {0}
    assert not [r for day in business_days() for r in backfilled[day] if r[0].startswith("paid_within_")]


def test_the_backfill_rebuilds_the_open_items_aged_balance_scores_and_plans_of_every_day(both):
    a, b = both["daily"]["url"], both["backfill"]["url"]
    compared = {
        open_items: ("customer_id", "invoice_id", "currency", "item_type", "doc_date", "due_date", "original_minor",
                     "open_minor", "days_overdue", "bucket"),
        aging_snapshots: ("customer_id", "currency", "not_due_minor", "d1_30_minor", "d31_60_minor", "d61_90_minor",
                          "d91_120_minor", "over_120_minor", "total_minor", "overdue_minor", "open_items"),
        risk_scores: ("customer_id", "score", "risk_class"),
        invoice_predictions: ("customer_id", "invoice_id", "p_late", "expected_payment_date"),
        collection_actions: ("action_key", "customer_id", "step_id", "channel", "amount_minor", "currency",
                             "requires_approval"),
        fact_receivables: ("customer_id", "currency", "total_minor", "overdue_minor", "disputed_minor", "risk_class",
                           "p_late"),
        fact_cash_forecast: ("week_start", "segment", "currency", "expected_minor"),
        fact_collection_actions: ("action_key", "sent_on", "customer_id", "step_id", "channel", "amount_minor"),
    }
    for table, columns in compared.items():
        daily, backfilled = rows(a, table, *columns), rows(b, table, *columns)
        assert sorted(daily) == sorted(backfilled), table.name
        for day in daily:
            assert backfilled[day] == daily[day], (table.name, day, sorted(set(daily[day]) ^ set(backfilled[day]))[:10])


def test_the_daily_runs_sent_reminders_and_the_backfill_contacted_no_one(both):
    from receivables.channels import outbox

    with make_engine(both["daily"]["url"]).connect() as conn:
        sent_a = outbox.read_outbox(conn)
    assert (sent_a["state"] == "sent").sum() > 0
    assert list((both["daily"]["home"] / ".data" / "outbox").glob("*/email/*.eml"))

    with make_engine(both["backfill"]["url"]).connect() as conn:
        rows_b = outbox.read_outbox(conn)
        planned = pd.read_sql(select(collection_actions.c.action_key), conn)
        calls = pd.read_sql(select(call_list.c.action_key), conn)
        printed = pd.read_sql(select(print_batches.c.batch_id), conn)
    # every planned action recorded once, suppressed because it is a backfill; nothing sent
    assert set(rows_b["action_key"]) == set(planned["action_key"]) and len(rows_b) > 0
    assert set(rows_b["state"]) == {"suppressed"} and set(rows_b["reason"]) == {BACKFILL_REASON}
    assert rows_b["sent_at"].isna().all() and (rows_b["provider_message_id"] == "").all()
    assert calls.empty and printed.empty
    written = [p for p in (both["backfill"]["home"] / ".data" / "outbox").rglob("*") if p.is_file()]
    assert written == []
    # the channels' tasks had nothing to do in any run
    channel_tasks = [t for t in both["backfill"]["tasks"]
                     if t.task_id in ("send_emails", "send_sms", "print_letters", "publish_call_list",
                                      "approve_formal_notices")]
    assert channel_tasks and {t.state for t in channel_tasks} == {"skipped"}


def test_a_backfill_over_the_warehouse_of_the_daily_runs_reports_what_they_sent(both, portfolio, tmp_path):
    """Production's case: the backfill runs on the warehouse whose outbox holds what the daily
    runs sent. Monday 16 June recomputed from the cleaned-up export, as a backfill run (the task
    bodies in-process, on a copy of warehouse A): every KPI of that day as the daily run wrote
    it, the reminders it sent and the ratios measured on them included; nothing sent again."""
    from receivables.channels import outbox
    from receivables.pipeline.wave import WaveSettings

    day = dt.date(2025, 6, 16)
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    shutil.copyfile(both["daily"]["home"] / "warehouse.db", tmp_path / "warehouse.db")
    with make_engine(url).connect() as conn:
        sent_before = outbox.read_outbox(conn)
    settings = WaveSettings(warehouse_url=url, data_dir=tmp_path / ".data", ledger_paths=[str(portfolio["fec"])],
                            customers_file=str(portfolio["customers_csv"]))
    run_the_wave_of(day, settings, [str(portfolio["statement"])], backfill=True)

    assert rows(url, kpi_daily, *KPI_COLUMNS)[day] == rows(both["daily"]["url"], kpi_daily, *KPI_COLUMNS)[day]
    assert any(r[0] == "reminders_sent" and r[5] > 0 for r in rows(url, kpi_daily, *KPI_COLUMNS)[day])
    with make_engine(url).connect() as conn:
        sent_after = outbox.read_outbox(conn)
    assert sent_after.drop(columns=["updated_at"]).equals(sent_before.drop(columns=["updated_at"]))
    assert not list((tmp_path / ".data" / "outbox").rglob("*.eml"))
