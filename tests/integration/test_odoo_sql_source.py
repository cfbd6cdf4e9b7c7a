"""The SQL ledger source against an Odoo-shaped PostgreSQL schema.

The scenario, company "Fournil SAS" (id 1, books in EUR), as of 2025-03-31:

    Boulangerie Martin (ref C0042, 30 days net)
      INV/2025/0001  2025-01-15  1200.00  due 2025-02-14  paid 2025-02-10 (BNK1/2025/00001): lettered
      INV/2025/0002  2025-02-03   480.00  due 2025-03-05  240.00 paid 2025-03-01: partial, unlettered
      RINV/2025/0001 2025-02-20  -120.00  credit note, open
      a draft invoice of 300.00 (not posted: not read)
      INV/2025/0004  2025-04-02   600.00  (after the as-of date: not read)
    Harbour Coffee Ltd (no ref -> P8, 30 days end of month)
      INV/2025/0003  2025-03-10   118.00 EUR = 100.00 GBP, export without VAT
    Moulin de la Vallee, a supplier: BILL/2025/0001 (touches no receivable: not read)
    Company 2 also has an INV/2025/0001 (another company: not read)
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy

from receivables.ledger.schema import (
    CUSTOMER_COLUMNS,
    LINE_COLUMNS,
    QUARANTINE_COLUMNS,
    LedgerFormatError,
)
from receivables.ledger.sql_source import read_sql_customers, read_sql_ledger

pytestmark = pytest.mark.postgres

ODOO_SQL = Path(__file__).resolve().parents[2] / "include" / "sql" / "sources" / "odoo"
LEDGER_SQL = ODOO_SQL / "ledger_lines.sql"
CUSTOMERS_SQL = ODOO_SQL / "customers.sql"
AS_OF = date(2025, 3, 31)
PARAMS = {"company_id": 1, "as_of": AS_OF}


# -- an Odoo-shaped schema: only the tables and columns the queries use ---------------------------

def odoo_ddl(version: int) -> str:
    account_name = "jsonb" if version >= 17 else "varchar"      # translatable from 17
    reconcile_name = ", name varchar" if version == 16 else ""    # gone in 17
    term_line_delay = ("nb_days integer, delay_type varchar" if version >= 17
                       else "days integer, months integer, end_month boolean, days_after integer")
    return f"""
    CREATE TABLE res_currency (id integer PRIMARY KEY, name varchar NOT NULL);
    CREATE TABLE res_country (id integer PRIMARY KEY, code varchar(2));
    CREATE TABLE res_partner (
        id integer PRIMARY KEY, name varchar, ref varchar, lang varchar, email varchar,
        phone varchar, mobile varchar, street varchar, street2 varchar, zip varchar,
        city varchar, country_id integer REFERENCES res_country);
    CREATE TABLE account_journal (
        id integer PRIMARY KEY, code varchar NOT NULL, name jsonb NOT NULL, company_id integer);
    CREATE TABLE account_account (
        id integer PRIMARY KEY, code varchar NOT NULL, name {account_name} NOT NULL,
        account_type varchar NOT NULL, company_id integer);
    CREATE TABLE account_move (
        id integer PRIMARY KEY, name varchar, ref varchar, date date NOT NULL,
        state varchar NOT NULL, move_type varchar NOT NULL,
        journal_id integer REFERENCES account_journal, company_id integer, invoice_date date);
    CREATE TABLE account_full_reconcile (id integer PRIMARY KEY{reconcile_name});
    CREATE TABLE account_move_line (
        id integer PRIMARY KEY, move_id integer NOT NULL REFERENCES account_move,
        company_id integer, account_id integer REFERENCES account_account,
        partner_id integer REFERENCES res_partner, name varchar, display_type varchar,
        debit numeric, credit numeric, amount_currency numeric,
        currency_id integer REFERENCES res_currency,
        company_currency_id integer REFERENCES res_currency,
        date date, date_maturity date,
        full_reconcile_id integer REFERENCES account_full_reconcile);
    CREATE TABLE account_payment_term (id integer PRIMARY KEY, name jsonb);
    CREATE TABLE account_payment_term_line (
        id integer PRIMARY KEY, payment_id integer REFERENCES account_payment_term,
        value varchar, value_amount numeric, {term_line_delay});
    CREATE TABLE ir_property (
        id integer PRIMARY KEY, name varchar, res_id varchar, company_id integer,
        value_reference varchar, type varchar);
    """


def account_name(version: int, label: str) -> str:
    return f"""'{{"en_US": "{label}"}}'""" if version >= 17 else f"'{label}'"


def odoo_scenario(version: int) -> str:
    def acc(label: str) -> str:
        return account_name(version, label)

    reconcile = "(17, 'A17')" if version == 16 else "(17)"
    if version >= 17:
        term_lines = """
        INSERT INTO account_payment_term_line (id, payment_id, value, value_amount, nb_days, delay_type)
        VALUES (1, 1, 'percent', 100, 30, 'days_after'),
               (2, 2, 'percent', 100, 30, 'days_after_end_of_month'),
               (3, 3, 'percent', 100, 45, 'days_after');"""
    else:
        term_lines = """
        INSERT INTO account_payment_term_line (id, payment_id, value, value_amount, days, months, end_month, days_after)
        VALUES (1, 1, 'balance', 0, 30, 0, false, 0),
               (2, 2, 'balance', 0, 30, 0, true, 0),
               (3, 3, 'balance', 0, 45, 0, false, 0);"""
    return f"""
    INSERT INTO res_currency VALUES (1, 'EUR'), (2, 'GBP');
    INSERT INTO res_country VALUES (75, 'FR'), (231, 'GB');
    INSERT INTO res_partner (id, name, ref, lang, email, phone, mobile, street, street2, zip, city, country_id)
    VALUES (7, 'Boulangerie Martin', 'C0042', 'fr_FR', 'compta@boulangerie-martin.fr',
            '+33 1 42 00 00 01', NULL, '12 rue de la Paix', NULL, '75002', 'Paris', 75),
           (8, 'Harbour Coffee Ltd', NULL, 'en_GB', 'accounts@harbourcoffee.co.uk',
            NULL, '+44 7700 900123', '3 Quay Street', 'Unit 4', 'BS1 4DJ', 'Bristol', 231),
           (9, 'Moulin de la Vallee', 'F0007', 'fr_FR', 'factures@moulin.fr',
            NULL, NULL, NULL, NULL, NULL, NULL, 75);
    INSERT INTO account_journal VALUES
        (1, 'VE',   '{{"en_US": "Customer Invoices", "fr_FR": "Factures clients"}}', 1),
        (2, 'BNK1', '{{"en_US": "Bank"}}', 1),
        (3, 'AC',   '{{"en_US": "Vendor Bills"}}', 1),
        (4, 'OD',   '{{"en_US": "Miscellaneous Operations"}}', 1),
        (5, 'VE',   '{{"en_US": "Customer Invoices"}}', 2);
    INSERT INTO account_account VALUES
        (1, '411100', {acc('Clients')}, 'asset_receivable', 1),
        (2, '706000', {acc('Prestations de services')}, 'income', 1),
        (3, '445710', {acc('TVA collectee')}, 'liability_current', 1),
        (4, '512000', {acc('Banque')}, 'asset_cash', 1),
        (5, '401100', {acc('Fournisseurs')}, 'liability_payable', 1),
        (6, '607000', {acc('Achats de marchandises')}, 'expense', 1),
        (7, '445660', {acc('TVA deductible')}, 'asset_current', 1),
        (11, '411100', {acc('Clients')}, 'asset_receivable', 2),
        (12, '706000', {acc('Prestations de services')}, 'income', 2);
    INSERT INTO account_move (id, name, ref, date, state, move_type, journal_id, company_id, invoice_date) VALUES
        (1,  'INV/2025/0001',   NULL,                    '2025-01-15', 'posted', 'out_invoice', 1, 1, '2025-01-15'),
        (2,  'INV/2025/0002',   NULL,                    '2025-02-03', 'posted', 'out_invoice', 1, 1, '2025-02-03'),
        (3,  'BNK1/2025/00001', NULL,                    '2025-02-10', 'posted', 'entry',       2, 1, NULL),
        (4,  'RINV/2025/0001',  'Geste commercial',      '2025-02-20', 'posted', 'out_refund',  1, 1, '2025-02-20'),
        (5,  'BNK1/2025/00002', 'INV/2025/0002 acompte', '2025-03-01', 'posted', 'entry',       2, 1, NULL),
        (6,  'INV/2025/0003',   NULL,                    '2025-03-10', 'posted', 'out_invoice', 1, 1, '2025-03-10'),
        (7,  '/',               NULL,                    '2025-03-12', 'draft',  'out_invoice', 1, 1, NULL),
        (8,  'BILL/2025/0001',  'FAC-7781',              '2025-03-05', 'posted', 'in_invoice',  3, 1, '2025-03-04'),
        (9,  'INV/2025/0001',   NULL,                    '2025-01-20', 'posted', 'out_invoice', 5, 2, '2025-01-20'),
        (10, 'INV/2025/0004',   NULL,                    '2025-04-02', 'posted', 'out_invoice', 1, 1, '2025-04-02');
    INSERT INTO account_full_reconcile VALUES {reconcile};
    INSERT INTO account_move_line (id, move_id, company_id, account_id, partner_id, name, display_type,
                                   debit, credit, amount_currency, currency_id, company_currency_id,
                                   date, date_maturity, full_reconcile_id) VALUES
        -- INV/2025/0001: 1000.00 + 20 % VAT, a section line, paid in full and lettered
        (101, 1, 1, NULL, 7, 'Livraisons de janvier', 'line_section', 0, 0, 0, 1, 1, '2025-01-15', NULL, NULL),
        (102, 1, 1, 2, 7, 'Pain de campagne, janvier', 'product', 0, 1000.00, -1000.00, 1, 1, '2025-01-15', NULL, NULL),
        (103, 1, 1, 3, 7, 'TVA 20 %', 'tax', 0, 200.00, -200.00, 1, 1, '2025-01-15', NULL, NULL),
        (104, 1, 1, 1, 7, 'INV/2025/0001', 'payment_term', 1200.00, 0, 1200.00, 1, 1, '2025-01-15', '2025-02-14', 17),
        -- INV/2025/0002: 400.00 + VAT, half paid (partial reconcile: no full reconcile)
        (105, 2, 1, 2, 7, 'Viennoiseries, fevrier', 'product', 0, 400.00, -400.00, 1, 1, '2025-02-03', NULL, NULL),
        (106, 2, 1, 3, 7, 'TVA 20 %', 'tax', 0, 80.00, -80.00, 1, 1, '2025-02-03', NULL, NULL),
        (107, 2, 1, 1, 7, 'INV/2025/0002', 'payment_term', 480.00, 0, 480.00, 1, 1, '2025-02-03', '2025-03-05', NULL),
        -- the transfer that pays INV/2025/0001
        (108, 3, 1, 4, 7, 'VIR SEPA BOULANGERIE MARTIN', 'product', 1200.00, 0, 1200.00, 1, 1, '2025-02-10', '2025-02-10', NULL),
        (109, 3, 1, 1, 7, 'VIR SEPA BOULANGERIE MARTIN', 'product', 0, 1200.00, -1200.00, 1, 1, '2025-02-10', '2025-02-10', 17),
        -- RINV/2025/0001: a credit note of 100.00 + VAT, still open
        (110, 4, 1, 2, 7, 'Geste commercial, pain brule', 'product', 100.00, 0, 100.00, 1, 1, '2025-02-20', NULL, NULL),
        (111, 4, 1, 3, 7, 'TVA 20 %', 'tax', 20.00, 0, 20.00, 1, 1, '2025-02-20', NULL, NULL),
        (112, 4, 1, 1, 7, 'RINV/2025/0001', 'payment_term', 0, 120.00, -120.00, 1, 1, '2025-02-20', '2025-02-20', NULL),
        -- half of INV/2025/0002
        (113, 5, 1, 4, 7, 'ACOMPTE INV/2025/0002', 'product', 240.00, 0, 240.00, 1, 1, '2025-03-01', '2025-03-01', NULL),
        (114, 5, 1, 1, 7, 'ACOMPTE INV/2025/0002', 'product', 0, 240.00, -240.00, 1, 1, '2025-03-01', '2025-03-01', NULL),
        -- INV/2025/0003: 100.00 GBP booked at 118.00 EUR
        (115, 6, 1, 2, 8, 'Cafe en grains', 'product', 0, 118.00, -100.00, 2, 1, '2025-03-10', NULL, NULL),
        (116, 6, 1, 1, 8, 'INV/2025/0003', 'payment_term', 118.00, 0, 100.00, 2, 1, '2025-03-10', '2025-04-30', NULL),
        -- the draft invoice
        (117, 7, 1, 2, 7, 'Brioches', 'product', 0, 250.00, -250.00, 1, 1, '2025-03-12', NULL, NULL),
        (118, 7, 1, 3, 7, 'TVA 20 %', 'tax', 0, 50.00, -50.00, 1, 1, '2025-03-12', NULL, NULL),
        (119, 7, 1, 1, 7, '/', 'payment_term', 300.00, 0, 300.00, 1, 1, '2025-03-12', '2025-04-11', NULL),
        -- the supplier bill
        (120, 8, 1, 6, 9, 'Farine T65', 'product', 500.00, 0, 500.00, 1, 1, '2025-03-05', NULL, NULL),
        (121, 8, 1, 7, 9, 'TVA 20 %', 'tax', 100.00, 0, 100.00, 1, 1, '2025-03-05', NULL, NULL),
        (122, 8, 1, 5, 9, 'FAC-7781', 'payment_term', 0, 600.00, -600.00, 1, 1, '2025-03-05', '2025-04-04', NULL),
        -- company 2
        (123, 9, 2, 12, 7, 'Formation', 'product', 0, 900.00, -900.00, 1, 1, '2025-01-20', NULL, NULL),
        (124, 9, 2, 11, 7, 'INV/2025/0001', 'payment_term', 900.00, 0, 900.00, 1, 1, '2025-01-20', '2025-02-19', NULL),
        -- after the as-of date
        (125, 10, 1, 2, 7, 'Pain de mie', 'product', 0, 500.00, -500.00, 1, 1, '2025-04-02', NULL, NULL),
        (126, 10, 1, 3, 7, 'TVA 20 %', 'tax', 0, 100.00, -100.00, 1, 1, '2025-04-02', NULL, NULL),
        (127, 10, 1, 1, 7, 'INV/2025/0004', 'payment_term', 600.00, 0, 600.00, 1, 1, '2025-04-02', '2025-05-02', NULL);
    INSERT INTO account_payment_term VALUES
        (1, '{{"en_US": "30 Days"}}'),
        (2, '{{"en_US": "30 Days End of Month"}}'),
        (3, '{{"en_US": "45 Days"}}');
    {term_lines}
    INSERT INTO ir_property (id, name, res_id, company_id, value_reference, type) VALUES
        (1, 'property_payment_term_id', 'res.partner,7', 1, 'account.payment.term,1', 'many2one'),
        (2, 'property_payment_term_id', 'res.partner,8', 1, 'account.payment.term,2', 'many2one'),
        -- Boulangerie Martin's term in company 2, and company 1's default: neither applies
        (3, 'property_payment_term_id', 'res.partner,7', 2, 'account.payment.term,3', 'many2one'),
        (4, 'property_payment_term_id', NULL, 1, 'account.payment.term,3', 'many2one');
    """


@pytest.fixture
def odoo(postgres_engine, request):
    """An engine whose connections see a fresh Odoo-shaped schema (version: request.param)."""
    version = getattr(request, "param", 17)
    schema = f"odoo_test_{secrets.token_hex(4)}"
    quoted = postgres_engine.dialect.identifier_preparer.quote(schema)
    with postgres_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {quoted}")
    engine = sqlalchemy.create_engine(
        postgres_engine.url, connect_args={"options": f"-c search_path={schema}", "connect_timeout": 5})
    try:
        with engine.begin() as conn:
            run_script(conn, odoo_ddl(version))
            run_script(conn, odoo_scenario(version))
        yield engine
    finally:
        engine.dispose()
        with postgres_engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {quoted} CASCADE")


# -- helpers ---------------------------------------------------------------------------------------

LEDGER_VIEW = ["journal_code", "entry_num", "entry_date", "account", "aux_account", "piece_ref",
               "debit_minor", "credit_minor", "let_code", "let_date", "due_date"]


def rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """The frame as tuples, dates as ISO text (None when absent), for exact comparison."""
    view = frame[columns].copy()
    for name in columns:
        if pd.api.types.is_datetime64_any_dtype(view[name]):
            view[name] = view[name].dt.strftime("%Y-%m-%d").astype(object).where(view[name].notna(), None)
    return [tuple(None if v is pd.NA else v for v in row) for row in view.itertuples(index=False)]


def run_script(conn: sqlalchemy.Connection, script: str) -> None:
    """Several statements at once, straight to psycopg (no parameters, so '%' is just a character)."""
    conn.connection.driver_connection.execute(script)


def write_sql(tmp_path: Path, sql: str) -> Path:
    path = tmp_path / "query.sql"
    path.write_text(sql, encoding="utf-8")
    return path


# -- the ledger ------------------------------------------------------------------------------------

def test_posted_receivable_entries_are_read_as_cents_with_lettering_and_due_dates(odoo):
    read = read_sql_ledger(odoo, LEDGER_SQL, params=PARAMS, source_name="odoo")

    assert rows(read.lines, LEDGER_VIEW) == [
        # jrnl  entry              date          account   aux     piece_ref                 debit   credit  let   let_date      due_date
        ("VE",   "INV/2025/0001",   "2025-01-15", "706000", "",      "INV/2025/0001",              0, 100000, "",   None,         None),
        ("VE",   "INV/2025/0001",   "2025-01-15", "445710", "",      "INV/2025/0001",              0,  20000, "",   None,         None),
        ("VE",   "INV/2025/0001",   "2025-01-15", "411100", "C0042", "INV/2025/0001",         120000,      0, "17", "2025-02-10", "2025-02-14"),
        ("VE",   "INV/2025/0002",   "2025-02-03", "706000", "",      "INV/2025/0002",              0,  40000, "",   None,         None),
        ("VE",   "INV/2025/0002",   "2025-02-03", "445710", "",      "INV/2025/0002",              0,   8000, "",   None,         None),
        ("VE",   "INV/2025/0002",   "2025-02-03", "411100", "C0042", "INV/2025/0002",          48000,      0, "",   None,         "2025-03-05"),
        ("BNK1", "BNK1/2025/00001", "2025-02-10", "512000", "",      "BNK1/2025/00001",       120000,      0, "",   None,         "2025-02-10"),
        ("BNK1", "BNK1/2025/00001", "2025-02-10", "411100", "C0042", "BNK1/2025/00001",            0, 120000, "17", "2025-02-10", "2025-02-10"),
        ("VE",   "RINV/2025/0001",  "2025-02-20", "706000", "",      "RINV/2025/0001",         10000,      0, "",   None,         None),
        ("VE",   "RINV/2025/0001",  "2025-02-20", "445710", "",      "RINV/2025/0001",          2000,      0, "",   None,         None),
        ("VE",   "RINV/2025/0001",  "2025-02-20", "411100", "C0042", "RINV/2025/0001",             0,  12000, "",   None,         "2025-02-20"),
        ("BNK1", "BNK1/2025/00002", "2025-03-01", "512000", "",      "INV/2025/0002 acompte",  24000,      0, "",   None,         "2025-03-01"),
        ("BNK1", "BNK1/2025/00002", "2025-03-01", "411100", "C0042", "INV/2025/0002 acompte",      0,  24000, "",   None,         "2025-03-01"),
        ("VE",   "INV/2025/0003",   "2025-03-10", "706000", "",      "INV/2025/0003",              0,  11800, "",   None,         None),
        ("VE",   "INV/2025/0003",   "2025-03-10", "411100", "P8",    "INV/2025/0003",          11800,      0, "",   None,         "2025-04-30"),
    ]
    assert read.quarantine.empty
    assert read.rows_read == 15


def test_every_entry_read_balances(odoo):
    lines = read_sql_ledger(odoo, LEDGER_SQL, params=PARAMS).lines

    totals = lines.groupby(["journal_code", "entry_num"])[["debit_minor", "credit_minor"]].sum()
    assert (totals["debit_minor"] == totals["credit_minor"]).all()
    assert len(totals) == 6


def test_drafts_other_companies_supplier_bills_and_later_moves_are_not_read(odoo):
    lines = read_sql_ledger(odoo, LEDGER_SQL, params=PARAMS).lines

    assert "/" not in set(lines["entry_num"])                       # the draft invoice
    assert "BILL/2025/0001" not in set(lines["entry_num"])          # touches no receivable
    assert "INV/2025/0004" not in set(lines["entry_num"])           # dated after the as-of date
    assert lines.loc[lines["entry_num"] == "INV/2025/0001", "debit_minor"].sum() == 120000  # not company 2's
    assert "Livraisons de janvier" not in set(lines["label"])       # the invoice section line


def test_the_lines_have_the_normalized_columns_labels_and_positions(odoo):
    read = read_sql_ledger(odoo, LEDGER_SQL, params=PARAMS, source_name="odoo")
    lines = read.lines

    assert list(lines.columns) == list(LINE_COLUMNS)
    assert {c: str(t) for c, t in lines.dtypes.items()} == LINE_COLUMNS
    assert lines["line_no"].tolist() == list(range(1, 16))
    assert set(lines["source_file"]) == {"odoo"}
    assert set(lines["currency"]) == {"EUR"}
    first = lines.iloc[2]
    assert (first["journal_lib"], first["account_label"], first["aux_label"], first["label"]) == (
        "Customer Invoices", "Clients", "Boulangerie Martin", "INV/2025/0001")
    assert first["piece_date"] == pd.Timestamp("2025-01-15")
    assert first["valid_date"] == pd.Timestamp("2025-01-15")
    assert read.meta["query"] == "ledger_lines.sql"


def test_the_source_file_defaults_to_the_query_file_name(odoo):
    lines = read_sql_ledger(odoo, LEDGER_SQL, params=PARAMS).lines

    assert set(lines["source_file"]) == {"ledger_lines.sql"}


def test_a_foreign_currency_amount_is_kept_only_when_the_line_currency_is_not_the_company_one(odoo):
    lines = read_sql_ledger(odoo, LEDGER_SQL, params=PARAMS).lines

    gbp = lines[lines["entry_num"] == "INV/2025/0003"]
    assert rows(gbp, ["account", "currency_amount_minor", "currency_code"]) == [
        ("706000", -10000, "GBP"),
        ("411100", 10000, "GBP"),
    ]
    eur = lines[lines["entry_num"] != "INV/2025/0003"]
    assert eur["currency_amount_minor"].isna().all()
    assert set(eur["currency_code"]) == {""}


def test_a_lettering_completed_after_the_as_of_date_is_not_shown(odoo):
    # on 2025-02-05 INV/2025/0001 was not paid yet: the transfer came on 2025-02-10
    lines = read_sql_ledger(odoo, LEDGER_SQL, params={"company_id": 1, "as_of": date(2025, 2, 5)}).lines

    assert sorted(set(lines["entry_num"])) == ["INV/2025/0001", "INV/2025/0002"]
    assert set(lines["let_code"]) == {""}
    assert lines["let_date"].isna().all()


@pytest.mark.parametrize("odoo", [16], indirect=True)
def test_on_odoo_16_the_lettering_code_is_the_full_reconcile_name(odoo):
    lines = read_sql_ledger(odoo, LEDGER_SQL, params=PARAMS).lines

    lettered = lines[lines["let_code"] != ""]
    assert rows(lettered, ["entry_num", "account", "let_code", "let_date"]) == [
        ("INV/2025/0001", "411100", "A17", "2025-02-10"),
        ("BNK1/2025/00001", "411100", "A17", "2025-02-10"),
    ]
    assert lines.loc[lines["account"] == "411100", "account_label"].iloc[0] == "Clients"


def test_a_line_without_account_is_quarantined_with_its_row_and_counts_are_kept(odoo):
    with odoo.begin() as conn:
        run_script(conn, """
        INSERT INTO account_move (id, name, ref, date, state, move_type, journal_id, company_id)
        VALUES (11, 'MISC/2025/0001', 'Reclassement', '2025-03-15', 'posted', 'entry', 4, 1);
        INSERT INTO account_move_line (id, move_id, company_id, account_id, partner_id, name, display_type,
                                       debit, credit, amount_currency, currency_id, company_currency_id, date)
        VALUES (128, 11, 1, 1, 7, 'Reclassement', 'product', 50.00, 0, 50.00, 1, 1, '2025-03-15'),
               (129, 11, 1, NULL, 7, 'Compte supprime', 'product', 0, 50.00, -50.00, 1, 1, '2025-03-15');
        """)

    read = read_sql_ledger(odoo, LEDGER_SQL, params=PARAMS, source_name="odoo")

    assert read.rows_read == 17
    assert len(read.lines) == 16
    assert list(read.quarantine.columns) == list(QUARANTINE_COLUMNS)
    [record] = read.quarantine.to_dict("records")
    assert record["source_file"] == "odoo"
    assert record["line_no"] == 17
    assert record["field"] == "account"
    assert record["reason_code"] == "missing_field"
    assert record["reason"] == "The line has no account: assign one in the accounting system."
    assert "entry_num=MISC/2025/0001" in record["raw"]
    assert "account=;" in record["raw"]
    assert "credit=50.00" in record["raw"]
    assert "entry_date=2025-03-15" in record["raw"]
    read.check_conservation()


# -- the customers ---------------------------------------------------------------------------------

def test_the_customers_are_the_partners_of_receivable_lines_with_their_terms(odoo):
    customers = read_sql_customers(odoo, CUSTOMERS_SQL, params=PARAMS)

    assert list(customers.columns) == list(CUSTOMER_COLUMNS)
    assert {c: str(t) for c, t in customers.dtypes.items()} == CUSTOMER_COLUMNS
    columns = ["customer_id", "name", "country", "language", "email", "phone", "address",
               "payment_terms_days"]
    assert rows(customers, columns) == [
        ("C0042", "Boulangerie Martin", "FR", "fr", "compta@boulangerie-martin.fr",
         "+33 1 42 00 00 01", "12 rue de la Paix, 75002 Paris", 30),
        # 30 days end of month is not a day count: the configured default applies
        ("P8", "Harbour Coffee Ltd", "GB", "en", "accounts@harbourcoffee.co.uk",
         "+44 7700 900123", "3 Quay Street, Unit 4, BS1 4DJ Bristol", None),
    ]
    assert rows(customers, ["segment", "strategic", "opt_out_channels"]) == [("", False, "")] * 2


def test_customer_ids_match_the_aux_accounts_of_the_ledger(odoo):
    lines = read_sql_ledger(odoo, LEDGER_SQL, params=PARAMS).lines
    customers = read_sql_customers(odoo, CUSTOMERS_SQL, params=PARAMS)

    receivable = lines[lines["account"].str.startswith("411")]
    assert set(receivable["aux_account"]) == set(customers["customer_id"])


def test_a_customer_without_its_own_payment_term_gets_the_company_default(odoo):
    with odoo.begin() as conn:
        conn.exec_driver_sql("DELETE FROM ir_property WHERE res_id = 'res.partner,8'")

    customers = read_sql_customers(odoo, CUSTOMERS_SQL, params=PARAMS)

    assert rows(customers, ["customer_id", "payment_terms_days"]) == [("C0042", 30), ("P8", 45)]


@pytest.mark.parametrize("odoo", [16], indirect=True)
def test_on_odoo_16_payment_terms_are_read_from_days_and_end_of_month(odoo):
    customers = read_sql_customers(odoo, CUSTOMERS_SQL, params=PARAMS)

    assert rows(customers, ["customer_id", "payment_terms_days"]) == [("C0042", 30), ("P8", None)]


# -- the conversion, on plain queries --------------------------------------------------------------

LINE_SELECT = """
SELECT 'VE' AS journal_code, t.entry_num, CAST(t.entry_date AS date) AS entry_date, t.account,
       t.debit, t.credit, t.currency
