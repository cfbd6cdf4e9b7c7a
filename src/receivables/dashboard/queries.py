"""What the dashboard reads: `kpi_daily` for one scope and a date range, and the run's validation reports.

    >>> with engine.connect() as conn:                              # doctest: +SKIP
    ...     choices = available_choices(conn)
    ...     filters = resolve_filters(choices, {"segment": "PME", "as_of": "2025-06-30"})
    ...     figures = read_figures(conn, filters)
    >>> figures.snapshot[("aged_balance_minor", "d1_30")]            # doctest: +SKIP
    Decimal('63421882.0000')

A scope is (segment, currency, collector); '' means all segments or all collectors, as in the
KPI contract (docs/warehouse.md). Cash-application figures belong to bank lines, which have no
segment or collector: when the chosen scope has no row for them the company-wide row is used
(`COMPANY_WIDE`). Every query is SQLAlchemy Core with bound parameters. The table is named
column by column (not imported from the schema module) so the dashboard reads exactly the
contract's shape.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import Date, Numeric, String, column, func, inspect, select, table

from receivables.warehouse.schema import validation_reports

KPI_DAILY = table(
    "kpi_daily",
    column("as_of", Date()), column("metric", String()), column("segment", String()),
    column("currency", String()), column("collector", String()), column("breakdown", String()),
    column("value", Numeric(20, 4)),
)
CONTRACT_COLUMNS = frozenset(c.name for c in KPI_DAILY.columns)

COMPANY_WIDE = frozenset({"auto_match_ratio", "unmatched_bank_lines"})
# Metrics without a breakdown that the trends and the day-over-day changes need.
TREND_METRICS = (
    "ar_total_minor", "overdue_minor", "dso_countback_days", "best_possible_dso_days", "cei_ratio", "add_days",
    "auto_match_ratio", "unmatched_bank_lines", "call_list_size", "disputed_count",
)
DEFAULT_RANGE_DAYS = 90


@dataclass(frozen=True)
class Choices:
    """What kpi_daily holds: the filter form offers exactly these."""

    dates: tuple[dt.date, ...]            # ascending
    segments: tuple[str, ...]             # without ''
    currencies: tuple[str, ...]
    collectors: tuple[str, ...]           # without ''
    default_currency: str | None


@dataclass(frozen=True)
class Filters:
    as_of: dt.date | None                 # None: kpi_daily is empty
    start: dt.date | None                 # first day of the trends
    segment: str = ""
    currency: str = ""
    collector: str = ""
    notices: tuple[str, ...] = ()         # what was adjusted in the request, in words


@dataclass(frozen=True)
class ReportLink:
    as_of: dt.date
    source: str
    source_file: str
    success: bool
    rows_read: int
    rows_quarantined: int


@dataclass
class Figures:
    snapshot: dict[tuple[str, str], Decimal] = field(default_factory=dict)          # (metric, breakdown) on as_of
    trend: dict[str, list[tuple[dt.date, Decimal]]] = field(default_factory=dict)   # metric -> [(day, value)]
    reminders_in_range: dict[str, Decimal] = field(default_factory=dict)            # channel -> sum over the range
    reports: list[ReportLink] = field(default_factory=list)
    company_wide: set[str] = field(default_factory=set)   # metrics shown from the all-segments rows

    def value(self, metric: str, breakdown: str = "") -> Decimal | None:
        return self.snapshot.get((metric, breakdown))

    def breakdown(self, metric: str) -> dict[str, Decimal]:
        return {b: v for (m, b), v in self.snapshot.items() if m == metric and b != ""}

    def previous(self, metric: str, as_of: dt.date) -> tuple[dt.date, Decimal] | None:
        """The metric's latest value before `as_of` within the range, for day-over-day changes."""
        earlier = [(day, value) for day, value in self.trend.get(metric, []) if day < as_of]
        return earlier[-1] if earlier else None


def kpi_table_state(conn) -> str:  # noqa: ANN001
    """'ready', 'missing' (no kpi_daily: the warehouse was never migrated) or 'outdated' (the
    table predates migration 0006 and has no collector/breakdown columns)."""
    inspector = inspect(conn)
    if not inspector.has_table("kpi_daily"):
        return "missing"
    columns = {c["name"] for c in inspector.get_columns("kpi_daily")}
    return "ready" if CONTRACT_COLUMNS <= columns else "outdated"


def available_choices(conn) -> Choices:  # noqa: ANN001
    k = KPI_DAILY.c

    def distinct(col) -> tuple:  # noqa: ANN001
        return tuple(conn.execute(select(col).distinct().order_by(col)).scalars())

    dates = distinct(k.as_of)
    default_currency = None
    if dates:
        # The currency with the most receivables on the latest day leads.
        default_currency = conn.execute(
            select(k.currency).where(k.as_of == dates[-1], k.metric == "ar_total_minor", k.segment == "",
                                     k.collector == "", k.breakdown == "")
            .order_by(k.value.desc(), k.currency).limit(1)).scalar()
    currencies = distinct(k.currency)
    return Choices(
        dates=dates,
        segments=tuple(s for s in distinct(k.segment) if s),
        currencies=currencies,
        collectors=tuple(c for c in distinct(k.collector) if c),
        default_currency=default_currency or (currencies[0] if currencies else None),
    )


def _date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip()) if text and text.strip() else None
    except ValueError:
        return None


