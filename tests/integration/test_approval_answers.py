"""What a credit manager's answer to the approval form records, key by key."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from receivables.pipeline import wave
from receivables.pipeline.dispatch import record_approvals
from receivables.warehouse.db import make_engine, upgrade
from receivables.warehouse.schema import dispatch_approvals

AS_OF = dt.date(2025, 7, 15)
NOW = dt.datetime(2025, 7, 15, 9, 30, tzinfo=dt.timezone.utc)
WAITING = ["2025-07-15|C001|formal_notice|letter", "2025-07-15|C002|formal_notice|letter"]


def decisions(url: str) -> dict:
    with make_engine(url).connect() as conn:
        rows = conn.execute(select(dispatch_approvals.c.action_key, dispatch_approvals.c.decision,
                                   dispatch_approvals.c.note)).all()
    return {key: (decision, note) for key, decision, note in rows}


def answer(url, tmp_path, rejected):  # noqa: ANN001
    upgrade(make_engine(url))
    settings = wave.WaveSettings(warehouse_url=url, data_dir=tmp_path / "data")
    return record_approvals(settings, WAITING, approved=True, rejected_keys=rejected, decided_by="alice", note="",
                            as_of=AS_OF, now=NOW)


def test_approving_with_one_key_to_reject_approves_the_others(warehouse_url, tmp_path):
    answer(warehouse_url, tmp_path, [WAITING[0]])
    recorded = decisions(warehouse_url)
    assert recorded[WAITING[0]][0] == "rejected" and recorded[WAITING[1]][0] == "approved"


def test_an_answer_naming_a_key_that_is_not_waiting_approves_nothing(warehouse_url, tmp_path):
    typo = "2025-07-15|C00l|formal_notice|letter"
    answer(warehouse_url, tmp_path, [typo])
    recorded = decisions(warehouse_url)
    assert {key: d for key, (d, _) in recorded.items()} == {WAITING[0]: "rejected", WAITING[1]: "rejected"}
    assert typo in recorded[WAITING[1]][1]
