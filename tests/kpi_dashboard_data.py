"""A small KPI history for the dashboard tests: three business days, two segments, one collector.

The rows follow the KPI contract (kpi_daily keyed by as_of, metric, segment, currency,
collector, breakdown; migration 0006).

    ar_total_minor, EUR, all segments: 5,834,123.45 EUR on 2025-06-26, then +12,345.67 EUR a day
    PME holds 40 % of it (rounded down to the cent), GE the rest
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import insert

from receivables.warehouse.schema import kpi_daily, validation_reports

DATES = (dt.date(2025, 6, 26), dt.date(2025, 6, 27), dt.date(2025, 6, 30))
SEGMENTS = ("PME", "GE")
COLLECTOR = "claire.dubois"
BUCKET_SHARES = {"not_due": 40, "d1_30": 22, "d31_60": 12, "d61_90": 8, "d91_120": 6, "over_120": 12}
STEPS = {"reminder_1": (Decimal("0.4200"), Decimal("0.6100")), "call": (Decimal("0.5500"), Decimal("0.7300")),
         "formal_notice": (Decimal("0.3100"), Decimal("0.4400"))}

def ar_total(day_index: int, segment: str) -> int:
    total = 583_412_345 + 1_234_567 * day_index
    pme = total * 40 // 100
    return {"": total, "PME": pme, "GE": total - pme}[segment]


def _scope_rows(as_of: dt.date, i: int, segment: str, collector: str, currency: str = "EUR") -> list[dict]:
    total = ar_total(i, segment) if not collector else ar_total(i, "") // 3
    if currency != "EUR":
        total = 9_876_500
    buckets = {b: total * share // 100 for b, share in BUCKET_SHARES.items()}
    buckets["not_due"] += total - sum(buckets.values())
    overdue = total - buckets["not_due"]
    lift = {"": Decimal(0), "PME": Decimal("6.5"), "GE": Decimal("-3.5")}[segment] + (Decimal(2) if collector else 0)
    dso = Decimal("62.4") + Decimal("1.3") * i + lift
    best = Decimal("28.1") + Decimal("0.2") * i
    values: list[tuple[str, str, Decimal | int]] = [
        ("ar_total_minor", "", total), ("overdue_minor", "", overdue),
        ("overdue_ratio", "", Decimal(overdue) / total), ("over_90_ratio", "", Decimal(18) / 100),
        ("open_items", "", 412 + i), ("dso_countback_days", "", dso), ("best_possible_dso_days", "", best),
        ("add_days", "", dso - best), ("cei_ratio", "", Decimal("0.7800") - Decimal("0.0100") * i),
        ("disputed_minor", "", 8_765_400), ("disputed_count", "", 6 + i), ("dispute_resolution_days", "", Decimal("12.5")),
        ("promise_kept_ratio", "", Decimal("0.6400")), ("call_list_size", "", 25 - i),
        *(("aged_balance_minor", bucket, amount) for bucket, amount in buckets.items()),
        *(("reminders_sent", channel, n + i) for channel, n in (("email", 120), ("sms", 35), ("letter", 9), ("call", 14))),
        *(("paid_within_7d_ratio", step, r7) for step, (r7, _) in STEPS.items()),
        *(("paid_within_14d_ratio", step, r14) for step, (_, r14) in STEPS.items()),
        *(("cash_forecast_minor", (as_of + dt.timedelta(days=7 * w - as_of.weekday())).isoformat(),
           (total // 10) - w * 1_000_000) for w in range(1, 9)),
    ]
    if not segment and not collector:   # bank lines have no segment
        values += [("auto_match_ratio", "", Decimal("0.9100") + Decimal("0.0100") * i),
                   ("unmatched_bank_lines", "", 7 - i)]
    return [{"as_of": as_of, "metric": metric, "segment": segment, "currency": currency, "collector": collector,
             "breakdown": breakdown, "value": Decimal(value)} for metric, breakdown, value in values]


def kpi_rows() -> list[dict]:
    rows = []
    for i, as_of in enumerate(DATES):
        for segment in ("", *SEGMENTS):
            rows += _scope_rows(as_of, i, segment, "")
        rows += _scope_rows(as_of, i, "", COLLECTOR)
    rows += _scope_rows(DATES[-1], 2, "", "", currency="USD")
    return rows


def seed_kpis(engine, report_dir=None) -> list[dict]:  # noqa: ANN001
    """Write the sample history (and, with `report_dir`, one validation report per day)."""
    rows = kpi_rows()
    with engine.begin() as conn:
        conn.execute(insert(kpi_daily), rows)
        if report_dir is not None:
            reports = []
            for as_of in DATES:
                path = report_dir / f"{as_of.isoformat()}" / "123456789FEC.validation.html"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"<!doctype html><title>Validation</title><h1>Validation of {as_of}</h1>",
                                encoding="utf-8")
                reports.append({"as_of": as_of, "source": "fec", "source_file": "123456789FEC.txt",
                                "success": as_of != DATES[1], "rows_read": 22099,
                                "rows_valid": 22099 if as_of != DATES[1] else 22090,
                                "rows_quarantined": 0 if as_of != DATES[1] else 9, "report_path": str(path)})
            conn.execute(insert(validation_reports), reports)
    return rows
