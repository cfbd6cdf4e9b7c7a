"""Small receivable ledgers written like AR documents: invoices, payments and lettering as the
normalized lines a ledger source would produce, and a customer master."""

from __future__ import annotations

import pandas as pd

from receivables.ledger.schema import CUSTOMER_COLUMNS, LINE_COLUMNS, conform, empty_customers

D = pd.Timestamp


def line(journal: str, num: str, date: str, customer: str, piece: str, debit: int = 0, credit: int = 0, *,
         let: str = "", let_date: str | None = None, account: str = "411000", piece_date: str | None = None,
         due: str | None = None, currency: str = "EUR") -> dict:
    """One receivable line (amounts in cents) as a ledger source would normalize it."""
    return {"source_file": "ledger.txt", "journal_code": journal, "journal_lib": journal, "entry_num": num,
            "entry_date": D(date), "account": account, "aux_account": customer, "piece_ref": piece,
            "piece_date": D(piece_date or date), "label": f"{piece} {customer}", "debit_minor": debit,
            "credit_minor": credit, "let_code": let, "let_date": D(let_date) if let_date else pd.NaT,
            "due_date": D(due) if due else pd.NaT, "currency": currency}


def ledger(*lines: dict) -> pd.DataFrame:
    frame = pd.DataFrame(list(lines))
    frame["line_no"] = range(2, len(frame) + 2)
    return conform(frame, LINE_COLUMNS)


def master(*rows: tuple[str, str, int | None]) -> pd.DataFrame:
    """(customer_id, segment, payment_terms_days) rows of a customer master."""
    frame = pd.DataFrame([{"customer_id": c, "name": c, "segment": s, "strategic": False,
                           "payment_terms_days": t} for c, s, t in rows])
    frame["payment_terms_days"] = frame["payment_terms_days"].astype("Int64")
    return conform(frame, CUSTOMER_COLUMNS)


NO_CUSTOMERS = empty_customers()
