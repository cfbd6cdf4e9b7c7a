"""Open items as of a date, rebuilt from the lettering of the receivable lines.

    Customer C1: invoice FA-1 1200.00 on 2025-03-01, payment 1200.00 on 2025-04-10, both
    lettered 'AA' on 2025-04-12.
    open_items(lines, customers, as_of=2025-04-01)  ->  FA-1 open 1200.00, 1 day overdue
    open_items(lines, customers, as_of=2025-04-11)  ->  FA-1 open 1200.00 (the payment is
        there, but the lettering that ties it to FA-1 is dated 2025-04-12): FA-1 open and an
        unapplied credit of -1200.00, net 0
    open_items(lines, customers, as_of=2025-04-12)  ->  nothing open

Rules, all vectorized:
- receivable lines are those on accounts 411* dated on or before `as_of`; the customer is the
  auxiliary account (CompAuxNum), else the account itself (ledgers with one 411xxx per customer);
- a line counts as lettered on `as_of` when it has a lettering code and its lettering date is on
  or before `as_of`; with no lettering date (some exports leave DateLet empty) the group is taken
  as lettered on the date of its last line;
- a lettering group that balances closes all its lines; one that does not (partial lettering)
  leaves its balance open: what the customer still owes stays on the group's invoices, oldest
  paid first; an overpayment stays on the group's credits, newest kept first;
- unlettered lines stay open whole: debits are invoices, credits are unapplied payments or
  credit notes (negative open amounts);
- an item is the customer's document (PieceRef; else journal and entry number); its due date is
  the source's due date when it has one (CSV exports, SQL sources), else the document date plus
  the customer's payment terms, else plus `default_terms_days`. Credits are aged from their date.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from receivables.ledger.schema import RECEIVABLE_ACCOUNT_PREFIX

BUCKETS = ("not_due", "d1_30", "d31_60", "d61_90", "d91_120", "over_120")
_BUCKET_EDGES = [-np.inf, 0, 30, 60, 90, 120, np.inf]

# Journals that carry balances forward from the previous fiscal year: not sales of the period.
OPENING_JOURNALS = frozenset({"AN", "ANO", "RAN", "ANX", "OUV", "DEFERRAL"})

OPEN_ITEM_COLUMNS = ["customer_id", "invoice_id", "currency", "item_type", "doc_date", "due_date",
                     "original_minor", "open_minor", "days_overdue", "bucket"]


def _text(series: pd.Series) -> pa.Array:
    """A text column as an Arrow array: its string kernels run in C, not once per row in Python."""
    return pa.array(series.to_numpy(dtype=object), type=pa.string(), from_pandas=True)


def _mask(values: pa.Array, index: pd.Index) -> pd.Series:
    return pd.Series(values.fill_null(False).to_numpy(zero_copy_only=False), index=index)


def receivable_lines(lines: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The receivable lines booked on or before `as_of`, with their customer id."""
    cutoff = pd.Timestamp(as_of)
    receivable = _mask(pc.starts_with(_text(lines["account"]), RECEIVABLE_ACCOUNT_PREFIX), lines.index)
    mask = receivable & (lines["entry_date"] <= cutoff)
    rec = lines.loc[mask].copy()
    rec["customer_id"] = rec["aux_account"].where(rec["aux_account"] != "", rec["account"])
    return rec


def is_opening(rec: pd.DataFrame) -> pd.Series:
    """Lines of opening entries (balances carried forward: "A nouveaux"), not business of the period."""
    journal = pc.is_in(pc.utf8_upper(_text(rec["journal_code"])), value_set=pa.array(sorted(OPENING_JOURNALS)))
    label = pc.match_substring(_text(rec["journal_lib"]), "nouveau", ignore_case=True)
    return _mask(journal, rec.index) | _mask(label, rec.index)


def bucket_of(days_overdue: pd.Series) -> pd.Series:
    return pd.cut(days_overdue, _BUCKET_EDGES, labels=BUCKETS, right=True).astype(str)


