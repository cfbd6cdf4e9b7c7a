"""The customer master: who the customers are, how to reach them, what to do with bad rows."""

from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from receivables.ledger.customers import read_customer_master
from receivables.ledger.schema import CUSTOMER_COLUMNS, QUARANTINE_COLUMNS, LedgerFormatError

HEADER = "customer_id,name,country,language,email,phone,address,segment,strategic,payment_terms_days,opt_out_channels"

# Five customers of a small wholesaler, one of them entered twice, one in an unknown segment.
SMALL_MASTER = f"""{HEADER}
C001,Boulangerie Dupont,FR,fr,compta@dupont.fr,+33 1 23 45 67 89,"1 rue de la Paix, 75002 Paris",PME,false,45,
C002,Brasserie du Port,fr,FR,factures@brasserie-port.fr,,,TPE,true,30,sms
C003,Hôtel Bellevue SA,CH,de,ap@bellevue.ch,,,SME,false,,
C001,Boulangerie Dupont (doublon),FR,fr,autre@dupont.fr,,,PME,false,60,
C004,Martin Logistique,BE,nl,,,,GE,oui,60,letter call
"""


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def by_id(read) -> pd.DataFrame:
    return read.customers.set_index("customer_id")


def test_a_small_master_loads_every_customer_once(tmp_path):
    read = read_customer_master(write(tmp_path, "customers.csv", SMALL_MASTER))
    assert read.customers["customer_id"].tolist() == ["C001", "C002", "C003", "C004"]
    assert list(read.customers.columns) == list(CUSTOMER_COLUMNS)
    assert read.customers.dtypes.astype(str).to_dict() == CUSTOMER_COLUMNS
    assert read.rows_read == 5 == len(read.customers) + len(read.quarantine)


def test_a_duplicate_customer_id_keeps_the_first_line_and_quarantines_the_other(tmp_path):
    read = read_customer_master(write(tmp_path, "customers.csv", SMALL_MASTER))
    assert by_id(read).loc["C001", "email"] == "compta@dupont.fr"
    [record] = read.quarantine.to_dict("records")
    assert record["line_no"] == 5 and record["reason_code"] == "duplicate_customer_id"
    assert record["field"] == "customer_id"
    assert "already defined on line 2" in record["reason"]
    assert record["raw"].startswith("C001,Boulangerie Dupont (doublon)")
    assert list(read.quarantine.columns) == list(QUARANTINE_COLUMNS)


def test_an_unknown_segment_is_blanked_and_reported_without_losing_the_customer(tmp_path):
    read = read_customer_master(write(tmp_path, "customers.csv", SMALL_MASTER))
    assert by_id(read).loc["C003", "segment"] == ""
    assert {"line": 4, "customer_id": "C003", "field": "segment",
            "reason": "unknown segment 'SME' (expected one of TPE, PME, ETI, GE); left blank"} in read.warnings


def test_codes_are_normalized_country_upper_and_language_lower(tmp_path):
    customers = by_id(read_customer_master(write(tmp_path, "customers.csv", SMALL_MASTER)))
    assert customers.loc["C002", ["country", "language"]].tolist() == ["FR", "fr"]
    assert customers.loc["C004", ["country", "language"]].tolist() == ["BE", "nl"]


def test_strategic_terms_and_opt_outs_are_typed(tmp_path):
    customers = by_id(read_customer_master(write(tmp_path, "customers.csv", SMALL_MASTER)))
    assert customers["strategic"].tolist() == [False, True, False, True]
    assert customers.loc["C001", "payment_terms_days"] == 45
    assert pd.isna(customers.loc["C003", "payment_terms_days"])  # unknown: the default terms apply
    assert customers["opt_out_channels"].tolist() == ["", "sms", "", "letter call"]


def test_a_semicolon_cp1252_export_with_accents_reads_like_utf8(tmp_path):
    text = SMALL_MASTER.replace(",", ";").replace('"1 rue de la Paix; 75002 Paris"', "1 rue de la Paix 75002 Paris")
    text = text.replace("Boulangerie Dupont;", "Boulangerie Dupont & Fils;").replace("Hôtel", "Hôtel Élysée")
    path = write(tmp_path, "clients_sage.csv", text.replace("\n", "\r\n"), encoding="cp1252")
    read = read_customer_master(path)
    assert read.meta["encoding"] == "cp1252" and read.meta["separator"] == ";"
    assert by_id(read).loc["C003", "name"] == "Hôtel Élysée Bellevue SA"
    assert by_id(read).loc["C001", "address"] == "1 rue de la Paix 75002 Paris"
    assert len(read.customers) == 4 and len(read.quarantine) == 1


