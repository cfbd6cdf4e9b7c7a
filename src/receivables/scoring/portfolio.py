"""Score a whole portfolio on `as_of`: payer profiles, a prediction per open invoice, a risk score
per customer.

    result = score_portfolio(lines, customers, items, as_of=date(2025, 6, 30))
    result.predictions   # invoice_id, customer_id, p_late, p_late_30, expected_payment_date, ...
    result.risk          # customer_id, score, risk_class, drivers, ...
    result.profiles      # payer profile per customer
    result.model.report  # 'gbm' or 'rules', metrics on the newest snapshots

`items` are the open items of `as_of` after the day's cash (open_items + apply_allocations);
`lines` the receivable lines (anything after `as_of` is ignored). Only invoices get a prediction;
credits (unapplied payments, credit notes) have none.

On an open invoice still unpaid on `as_of` (the model learnt from invoices unpaid on past days,
so it already knows how far each is from its due date):
- `p_late` is 1 once it is past its due date (it will be paid late, if at all), else the model's;
- `p_late_30` is 1 once it is more than 30 days past due, else the model's (never above `p_late`);
- `expected_payment_date` (dates.py): due date + the customer's mean delay (for an overdue invoice,
  its delays longer than what has elapsed), on its payment-run day when it has one, never before
  the day after `as_of`, on a business day of `country`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from receivables.scoring.dates import backtest, expected_payment_dates
from receivables.scoring.features import FEATURES, features
from receivables.scoring.history import invoice_history
from receivables.scoring.model import MIN_SETTLED, LatePaymentModel, train
from receivables.scoring.profile import payer_profiles, profile_ids
from receivables.scoring.risk import contributions, driver_texts, risk_scores


_PREDICTION_DTYPES = {"customer_id": "object", "invoice_id": "object", "currency": "object", "open_minor": "int64",
                      "due_date": "datetime64[ns]", "days_overdue": "int64", "p_late": "float64",
                      "p_late_30": "float64", "expected_days_late": "int64",
                      "expected_payment_date": "datetime64[ns]"}
PREDICTION_COLUMNS = list(_PREDICTION_DTYPES)


@dataclass
class ScoringResult:
    profiles: pd.DataFrame
    predictions: pd.DataFrame
    risk: pd.DataFrame
    model: LatePaymentModel


def conditional_late(raw: pd.DataFrame, days_overdue: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p_late, p_late_30) of invoices still unpaid `days_overdue` days after their due date."""
    o = np.asarray(days_overdue, dtype="float64")
    p = np.where(o > 0, 1.0, raw["p_late"].to_numpy())
    p30 = np.where(o >= 30, 1.0, np.minimum(raw["p_late_30"].to_numpy(), p))
    return p, p30


