"""The warehouse on SQLite and PostgreSQL: migrations, atomic idempotent loads, snapshots."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from receivables.ledger.fec import read_fec
from receivables.ledger.schema import LINE_COLUMNS, conform, empty_quarantine
from receivables.warehouse.db import bulk_insert, current_revision, make_engine, upgrade
from receivables.warehouse.schema import customers, ledger_imports, ledger_lines, metadata, open_items, quarantine
from receivables.warehouse.store import (
    ImportMeta,
    load_ledger,
    read_customers,
    read_receivable_lines,
    refresh_customers,
    replace_snapshot,
)

NOW = dt.datetime(2025, 7, 1, 6, 0, tzinfo=dt.timezone.utc)


def meta_for(source: str, sha: str, rows: int) -> ImportMeta:
    return ImportMeta(source=source, source_file=f"{source}.txt", sha256=sha, format="fec", encoding="utf-8",
                      rows_read=rows, as_of=dt.date(2025, 6, 30), imported_at=NOW)


def invoice_lines(*rows) -> pd.DataFrame:
    """(line_no, entry, account, customer, piece, debit_cents, credit_cents, let_code, let_date)"""
    return conform(pd.DataFrame([{
        "source_file": "ledger.txt", "line_no": n, "journal_code": "VE", "journal_lib": "Ventes", "entry_num": e,
        "entry_date": pd.Timestamp("2025-05-02"), "account": acc, "account_label": "", "aux_account": cust,
        "aux_label": "Boulangerie Martin" if cust else "", "piece_ref": piece, "piece_date": pd.Timestamp("2025-05-02"),
        "label": f"Facture {piece}", "debit_minor": d, "credit_minor": c, "let_code": let,
        "let_date": pd.Timestamp(let_date) if let_date else pd.NaT, "currency": "EUR",
    } for n, e, acc, cust, piece, d, c, let, let_date in rows]), LINE_COLUMNS)


SALE = invoice_lines(
    (2, "1", "411000", "C001", "FA-1", 120000, 0, "", None),
    (3, "1", "706000", "", "FA-1", 0, 100000, "", None),
    (4, "1", "445710", "", "FA-1", 0, 20000, "", None),
)


def test_migrations_create_exactly_the_schema_the_code_declares(warehouse_url):
    engine = make_engine(warehouse_url)
    upgrade(engine)   # a second upgrade is a no-op
    assert current_revision(engine) == "0006"
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_bulk_insert_round_trips_dates_nulls_and_large_amounts(warehouse_url):
    engine = make_engine(warehouse_url)
    lines = SALE.copy()
    lines.loc[0, "debit_minor"] = 9_999_999_999_999  # 99,999,999,999.99 EUR survives exactly
    lines.loc[0, "currency_amount_minor"] = 150000
    lines.loc[0, "currency_code"] = "GBP"
    lines.loc[0, "let_date"] = pd.Timestamp("2025-06-15")
    with engine.begin() as conn:
        bulk_insert(conn, ledger_lines, lines.assign(source="s", import_id=1))
    with engine.connect() as conn:
        back = read_receivable_lines(conn)
    assert back["debit_minor"].tolist() == [9_999_999_999_999]
    assert back["currency_amount_minor"].tolist() == [150000]
    assert back["let_date"].tolist() == [pd.Timestamp("2025-06-15")]
    assert back["piece_date"].tolist() == [pd.Timestamp("2025-05-02")]
    assert back["due_date"].isna().all()


def test_importing_the_same_file_twice_adds_nothing(warehouse_url):
    engine = make_engine(warehouse_url)
    for _ in range(2):
        with engine.begin() as conn:
            load_ledger(conn, lines=SALE, quarantined=empty_quarantine(), meta=meta_for("S1", "a" * 64, 3))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ledger_lines)).scalar_one() == 3
        assert conn.execute(select(func.count()).select_from(ledger_imports)).scalar_one() == 1


def test_a_new_version_of_a_source_replaces_its_lines_and_keeps_other_sources(warehouse_url):
    engine = make_engine(warehouse_url)
    with engine.begin() as conn:
        load_ledger(conn, lines=SALE, quarantined=empty_quarantine(), meta=meta_for("FY2024", "a" * 64, 3))
        load_ledger(conn, lines=SALE, quarantined=empty_quarantine(), meta=meta_for("FY2025", "b" * 64, 3))
        load_ledger(conn, lines=SALE.iloc[:1].assign(debit_minor=50000), quarantined=empty_quarantine(),
                    meta=meta_for("FY2025", "c" * 64, 1))
    with engine.connect() as conn:
        per_source = dict(conn.execute(select(ledger_lines.c.source, func.count()).group_by(ledger_lines.c.source)).all())
    assert per_source == {"FY2024": 3, "FY2025": 1}


def test_a_load_that_fails_midway_leaves_nothing_behind(warehouse_url):
    engine = make_engine(warehouse_url)
    broken = SALE.copy()
    broken["journal_code"] = broken["journal_code"].astype(object)
    broken.loc[2, "journal_code"] = None   # NOT NULL violated on the third line, after two were written
    with pytest.raises(Exception):
        with engine.begin() as conn:
            load_ledger(conn, lines=broken, quarantined=empty_quarantine(), meta=meta_for("S1", "d" * 64, 3))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ledger_lines)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(ledger_imports)).scalar_one() == 0


def test_a_ledger_streamed_in_slices_loads_every_line_and_counts_them_in_its_import(warehouse_url):
    # A 10M-line ledger is loaded from its Parquet file slice by slice, never held whole.
    engine = make_engine(warehouse_url)
    with engine.begin() as conn:
        result = load_ledger(conn, lines=(SALE.iloc[i:i + 2] for i in range(0, 3, 2)), quarantined=empty_quarantine(),
                             meta=meta_for("S1", "f" * 64, 3))
    assert result.rows_loaded == 3
    with engine.connect() as conn:
        assert conn.execute(select(ledger_imports.c.rows_loaded)).scalar_one() == 3
        assert sorted(conn.execute(select(ledger_lines.c.line_no)).scalars()) == [2, 3, 4]


def test_a_streamed_load_whose_last_slice_fails_leaves_nothing_behind(warehouse_url):
    engine = make_engine(warehouse_url)
    broken = SALE.iloc[2:].copy()
    broken["journal_code"] = broken["journal_code"].astype(object)
    broken.loc[:, "journal_code"] = None
    with pytest.raises(Exception):
        with engine.begin() as conn:
            load_ledger(conn, lines=iter([SALE.iloc[:2], broken]), quarantined=empty_quarantine(),
                        meta=meta_for("S1", "g" * 64, 3))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ledger_lines)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(ledger_imports)).scalar_one() == 0


def test_quarantined_rows_are_kept_with_their_import(warehouse_url, shared_fixtures, tmp_path):
    engine = make_engine(warehouse_url)
    source = tmp_path / "bad.txt"
    good = (shared_fixtures / "fec-tryton-account-fr" / "FEC.csv").read_text(encoding="utf-8")
    source.write_text(good.replace("5,00", "5,0x", 1), encoding="utf-8")
    read = read_fec(source)
    with engine.begin() as conn:
        load_ledger(conn, lines=read.lines, quarantined=read.quarantine, meta=meta_for("bad", "e" * 64, read.rows_read))
    with engine.connect() as conn:
        rows = conn.execute(select(quarantine.c.line_no, quarantine.c.field, quarantine.c.reason_code)).all()
        loaded = conn.execute(select(func.count()).select_from(ledger_lines)).scalar_one()
    assert [tuple(r) for r in rows] == [(2, "Credit", "bad_amount")]   # Deferral 797, credit "5,0x"
    assert loaded + len(rows) == read.rows_read == 4


def test_customers_combine_the_master_and_accounts_seen_only_in_the_ledger(warehouse_url):
    engine = make_engine(warehouse_url)
    other = invoice_lines((5, "2", "411000", "C002", "FA-2", 1000, 0, "", None),
                          (6, "2", "706000", "", "FA-2", 0, 1000, "", None))
    master = pd.DataFrame([{"customer_id": "C001", "name": "Boulangerie Martin", "country": "FR", "language": "fr",
                            "email": "compta@martin.example", "phone": "+33102030405", "address": "1 rue Haute, 75001 Paris",
                            "segment": "TPE", "strategic": False, "payment_terms_days": 45, "opt_out_channels": ""}])
    master["payment_terms_days"] = master["payment_terms_days"].astype("Int64")
    with engine.begin() as conn:
        load_ledger(conn, lines=pd.concat([SALE, other], ignore_index=True), quarantined=empty_quarantine(),
                    meta=meta_for("S", "f" * 64, 5))
        assert refresh_customers(conn, master) == 2
        assert refresh_customers(conn, None) == 2   # the master stays when a run has none
    with engine.connect() as conn:
        found = read_customers(conn).set_index("customer_id")
        origins = dict(conn.execute(select(customers.c.customer_id, customers.c.origin)).all())
    assert found.loc["C001", "payment_terms_days"] == 45
    assert pd.isna(found.loc["C002", "payment_terms_days"])
    assert origins == {"C001": "master", "C002": "ledger"}


def test_replacing_a_snapshot_twice_gives_the_same_rows(warehouse_url):
    from receivables.kpis.aging import aging
    from receivables.ledger.open_items import open_items as rebuild

    engine = make_engine(warehouse_url)
    empty = conform(pd.DataFrame(columns=["customer_id"]), {"customer_id": "object", "payment_terms_days": "Int64",
                                                            "segment": "object"})
    items = rebuild(SALE, empty, dt.date(2025, 6, 30))
    for _ in range(2):
        with engine.begin() as conn:
            replace_snapshot(conn, dt.date(2025, 6, 30), items=items, aging=aging(items))
    with engine.connect() as conn:
        rows = conn.execute(select(open_items.c.invoice_id, open_items.c.open_minor, open_items.c.days_overdue,
                                   open_items.c.bucket)).all()
    # FA-1 of 2 May, 30 days terms: due 1 June, 29 days overdue on 30 June.
    assert [tuple(r) for r in rows] == [("FA-1", 120000, 29, "d1_30")]