def test_a_utf8_file_with_a_byte_order_mark_keeps_its_first_column_name(tmp_path):
    read = read_customer_master(write(tmp_path, "customers.csv", "\ufeff" + SMALL_MASTER))
    assert read.meta["encoding"] == "utf-8-sig" and len(read.customers) == 4


def test_a_missing_required_column_stops_the_read_naming_the_file_and_the_columns(tmp_path):
    text = SMALL_MASTER.replace(",segment,strategic", ",segmentation,strategique")
    with pytest.raises(LedgerFormatError) as error:
        read_customer_master(write(tmp_path, "clients_2024.csv", text))
    message = str(error.value)
    assert message.startswith("clients_2024.csv, line 1: missing required columns")
    assert "'segment'" in message and "'strategic'" in message
    assert error.value.line == 1


def test_an_empty_file_stops_the_read_at_line_one(tmp_path):
    with pytest.raises(LedgerFormatError, match=r"^empty\.csv, line 1: empty file"):
        read_customer_master(write(tmp_path, "empty.csv", ""))


def test_more_columns_than_required_are_allowed_and_ignored(tmp_path):
    text = SMALL_MASTER.replace(HEADER, HEADER + ",siren", 1)
    text = "\n".join(line + ",552100554" if line.startswith("C") else line for line in text.splitlines())
    read = read_customer_master(write(tmp_path, "customers.csv", text))
    assert len(read.customers) == 4 and "siren" not in read.customers


def test_a_quoted_address_on_two_lines_shifts_the_line_numbers_of_later_records(tmp_path):
    text = (
        f"{HEADER}\n"
        'C001,Boulangerie Dupont,FR,fr,,,"1 rue de la Paix\n75002 Paris",PME,false,45,\n'
        "C002,Brasserie du Port,FR,fr,,,,TPE,false,30,\n"
        ",Sans code,FR,fr,,,,,,,\n"
    )
    read = read_customer_master(write(tmp_path, "customers.csv", text))
    assert by_id(read).loc["C001", "address"] == "1 rue de la Paix\n75002 Paris"
    assert read.quarantine["line_no"].tolist() == [5]  # header 1, C001 on 2-3, C002 on 4
    assert read.quarantine["reason_code"].tolist() == ["missing_customer_id"]


def test_a_line_whose_cells_do_not_line_up_with_the_header_is_quarantined(tmp_path):
    text = f"{HEADER}\nC001,Dupont, Fils et Cie,FR,fr,,,,PME,false,45,\nC002,Brasserie du Port,FR,fr,,,,TPE,false,30,\n"
    read = read_customer_master(write(tmp_path, "customers.csv", text))
    assert read.customers["customer_id"].tolist() == ["C002"]
    assert read.quarantine.loc[0, "reason_code"] == "wrong_field_count"
    assert "12 cells where the header has 11" in read.quarantine.loc[0, "reason"]


def test_blank_lines_are_not_records(tmp_path):
    text = SMALL_MASTER.replace("\nC002", "\n\n,,,,,,,,,,\nC002")
    read = read_customer_master(write(tmp_path, "customers.csv", text))
    assert read.rows_read == 5 and len(read.customers) == 4


def test_bad_optional_fields_are_blanked_and_each_is_reported(tmp_path):
    text = (
        f"{HEADER}\n"
        "C010,Épicerie Fine,FRA,french,pas-un-email,,,pme,peut-être,400,fax sms\n"
        "C011,Le Comptoir,UK,fr-FR,a@b.fr; c@d.fr,,,eti,VRAI,0,\"Email, SMS, email\"\n"
    )
    read = read_customer_master(write(tmp_path, "customers.csv", text))
    customers = by_id(read)
    assert customers.loc["C010", ["country", "language", "email", "segment"]].tolist() == ["", "", "", "PME"]
    assert not customers.loc["C010", "strategic"] and pd.isna(customers.loc["C010", "payment_terms_days"])
    assert customers.loc["C010", "opt_out_channels"] == "sms"
    assert [(w["line"], w["field"]) for w in read.warnings] == [
        (2, "country"), (2, "language"), (2, "email"), (2, "strategic"),
        (2, "payment_terms_days"), (2, "opt_out_channels"),
    ]
    assert "'fax'" in read.warnings[-1]["reason"]
    assert customers.loc["C011", ["country", "language", "email", "segment"]].tolist() == [
        "GB", "fr", "a@b.fr; c@d.fr", "ETI"]
    assert customers.loc["C011", "strategic"] and customers.loc["C011", "payment_terms_days"] == 0
    assert customers.loc["C011", "opt_out_channels"] == "email sms"


