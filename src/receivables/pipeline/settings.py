"""Where settings come from, outside Airflow and inside it.

Outside Airflow (the `receivables` command, tests): `RECEIVABLES_*` environment variables.
Inside a task: the Airflow connection `receivables_warehouse` (its extra `url`, else its URI)
and the Variables `receivables_ledger`, `receivables_customers`, `receivables_mapping`,
`receivables_default_terms_days`, each falling back to the environment variable of the same
name in upper case, then to the defaults below. Nothing here is read at DAG parse time.

    RECEIVABLES_HOME             where .data/ lives (default: the current directory)
    RECEIVABLES_WAREHOUSE_URL    SQLAlchemy URL (default sqlite:///<home>/.data/warehouse.db)
    RECEIVABLES_LEDGER           ledger files or globs, separated by ':' (FEC, CSV/XLSX)
    RECEIVABLES_CUSTOMERS        the customer master CSV
    RECEIVABLES_MAPPING          the YAML column mapping for CSV/XLSX open-item exports
    RECEIVABLES_DEFAULT_TERMS_DAYS  payment terms when the master has none (default 30)
    RECEIVABLES_COUNTRY          the company's country (ISO 3166): its business days date expected payments (FR)
    RECEIVABLES_MIN_SETTLED_INVOICES  settled invoices the late-payment model needs, else rules (200)
    RECEIVABLES_SCENARIOS        the collection policy YAML (default include/scenarios/default_fr_b2b.yaml)
    RECEIVABLES_DISPUTES         disputes CSV imported (upserted by id) by each planning run
    RECEIVABLES_PROMISES         promises-to-pay CSV, likewise
    RECEIVABLES_PAYMENT_PLANS    payment plans CSV, likewise
    RECEIVABLES_SHARD_CUSTOMERS  customers per shard: a larger portfolio is scored and planned by several mapped tasks (250000)
    RECEIVABLES_BANK             bank statement files or globs, ':'-separated (the drop folder)
    RECEIVABLES_BANK_MAPPING     the YAML column mapping for CSV bank statements
    RECEIVABLES_SQL_SOURCES      JSON list of SQL sources: [{"name": "odoo", "url": "postgresql+psycopg://...",
                                 "sql": "include/sql/sources/odoo/ledger_lines.sql",
                                 "customers_sql": "include/sql/sources/odoo/customers.sql",
                                 "params": {"company_id": 1}}]; in Airflow, "conn_id" replaces "url"
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from receivables.pipeline.wave import WaveSettings
from receivables.shards import SHARD_CUSTOMERS

DEFAULT_TERMS_DAYS = 30


def home() -> Path:
    return Path(os.environ.get("RECEIVABLES_HOME") or Path.cwd()).resolve()


def default_warehouse_url() -> str:
    return f"sqlite:///{home() / '.data' / 'warehouse.db'}"


def sqlalchemy_url(url: str) -> str:
    """Airflow-style URIs to SQLAlchemy dialect+driver URLs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def wave_settings(lookup: Callable[[str], str | None] = lambda key: os.environ.get(key.upper()),
                  warehouse_url: str | None = None) -> WaveSettings:
    """Settings from `lookup` (env by default; in Airflow: Variable, then env)."""
    ledger = lookup("receivables_ledger") or ""
    terms = lookup("receivables_default_terms_days")
    min_settled = lookup("receivables_min_settled_invoices")
    shard = lookup("receivables_shard_customers")
    return WaveSettings(
        warehouse_url=sqlalchemy_url(warehouse_url or lookup("receivables_warehouse_url") or default_warehouse_url()),
        data_dir=home() / ".data",
        ledger_paths=[p for p in ledger.split(":") if p],
        customers_file=lookup("receivables_customers") or None,
        mapping_file=lookup("receivables_mapping") or None,
        sql_sources=json.loads(lookup("receivables_sql_sources") or "[]"),
        bank_paths=[p for p in (lookup("receivables_bank") or "").split(":") if p],
        bank_mapping=lookup("receivables_bank_mapping") or None,
        default_terms_days=int(terms) if terms else DEFAULT_TERMS_DAYS,
        country=(lookup("receivables_country") or "FR").upper(),
        min_settled_invoices=int(min_settled) if min_settled else 200,
        scenarios_file=lookup("receivables_scenarios") or None,
        disputes_file=lookup("receivables_disputes") or None,
        promises_file=lookup("receivables_promises") or None,
        payment_plans_file=lookup("receivables_payment_plans") or None,
        shard_customers=int(shard) if shard else SHARD_CUSTOMERS,
    )
