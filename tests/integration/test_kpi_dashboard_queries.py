"""The dashboard's reads of kpi_daily and validation_reports, on SQLite and PostgreSQL.

The warehouse holds three business days (26, 27 and 30 June 2025) for all segments, PME and
GE, and for the collector claire.dubois, in EUR, plus the 30th in USD (kpi_dashboard_data).
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import Column, Date, MetaData, Numeric, String, Table

from kpi_dashboard_data import BUCKET_SHARES, COLLECTOR, DATES, ar_total, seed_kpis
from receivables.dashboard.page import render_dashboard
from receivables.dashboard.queries import (
    available_choices,
    kpi_table_state,
    read_figures,
    registered_report,
    resolve_filters,
)
from receivables.warehouse.db import make_engine

JUNE_26, JUNE_27, JUNE_30 = DATES


@pytest.fixture
def warehouse(warehouse_url, tmp_path):
    engine = make_engine(warehouse_url)
    seed_kpis(engine, report_dir=tmp_path / "runs")
    yield engine
    engine.dispose()


def figures_for(engine, **params):
    with engine.connect() as conn:
        filters = resolve_filters(available_choices(conn), params)
        return filters, read_figures(conn, filters)


def test_the_filters_offer_the_days_segments_currencies_and_collectors_the_warehouse_holds(warehouse):
    with warehouse.connect() as conn:
        choices = available_choices(conn)
    assert choices.dates == DATES
    assert choices.segments == ("GE", "PME")
    assert choices.currencies == ("EUR", "USD")
    assert choices.collectors == (COLLECTOR,)
    assert choices.default_currency == "EUR"    # the larger receivables on the latest day


def test_the_latest_day_shows_the_whole_company_in_exact_minor_units(warehouse):
    filters, figures = figures_for(warehouse)
    assert filters.as_of == JUNE_30
    assert figures.value("ar_total_minor") == ar_total(2, "") == 585881479
    aged = figures.breakdown("aged_balance_minor")
    assert set(aged) == set(BUCKET_SHARES)
    assert sum(aged.values()) == figures.value("ar_total_minor")
    assert all(value == value.to_integral_value() for value in aged.values())


def test_a_segment_and_a_day_select_their_own_rows(warehouse):
    _, pme = figures_for(warehouse, segment="PME", as_of="2025-06-27")
    assert pme.value("ar_total_minor") == ar_total(1, "PME")
    assert pme.value("dso_countback_days") == Decimal("62.4") + Decimal("1.3") + Decimal("6.5")
    _, collector = figures_for(warehouse, collector=COLLECTOR)
    assert collector.value("ar_total_minor") == ar_total(2, "") // 3


def test_bank_line_figures_come_from_the_company_rows_when_a_segment_has_none(warehouse):
    _, pme = figures_for(warehouse, segment="PME")
    assert pme.value("auto_match_ratio") == Decimal("0.93")
    assert pme.value("unmatched_bank_lines") == 5
    assert pme.company_wide == {"auto_match_ratio", "unmatched_bank_lines"}
    _, everyone = figures_for(warehouse)
    assert everyone.company_wide == set()


def test_trends_run_from_the_start_of_the_range_to_the_business_date(warehouse):
    _, figures = figures_for(warehouse, as_of="2025-06-27")
    assert [day for day, _ in figures.trend["dso_countback_days"]] == [JUNE_26, JUNE_27]
    _, figures = figures_for(warehouse, **{"from": "2025-06-27"})
    assert [day for day, _ in figures.trend["best_possible_dso_days"]] == [JUNE_27, JUNE_30]
    assert figures.previous("dso_countback_days", JUNE_30) == (JUNE_27, Decimal("63.7"))


def test_reminders_are_summed_per_channel_over_the_range(warehouse):
    _, figures = figures_for(warehouse)
    assert figures.breakdown("reminders_sent")["email"] == 122
    assert figures.reminders_in_range == {"email": 120 + 121 + 122, "sms": 35 + 36 + 37, "letter": 9 + 10 + 11,
                                          "call": 14 + 15 + 16}


def test_the_runs_validation_reports_are_listed_newest_first(warehouse):
    _, figures = figures_for(warehouse)
    assert [(r.as_of, r.source, r.success) for r in figures.reports] == [
        (JUNE_30, "fec", True), (JUNE_27, "fec", False), (JUNE_26, "fec", True)]


def test_only_a_report_registered_for_the_day_and_source_is_found(warehouse, tmp_path):
    with warehouse.connect() as conn:
        found = registered_report(conn, "2025-06-27", "fec")
        assert found == str(tmp_path / "runs" / "2025-06-27" / "123456789FEC.validation.html")
        assert registered_report(conn, "2025-06-28", "fec") is None
        assert registered_report(conn, "2025-06-27", found) is None
        assert registered_report(conn, "../../etc/passwd", "fec") is None


def test_the_page_shows_the_figures_of_the_chosen_scope(warehouse):
    with warehouse.connect() as conn:
        everyone = render_dashboard(conn, {})
        pme = render_dashboard(conn, {"segment": "PME"})
        usd = render_dashboard(conn, {"currency": "USD"})
    assert "5,858,814.79" in everyone and "2,343,525.91" in pme and "98,765.00" in usd
    assert "5,858,814.79" not in pme
    for html in (everyone, pme):
        assert len(re.findall(r"<rect ", html)) >= 6 + 8      # aged buckets and forecast weeks at least
        assert len(re.findall(r'<path class="line"', html)) == 5
    assert 'href="report?as_of=2025-06-27&amp;source=fec"' in everyone


def test_a_warehouse_without_kpis_gets_a_page_that_says_how_to_fill_it(warehouse_url):
    engine = make_engine(warehouse_url)
    with engine.connect() as conn:
        assert kpi_table_state(conn) == "ready"
        html = render_dashboard(conn, {"as_of": "2025-06-30"})
    engine.dispose()
    assert "No KPIs in the warehouse yet" in html and "<svg class=\"chart" not in html


def test_a_warehouse_older_than_the_kpi_contract_is_told_to_upgrade(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    Table("kpi_daily", MetaData(), Column("as_of", Date), Column("metric", String(50)), Column("segment", String(10)),
          Column("currency", String(3)), Column("value", Numeric(20, 4))).create(engine)
    with engine.connect() as conn:
        assert kpi_table_state(conn) == "outdated"
        assert "receivables db upgrade" in render_dashboard(conn, {})
    engine.dispose()
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with empty.connect() as conn:
        assert kpi_table_state(conn) == "missing"
    empty.dispose()
