"""The wave's task bodies, without Airflow, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from receivables.ledger.schema import LedgerFormatError
from receivables.pipeline import kpis, wave
from receivables.validation.ledger import SystemicValidationError
from receivables.warehouse.db import make_engine
from receivables.warehouse.schema import aging_snapshots, kpi_daily, ledger_imports, ledger_lines, open_items, quarantine

AS_OF = dt.date(2025, 6, 30)
NOW = dt.datetime(2025, 6, 30, 6, 0, tzinfo=dt.timezone.utc)


def settings_for(url: str, tmp_path: Path, ledger: str, customers: str | None) -> wave.WaveSettings:
    return wave.WaveSettings(warehouse_url=url, data_dir=tmp_path / "data", ledger_paths=[ledger],
                             customers_file=customers)


def run_wave(settings: wave.WaveSettings, as_of: dt.date = AS_OF) -> tuple[dict, dict]:
    manifest = wave.validate_ledger(settings, wave.extract_ledger(settings, as_of))
    loaded = wave.load_ledger(settings, manifest, now=NOW)
    aged = wave.compute_aging(settings, as_of)
    kpis.compute_kpis(settings, as_of)
    return loaded, aged


def counts(url: str) -> dict:
    with make_engine(url).connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (ledger_imports, ledger_lines, quarantine, open_items, aging_snapshots, kpi_daily)}


def test_a_wave_loads_every_line_and_snapshots_the_aged_balance(warehouse_url, tmp_path, demo_portfolio):
    settings = settings_for(warehouse_url, tmp_path, str(demo_portfolio["fec"]), str(demo_portfolio["customers_csv"]))
    loaded, aged = run_wave(settings)
    state = counts(warehouse_url)
    assert state["ledger_lines"] + state["quarantine"] == demo_portfolio["lines"]
    assert state["quarantine"] == 0
    assert loaded["sources"][0]["status"] == "loaded"
    assert aged["open_items"] == state["open_items"] > 0
    assert state["aging_snapshots"] == aged["customers_with_balance"]
    with make_engine(warehouse_url).connect() as conn:
        metrics = {m for (m,) in conn.execute(select(kpi_daily.c.metric).where(kpi_daily.c.segment == ""))}
        bucket_total = conn.execute(select(func.sum(aging_snapshots.c.total_minor))).scalar_one()
        open_total = conn.execute(select(func.sum(open_items.c.open_minor))).scalar_one()
    assert {"dso_countback_days", "overdue_ratio", "ar_total_minor"} <= metrics
    assert bucket_total == open_total


def test_running_the_same_date_twice_gives_the_same_warehouse(warehouse_url, tmp_path, demo_portfolio):
    settings = settings_for(warehouse_url, tmp_path, str(demo_portfolio["fec"]), str(demo_portfolio["customers_csv"]))
    run_wave(settings)
    first = counts(warehouse_url)
    loaded, _ = run_wave(settings)
    assert loaded["sources"][0]["status"] == "unchanged"   # same SHA-256: not parsed again
    assert counts(warehouse_url) == first


def test_a_run_for_a_past_date_sees_the_ledger_as_it_stood_then(warehouse_url, tmp_path, demo_portfolio):
    settings = settings_for(warehouse_url, tmp_path, str(demo_portfolio["fec"]), str(demo_portfolio["customers_csv"]))
    _, today = run_wave(settings)
    past = wave.compute_aging(settings, dt.date(2025, 3, 31))
    with make_engine(warehouse_url).connect() as conn:
        dates = {d for (d,) in conn.execute(select(open_items.c.as_of).distinct())}
        late_docs = conn.execute(select(func.count()).select_from(open_items).where(
            open_items.c.as_of == dt.date(2025, 3, 31), open_items.c.doc_date > dt.date(2025, 3, 31))).scalar_one()
    assert dates == {dt.date(2025, 3, 31), AS_OF}
    assert late_docs == 0   # nothing invoiced after the date is open on it
    assert past["open_items"] > 0 and past != today


def test_bad_lines_are_quarantined_and_counted(warehouse_url, tmp_path, demo_portfolio):
    source = tmp_path / "123456789FEC20250630.txt"
    text = Path(demo_portfolio["fec"]).read_text(encoding="utf-8").split("\n")
    fields = text[5].split("\t")
    fields[11] = "12,3x"   # Debit of line 6 is not an amount
    text[5] = "\t".join(fields)
    source.write_text("\n".join(text), encoding="utf-8")
    settings = settings_for(warehouse_url, tmp_path, str(source), str(demo_portfolio["customers_csv"]))
    run_wave(settings)
    state = counts(warehouse_url)
    with make_engine(warehouse_url).connect() as conn:
        reasons = dict(conn.execute(select(quarantine.c.line_no, quarantine.c.reason_code)).all())
    assert reasons[6] == "bad_amount"
    assert set(reasons.values()) <= {"bad_amount", "entry_held_back", "unbalanced_entry"}
    assert state["ledger_lines"] + state["quarantine"] == demo_portfolio["lines"]


def test_parsed_lines_changed_between_validation_and_load_fail_the_load_and_leave_nothing(
        warehouse_url, tmp_path, demo_portfolio):
    # The load streams the parsed lines in slices; a run folder altered after validation (here a
    # line dropped) is caught after the last slice, inside the transaction, so nothing stays.
    import pandas as pd

    settings = settings_for(warehouse_url, tmp_path, str(demo_portfolio["fec"]), str(demo_portfolio["customers_csv"]))
    manifest = wave.validate_ledger(settings, wave.extract_ledger(settings, AS_OF))
    parsed = f"{manifest['sources'][0]['stem']}.parsed.parquet"
    pd.read_parquet(parsed).iloc[1:].to_parquet(parsed, index=False)
    with pytest.raises(RuntimeError, match=r"valid lines found, \d+ expected"):
        wave.load_ledger(settings, manifest, now=NOW)
    assert counts(warehouse_url)["ledger_lines"] == 0 and counts(warehouse_url)["ledger_imports"] == 0


def test_a_file_that_is_not_a_ledger_fails_and_loads_nothing(warehouse_url, tmp_path, shared_fixtures):
    camt = tmp_path / "statement.txt"
    shutil.copy(shared_fixtures / "camt-genkgo-camt" / "camt053.v2.minimal.xml", camt)
    settings = settings_for(warehouse_url, tmp_path, str(camt), None)
    with pytest.raises(LedgerFormatError, match=r"statement.txt, line 1"):
        run_wave(settings)
    assert counts(warehouse_url)["ledger_lines"] == 0


def test_a_file_mostly_wrong_is_systemic_and_loads_nothing(warehouse_url, tmp_path, demo_portfolio):
    source = tmp_path / "123456789FEC20250630.txt"
    lines = Path(demo_portfolio["fec"]).read_text(encoding="utf-8").split("\n")
    broken = [lines[0]] + [line.replace(",", "x", 1) if i % 5 == 0 else line for i, line in enumerate(lines[1:])]
    source.write_text("\n".join(broken), encoding="utf-8")
    settings = settings_for(warehouse_url, tmp_path, str(source), str(demo_portfolio["customers_csv"]))
    with pytest.raises(SystemicValidationError, match=r"123456789FEC20250630.txt, line \d+: .* nothing was loaded"):
        run_wave(settings)
    assert counts(warehouse_url)["ledger_lines"] == 0
