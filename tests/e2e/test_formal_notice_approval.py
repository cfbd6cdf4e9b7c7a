"""Formal notices wait for a credit manager in the Airflow UI, end to end: the daily DAG run for
real with `dag.test()` on three customers whose invoices have reached the formal-notice step,
and answered while the run waits, from another thread, through the Airflow REST API the
Required-actions page uses (HITL details), as a logged-in user.

    Tuesday 15 July 2025. Three invoices of 1 May, due 31 May (30 days), unpaid: 45 days late.
    The step register shows the courtesy notice, both reminders, the letter and the call done
    on 7 July. Today each customer is due a formal notice (mise en demeure, registered mail)
    that must not go out before a credit manager approves it.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pendulum
import pytest
from sqlalchemy import select

from receivables.channels import outbox
from receivables.warehouse.db import bulk_insert, make_engine
from receivables.warehouse.schema import collection_actions, collection_steps, dispatch_approvals, print_batches

import test_daily_wave_dag as daily_wave

airflow_db = daily_wave.airflow_db   # the fixture migrating the Airflow metadata DB (once per module)
pytestmark = pytest.mark.xdist_group("airflow_metadata_db")

DAG_ID, APPROVAL_TASK = "ar_collections_daily", "approve_formal_notices"
DUE = dt.date(2025, 5, 31)
EARLIER_STEPS = ("courtesy", "reminder_1", "reminder_2", "reminder_letter", "call")
CUSTOMERS = {   # customer_id: (name, invoice, amount)
    "C1": ("Boulangerie Martin", "FA-2025-0101", "1200,00"),
    "C2": ("Garage Muller", "FA-2025-0102", "3480,50"),
    "C3": ("Atelier Durand", "FA-2025-0103", "760,00"),
}
FEC_HEADER = ("JournalCode\tJournalLib\tEcritureNum\tEcritureDate\tCompteNum\tCompteLib\tCompAuxNum\tCompAuxLib\t"
              "PieceRef\tPieceDate\tEcritureLib\tDebit\tCredit\tEcritureLet\tDateLet\tValidDate\tMontantdevise\tIdevise")
RESPONDER_DEADLINE_S = 300   # dag.test() waits for the answer forever (no response_timeout, no SIGTERM)


def write_ledger(folder: Path) -> tuple[Path, Path]:
    """The FEC (each invoice booked 411 debit / 706 credit on 1 May) and the customer master."""
    rows = [FEC_HEADER]
    for number, (customer, (name, invoice, amount)) in enumerate(CUSTOMERS.items(), start=1):
        for account, aux, debit, credit in (("411000", customer, amount, "0,00"), ("706000", "", "0,00", amount)):
            rows.append("\t".join(["VE", "Ventes", str(number), "20250501", account, "Clients" if aux else "Ventes",
                                   aux, name if aux else "", invoice, "20250501", f"Facture {invoice}", debit,
                                   credit, "", "", "20250501", "", ""]))
    fec = folder / "123456789FEC20250715.txt"
    fec.write_text("\n".join(rows) + "\n", encoding="utf-8")
    master = folder / "customers.csv"
    with open(master, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["customer_id", "name", "country", "language", "email", "phone", "address", "segment",
                      "strategic", "payment_terms_days", "opt_out_channels"])
        for number, (customer, (name, _, _)) in enumerate(CUSTOMERS.items(), start=1):
            out.writerow([customer, name, "FR", "fr", f"compta@{customer.lower()}.example", "",
                          f"{number} rue du Commerce, 6900{number} Lyon", "PME", "false", "30", ""])
    return fec, master


def earlier_steps_done(url: str, on: dt.date) -> None:
    """The step register as the earlier runs left it: every step before the formal notice planned."""
    register = pd.DataFrame([{"as_of": pd.Timestamp(on), "customer_id": customer, "invoice_id": invoice,
                              "step_id": step, "due_date": pd.Timestamp(DUE), "outcome": "planned", "reason": "",
                              "action_key": f"{customer}-{step}"}
                             for customer, (_, invoice, _) in CUSTOMERS.items() for step in EARLIER_STEPS])
    with make_engine(url).begin() as conn:
        bulk_insert(conn, collection_steps, register)


@pytest.fixture
def notice_day(airflow_db, warehouse_url, tmp_path, monkeypatch):
    """The DAG, a warehouse (SQLite, PostgreSQL) whose register puts the three invoices at the
    formal notice, and the Airflow API app a credit manager answers through (built before the
    run, as a server would be)."""
    url = warehouse_url
    earlier_steps_done(url, dt.date(2025, 7, 7))
    fec, master = write_ledger(tmp_path)
    monkeypatch.setenv("AIRFLOW_CONN_RECEIVABLES_WAREHOUSE", json.dumps({"conn_type": "generic", "extra": {"url": url}}))
    monkeypatch.setenv("RECEIVABLES_HOME", str(tmp_path))
    monkeypatch.setenv("RECEIVABLES_LEDGER", str(fec))
    monkeypatch.setenv("RECEIVABLES_CUSTOMERS", str(master))
    from airflow.api_fastapi.app import create_app
    from airflow.dag_processing.dagbag import DagBag

    app = create_app(apps="core")
    dag = DagBag(dag_folder=str(daily_wave.REPO / "dags" / "ar_collections_daily.py"), load_op_links=False).dags[DAG_ID]
    for task in dag.tasks:   # a failure must show at once, not after the production retry delay
        task.retries = 0
    return dag, app, url, tmp_path


class CreditManager(threading.Thread):
    """Waits for the run's approval task to be awaiting input, reads what waits (the outbox, the
    print batches, the HITL form), then answers the form as `username` through the REST API.

    dag.test() waits for an answer forever: whatever goes wrong here (an error, or no waiting
    task within the deadline), this thread then fails every task of the run that waits for input,
    until the test says the run is over, so the run ends and the test fails with this thread's
    `error` instead of hanging."""

    def __init__(self, app, url: str, logical_date: dt.datetime, answer: Callable[[list[str]], dict], *,  # noqa: ANN001
                 username: str = "alice") -> None:
        super().__init__(name="credit-manager", daemon=True)
        self.app, self.url, self.logical_date, self.answer, self.username = app, url, logical_date, answer, username
        self.seen: dict = {}
        self.error: BaseException | None = None
        self.answered = False
        # dag.test() names its run after the clock and other runs of that logical date may exist:
        # ours is the one created after this point
        self.since = dt.datetime.now(dt.timezone.utc)
        self.run_over = threading.Event()

    def run(self) -> None:
        try:
            self._respond()
        except BaseException as error:   # noqa: BLE001  (surfaced by the test after the run)
            self.error = error
        finally:
            while not self.answered and not self.run_over.wait(1):
                self._fail_waiting_tasks()

    def _approval_task(self):  # noqa: ANN202
        from airflow.models.dagrun import DagRun
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            return session.execute(
                select(DagRun.run_id, DagRun.state, TaskInstance.state)
                .join(TaskInstance, (TaskInstance.dag_id == DagRun.dag_id) & (TaskInstance.run_id == DagRun.run_id))
                .where(*self._our_run(DagRun), TaskInstance.task_id == APPROVAL_TASK)).first()

    def _our_run(self, DagRun) -> tuple:  # noqa: ANN001, N803
        return (DagRun.dag_id == DAG_ID, DagRun.logical_date == self.logical_date, DagRun.run_after >= self.since)

    def _respond(self) -> None:
        from airflow.utils.state import TaskInstanceState

        deadline = time.monotonic() + RESPONDER_DEADLINE_S
        while True:
            found = self._approval_task()
            if found is not None and found[2] == TaskInstanceState.AWAITING_INPUT:
                break
            if found is not None and found[1] not in ("queued", "running"):
                raise AssertionError(f"the run ended ({found[1]}) without waiting for approval: {found[2]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{APPROVAL_TASK} not awaiting input after {RESPONDER_DEADLINE_S} s: {found}")
            time.sleep(0.5)
        run_id, self.seen["state"] = found[0], found[2]
        with make_engine(self.url).connect() as conn:   # what the run holds back while it waits
            self.seen["outbox"] = outbox.read_outbox(conn)
            self.seen["batches"] = conn.execute(select(print_batches)).all()
            self.seen["waiting"] = outbox.awaiting_approval(conn)["action_key"].tolist()

        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
        from fastapi.testclient import TestClient

        token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=self.username, role="ADMIN"))
        path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{APPROVAL_TASK}/-1/hitlDetails"
        with TestClient(self.app, headers={"Authorization": f"Bearer {token}"}) as client:
            form = client.get(path)
            assert form.status_code == 200, form.text
            self.seen["form"] = form.json()
            response = client.patch(path, json=self.answer(self.seen["waiting"]))
            assert response.status_code == 200, response.text
        self.answered = True
        self.seen["response"] = response.json()

    def _fail_waiting_tasks(self) -> None:
        from airflow.models.dagrun import DagRun
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState

        with create_session() as session:
            waiting = session.scalars(select(TaskInstance).join(
                DagRun, (TaskInstance.dag_id == DagRun.dag_id) & (TaskInstance.run_id == DagRun.run_id))
                .where(*self._our_run(DagRun), TaskInstance.state == TaskInstanceState.AWAITING_INPUT)).all()
            for ti in waiting:
                ti.state = TaskInstanceState.FAILED


def run_with_credit_manager(dag, app, url: str, day: dt.date, answer: Callable[[list[str]], dict]):  # noqa: ANN001, ANN201
    logical_date = pendulum.datetime(day.year, day.month, day.day, tz="Europe/Paris")
    manager = CreditManager(app, url, logical_date, answer)
    manager.start()
    try:
        run = dag.test(logical_date=logical_date)
    finally:
        manager.run_over.set()
        manager.join(timeout=60)
    if manager.error is not None:
        raise manager.error
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
    return run, manager.seen


def outbox_of(url: str) -> pd.DataFrame:
    with make_engine(url).connect() as conn:
        return outbox.read_outbox(conn).set_index("action_key")


def decisions_of(url: str) -> pd.DataFrame:
    with make_engine(url).connect() as conn:
        return pd.read_sql(select(dispatch_approvals), conn).set_index("action_key")


def planned_notices(url: str, day: dt.date) -> pd.DataFrame:
    with make_engine(url).connect() as conn:
        return pd.read_sql(select(collection_actions).where(collection_actions.c.as_of == day), conn)


TUESDAY, WEDNESDAY = dt.date(2025, 7, 15), dt.date(2025, 7, 16)


def test_an_approved_formal_notice_is_sent_and_the_rejected_one_is_recorded_and_never_sent(notice_day, monkeypatch):
    dag, app, url, _ = notice_day
    monkeypatch.setenv("RECEIVABLES_TODAY", TUESDAY.isoformat())   # replay that Tuesday as today
    rejected: list[str] = []

    def approve_all_but_the_first(waiting: list[str]) -> dict:
        rejected.append(sorted(waiting)[0])
        return {"chosen_options": ["Approve"], "params_input": {"reject_action_keys": " ".join(rejected)}}

    run, seen = run_with_credit_manager(dag, app, url, TUESDAY, approve_all_but_the_first)

    # the run stopped at the approval task, the three formal notices held in the outbox, nothing printed
    assert seen["state"] == "awaiting_input"
    notices = planned_notices(url, TUESDAY)
    assert sorted(notices["customer_id"]) == ["C1", "C2", "C3"] and set(notices["step_id"]) == {"formal_notice"}
    assert sorted(seen["waiting"]) == sorted(notices["action_key"])
    waiting = seen["outbox"].set_index("action_key").loc[seen["waiting"]]
    assert set(waiting["state"]) == {"pending"} and set(waiting["reason"]) == {outbox.AWAITING_APPROVAL}
    assert seen["batches"] == []
    # the form the credit manager answered lists every waiting notice
    assert seen["form"]["options"] == ["Approve", "Reject"] and seen["form"]["defaults"] == ["Reject"]
    assert all(key in seen["form"]["body"] for key in seen["waiting"])
    assert seen["response"]["responded_by"]["name"] == "alice"

    approved = sorted(set(seen["waiting"]) - set(rejected))
    decisions = decisions_of(url)
    assert decisions["decision"].to_dict() == {**{k: "approved" for k in approved}, rejected[0]: "rejected"}
    assert set(decisions["decided_by"]) == {"alice"}
    rows = outbox_of(url)
    assert (rows.loc[approved, "state"] == "sent").all() and set(rows.loc[approved, "provider"]) == {"print"}
    assert rows.loc[rejected[0], "state"] == "suppressed" and pd.isna(rows.loc[rejected[0], "sent_at"])
    assert rows.loc[rejected[0], "reason"] == "rejected by alice"
    with make_engine(url).connect() as conn:
        batch = conn.execute(select(print_batches)).one()
    with open(batch.manifest_path, encoding="utf-8", newline="") as handle:
        envelopes = list(csv.DictReader(handle))
    assert sorted(k for e in envelopes for k in e["action_keys"].split()) == approved
    assert {e["registered"] for e in envelopes} == {"true"} and batch.registered == len(approved)
    assert run.get_task_instance("record_approvals").state == "success"


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)   # the same path: one run is enough
def test_a_rejected_approval_sends_no_formal_notice(notice_day, monkeypatch):
    dag, app, url, home = notice_day
    monkeypatch.setenv("RECEIVABLES_TODAY", WEDNESDAY.isoformat())

    run, seen = run_with_credit_manager(dag, app, url, WEDNESDAY, lambda waiting: {
        "chosen_options": ["Reject"], "params_input": {"reject_action_keys": ""}})

    assert len(seen["waiting"]) == 3
    decisions = decisions_of(url)
    assert sorted(decisions.index) == sorted(seen["waiting"]) and set(decisions["decision"]) == {"rejected"}
    rows = outbox_of(url).loc[seen["waiting"]]
    assert set(rows["state"]) == {"suppressed"} and rows["sent_at"].isna().all()
    with make_engine(url).connect() as conn:
        assert conn.execute(select(print_batches)).all() == []
    assert not list((home / ".data" / "outbox").glob("*/print/*"))