def test_a_mapping_renames_the_source_columns_to_ours(tmp_path):
    text = (
        "Code client;Raison sociale;Pays;Langue;Email;Téléphone;Adresse;Segment;Grand compte;Délai;Refus\n"
        "411DUP;Boulangerie Dupont;FR;fr;compta@dupont.fr;;;PME;oui;45;sms\n"
    )
    mapping = {"columns": {
        "customer_id": "Code client", "name": "Raison sociale", "country": "Pays", "language": "Langue",
        "phone": "Téléphone", "address": "Adresse", "strategic": "Grand compte",
        "payment_terms_days": "Délai", "opt_out_channels": "Refus",
    }}
    read = read_customer_master(write(tmp_path, "clients.csv", text), mapping=mapping)
    assert read.customers.loc[0, ["customer_id", "strategic", "payment_terms_days"]].tolist() == ["411DUP", True, 45]
    flat = {"customer_id": "Code client", "name": "Raison sociale", "country": "Pays", "language": "Langue",
            "phone": "Téléphone", "address": "Adresse", "strategic": "Grand compte",
            "payment_terms_days": "Délai", "opt_out_channels": "Refus"}
    assert read_customer_master(write(tmp_path, "clients.csv", text), mapping=flat).customers.equals(read.customers)


def test_a_mapped_column_missing_from_the_file_is_named_with_our_field(tmp_path):
    with pytest.raises(LedgerFormatError, match=r"'Code tiers' \(for customer_id\)"):
        read_customer_master(write(tmp_path, "clients.csv", SMALL_MASTER), mapping={"customer_id": "Code tiers"})


def test_a_spreadsheet_master_reads_numbers_and_booleans_as_text_fields(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER.split(","))
    sheet.append([1001, "Boulangerie Dupont", "FR", "fr", None, 33123456789, None, "PME", True, 45, "sms"])
    sheet.append([1002, "Brasserie du Port", "FR", "fr", None, None, None, "TPE", False, 30.0, None])
    sheet.append([1001, "Doublon", "FR", "fr", None, None, None, "PME", False, 60, None])
    path = tmp_path / "customers.xlsx"
    book.save(path)
    read = read_customer_master(path)
    customers = by_id(read)
    assert customers.index.tolist() == ["1001", "1002"]
    assert customers.loc["1001", "phone"] == "33123456789" and customers.loc["1001", "strategic"]
    assert customers.loc["1002", "payment_terms_days"] == 30
    assert read.quarantine["line_no"].tolist() == [4]  # the worksheet row
    assert read.rows_read == 3


def test_a_dunning_block_column_stops_reminders_for_the_customers_it_flags(tmp_path):
    text = (f"{HEADER},dunning_blocked\n"
            "C001,Boulangerie Dupont,FR,fr,,,,PME,false,45,,oui\n"
            "C002,Brasserie du Port,FR,fr,,,,TPE,false,30,,\n"
            "C003,Hôtel Bellevue SA,CH,de,,,,PME,false,,,peut-être\n")
    read = read_customer_master(write(tmp_path, "customers.csv", text))
    assert by_id(read)["dunning_blocked"].tolist() == [True, False, False]
    assert [(w["customer_id"], w["field"]) for w in read.warnings] == [("C003", "dunning_blocked")]
    without = by_id(read_customer_master(write(tmp_path, "plain.csv", SMALL_MASTER)))
    assert not without["dunning_blocked"].any()   # the column is optional


def test_a_contact_hour_is_read_when_given_and_a_bad_one_is_reported(tmp_path):
    text = (f"{HEADER},contact_hour\n"
            "C001,Boulangerie Dupont,FR,fr,,,,PME,false,45,,14h\n"
            "C002,Brasserie du Port,FR,fr,,,,TPE,false,30,,\n"
            "C003,Hôtel Bellevue SA,CH,de,,,,PME,false,,,25\n")
    read = read_customer_master(write(tmp_path, "customers.csv", text))
    hours = by_id(read)["contact_hour"]
    assert hours["C001"] == 14 and pd.isna(hours["C002"]) and pd.isna(hours["C003"])
    assert [(w["customer_id"], w["field"]) for w in read.warnings] == [("C003", "contact_hour")]


def test_a_collector_column_names_who_works_each_account_and_an_overlong_id_is_blanked(tmp_path):
    text = (f"{HEADER},collector\n"
            "C001,Boulangerie Dupont,FR,fr,,,,PME,false,45,, domestic \n"
            "C002,Brasserie du Port,FR,fr,,,,TPE,false,30,,\n"
            f"C003,Hôtel Bellevue SA,CH,de,,,,PME,false,,,{'x' * 101}\n")
    read = read_customer_master(write(tmp_path, "customers.csv", text))
    assert by_id(read)["collector"].tolist() == ["domestic", "", ""]   # nobody: the all-collectors KPIs only
    assert [(w["customer_id"], w["field"]) for w in read.warnings] == [("C003", "collector")]
    without = by_id(read_customer_master(write(tmp_path, "plain.csv", SMALL_MASTER)))
    assert (without["collector"] == "").all()   # the column is optional
