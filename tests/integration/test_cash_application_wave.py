"""The day's statement through the wave bodies: stored once, matched, applied, aged (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import func, select

from receivables.pipeline import cash, wave
from receivables.warehouse.db import make_engine
from receivables.warehouse.schema import bank_allocations, bank_exceptions, bank_lines, open_items

AS_OF = dt.date(2025, 6, 30)
NOW = dt.datetime(2025, 6, 30, 6, 0, tzinfo=dt.timezone.utc)


def run_day(settings: wave.WaveSettings) -> dict:
    manifest = wave.validate_ledger(settings, wave.extract_ledger(settings, AS_OF))
    wave.load_ledger(settings, manifest, now=NOW)
    bank = cash.validate_bank_lines(settings, cash.extract_bank_statements(settings, AS_OF), now=NOW)
    matched = cash.match_bank_lines(settings, AS_OF)
    applied = cash.apply_matches(settings, AS_OF)
    wave.compute_aging(settings, AS_OF)
    return {"bank": bank, "matched": matched, "applied": applied}


def test_todays_receipts_are_matched_and_their_invoices_no_longer_open(warehouse_url, tmp_path, demo_portfolio):
    settings = wave.WaveSettings(warehouse_url=warehouse_url, data_dir=tmp_path, ledger_paths=[str(demo_portfolio["fec"])],
                                 customers_file=str(demo_portfolio["customers_csv"]),
                                 bank_paths=[str(demo_portfolio["statement"])])
    result = run_day(settings)
    engine = make_engine(warehouse_url)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(bank_lines)).scalar_one()
        auto = pd.read_sql(select(bank_allocations).where(bank_allocations.c.status == "auto"), conn)
        reasons = set(conn.execute(select(bank_exceptions.c.reason_code)).scalars())
        still_open = set(conn.execute(select(open_items.c.invoice_id).where(open_items.c.as_of == AS_OF)).scalars())
    assert stored == demo_portfolio["statement_lines"]
    assert result["matched"]["pending_lines"] == stored   # the ledger stops the day before
    assert len(auto) > 0
    settled = auto[auto["rule"].isin(["reference", "amount_exact", "amount_combination"])]["invoice_id"]
    assert settled.size and not (set(settled) & still_open)   # nobody is reminded of an invoice paid today
    assert "not_a_receipt" in reasons                          # the bank fees
    export = pd.read_csv(result["applied"]["lettering_export"], dtype=str)
    assert len(export) > 0 and export["let_code"].str.startswith("RB").all()


def test_importing_the_same_statement_again_adds_nothing(warehouse_url, tmp_path, demo_portfolio):
    settings = wave.WaveSettings(warehouse_url=warehouse_url, data_dir=tmp_path, ledger_paths=[str(demo_portfolio["fec"])],
                                 customers_file=str(demo_portfolio["customers_csv"]),
                                 bank_paths=[str(demo_portfolio["statement"])])
    first = run_day(settings)
    again = run_day(settings)
    assert again["bank"]["files"][0]["new_lines"] == 0
    assert again["applied"]["allocations"] == first["applied"]["allocations"]
    with make_engine(warehouse_url).connect() as conn:
        assert conn.execute(select(func.count()).select_from(bank_lines)).scalar_one() == demo_portfolio["statement_lines"]
