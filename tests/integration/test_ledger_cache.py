"""The receivable lines a wave's tasks share through the run folder: the same frame as the
warehouse gives, and never a stale one after the ledger is reloaded."""

from __future__ import annotations

import pandas as pd
from test_warehouse import SALE, meta_for

from receivables.ledger.schema import empty_quarantine
from receivables.pipeline.ledger_cache import receivable_lines
from receivables.warehouse.db import make_engine
from receivables.warehouse.store import load_ledger, read_receivable_lines


def load(engine, lines: pd.DataFrame, sha: str) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        load_ledger(conn, lines=lines, quarantined=empty_quarantine(), meta=meta_for("FY2025", sha * 64, len(lines)))


def from_warehouse(engine) -> pd.DataFrame:  # noqa: ANN001
    with engine.connect() as conn:
        return read_receivable_lines(conn)


def test_the_cached_lines_are_the_warehouse_lines_with_their_types(warehouse_url, tmp_path):
    engine = make_engine(warehouse_url)
    load(engine, SALE.assign(currency_amount_minor=pd.array([150000, None, None], dtype="Int64")), "a")
    first = receivable_lines(engine, tmp_path)
    again = receivable_lines(engine, tmp_path)          # from the file this time
    assert len(list(tmp_path.glob("receivable_lines.*.parquet"))) == 1
    pd.testing.assert_frame_equal(first, from_warehouse(engine))
    pd.testing.assert_frame_equal(again, from_warehouse(engine))


def test_a_reloaded_ledger_is_read_again_and_the_old_file_goes(warehouse_url, tmp_path):
    engine = make_engine(warehouse_url)
    load(engine, SALE, "a")
    before = receivable_lines(engine, tmp_path)
    load(engine, SALE.assign(debit_minor=SALE["debit_minor"].where(SALE["debit_minor"] == 0, 50000)), "b")
    after = receivable_lines(engine, tmp_path)
    assert before["debit_minor"].tolist() == [120000]
    assert after["debit_minor"].tolist() == [50000]
    assert len(list(tmp_path.glob("receivable_lines.*.parquet"))) == 1


def test_a_damaged_cache_file_is_read_from_the_warehouse_and_replaced(warehouse_url, tmp_path):
    engine = make_engine(warehouse_url)
    load(engine, SALE, "a")
    receivable_lines(engine, tmp_path)
    [cached] = tmp_path.glob("receivable_lines.*.parquet")
    cached.write_bytes(b"not parquet")
    pd.testing.assert_frame_equal(receivable_lines(engine, tmp_path), from_warehouse(engine))
    pd.testing.assert_frame_equal(pd.read_parquet(cached), from_warehouse(engine))
