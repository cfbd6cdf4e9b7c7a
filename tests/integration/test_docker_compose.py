"""The production stack's docker-compose.yml: valid for Compose, and wired the way the DAG needs.

`docker-compose config` (Debian's docker-compose package) resolves and validates the file
without a Docker engine; the structural checks read the file itself, anchors resolved.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
REQUIRED = re.compile(r"\$\{([A-Z0-9_]+):\?")
PLACEHOLDER_ONLY = re.compile(r"^\$\{[A-Z0-9_]+(:[?-][^}]*)?\}$")
URL_PASSWORD = re.compile(r"://[^:/@\s'\"]+:(\$\{[^}]*\}|[^@\s'\"]+)@")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$")

pytestmark = pytest.mark.skipif(shutil.which("docker-compose") is None,
                                reason="docker-compose is not installed (Debian: apt-get install docker-compose; "
                                       ".ci/run installs it)")


def required_variables() -> set[str]:
    """The variables compose refuses to run without (`${NAME:?message}`), comments aside."""
    lines = COMPOSE_FILE.read_text(encoding="utf-8").splitlines()
    return {name for line in lines if not line.lstrip().startswith("#") for name in REQUIRED.findall(line)}


def compose(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # an empty env file: a developer's .env beside the compose file must not make the test pass
    empty = tmp_path / "empty.env"
    empty.write_text("", encoding="utf-8")
    return subprocess.run(["docker-compose", "--file", str(COMPOSE_FILE), "--env-file", str(empty), *args],
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), **env})


@pytest.fixture(scope="module")
def stack() -> dict:
    """The file as YAML (anchors and merge keys resolved by the loader)."""
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def airflow_services(stack) -> dict:
    return {name: service for name, service in stack["services"].items() if name.startswith("airflow-")}


def test_compose_validates_the_file_once_the_secrets_are_set(tmp_path):
    values = {name: f"test-{name.lower().replace('_', '-')}" for name in required_variables()}
    done = compose(tmp_path, "config", "--quiet", env=values)
    assert done.returncode == 0, done.stderr


def test_compose_refuses_the_stack_while_a_secret_is_missing(tmp_path):
    values = {name: "test-value" for name in required_variables() if name != "AIRFLOW_JWT_SECRET"}
    done = compose(tmp_path, "config", "--quiet", env=values)
    assert done.returncode != 0 and "set AIRFLOW_JWT_SECRET" in done.stderr


def test_the_secrets_come_from_the_environment_and_none_is_written_in_the_file(stack):
    assert {"AIRFLOW_DB_PASSWORD", "WAREHOUSE_DB_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET",
            "AIRFLOW_API_SECRET_KEY", "AIRFLOW_ADMIN_PASSWORD"} <= required_variables()
    environments = [stack["x-airflow-common"]["environment"]]
    environments += [service.get("environment") or {} for service in stack["services"].values()]
    for environment in environments:
        for key, value in environment.items():
            value = str(value)
            if SECRET_NAME.search(key) and not key.endswith("_FILE"):
                assert PLACEHOLDER_ONLY.match(value), f"{key} holds a literal secret"
            for password in URL_PASSWORD.findall(value):
                assert PLACEHOLDER_ONLY.match(password), f"{key} has a literal password in its URL"


def test_the_env_example_lists_every_required_variable_with_a_placeholder():
    example = dict(line.split("=", 1) for line in (REPO / ".env.example").read_text(encoding="utf-8").splitlines()
                   if line and not line.startswith("#"))
    assert required_variables() <= set(example)
    assert all(example[name] == "change-me" for name in required_variables() if SECRET_NAME.search(name))


def test_every_airflow_service_runs_the_project_image_with_the_common_environment(stack, airflow_services):
    common = stack["x-airflow-common"]
    assert {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
            "airflow-worker-1", "airflow-worker-2"} <= set(airflow_services)
    for name, service in airflow_services.items():
        assert (service["image"], service["build"], service["user"]) == (common["image"], common["build"],
                                                                          common["user"]), name
        assert common["environment"].items() <= service["environment"].items(), name
        # the DAGs, the plugins, the templates and the run folders are the same in every container
        assert set(common["volumes"]) <= set(service["volumes"]), name
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    pinned = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(encoding="utf-8"), re.M)
    assert f"FROM apache/airflow:{pinned.group(1)}-python3.11" in dockerfile


def test_the_stack_runs_celery_with_redis_and_the_postgresql_metadata(stack):
    env = stack["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql") and "@postgres:5432/airflow" in \
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert "@postgres:5432/receivables" in env["AIRFLOW_CONN_RECEIVABLES_WAREHOUSE"]
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${AIRFLOW_JWT_SECRET:?")
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")


def test_two_celery_workers_with_their_own_hostnames(airflow_services):
    workers = {name: service for name, service in airflow_services.items() if service.get("command") == "celery worker"}
    assert len(workers) == 2
    assert len({service["hostname"] for service in workers.values()}) == 2
    for service in workers.values():
        assert "celery" in " ".join(service["healthcheck"]["test"])
        assert service["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"


def test_the_init_service_migrates_both_databases_and_creates_the_pools_the_dag_uses(airflow_services):
    script = airflow_services["airflow-init"]["command"][-1]
    assert "airflow db migrate" in script and "receivables db upgrade" in script
    dag = (REPO / "dags" / "ar_collections_daily.py").read_text(encoding="utf-8")
    dag_pools = set(re.findall(r'pool="(\w+)"', dag))
    assert dag_pools and dag_pools <= set(re.findall(r"airflow pools set (\w+)", script))
    assert "airflow-auth:/opt/airflow/auth" in airflow_services["airflow-init"]["volumes"]
    assert "airflow-auth:/opt/airflow/auth" in airflow_services["airflow-apiserver"]["volumes"]


def test_services_start_in_order_and_report_their_health(stack, airflow_services):
    services = stack["services"]
    assert services["airflow-init"]["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                                      "redis": {"condition": "service_healthy"}}
    for name, service in airflow_services.items():
        if name == "airflow-init":
            continue
        assert service["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}, name
        assert service["healthcheck"]["test"], name
    assert services["postgres"]["healthcheck"] and services["redis"]["healthcheck"]
    init_db = services["postgres"]["volumes"][-1].split(":")[0]
    assert (REPO / init_db).is_file() and "CREATE DATABASE receivables" in (REPO / init_db).read_text(encoding="utf-8")
