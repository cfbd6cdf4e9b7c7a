"""Who a KPI row is about: all customers or one segment, all collectors or one, one currency.

    Customers: C1 PME worked by 'domestic', C2 GE worked by 'key_accounts', C3 PME with no collector.
    Open (EUR): C1 100.00, C2 300.00, C3 50.00.
    scope_totals(...)  ->  segment ''  collector ''              450.00
                           segment PME collector ''              150.00   (C1 + C3)
                           segment GE  collector ''              300.00
                           segment ''  collector domestic        100.00
                           segment ''  collector key_accounts    300.00
                           segment PME collector domestic        100.00
                           segment GE  collector key_accounts    300.00

A customer with no collector (C3) counts in the all-collectors rows only, one with no segment in
the all-segments rows only: '' always means "all", never "unknown". Additive measures are summed
per (segment, collector, currency) first, then spread over the four scopes each group belongs
to (`expand`): a handful of rows, whatever the number of invoices.

Values leave as Decimal (`amounts`, `ratios`, `days`): integer minor units and counts exactly,
ratios to 4 decimals, days to 2, rounded half up; everything before is int64 or float columns.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd

SCOPE = ["segment", "collector", "currency"]
KPI_COLUMNS = ["metric", "segment", "currency", "collector", "breakdown", "value"]
RATIO = Decimal("0.0001")
DAYS = Decimal("0.01")


def empty_kpis() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in KPI_COLUMNS})


def with_scope(frame: pd.DataFrame, customers: pd.DataFrame, on: str = "customer_id") -> pd.DataFrame:
    """`frame` with the `segment` and `collector` of its customer ('' when the master does not say)."""
    master = customers.drop_duplicates("customer_id").set_index("customer_id") if len(customers) else None
    out = frame.copy()
    for column in ("segment", "collector"):
        if master is None or column not in master:
            out[column] = ""
        else:
            out[column] = out[on].map(master[column]).fillna("").astype(str)
    return out


def expand(frame: pd.DataFrame) -> pd.DataFrame:
    """Each row once per scope it counts in: (its segment, its collector), ('', its collector),
    (its segment, ''), ('', '') - the first three only when it has that segment / collector."""
    has_segment = (frame["segment"] != "").to_numpy()
    has_collector = (frame["collector"] != "").to_numpy()
    parts = [frame.assign(segment="", collector=""),
             frame[has_segment].assign(collector=""),
             frame[has_collector].assign(segment=""),
             frame[has_segment & has_collector]]
    return pd.concat(parts, ignore_index=True)


def scope_totals(frame: pd.DataFrame, columns: list[str], by: list[str] | None = None) -> pd.DataFrame:
    """The sums of `columns` per scope (and `by`), from rows that carry segment, collector, currency."""
    keys = SCOPE + (by or [])
    grouped = frame.groupby(keys, sort=False, observed=True)[columns].sum().reset_index()
    return expand(grouped).groupby(keys, sort=True, observed=True)[columns].sum().reset_index()


def universe(*frames: pd.DataFrame) -> pd.DataFrame:
    """The distinct scopes (SCOPE columns) of already-expanded frames."""
    found = [f[SCOPE] for f in frames if len(f)]
    if not found:
        return pd.DataFrame(columns=SCOPE)
    return pd.concat(found, ignore_index=True).drop_duplicates().reset_index(drop=True)


def complete(frame: pd.DataFrame, scopes: pd.DataFrame, breakdowns: list[str], columns: list[str],
             by: str = "breakdown") -> pd.DataFrame:
    """`frame` (SCOPE + `by` + `columns`) with a zero row for every scope x breakdown it lacks:
    a count with nothing to count is 0 on the dashboard, not a gap."""
    grid = universe(scopes, frame).merge(pd.DataFrame({by: breakdowns}), how="cross")
    out = grid.merge(frame, on=SCOPE + [by], how="outer")
    out[columns] = out[columns].astype("float64").fillna(0).astype("int64")
    return out


def _decimal_ints(values: pd.Series) -> list[Decimal]:
    return [Decimal(int(v)) for v in values.to_numpy(dtype=np.int64)]


def _quotients(numerator: pd.Series, denominator: pd.Series, step: Decimal) -> list[Decimal]:
    return [(Decimal(int(n)) / Decimal(int(d))).quantize(step, rounding=ROUND_HALF_UP)
            for n, d in zip(numerator.to_numpy(dtype=np.int64), denominator.to_numpy(dtype=np.int64))]


def kpi_rows(metric: str, frame: pd.DataFrame, values: list[Decimal], breakdown: str | pd.Series = "") -> pd.DataFrame:
    """KPI_COLUMNS rows of `metric` for the scopes of `frame`."""
    return pd.DataFrame({
        "metric": metric,
        "segment": frame["segment"].to_numpy(dtype=object),
        "currency": frame["currency"].to_numpy(dtype=object),
        "collector": frame["collector"].to_numpy(dtype=object),
        "breakdown": breakdown.to_numpy(dtype=object) if isinstance(breakdown, pd.Series) else breakdown,
        "value": pd.Series(values, index=frame.index, dtype=object).to_numpy(),
    }, columns=KPI_COLUMNS)


def amounts(metric: str, frame: pd.DataFrame, column: str, breakdown: str | pd.Series = "") -> pd.DataFrame:
    """Integer amounts or counts, exact."""
    return kpi_rows(metric, frame, _decimal_ints(frame[column]), breakdown)


def ratios(metric: str, frame: pd.DataFrame, numerator: str, denominator: str, breakdown: str | pd.Series = "",
           *, zero_when_empty: bool = False) -> pd.DataFrame:
    """numerator / denominator to 4 decimals; a scope with a zero denominator gets no row (or 0)."""
    live = frame[frame[denominator] > 0]
    rows = kpi_rows(metric, live, _quotients(live[numerator], live[denominator], RATIO),
                    breakdown[live.index] if isinstance(breakdown, pd.Series) else breakdown)
    if zero_when_empty:
        empty = frame[frame[denominator] <= 0]
        rows = pd.concat([rows, kpi_rows(metric, empty, [Decimal("0.0000")] * len(empty),
                                         breakdown[empty.index] if isinstance(breakdown, pd.Series) else breakdown)],
                         ignore_index=True)
    return rows


def mean_days(metric: str, frame: pd.DataFrame, total_days: str, count: str) -> pd.DataFrame:
    """total_days / count to 2 decimals, for the scopes with a count."""
    live = frame[frame[count] > 0]
    return kpi_rows(metric, live, _quotients(live[total_days], live[count], DAYS))


def concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else empty_kpis()
