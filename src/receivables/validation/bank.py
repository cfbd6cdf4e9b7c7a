"""The bank-line suite: what must hold for a bank line to be matched, checked with GX.

    >>> outcome = validate_bank_lines(read_statement(path), as_of=date(2025, 6, 30))   # doctest: +SKIP

Errors (the line goes to quarantine, nothing else of the statement is lost): no line id, no
booking date, an unknown currency, a zero amount, a line id repeated in its statement.
Warnings (the line is kept, the report says it): a line booked after the business date, the
same payment in two statements of the same account (a duplicate statement?), a receipt
without a payer name, and each statement whose opening balance plus lines is not its closing.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from receivables.bank.schema import StatementRead
from receivables.ledger.schema import QUARANTINE_COLUMNS, conform
from receivables.money import ISO_4217
from receivables.validation.gx import Rule, expectations, run_rules
from receivables.validation.ledger import Finding, ValidationOutcome


def bank_rules() -> list[Rule]:
    gxe = expectations()
    return [
        Rule(gxe.ExpectColumnValuesToNotBeNull(column="bank_line_id"), "error", "missing_field",
             "the line has no id", "bank_line_id"),
        Rule(gxe.ExpectColumnValuesToNotBeNull(column="booking_date"), "error", "missing_field",
             "the line has no booking date", "booking_date"),
        Rule(gxe.ExpectColumnValuesToBeInSet(column="currency", value_set=sorted(ISO_4217)), "error", "bad_currency",
             "the currency is not an ISO 4217 code", "currency"),
        Rule(gxe.ExpectColumnValuesToNotBeInSet(column="amount_minor", value_set=[0]), "error", "zero_amount",
             "the amount is zero", "amount"),
        Rule(gxe.ExpectCompoundColumnsToBeUnique(column_list=["account", "statement_id", "bank_line_id"]), "error",
             "duplicate_line_id", "the line id appears twice in its statement", "bank_line_id"),
        Rule(gxe.ExpectColumnValuesToBeInSet(column="booked_by_as_of", value_set=[True]), "warning", "future_line",
             "booked after the business date", "booking_date"),
        Rule(gxe.ExpectColumnValuesToBeInSet(column="in_one_statement", value_set=[True]), "warning",
             "possible_duplicate", "the same payment is in another statement of this account", ""),
        Rule(gxe.ExpectColumnValuesToNotBeNull(column="payer_name"), "warning", "missing_payer",
             "a receipt without a payer name: only its reference can identify the customer", "counterparty_name"),
    ]


def validate_bank_lines(read: StatementRead, as_of: dt.date, source_file: str) -> ValidationOutcome:
    lines = read.lines.reset_index(drop=True)
    findings = [Finding("warning", "statement_finding", f"statement {s.statement_id}: {f}", 1, [])
                for s in read.statements for f in s.findings]
    findings += [Finding("error", str(q.reason_code), str(q.reason), 1, [int(q.line_no)])
                 for q in read.quarantine.itertuples()]
    results = []
    rejected = pd.Series(False, index=lines.index)
    records = []
    if len(lines):
        frame = lines[["account", "statement_id", "bank_line_id", "booking_date", "currency", "amount_minor"]].copy()
        frame["line_ref"] = lines["statement_id"] + ":" + lines["bank_line_id"].fillna("")
        frame["bank_line_id"] = frame["bank_line_id"].replace("", None)
        frame["booked_by_as_of"] = (lines["booking_date"] <= pd.Timestamp(as_of)).to_numpy()
        payment = ["account", "booking_date", "amount_minor", "remittance", "end_to_end_id", "counterparty_name"]
        statements_per_payment = lines.groupby(payment, dropna=False)["statement_id"].transform("nunique")
        frame["in_one_statement"] = (statements_per_payment == 1).to_numpy()
        frame["payer_name"] = lines["counterparty_name"].where(
            (lines["amount_minor"] <= 0) | (lines["counterparty_name"].fillna("") != ""), None)
        results = run_rules(frame, bank_rules(), suite_name="bank_lines", index_column="line_ref")
        for result in results:
            if result.success:
                continue
            rule = result.rule
            findings.append(Finding(rule.severity, rule.reason_code, rule.reason, result.unexpected_count,
                                    result.failed_line_nos[:20]))
            if rule.severity == "error":
                hit = frame["line_ref"].isin(result.failed_line_nos) & ~rejected
                records += [{"line_no": int(p), "field": rule.field, "reason_code": rule.reason_code,
                             "reason": f"bank line {ref}: {rule.reason}", "raw": raw}
                            for p, ref, raw in zip(lines.loc[hit, "position"], frame.loc[hit, "line_ref"],
                                                   lines.loc[hit, "raw"].fillna(""))]
                rejected |= hit
    quarantine = pd.concat([conform(read.quarantine, QUARANTINE_COLUMNS),
                            conform(pd.DataFrame(records).assign(source_file=source_file), QUARANTINE_COLUMNS)
                            if records else read.quarantine.iloc[:0]], ignore_index=True)
    outcome = ValidationOutcome(source_file=source_file, lines=lines[~rejected].reset_index(drop=True),
                                quarantine=quarantine, rows_read=read.entries_read, findings=findings, results=results)
    outcome.check_conservation()
    return outcome
