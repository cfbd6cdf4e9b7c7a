"""The customer-master suite: what blocks a customer, and what a credit manager is warned about."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from receivables.ledger.customers import CustomerRead, read_customer_master
from receivables.ledger.schema import CUSTOMER_COLUMNS, conform, empty_quarantine
from receivables.validation.customers import validate_customers

MASTER = """customer_id,name,country,language,email,phone,address,segment,strategic,payment_terms_days,opt_out_channels
C001,Boulangerie Martin SARL,FR,fr,compta@martin.example,+33102030405,"1 rue Haute, 75001 Paris",TPE,false,30,
C002,Müller Logistik GmbH,DE,de,buchhaltung@mueller.example,,,PME,false,45,
C003,Ghost Trading,ZZZ,,,,,,false,,
C004,Bouwbedrijf Claes CommV,BE,nl,,+3222334455,,GE,true,60,sms
"""


def findings_by_code(outcome) -> dict:
    return {f.reason_code: f for f in outcome.findings}


def test_a_customer_nobody_can_reach_is_reported_but_still_loaded(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text(MASTER, encoding="utf-8")
    outcome = validate_customers(read_customer_master(path), path.name)
    found = findings_by_code(outcome)
    assert found["no_contact"].line_nos == ["C003"]
    assert found["missing_language"].line_nos == ["C003"]
    assert found["missing_segment"].line_nos == ["C003"]
    assert found["blanked_country"].count == 1        # 'ZZZ' blanked by the reader, reported here
    assert set(outcome.lines["customer_id"]) == {"C001", "C002", "C003", "C004"}
    assert outcome.success   # warnings only
    assert outcome.rows_read == len(outcome.lines) + len(outcome.quarantine)


def test_a_customer_breaking_the_contract_is_quarantined_with_its_id():
    customers = conform(pd.DataFrame([
        {"customer_id": "C001", "name": "Boulangerie Martin", "country": "FR", "language": "fr", "email": "a@b.example",
         "segment": "TPE", "payment_terms_days": 30},
        {"customer_id": "C002", "name": "Grand Compte", "country": "FR", "language": "fr", "email": "c@d.example",
         "segment": "XXL", "payment_terms_days": 400},
    ]), CUSTOMER_COLUMNS)
    outcome = validate_customers(CustomerRead(customers=customers, quarantine=empty_quarantine(), rows_read=2),
                                 "customers.csv")
    assert outcome.lines["customer_id"].tolist() == ["C001"]
    assert outcome.quarantine[["reason_code", "reason"]].values.tolist() == [
        ["bad_segment", "customer C002: the segment is not one of TPE, PME, ETI, GE"]]
    assert {f.reason_code for f in outcome.findings if f.severity == "error"} == {"bad_segment", "bad_terms"}
    assert outcome.rows_read == len(outcome.lines) + len(outcome.quarantine)


def test_the_generated_customer_master_passes_the_suite(demo_portfolio):
    path = Path(demo_portfolio["customers_csv"])
    outcome = validate_customers(read_customer_master(path), path.name)
    assert outcome.quarantine.empty
    assert len(outcome.lines) == demo_portfolio["customers"]
