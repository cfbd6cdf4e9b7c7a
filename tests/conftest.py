"""Test-wide setup: a private Airflow home, no network-bound analytics, paths to the fixtures,
the warehouse on SQLite and PostgreSQL (integration and e2e tests).

Airflow reads its configuration when first imported, so the environment is set here, before
any test module imports it. Each xdist worker gets its own Airflow home and metadata DB.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from shared_paths import REPO, SHARED_FIXTURES  # noqa: E402  (tests/ is on sys.path)

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="receivables-airflow-"))
os.environ.update({
    "AIRFLOW_HOME": str(_AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
    "GX_ANALYTICS_ENABLED": "False",
    # Two xdist workers share the cores: OpenMP threads of the gradient boosting in each worker
    # would spin against each other (a model fit takes several times longer).
    "OMP_NUM_THREADS": "1",
})
for variable in [name for name in os.environ if name.startswith("RECEIVABLES_")]:   # the Makefile's demo settings
    os.environ.pop(variable, None)
for folder in ("plugins", "dags"):
    if str(REPO / folder) not in sys.path:
        sys.path.insert(0, str(REPO / folder))


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    assert SHARED_FIXTURES.is_dir(), f"the shared fixtures are expected beside the repo: {SHARED_FIXTURES}"
    return SHARED_FIXTURES


@pytest.fixture(scope="session")
def demo_portfolio(tmp_path_factory) -> dict:
    """A small generated portfolio (FEC + customer master) shared by the tests of a worker."""
    from receivables.demo.generator import generate_portfolio

    out = tmp_path_factory.mktemp("portfolio")
    import datetime as dt

    return generate_portfolio(out, customers=60, months=18, end=dt.date(2025, 6, 30), seed=7)


POSTGRES_URL_VARIABLE = "RECEIVABLES_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def postgres_engine():
    """An engine on the test PostgreSQL server ($RECEIVABLES_TEST_POSTGRES_URL, else the local one).

    When the server cannot be reached the tests that use it are skipped with the reason, except
    under CI=true, where they fail: a CI run must not pass by skipping its PostgreSQL tests.
    """
    url = make_url(os.environ.get(POSTGRES_URL_VARIABLE) or DEFAULT_POSTGRES_URL)
    shown = url.render_as_string(hide_password=True)
    connect_args = {"connect_timeout": 5} if url.get_backend_name() == "postgresql" else {}
    engine = sqlalchemy.create_engine(url, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.DBAPIError as error:
        engine.dispose()
        reason = f"PostgreSQL is unreachable at {shown}: {' '.join(str(error.orig or error).split())}"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run, not skip)", pytrace=False)
        pytest.skip(f"{reason} (start it, or point {POSTGRES_URL_VARIABLE} at a server)")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request, tmp_path):
    """A fresh, migrated warehouse on SQLite and on PostgreSQL (a schema of its own per test)."""
    from receivables.warehouse.db import make_engine, upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
        upgrade(make_engine(url))
        yield url
        return
    engine = request.getfixturevalue("postgres_engine")
    schema = f"wh_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    url = engine.url.set(query={"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    upgrade(make_engine(url))
    yield url
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
