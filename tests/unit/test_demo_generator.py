"""The sample portfolio generator writes a FEC and a customer master telling one AR story."""

from __future__ import annotations

import datetime
import re
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from receivables.demo.generator import (
    FEC_COLUMNS,
    customer_profiles,
    customers_for_lines,
    generate_portfolio,
)

END = datetime.date(2025, 6, 30)
MASTER_HEADER = (
    "customer_id,name,country,language,email,phone,address,segment,strategic,"
    "payment_terms_days,opt_out_channels,iban,collector"
)
CAMT = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
NS = {"c": CAMT}
INVOICE_NUMBER = re.compile(r"FA(20\d\d)-?(\d{6})")


def _cents(column: pd.Series) -> pd.Series:
    return column.str.replace(",", "", regex=False).astype("int64")


def _read(result: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    fec = pd.read_csv(result["fec"], sep="\t", dtype=str, keep_default_na=False)
    fec["debit"] = _cents(fec["Debit"])
    fec["credit"] = _cents(fec["Credit"])
    master = pd.read_csv(result["customers_csv"], dtype=str, keep_default_na=False)
    return fec, master


def _amount(element) -> int:
    units, cents = element.text.split(".")
    return int(units) * 100 + int(cents)


def _statement(result: dict) -> tuple[ET.Element, pd.DataFrame]:
    """The statement's root and one row per entry (amounts signed int cents, credit positive)."""
    root = ET.parse(result["statement"]).getroot()
    rows = []
    for entry in root.iterfind(".//c:Ntry", NS):
        amount = entry.find("c:Amt", NS)
        remittance = [e.text for e in entry.iterfind(".//c:RmtInf/c:Ustrd", NS)]
        structured = [e.text for e in entry.iterfind(".//c:RmtInf/c:Strd/c:CdtrRefInf/c:Ref", NS)]
        invoices = [f"FA{year}-{number}"
                    for text in remittance + structured for year, number in INVOICE_NUMBER.findall(text)]
        rows.append({
            "amount": _amount(amount) * (1 if entry.findtext("c:CdtDbtInd", namespaces=NS) == "CRDT" else -1),
            "currency": amount.get("Ccy"),
            "booking_date": entry.findtext("c:BookgDt/c:Dt", namespaces=NS),
            "value_date": entry.findtext("c:ValDt/c:Dt", namespaces=NS),
            "bank_ref": entry.findtext("c:AcctSvcrRef", namespaces=NS),
            "family": entry.findtext("c:BkTxCd/c:Domn/c:Fmly/c:Cd", namespaces=NS),
            "end_to_end": entry.findtext(".//c:Refs/c:EndToEndId", namespaces=NS),
            "payer": entry.findtext(".//c:RltdPties/c:Dbtr/c:Nm", namespaces=NS),
            "payer_iban": entry.findtext(".//c:RltdPties/c:DbtrAcct/c:Id/c:IBAN", namespaces=NS),
            "remittance": " ".join(remittance),
            "structured": structured,
            "invoices": invoices,
        })
    return root, pd.DataFrame(rows)


def _balance(root: ET.Element, code: str) -> int:
    for balance in root.iterfind(".//c:Stmt/c:Bal", NS):
        if balance.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=NS) == code:
            sign = 1 if balance.findtext("c:CdtDbtInd", namespaces=NS) == "CRDT" else -1
            return sign * _amount(balance.find("c:Amt", NS))
    raise AssertionError(f"no {code} balance")


