"""Chart geometry for server-side SVG: the page needs no JavaScript and no CDN.

    >>> chart = column_chart([("not due", 194608754), ("1-30 days", 63421882)], colors="#2e7d4f",
    ...                      value_text=str, tick_text="{:,.0f}".format, description="aged balance")
    >>> [round(bar.height) for bar in chart.bars]
    [169, 55]
    >>> [tick.label for tick in chart.value_ticks]
    ['0', '50,000,000', '100,000,000', '150,000,000', '200,000,000']

Values are ints or Decimals, so amounts stay exact up to the label formatting; only the SVG
coordinates are floats. Scales are "nice" (steps of 1, 2, 2.5 or 5 times a power of ten) and
bar charts always include zero, so bar lengths compare honestly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

Number = int | Decimal
Format = Callable[[Decimal], str]

_NICE_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))
_CHAR_WIDTH = 6.2   # average width of an 11px sans-serif character, to size label margins


@dataclass(frozen=True)
class Tick:
    at: float          # the y of a value gridline (x for row charts), or a category's centre
    label: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    label: str         # the value, printed at the end of the bar
    label_x: float
    label_y: float
    anchor: str        # SVG text-anchor of the label
    title: str         # the tooltip


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Line:
    name: str
    color: str
    dash: str          # SVG stroke-dasharray, '' for a solid line
    path: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Chart:
    kind: str          # 'columns', 'rows' or 'lines'
    width: float
    height: float
    left: float        # the plot area
    top: float
    right: float
    bottom: float
    baseline: float    # where zero is (y for columns and lines, x for rows)
    value_ticks: tuple[Tick, ...]
    category_ticks: tuple[Tick, ...]
    bars: tuple[Bar, ...] = ()
    lines: tuple[Line, ...] = ()
    legend: tuple[tuple[str, str, str], ...] = ()   # (name, color, dash)
    description: str = ""
    empty: bool = False


def nice_scale(low: Number, high: Number, intervals: int = 4, whole: bool = False) -> tuple[Decimal, Decimal, Decimal]:
    """(bottom, top, step) of an axis covering [low, high] in about `intervals` nice steps;
    `whole` steps are whole numbers (an axis of counts has no 0.25 message)."""
    low, high = Decimal(low), Decimal(high)
    if high <= low:
        high = low + 1
    raw = (high - low) / intervals
    magnitude = Decimal(1).scaleb(raw.adjusted())
    steps = [magnitude * s for s in _NICE_STEPS]
    if whole:
        steps = [max(step, Decimal(1)) for step in steps if step == step.to_integral_value() or step < 1]
    step = next(step for step in steps if step >= raw)
    bottom = (low / step).to_integral_value(ROUND_FLOOR) * step
    top = (high / step).to_integral_value(ROUND_CEILING) * step
    return bottom, top, step


def _ticks(bottom: Decimal, top: Decimal, step: Decimal, position: Callable[[Decimal], float],
           text: Format) -> tuple[Tick, ...]:
    count = int((top - bottom) / step)
    return tuple(Tick(position(bottom + step * i), text(bottom + step * i)) for i in range(count + 1))


def _domain(values: Sequence[Number], domain: tuple[Number, Number] | None,
            include_zero: bool = True, whole: bool = False) -> tuple[Decimal, Decimal, Decimal]:
    if domain is not None:
        bottom, top = Decimal(domain[0]), Decimal(domain[1])
        return bottom, top, (top - bottom) / 4
    low, high = min(values), max(values)
    if include_zero:
        low, high = min(low, 0), max(high, 0)
    elif low == high:
        low, high = low - 1, high + 1
    return nice_scale(low, high, whole=whole)


def _empty(kind: str, width: float, height: float, description: str) -> Chart:
    return Chart(kind, width, height, 0, 0, width, height, height, (), (), description=description, empty=True)


def column_chart(items: Sequence[tuple[str, Number]], *, colors: str | Sequence[str], value_text: Format,
                 tick_text: Format, description: str, titles: Sequence[str] | None = None,
                 width: float = 400, height: float = 230) -> Chart:
    """Vertical bars, one per (category label, value)."""
    if not items:
        return _empty("columns", width, height, description)
    values = [Decimal(value) for _, value in items]
    bottom, top, step = _domain(values, None)
    left = max(48.0, 10 + _CHAR_WIDTH * max(len(tick_text(v)) for v in (bottom, top)))
    right, upper, lower = width - 8, 22.0, height - 34
    span = float(top - bottom)

    def y(value: Decimal) -> float:
        return upper + float(top - value) / span * (lower - upper)

    slot = (right - left) / len(items)
    bar_width = slot * 0.64
    zero = y(Decimal(0))
    bars = []
    for i, ((label, _), value) in enumerate(zip(items, values)):
        x = left + slot * i + (slot - bar_width) / 2
        y_end = y(value)
        color = colors if isinstance(colors, str) else colors[i % len(colors)]
        text = value_text(value)
        bars.append(Bar(x, min(zero, y_end), bar_width, abs(zero - y_end), color, text,
                        x + bar_width / 2, y_end - 5 if value >= 0 else y_end + 13, "middle",
                        titles[i] if titles else f"{label}: {text}"))
    # Labels wider than their slot would run into each other: then every other one is shown.
    every = 2 if max(len(label) for label, _ in items) * _CHAR_WIDTH + 6 > slot else 1
    categories = tuple(Tick(left + slot * (i + 0.5), label) for i, (label, _) in enumerate(items) if i % every == 0)
    return Chart("columns", width, height, left, upper, right, lower, zero,
                 _ticks(bottom, top, step, y, tick_text), categories, bars=tuple(bars), description=description)


def row_chart(rows: Sequence[tuple[str, Sequence[Number | None]]], series: Sequence[tuple[str, str]], *,
              value_text: Format, tick_text: Format, description: str,
              domain: tuple[Number, Number] | None = None, whole: bool = False, width: float = 400) -> Chart:
    """Horizontal bars grouped by row: `rows` are (label, one value per series, None if absent),
    `series` (name, color); `whole`: the values are counts."""
    present = [Decimal(v) for _, values in rows for v in values if v is not None]
    bar_height, gap = 15.0, 12.0
    group = bar_height * len(series) + gap
    height = 26 + group * max(len(rows), 1) + 22
    if not present:
        return _empty("rows", width, height, description)
    bottom, top, step = _domain(present, domain, whole=whole)
    left = min(190.0, max(70.0, 14 + _CHAR_WIDTH * max(len(label) for label, _ in rows)))
    right, upper, lower = width - 50, 10.0, height - 22
    span = float(top - bottom)

    def x(value: Decimal) -> float:
        return left + float(value - bottom) / span * (right - left)

    zero = x(Decimal(0))
    bars = []
    for r, (label, values) in enumerate(rows):
        for s, ((name, color), value) in enumerate(zip(series, values)):
            if value is None:
                continue
            value = Decimal(value)
            y = upper + gap / 2 + group * r + bar_height * s
            x_end = x(value)
            text = value_text(value)
            bars.append(Bar(min(zero, x_end), y + 1, abs(x_end - zero), bar_height - 2, color, text,
                            x_end + 4 if value >= 0 else x_end - 4, y + bar_height - 3,
                            "start" if value >= 0 else "end", f"{label}, {name}: {text}"))
    categories = tuple(Tick(upper + gap / 2 + group * r + bar_height * len(series) / 2, label)
                       for r, (label, _) in enumerate(rows))
    legend = tuple((name, color, "") for name, color in series) if len(series) > 1 else ()
    return Chart("rows", width, height, left, upper, right, lower, zero,
                 _ticks(bottom, top, step, x, tick_text), categories, bars=tuple(bars), legend=legend,
                 description=description)


def short_date(day: dt.date) -> str:
    return f"{day.day} {day:%b}"


def line_chart(series: Sequence[tuple[str, str, str, Sequence[tuple[dt.date, Number]]]], *, value_text: Format,
               tick_text: Format, description: str, include_zero: bool = True, whole: bool = False,
               width: float = 400, height: float = 230) -> Chart:
    """Lines over dates: `series` are (name, color, dash, [(date, value), ...]); `whole`: counts."""
    values = [Decimal(v) for *_, points in series for _, v in points]
    if not values:
        return _empty("lines", width, height, description)
    dates = sorted({day for *_, points in series for day, _ in points})
    bottom, top, step = _domain(values, None, include_zero, whole)
    left = max(44.0, 10 + _CHAR_WIDTH * max(len(tick_text(v)) for v in (bottom, top)))
    right, upper, lower = width - 20, 12.0, height - 30
    span_days = (dates[-1] - dates[0]).days
    span = float(top - bottom)

    def x(day: dt.date) -> float:
        if span_days == 0:
            return (left + right) / 2
        return left + (day - dates[0]).days / span_days * (right - left)

    def y(value: Decimal) -> float:
        return upper + float(top - value) / span * (lower - upper)

    lines = []
    for name, color, dash, points in series:
        placed = [Point(x(day), y(Decimal(v)), f"{name}, {day.isoformat()}: {value_text(Decimal(v))}")
                  for day, v in sorted(points)]
        path = " ".join(f"{'M' if i == 0 else 'L'}{p.x:.1f},{p.y:.1f}" for i, p in enumerate(placed))
        lines.append(Line(name, color, dash, path, tuple(placed)))
    shown = max(1, min(6, len(dates)))
    picks = sorted({round(i * (len(dates) - 1) / max(shown - 1, 1)) for i in range(shown)})
    categories = tuple(Tick(x(dates[i]), short_date(dates[i])) for i in picks)
    return Chart("lines", width, height, left, upper, right, lower, y(max(bottom, min(top, Decimal(0)))),
                 _ticks(bottom, top, step, y, tick_text), categories, lines=tuple(lines),
                 legend=tuple((name, color, dash) for name, color, dash, _ in series), description=description)
