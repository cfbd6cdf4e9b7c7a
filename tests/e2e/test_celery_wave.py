"""The daily wave on a real distributed Airflow: the production stack's processes, started here.

A fresh PostgreSQL metadata database and warehouse, Redis as the Celery broker, and as
subprocesses the API server, the scheduler, the dag-processor and two Celery workers (the
docker-compose services, without Docker). The run for business date 2025-06-30 is triggered
through the REST API like a user would, replayed as today so its messages go to the file
outbox; then the warehouse holds the day's rows and the task instances ran on both workers.

Every subprocess is stopped (its whole process group) and both databases are dropped at the
end, pass or fail; on a failure the tail of each component's log is printed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from receivables.warehouse.db import make_engine
from receivables.warehouse.schema import (
    aging_snapshots,
    collection_actions,
    ledger_lines,
    open_items,
    quarantine,
    risk_scores,
)

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAG_ID = "ar_collections_daily"
AS_OF = dt.date(2025, 6, 30)
LOGICAL_DATE = "2025-06-29T22:00:00+00:00"   # 2025-06-30 00:00 Europe/Paris: the business day's interval start
WORKERS = ("celery-worker-1", "celery-worker-2")
RUN_DEADLINE_SECONDS = 8 * 60   # a hung component fails the test with its logs, it never hangs CI
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = ("127.0.0.1", 6379)

pytestmark = [pytest.mark.xdist_group("celery_stack"), pytest.mark.postgres]

# The task instance's hostname comes from `[core] hostname_callable`. On this one machine both
# workers share the host name, so each worker process names itself like its container would.
WORKER_IDENTITY = '''import os


def hostname() -> str:
    return os.environ["RECEIVABLES_TEST_WORKER_HOSTNAME"]
'''


def _unavailable(reason: str):
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason} (CI=true: the Celery stack test must run, not skip)", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stack:
    """The processes of one Airflow deployment, their logs, and the REST API they serve."""

    def __init__(self, root: Path, env: dict, api_url: str):
        self.root, self.env, self.api_url = root, env, api_url
        self.logs = root / "logs"
        self.logs.mkdir()
        self.processes: dict[str, subprocess.Popen] = {}
        self.http = httpx.Client(base_url=api_url, timeout=120)

    def run(self, commands: dict[str, list[str]], timeout: int = 600) -> None:
        """One-shot commands (the migrations) side by side; their output is kept with the component logs."""
        running = {}
        for name, args in commands.items():
            with open(self.logs / f"{name}.log", "wb") as log:
                running[name] = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        try:
            for name, process in running.items():
                assert process.wait(timeout=timeout) == 0, f"{' '.join(commands[name])} failed"
        finally:
            for process in running.values():
                if process.poll() is None:
                    process.kill()
                    process.wait()

    def start(self, name: str, *args: str, env: dict | None = None) -> None:
        log = open(self.logs / f"{name}.log", "wb")
        # A session of its own: stopping the component stops its children too (Celery's pool,
        # the API server's workers, the supervised task processes).
        self.processes[name] = subprocess.Popen(args, env=env or self.env, stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True)
        log.close()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        end = time.monotonic() + 10   # Celery's warm shutdown, the API server's graceful stop
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:   # whatever is left of the group (a supervised task, a pool process)
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        self.http.close()

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else "(no log)"
        return f"----- {name} (last {lines} lines of {path}) -----\n" + "\n".join(text.splitlines()[-lines:])

    def tails(self) -> str:
        return "\n".join(self.tail(path.stem) for path in sorted(self.logs.glob("*.log")))

    def task_logs(self, instances: list[dict], lines: int = 40) -> str:
        """The end of the log of every task instance that did not succeed."""
        shown = []
        for ti in instances:
            if ti["state"] in ("failed", "up_for_retry", "deferred"):
                pattern = f"dag_id={DAG_ID}/**/task_id={ti['task_id']}/**/*.log"
                for path in sorted((self.root / "airflow" / "logs").glob(pattern)):
                    text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
                    shown.append(f"----- {path} -----\n" + "\n".join(text))
        return "\n".join(shown)

    def check_alive(self) -> None:
        dead = {name: process.returncode for name, process in self.processes.items() if process.poll() is not None}
        assert not dead, f"components exited: {dead}"

    def wait_for(self, what: str, ready, deadline: float) -> None:
        while not ready():
            self.check_alive()
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(1)

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response

    def task_instances(self, run_id: str) -> list[dict]:
        found, offset = [], 0
        while True:
            page = self.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances",
                            params={"limit": 100, "offset": offset}).json()
            found += page["task_instances"]
            offset += len(page["task_instances"])
            if not page["task_instances"] or offset >= page["total_entries"]:
                return found


def _databases(request):
    """Two fresh PostgreSQL databases (Airflow metadata, warehouse) on the test server."""
    server = make_url(os.environ.get("RECEIVABLES_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
    engine = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.DBAPIError as error:
        engine.dispose()
        _unavailable(f"PostgreSQL is unreachable at {server.render_as_string(hide_password=True)}: "
                     f"{' '.join(str(error.orig or error).split())}")
    prefix = f"receivables_celery_{secrets.token_hex(4)}"
    names = {"metadata": prefix, "warehouse": f"{prefix}_wh"}

    def drop():
        with engine.connect() as conn:
            for name in names.values():
                conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    request.addfinalizer(drop)
    with engine.connect() as conn:
        for name in names.values():
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    return {role: server.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
            for role, name in names.items()}


def _redis_db() -> int:
    """A Redis database other than 0 for the broker; skipped when Redis is not there."""
    try:
        with socket.create_connection(DEFAULT_REDIS, timeout=3) as sock:
            sock.sendall(b"PING\r\n")
            assert sock.recv(16).startswith(b"+PONG")
    except (OSError, AssertionError) as error:
        _unavailable(f"Redis is unreachable at {DEFAULT_REDIS[0]}:{DEFAULT_REDIS[1]}: {error}")
    return 1 + secrets.randbelow(15)


@pytest.fixture(scope="module")
def celery_run(request, tmp_path_factory, demo_portfolio):
    """Start the stack, trigger the day's run, wait for it, stop the stack: the run, its warehouse, its outbox."""
    urls = _databases(request)
    redis_db = _redis_db()
    root = tmp_path_factory.mktemp("celery-stack")
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}"
    (root / "airflow").mkdir()
    (root / "home").mkdir()
    (root / "identity").mkdir()
    (root / "identity" / "celery_worker_identity.py").write_text(WORKER_IDENTITY, encoding="utf-8")
    password = secrets.token_urlsafe(16)
    (root / "passwords.json").write_text(json.dumps({"admin": password}), encoding="utf-8")
    queue = f"receivables_{secrets.token_hex(4)}"   # private to this run, whatever else uses Redis
    from cryptography.fernet import Fernet

    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AIRFLOW", "RECEIVABLES_"))}
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(root / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": urls["metadata"],
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": urls["metadata"].replace("+psycopg:", "+psycopg_async:", 1),
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{DEFAULT_REDIS[0]}:{DEFAULT_REDIS[1]}/{redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{urls['metadata']}",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        # one signing key for every component: the scheduler's task tokens must verify on the API server
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",   # find the DAG file at once...
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",   # ...and parse it once, not every 30 s
        # unpaused, the DAG would also get its scheduled run for the latest business day: only ours runs
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW_CONN_RECEIVABLES_WAREHOUSE": json.dumps({"conn_type": "generic", "extra": {"url": urls["warehouse"]}}),
        "RECEIVABLES_WAREHOUSE_URL": urls["warehouse"],
        "RECEIVABLES_HOME": str(root / "home"),
        "RECEIVABLES_LEDGER": str(demo_portfolio["fec"]),
        "RECEIVABLES_CUSTOMERS": str(demo_portfolio["customers_csv"]),
        "RECEIVABLES_BANK": str(demo_portfolio["statement"]),
        "RECEIVABLES_TODAY": AS_OF.isoformat(),   # replay that Monday as today: dispatch to the file outbox
        "GX_ANALYTICS_ENABLED": "False",
    })
    stack = Stack(root, env, api_url)
    started = time.monotonic()
    try:
        run_id, instances = _run_the_wave(stack, password)
        print(f"\nCelery wave: {DAG_ID} {AS_OF} succeeded with {len(instances)} task instances, "
              f"{time.monotonic() - started:.0f} s from the migrations to the run's success")
    except BaseException:
        print(stack.tails())
        print(_sessions(urls["metadata"]))
        raise
    finally:
        stack.stop()
        _forget_queue(redis_db, queue)
    # the stack is stopped; the databases stay until the module's tests have read them
    return {"run_id": run_id, "instances": instances, "warehouse_url": urls["warehouse"],
            "outbox": root / "home" / ".data" / "outbox" / AS_OF.isoformat()}


