"""Customer shards: the per-customer stages of a large portfolio, split across workers.

    shards = shard_list(customers=500_000, per_shard=100_000)    # [(0, 5), (1, 5), ..., (4, 5)]
    mask = in_shard(items["customer_id"], (2, 5))               # the rows of shard 2 of 5

A customer's shard is a keyed 64-bit hash of its id modulo the shard count: the same in every
process and every run (no Python `hash()` salting), so each mapped task of a run takes the same
customers, and a re-run of one shard replaces exactly that shard's rows. Shard (0, 1) is
everything: a small portfolio runs as one task and nothing is hashed.

Sharded: scoring (the model trained once on everyone's history; each shard's profiles and
predictions; then the exposure ranked across all shards) and planning (per customer: its open
items, registers, steps already taken and risk). Both give exactly what one task gives
(tests/integration/test_cash_application_wave.py, test_collection_planning_wave.py).
Not sharded: matching, whose job is to find each bank line's customer (payer, references,
amounts across the whole portfolio): a line cannot be routed to a customer's shard before it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

SHARD_CUSTOMERS = 250_000          # customers per shard of a large portfolio
_HASH_KEY = "receivables-shd1"     # 16 bytes: pandas' SipHash key; never change it mid-history


Shard = tuple[int, int]            # (index, count)
WHOLE: Shard = (0, 1)


def shard_list(customers: int, per_shard: int = SHARD_CUSTOMERS) -> list[Shard]:
    count = max(1, math.ceil(customers / max(per_shard, 1)))
    return [(index, count) for index in range(count)]


def check(shard: Shard) -> Shard:
    index, count = (int(x) for x in shard)
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard {index} of {count} does not exist")
    return index, count


def shard_of(customer_ids: pd.Series | np.ndarray | list, count: int) -> np.ndarray:
    """The shard index (0 .. count - 1) of each customer id."""
    ids = np.asarray(pd.Series(customer_ids, dtype=object).fillna("").astype(str).to_numpy(), dtype=object)
    if count == 1 or not len(ids):
        return np.zeros(len(ids), dtype=np.int64)
    hashed = pd.util.hash_array(ids, hash_key=_HASH_KEY, categorize=True)
    return (hashed % np.uint64(count)).astype(np.int64)


def in_shard(customer_ids: pd.Series | np.ndarray | list, shard: Shard) -> np.ndarray:
    """A boolean mask: which of these customer ids belong to `shard`."""
    index, count = check(shard)
    if count == 1:
        return np.ones(len(customer_ids), dtype=bool)
    return shard_of(customer_ids, count) == index


def only(frame: pd.DataFrame, shard: Shard, column: str = "customer_id") -> pd.DataFrame:
    """The rows of `frame` whose `column` is a customer of `shard` (the frame itself for (0, 1))."""
    if check(shard)[1] == 1 or frame is None or column not in frame:
        return frame
    return frame[in_shard(frame[column], shard)]
