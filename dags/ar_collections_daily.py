"""The daily collection wave. Wiring only: task bodies live in `receivables.pipeline.tasks`."""

from __future__ import annotations

from datetime import time, timedelta

import pendulum
from airflow.sdk import Param, dag, task
from receivables_timetables import BusinessDayTimetable

DOC = """
### Daily collection wave

One run per French business day (Mon–Fri without public holidays), working on the business
date of its data interval (`as_of`), never the clock: a re-run or a backfill for a past date
recomputes that date's snapshot from the ledger as it stood then.

1. **extract_ledger**: reads the ledger files (FEC, CSV/XLSX aged-balance exports) and the
   customer master into the run folder (`.data/runs/<as_of>/`); a file already imported is
   not parsed again.
2. **validate_ledger**: Great Expectations suite on every line; bad lines are quarantined with a
   reason, the HTML report's path is in the log; a file that is not a usable ledger fails the
   task without retry.
3. **load_ledger**: one transaction into the warehouse: all sources or nothing.
4. **compute_aging**: open items, aged balance (not due, 1–30 … >120 days) and KPIs
   (DSO countback, overdue ratio) for `as_of`.

Settings: connection `receivables_warehouse`; Variables (or env) `receivables_ledger`,
`receivables_customers`, `receivables_mapping`. Params override the ledger and master paths.
"""


@dag(
    dag_id="ar_collections_daily",
    schedule=BusinessDayTimetable(country="FR", timezone="Europe/Paris", run_at=time(6, 0)),
    start_date=pendulum.datetime(2025, 1, 1, tz="Europe/Paris"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "finance-ops", "retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["receivables", "collections"],
    doc_md=DOC,
    params={
        "ledger": Param(None, type=["null", "string"],
                        description="Ledger files or globs (':'-separated); default: Variable receivables_ledger"),
        "customers": Param(None, type=["null", "string"],
                           description="Customer master CSV; default: Variable receivables_customers"),
    },
)
def ar_collections_daily():
    @task
    def extract_ledger(**context) -> dict:
        from receivables.pipeline import tasks

        return tasks.extract_ledger(context)

    @task
    def validate_ledger(manifest: dict, **context) -> dict:
        from receivables.pipeline import tasks

        return tasks.validate_ledger(manifest, context)

    @task
    def load_ledger(manifest: dict, **context) -> dict:
        from receivables.pipeline import tasks

        return tasks.load_ledger(manifest, context)

    @task
    def compute_aging(**context) -> dict:
        from receivables.pipeline import tasks

        return tasks.compute_aging(context)

    loaded = load_ledger(validate_ledger(extract_ledger()))
    loaded >> compute_aging()


ar_collections_daily()