def predict_items(model: LatePaymentModel, history: pd.DataFrame, items: pd.DataFrame, customers: pd.DataFrame,
                  as_of: dt.date, *, ledger_currency: str = "EUR", country: str = "FR",
                  portfolio: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(PREDICTION_COLUMNS per open invoice, their FEATURES rows); `portfolio`: the whole
    portfolio's history when `history` is a shard's (the delays of customers without their own)."""
    invoices = items[items["item_type"] == "invoice"].reset_index(drop=True)
    if invoices.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _PREDICTION_DTYPES.items()}), pd.DataFrame(columns=FEATURES)
    after = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    queries = invoices[["customer_id", "invoice_id", "currency", "doc_date", "due_date", "original_minor"]].assign(at=after)
    X = features(history, queries, customers, ledger_currency)
    raw = model.predict(X)
    p, p30 = conditional_late(raw, invoices["days_overdue"].to_numpy())
    out = invoices[["customer_id", "invoice_id", "currency", "open_minor", "due_date", "days_overdue"]].copy()
    out["p_late"], out["p_late_30"] = p, p30
    out["expected_payment_date"] = expected_payment_dates(history, invoices, as_of, country,
                                                          portfolio=portfolio).to_numpy()
    out["expected_days_late"] = (out["expected_payment_date"] - out["due_date"]).dt.days.astype("int64")
    return out[PREDICTION_COLUMNS], X


def _next_invoice_queries(history: pd.DataFrame, customers: pd.DataFrame, ids: pd.Index, as_of: dt.date,
                          default_terms_days: int, ledger_currency: str,
                          usual_fallback: float | None = None) -> pd.DataFrame:
    """A hypothetical invoice per customer issued on `as_of`: its usual amount and terms (a
    customer with no history: `usual_fallback`, by default the median usual amount of `ids`)."""
    after = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    usual = history.groupby("customer_id")["original_minor"].median().reindex(ids)
    terms = (history["due_date"] - history["doc_date"]).dt.days.groupby(history["customer_id"]).median().reindex(ids)
    master_terms = (customers.set_index("customer_id")["payment_terms_days"].reindex(ids).astype("Float64")
                    if len(customers) else pd.Series(pd.NA, index=ids, dtype="Float64"))
    terms = master_terms.fillna(terms.astype("Float64")).fillna(default_terms_days).astype("int64")
    today = pd.Timestamp(as_of)
    if usual_fallback is None:
        usual_fallback = idle_usual_median(history, ids)
    return pd.DataFrame({"customer_id": ids.to_numpy(), "invoice_id": "", "currency": ledger_currency, "at": after,
                         "doc_date": today, "due_date": today + pd.to_timedelta(terms.to_numpy(), unit="D"),
                         "original_minor": usual.fillna(usual_fallback).to_numpy()})


def idle_usual_median(history: pd.DataFrame, idle: pd.Index) -> float:
    """The median usual invoice amount of the `idle` customers (nothing open) that have a history:
    the amount of the next invoice of an idle customer without one."""
    usual = history.groupby("customer_id")["original_minor"].median().reindex(idle)
    return float(usual.median()) if usual.notna().any() else 0.0


def idle_customers(history: pd.DataFrame, items: pd.DataFrame, customers: pd.DataFrame) -> pd.Index:
    """The customers with a profile (master, history or open items) and no open invoice."""
    return profile_ids(history, items, customers).difference(pd.Index(items.loc[items["item_type"] == "invoice", "customer_id"].unique()))


def train_model(history: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date, *, ledger_currency: str = "EUR",
                country: str = "FR", min_settled: int = MIN_SETTLED, seed: int = 0) -> LatePaymentModel:
    """The late-payment model of the whole portfolio's history, with its backtest metrics."""
    model = train(history, customers, as_of, ledger_currency=ledger_currency, min_settled=min_settled, seed=seed)
    model.report.metrics.update(backtest(history, as_of, country=country))
    return model


@dataclass
class ScoredPart:
    """The scores of some customers (all, or a shard) before their risk is ranked."""
    profiles: pd.DataFrame
    predictions: pd.DataFrame
    customer_p: pd.DataFrame     # customer_id, p_late, p_late_30, expected_late_minor
    drivers: pd.Series           # per customer_id, the drivers in words


def score_part(model: LatePaymentModel, history: pd.DataFrame, customers: pd.DataFrame, items: pd.DataFrame,
               as_of: dt.date, *, default_terms_days: int = 30, ledger_currency: str = "EUR", country: str = "FR",
               disputes: pd.DataFrame | None = None, promises: pd.DataFrame | None = None,
               usual_fallback: float | None = None, portfolio: pd.DataFrame | None = None) -> ScoredPart:
    """Profiles, predictions, per-customer probabilities and drivers of the customers of
    `history`/`items`/`customers` (each customer's figures depend on its own rows, the model and
    two portfolio figures: `usual_fallback` and `portfolio`, the whole history; given those, a
    shard gives its customers the figures the whole portfolio would)."""
    profiles = payer_profiles(history, items, customers, as_of, ledger_currency, disputes, promises)
    predictions, X = predict_items(model, history, items, customers, as_of, ledger_currency=ledger_currency,
                                   country=country, portfolio=portfolio)

    # Per customer: amount-weighted probabilities over open invoices, else its next invoice's.
    weights = predictions["open_minor"].clip(lower=1).to_numpy(dtype="float64")
    weighted = pd.DataFrame({"customer_id": predictions["customer_id"], "w": weights,
                             "p": predictions["p_late"] * weights, "p30": predictions["p_late_30"] * weights,
                             "late": predictions["open_minor"] * predictions["p_late"]})
    summed = weighted.groupby("customer_id").sum()
    customer_p = pd.DataFrame({"p_late": summed["p"] / summed["w"], "p_late_30": summed["p30"] / summed["w"],
                               "expected_late_minor": summed["late"].round()})
    idle = pd.Index(profiles["customer_id"]).difference(customer_p.index)
    rows_X, rows_ids, rows_w = [X], [predictions["customer_id"]], [weights]
    if len(idle):
        nxt = _next_invoice_queries(history, customers, idle, as_of, default_terms_days, ledger_currency,
                                    usual_fallback)
        X_next = features(history, nxt, customers, ledger_currency)
        raw = model.predict(X_next)
        customer_p = pd.concat([customer_p, pd.DataFrame(
            {"p_late": raw["p_late"].to_numpy(), "p_late_30": raw["p_late_30"].to_numpy(), "expected_late_minor": 0},
            index=idle)])
        rows_X.append(X_next)
        rows_ids.append(nxt["customer_id"])
        rows_w.append(np.ones(len(nxt)))
    customer_p.index.name = "customer_id"
    scored = [k for k, x in enumerate(rows_X) if len(x)]
    drivers = pd.Series(dtype=object)
    if scored:
        X_all = pd.concat([rows_X[k] for k in scored], ignore_index=True)[FEATURES]
        ids = pd.concat([rows_ids[k] for k in scored], ignore_index=True)
        drivers = driver_texts(contributions(model, X_all), X_all, ids, np.concatenate([rows_w[k] for k in scored]),
                               profiles)
    return ScoredPart(profiles=profiles, predictions=predictions, customer_p=customer_p.reset_index(),
                      drivers=drivers)


def rank_risk(parts: list[ScoredPart], model: LatePaymentModel) -> ScoringResult:
    """The risk scores of every customer of `parts` (the exposure is ranked across all of them)."""
    profiles = pd.concat([p.profiles for p in parts], ignore_index=True)
    predictions = pd.concat([p.predictions for p in parts], ignore_index=True)
    customer_p = pd.concat([p.customer_p for p in parts], ignore_index=True)
    drivers = pd.concat([p.drivers for p in parts if len(p.drivers)]) if any(len(p.drivers) for p in parts) \
        else pd.Series(dtype=object)
    risk = risk_scores(customer_p, profiles, drivers, model.kind)
    return ScoringResult(profiles=profiles, predictions=predictions, risk=risk, model=model)


def score_portfolio(lines: pd.DataFrame, customers: pd.DataFrame, items: pd.DataFrame, as_of: dt.date, *,
                    default_terms_days: int = 30, ledger_currency: str = "EUR", country: str = "FR",
                    min_settled: int = MIN_SETTLED, disputes: pd.DataFrame | None = None,
                    promises: pd.DataFrame | None = None, seed: int = 0,
                    lines_open: pd.DataFrame | None = None) -> ScoringResult:
    history = invoice_history(lines, customers, as_of, default_terms_days, lines_open=lines_open)
    model = train_model(history, customers, as_of, ledger_currency=ledger_currency, country=country,
                        min_settled=min_settled, seed=seed)
    part = score_part(model, history, customers, items, as_of, default_terms_days=default_terms_days,
                      ledger_currency=ledger_currency, country=country, disputes=disputes, promises=promises)
    return rank_risk([part], model)
