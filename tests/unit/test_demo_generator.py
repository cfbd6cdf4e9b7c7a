"""The sample portfolio generator writes a FEC and a customer master telling one AR story."""

from __future__ import annotations

import datetime
import re

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
    "payment_terms_days,opt_out_channels"
)


def _cents(column: pd.Series) -> pd.Series:
    return column.str.replace(",", "", regex=False).astype("int64")


def _read(result: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    fec = pd.read_csv(result["fec"], sep="\t", dtype=str, keep_default_na=False)
    fec["debit"] = _cents(fec["Debit"])
    fec["credit"] = _cents(fec["Credit"])
    master = pd.read_csv(result["customers_csv"], dtype=str, keep_default_na=False)
    return fec, master


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


def test_customers_for_lines_sizes_a_portfolio(tmp_path):
    assert customers_for_lines(1) == 1
    target = 15_000
    result = generate_portfolio(tmp_path, customers=customers_for_lines(target))
    assert 0.75 * target < result["lines"] < 1.25 * target
    assert 10_000 <= generate_portfolio(tmp_path, customers=200)["lines"] <= 20_000
