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


def demo_settings(warehouse_url: str, tmp_path, demo_portfolio: dict) -> wave.WaveSettings:  # noqa: ANN001
    """The demo portfolio's ledger, customer master and statement of the day, into `warehouse_url`."""
    return wave.WaveSettings(warehouse_url=warehouse_url, data_dir=tmp_path, ledger_paths=[str(demo_portfolio["fec"])],
                             customers_file=str(demo_portfolio["customers_csv"]),
                             bank_paths=[str(demo_portfolio["statement"])])


def run_day(settings: wave.WaveSettings) -> dict:
    manifest = wave.validate_ledger(settings, wave.extract_ledger(settings, AS_OF))
    wave.load_ledger(settings, manifest, now=NOW)
    bank = cash.validate_bank_lines(settings, cash.extract_bank_statements(settings, AS_OF), now=NOW)
    matched = cash.match_bank_lines(settings, AS_OF)
    applied = cash.apply_matches(settings, AS_OF)
    wave.compute_aging(settings, AS_OF)
    return {"bank": bank, "matched": matched, "applied": applied}


def test_todays_receipts_are_matched_and_their_invoices_no_longer_open(warehouse_url, tmp_path, demo_portfolio):
    settings = demo_settings(warehouse_url, tmp_path, demo_portfolio)
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
    settings = demo_settings(warehouse_url, tmp_path, demo_portfolio)
    first = run_day(settings)
    again = run_day(settings)
    assert again["bank"]["files"][0]["new_lines"] == 0
    assert again["applied"]["allocations"] == first["applied"]["allocations"]
    with make_engine(warehouse_url).connect() as conn:
        assert conn.execute(select(func.count()).select_from(bank_lines)).scalar_one() == demo_portfolio["statement_lines"]


def test_scores_are_stored_after_todays_cash_and_a_rerun_replaces_them(warehouse_url, tmp_path, demo_portfolio):
    from receivables.warehouse.schema import invoice_predictions, payer_profiles, risk_scores, scoring_models

    settings = demo_settings(warehouse_url, tmp_path, demo_portfolio)
    run_day(settings)
    first = wave.score_customers(settings, AS_OF, now=NOW)
    engine = make_engine(warehouse_url)

    def stored():
        with engine.connect() as conn:
            return {
                "predicted": set(conn.execute(select(invoice_predictions.c.invoice_id, invoice_predictions.c.open_minor))),
                "open": set(conn.execute(select(open_items.c.invoice_id, open_items.c.open_minor).where(
                    open_items.c.as_of == AS_OF, open_items.c.item_type == "invoice"))),
                "risk": conn.execute(select(risk_scores.c.customer_id, risk_scores.c.score, risk_scores.c.p_late,
                                            risk_scores.c.drivers).order_by(risk_scores.c.customer_id)).all(),
                "profiles": conn.execute(select(func.count()).select_from(payer_profiles)).scalar_one(),
                "models": conn.execute(select(scoring_models.c.kind, scoring_models.c.auc)).all(),
            }

    state = stored()
    # the open items of the aged balance, after this morning's cash: what was paid today is not scored
    assert state["predicted"] == state["open"]
    assert len(state["risk"]) == state["profiles"] == demo_portfolio["customers"] == first["customers"]
    [(kind, auc)] = state["models"]
    assert kind == first["model"] == "gbm" and abs(auc - first["auc"]) < 1e-3
    wave.score_customers(settings, AS_OF, now=NOW)
    assert stored() == state                                   # replaced, not added: same rows, same scores


def test_customers_scored_in_shards_get_exactly_the_scores_of_the_whole_portfolio(warehouse_url, tmp_path,
                                                                                  demo_portfolio):
    # A large portfolio is scored by one mapped task per customer shard, with the model trained
    # once on everyone's history; the risk score ranks each exposure across all shards.
    from receivables.warehouse.schema import invoice_predictions, payer_profiles, risk_scores, scoring_models

    settings = demo_settings(warehouse_url, tmp_path, demo_portfolio)
    run_day(settings)
    engine = make_engine(warehouse_url)

    def stored() -> dict:
        with engine.connect() as conn:
            frames = {t.name: pd.read_sql(select(t).where(t.c.as_of == AS_OF), conn)
                      for t in (invoice_predictions, payer_profiles, risk_scores)}
            frames["model"] = pd.read_sql(select(scoring_models.c.kind, scoring_models.c.auc, scoring_models.c.metrics,
                                                 scoring_models.c.artifact_sha256), conn)
        return {name: f.sort_values(list(f.columns[:3])).reset_index(drop=True) for name, f in frames.items()}

    whole = wave.score_customers(settings, AS_OF, now=NOW)
    at_once = stored()
    settings.shard_customers = 25
    trained = wave.train_scoring_model(settings, AS_OF, now=NOW)
    assert trained["shards"] == [[0, 3], [1, 3], [2, 3]] and trained["model"] == "gbm"
    parts = [wave.score_shard(settings, AS_OF, tuple(shard)) for shard in trained["shards"]]
    assert sum(p["customers"] for p in parts) == whole["customers"] and all(p["customers"] for p in parts)
    published = wave.publish_scores(settings, AS_OF, now=NOW)
    assert published == whole
    for name, frame in stored().items():
        pd.testing.assert_frame_equal(frame, at_once[name])
    assert set(at_once["risk_scores"]["risk_class"]) >= {"low", "medium"}


def test_scores_are_not_published_while_a_shard_is_missing(warehouse_url, tmp_path, demo_portfolio):
    import pytest

    settings = demo_settings(warehouse_url, tmp_path, demo_portfolio)
    run_day(settings)
    settings.shard_customers = 25
    trained = wave.train_scoring_model(settings, AS_OF, now=NOW)
    for shard in trained["shards"][:-1]:
        wave.score_shard(settings, AS_OF, tuple(shard))
    with pytest.raises(RuntimeError, match="shard 2 of 3 was not scored"):
        wave.publish_scores(settings, AS_OF, now=NOW)
    with pytest.raises(ValueError, match=r"shard 0 of 2 is not one of this run's \[\[0, 3\]"):
        wave.score_shard(settings, AS_OF, (0, 2))
