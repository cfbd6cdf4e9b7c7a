"""How much of the day's cash applied itself, per `as_of`.

    Receipts the cash application worked on 2025-06-30 (EUR):
      B1 -> FA-1 reference, auto          B2 -> FA-2 amount_exact, auto
      B3 -> FA-3 oldest_first, suggested  B4 unidentified (exception)
      B5 bank fees, not_a_receipt (exception, not a receipt: left out)
    auto_match_ratio = 2 / 4 = 0.5000; unmatched_bank_lines = 1

The bank lines of the day are those the day's matching run worked on (`bank_allocations` and
`bank_exceptions` of `as_of`: a receipt the ledger has not booked yet is worked again the next
day). A line is matched automatically when one of its allocations is `auto` (applied without a
human); the others wait in the worklist. Lines that are not customer receipts (`not_a_receipt`:
bank fees, interest, supplier refunds) are neither matched nor unmatched cash and count in
neither figure. Amounts are in the bank line's currency; a line's scope is the customer it was
allocated (or suggested) to, so a payer nobody recognised counts in the all-customers rows only.
"""

from __future__ import annotations

import pandas as pd

from receivables.kpis.scopes import SCOPE, amounts, complete, concat, ratios, scope_totals, with_scope

LINE = ["account", "statement_id", "bank_line_id"]
NOT_A_RECEIPT = "not_a_receipt"


def cash_application_kpis(allocations: pd.DataFrame, exceptions: pd.DataFrame, customers: pd.DataFrame,
                          scopes: pd.DataFrame) -> pd.DataFrame:
    """auto_match_ratio and unmatched_bank_lines. `allocations`: the day's, with the bank line's
    `line_currency`; `exceptions`: the day's."""
    matched = (allocations.assign(auto=allocations["status"] == "auto")
               .groupby(LINE, as_index=False).agg(customer_id=("customer_id", "first"),
                                                  currency=("line_currency", "first"), auto=("auto", "any")))
    receipts = exceptions[exceptions["reason_code"] != NOT_A_RECEIPT]
    lines = pd.concat([
        matched.assign(auto=matched["auto"].astype("int64"), unmatched=0),
        pd.DataFrame({"customer_id": receipts["suggested_customer_id"].to_numpy(dtype=object),
                      "currency": receipts["currency"].to_numpy(dtype=object), "auto": 0, "unmatched": 1}),
    ], ignore_index=True).assign(lines=1, breakdown="")
    frame = with_scope(lines, customers)
    per = scope_totals(frame[SCOPE + ["breakdown", "lines", "auto", "unmatched"]], ["lines", "auto", "unmatched"],
                       by=["breakdown"])
    per = complete(per, scopes, [""], ["lines", "auto", "unmatched"])
    return concat([ratios("auto_match_ratio", per, "auto", "lines"),
                   amounts("unmatched_bank_lines", per, "unmatched")])