def _run_the_wave(stack: Stack, password: str) -> tuple[str, list[dict]]:
    """Migrate, start every component, trigger the day's run and wait for it to end."""
    env, root, port = stack.env, stack.root, stack.api_url.rsplit(":", 1)[1]
    stack.run({"airflow-db-migrate": [str(BIN / "airflow"), "db", "migrate"],
               "receivables-db-upgrade": [str(BIN / "receivables"), "db", "upgrade"]})
    stack.start("api-server", str(BIN / "airflow"), "api-server", "--host", "127.0.0.1", "--port", port,
                "--workers", "1")
    stack.start("scheduler", str(BIN / "airflow"), "scheduler")
    stack.start("dag-processor", str(BIN / "airflow"), "dag-processor")
    for name in WORKERS:
        worker_env = dict(env, RECEIVABLES_TEST_WORKER_HOSTNAME=name,
                          AIRFLOW__CORE__HOSTNAME_CALLABLE="celery_worker_identity.hostname",
                          PYTHONPATH=os.pathsep.join(filter(None, [str(root / "identity"), env.get("PYTHONPATH")])))
        # --skip-serve-logs: no log server (port 8793) per worker, the two would clash on one
        # machine; the API server reads the task logs from the shared AIRFLOW_HOME/logs
        stack.start(name, str(BIN / "airflow"), "celery", "worker", "--celery-hostname", name,
                    "--concurrency", "2", "--skip-serve-logs", env=worker_env)
    startup_deadline = time.monotonic() + 300   # a guard against a hung component, not a speed check

    def api_up() -> bool:
        try:
            return stack.http.get("/api/v2/version").status_code == 200
        except httpx.TransportError:
            return False

    stack.wait_for("the API server", api_up, startup_deadline)
    # The execution API builds its versioned routes on its first request, on the server's event
    # loop: tens of seconds on a busy 2-core machine, during which nothing else is answered. Pay
    # that here rather than in the first tasks (whose calls time out after 5 s and retry).
    stack.api("GET", "/execution/health", timeout=300)
    token = stack.api("POST", "/auth/token", json={"username": "admin", "password": password}).json()
    stack.http.headers["Authorization"] = f"Bearer {token['access_token']}"
    for name, slots, description in (("sendgrid", 4, "SendGrid Mail Send"), ("twilio", 2, "Twilio Messages"),
                                     ("print", 2, "PDF rendering of print batches")):
        stack.api("POST", "/api/v2/pools", json={"name": name, "slots": slots, "description": description})

    def dag_parsed() -> bool:
        errors = stack.api("GET", "/api/v2/importErrors").json()["import_errors"]
        assert not errors, f"the DAG files do not import: {errors}"
        return stack.http.get(f"/api/v2/dags/{DAG_ID}").status_code == 200

    stack.wait_for(f"the dag-processor to parse {DAG_ID}", dag_parsed, startup_deadline)
    for name in WORKERS:
        stack.wait_for(f"{name} to be ready", lambda name=name: b" ready." in (stack.logs / f"{name}.log").read_bytes(),
                       startup_deadline)
    stack.api("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})
    run_id = stack.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns",
                       json={"logical_date": LOGICAL_DATE, "conf": {}}).json()["dag_run_id"]
    run_deadline = time.monotonic() + RUN_DEADLINE_SECONDS
    while (state := stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"]) not in (
            "success", "failed"):
        stack.check_alive()
        states = {ti["state"] for ti in stack.task_instances(run_id)}
        # a failed try would be retried in 5 minutes (the DAG's retry_delay): fail now instead;
        # a deferred task is an approval waiting, which this stack (no triggerer) cannot give
        if states & {"up_for_retry", "failed", "deferred"} or time.monotonic() > run_deadline:
            break
        time.sleep(3)
    instances = stack.task_instances(run_id)
    summary = sorted((ti["task_id"], ti["map_index"], ti["state"], ti["hostname"]) for ti in instances)
    assert state == "success", f"run {run_id} is {state}: {summary}\n{stack.task_logs(instances)}"
    return run_id, instances


