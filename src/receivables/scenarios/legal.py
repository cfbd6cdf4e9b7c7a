"""Legal late-payment amounts, exact: interest per day overdue and the fixed recovery indemnity.

    rules = load_rules("FR")                                  # include/legal/FR.yaml
    late_interest(Money.parse("1000.00", "EUR"), due=date(2025, 5, 31), as_of=date(2025, 7, 15), rules=rules)
    # 30 days of June at 3.15 + 10 = 13.15 %, 15 days of July at 2.15 + 10 = 12.15 %:
    # 1000 x (30 x 13.15 + 15 x 12.15) / 100 / 365 = 10.80822 + 4.99315 = 15.80 EUR
    recovery_indemnity(rules)                                 # Money 40.00 EUR, once per late invoice

France (Code de commerce L441-10, D441-5): the reference rate is the ECB's main refinancing
rate in force on 1 January for the first half-year and on 1 July for the second, plus 10 points;
interest runs from the day after the due date to `as_of` included, actual days / 365, on the
amount still unpaid; between businesses a 40 EUR recovery indemnity is owed once per late
invoice. The rates live in `include/legal/<country>.yaml`, updated by finance each half-year; a
day past the last half-year listed is an error that names the file, never a guess.

Amounts: `late_interest` takes and returns `Money` (Decimal, one rounding at the end, half up);
`late_interest_minor` does the same for whole columns in integer minor units (exact integer
arithmetic: sum of amount x basis points x days, divided once).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from receivables.money import Money

LEGAL_DIR = Path(__file__).resolve().parents[3] / "include" / "legal"


class LegalRulesError(ValueError):
    pass


@dataclass(frozen=True)
class LegalRules:
    source: str                          # the file, for errors
    country: str
    margin: Decimal                      # points added to the reference rate
    day_count: int
    fixed_indemnity: Money
    indemnity_b2b_only: bool
    periods: tuple[tuple[dt.date, Decimal], ...]   # (half-year start, reference rate %), sorted

    def rate_on(self, day: dt.date) -> Decimal:
        """The annual late-interest rate in percent applying on `day` (reference + margin)."""
        _, rate = self.periods[self._period_index(day)]
        return rate + self.margin

    def _period_index(self, day: dt.date) -> int:
        starts = [s for s, _ in self.periods]
        k = int(np.searchsorted(np.array(starts, dtype="datetime64[D]"), np.datetime64(day, "D"), side="right")) - 1
        if k < 0 or day >= _half_year_after(starts[-1]):
            raise LegalRulesError(f"{self.source}: no reference rate for {day.isoformat()} (the table covers "
                                  f"{starts[0].isoformat()} to {(_half_year_after(starts[-1]) - dt.timedelta(days=1)).isoformat()})")
        return k


def _half_year_after(start: dt.date) -> dt.date:
    return dt.date(start.year + (start.month == 7), 1 if start.month == 7 else 7, 1)


def _decimal(text, where: str) -> Decimal:  # noqa: ANN001
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise LegalRulesError(f"{where}: not a decimal number: {text!r}") from None
    if not value.is_finite():
        raise LegalRulesError(f"{where}: not a decimal number: {text!r}")
    return value


def load_rules(country: str, folder: Path = LEGAL_DIR) -> LegalRules:
    import yaml

    path = Path(folder) / f"{country.upper()}.yaml"
    if not path.exists():
        raise LegalRulesError(f"{path.name}: no late-payment rules for country {country!r} in {folder}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise LegalRulesError(f"{path.name}, line {mark.line + 1 if mark else '?'}: not valid YAML") from None
    known = {"country", "margin_points", "day_count", "fixed_indemnity", "indemnity_currency",
             "indemnity_b2b_only", "reference_rates"}
    unknown = set(data or {}) - known
    if not isinstance(data, dict) or unknown or "reference_rates" not in data:
        raise LegalRulesError(f"{path.name}: expected the keys {sorted(known)}"
                              + (f", unknown {sorted(unknown)}" if unknown else ""))
    periods = []
    for start, rate in sorted((data["reference_rates"] or {}).items()):
        if not isinstance(start, dt.date) or (start.month, start.day) not in ((1, 1), (7, 1)):
            raise LegalRulesError(f"{path.name}, reference_rates: {start!r} is not a half-year start (YYYY-01-01 or YYYY-07-01)")
        periods.append((start, _decimal(rate, f"{path.name}, reference_rates {start}")))
    if not periods:
        raise LegalRulesError(f"{path.name}: reference_rates is empty")
    for (a, _), (b, _) in zip(periods, periods[1:]):
        if _half_year_after(a) != b:
            raise LegalRulesError(f"{path.name}, reference_rates: {_half_year_after(a)} is missing")
    return LegalRules(source=path.name, country=str(data.get("country", country)).upper(),
                      margin=_decimal(data.get("margin_points", "0"), f"{path.name}, margin_points"),
                      day_count=int(data.get("day_count", 365)),
                      fixed_indemnity=Money(_decimal(data.get("fixed_indemnity", "0"), f"{path.name}, fixed_indemnity"),
                                            str(data.get("indemnity_currency", "EUR"))),
                      indemnity_b2b_only=bool(data.get("indemnity_b2b_only", True)), periods=tuple(periods))


def _day_counts(rules: LegalRules, due: dt.date, as_of: dt.date) -> list[tuple[int, Decimal]]:
    """(days overdue in the period, rate %) per half-year from the day after `due` to `as_of`."""
    first = due + dt.timedelta(days=1)
    if as_of < first:
        return []
    out = []
    k = rules._period_index(first)
    rules._period_index(as_of)   # the table must cover the whole span
    day = first
    while day <= as_of:
        start, rate = rules.periods[k]
        end = min(as_of, _half_year_after(start) - dt.timedelta(days=1))
        out.append(((end - day).days + 1, rate + rules.margin))
        day, k = end + dt.timedelta(days=1), k + 1
    return out


def late_interest(amount: Money, *, due: dt.date, as_of: dt.date, rules: LegalRules) -> Money:
    """Interest owed on `amount` unpaid since `due`, up to `as_of` included (0 when not late)."""
    total = sum((amount.amount * rate * days for days, rate in _day_counts(rules, due, as_of)), Decimal(0))
    return Money(total / (Decimal(100) * rules.day_count), amount.currency)


def late_interest_minor(open_minor: np.ndarray, due: np.ndarray, as_of: dt.date, rules: LegalRules) -> np.ndarray:
    """`late_interest` for whole columns: int64 minor units, rounded half up once per invoice.

    Rates are whole basis points (two decimals of a percent); the sum amount x bp x days is exact
    in Python integers (object arrays), then divided once by 10,000 x day_count."""
    amounts = np.asarray(open_minor, dtype="int64")
    due_days = np.asarray(due, dtype="datetime64[D]")
    end = np.datetime64(as_of, "D")
    numerator = np.zeros(amounts.size, dtype=object)
    if amounts.size == 0:
        return amounts
    first_overdue = due_days + np.timedelta64(1, "D")
    late = first_overdue <= end
    if late.any():
        rules._period_index(as_of)
        rules._period_index(first_overdue[late].min().astype(dt.date))
    for start, rate in rules.periods:
        p_start = np.datetime64(start, "D")
        p_end = np.datetime64(_half_year_after(start), "D") - np.timedelta64(1, "D")
        lo = np.maximum(first_overdue, p_start)
        hi = np.minimum(end, p_end)
        days = np.maximum((hi - lo).astype("int64") + 1, 0)
        bp = int(((rate + rules.margin) * 100).to_integral_value())
        if (rate + rules.margin) * 100 != bp:
            raise LegalRulesError(f"{rules.source}: rate {rate + rules.margin} % is finer than a basis point")
        numerator = numerator + amounts.astype(object) * bp * days.astype(object)
    denominator = 10_000 * rules.day_count
    # half up, away from zero for a negative amount: sign x floor((2|n| + d) / 2d), elementwise
    rounded = (2 * np.abs(numerator) + denominator) // (2 * denominator)
    return (np.sign(amounts) * rounded).astype("int64")


def recovery_indemnity(rules: LegalRules, *, b2b: bool = True) -> Money:
    """The fixed recovery indemnity owed once per late invoice (between businesses in France)."""
    if rules.indemnity_b2b_only and not b2b:
        return Money(Decimal(0), rules.fixed_indemnity.currency)
    return rules.fixed_indemnity


__all__ = ["LegalRules", "LegalRulesError", "late_interest", "late_interest_minor", "load_rules",
           "recovery_indemnity"]
