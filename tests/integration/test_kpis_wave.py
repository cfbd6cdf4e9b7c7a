"""The KPI task body on SQLite and PostgreSQL: a small portfolio whose figures are worked out by
hand, re-runs that change nothing, a backfill that sees the ledger as it stood, and the
migration that reshaped kpi_daily."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from alembic import command
from sqlalchemy import select, update

from ar_documents import ledger, line
from receivables.channels import outbox
from receivables.ledger.schema import CUSTOMER_COLUMNS, conform, empty_quarantine
from receivables.pipeline import kpis, wave
from receivables.warehouse.db import alembic_config, bulk_insert, make_engine, upgrade
from receivables.warehouse.schema import (
    collection_action_lines,
    collection_actions,
    dim_customer,
    dim_date,
    dispatch_outbox,
    disputes,
    fact_cash_forecast,
    fact_collection_actions,
    fact_receivables,
    kpi_daily,
)
from receivables.warehouse.store import ImportMeta, load_ledger, refresh_customers

AS_OF = dt.date(2025, 6, 30)
SENT_ON = dt.date(2025, 6, 10)
NOW = dt.datetime(2025, 6, 30, 6, 0, tzinfo=dt.timezone.utc)


def portfolio() -> tuple[pd.DataFrame, pd.DataFrame]:
    """30-day terms for everyone.
    C1 (PME, collector 'domestic'):
      FA-3 1000.00 of 2025-05-01 (due 2025-05-31), paid and lettered 2025-06-15;
      FA-1 1000.00 of 2025-05-11 (due 2025-06-10), 400.00 of it paid 2025-06-20: 600.00 open, 20 days late;
      FA-2 1200.00 of 2025-06-15 (due 2025-07-15), open.
    C2 (GE, no collector): FA-9 500.00 of 2025-06-01 (due 2025-07-01), open."""
    lines = ledger(
        line("VE", "1", "2025-05-01", "C1", "FA-3", debit=100000, let="B", let_date="2025-06-15"),
        line("BQ", "2", "2025-06-15", "C1", "VIR-2", credit=100000, let="B", let_date="2025-06-15"),
        line("VE", "3", "2025-05-11", "C1", "FA-1", debit=100000, let="A", let_date="2025-06-20"),
        line("BQ", "4", "2025-06-20", "C1", "VIR-4", credit=40000, let="A", let_date="2025-06-20"),
        line("VE", "5", "2025-06-15", "C1", "FA-2", debit=120000),
        line("VE", "6", "2025-06-01", "C2", "FA-9", debit=50000),
    )
    master = conform(pd.DataFrame({"customer_id": ["C1", "C2"], "name": ["Boulangerie Martin", "Grands Magasins"],
                                   "country": "FR", "language": "fr", "segment": ["PME", "GE"],
                                   "collector": ["domestic", ""]}), CUSTOMER_COLUMNS)
    return lines, master


def reminders() -> pd.DataFrame:
    """Two reminder_1 emails to C1 sent by the wave of 2025-06-10: A1 about FA-3 (paid 5 days
    later), A2 about FA-1 (only partly paid since)."""
    return pd.DataFrame({
        "action_key": ["A1", "A2"], "customer_id": "C1", "scenario": "standard", "step_id": "reminder_1",
        "offset_days": 7, "channel": "email", "template": "email/reminder_1", "tone": "firm",
        "invoice_ids": ["FA-3", "FA-1"], "amount_minor": [100000, 100000], "principal_minor": [100000, 100000],
        "interest_minor": pd.array([None, None], dtype="Int64"), "indemnity_minor": 0, "currency": "EUR",
        "language": "fr", "requires_approval": False, "legal_fees": False, "hold_reason": "",
        "send_at": pd.Timestamp("2025-06-10 07:00", tz="UTC")})


def seed(url: str) -> wave.WaveSettings:
    engine = make_engine(url)
    lines, master = portfolio()
    actions = reminders()
    action_lines = pd.DataFrame({
        "action_key": ["A1", "A2"], "customer_id": "C1", "invoice_id": ["FA-3", "FA-1"], "step_id": "reminder_1",
        "doc_date": pd.to_datetime(["2025-05-01", "2025-05-11"]), "due_date": pd.to_datetime(["2025-05-31", "2025-06-10"]),
        "original_minor": 100000, "open_minor": 100000, "days_overdue": [10, 0],
        "late_interest_minor": pd.array([None, None], dtype="Int64"), "indemnity_minor": 0})
    with engine.begin() as conn:
        load_ledger(conn, lines=lines, quarantined=empty_quarantine(), meta=ImportMeta(
            source="S", source_file="ledger.txt", sha256="k" * 64, format="fec", encoding="utf-8",
            rows_read=len(lines), as_of=AS_OF, imported_at=NOW))
        refresh_customers(conn, master)
        day = pd.Timestamp(SENT_ON)
        bulk_insert(conn, collection_actions, actions.assign(as_of=day))
        bulk_insert(conn, collection_action_lines, action_lines.assign(as_of=day))
        outbox.enqueue(conn, actions, SENT_ON, now=NOW)
        conn.execute(update(dispatch_outbox).values(state="sent", provider="file", sent_at=NOW))
        conn.execute(sa.insert(disputes).values(
            dispute_id="D1", customer_id="C1", invoice_id="FA-1", reason_code="price", status="open",
            opened_on=dt.date(2025, 6, 22), resolved_on=None, note="", imported_at=NOW))
    return wave.WaveSettings(warehouse_url=url, data_dir=Path("/nonexistent"))


def kpi_table(url: str, as_of: dt.date = AS_OF) -> dict:
    with make_engine(url).connect() as conn:
        rows = conn.execute(select(kpi_daily).where(kpi_daily.c.as_of == as_of)).all()
    return {(r.metric, r.segment, r.currency, r.collector, r.breakdown): Decimal(r.value) for r in rows}


def snapshot(url: str) -> dict:
    with make_engine(url).connect() as conn:
        return {t.name: sorted(tuple(r) for r in conn.execute(select(t)).all())
                for t in (kpi_daily, fact_receivables, fact_collection_actions, fact_cash_forecast, dim_customer,
                          dim_date)}


def test_the_kpis_of_a_small_portfolio_are_the_hand_worked_figures(warehouse_url, tmp_path):
    settings = seed(warehouse_url)
    settings.data_dir = tmp_path
    wave.compute_aging(settings, AS_OF)
    summary = kpis.compute_kpis(settings, AS_OF)
    value = kpi_table(warehouse_url)
    everyone, domestic = ("", "EUR", ""), ("", "EUR", "domestic")

    def get(metric, scope=everyone, breakdown=""):
        segment, currency, collector = scope
        return value[(metric, segment, currency, collector, breakdown)]

    # open: FA-1 600.00 (20 days late) and FA-2 1200.00 (C1), FA-9 500.00 (C2)
    assert get("ar_total_minor") == 230000 and get("ar_total_minor", domestic) == 180000
    assert get("overdue_ratio") == Decimal("0.2609")                 # 600 / 2300
    assert get("aged_balance_minor", breakdown="d1_30") == 60000
    # DSO: 2300.00 = June's 1700.00 (30 days) + 600.00 of May's 2000.00 (31 x 0.3 = 9.3 days)
    assert get("dso_countback_days") == Decimal("39.30")
    assert get("best_possible_dso_days") == Decimal("30.00")        # 1700.00 current, within June's sales
    assert get("add_days") == Decimal("9.30")
    # CEI: opening 2000.00 on 31 May, June sales 1700.00, closing 2300.00 of which 600.00 overdue
    assert get("cei_ratio") == Decimal("0.7000")                     # 1400 / 2000
    assert get("disputed_minor", domestic) == 60000 and get("disputed_count", domestic, "price") == 1
    # the reminders of 10 June: A1's FA-3 paid on 15 June (5 days), A2's FA-1 not fully paid
    assert get("paid_within_7d_ratio", domestic, "reminder_1") == Decimal("0.5000")
    assert get("paid_within_14d_ratio", ("PME", "EUR", "domestic"), "reminder_1") == Decimal("0.5000")
    assert get("reminders_sent", breakdown="email") == 0              # nothing went out on 30 June
    assert get("cash_forecast_minor", breakdown="2025-06-30") == 0    # not scored: no prediction
    # C2 has no collector: in ('GE', '') only
    assert {k[3] for k in value if k[1] == "GE"} == {""}
    assert summary["headline"]["EUR"]["cei_ratio"] == "0.7000" and summary["collectors"] == ["domestic"]
    with make_engine(warehouse_url).connect() as conn:
        facts = pd.read_sql(select(fact_receivables), conn)
        actions = pd.read_sql(select(fact_collection_actions), conn).set_index("action_key")
        customers = pd.read_sql(select(dim_customer), conn)
        days = pd.read_sql(select(dim_date).where(dim_date.c.day == AS_OF), conn)
    assert facts["total_minor"].sum() == 230000 and facts["disputed_minor"].sum() == 60000
    assert bool(actions.loc["A1", "paid_within_7d"]) and not bool(actions.loc["A2", "paid_within_14d"])
    assert "name" not in customers and set(customers["collector"]) == {"domestic", ""}
    assert days.iloc[0]["iso_week"] == "2025-W27" and bool(days.iloc[0]["is_business_day"])


def test_computing_the_kpis_twice_gives_the_same_rows_and_a_backfill_rewrites_its_own_day_only(
        warehouse_url, tmp_path):
    settings = seed(warehouse_url)
    settings.data_dir = tmp_path
    wave.compute_aging(settings, AS_OF)
    kpis.compute_kpis(settings, AS_OF)
    first = snapshot(warehouse_url)
    kpis.compute_kpis(settings, AS_OF)
    assert snapshot(warehouse_url) == first
    # a backfill of 10 June: the ledger as it stood then (FA-3 unpaid, 10 days late; FA-2 not invoiced)
    wave.compute_aging(settings, SENT_ON)
    kpis.compute_kpis(settings, SENT_ON)
    past = kpi_table(warehouse_url, SENT_ON)
    assert past[("ar_total_minor", "", "EUR", "", "")] == 250000              # FA-3, FA-1, FA-9
    assert past[("overdue_minor", "", "EUR", "", "")] == 100000               # FA-3 (FA-1 due that day)
    assert past[("reminders_sent", "", "EUR", "domestic", "email")] == 2
    assert ("paid_within_7d_ratio", "", "EUR", "", "reminder_1") not in past   # sent that very day
    assert snapshot(warehouse_url)["kpi_daily"] != first["kpi_daily"]
    assert [r for r in snapshot(warehouse_url)["kpi_daily"] if r[0] == AS_OF] == first["kpi_daily"]


def test_migration_0006_keeps_the_old_kpi_rows_as_all_collector_totals_and_downgrades(warehouse_url):
    engine = make_engine(warehouse_url)
    config = alembic_config(engine)
    command.downgrade(config, "0005")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO kpi_daily (as_of, metric, segment, currency, value) "
                             "VALUES (:d, 'dso_countback_days', '', 'EUR', 40.33)"), {"d": AS_OF})
    upgrade(engine)
    with engine.begin() as conn:
        assert [tuple(r) for r in conn.execute(select(kpi_daily.c.metric, kpi_daily.c.collector,
                                                      kpi_daily.c.breakdown, kpi_daily.c.value))] == [
            ("dso_countback_days", "", "", Decimal("40.3300"))]
        conn.execute(sa.insert(kpi_daily).values(as_of=AS_OF, metric="disputed_minor", segment="", currency="EUR",
                                                 collector="", breakdown="price", value=1))
    command.downgrade(config, "0005")   # the broken-down row cannot fit the old key: only totals go back
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT metric FROM kpi_daily")).scalars().all() == ["dso_countback_days"]
    upgrade(engine)


def test_reminders_sent_by_the_wave_are_counted_that_day_and_measured_two_weeks_later(warehouse_url, tmp_path,
                                                                                      demo_portfolio):
    from receivables.pipeline import dispatch

    settings = wave.WaveSettings(warehouse_url=warehouse_url, data_dir=tmp_path / "data",
                                 ledger_paths=[str(demo_portfolio["fec"])],
                                 customers_file=str(demo_portfolio["customers_csv"]))
    sent_day = dt.date(2025, 6, 13)
    for day in (sent_day, AS_OF):
        wave.load_ledger(settings, wave.validate_ledger(settings, wave.extract_ledger(settings, day)), now=NOW)
        wave.plan_collection_actions(settings, day, now=NOW)
        wave.compute_aging(settings, day)
        if day == sent_day:   # that day replayed as today: the emails go to the file outbox
            dispatch.prepare_dispatch(settings, dispatch.DispatchSettings(today=day), day, now=NOW, today=day)
            dispatch.send_emails(settings, dispatch.DispatchSettings(today=day), day, part=(0, 1), now=NOW)
        kpis.compute_kpis(settings, day)
    with make_engine(warehouse_url).connect() as conn:
        sent = pd.read_sql(select(dispatch_outbox).where(dispatch_outbox.c.as_of == sent_day,
                                                         dispatch_outbox.c.state == "sent"), conn)
        measured = pd.read_sql(select(fact_collection_actions).where(fact_collection_actions.c.as_of == AS_OF), conn)
    that_day, later = kpi_table(warehouse_url, sent_day), kpi_table(warehouse_url, AS_OF)
    emailed = sum(v for (metric, segment, _, collector, channel), v in that_day.items()
                  if (metric, segment, collector, channel) == ("reminders_sent", "", "", "email"))
    assert len(sent) > 0 and emailed == int((sent["channel"] == "email").sum())   # every currency's
    # 17 days later both windows are over: every email asking for money has its two flags
    emails = measured[(measured["channel"] == "email") & (measured["amount_minor"] > 0)]
    assert len(emails) == int((sent["channel"] == "email").sum() - (sent["step_id"] == "thank_you").sum())
    assert emails["paid_within_7d"].notna().all() and emails["paid_within_14d"].notna().all()
    assert (emails["paid_within_14d"].astype(bool) >= emails["paid_within_7d"].astype(bool)).all()
    eur = emails[emails["currency"] == "EUR"]
    for step, rows in eur.groupby("step_id"):
        share = Decimal(int(rows["paid_within_14d"].astype(bool).sum())) / Decimal(len(rows))
        assert later[("paid_within_14d_ratio", "", "EUR", "", step)] == share.quantize(Decimal("0.0001"))
    collectors = {k[3] for k in later if k[0] == "ar_total_minor"}
    assert collectors == {"", "domestic", "export", "key_accounts"}
