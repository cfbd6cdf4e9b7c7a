"""Shared fixtures of the integration tests."""

from __future__ import annotations

import os

import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

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