def receivable_lines_open(lines: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The receivable lines of `as_of` with, per line: `amount` (signed minor units), `lettered`
    (on `as_of`), `let_day` (the lettering date, or the group's last line when DateLet is
    empty), `open` (what is still open of the line), `item_type`, `invoice_id`, `doc_date`."""
    cutoff = pd.Timestamp(as_of)
    rec = receivable_lines(lines, as_of)
    rec["amount"] = rec["debit_minor"] - rec["credit_minor"]

    lettered = rec["let_code"] != ""
    group = [rec["customer_id"], rec["let_code"]]
    group_last_line = rec["entry_date"].groupby(group).transform("max")
    rec["let_day"] = rec["let_date"].fillna(group_last_line).where(lettered)
    rec["lettered"] = lettered & (rec["let_day"] <= cutoff)

    # Open amount per line: whole for unlettered lines, from the group balance for lettered ones.
    rec["open"] = rec["amount"].where(~rec["lettered"], 0)
    grp = rec[rec["lettered"]].sort_values(["entry_date", "line_no"], kind="stable")
    if not grp.empty:
        keys = [grp["customer_id"], grp["let_code"]]
        balance = grp["amount"].groupby(keys).transform("sum")
        debit, credit = grp["debit_minor"], grp["credit_minor"]
        paid = credit.groupby(keys).transform("sum")
        owed = debit.groupby(keys).transform("sum")
        # Customer still owes (balance > 0): credits pay the oldest debits first.
        cum_debit = debit.groupby(keys).cumsum()
        debit_open = (cum_debit - paid).clip(lower=0).clip(upper=debit)
        # Overpaid (balance < 0): debits consume the oldest credits; the newest stay open.
        cum_credit = credit.groupby(keys).cumsum()
        credit_open = (cum_credit - owed).clip(lower=0).clip(upper=credit)
        group_open = np.where(balance > 0, debit_open, np.where(balance < 0, -credit_open, 0))
        rec.loc[grp.index, "open"] = group_open

    rec["item_type"] = np.where(rec["amount"] >= 0, "invoice", "credit")
    rec["invoice_id"] = rec["piece_ref"].where(
        rec["piece_ref"] != "", rec["journal_code"] + "-" + rec["entry_num"])
    rec["doc_date"] = rec["piece_date"].fillna(rec["entry_date"])
    return rec


def due_dates(items: pd.DataFrame, customers: pd.DataFrame, default_terms_days: int) -> pd.Series:
    """Per item (customer_id, doc_date, source_due): the source's due date, else the document
    date plus the customer's payment terms, else plus `default_terms_days`."""
    terms = customers.set_index("customer_id")["payment_terms_days"] if len(customers) else pd.Series(dtype="Int64")
    days = items["customer_id"].map(terms).astype("Float64").fillna(default_terms_days).astype("int64")
    return items["source_due"].fillna(items["doc_date"] + pd.to_timedelta(days, unit="D"))


def open_items(lines: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date,
               default_terms_days: int = 30, *, lines_open: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every document still open on `as_of`, one row per customer, document, currency and side.

    `lines_open`: `receivable_lines_open(lines, as_of)` when the caller has it already (it is
    the costly part, and scoring needs it too)."""
    cutoff = pd.Timestamp(as_of)
    rec = receivable_lines_open(lines, as_of) if lines_open is None else lines_open
    if rec.empty:
        return pd.DataFrame(columns=OPEN_ITEM_COLUMNS)
    rec = rec.assign(original=rec["amount"].abs())
    items = (
        rec.groupby(["customer_id", "invoice_id", "currency", "item_type"], sort=True)
        .agg(doc_date=("doc_date", "min"), source_due=("due_date", "max"),
             original_minor=("original", "sum"), open_minor=("open", "sum"))
        .reset_index()
    )
    items = items[items["open_minor"] != 0]
    items["original_minor"] = np.where(items["item_type"] == "credit", -items["original_minor"],
                                       items["original_minor"])
    items["due_date"] = due_dates(items, customers, default_terms_days).where(
        items["item_type"] == "invoice", items["doc_date"])
    items["days_overdue"] = (cutoff - items["due_date"]).dt.days.astype("int64")
    items["bucket"] = bucket_of(items["days_overdue"])
    return items[OPEN_ITEM_COLUMNS].reset_index(drop=True)
