"""The late-payment model: per invoice still unpaid on `as_of`, P(paid after its due date) and
P(paid more than 30 days late), learnt from the company's own payment history up to `as_of`
(when it will be paid: dates.py).

    history = invoice_history(lines, customers, as_of)
    model = train(history, customers, as_of)            # gradient boosting, or rules if thin
    model.report.kind, model.report.metrics["auc"]       # 'gbm', 0.86 (on the newest snapshots)
    raw = model.predict(features(...))                   # p_late, p_late_30

What is predicted is what a credit manager sees on `as_of`: invoices *still unpaid* that day,
some days before or after their due date (the early payers' invoices are already gone). So the
model learns from the same thing in the past: weekly snapshots of the open invoices, going back
from `as_of` over the history window. A snapshot row is an invoice unpaid on a past day τ, with
the features of τ (its customer's books before τ, days to or past its due date, its age) and the
outcome as the ledger shows it on `as_of`:
- late (paid after the due date): rows not yet overdue on τ whose due date is before `as_of`
  (paid on time, paid late, or still open: late for sure);
- more than 30 days late: rows less than 30 days overdue on τ, due more than 30 days before `as_of`.
Nothing from after `as_of` exists in the history. Rows are ordered by snapshot day and split in
time: the oldest 70 % train the gradient boosting (scikit-learn's HistGradientBoosting, which
takes missing values natively), the next 15 % calibrate its probabilities (isotonic), the newest
15 % measure it (AUC, Brier score) beside the two naive baselines on the same rows
(the customer's late rate, its mean days late). At most `MAX_TRAIN_ROWS` snapshot rows are
drawn (at random, seeded) from a large history.

Thin history falls back to transparent rules (`kind == "rules"`, with the reason): fewer than
`min_settled` (200) settled invoices, or fewer than 20 rows of either outcome (a portfolio where
everyone pays on time has nothing to learn from). The rules shrink each customer's own late
rate toward the portfolio's (5 invoices' worth of weight), and add a step when the customer has
an invoice overdue now. With no history at all they return the priors: late rate 30 %, more
than 30 days 10 %.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from receivables.scoring.features import FEATURES, features
from receivables.scoring.history import settled_invoices

MIN_SETTLED = 200
MIN_PER_CLASS = 20
PRIOR_LATE, PRIOR_LATE_30 = 0.30, 0.10
SHRINK_WEIGHT = 5.0          # invoices' worth of weight the portfolio prior gets per customer
OVERDUE_STEP = 0.15          # the rules' step for a customer with an invoice overdue now
SNAPSHOT_DAYS = 7            # one snapshot of the open invoices a week
MAX_OVERDUE_DAYS = 365       # older overdue invoices say little about when the next is paid
SPLIT = (0.70, 0.85)         # train | calibrate | test, by snapshot day
MAX_TRAIN_ROWS = 300_000     # snapshot rows drawn from a larger history (seeded)
SMALL_FIT_ROWS = 100_000     # below: one thread (no gain from more, and no fight for the cores)


@dataclass
class ModelReport:
    kind: str                       # 'gbm' or 'rules'
    reason: str = ""                # why the rules were used
    rows: dict = field(default_factory=dict)      # train / calibration / test row counts
    metrics: dict = field(default_factory=dict)   # auc, brier, auc_30, brier_30 (+ baselines), mae_days


@dataclass
class Priors:
    late: float = PRIOR_LATE
    late_30: float = PRIOR_LATE_30


class LatePaymentModel:
    """Predicts, from FEATURES rows of invoices unpaid on a day, P(late), P(> 30 days late) and
    the days late (`predict`), or P(late) alone (`p_late`, what the risk drivers perturb)."""

    def __init__(self, report: ModelReport, priors: Priors, late=None, late_30=None,  # noqa: ANN001
                 reference: pd.Series | None = None):
        self.report, self.priors = report, priors
        self._late, self._late_30 = late, late_30
        self.reference = reference              # feature values of a typical on-time payer

    @property
    def kind(self) -> str:
        return self.report.kind

    def p_late(self, X: pd.DataFrame) -> np.ndarray:
        if self._late is None:
            return _rules(X, self.priors)["p_late"].to_numpy()
        with _threads(len(X)):
            return self._late.predict_proba(X[FEATURES])[:, 1]

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(index=X.index)
        out["p_late"] = self.p_late(X)
        if self._late_30 is None:
            out["p_late_30"] = _rules(X, self.priors)["p_late_30"].to_numpy()
        else:
            with _threads(len(X)):
                out["p_late_30"] = self._late_30.predict_proba(X[FEATURES])[:, 1]
        return out


def _threads(rows: int):  # noqa: ANN202
    """One OpenMP thread for small work: on a shared 2-core machine the idle threads' spinning
    costs more than they bring (measured 6-25x slower fits and predictions with a busy neighbour)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1 if rows < SMALL_FIT_ROWS else None)


