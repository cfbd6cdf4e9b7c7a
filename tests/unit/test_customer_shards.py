"""Customer shards: every customer in exactly one shard, the same one in every process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from receivables.shards import in_shard, only, shard_list, shard_of

CUSTOMERS = pd.Series([f"C{i:05d}" for i in range(20_000)] + ["411BOULANGERIE", "", "Müller & Fils"])


def test_a_portfolio_up_to_one_shard_of_customers_is_one_shard_holding_everyone():
    assert shard_list(0) == [(0, 1)]
    assert shard_list(250_000) == [(0, 1)]
    assert in_shard(CUSTOMERS, (0, 1)).all()
    assert only(pd.DataFrame({"customer_id": CUSTOMERS}), (0, 1)).shape[0] == len(CUSTOMERS)


def test_a_larger_portfolio_is_split_in_shards_of_at_most_the_given_size():
    assert shard_list(500_000) == [(0, 2), (1, 2)]
    assert shard_list(500_000, per_shard=100_000) == [(i, 5) for i in range(5)]
    assert shard_list(250_001, per_shard=125_000) == [(0, 3), (1, 3), (2, 3)]


def test_every_customer_falls_in_exactly_one_shard_and_the_shards_are_even():
    masks = np.column_stack([in_shard(CUSTOMERS, (i, 4)) for i in range(4)])
    assert (masks.sum(axis=1) == 1).all()
    sizes = masks.sum(axis=0)
    assert sizes.min() > 0.9 * len(CUSTOMERS) / 4 and sizes.max() < 1.1 * len(CUSTOMERS) / 4


def test_a_customer_is_in_the_same_shard_in_another_process():
    # Python's own hash() of a str changes with each process (PYTHONHASHSEED): shards must not.
    code = ("from receivables.shards import shard_of; "
            "print(list(shard_of(['C00001', 'C00002', 'Müller & Fils', ''], 7)))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""}).stdout.strip()
    assert other == str(list(shard_of(["C00001", "C00002", "Müller & Fils", ""], 7)))


def test_rows_of_one_customer_all_go_to_its_shard():
    rows = pd.DataFrame({"customer_id": ["C00001"] * 3 + ["C00002"] * 2, "invoice_id": list("abcde")})
    parts = [only(rows, (i, 3)) for i in range(3)]
    assert sorted(len(p) for p in parts if len(p)) in ([2, 3], [5])
    assert pd.concat(parts).sort_values("invoice_id")["invoice_id"].tolist() == list("abcde")


def test_a_shard_that_does_not_exist_is_refused():
    with pytest.raises(ValueError, match="shard 3 of 3 does not exist"):
        in_shard(CUSTOMERS, (3, 3))
