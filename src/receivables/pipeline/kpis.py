"""The body of the daily wave's last task, `compute_kpis`, free of Airflow.

    summary = compute_kpis(settings, as_of)     # after compute_aging and summarise_dispatch
    summary["headline"]["EUR"]                  # {"dso_countback_days": "48.60", "cei_ratio": "0.4000", ...}

It reads what the wave wrote for `as_of` (open items and aged balance after the day's cash,
predictions and risk, cash application, call list, the outbox and plans of the trailing 90
days) and the ledger and registers filtered by their dates, computes every KPI of
`receivables.kpis` and replaces, in one transaction, the rows of `as_of` in kpi_daily and the
fact tables (dim_customer is replaced whole, dim_date gains the days it lacks). Running it twice
gives the same rows; a backfill of a past date recomputes that date as the ledger stood then.
"""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd

from receivables.pipeline.ledger_cache import receivable_lines
from receivables.pipeline.wave import WaveSettings, _engine, run_dir

log = logging.getLogger(__name__)

HEADLINE = ("ar_total_minor", "overdue_ratio", "dso_countback_days", "best_possible_dso_days", "add_days",
            "cei_ratio")


def compute_kpis(settings: WaveSettings, as_of: dt.date) -> dict:
    from receivables.kpis.daily import KpiInputs, daily_kpis
    from receivables.kpis.facts import dim_customer, dim_date, fact_cash_forecast, fact_receivables
    from receivables.kpis.forecast import WEEKS
    from receivables.warehouse.kpi_store import missing_days, read_kpi_inputs, replace_kpis

    engine = _engine(settings)
    lines = receivable_lines(engine, run_dir(settings, as_of) / "cache")
    with engine.connect() as conn:
        frames = read_kpi_inputs(conn, as_of, lines=lines)
        aged, risk = frames.pop("aged"), frames.pop("risk")
        oldest = pd.to_datetime(frames["items"]["doc_date"]).min()   # NaT when nothing is open
        first = min(as_of - dt.timedelta(days=90), oldest.date() if pd.notna(oldest) else as_of)
        days = missing_days(conn, first, as_of + dt.timedelta(weeks=WEEKS))
    inputs = KpiInputs(**frames, ledger_currency=settings.ledger_currency, default_terms_days=settings.default_terms_days)
    result = daily_kpis(inputs, as_of)
    receivables = fact_receivables(aged, inputs.items, inputs.disputes, risk, as_of)
    calendar = dim_date(days[0], days[-1], settings.country) if days else None
    if calendar is not None:
        calendar = calendar[calendar["day"].dt.date.isin(set(days))]
    with engine.begin() as conn:
        replace_kpis(conn, as_of, kpis=result.kpis, outcomes=result.outcomes, receivables=receivables,
                     forecast=fact_cash_forecast(result.weekly), customers=dim_customer(inputs.customers),
                     days=calendar if calendar is not None else pd.DataFrame())
    rows = result.kpis
    everyone = rows[(rows["segment"] == "") & (rows["collector"] == "") & (rows["breakdown"] == "")
                    & rows["metric"].isin(HEADLINE)]
    headline: dict = {}
    for row in everyone.itertuples(index=False):   # a Decimal never goes through XCom: text
        headline.setdefault(row.currency, {})[row.metric] = str(row.value)
    summary = {"as_of": as_of.isoformat(), "kpi_rows": len(rows), "metrics": int(rows["metric"].nunique()),
               "collectors": sorted(c for c in rows["collector"].unique() if c),
               "actions_measured": len(result.outcomes), "headline": headline}
    log.info("KPIs of %s: %s", as_of, summary)
    return summary