def _sessions(url: str) -> str:
    """What every connection to the metadata database is doing (a component stuck on a lock shows here)."""
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sqlalchemy.text(
                "SELECT pid, state, wait_event_type, wait_event, now() - xact_start AS in_transaction,"
                " left(query, 200) AS query FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY xact_start")).all()
    finally:
        engine.dispose()
    return "----- metadata database sessions -----\n" + "\n".join(" | ".join(map(str, row)) for row in rows)


def _forget_queue(redis_db: int, queue: str) -> None:
    """Delete what this run left in the broker's database: its queue's keys, kombu's bookkeeping."""
    import redis

    client = redis.Redis(host=DEFAULT_REDIS[0], port=DEFAULT_REDIS[1], db=redis_db)
    try:
        keys = list(client.scan_iter(match=f"*{queue}*"))
        if keys:
            client.delete(*keys)
        # kombu's deadlines of the workers' broadcast bindings (pidbox, events): once no binding
        # is left in the database, nobody else needs them
        if not any(True for _ in client.scan_iter(match="_kombu.binding.*")):
            client.delete("_kombu.binding_deadlines")
    finally:
        client.close()


def test_the_daily_wave_succeeds_on_celery_workers_and_fills_the_warehouse(celery_run, demo_portfolio):
    from receivables.channels import outbox

    with make_engine(celery_run["warehouse_url"]).connect() as conn:
        lines = conn.execute(select(func.count()).select_from(ledger_lines)).scalar_one()
        quarantined = conn.execute(select(func.count()).select_from(quarantine)).scalar_one()
        items = conn.execute(select(func.count(), func.sum(open_items.c.open_minor))
                             .where(open_items.c.as_of == AS_OF)).one()
        aged = conn.execute(select(func.sum(aging_snapshots.c.total_minor))
                            .where(aging_snapshots.c.as_of == AS_OF)).scalar_one()
        scored = conn.execute(select(func.count()).select_from(risk_scores)
                              .where(risk_scores.c.as_of == AS_OF)).scalar_one()
        planned = conn.execute(select(func.count()).select_from(collection_actions)
                               .where(collection_actions.c.as_of == AS_OF)).scalar_one()
        rows = outbox.read_outbox(conn, as_of=AS_OF)
    assert lines + quarantined == demo_portfolio["lines"]
    assert items[0] > 0 and aged == items[1]
    assert scored == demo_portfolio["customers"]
    assert planned > 0 and len(rows) == planned
    # everything planned is sent, or held with its reason (formal notices waiting for approval)
    assert set(rows["state"]) <= {"sent", "suppressed", "pending"}
    assert (rows.loc[rows["state"] != "sent", "reason"] != "").all()
    sent = rows[rows["state"] == "sent"]
    assert "email" in set(sent["channel"])
    assert len(list((celery_run["outbox"] / "email").glob("*.eml"))) == (sent["channel"] == "email").sum()


def test_the_task_instances_of_the_run_are_shared_between_both_celery_workers(celery_run):
    ran = [ti for ti in celery_run["instances"] if ti["state"] == "success"]
    hosts = {ti["hostname"] for ti in ran}
    assert hosts == set(WORKERS), sorted((ti["task_id"], ti["map_index"], ti["hostname"]) for ti in ran)
    assert {"extract_ledger", "score_customers", "plan_collection_actions", "send_emails"} <= {
        ti["task_id"] for ti in ran}