def _rules(X: pd.DataFrame, priors: Priors) -> pd.DataFrame:
    n = X["settled_n"].fillna(0).to_numpy()
    late = (X["late_share"].fillna(0) * n).to_numpy()
    late_30 = (X["late30_share"].fillna(0) * n).to_numpy()
    overdue = (X["overdue_n"].fillna(0) > 0).to_numpy()
    w = SHRINK_WEIGHT
    p = (late + w * priors.late) / (n + w) + OVERDUE_STEP * overdue
    p30 = (late_30 + w * priors.late_30) / (n + w) + OVERDUE_STEP * overdue
    return pd.DataFrame({"p_late": np.clip(p, 0.01, 0.99), "p_late_30": np.clip(p30, 0.005, 0.99)}, index=X.index)


def snapshot_rows(history: pd.DataFrame, as_of: dt.date, *, step_days: int = SNAPSHOT_DAYS,
                  max_rows: int = MAX_TRAIN_ROWS, seed: int = 0) -> pd.DataFrame:
    """(row of `history`, snapshot day τ) for every invoice of the history window still unpaid on
    a weekly τ before `as_of` (at most MAX_OVERDUE_DAYS past due), vectorized: each invoice's
    range of weeks is computed, then expanded with numpy (no loop per invoice or per week)."""
    rows = history[history["in_history_window"]]
    if rows.empty:
        return pd.DataFrame({"row": pd.Series(dtype="int64"), "tau": pd.Series(dtype="datetime64[ns]")})
    end = pd.Timestamp(as_of)
    doc = (end - rows["doc_date"]).dt.days.to_numpy()
    close = (end - rows["known_settled"]).dt.days.to_numpy(dtype="float64", na_value=-1e9)
    stale = (end - rows["due_date"]).dt.days.to_numpy() - MAX_OVERDUE_DAYS
    # τ = as_of - step*k, k >= 1: issued on or before τ, unpaid on τ, not too stale on τ
    k_max = np.floor(doc / step_days).astype("int64")
    k_min = np.maximum.reduce([np.ones(len(rows)), np.floor(close / step_days) + 1,
                               np.ceil(stale / step_days)]).astype("int64")
    count = np.maximum(k_max - k_min + 1, 0)
    total = int(count.sum())
    which = np.repeat(np.arange(len(rows)), count)
    k = np.repeat(k_min, count) + (np.arange(total) - np.repeat(np.cumsum(count) - count, count))
    if total > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(total, size=max_rows, replace=False))
        which, k = which[keep], k[keep]
    return pd.DataFrame({"row": rows.index.to_numpy()[which],
                         "tau": end - pd.to_timedelta(k * step_days, unit="D")})


def training_frame(history: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date,
                   ledger_currency: str = "EUR", seed: int = 0) -> pd.DataFrame:
    """Snapshot rows with FEATURES as of their day τ and their outcomes (`late`/`late_30` NaN
    when that row does not ask or cannot know)."""
    cutoff = pd.Timestamp(as_of)
    snaps = snapshot_rows(history, as_of, seed=seed)
    rows = history.loc[snaps["row"]].reset_index(drop=True)
    queries = rows.assign(at=snaps["tau"].to_numpy() + np.timedelta64(1, "D"))
    frame = features(history, queries, customers, ledger_currency)
    days_late = (rows["settle_date"] - rows["due_date"]).dt.days.astype("float64").to_numpy()
    settled = rows["settle_date"].notna().to_numpy()
    overdue_then = frame["days_overdue_now"].to_numpy()
    due_passed = (rows["due_date"] < cutoff).to_numpy()
    due_30_passed = (rows["due_date"] + pd.Timedelta(days=30) < cutoff).to_numpy()
    late = np.where(settled, days_late > 0, 1.0)
    late_30 = np.where(settled, days_late > 30, 1.0)
    frame["tau"] = snaps["tau"].to_numpy()
    frame["days_late"] = days_late
    # Every row due before as_of has a known outcome, paid or not: no early-paid bias.
    frame["late"] = np.where(due_passed & (overdue_then <= 0), late, np.nan)
    frame["late_30"] = np.where(due_30_passed & (overdue_then < 30), late_30, np.nan)
    return frame


def priors_of(history: pd.DataFrame) -> Priors:
    """The portfolio's late rate and > 30 days rate over its settled invoices."""
    days = settled_invoices(history)["days_late"]
    if days.empty:
        return Priors()
    return Priors(late=float((days > 0).mean()), late_30=float((days > 30).mean()))


def _split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ordered = frame.sort_values("tau", kind="stable")
    a, b = int(len(ordered) * SPLIT[0]), int(len(ordered) * SPLIT[1])
    return ordered.iloc[:a], ordered.iloc[a:b], ordered.iloc[b:]


