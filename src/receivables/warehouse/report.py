"""A short human summary of what the warehouse holds for a business date (`make demo`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select

from receivables.ledger.open_items import BUCKETS
from receivables.money import format_minor
from receivables.warehouse.schema import (
    aging_snapshots,
    bank_allocations,
    bank_exceptions,
    collection_actions,
    collection_steps,
    kpi_daily,
    ledger_imports,
    ledger_lines,
    quarantine,
    risk_scores,
    scoring_models,
    validation_reports,
)

_BUCKET_LABELS = {"not_due": "not yet due", "d1_30": "1-30 days", "d31_60": "31-60 days",
                  "d61_90": "61-90 days", "d91_120": "91-120 days", "over_120": "over 120 days"}


def _kpi_lines(kpis: dict, currency: str) -> list[str]:
    """The day's headline KPIs of one currency (all segments), and the DSO of each collector."""
    def get(metric: str, collector: str = "", breakdown: str = ""):  # noqa: ANN202
        return kpis.get((metric, currency, collector, breakdown))

    out = []
    dso, ratio = get("dso_countback_days"), get("overdue_ratio")
    if dso is not None:
        best, add = get("best_possible_dso_days"), get("add_days")
        out.append(f"  DSO (countback): {float(dso):.1f} days; overdue ratio {float(ratio):.1%}"
                   + (f"; best possible DSO {float(best):.1f} days, ADD {float(add):.1f} days" if best is not None else ""))
    extra = []
    if get("cei_ratio") is not None:
        extra.append(f"CEI (30 days) {float(get('cei_ratio')):.1%}")
    if get("over_90_ratio") is not None:
        extra.append(f"over 90 days {float(get('over_90_ratio')):.1%}")
    if get("disputed_minor") is not None:
        extra.append(f"disputed {format_minor(int(get('disputed_minor')), currency)} {currency} "
                     f"({int(get('disputed_count'))} disputes)")
    if get("auto_match_ratio") is not None:
        extra.append(f"cash applied automatically {float(get('auto_match_ratio')):.1%}")
    if extra:
        out.append("  " + "; ".join(extra))
    collectors = sorted({k for (m, c, k, b) in kpis if m == "dso_countback_days" and c == currency and k})
    if collectors:
        out.append("  DSO per collector: " + ", ".join(
            f"{k} {float(get('dso_countback_days', k)):.1f} days" for k in collectors))
    sent = {b: int(v) for (m, c, k, b), v in kpis.items() if m == "reminders_sent" and c == currency and k == ""}
    if any(sent.values()):
        out.append("  reminders sent today: " + ", ".join(f"{n} {b}" for b, n in sorted(sent.items()) if n))
    return out


