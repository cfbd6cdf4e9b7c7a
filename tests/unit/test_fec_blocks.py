"""The FEC reader reads a file block by block (`block_size` bytes cut at line ends): whatever the
block size, it gives the lines, quarantine records and line numbers one block gives, including
when a block boundary falls on a bad line, inside a CRLF or CR CR LF line end, or before the
first byte that tells the file's legacy encoding."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from receivables.ledger.fec import read_fec

from test_fec_reader import FEC_HEADER, SALE_AND_PAYMENT, fec_row, fec_text

NAME = "123456789FEC20250630.txt"
BAD_AMOUNT = ("VE", "2", "20250302", "411000", "C002", "Café du Marché", "FA-2", "Facture FA-2", "12,3x", "0,00", "", "")
BAD_DATE = ("VE", "3", "20250230", "706000", "", "", "FA-3", "Facture FA-3", "0,00", "50,00", "", "")
# Good lines, a bad amount, a blank line, a cut line (wrong field count) and a bad date.
MIXED = [*SALE_AND_PAYMENT[:3], BAD_AMOUNT, *SALE_AND_PAYMENT[3:], ("",), ("VE", "4", "2025"), BAD_DATE,
         *SALE_AND_PAYMENT]


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / NAME
    path.write_bytes(data)
    return path


def assert_same_read(path: Path, block_size: int):
    """Read `path` in blocks of `block_size` bytes; it must equal the read in one block."""
    whole = read_fec(path, block_size=1 << 30)
    blocks = read_fec(path, block_size=block_size)
    pd.testing.assert_frame_equal(blocks.lines, whole.lines, check_exact=True)
    pd.testing.assert_frame_equal(blocks.quarantine, whole.quarantine, check_exact=True)
    assert (blocks.rows_read, blocks.meta) == (whole.rows_read, whole.meta)
    assert blocks.rows_read == len(blocks.lines) + len(blocks.quarantine)
    return blocks


def line_start(data: bytes, number: int) -> int:
    """Byte offset where physical line `number` (1-based, LF ends) starts."""
    offset = 0
    for _ in range(number - 1):
        offset = data.index(b"\n", offset) + 1
    return offset


@pytest.mark.parametrize("block_size", [1, 2, 3, 50, 150, 151, 152, 400, 1000])
def test_a_file_read_in_tiny_blocks_gives_the_lines_and_quarantine_of_one_block(tmp_path, block_size):
    path = write(tmp_path, fec_text(MIXED).encode("utf-8"))
    read = assert_same_read(path, block_size)
    assert read.rows_read == 13 and len(read.lines) == 10      # line 8 is blank: not a row
    assert read.quarantine[["line_no", "reason_code"]].values.tolist() == [
        [5, "bad_amount"], [9, "wrong_field_count"], [10, "bad_date"]]
    assert read.lines["line_no"].tolist() == [2, 3, 4, 6, 7, 11, 12, 13, 14, 15]


@pytest.mark.parametrize("edge", ["starts", "ends"])
def test_a_bad_line_right_at_a_block_boundary_keeps_its_line_number_and_reason(tmp_path, edge):
    data = fec_text(MIXED).encode("utf-8")
    bad_line = 5                                      # the bad amount
    boundary = line_start(data, bad_line) if edge == "starts" else line_start(data, bad_line + 1)
    read = assert_same_read(write(tmp_path, data), boundary)
    bad = read.quarantine.iloc[0]
    assert (bad["line_no"], bad["field"], bad["reason"]) == (5, "Debit", "'12,3x' is not an amount")
    assert bad["raw"] == "\t".join(fec_row(BAD_AMOUNT))
    assert (bad["journal_code"], bad["entry_num"]) == ("VE", "2")


def test_every_block_size_up_to_a_few_lines_gives_the_same_read(tmp_path):
    path = write(tmp_path, fec_text(MIXED[:8], sep="|", trailing=True).encode("utf-8"))
    for block_size in range(1, 700, 13):
        assert_same_read(path, block_size)


@pytest.mark.parametrize("newline", ["\r\n", "\r\r\n", "\r"], ids=["CRLF", "CRCRLF", "CR"])
def test_a_line_end_split_across_a_block_boundary_is_still_one_line_end(tmp_path, newline):
    rows = [r + ("", "EUR") for r in SALE_AND_PAYMENT]      # Idevise last: a stray CR would show
    data = fec_text(rows, newline=newline).encode("utf-8")
    path = write(tmp_path, data)
    third_line_end = [i for i, byte in enumerate(data) if byte == data[-1]][2]
    # Blocks whose first read stops inside the line end of line 3, at each of its bytes, and
    # blocks so small that some reads hold nothing but CRs.
    for block_size in [*range(third_line_end - len(newline) + 1, third_line_end + 2), 2, 3, 4, 5]:
        read = assert_same_read(path, block_size)
        assert read.lines["line_no"].tolist() == [2, 3, 4, 5, 6]
        assert read.lines["currency_code"].tolist() == ["EUR"] * 5
        assert read.quarantine.empty


def test_a_cp1252_file_whose_first_blocks_are_plain_ascii_is_decoded_as_cp1252_throughout(tmp_path):
    # The accents come at the end: every block is guessed from the whole file, not from itself.
    rows = [*SALE_AND_PAYMENT, ("VE", "9", "20250320", "411000", "C009", "Société Générale", "FA-9",
                                "Facture été", "10,00", "0,00", "", "")]
    data = fec_text(rows).encode("cp1252")
    read = assert_same_read(write(tmp_path, data), 64)
    assert read.meta["encoding"] == "cp1252"
    assert read.lines["aux_label"].tolist()[-1] == "Société Générale"
    assert read.lines["label"].tolist()[-1] == "Facture été"
    assert read.quarantine.empty


def test_a_byte_that_is_not_cp1252_text_quarantines_only_its_line_in_any_block(tmp_path):
    # Œ, œ, ’ and € are where CP1252 differs from ISO-8859-15 (and à, É from CP850): the guess is CP1252.
    rows = [r[:5] + ("Société Générale",) + r[6:7] + ("Cœur d’Œuvre à 10 € ÉTÉ",) + r[8:] if r[4] else r
            for r in SALE_AND_PAYMENT]
    data = fec_text(rows).encode("cp1252").replace(b"Virement Boulangerie", b"Virement \x81oulangerie", 1)
    path = write(tmp_path, data)
    for block_size in (1, 40, line_start(data, 5), line_start(data, 6)):
        read = assert_same_read(path, block_size)
        assert read.meta["encoding"] == "cp1252"
        bad = read.quarantine.iloc[0]
        assert (bad["line_no"], bad["reason_code"]) == (5, "invalid_bytes")
        assert "Virement \ufffdoulangerie" in bad["raw"]
        assert read.lines["line_no"].tolist() == [2, 3, 4, 6]


def test_invalid_bytes_in_a_utf8_file_with_a_bom_are_quarantined_with_their_line_in_any_block(tmp_path):
    rows = [r[:5] + ("Société Générale",) + r[6:] if r[4] else r for r in SALE_AND_PAYMENT]
    data = b"\xef\xbb\xbf" + fec_text(rows).encode("utf-8").replace(
        b"Virement Boulangerie Martin\t0,00", b"Virement Boulang\xe8rie Martin\t0,00")
    path = write(tmp_path, data)
    for block_size in (1, 3, 4, 100, line_start(data, 6)):
        read = assert_same_read(path, block_size)
        assert read.meta["encoding"] == "utf-8-sig"
        assert read.lines.loc[0, "journal_code"] == "VE"     # the BOM is not glued to the first field
        assert read.quarantine[["line_no", "reason_code"]].values.tolist() == [[6, "invalid_bytes"]]


def test_a_file_read_from_bytes_in_blocks_equals_the_file_read_from_disk(tmp_path):
    header = FEC_HEADER[:11] + ["Montant", "Sens"] + FEC_HEADER[13:]
    rows = [["VE", "Ventes", "4", "20250312", "411000", "Clients", "C004", "", "FA-4", "20250312", "Facture FA-4",
             amount, sens, "", "", "20250312", "", ""] for amount, sens in [("600,00", "D"), ("500,00", "C"), ("1,00", "X")]]
    data = fec_text(rows, header=header, sep="|").encode("utf-8")
    path = write(tmp_path, data)
    from_disk = assert_same_read(path, 7)
    from_bytes = read_fec(path, data=data, block_size=7)
    pd.testing.assert_frame_equal(from_bytes.lines, from_disk.lines)
    pd.testing.assert_frame_equal(from_bytes.quarantine, from_disk.quarantine)
    assert from_disk.quarantine[["line_no", "reason_code"]].values.tolist() == [[4, "bad_sens"]]
