"""What applied cash does to the open items, and the lettering export for the accounting system.

    Open on 2025-06-30: FA-1 1200.00, FA-2 480.00 (C001).
    auto allocations: line B1 -> FA-1 1200.00; line B2 -> FA-2 200.00, on account 0.00
    apply_allocations(items, allocations)  ->  FA-2 open 280.00 (FA-1 settled)
    lettering_export(...)  ->  FA-1's 411 line with lettering code RB000001, dated 2025-06-30

Only `auto` allocations apply; `suggested` ones wait in the worklist. An on-account allocation
becomes a credit item of the customer ("ON-ACCOUNT <bank line>"), netted in its balance.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from receivables.ledger.open_items import OPEN_ITEM_COLUMNS, bucket_of, receivable_lines

SETTLING_RULES = frozenset({"reference", "reference_partial", "amount_exact", "amount_combination",
                            "amount_tolerance", "oldest_first", "amount_unique"})


def apply_allocations(items: pd.DataFrame, allocations: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Open items after the `auto` allocations of the day (invoices reduced, on-account credits added)."""
    applied = allocations[allocations["status"] == "auto"]
    if applied.empty:
        return items
    keys = ["customer_id", "invoice_id", "currency"]
    paid = (applied[applied["rule"].isin(SETTLING_RULES) & (applied["invoice_id"] != "")]
            .groupby(keys)["amount_minor"].sum().rename("paid"))
    out = items.join(paid, on=keys)
    is_invoice = out["item_type"] == "invoice"
    out["open_minor"] = (out["open_minor"] - out["paid"].fillna(0).where(is_invoice, 0)).astype("int64")
    out = out[out["open_minor"] != 0].drop(columns="paid")
    on_account = applied[applied["rule"] == "on_account"]
    if len(on_account):
        day = pd.Timestamp(as_of)
        credits = pd.DataFrame({
            "customer_id": on_account["customer_id"].to_numpy(),
            "invoice_id": ("ON-ACCOUNT " + on_account["bank_line_id"]).to_numpy(),
            "currency": on_account["currency"].to_numpy(), "item_type": "credit", "doc_date": day, "due_date": day,
            "original_minor": -on_account["amount_minor"].to_numpy(), "open_minor": -on_account["amount_minor"].to_numpy(),
            "days_overdue": 0, "bucket": "not_due"})
        out = pd.concat([out, credits], ignore_index=True)
    out["bucket"] = bucket_of(out["days_overdue"])
    return out[OPEN_ITEM_COLUMNS].reset_index(drop=True)


def lettering_export(allocations: pd.DataFrame, lines: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The receivable ledger lines settled in full by today's auto allocations, with a new
    lettering code per bank line and customer, for re-import into the accounting system."""
    applied = allocations[(allocations["status"] == "auto") & allocations["rule"].isin(SETTLING_RULES)
                          & (allocations["invoice_id"] != "")]
    columns = ["journal_code", "entry_num", "line_no", "account", "aux_account", "piece_ref", "currency", "debit_minor",
               "let_code", "let_date", "bank_line_id", "statement_id", "allocated_minor"]
    if applied.empty:
        return pd.DataFrame(columns=columns)
    rec = receivable_lines(lines, as_of)
    open_debits = rec[(rec["let_code"] == "") & (rec["debit_minor"] > 0)]
    groups = applied.groupby(["bank_line_id", "customer_id"], sort=True).ngroup()
    codes = "RB" + pd.Series(groups.to_numpy() + 1).map(lambda n: f"{n:06d}").to_numpy()
    applied = applied.assign(let_code=codes)
    export = open_debits.drop(columns=["let_code", "let_date"]).merge(applied[["customer_id", "invoice_id", "let_code", "bank_line_id", "statement_id",
                                        "amount_minor"]],
                               left_on=["customer_id", "piece_ref"], right_on=["customer_id", "invoice_id"])
    # Only what is settled in full: a partial payment is not lettered (the group would not balance).
    export = export[export["amount_minor"] >= export["debit_minor"]]
    export = export.assign(let_date=pd.Timestamp(as_of), allocated_minor=export["amount_minor"])
    return export[columns].sort_values(["let_code", "line_no"]).reset_index(drop=True)
