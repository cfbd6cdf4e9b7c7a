"""Risk score 0-100 and class per customer, and the drivers behind it in words.

    C1 owes 8,400.00: p_late 0.91 and p_late_30 0.55 (amount-weighted over its open invoices),
    oldest overdue 41 days, exposure larger than 80 % of the customers with a balance.
    score = 100 x (0.35 x 0.91 + 0.30 x 0.55 + 0.20 x 41/120 + 0.15 x 0.80) = 67 -> high
    drivers: "2 invoices overdue, oldest 41 days (5,100.00 EUR); paid 9 of 12 invoices late,
             14 days late on average"

The weights: the probability of paying late (0.35) and of paying more than 30 days late (0.30),
how long the oldest overdue invoice has waited (0.20, full at 120 days) and the exposure's rank
among customers with a balance (0.15). Classes: low under 25, medium under 50, high under 75,
critical from 75; an invoice more than 90 days overdue makes a customer at least high.
A customer with nothing open is scored on the invoice it would get next (its usual amount and
terms), so a habitual late payer is flagged before the next invoice goes out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from receivables.money import format_minor
from receivables.scoring.features import DRIVER_GROUPS, FEATURES

WEIGHTS = {"p_late": 0.35, "p_late_30": 0.30, "age": 0.20, "exposure": 0.15}
AGE_FULL_DAYS = 120
CLASSES = ((25, "low"), (50, "medium"), (75, "high"), (101, "critical"))
AT_LEAST_HIGH_OVERDUE_DAYS = 90
MIN_CONTRIBUTION = 0.02     # a driver must move P(late) by 2 points to be named
MAX_DRIVERS = 3

RISK_COLUMNS = ["customer_id", "currency", "score", "risk_class", "p_late", "p_late_30", "open_minor",
                "overdue_minor", "oldest_overdue_days", "expected_late_minor", "drivers", "model_kind"]


def risk_class(score: pd.Series) -> pd.Series:
    edges = [edge for edge, _ in CLASSES]
    names = np.array([name for _, name in CLASSES], dtype=object)
    return pd.Series(names[np.searchsorted(edges, score.to_numpy(), side="right")], index=score.index)


def risk_scores(customer_p: pd.DataFrame, profiles: pd.DataFrame, drivers: pd.Series, model_kind: str) -> pd.DataFrame:
    """`customer_p`: per customer_id the amount-weighted p_late, p_late_30 and expected_late_minor."""
    out = profiles[["customer_id", "currency", "open_minor", "overdue_minor", "oldest_overdue_days"]].copy()
    out = out.merge(customer_p, on="customer_id", how="left")
    out["p_late"] = out["p_late"].fillna(0.0)
    out["p_late_30"] = out["p_late_30"].fillna(0.0)
    out["expected_late_minor"] = out["expected_late_minor"].fillna(0).astype("int64")
    age = out["oldest_overdue_days"].fillna(0).astype("float64").clip(0, AGE_FULL_DAYS) / AGE_FULL_DAYS
    has_balance = out["open_minor"] > 0
    exposure = out["open_minor"].where(has_balance).rank(pct=True).fillna(0.0)
    raw = 100 * (WEIGHTS["p_late"] * out["p_late"] + WEIGHTS["p_late_30"] * out["p_late_30"]
                 + WEIGHTS["age"] * age + WEIGHTS["exposure"] * exposure)
    score = raw.round().clip(0, 100).astype("int64")
    long_overdue = out["oldest_overdue_days"].fillna(0).astype("int64") > AT_LEAST_HIGH_OVERDUE_DAYS
    score = score.where(~long_overdue, np.maximum(score, CLASSES[1][0]))
    out["score"] = score
    out["risk_class"] = risk_class(score)
    out["drivers"] = out["customer_id"].map(drivers).fillna("")
    out["model_kind"] = model_kind
    return out[RISK_COLUMNS]


def contributions(model, X: pd.DataFrame) -> pd.DataFrame:  # noqa: ANN001
    """Per row and driver group, how much the group raises P(late) above a typical on-time payer's
    values (the group's features replaced, the rest kept): one P(late) prediction per group."""
    base = model.p_late(X)
    out = pd.DataFrame(index=X.index)
    reference = model.reference
    for group, columns in DRIVER_GROUPS.items():
        if reference is None:
            out[group] = _rule_contribution(group, X, model)
            continue
        changed = X[FEATURES].assign(**{c: reference[c] for c in columns})
        out[group] = base - model.p_late(changed)
    return out


def _rule_contribution(group: str, X: pd.DataFrame, model) -> np.ndarray:  # noqa: ANN001
    """The rules' own terms: the customer's shrunk late rate above the prior, the overdue step."""
    from receivables.scoring.model import OVERDUE_STEP, SHRINK_WEIGHT

    n = X["settled_n"].fillna(0).to_numpy()
    if group == "late_history":
        late = X["late_share"].fillna(0).to_numpy() * n
        return (late + SHRINK_WEIGHT * model.priors.late) / (n + SHRINK_WEIGHT) - model.priors.late
    if group == "overdue_now":
        return OVERDUE_STEP * (X["overdue_n"].fillna(0).to_numpy() > 0)
    if group == "thin_history":   # the prior speaks more than the customer's own record
        return MIN_CONTRIBUTION * (n < SHRINK_WEIGHT)
    return np.zeros(len(X))


def _num(values: pd.Series, digits: int = 0) -> pd.Series:
    return values.astype("float64").round(digits).map(lambda v: "" if pd.isna(v) else f"{v:.{digits}f}")


def _amounts(minor: pd.Series, currency: pd.Series) -> pd.Series:
    return pd.Series([f"{format_minor(int(m), c)} {c}" for m, c in zip(minor, currency)], index=minor.index)


def driver_phrases(profiles: pd.DataFrame, first: pd.DataFrame) -> pd.DataFrame:
    """Per customer (index) and driver group, the phrase with the customer's own figures ('' when
    the group has nothing to say); built column by column, not customer by customer."""
    p = profiles
    settled = p["invoices_settled"]
    late = (p["late_share"].fillna(0) * settled).round().astype("int64").astype(str)
    out = pd.DataFrame(index=p.index)
    has = settled > 0
    out["late_history"] = ("paid " + late + " of " + settled.astype(str) + " invoices late, "
                           + _num(p["days_late_mean"]) + " days late on average").where(has, "")
    recent = p["days_late_3m"].notna()
    twelve = (" (12 months: " + _num(p["days_late_12m"]) + ")").where(p["days_late_12m"].notna(), "")
    silence = first["days_since_last_settlement"].reindex(p.index)
    out["recent_trend"] = ("last 3 months: " + _num(p["days_late_3m"]) + " days late on average" + twelve).where(
        recent, ("no invoice settled for " + _num(silence) + " days").where(silence.notna(), ""))
    out["exposure"] = ("open balance " + _amounts(p["open_minor"], p["currency"])).where(p["open_minor"] > 0, "")
    share = (p["partial_share"].fillna(0) * 100).round().astype("int64").astype(str)
    out["instalments"] = ("pays in instalments (" + share + "% of invoices)").where(p["partial_share"].fillna(0) > 0, "")
    out["thin_history"] = ("little history: " + settled.astype(str) + " invoices settled").where(
        has, "new customer: no invoice settled yet")
    terms = first["terms_days"].reindex(p.index)
    out["terms"] = ("long payment terms (" + _num(terms) + " days)").where(terms.notna(), "")
    count = p["overdue_items"]
    out["overdue_now"] = (count.astype(str) + np.where(count > 1, " invoices", " invoice") + " overdue, oldest "
                          + p["oldest_overdue_days"].fillna(0).astype("int64").astype(str) + " days ("
                          + _amounts(p["overdue_minor"], p["currency"]) + ")").where(count > 0, "")
    on_time = ((1 - p["late_share"].fillna(0)) * 100).round().astype("int64").astype(str)
    out["on_time"] = ("pays on time: " + on_time + "% of " + settled.astype(str)
                      + " invoices paid by the due date").where(has, "")
    return out


def driver_texts(contrib: pd.DataFrame, X: pd.DataFrame, customer_ids: pd.Series, weights: np.ndarray,
                 profiles: pd.DataFrame) -> pd.Series:
    """Per customer: what is overdue now, then the groups that raise P(late) most (amount-weighted
    over the customer's rows), in words joined by '; ' (at most MAX_DRIVERS phrases)."""
    if contrib.empty:
        return pd.Series(dtype=object)
    groups = [g for g in DRIVER_GROUPS if g != "overdue_now"]
    frame = contrib[groups].mul(weights, axis=0)
    frame["_w"] = weights
    summed = frame.groupby(customer_ids.to_numpy()).sum()
    mean = summed[groups].div(summed["_w"].where(summed["_w"] > 0, 1), axis=0)
    first = X.assign(customer_id=customer_ids.to_numpy()).drop_duplicates("customer_id").set_index("customer_id")
    profiles = profiles.set_index("customer_id").loc[mean.index]
    phrases = driver_phrases(profiles, first)
    # rank the groups per customer in one argsort; a group below MIN_CONTRIBUTION says nothing
    values = mean.to_numpy()
    order = np.argsort(-values, axis=1, kind="stable")
    table = phrases[groups].to_numpy(dtype=object)
    rows = np.arange(len(mean))[:, None]
    ranked = np.where(np.take_along_axis(values, order, axis=1) >= MIN_CONTRIBUTION, table[rows, order], "")
    parts = np.column_stack([phrases["overdue_now"].to_numpy(dtype=object), ranked])
    texts = pd.Series(["; ".join([w for w in row if w][:MAX_DRIVERS]) for row in parts], index=mean.index, dtype=object)
    return texts.where(texts != "", phrases["on_time"])
