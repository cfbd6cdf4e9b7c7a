"""The dashboard page: figures formatted, charts laid out, HTML rendered.

    >>> with engine.connect() as conn:                                        # doctest: +SKIP
    ...     html = render_dashboard(conn, {"as_of": "2025-06-30", "segment": "PME"})

Amounts arrive as integer minor units (NUMERIC in kpi_daily) and are formatted with the
currency's decimals through `receivables.money`, never through a float. The template runs in
a sandboxed, autoescaping Jinja environment with StrictUndefined; every link it makes is
relative, so the page works wherever Airflow mounts it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from receivables.dashboard import charts
from receivables.dashboard.queries import (
    Choices,
    Figures,
    Filters,
    available_choices,
    kpi_table_state,
    read_figures,
    resolve_filters,
)
from receivables.ledger.open_items import BUCKETS
from receivables.money import exponent, format_minor

_ENV = SandboxedEnvironment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True), undefined=StrictUndefined,
    trim_blocks=True, lstrip_blocks=True,
)

BUCKET_LABELS = {"not_due": "Not due", "d1_30": "1–30 d", "d31_60": "31–60 d", "d61_90": "61–90 d",
                 "d91_120": "91–120 d", "over_120": "> 120 d"}
BUCKET_COLORS = ("#2e7d4f", "#8aae3b", "#d9b324", "#e58a2b", "#d4512b", "#9f1d2b")
CHANNELS = ("email", "sms", "letter", "call")
# The default scenarios' steps in the order a customer meets them; other steps follow by name.
STEP_ORDER = ("courtesy", "statement_1", "reminder_1", "reminder_2", "statement_2", "reminder_letter", "call",
              "account_manager_call", "formal_notice", "agency_handoff")
NAVY, SKY, TEAL, RUST, OCHRE, PLUM = "#1f4e79", "#7fa7c9", "#1f7a8c", "#c8553d", "#b08a2e", "#6b5b95"


# -- formatting ------------------------------------------------------------------------------------

def _group(digits: str) -> str:
    sign = "-" if digits.startswith("-") else ""
    whole, _, decimals = digits.lstrip("-").partition(".")
    grouped = f"{int(whole):,}"
    return sign + grouped + (f".{decimals}" if decimals else "")


def money(minor: Decimal | int, currency: str) -> str:
    """'2,648,925.43 EUR' from 264892543 minor units of EUR."""
    return f"{_group(format_minor(int(minor), currency))} {currency}"


def compact_money(minor: Decimal | int, currency: str) -> str:
    """'2.65M', '634k', '-12.5k': axis ticks and bar labels, from minor units, without floats."""
    major = Decimal(int(minor)).scaleb(-exponent(currency))
    for size, suffix in ((Decimal(10) ** 9, "bn"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "k")):
        if abs(major) >= size:
            scaled = major / size
            places = 2 if abs(scaled) < 10 else 1 if abs(scaled) < 100 else 0
            return f"{scaled.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP).normalize():f}{suffix}"
    return f"{major.quantize(Decimal(1), ROUND_HALF_UP):f}"


def days(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1'), ROUND_HALF_UP):f}"


def percent(ratio: Decimal) -> str:
    return f"{(ratio * 100).quantize(Decimal('0.1'), ROUND_HALF_UP):f} %"


def count(value: Decimal | int) -> str:
    return f"{int(value):,}"


def long_date(day: dt.date) -> str:
    return f"{day.day} {day:%b %Y}"


# -- the page's model ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    value: str
    unit: str
    detail: str
    change: str = ""
    tone: str = ""          # 'good', 'bad' or '' for the change


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    subtitle: str
    chart: charts.Chart


def _change(figures: Figures, metric: str, as_of: dt.date, current: Decimal | None, text, better: str) -> tuple[str, str]:  # noqa: ANN001
    """('▲ 1.2 days since 27 Jun', 'bad'): the change since the previous day with KPIs."""
    previous = figures.previous(metric, as_of)
    if current is None or previous is None:
        return "", ""
    day, before = previous
    delta = current - before
    if delta == 0:
        return f"unchanged since {charts.short_date(day)}", ""
    arrow = "▲" if delta > 0 else "▼"
    tone = "" if better == "" else ("good" if (delta > 0) == (better == "up") else "bad")
    return f"{arrow} {text(abs(delta))} since {charts.short_date(day)}", tone


def headline(figures: Figures, filters: Filters) -> list[Tile]:
    cur, as_of = filters.currency, filters.as_of
    v = figures.value

    def shown(value: Decimal | None, fmt) -> str:  # noqa: ANN001
        return "—" if value is None else fmt(value)

    def tile(key: str, label: str, metric: str, fmt, unit: str, detail: str, better: str, delta_fmt=None) -> Tile:  # noqa: ANN001
        value = v(metric)
        change, tone = _change(figures, metric, as_of, value, delta_fmt or fmt, better)
        return Tile(key, label, shown(value, fmt), unit if value is not None else "", detail, change, tone)

    def amount(minor: Decimal) -> str:
        return _group(format_minor(int(minor), cur))

    def pct(ratio: Decimal) -> str:
        return percent(ratio).removesuffix(" %")

    def points(ratio: Decimal) -> str:
        return f"{pct(ratio)} pts"

    open_items, overdue_ratio, over_90 = v("open_items"), v("overdue_ratio"), v("over_90_ratio")
    best, unmatched = v("best_possible_dso_days"), v("unmatched_bank_lines")
    disputes, resolution = v("disputed_count"), v("dispute_resolution_days")
    dispute_detail = f"{shown(disputes, count)} dispute{'' if disputes == 1 else 's'}"
    if resolution is not None:
        dispute_detail += f" · resolved in {days(resolution)} days on average"
    # Bank lines have no segment or collector: a scoped view may show the company's figures.
    bank_scope = "bank lines of the day" + (", all segments" if "auto_match_ratio" in figures.company_wide else "")
    return [
        tile("open", "Open receivables", "ar_total_minor", amount, cur,
             f"{shown(open_items, count)} open items, credits netted", ""),
        tile("overdue", "Overdue", "overdue_minor", amount, cur,
             f"{shown(overdue_ratio, percent)} of open invoices · {shown(over_90, percent)} over 90 days", "down"),
        tile("dso", "DSO (countback)", "dso_countback_days", days, "days",
             f"best possible DSO {shown(best, days)} days", "down", lambda d: f"{days(d)} days"),
        tile("cei", "Collection effectiveness", "cei_ratio", pct, "%", "CEI, trailing 30 days", "up", points),
        tile("add", "Average days delinquent", "add_days", days, "days", "ADD = DSO − best possible DSO", "down",
             lambda d: f"{days(d)} days"),
        tile("automatch", "Auto-match rate", "auto_match_ratio", pct, "%",
             f"{bank_scope} · {shown(unmatched, count)} left unmatched", "up", points),
        tile("disputed", "In dispute", "disputed_minor", amount, cur, dispute_detail, ""),
        tile("promises", "Promises kept", "promise_kept_ratio", pct, "%", "promises to pay due in the trailing 90 days",
             "up", points),
    ]


def _step_key(step: str) -> tuple[int, str]:
    return (STEP_ORDER.index(step) if step in STEP_ORDER else len(STEP_ORDER), step)


def panels(figures: Figures, filters: Filters) -> list[Panel]:
    cur, as_of, start = filters.currency, filters.as_of, filters.start
    m = lambda value: compact_money(value, cur)  # noqa: E731
    aged = figures.breakdown("aged_balance_minor")
    aged_items = [(BUCKET_LABELS[b], aged.get(b, Decimal(0))) for b in BUCKETS] if aged else []
    aged_chart = charts.column_chart(
        aged_items, colors=BUCKET_COLORS, value_text=m, tick_text=m,
        titles=[f"{label}: {money(value, cur)}" for label, value in aged_items],
        description=f"Aged balance by bucket on {as_of}, {cur}")

    trend = figures.trend
    dso_chart = charts.line_chart(
        [("DSO (countback)", NAVY, "", trend.get("dso_countback_days", [])),
         ("Best possible DSO", SKY, "6 4", trend.get("best_possible_dso_days", []))],
        value_text=lambda d: f"{days(d)} days", tick_text=lambda d: f"{d:f}", description="DSO trend")

    weeks = sorted(figures.breakdown("cash_forecast_minor").items())[:8]
    forecast_items = []
    for week, value in weeks:
        try:
            label = charts.short_date(dt.date.fromisoformat(week))
        except ValueError:
            label = week
        forecast_items.append((label, value))
    forecast_chart = charts.column_chart(
        forecast_items, colors=TEAL, value_text=m, tick_text=m,
        titles=[f"Week of {week}: {money(value, cur)}" for week, value in weeks],
        description=f"Expected receipts per week from {as_of}, {cur}")

    seven, fourteen = figures.breakdown("paid_within_7d_ratio"), figures.breakdown("paid_within_14d_ratio")
    steps = sorted(set(seven) | set(fourteen), key=_step_key)
    effectiveness_chart = charts.row_chart(
        [(step.replace("_", " "), [seven.get(step), fourteen.get(step)]) for step in steps],
        [("paid within 7 days", SKY), ("paid within 14 days", NAVY)],
        value_text=percent, tick_text=lambda r: f"{(r * 100).normalize():f} %", domain=(0, 1),
        description="Share of actions paid within 7 and 14 days, by step")

    sent = figures.breakdown("reminders_sent")
    channels = sorted(set(sent) | set(figures.reminders_in_range),
                      key=lambda c: (CHANNELS.index(c) if c in CHANNELS else len(CHANNELS), c))
    reminders_chart = charts.row_chart(
        [(channel, [sent.get(channel), figures.reminders_in_range.get(channel)]) for channel in channels],
        [(f"on {charts.short_date(as_of)}", PLUM), (f"since {charts.short_date(start)}", "#b3a6cf")],
        value_text=count, tick_text=count, whole=True, description="Reminders sent by channel")

    queues_chart = charts.line_chart(
        [("Unmatched bank lines", RUST, "", trend.get("unmatched_bank_lines", [])),
         ("Call list", TEAL, "", trend.get("call_list_size", [])),
         ("Open disputes", OCHRE, "", trend.get("disputed_count", []))],
        value_text=count, tick_text=count, whole=True, description="Exceptions and call list over time")

    period = f"{long_date(start)} – {long_date(as_of)}"
    return [
        Panel("aged", "Aged balance", f"open invoices by days past due, {cur}", aged_chart),
        Panel("dso", "DSO trend", f"countback DSO and best possible DSO, days · {period}", dso_chart),
        Panel("forecast", "Cash forecast", f"expected receipts for the next 8 weeks, by week, {cur}", forecast_chart),
        Panel("effectiveness", "Channel effectiveness", "share of actions (trailing 90 days) whose invoices were paid",
              effectiveness_chart),
        Panel("reminders", "Reminders sent", f"actions dispatched by channel, on the day and over {period}",
              reminders_chart),
        Panel("queues", "Exceptions and call list", f"work left to people, counts · {period}", queues_chart),
    ]


def _scope_words(filters: Filters) -> str:
    return " · ".join([filters.segment or "all segments", filters.currency,
                       f"collector {filters.collector}" if filters.collector else "all collectors"])


def dashboard_context(choices: Choices, filters: Filters, figures: Figures, state: str = "ready") -> dict:
    ready = state == "ready" and filters.as_of is not None
    work = [("Unmatched bank lines", figures.value("unmatched_bank_lines")),
            ("Calls on today's list", figures.value("call_list_size")),
            ("Open disputes", figures.value("disputed_count"))]
    reports_by_day: dict[dt.date, list] = {}
    for report in figures.reports:
        reports_by_day.setdefault(report.as_of, []).append(report)
    return {
        "state": state,
        "ready": ready,
        "choices": choices,
        "filters": filters,
        "as_of": filters.as_of.isoformat() if filters.as_of else "",
        "start": filters.start.isoformat() if filters.start else "",
        "as_of_long": long_date(filters.as_of) if filters.as_of else "",
        "scope": _scope_words(filters) if ready else "",
        "min_date": choices.dates[0].isoformat() if choices.dates else "",
        "max_date": choices.dates[-1].isoformat() if choices.dates else "",
        "is_latest": bool(choices.dates) and filters.as_of == choices.dates[-1],
        "tiles": headline(figures, filters) if ready else [],
        "panels": panels(figures, filters) if ready else [],
        "work": [(label, "—" if value is None else count(value)) for label, value in work],
        "reports": [(day.isoformat(), long_date(day), items) for day, items in reports_by_day.items()],
    }


def render_dashboard(conn, params: Mapping[str, str], base: str = "") -> str:  # noqa: ANN001
    """The whole page for the GET parameters `params` (as_of, from, segment, currency, collector);
    its links start with `base` (the folder the page is served from; '' for relative links)."""
    state = kpi_table_state(conn)
    if state != "ready":
        choices, filters, figures = Choices((), (), (), (), None), Filters(None, None), Figures()
    else:
        choices = available_choices(conn)
        filters = resolve_filters(choices, params)
        figures = read_figures(conn, filters)
    return render_page(choices, filters, figures, state, base)


def render_page(choices: Choices, filters: Filters, figures: Figures, state: str = "ready", base: str = "") -> str:
    return _ENV.get_template("dashboard.html.j2").render(base=base, **dashboard_context(choices, filters, figures, state))
