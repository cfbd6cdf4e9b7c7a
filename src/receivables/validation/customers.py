"""The customer-master suite, checked with Great Expectations on what the reader normalized.

    >>> outcome = validate_customers(read_customer_master(Path("customers.csv")))   # doctest: +SKIP
    >>> [f.reason_code for f in outcome.findings]                                    # doctest: +SKIP
    ['no_contact', 'missing_language']

The reader (`ledger/customers.py`) already quarantines unusable rows and blanks bad optional
fields; this suite is the contract of what loads (an error here means a customer is dropped, and
is a reader bug or a new kind of bad input) and the warnings a credit manager acts on: customers
nobody can be reminded (no email, phone or address), no language or country (reminders fall back
to the default language and calendar), no segment (scenario rules cannot pick the right one).
"""

from __future__ import annotations

import pandas as pd

from receivables.ledger.customers import CustomerRead
from receivables.ledger.schema import QUARANTINE_COLUMNS, SEGMENTS, conform
from receivables.validation.gx import Rule, expectations, run_rules
from receivables.validation.ledger import Finding, ValidationOutcome


def customer_rules() -> list[Rule]:
    gxe = expectations()
    return [
        Rule(gxe.ExpectColumnValuesToNotBeNull(column="customer_id"), "error", "missing_field",
             "the customer has no id", "customer_id"),
        Rule(gxe.ExpectColumnValuesToBeUnique(column="customer_id"), "error", "duplicate_customer",
             "the customer id is defined twice", "customer_id"),
        Rule(gxe.ExpectColumnValuesToMatchRegex(column="country", regex=r"^(?:[A-Z]{2})?$"), "error", "bad_country",
             "the country is not an ISO 3166 alpha-2 code", "country"),
        Rule(gxe.ExpectColumnValuesToMatchRegex(column="language", regex=r"^(?:[a-z]{2})?$"), "error", "bad_language",
             "the language is not an ISO 639-1 code", "language"),
        Rule(gxe.ExpectColumnValuesToBeInSet(column="segment", value_set=["", *SEGMENTS]), "error", "bad_segment",
             "the segment is not one of TPE, PME, ETI, GE", "segment"),
        Rule(gxe.ExpectColumnValuesToBeBetween(column="payment_terms_days", min_value=0, max_value=365),
             "error", "bad_terms", "payment terms outside 0..365 days", "payment_terms_days"),
        Rule(gxe.ExpectColumnValuesToBeInSet(column="has_contact", value_set=[True]), "warning", "no_contact",
             "no email, phone or address: this customer cannot be reminded", "email"),
        Rule(gxe.ExpectColumnValuesToNotBeNull(column="name"), "warning", "missing_name",
             "the customer has no name", "name"),
        Rule(gxe.ExpectColumnValuesToNotBeNull(column="language_or_none"), "warning", "missing_language",
             "no language: reminders use the country's language or the default", "language"),
        Rule(gxe.ExpectColumnValuesToNotBeNull(column="segment_or_none"), "warning", "missing_segment",
             "no segment: scenario rules by segment cannot apply", "segment"),
    ]


def validate_customers(read: CustomerRead, source_file: str) -> ValidationOutcome:
    customers = read.customers.reset_index(drop=True)
    frame = customers[["customer_id", "country", "language", "segment", "payment_terms_days"]].copy()
    frame["customer_id"] = frame["customer_id"].replace("", None)
    frame["name"] = customers["name"].replace("", None)
    frame["payment_terms_days"] = frame["payment_terms_days"].astype("float64")   # GX compares numbers; NA skipped
    frame["has_contact"] = (customers[["email", "phone", "address"]] != "").any(axis=1)
    frame["language_or_none"] = customers["language"].replace("", None)
    frame["segment_or_none"] = customers["segment"].replace("", None)
    results = run_rules(frame, customer_rules(), suite_name="customers", index_column="customer_id")
    findings = [Finding("error", str(q.reason_code), str(q.reason), 1, [int(q.line_no)])
                for q in read.quarantine.itertuples()]
    rejected: dict = {}   # customer id -> the first error rule it failed
    for result in results:
        if result.success:
            continue
        rule = result.rule
        findings.append(Finding(rule.severity, rule.reason_code, rule.reason, result.unexpected_count,
                                result.failed_line_nos[:20]))
        if rule.severity == "error":
            for cid in result.failed_line_nos:
                rejected.setdefault(cid, rule)
    removed = customers[customers["customer_id"].isin(list(rejected))]
    records = [{"line_no": 0, "field": rejected[cid].field, "reason_code": rejected[cid].reason_code,
                "reason": f"customer {cid}: {rejected[cid].reason}", "raw": str(cid)} for cid in removed["customer_id"]]
    by_field: dict[str, list] = {}
    for warning in read.warnings:
        by_field.setdefault(warning["field"], []).append(warning)
    for field_name, warnings in by_field.items():
        findings.append(Finding("warning", f"blanked_{field_name}", f"{field_name}: {warnings[0]['reason']} (blanked)",
                                len(warnings), [w["line"] for w in warnings[:20]]))
    extra = conform(pd.DataFrame(records).assign(source_file=source_file), QUARANTINE_COLUMNS) if records \
        else read.quarantine.iloc[:0]
    outcome = ValidationOutcome(
        source_file=source_file, lines=customers.drop(index=removed.index).reset_index(drop=True),
        quarantine=pd.concat([conform(read.quarantine, QUARANTINE_COLUMNS), extra], ignore_index=True),
        rows_read=read.rows_read, findings=findings, results=results,
    )
    outcome.check_conservation()
    return outcome
