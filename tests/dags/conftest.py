"""Airflow puts the plugins folder (and the DAGs folder) on sys.path; so do the DAG tests."""

import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]
for _folder in (_REPO / "plugins", _REPO / "dags"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))