def demo_summary(engine: Engine, as_of: dt.date) -> str:
    with engine.connect() as conn:
        loaded = conn.execute(select(func.count()).select_from(ledger_lines)).scalar_one()
        quarantined = conn.execute(select(func.count()).select_from(quarantine)).scalar_one()
        imports = conn.execute(select(func.count()).select_from(ledger_imports)).scalar_one()
        buckets = [func.sum(aging_snapshots.c[f"{b}_minor"]) for b in BUCKETS]
        rows = conn.execute(select(aging_snapshots.c.currency, func.sum(aging_snapshots.c.open_items),
                                   func.count(), func.sum(aging_snapshots.c.overdue_minor), *buckets)
                            .where(aging_snapshots.c.as_of == as_of).group_by(aging_snapshots.c.currency)).all()
        kpis = dict(((m, c, k, b), v) for m, c, k, b, v in conn.execute(
            select(kpi_daily.c.metric, kpi_daily.c.currency, kpi_daily.c.collector, kpi_daily.c.breakdown,
                   kpi_daily.c.value).where(kpi_daily.c.as_of == as_of, kpi_daily.c.segment == "")))
        reports = conn.execute(select(validation_reports.c.source_file, validation_reports.c.report_path)
                               .where(validation_reports.c.as_of == as_of)).all()
    out = [f"Collection wave of {as_of}",
           f"  ledger: {loaded} lines loaded from {imports} import(s), {quarantined} quarantined"]
    if not rows:
        out.append("  no aged balance for this date: did the daily run succeed?")
    for currency, items, customers, overdue, *amounts in rows:
        out.append(f"  open items ({currency}): {items} for {customers} customers, "
                   f"{format_minor(int(overdue), currency)} {currency} overdue")
        for bucket, amount in zip(BUCKETS, amounts):
            out.append(f"    {_BUCKET_LABELS[bucket]:>14}: {format_minor(int(amount), currency):>16} {currency}")
        out += _kpi_lines(kpis, currency)
    with engine.connect() as conn:
        cash = conn.execute(select(bank_allocations.c.status, func.count(func.distinct(bank_allocations.c.bank_line_id)),
                                   func.sum(bank_allocations.c.amount_minor))
                            .where(bank_allocations.c.as_of == as_of).group_by(bank_allocations.c.status)).all()
        exceptions = conn.execute(select(func.count()).select_from(bank_exceptions)
                                  .where(bank_exceptions.c.as_of == as_of)).scalar_one()
    if cash or exceptions:
        by_status = {status: (lines, int(amount or 0)) for status, lines, amount in cash}
        auto_lines, auto_amount = by_status.get("auto", (0, 0))
        out.append(f"  cash applied: {auto_lines} bank lines matched automatically ({format_minor(auto_amount, 'EUR')} EUR), "
                   f"{by_status.get('suggested', (0, 0))[0]} awaiting review, {exceptions} exceptions")
    with engine.connect() as conn:
        model = conn.execute(select(scoring_models.c.kind, scoring_models.c.reason, scoring_models.c.auc,
                                    scoring_models.c.mae_days).where(scoring_models.c.as_of == as_of)).one_or_none()
        classes = dict(conn.execute(select(risk_scores.c.risk_class, func.count()).where(
            risk_scores.c.as_of == as_of).group_by(risk_scores.c.risk_class)).all())
    if model is not None:
        how = (f"gradient boosting (AUC {model.auc:.3f} on the newest invoices" if model.kind == "gbm" and model.auc
               else f"rules ({model.reason}")
        how += f", expected dates within {model.mae_days:.1f} days on average)" if model.mae_days is not None else ")"
        out.append(f"  risk: {how}: " + ", ".join(f"{classes.get(c, 0)} {c}" for c in ("low", "medium", "high", "critical")))
    with engine.connect() as conn:
        channels = dict(conn.execute(select(collection_actions.c.channel, func.count()).where(
            collection_actions.c.as_of == as_of).group_by(collection_actions.c.channel)).all())
        approval = conn.execute(select(func.count()).select_from(collection_actions).where(
            collection_actions.c.as_of == as_of, collection_actions.c.requires_approval)).scalar_one()
        held = dict(conn.execute(select(collection_steps.c.reason, func.count(func.distinct(collection_steps.c.invoice_id)))
                                 .where(collection_steps.c.as_of == as_of, collection_steps.c.outcome == "held")
                                 .group_by(collection_steps.c.reason)).all())
    if channels:
        out.append(f"  collection plan: {sum(channels.values())} messages ("
                   + ", ".join(f"{n} {c}" for c, n in sorted(channels.items())) + f"), {approval} awaiting approval; "
                   + "invoices left alone: " + (", ".join(f"{n} {r.replace('_', ' ')}" for r, n in sorted(held.items()))
                                                or "none"))
    out.append("Where to look next:")
    for source_file, path in reports:
        out.append(f"  validation report of {source_file}: {path}")
    out.append("  quarantined lines and their reasons: warehouse table 'quarantine'")
    out.append("  matches to review and unmatched receipts: tables 'bank_allocations' (status suggested), "
               "'bank_exceptions'; lettering export in .data/runs/<date>/bank/lettering_export.csv")
    out.append("  risk per customer with its drivers, payment predictions: tables 'risk_scores', "
               "'invoice_predictions', 'payer_profiles'")
    out.append("  today's messages: table 'collection_actions' (why others wait: 'collection_steps'); to read them: "
               "receivables plan ... --preview DIR (README: collection plan)")
    out.append("  the KPIs per segment, collector and currency: table 'kpi_daily'; for BI tools: 'fact_receivables', "
               "'fact_collection_actions', 'fact_cash_forecast', 'dim_customer', 'dim_date'")
    out.append("  the run in the Airflow UI: make airflow, then http://localhost:8080 (README: logging in)")
    return "\n".join(out)