FROM (VALUES {values}) AS t(n, entry_num, entry_date, account, debit, credit, currency)
ORDER BY t.n
"""


def test_amounts_become_minor_units_exactly_even_beyond_float_precision(postgres_engine, tmp_path):
    sql = LINE_SELECT.format(values="""
        (1, 'E1', '2025-01-02', '411100', CAST(90071992547409.93 AS numeric), CAST(0 AS numeric), 'EUR'),
        (2, 'E1', '2025-01-02', '706000', 0, 90071992547409.93, 'EUR'),
        (3, 'E2', '2025-01-02', '411100', 0.1 + 0.2, 0, 'EUR'),
        (4, 'E3', '2025-01-02', '411100', 1200.000000, 0, 'EUR'),
        (5, 'E4', '2025-01-02', '411100', 15000, 0, 'JPY'),
        (6, 'E5', '2025-01-02', '411100', 12.345, 0, 'KWD'),
        (7, 'E6', '2025-01-02', '411100', -12.50, 0, NULL)
    """)

    read = read_sql_ledger(postgres_engine, write_sql(tmp_path, sql))

    assert rows(read.lines, ["entry_num", "debit_minor", "credit_minor", "currency"]) == [
        ("E1", 9007199254740993, 0, "EUR"),   # float64 would give ...992
        ("E1", 0, 9007199254740993, "EUR"),
        ("E2", 30, 0, "EUR"),
        ("E3", 120000, 0, "EUR"),
        ("E4", 15000, 0, "JPY"),
        ("E5", 12345, 0, "KWD"),
        ("E6", -1250, 0, "EUR"),             # no book currency column value: the ledger currency
    ]
    assert read.quarantine.empty


def test_rows_that_cannot_be_converted_are_quarantined_with_a_reason_a_clerk_can_read(postgres_engine, tmp_path):
    sql = LINE_SELECT.format(values="""
        (1, 'E1', '2025-01-02', '411100', '100.00', '0', 'EUR'),
        (2, 'E2', '2025-01-02', '411100', 'douze', '0', 'EUR'),
        (3, 'E3', '2025-01-02', '411100', '10.005', '0', 'EUR'),
        (4, 'E4', '2025-01-02', '411100', '10.00', '5.00', 'EUR'),
        (5, 'E5', NULL, '411100', '10.00', '0', 'EUR'),
        (6, NULL, '2025-01-02', '411100', '10.00', '0', 'EUR'),
        (7, 'E7', '2025-01-02', '411100', NULL, NULL, 'EUR'),
        (8, 'E8', '2025-01-02', '411100', '10.00', NULL, 'XYZ'),
        (9, 'E9', '2025-01-02', '411100', '10', NULL, 'EUR')
    """)

    read = read_sql_ledger(postgres_engine, write_sql(tmp_path, sql), source_name="erp")

    assert rows(read.lines, ["line_no", "entry_num", "debit_minor", "credit_minor"]) == [
        (1, "E1", 10000, 0),
        (9, "E9", 1000, 0),                  # a NULL side is zero
    ]
    assert rows(read.quarantine, ["line_no", "field", "reason_code", "reason"]) == [
        (2, "debit", "bad_amount", "The debit amount 'douze' is not a number."),
        (3, "debit", "bad_amount", "The debit amount '10.005' has more decimals than its currency "
                                   "allows; correct it at the source rather than let it be rounded."),
        (4, "", "debit_and_credit", "The line has both a debit and a credit amount; a ledger line "
                                    "carries one side only: split it in the accounting system."),
        (5, "entry_date", "missing_field", "The entry has no date: complete it in the accounting system."),
        (6, "entry_num", "missing_field",
         "The line has no entry number: check that its entry is posted and numbered."),
        (7, "", "missing_field", "The line has neither a debit nor a credit amount."),
        (8, "currency", "bad_currency", "The book currency 'XYZ' is not an ISO 4217 currency code."),
    ]
    assert read.quarantine.loc[0, "raw"] == (
        "journal_code=VE; entry_num=E2; entry_date=2025-01-02; account=411100; debit=douze; "
        "credit=0; currency=EUR")
    assert read.rows_read == 9


def test_a_query_without_a_required_column_is_refused_naming_the_column(postgres_engine, tmp_path):
    sql = "SELECT 'VE' AS journal_code, 'E1' AS entry_num, DATE '2025-01-02' AS entry_date, '411' AS account, 1 AS debit"

    with pytest.raises(LedgerFormatError, match="returns no column credit"):
        read_sql_ledger(postgres_engine, write_sql(tmp_path, sql), source_name="erp")


def test_a_missing_query_parameter_is_named(odoo):
    with pytest.raises(ValueError, match="needs the parameter.*as_of"):
        read_sql_ledger(odoo, LEDGER_SQL, params={"company_id": 1})


def test_an_empty_result_reads_as_no_lines(odoo):
    read = read_sql_ledger(odoo, LEDGER_SQL, params={"company_id": 99, "as_of": AS_OF})

    assert read.rows_read == 0
    assert read.lines.empty and read.quarantine.empty
    assert {c: str(t) for c, t in read.lines.dtypes.items()} == LINE_COLUMNS


def test_the_daily_wave_reads_odoo_and_ages_its_open_items(odoo, tmp_path):
    from receivables.pipeline import wave
    from receivables.warehouse.db import make_engine, upgrade
    from receivables.warehouse.store import read_customers

    with odoo.connect() as conn:
        schema = conn.exec_driver_sql("SHOW search_path").scalar()
    odoo_url = odoo.url.set(query={"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    warehouse = f"sqlite:///{tmp_path / 'warehouse.db'}"
    upgrade(make_engine(warehouse))
    settings = wave.WaveSettings(warehouse_url=warehouse, data_dir=tmp_path, sql_sources=[{
        "name": "odoo", "url": odoo_url, "sql": str(LEDGER_SQL), "customers_sql": str(CUSTOMERS_SQL),
        "params": {"company_id": 1}}])
    manifest = wave.validate_ledger(settings, wave.extract_ledger(settings, AS_OF))
    loaded = wave.load_ledger(settings, manifest, now=datetime(2025, 3, 31, 6, 0))
    assert loaded["sources"] == [{"source_file": "odoo", "status": "loaded", "rows_loaded": 15, "rows_quarantined": 0}]
    wave.compute_aging(settings, AS_OF)
    with make_engine(warehouse).connect() as conn:
        items = conn.exec_driver_sql(
            "SELECT customer_id, invoice_id, open_minor, due_date FROM open_items ORDER BY customer_id, invoice_id").all()
        terms = read_customers(conn).set_index("customer_id")["payment_terms_days"]
    assert [tuple(i) for i in items] == [
        ("C0042", "INV/2025/0002", 48000, "2025-03-05"),            # half paid, not yet lettered: still open
        ("C0042", "INV/2025/0002 acompte", -24000, "2025-03-01"),  # the instalment, unapplied
        ("C0042", "RINV/2025/0001", -12000, "2025-02-20"),         # the refund, unapplied
        ("P8", "INV/2025/0003", 11800, "2025-04-30"),
    ]
    assert terms.notna().any()
    # The same data on the next run is not loaded again.
    again = wave.extract_ledger(settings, AS_OF)
    assert [s["status"] for s in again["sources"]] == ["unchanged"]