class FillBlankColumns:
    """Sets the columns that were entirely missing when fitting to 0, when fitting and after.

    HistGradientBoosting cannot bin a column with no value at all (a ledger without a customer
    master has no segment; a young one no 90-day window): such a column carries nothing to learn."""

    def fit(self, X: pd.DataFrame, y=None):  # noqa: ANN001, ANN201
        self.blank_ = [c for c in X.columns if X[c].isna().all()]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return X.assign(**{c: 0.0 for c in self.blank_}) if self.blank_ else X

    def fit_transform(self, X: pd.DataFrame, y=None) -> pd.DataFrame:  # noqa: ANN001
        return self.fit(X, y).transform(X)

    def get_params(self, deep: bool = True) -> dict:
        return {}

    def set_params(self, **params):  # noqa: ANN003, ANN201
        return self


# 150 trees at 0.15 learn what 300 at 0.08 did (medium bench portfolio, 300k snapshot rows: AUC
# 0.8928 vs 0.8930, Brier 0.1052 both, late_30 AUC 0.849 vs 0.8492; neither stopped early) in
# half the fit and half the predictions, which the risk drivers repeat once per driver group.
_GBM = dict(max_iter=150, learning_rate=0.15, max_leaf_nodes=31, min_samples_leaf=40, early_stopping=True,
            validation_fraction=0.1, n_iter_no_change=15)


def _gbm(kind: str, seed: int):  # noqa: ANN202
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline

    estimator = (HistGradientBoostingClassifier(l2_regularization=1.0, random_state=seed, **_GBM) if kind == "classifier"
                 else HistGradientBoostingRegressor(loss="absolute_error", random_state=seed, **_GBM))
    return Pipeline([("blank", FillBlankColumns()), ("gbm", estimator)])


def _fit_probability(frame: pd.DataFrame, label: str, seed: int):  # noqa: ANN202
    """A calibrated classifier for `label` and its test rows, or None with the reason."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    known = frame[frame[label].notna()]
    train, calib, test = _split(known)
    counts = known[label].value_counts()
    if len(counts) < 2 or counts.min() < MIN_PER_CLASS:
        return None, f"{label}: fewer than {MIN_PER_CLASS} rows of one outcome", test
    if train[label].nunique() < 2:
        return None, f"{label}: one outcome only in the training period", test
    model = _gbm("classifier", seed).fit(train[FEATURES], train[label].astype(int))
    if calib[label].nunique() == 2:
        model = CalibratedClassifierCV(FrozenEstimator(model), method="isotonic").fit(
            calib[FEATURES], calib[label].astype(int))
    return model, "", test


def _probability_metrics(model, test: pd.DataFrame, label: str, priors: Priors) -> dict:  # noqa: ANN001
    """AUC and Brier of `model` on `test`, beside the customer's late rate and mean days late."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    if model is None or test.empty or test[label].nunique() < 2:
        return {}
    suffix = "" if label == "late" else "_30"
    y = test[label].astype(int).to_numpy()
    p = model.predict_proba(test[FEATURES])[:, 1]
    rate = test["late_share" if label == "late" else "late30_share"].fillna(
        priors.late if label == "late" else priors.late_30).to_numpy()
    mean_late = test["days_late_mean"].fillna(test["days_late_mean"].mean()).fillna(0).to_numpy()
    return {f"auc{suffix}": float(roc_auc_score(y, p)), f"brier{suffix}": float(brier_score_loss(y, p)),
            f"baseline_late_rate_auc{suffix}": float(roc_auc_score(y, rate)),
            f"baseline_late_rate_brier{suffix}": float(brier_score_loss(y, np.clip(rate, 0, 1))),
            f"baseline_mean_days_late_auc{suffix}": float(roc_auc_score(y, mean_late))}


def train(history: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date, *, ledger_currency: str = "EUR",
          min_settled: int = MIN_SETTLED, seed: int = 0) -> LatePaymentModel:
    """Learn from `history` (invoice_history of `as_of`); rules when the history is too thin."""
    priors = priors_of(history[history["in_history_window"]])
    settled_n = int((history["in_history_window"] & history["settle_date"].notna()).sum())
    if settled_n < min_settled:
        return LatePaymentModel(ModelReport("rules", f"{settled_n} settled invoices in the history "
                                            f"(the model needs {min_settled})"), priors)
    frame = training_frame(history, customers, as_of, ledger_currency, seed=seed)
    with _threads(len(frame)):
        return _train(frame, priors, seed)


def _train(frame: pd.DataFrame, priors: Priors, seed: int) -> LatePaymentModel:
    late, why, test = _fit_probability(frame, "late", seed)
    if late is None:
        return LatePaymentModel(ModelReport("rules", why, rows={"snapshots": len(frame)}), priors)
    late_30, why_30, test_30 = _fit_probability(frame, "late_30", seed)
    known = frame[frame["late"].notna()]
    report = ModelReport("gbm", why_30, rows={"snapshots": len(frame), "late_rows": len(known), "test": len(test),
                                                "test_30": len(test_30)})
    report.metrics.update(_probability_metrics(late, test, "late", priors))
    report.metrics.update(_probability_metrics(late_30, test_30, "late_30", priors))
    on_time = frame[frame["late"] == 0]
    reference = (on_time if len(on_time) else frame)[FEATURES].median()
    return LatePaymentModel(report, priors, late=late, late_30=late_30, reference=reference)
