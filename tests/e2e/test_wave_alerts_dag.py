"""A wave that fails tells finance ops by email and leaves its summary in the run's note."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pendulum
import pytest

from receivables.warehouse.db import make_engine, upgrade

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.xdist_group("airflow_metadata_db")


@pytest.fixture(scope="module")
def airflow_db():
    done = subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
                          capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_a_missing_ledger_fails_the_wave_emails_finance_ops_and_notes_the_failed_task(airflow_db, tmp_path,
                                                                                        monkeypatch, demo_portfolio):
    from doubles.sendgrid_api import SendGridDouble

    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    upgrade(make_engine(url))
    monkeypatch.setenv("AIRFLOW_CONN_RECEIVABLES_WAREHOUSE", json.dumps({"conn_type": "generic", "extra": {"url": url}}))
    monkeypatch.setenv("RECEIVABLES_HOME", str(tmp_path))
    monkeypatch.setenv("RECEIVABLES_LEDGER", str(tmp_path / "exports" / "missing-FEC.txt"))
    monkeypatch.setenv("RECEIVABLES_CUSTOMERS", str(demo_portfolio["customers_csv"]))
    monkeypatch.setenv("AIRFLOW_VAR_RECEIVABLES_ALERT_RECIPIENTS", "credit-team@acme.example, cfo@acme.example")
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(REPO / "dags" / "ar_collections_daily.py"), load_op_links=False).dags["ar_collections_daily"]
    for task in dag.tasks:
        task.retries = 0
    with SendGridDouble() as double:
        monkeypatch.setenv("AIRFLOW_CONN_SENDGRID_DEFAULT", json.dumps(
            {"conn_type": "generic", "password": double.api_key, "host": double.url}))
        run = dag.test(logical_date=pendulum.datetime(2025, 6, 30, tz="Europe/Paris"))
        accepted = list(double.accepted)

    assert run.state == "failed"
    failed = {ti.task_id for ti in run.get_task_instances() if ti.state == "failed"}
    assert "extract_ledger" in failed
    alerts = [r["body"] for r in accepted if "extract_ledger failed" in r["body"]["personalizations"][0]["subject"]]
    assert sorted(b["personalizations"][0]["to"][0]["email"] for b in alerts) == ["cfo@acme.example",
                                                                                 "credit-team@acme.example"]
    assert alerts[0]["personalizations"][0]["subject"] == "[receivables] ar_collections_daily 2025-06-30: extract_ledger failed"
    person = alerts[0]["personalizations"][0]
    text = next(c["value"] for c in alerts[0]["content"] if c["type"] == "text/plain")
    text = person.get("substitutions", {}).get(text, text)   # bodies travel as SendGrid substitutions
    assert "missing-FEC.txt" in text

    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        note = session.query(DagRun).filter(DagRun.dag_id == "ar_collections_daily",
                                            DagRun.run_id == run.run_id).one().note
    assert note.startswith("**Wave 2025-06-30: failed**")
    assert "Failed: extract_ledger" in note
