"""Point-in-time features of an invoice: what was known about its customer at a given moment.

    Customer C1 paid FA-1 10 days late (settled 2025-04-10) and FA-2 20 days late (settled
    2025-05-20). For FA-3, issued 2025-05-01, `features(history, queries(at=2025-05-01))` sees
    FA-1 only: settled_n 1, days_late_mean 10. Predicting FA-3's payment on 2025-06-30
    (`at` = the day after as_of) sees both: settled_n 2, days_late_mean 15.

A query is an invoice still unpaid on a day (`at` is the day after it): its state then
(`days_overdue_now`, `age_days`) and what its customer's books showed before `at`. A settlement
counts from the day it was lettered (`known_settled`), when the books showed it, so a label never
leaks into the features of a day before it was known, and nothing after `as_of` exists at all
(the history is cut at `as_of`). Every cumulative figure is
read with one `merge_asof` per stream (settlements, due dates, issues), never a loop per invoice:
cost is O((invoices + queries) log n).

A customer with no settled invoice before `at` has NaN history features: the gradient boosting
model learns what a first invoice looks like from the customers who started inside the history.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from receivables.ledger.schema import SEGMENTS
from receivables.scoring.history import settled_invoices

FEATURES = [
    "days_overdue_now", "age_days", "log_amount", "terms_days", "amount_vs_usual",
    "settled_n", "days_late_mean", "days_late_weighted", "days_late_std", "days_late_max",
    "late_share", "late30_share", "partial_share", "days_to_pay_mean",
    "days_late_90d", "days_late_365d", "late_share_365d", "settled_n_365d", "days_since_last_settlement",
    "overdue_n", "log_overdue_amount", "log_outstanding", "issued_n", "tenure_days",
    "segment_code", "strategic", "foreign_currency",
]

# Features that move together, perturbed together when explaining a prediction (risk drivers).
DRIVER_GROUPS = {
    "late_history": ["days_late_mean", "days_late_weighted", "days_late_std", "days_late_max",
                     "late_share", "late30_share", "days_to_pay_mean"],
    "recent_trend": ["days_late_90d", "days_late_365d", "late_share_365d", "settled_n_365d",
                     "days_since_last_settlement"],
    "overdue_now": ["overdue_n", "log_overdue_amount"],
    "exposure": ["log_outstanding", "log_amount", "amount_vs_usual"],
    "instalments": ["partial_share"],
    "thin_history": ["settled_n", "issued_n", "tenure_days"],
    "terms": ["terms_days"],
}

# Counts and tenure grow with the time since the ledger starts, not with the customer: capped, so
# today's customers (with the longest records) never fall outside what the model was trained on.
COUNT_CAP = 24
TENURE_CAP_DAYS = 365

_SETTLED_SUMS = ["n", "dl", "dl2", "wdl", "amt", "late", "late30", "partial", "dtp"]


def _settlements(history: pd.DataFrame) -> pd.DataFrame:
    settled = settled_invoices(history)
    dl = settled["days_late"]
    out = pd.DataFrame({
        "customer_id": settled["customer_id"].to_numpy(),
        "t": settled["known_settled"].to_numpy(dtype="datetime64[ns]"),
        "n": 1.0,
        "dl": dl.to_numpy(),
        "dl2": (dl * dl).to_numpy(),
        "wdl": (dl * settled["original_minor"]).to_numpy(dtype="float64"),
        "amt": settled["original_minor"].to_numpy(dtype="float64"),
        "late": (dl > 0).to_numpy(dtype="float64"),
        "late30": (dl > 30).to_numpy(dtype="float64"),
        "partial": settled["partial"].to_numpy(dtype="float64"),
        "dtp": settled["days_to_pay"].to_numpy(),
    })
    return _cumulative(out, _SETTLED_SUMS, running_max="dl")


def _cumulative(events: pd.DataFrame, columns: list[str], running_max: str | None = None) -> pd.DataFrame:
    """Per customer, running sums of `columns` in time order (and `<running_max>_max`, the
    running max of that raw column), sorted by time for `merge_asof`."""
    events = events.sort_values(["customer_id", "t"], kind="stable")
    grouped = events.groupby("customer_id", sort=False)
    if running_max:
        events[f"{running_max}_max"] = grouped[running_max].cummax()
    for column in columns:
        events[column] = grouped[column].cumsum()
    events["last_t"] = events["t"]
    return events.sort_values("t", kind="stable")


def _asof(queries: pd.DataFrame, events: pd.DataFrame, at: pd.Series, columns: list[str], *,
          inclusive: bool) -> pd.DataFrame:
    """The running values of `events` per query, as of `at` (strictly before, or on or before)."""
    left = pd.DataFrame({"customer_id": queries["customer_id"].to_numpy(), "at": at.to_numpy(dtype="datetime64[ns]"),
                         "row": np.arange(len(queries))}).sort_values("at", kind="stable")
    if events.empty:
        found = pd.DataFrame(np.nan, index=range(len(queries)), columns=columns)
        return found
    merged = pd.merge_asof(left, events[["customer_id", "t", *columns]], left_on="at", right_on="t",
                           by="customer_id", allow_exact_matches=inclusive, direction="backward")
    return merged.set_index("row").sort_index()[columns].reset_index(drop=True)


def features(history: pd.DataFrame, queries: pd.DataFrame, customers: pd.DataFrame,
             ledger_currency: str = "EUR") -> pd.DataFrame:
    """FEATURES for each query row (customer_id, invoice_id, at, original_minor, doc_date, due_date,
    currency): the invoice itself plus its customer's history strictly before `at`.

    The query's own invoice is left out of the customer's open and overdue figures."""
    at = pd.to_datetime(queries["at"]).reset_index(drop=True)
    queries = queries.reset_index(drop=True)
    out = pd.DataFrame(index=queries.index)
    amount = queries["original_minor"].to_numpy(dtype="float64")
    seen = at - pd.Timedelta(days=1)                       # the day the query looks from
    out["days_overdue_now"] = (seen - queries["due_date"]).dt.days.to_numpy(dtype="float64")
    out["age_days"] = (seen - queries["doc_date"]).dt.days.to_numpy(dtype="float64")
    out["log_amount"] = np.log1p(np.maximum(amount, 0) / 100)
    out["terms_days"] = (queries["due_date"] - queries["doc_date"]).dt.days.to_numpy(dtype="float64")

    # -- settlements before `at` --------------------------------------------------------------
    settled = _settlements(history)
    columns = [*_SETTLED_SUMS, "dl_max", "last_t"]
    now = _asof(queries, settled, at, columns, inclusive=False)
    n = now["n"].fillna(0).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = now["dl"].to_numpy() / n
        out["settled_n"] = np.minimum(n, COUNT_CAP)
        out["days_late_mean"] = mean
        out["days_late_weighted"] = now["wdl"].to_numpy() / now["amt"].to_numpy()
        out["days_late_std"] = np.sqrt(np.maximum(now["dl2"].to_numpy() / n - mean * mean, 0))
        out["days_late_max"] = now["dl_max"].to_numpy()
        out["late_share"] = now["late"].to_numpy() / n
        out["late30_share"] = now["late30"].to_numpy() / n
        out["partial_share"] = now["partial"].to_numpy() / n
        out["days_to_pay_mean"] = now["dtp"].to_numpy() / n
        for days, name in ((90, "90d"), (365, "365d")):
            before = _asof(queries, settled, at - pd.Timedelta(days=days), _SETTLED_SUMS, inclusive=True)
            window_n = n - before["n"].fillna(0).to_numpy()
            window_dl = now["dl"].fillna(0).to_numpy() - before["dl"].fillna(0).to_numpy()
            out[f"days_late_{name}"] = np.where(window_n > 0, window_dl / np.where(window_n > 0, window_n, 1), np.nan)
            if days == 365:
                window_late = now["late"].fillna(0).to_numpy() - before["late"].fillna(0).to_numpy()
                out["late_share_365d"] = np.where(window_n > 0, window_late / np.where(window_n > 0, window_n, 1), np.nan)
                out["settled_n_365d"] = np.minimum(window_n, COUNT_CAP)
    out["days_since_last_settlement"] = (at - pd.to_datetime(now["last_t"])).dt.days.to_numpy(dtype="float64")

    # -- overdue and outstanding at `at`, without the query's own invoice ----------------------
    inv = history
    far = pd.Timestamp.max.normalize()
    close = inv["known_settled"].fillna(far)
    close = close.where(close > inv["due_date"], inv["due_date"])
    amt = inv["original_minor"].to_numpy(dtype="float64")
    due_ev = _stream(inv["customer_id"], inv["due_date"], amt)
    close_ev = _stream(inv["customer_id"], close, amt)
    issue_ev = _stream(inv["customer_id"], inv["doc_date"], amt)
    known = inv["known_settled"].notna()
    settle_ev = _stream(inv["customer_id"][known], inv["known_settled"][known], amt[known.to_numpy()])
    cols = ["n", "amt"]
    due_now = _asof(queries, due_ev, at, cols, inclusive=False).fillna(0)
    close_now = _asof(queries, close_ev, at, cols, inclusive=False).fillna(0)
    issued = _asof(queries, issue_ev, at, cols, inclusive=False).fillna(0)
    settled_amt = _asof(queries, settle_ev, at, cols, inclusive=False).fillna(0)
    own_due = (queries["due_date"] < at).to_numpy()
    own_issued = (queries["doc_date"] < at).to_numpy()
    overdue_n = due_now["n"].to_numpy() - close_now["n"].to_numpy() - own_due
    overdue_amt = due_now["amt"].to_numpy() - close_now["amt"].to_numpy() - amount * own_due
    outstanding = issued["amt"].to_numpy() - settled_amt["amt"].to_numpy() - amount * own_issued
    issued_n = issued["n"].to_numpy() - own_issued
    issued_amt = issued["amt"].to_numpy() - amount * own_issued
    out["overdue_n"] = np.maximum(overdue_n, 0)
    out["log_overdue_amount"] = np.log1p(np.maximum(overdue_amt, 0) / 100)
    out["log_outstanding"] = np.log1p(np.maximum(outstanding, 0) / 100)
    out["issued_n"] = np.clip(issued_n, 0, COUNT_CAP)
    with np.errstate(invalid="ignore", divide="ignore"):
        usual = np.where(issued_n > 0, issued_amt / np.where(issued_n > 0, issued_n, 1), np.nan)
        out["amount_vs_usual"] = amount / usual
    first = history.groupby("customer_id")["doc_date"].min()
    start = queries["customer_id"].map(first)
    out["tenure_days"] = (at - start).dt.days.clip(lower=0, upper=TENURE_CAP_DAYS).to_numpy(dtype="float64")

    # -- master data ---------------------------------------------------------------------------
    master = customers.set_index("customer_id") if len(customers) else None
    if master is not None:
        segment = queries["customer_id"].map(master["segment"]).fillna("")
        strategic = queries["customer_id"].map(master["strategic"]).eq(True)
    else:
        segment = pd.Series("", index=queries.index)
        strategic = pd.Series(False, index=queries.index)
    codes = {s: float(i) for i, s in enumerate(SEGMENTS)}
    out["segment_code"] = segment.map(codes).to_numpy(dtype="float64")
    out["strategic"] = strategic.to_numpy(dtype="float64")
    out["foreign_currency"] = (queries["currency"] != ledger_currency).to_numpy(dtype="float64")
    return out[FEATURES]


def _stream(customer: pd.Series, when: pd.Series, amount: np.ndarray) -> pd.DataFrame:
    events = pd.DataFrame({"customer_id": customer.to_numpy(), "t": pd.to_datetime(when).to_numpy(dtype="datetime64[ns]"),
                           "n": 1.0, "amt": amount})
    return _cumulative(events, ["n", "amt"])
