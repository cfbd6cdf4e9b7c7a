"""Test-wide setup: a private Airflow home, no network-bound analytics, paths to the fixtures.

Airflow reads its configuration when first imported, so the environment is set here, before
any test module imports it. Each xdist worker gets its own Airflow home and metadata DB.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

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
