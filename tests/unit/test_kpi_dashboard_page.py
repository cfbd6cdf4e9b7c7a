"""The KPI dashboard without a database: amounts, scales, chart geometry, filters, escaping."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from receivables.dashboard import charts
from receivables.dashboard.page import compact_money, money, percent, render_page
from receivables.dashboard.queries import Choices, Figures, resolve_filters

JUNE_30, JUNE_27 = dt.date(2025, 6, 30), dt.date(2025, 6, 27)
CHOICES = Choices(dates=(dt.date(2025, 6, 26), JUNE_27, JUNE_30), segments=("GE", "PME"),
                  currencies=("EUR", "USD"), collectors=("claire.dubois",), default_currency="EUR")


@pytest.mark.parametrize(("minor", "currency", "shown"), [
    (264892543, "EUR", "2,648,925.43 EUR"),
    (-5, "EUR", "-0.05 EUR"),
    (1234567, "JPY", "1,234,567 JPY"),          # no minor unit
    (1234567, "KWD", "1,234.567 KWD"),          # three decimals
    (Decimal("100000000.0000"), "EUR", "1,000,000.00 EUR"),   # NUMERIC(20,4) as read from kpi_daily
])
def test_amounts_are_shown_with_the_currencys_decimals_and_grouped_thousands(minor, currency, shown):
    assert money(minor, currency) == shown


@pytest.mark.parametrize(("minor", "currency", "shown"), [
    (264892543, "EUR", "2.65M"), (63421882, "EUR", "634k"), (-1250000, "EUR", "-12.5k"), (99, "EUR", "1"),
    (123456789012, "JPY", "123bn"), (0, "EUR", "0"),
])
def test_chart_labels_abbreviate_amounts_without_going_through_floats(minor, currency, shown):
    assert compact_money(minor, currency) == shown


def test_ratios_are_shown_as_percentages_to_one_decimal():
    assert percent(Decimal("0.5764")) == "57.6 %"
    assert percent(Decimal("1")) == "100.0 %"


@pytest.mark.parametrize(("low", "high", "scale"), [
    (0, 194608754, (0, 200000000, 50000000)),
    (0, 73, (0, 80, 20)),
    (-1200, 5000, (-2000, 6000, 2000)),
    (0, 0, (0, 1, Decimal("0.25"))),
])
def test_axes_end_on_round_numbers(low, high, scale):
    assert charts.nice_scale(low, high) == tuple(Decimal(v) for v in scale)


@pytest.mark.parametrize(("high", "scale"), [(1, (0, 1, 1)), (2, (0, 2, 1)), (9, (0, 10, 5)), (48, (0, 60, 20))])
def test_an_axis_of_counts_steps_by_whole_numbers(high, scale):
    assert charts.nice_scale(0, high, whole=True) == tuple(Decimal(v) for v in scale)


def test_bars_are_as_long_as_their_amounts_from_a_zero_baseline():
    chart = charts.column_chart([("not due", 300), ("1-30 d", 150), ("credit", -75)], colors="#000",
                                value_text=str, tick_text=str, description="aged balance")
    full, half, negative = chart.bars
    assert half.height == pytest.approx(full.height / 2)
    assert full.y + full.height == pytest.approx(chart.baseline)          # positive bars stand on zero
    assert negative.y == pytest.approx(chart.baseline)                      # negative bars hang below it
    assert negative.height == pytest.approx(full.height / 4)
    assert [tick.label for tick in chart.category_ticks] == ["not due", "1-30 d", "credit"]


def test_ratio_bars_use_a_0_to_100_percent_axis_and_skip_missing_values():
    chart = charts.row_chart([("reminder 1", [Decimal("0.42"), Decimal("0.61")]), ("call", [None, Decimal("0.73")])],
                             [("7 days", "#111"), ("14 days", "#222")], value_text=str,
                             tick_text=lambda r: f"{r * 100:.0f}", description="effectiveness", domain=(0, 1))
    assert [tick.label for tick in chart.value_ticks] == ["0", "25", "50", "75", "100"]
    assert len(chart.bars) == 3
    plot = chart.right - chart.left
    assert chart.bars[0].width == pytest.approx(plot * 0.42)
    assert [name for name, _, _ in chart.legend] == ["7 days", "14 days"]


def test_a_trend_line_runs_through_its_days_in_order():
    chart = charts.line_chart([("DSO", "#000", "", [(JUNE_30, 66), (dt.date(2025, 6, 26), 62), (JUNE_27, 63)])],
                              value_text=str, tick_text=str, description="DSO")
    xs = [point.x for point in chart.lines[0].points]
    assert xs == sorted(xs) and xs[0] == chart.left and xs[-1] == chart.right
    assert chart.lines[0].path.startswith("M") and chart.lines[0].path.count("L") == 2
    assert [tick.label for tick in chart.category_ticks] == ["26 Jun", "27 Jun", "30 Jun"]


def test_a_chart_without_figures_says_so_instead_of_drawing_nothing():
    assert charts.line_chart([("DSO", "#000", "", [])], value_text=str, tick_text=str, description="").empty
    assert charts.column_chart([], colors="#000", value_text=str, tick_text=str, description="").empty


def test_without_parameters_the_latest_day_and_the_leading_currency_are_shown():
    filters = resolve_filters(CHOICES, {})
    assert (filters.as_of, filters.segment, filters.currency, filters.collector) == (JUNE_30, "", "EUR", "")
    assert filters.start == JUNE_30 - dt.timedelta(days=90) and filters.notices == ()


def test_a_day_without_kpis_shows_the_latest_day_before_it_and_says_so():
    filters = resolve_filters(CHOICES, {"as_of": "2025-06-29"})
    assert filters.as_of == JUNE_27
    assert filters.notices == ("No KPIs for 2025-06-29: showing 2025-06-27.",)


@pytest.mark.parametrize(("params", "notice"), [
    ({"as_of": "30/06/2025"}, "'30/06/2025' is not a date (YYYY-MM-DD): showing the latest day."),
    ({"segment": "ETI"}, "No KPIs for segment 'ETI': showing all."),
    ({"currency": "GBP"}, "No KPIs for currency 'GBP': showing EUR."),
    ({"from": "2025-07-15"}, "The trends cannot start after the business date: they start on it."),
])
def test_a_parameter_the_warehouse_cannot_answer_falls_back_to_the_default_and_says_so(params, notice):
    assert resolve_filters(CHOICES, params).notices == (notice,)


def test_the_page_escapes_what_the_warehouse_holds():
    hostile = Choices(dates=(JUNE_30,), segments=("<script>alert(1)</script>",), currencies=("EUR",),
                      collectors=('"><img src=x onerror=alert(1)>',), default_currency="EUR")
    filters = resolve_filters(hostile, {"segment": "<script>alert(1)</script>"})
    html = render_page(hostile, filters, Figures())
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_page_has_no_script_and_no_remote_resource():
    filters = resolve_filters(CHOICES, {})
    figures = Figures(snapshot={("ar_total_minor", ""): Decimal(583412345), ("aged_balance_minor", "d1_30"): Decimal(5)})
    html = render_page(CHOICES, filters, figures)
    assert "<script" not in html.lower()
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "5,834,123.45" in html
