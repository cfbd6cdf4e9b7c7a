"""Test-wide setup: a private Airflow home, no network-bound analytics, paths to the fixtures.

Airflow reads its configuration when first imported, so the environment is set here, before
any test module imports it. Each xdist worker gets its own Airflow home and metadata DB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_fixtures() -> Path:
    """The shared fixtures: $RECEIVABLES_SHARED_FIXTURES, else shared/ beside the checkout (CI),
    else beside the repository this checkout was cloned from (a fresh clone in a temp folder)."""
    candidates = [REPO.parent / "shared" / "fixtures"]
    if os.environ.get("RECEIVABLES_SHARED_FIXTURES"):
        candidates.insert(0, Path(os.environ["RECEIVABLES_SHARED_FIXTURES"]))
    origin = subprocess.run(["git", "-C", str(REPO), "remote", "get-url", "origin"],
                            capture_output=True, text=True).stdout.strip()
    if origin and Path(origin).is_dir():
        candidates.append(Path(origin).resolve().parent / "shared" / "fixtures")
    return next((c for c in candidates if c.is_dir()), candidates[0])


SHARED_FIXTURES = _shared_fixtures()

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="receivables-airflow-"))
os.environ.update({
    "AIRFLOW_HOME": str(_AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
    "GX_ANALYTICS_ENABLED": "False",
})
for variable in ("RECEIVABLES_WAREHOUSE_URL", "RECEIVABLES_LEDGER", "RECEIVABLES_CUSTOMERS", "RECEIVABLES_HOME",
                 "RECEIVABLES_MAPPING"):
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