def resolve_filters(choices: Choices, params: Mapping[str, str]) -> Filters:
    """The request's GET parameters (as_of, from, segment, currency, collector) made valid:
    an unknown value falls back to the default, a date without KPIs to the latest one before
    it, and each adjustment is told in `notices`."""
    notices = []
    if not choices.dates:
        return Filters(None, None)
    requested = params.get("as_of", "")
    as_of = _date(requested)
    if requested and as_of is None:
        notices.append(f"'{requested}' is not a date (YYYY-MM-DD): showing the latest day.")
    if as_of is None:
        as_of = choices.dates[-1]
    elif as_of not in choices.dates:
        earlier = [d for d in choices.dates if d <= as_of]
        shown = earlier[-1] if earlier else choices.dates[0]
        notices.append(f"No KPIs for {as_of.isoformat()}: showing {shown.isoformat()}.")
        as_of = shown
    start_text = params.get("from", "")
    start = _date(start_text)
    if start_text and start is None:
        notices.append(f"'{start_text}' is not a date (YYYY-MM-DD): trends start {DEFAULT_RANGE_DAYS} days back.")
    if start is None:
        start = as_of - dt.timedelta(days=DEFAULT_RANGE_DAYS)
    elif start > as_of:
        notices.append("The trends cannot start after the business date: they start on it.")
        start = as_of

    def pick(name: str, allowed: tuple[str, ...], default: str, what: str) -> str:
        value = params.get(name, "")
        if value in allowed or value == default:
            return value
        if value:
            notices.append(f"No KPIs for {what} '{value}': showing {default or 'all'}.")
        return default

    return Filters(
        as_of=as_of, start=start,
        segment=pick("segment", choices.segments, "", "segment"),
        currency=pick("currency", choices.currencies, choices.default_currency or "", "currency"),
        collector=pick("collector", choices.collectors, "", "collector"),
        notices=tuple(notices),
    )


def _scoped(filters: Filters):  # noqa: ANN202
    """The rows of the chosen scope, plus the company-wide rows of the bank-line metrics."""
    k = KPI_DAILY.c
    exact = (k.segment == filters.segment) & (k.collector == filters.collector)
    company = (k.segment == "") & (k.collector == "") & k.metric.in_(sorted(COMPANY_WIDE))
    return (k.currency == filters.currency) & (exact | company)


def _prefer_scope(rows, filters: Filters, key) -> tuple[dict, set]:  # noqa: ANN001
    """One value per key, the chosen scope's row winning over the company-wide fallback; and
    the keys whose value is the fallback."""
    chosen: dict = {}
    exact: set = set()
    for row in rows:
        k = key(row)
        is_exact = row.segment == filters.segment and row.collector == filters.collector
        if is_exact or k not in exact:
            chosen[k] = row.value
            if is_exact:
                exact.add(k)
    return chosen, set(chosen) - exact


def read_figures(conn, filters: Filters) -> Figures:  # noqa: ANN001
    """Everything the page shows for `filters`: four queries, whatever the portfolio's size."""
    if filters.as_of is None:
        return Figures()
    k = KPI_DAILY.c
    scoped = _scoped(filters)
    day_rows = conn.execute(select(k.metric, k.breakdown, k.segment, k.collector, k.value)
                            .where(k.as_of == filters.as_of, scoped)).all()
    snapshot, fallback = _prefer_scope(day_rows, filters, lambda r: (r.metric, r.breakdown))

    trend_rows = conn.execute(
        select(k.as_of, k.metric, k.segment, k.collector, k.value)
        .where(k.as_of.between(filters.start, filters.as_of), k.breakdown == "", k.metric.in_(TREND_METRICS), scoped)
        .order_by(k.as_of)).all()
    trend: dict[str, list[tuple[dt.date, Decimal]]] = {}
    for (metric, day), value in _prefer_scope(trend_rows, filters, lambda r: (r.metric, r.as_of))[0].items():
        trend.setdefault(metric, []).append((day, value))
    for points in trend.values():
        points.sort()

    reminders = dict(conn.execute(
        select(k.breakdown, func.sum(k.value))
        .where(k.as_of.between(filters.start, filters.as_of), k.metric == "reminders_sent", k.breakdown != "",
               k.currency == filters.currency, k.segment == filters.segment, k.collector == filters.collector)
        .group_by(k.breakdown)).all())

    r = validation_reports.c
    reports = [ReportLink(row.as_of, row.source, row.source_file, bool(row.success), row.rows_read,
                          row.rows_quarantined)
               for row in conn.execute(
                   select(r.as_of, r.source, r.source_file, r.success, r.rows_read, r.rows_quarantined)
                   .where(r.as_of.between(filters.start, filters.as_of)).order_by(r.as_of.desc(), r.source))]
    return Figures(snapshot=snapshot, trend=trend, reminders_in_range={c: Decimal(v) for c, v in reminders.items()},
                   reports=reports, company_wide={metric for metric, _ in fallback})


def registered_report(conn, as_of: str, source: str) -> str | None:  # noqa: ANN001
    """The report path the pipeline registered for (as_of, source), else None. The dashboard
    serves only these: a request names a run and a source, never a path."""
    day = _date(as_of)
    if day is None or not source:
        return None
    r = validation_reports.c
    return conn.execute(select(r.report_path).where(r.as_of == day, r.source == source)).scalar()