def _iban_is_valid(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    result = generate_portfolio(tmp_path_factory.mktemp("small"), customers=30, seed=7, end=END)
    return (result, *_read(result))


@pytest.fixture(scope="module")
def medium(tmp_path_factory):
    """Enough customers for every behaviour and a few foreign-currency customers."""
    result = generate_portfolio(tmp_path_factory.mktemp("medium"), customers=400, seed=3, end=END)
    return (result, *_read(result))


def test_fec_is_named_and_formatted_as_the_tax_administration_expects(small):
    result, fec, _ = small
    assert result["fec"].name == "123456789FEC20250630.txt"
    raw = result["fec"].read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert b"\r" not in raw
    assert raw.decode("utf-8").split("\n", 1)[0] == "\t".join(FEC_COLUMNS)
    amount = re.compile(r"^\d+,\d\d$")
    assert fec["Debit"].str.match(amount).all() and fec["Credit"].str.match(amount).all()
    for column in ("EcritureDate", "PieceDate", "ValidDate"):
        assert fec[column].str.fullmatch(r"20\d{6}").all(), column
    assert fec["DateLet"].str.fullmatch(r"(20\d{6})?").all()
    assert ((fec["debit"] > 0) != (fec["credit"] > 0)).all(), "a line is a debit or a credit"
    assert (fec["ValidDate"] == fec["EcritureDate"]).all()


def test_every_generated_entry_balances(small):
    _, fec, _ = small
    sums = fec.groupby(["JournalCode", "EcritureNum"])[["debit", "credit"]].sum()
    assert (sums["debit"] == sums["credit"]).all()
    assert set(fec["JournalCode"]) == {"AN", "VE", "BQ"}


def test_entries_are_numbered_one_by_one_per_journal_in_date_order(small):
    _, fec, _ = small
    entries = fec.drop_duplicates(["JournalCode", "EcritureNum"])
    for _, journal in entries.groupby("JournalCode"):
        numbers = journal["EcritureNum"].astype(int)
        assert list(numbers) == list(range(1, len(journal) + 1))
        assert journal["EcritureDate"].is_monotonic_increasing


def test_same_seed_gives_identical_files(tmp_path):
    first = generate_portfolio(tmp_path / "a", customers=30, seed=11)
    again = generate_portfolio(tmp_path / "b", customers=30, seed=11)
    other = generate_portfolio(tmp_path / "c", customers=30, seed=12)
    assert first["fec"].read_bytes() == again["fec"].read_bytes()
    assert first["customers_csv"].read_bytes() == again["customers_csv"].read_bytes()
    assert first["fec"].read_bytes() != other["fec"].read_bytes()
    assert first["statement"].read_bytes() == again["statement"].read_bytes()
    assert first["statement"].read_bytes() != other["statement"].read_bytes()


def test_no_payment_is_dated_after_the_as_of_date(small):
    _, fec, _ = small
    assert fec["EcritureDate"].max() <= "20250630"
    assert fec["EcritureDate"].min() == "20240101"  # 18 months: January 2024 to June 2025
    assert fec.loc[fec["DateLet"] != "", "DateLet"].max() <= "20250630"


def test_sales_entries_split_the_invoice_into_net_and_20_percent_vat(small):
    _, fec, _ = small
    sales = fec[(fec["JournalCode"] == "VE") & fec["PieceRef"].str.startswith("FA")]
    by_entry = sales.groupby("EcritureNum")
    assert (by_entry.size() == 3).all()
    ttc = sales[sales["CompteNum"] == "411000"].set_index("EcritureNum")["debit"]
    ht = sales[sales["CompteNum"] == "706000"].set_index("EcritureNum")["credit"]
    vat = sales[sales["CompteNum"] == "445710"].set_index("EcritureNum")["credit"]
    assert (ht + vat == ttc).all()
    assert ((vat - ht * 0.2).abs() <= 0.5).all()
    invoice_lines = fec[(fec["CompteNum"] == "411000") & (fec["debit"] > 0)]
    assert invoice_lines["PieceRef"].str.fullmatch(r"FA20\d\d-\d{6}").all()
    assert invoice_lines["PieceRef"].is_unique
    first = sales.iloc[0]
    assert first["EcritureLib"] == f"Facture {first['PieceRef']} {first['CompAuxLib']}"


def test_credit_notes_reverse_part_of_an_invoice_and_are_numbered_apart(medium):
    result, fec, _ = medium
    notes = fec[fec["PieceRef"].str.startswith("AV")]
    assert result["credit_notes"] == notes["EcritureNum"].nunique() > 0
    assert notes["PieceRef"].str.fullmatch(r"AV20\d\d-\d{6}").all()
    receivable = notes[notes["CompteNum"] == "411000"]
    assert (receivable["credit"] > 0).all() and (receivable["CompAuxNum"] != "").all()
    assert (notes.loc[notes["CompteNum"] != "411000", "debit"] > 0).all()


def test_lettered_groups_balance_and_open_invoices_are_unlettered(medium):
    _, fec, _ = medium
    receivable = fec[fec["CompteNum"] == "411000"]
    assert (receivable["CompAuxNum"] != "").all()
    assert (fec.loc[fec["CompteNum"] != "411000", "EcritureLet"] == "").all()
    lettered = receivable[receivable["EcritureLet"] != ""]
    groups = lettered.groupby(["CompAuxNum", "EcritureLet"])
    sums = groups[["debit", "credit"]].sum()
    assert (sums["debit"] == sums["credit"]).all()
    assert (groups["DateLet"].nunique() == 1).all()
    # DateLet is the last settlement of the group
    assert (groups["DateLet"].first() == groups["EcritureDate"].max()).all()
    assert (sums["debit"] > 0).all(), "a group letters an invoice with what settled it"
    assert (lettered["EcritureLet"].str.fullmatch(r"[A-Z]{2,}")).all()
    assert (receivable.loc[receivable["EcritureLet"] == "", "DateLet"] == "").all()
    # what is not lettered is what is still owed: every customer's unlettered invoices cover its
    # unlettered receipts (partial payments), and some invoices are open on the as-of date
    open_lines = receivable[receivable["EcritureLet"] == ""]
    balance = open_lines.groupby("CompAuxNum")[["debit", "credit"]].sum()
    assert (balance["debit"] > balance["credit"]).all()
    assert (open_lines["debit"] > 0).sum() > 0
    # an instalment whose balance came in is lettered with it; one still waiting is not
    paid_off = receivable["EcritureLib"].str.contains(" SOLDE ")
    down_payments = receivable["EcritureLib"].str.contains(" ACOMPTE ")
    assert (receivable.loc[paid_off, "EcritureLet"] != "").all()
    assert (receivable.loc[down_payments, "EcritureLet"] == "").any()


def test_opening_entry_carries_invoices_still_open_at_the_start(small):
    _, fec, _ = small
    opening = fec[fec["JournalCode"] == "AN"]
    assert opening["EcritureNum"].nunique() == 1
    assert (opening["EcritureDate"] == "20240101").all()
    carried = opening[opening["CompteNum"] == "411000"]
    assert len(carried) > 0 and (carried["PieceDate"] < "20240101").all()
    assert carried["PieceRef"].str.startswith("FA2023-").all()
    assert (opening.loc[opening["CompteNum"] == "890000", "credit"].sum()
            == carried["debit"].sum())


def test_payments_credit_the_customer_and_debit_the_bank(medium):
    _, fec, _ = medium
    bank = fec[fec["JournalCode"] == "BQ"]
    assert set(bank["CompteNum"]) == {"411000", "512000"}
    assert (bank.loc[bank["CompteNum"] == "512000", "debit"] > 0).all()
    assert (bank.loc[bank["CompteNum"] == "411000", "credit"] > 0).all()
    assert bank["PieceRef"].str.fullmatch(r"VIR20\d{6}|FA20\d\d-\d{6}").all()
    labels = bank["EcritureLib"]
    assert labels.str.contains(r"FA20\d\d-\d{6} FA20\d\d-\d{6}").any(), "one transfer, 2+ invoices"
    assert (~labels.str.contains(r"FA20\d\d")).any(), "some receipts name no invoice"


def test_customer_master_lists_every_customer_of_the_ledger(small):
    result, fec, master = small
    assert result["customers_csv"].read_text(encoding="utf-8").split("\n", 1)[0] == MASTER_HEADER
    assert len(master) == result["customers"] == 30
    assert master["customer_id"].is_unique
    in_ledger = fec.loc[fec["CompAuxNum"] != "", ["CompAuxNum", "CompAuxLib"]].drop_duplicates()
    names = master.set_index("customer_id")["name"]
    assert in_ledger["CompAuxNum"].isin(names.index).all()
    assert (in_ledger["CompAuxLib"].to_numpy() == names[in_ledger["CompAuxNum"]].to_numpy()).all()


def test_customer_master_looks_like_a_real_one(medium):
    _, _, master = medium
    assert set(master["segment"]) == {"TPE", "PME", "ETI", "GE"}
    assert set(master["strategic"]) == {"true", "false"}
    assert (master.loc[master["segment"] == "GE", "strategic"] == "true").all()
    assert (master["country"] == "FR").mean() > 0.6
    assert set(master["payment_terms_days"]) <= {"", "0", "30", "45", "60"}
    assert "" in set(master["payment_terms_days"]) and "" in set(master["language"])
    channels = {c for cell in master["opt_out_channels"] for c in cell.split()}
    assert channels <= {"email", "sms", "letter", "call"}
    assert (master["opt_out_channels"] == "").mean() > 0.8
    phones = master.loc[master["phone"] != "", "phone"]
    assert phones.str.fullmatch(r"\+\d{10,13}").all()
    french_phones = master.loc[master["country"] == "FR", "phone"]
    assert french_phones.str.fullmatch(r"(\+33[1-9]\d{8})?").all()
    emails = master.loc[master["email"] != "", "email"]
    assert emails.str.fullmatch(r"[a-z]+@[a-z0-9-]+\.example").all()
    assert not master["address"].str.contains("\n").any()
    known = master["language"] != ""
    assert set(zip(master.loc[known, "country"], master.loc[known, "language"])) <= {
        ("FR", "fr"), ("BE", "fr"), ("BE", "nl"), ("DE", "de"), ("ES", "es"), ("IT", "it"),
        ("NL", "nl"), ("GB", "en"), ("CH", "fr"), ("CH", "de"),
    }


def test_foreign_currency_customers_carry_the_amount_in_their_currency(medium):
    _, fec, master = medium
    foreign = fec[fec["Idevise"] != ""]
    assert set(foreign["Idevise"]) <= {"GBP", "CHF"} and len(foreign) > 0
    assert foreign["Montantdevise"].str.fullmatch(r"\d+,\d\d").all()
    assert (fec.loc[fec["Idevise"] == "", "Montantdevise"] == "").all()
    countries = master.set_index("customer_id")["country"]
    customers = foreign.loc[foreign["CompAuxNum"] != "", "CompAuxNum"].unique()
    assert set(countries[customers]) <= {"GB", "CH"}


def test_payment_behaviours_show_in_days_late(medium):
    _, fec, master = medium
    profiles = customer_profiles(400, seed=3).set_index("customer_id")
    terms = pd.to_numeric(master.set_index("customer_id")["payment_terms_days"]).fillna(30)
    invoices = fec[(fec["CompteNum"] == "411000") & (fec["debit"] > 0) & (fec["EcritureLet"] != "")]
    invoices = invoices[invoices["PieceRef"].str.startswith("FA")]
    due = pd.to_datetime(invoices["PieceDate"]) + pd.to_timedelta(
        terms[invoices["CompAuxNum"]].to_numpy(), unit="D")
    days_late = (pd.to_datetime(invoices["DateLet"]) - due).dt.days
    median = days_late.groupby(profiles["behaviour"][invoices["CompAuxNum"]].to_numpy()).median()
    assert median["early"] < median["on_time"] < median["late"] < median["very_late"]
    assert median["early"] <= 0 and median["very_late"] >= 30
    # disputed customers leave invoices unpaid for good
    behaviour = profiles["behaviour"]
    receivable = fec[fec["CompteNum"] == "411000"]
    open_invoices = receivable[(receivable["debit"] > 0) & (receivable["EcritureLet"] == "")]
    old = open_invoices[open_invoices["PieceDate"] < "20250101"]
    share = behaviour[old["CompAuxNum"]].value_counts(normalize=True)
    assert share.get("disputed", 0) > 0.05 * 2  # well above their 5 % share of customers


def test_returned_counts_match_the_files(small):
    result, fec, master = small
    assert result["lines"] == len(fec)
    assert result["entries"] == len(fec.drop_duplicates(["JournalCode", "EcritureNum"]))
    assert result["payments"] == fec.loc[fec["JournalCode"] == "BQ", "EcritureNum"].nunique()
    invoices = fec[(fec["CompteNum"] == "411000") & fec["PieceRef"].str.startswith("FA")
                   & (fec["JournalCode"] != "BQ")]
    assert result["invoices"] == len(invoices)
    assert result["customers"] == len(master)
    _, entries = _statement(result)
    assert result["statement_lines"] == len(entries)


def test_customers_for_lines_sizes_a_portfolio(tmp_path):
    assert customers_for_lines(1) == 1
    target = 15_000
    result = generate_portfolio(tmp_path, customers=customers_for_lines(target))
    assert 0.75 * target < result["lines"] < 1.25 * target
    assert 10_000 <= generate_portfolio(tmp_path, customers=200)["lines"] <= 20_000


# --------------------------------------------------------------------------------------------
# the bank statement of the as-of date (CAMT.053)
# --------------------------------------------------------------------------------------------
def test_the_statement_of_the_as_of_date_is_a_camt053_of_our_account(medium):
    result, _, _ = medium
    assert result["statement"].name == "statement_20250630.camt053.xml"
    assert result["statement"].read_bytes().startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root, entries = _statement(result)
    assert root.tag == f"{{{CAMT}}}Document"
    statements = root.findall("c:BkToCstmrStmt/c:Stmt", NS)
    assert len(statements) == 1
    assert statements[0].findtext("c:Acct/c:Id/c:IBAN", namespaces=NS) == "FR7630006000011234567890189"
    assert statements[0].findtext("c:Acct/c:Ccy", namespaces=NS) == "EUR"
    assert result["statement_lines"] == len(entries) > 20
    assert (entries["currency"] == "EUR").all()
    assert (entries["booking_date"] == "2025-06-30").all() and (entries["value_date"] == "2025-06-30").all()
    assert entries["bank_ref"].is_unique and entries["bank_ref"].str.fullmatch(r"BK20250630-\d{6}").all()


def test_statement_entries_sum_to_closing_minus_opening_balance(medium):
    result, _, _ = medium
    root, entries = _statement(result)
    opening, closing = _balance(root, "OPBD"), _balance(root, "CLBD")
    assert opening > 0
    assert closing - opening == entries["amount"].sum()
    assert (entries["amount"] < 0).sum() == 1, "one debit: the bank fees"


def test_no_payment_of_the_as_of_date_is_in_the_ledger_it_is_on_the_statement(medium):
    result, fec, _ = medium
    bank = fec[fec["JournalCode"] == "BQ"]
    assert bank["EcritureDate"].max() < "20250630"
    _, entries = _statement(result)
    receipts = entries[entries["invoices"].str.len() > 0]
    assert len(receipts) > 10
    # a receipt of the day is not in the ledger yet: the ledger's receipts name other invoices,
    # bar the down payment already booked for an invoice whose balance comes in today
    paid_before = bank["EcritureLib"].str.findall(r"FA20\d\d-\d{6}").explode().dropna()
    down_payments = bank.loc[bank["EcritureLib"].str.contains(" ACOMPTE "), "EcritureLib"]
    paid_before = set(paid_before) - set(down_payments.str.extract(r"(FA20\d\d-\d{6})")[0])
    assert not paid_before & set(receipts["invoices"].explode())


def test_each_customer_receipt_of_the_statement_pays_invoices_open_in_the_ledger(medium):
    result, fec, _ = medium
    _, entries = _statement(result)
    receivable = fec[fec["CompteNum"] == "411000"]
    invoices = receivable[(receivable["debit"] > 0) & receivable["PieceRef"].str.startswith("FA")]
    invoices = invoices.set_index("PieceRef")
    named = entries[entries["invoices"].str.len() > 0]
    for row in named.itertuples():
        assert set(row.invoices) <= set(invoices.index), row
        assert (invoices.loc[row.invoices, "EcritureLet"] == "").all(), row
        assert invoices.loc[row.invoices, "CompAuxNum"].nunique() == 1, "one payer per transfer"
    # the remittance variants of the ledger's receipts, and structured references for some
    assert entries["remittance"].str.contains(r"^VIR .+ FA20\d\d-\d{6}$").any()
    assert entries["remittance"].str.contains(r"FACT FA20\d{8}").any()
    assert entries["remittance"].str.contains(r"FA20\d\d-\d{6} FA20\d\d-\d{6}").any()
    assert (entries["structured"].str.len() > 0).any()
    payers = entries[entries["payer"].notna()]
    assert ((payers["invoices"].str.len() == 0) & (payers["amount"] > 0)).sum() > 1, "some name no invoice"
    assert (entries["end_to_end"] == "NOTPROVIDED").any()


def test_a_receipt_naming_all_its_invoices_pays_what_they_still_owe(medium):
    result, fec, _ = medium
    _, entries = _statement(result)
    receivable = fec[fec["CompteNum"] == "411000"]
    owed = receivable[(receivable["debit"] > 0) & receivable["PieceRef"].str.startswith("FA")]
    owed = owed.set_index("PieceRef")["debit"]
    # credit notes ("Avoir AV... sur FA...") and down payments ("ACOMPTE FA...") name one invoice
    credits = receivable[receivable["credit"] > 0]
    named = credits["EcritureLib"].str.findall(r"FA20\d\d-\d{6}")
    single = named.str.len() == 1
    reduced = credits.loc[single, "credit"].groupby(named[single].str[0]).sum()
    owed = owed.sub(reduced, fill_value=0)
    complete = entries[(entries["invoices"].str.len() > 0) & ~entries["remittance"].str.contains(r"\.\.\.")]
    assert len(complete) > 10
    for row in complete.itertuples():
        if " ACOMPTE " in row.remittance:   # a down payment: part of it, the balance comes later
            assert 0 < row.amount < owed[row.invoices].sum(), row
        else:
            assert row.amount == owed[row.invoices].sum(), row


def test_payers_appear_under_their_own_name_or_a_bank_spelling_of_it(medium):
    result, _, master = medium
    _, entries = _statement(result)
    payers = entries.loc[entries["invoices"].str.len() > 0, "payer"]
    names = set(master["name"])
    as_in_master = payers.isin(names)
    assert as_in_master.any() and (~as_in_master).any()
    bank_spelt = payers[~as_in_master]
    assert bank_spelt.str.fullmatch(r"[A-Z0-9 &.'-]{1,35}").all()
    plain = (master["name"].str.normalize("NFKD").str.encode("ascii", "ignore").str.decode("ascii")
             .str.upper())
    assert (~bank_spelt.isin(set(plain))).any(), "some drop or move the legal form"


def test_customer_master_gives_the_payer_iban_of_about_half_the_customers(medium):
    result, fec, master = medium
    filled = master.loc[master["iban"] != "", "iban"]
    assert 0.35 < len(filled) / len(master) < 0.65
    assert filled.is_unique and filled.map(_iban_is_valid).all()
    assert (filled.str[:2] == master.loc[filled.index, "country"]).all()
    # the payer accounts on the statement are the customers' accounts: the master's when it has one
    _, entries = _statement(result)
    receivable = fec[(fec["CompteNum"] == "411000") & (fec["debit"] > 0)]
    customer_of = receivable.set_index("PieceRef")["CompAuxNum"]
    iban_of = master.set_index("customer_id")["iban"]
    with_account = entries[entries["payer_iban"].notna()]
    assert with_account["payer_iban"].map(_iban_is_valid).all()
    checked = 0
    for row in with_account[with_account["invoices"].str.len() > 0].itertuples():
        known = iban_of[customer_of[row.invoices[0]]]
        if known:
            assert row.payer_iban == known, row
            checked += 1
    assert checked > 0
    assert with_account["payer_iban"].isin(set(filled)).any()


def test_the_statement_also_carries_interest_a_supplier_refund_and_bank_fees(medium):
    result, _, _ = medium
    _, entries = _statement(result)
    others = entries[entries["invoices"].str.len() == 0]
    assert others["remittance"].str.contains("INTERETS").any()
    assert others["remittance"].str.contains("REMBOURSEMENT").any()
    fees = entries[entries["amount"] < 0]
    assert len(fees) == 1 and fees["family"].iloc[0] == "MDOP"
    assert fees["remittance"].iloc[0].startswith("FRAIS")


def test_an_as_of_date_without_receipts_still_has_its_statement(tmp_path):
    sunday = datetime.date(2025, 6, 29)   # transfers arrive on business days
    result = generate_portfolio(tmp_path, customers=30, seed=7, end=sunday)
    root, entries = _statement(result)
    assert result["statement"].name == "statement_20250629.camt053.xml"
    assert (entries["invoices"].str.len() == 0).all()
    assert result["statement_lines"] == len(entries) == 3
    assert _balance(root, "CLBD") - _balance(root, "OPBD") == entries["amount"].sum()


def test_every_customer_has_one_of_three_collectors_by_segment_and_country(small):
    _, _, master = small
    expected = master["segment"].isin(["ETI", "GE"]).map({True: "key_accounts", False: ""})
    expected = expected.where(expected != "", (master["country"] == "FR").map({True: "domestic", False: "export"}))
    assert (master["collector"] == expected).all()
    assert set(master["collector"]) <= {"key_accounts", "domestic", "export"}
