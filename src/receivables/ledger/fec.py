"""FEC (Fichier des Écritures Comptables) reader: the French legal ledger export, as written by
real accounting packages, to the normalized ledger frame.

    >>> read = read_fec(Path("123456789FEC20250630.txt"))          # doctest: +SKIP
    >>> read.rows_read, len(read.lines), len(read.quarantine)      # doctest: +SKIP
    (14250, 14247, 3)

What real exports do, and what this reader accepts (article A47 A-1 of the Livre des procédures
fiscales, and the files under shared/fixtures/fec-*):
- TAB or PIPE separated, with or without a trailing separator on every line;
- UTF-8 with or without BOM, or a legacy 8-bit code page (CP1252, ISO-8859-15, CP850), guessed
  from which one turns the non-ASCII bytes into French letters;
- decimal comma (a decimal point is tolerated), zero- or space-padded fields;
- LF, CRLF or CR CR LF line ends;
- the 18 standard columns, the "Montant + Sens" variant, and the 22-column cash-basis variant
  (DateRglt, ModeRglt, NatOp, IdClient); header spelling varies in case (`Montantdevise`,
  `MontantDevise`, `IDevise`).

A line that cannot be typed (wrong number of fields, an amount or a date that is not one, bytes
that are not text) becomes a quarantine record naming the line and the field; the file as a whole
is rejected (`LedgerFormatError`) only when it is not a FEC at all: empty, binary, no FEC header.
Semantic checks (balanced entries, debit xor credit, ...) are the validation suite's job.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from receivables.ledger.amounts import parse_amounts
from receivables.ledger.dates import parse_dates
from receivables.money import exponent
from receivables.ledger.schema import (
    LINE_COLUMNS,
    QUARANTINE_COLUMNS,
    LedgerFormatError,
    LedgerRead,
    conform,
    empty_quarantine,
)

# canonical FEC column -> our column
STANDARD_COLUMNS = {
    "JournalCode": "journal_code",
    "JournalLib": "journal_lib",
    "EcritureNum": "entry_num",
    "EcritureDate": "entry_date",
    "CompteNum": "account",
    "CompteLib": "account_label",
    "CompAuxNum": "aux_account",
    "CompAuxLib": "aux_label",
    "PieceRef": "piece_ref",
    "PieceDate": "piece_date",
    "EcritureLib": "label",
    "Debit": "debit",
    "Credit": "credit",
    "EcritureLet": "let_code",
    "DateLet": "let_date",
    "ValidDate": "valid_date",
    "Montantdevise": "currency_amount",
    "Idevise": "currency_code",
}
AMOUNT_SENS_COLUMNS = {"Montant": "amount", "Sens": "sens"}
CASH_BASIS_COLUMNS = {"DateRglt": "payment_date", "ModeRglt": "payment_mode", "NatOp": "nature", "IdClient": "client_id"}
_CANONICAL = {name.lower(): name for name in (*STANDARD_COLUMNS, *AMOUNT_SENS_COLUMNS, *CASH_BASIS_COLUMNS)}
_REQUIRED = [c for c in STANDARD_COLUMNS if c not in ("Debit", "Credit")]

_DATE_FIELDS = {"EcritureDate": "entry_date", "PieceDate": "piece_date", "DateLet": "let_date",
                "ValidDate": "valid_date", "DateRglt": "payment_date"}
_LEGACY_ENCODINGS = ("cp1252", "iso8859_15", "cp850")
_FRENCH_LETTERS = set("éèêëàâäîïôöùûüçœÉÈÊÀÂÎÔÙÛÇŒ°€«»’")
_VALID_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_SURROGATE = re.compile("[\udc80-\udcff]")
_FILENAME = re.compile(r"^(?P<siren>\d{9,10})FEC(?P<closing>\d{8})", re.IGNORECASE)


def source_name(path: Path) -> str:
    """The ledger source a file belongs to: '<SIREN>FEC<closing date>' per the legal file name.

    A new export of the same fiscal year replaces the previous one; other years live beside it.
    """
    match = _FILENAME.match(path.name)
    return f"{match['siren']}FEC{match['closing']}" if match else path.stem


def decode(data: bytes, name: str) -> tuple[str, str]:
    """Bytes to text and the encoding used. Undecodable bytes survive as lone surrogates."""
    if not data.strip(b"\r\n\t |\xef\xbb\xbf"):
        raise LedgerFormatError(name, 1, "the file is empty")
    if b"\x00" in data:
        raise LedgerFormatError(name, 1, "binary content (NUL bytes): not a text FEC export")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="surrogateescape"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # UTF-8 with a few corrupt bytes, or an 8-bit file where a letter pair happens to look like
    # UTF-8 ("É" + no-break space)? Mostly valid sequences means the former.
    valid = len(_VALID_UTF8_MULTIBYTE.findall(data))
    text = data.decode("utf-8", errors="surrogateescape")
    if valid >= 4 * len(_SURROGATE.findall(text)):
        # UTF-8 text with some invalid bytes: keep UTF-8, the lines at fault get quarantined.
        return text, "utf-8+invalid"
    high = bytes(sorted(set(b for b in data if b >= 0x80)))

    def french_score(encoding: str) -> int:
        decoded = high.decode(encoding, errors="replace")
        return sum(ch in _FRENCH_LETTERS for ch in decoded) - 3 * decoded.count("\ufffd")

    encoding = max(_LEGACY_ENCODINGS, key=french_score)  # ties keep the first: CP1252
    return data.decode(encoding, errors="surrogateescape"), encoding


def _split_header(header: str, name: str) -> tuple[str, list[str], bool]:
    for sep in ("\t", "|"):
        if sep in header:
            fields = [f.strip() for f in header.split(sep)]
            trailing = fields[-1] == ""
            if trailing:
                fields = fields[:-1]
            return sep, fields, trailing
    raise LedgerFormatError(
        name, 1, f"not a FEC header (no TAB or | separator): {header[:60]!r}")


def _canonical_header(fields: list[str], name: str) -> list[str]:
    canonical = [_CANONICAL.get(f.lower(), f) for f in fields]
    missing = [c for c in _REQUIRED if c not in canonical]
    if len(missing) > len(_REQUIRED) // 2:
        raise LedgerFormatError(
            name, 1, f"not a FEC header: expected JournalCode, EcritureNum, ... found {fields[:4]}")
    if missing:
        raise LedgerFormatError(name, 1, f"FEC header lacks column(s) {', '.join(missing)}")
    has_debit_credit = "Debit" in canonical and "Credit" in canonical
    has_amount_sens = "Montant" in canonical and "Sens" in canonical
    if not (has_debit_credit or has_amount_sens):
        raise LedgerFormatError(name, 1, "FEC header has neither Debit/Credit nor Montant/Sens columns")
    duplicated = sorted({c for c in canonical if canonical.count(c) > 1})
    if duplicated:
        raise LedgerFormatError(name, 1, f"FEC header repeats column(s) {', '.join(duplicated)}")
    return canonical


def read_fec(path: Path, *, ledger_currency: str = "EUR", data: bytes | None = None) -> LedgerRead:
    """Read a FEC file into normalized ledger lines and quarantine records.

    Every step over the lines is columnar (Arrow compute, pyarrow's CSV reader, pandas): a
    million-line FEC parses in seconds.
    """
    name = path.name
    text, encoding = decode(path.read_bytes() if data is None else data, name)
    # CR CR LF (a CRLF file re-encoded by a tool that added another CR) and CRLF both end a line.
    physical = text.replace("\r\r\n", "\n").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # A strict UTF-8 decode cannot hold undecodable bytes; the other paths may (surrogateescape).
    has_bad_bytes = encoding != "utf-8" and _SURROGATE.search(text) is not None
    del text
    if physical and physical[-1] == "":
        physical.pop()
    header_text = physical[0]
    if _SURROGATE.search(header_text):
        raise LedgerFormatError(name, 1, "the header line has bytes that are not text in any known encoding")
    if header_text.lstrip().startswith("<"):
        raise LedgerFormatError(name, 1, "this is an XML document (a bank statement or an XML FEC?), not a FEC text export")
    sep, header, _trailing = _split_header(header_text, name)
    columns = _canonical_header(header, name)
    ncols = len(columns)

    body = physical[1:]
    del physical
    # Lines with bytes that are not text (lone surrogates after decoding) cannot enter Arrow.
    bad_bytes_all = np.fromiter((_SURROGATE.search(line) is not None for line in body), bool, len(body)) \
        if has_bad_bytes else np.zeros(len(body), dtype=bool)
    arrow = pa.array([("" if bad else line) for line, bad in zip(body, bad_bytes_all)] if bad_bytes_all.any()
                     else body, type=pa.large_string())
    blank = _np(pc.equal(pc.utf8_trim_whitespace(arrow), "")) & ~bad_bytes_all   # blank lines are not rows
    kept = np.flatnonzero(~blank)
    rows_read = len(kept)
    if rows_read == 0:
        raise LedgerFormatError(name, 2, "the FEC has a header but no entry line")
    raw = arrow.take(pa.array(kept))
    line_no = kept.astype("int64") + 2
    bad_bytes = bad_bytes_all[kept]

    def raw_text(mask: np.ndarray) -> list[str]:
        positions = np.flatnonzero(mask)
        return [_SURROGATE.sub("\ufffd", body[kept[i]]) for i in positions]

    journal_at, entry_at = columns.index("JournalCode"), columns.index("EcritureNum")

    def entry_of(raws: list[str]) -> tuple[list[str], list[str]]:
        """The journal and entry number of rejected lines, so validation holds back their entries."""
        fields = [r.split(sep) for r in raws]
        return ([f[journal_at].strip() if len(f) > journal_at else "" for f in fields],
                [f[entry_at].strip() if len(f) > entry_at else "" for f in fields])

    quarantined: list[pd.DataFrame] = []

    def quarantine(mask: np.ndarray, field: str, code: str, reason, lines_of=None) -> None:  # noqa: ANN001
        raws = raw_text(mask) if lines_of is None else raw_of_good(mask)
        journals, entries = entry_of(raws)
        quarantined.append(pd.DataFrame({
            "source_file": name, "line_no": line_no[mask] if lines_of is None else lines_of[mask],
            "field": field, "reason_code": code, "reason": reason, "raw": raws,
            "journal_code": journals, "entry_num": entries,
        }))

    if bad_bytes.any():
        quarantine(bad_bytes, "", "invalid_bytes", f"bytes that are not valid {encoding} text")
    # A line may carry a trailing separator or not, whatever the header does: one field too
    # many that is empty at the end of the line is that separator, not data.
    raw_fields = _np(pc.count_substring(raw, sep)) + 1
    trailing = (raw_fields == ncols + 1) & _np(pc.ends_with(raw, sep))
    stripped = pc.if_else(pa.array(trailing), pc.utf8_slice_codeunits(raw, 0, -1), raw)
    nfields = np.where(trailing, raw_fields - 1, raw_fields)
    bad_count = (nfields != ncols) & ~bad_bytes
    if bad_count.any():
        quarantine(bad_count, "", "wrong_field_count",
                   [f"{n} fields where the header has {ncols}" for n in nfields[bad_count]])
        if bad_count.sum() == rows_read:
            raise LedgerFormatError(
                name, 2, f"no line has the header's {ncols} fields: wrong separator or not a FEC")
    good = ~(bad_bytes | bad_count)
    good_idx = np.flatnonzero(good)
    good_lines = line_no[good]

    def raw_of_good(mask: np.ndarray) -> list[str]:
        return raw_text(np.isin(np.arange(len(kept)), good_idx[mask]))

    cells = _split_fields(stripped.filter(pa.array(good)), sep, columns) if len(good_idx) else None
    out = pd.DataFrame({"source_file": name, "line_no": good_lines})
    for fec_name, ours in {**STANDARD_COLUMNS, **CASH_BASIS_COLUMNS}.items():
        if fec_name in columns and ours not in ("debit", "credit", "currency_amount") and fec_name not in _DATE_FIELDS:
            out[ours] = cells[fec_name].to_pandas()

    bad_any = np.zeros(len(good_idx), dtype=bool)

    def flag(mask: np.ndarray, field: str, code: str, reason) -> None:  # noqa: ANN001
        """Quarantine the lines of `mask`; `reason` is text or a function of the masked raw values."""
        nonlocal bad_any
        mask = mask & ~bad_any        # one reason per line: the first problem found
        if mask.any():
            quarantine(mask, field, code, reason(mask) if callable(reason) else reason, lines_of=good_lines)
            bad_any = bad_any | mask

    def text_of(fec_name: str) -> pd.Series:
        return pd.Series(cells[fec_name].to_pandas(), dtype=object)

    for fec_name, ours in _DATE_FIELDS.items():
        if fec_name not in columns:
            continue
        # A ledger has a few thousand distinct dates for a million lines: parse each once.
        encoded = cells[fec_name].dictionary_encode()
        distinct = pd.Series(encoded.dictionary.to_pylist(), dtype=object)
        # The norm says AAAAMMJJ; some tools write AAAA-MM-JJ.
        parsed, bad = parse_dates(distinct, "%Y%m%d")
        if bad.any():
            alt, alt_bad = parse_dates(distinct.where(bad, ""), "%Y-%m-%d")
            parsed = parsed.where(~bad, alt)
            bad = bad & alt_bad
        codes = _np(encoded.indices)
        out[ours] = parsed.to_numpy()[codes]
        flag(bad.to_numpy()[codes], fec_name, "bad_date",
             lambda m, v=distinct.to_numpy()[codes]: [f"'{x}' is not a date (expected YYYYMMDD)" for x in v[m]])
        raw_dates = distinct.to_numpy()[codes]
        if fec_name == "EcritureDate":
            flag(raw_dates == "", fec_name, "missing_field", "EcritureDate is empty")

    def amount(fec_name: str, exponents: np.ndarray | None = None) -> np.ndarray:
        """Minor units of an amount column; `exponents` per line (foreign currencies), else 2."""
        raw_amounts = cells[fec_name]
        # Decimal comma per the norm; a decimal point is tolerated when there is no comma.
        normalized = pd.Series(pc.if_else(pc.match_substring(raw_amounts, ","), raw_amounts,
                                          pc.replace_substring(raw_amounts, ".", ",")), dtype=pd.ArrowDtype(pa.string()))
        exponents = np.full(len(normalized), 2) if exponents is None else exponents
        minor = np.zeros(len(normalized), dtype="int64")
        has_value = np.zeros(len(normalized), dtype=bool)
        bad = np.zeros(len(normalized), dtype=bool)
        for exp in np.unique(exponents):
            rows = exponents == exp
            part, part_bad = parse_amounts(normalized[rows], decimal=",", exponent=int(exp))
            minor[rows] = part.fillna(0).to_numpy(dtype="int64")
            has_value[rows] = part.notna().to_numpy()
            bad[rows] = part_bad.to_numpy()
        flag(bad, fec_name, "bad_amount",
             lambda m: [f"'{x}' is not an amount" for x in raw_amounts.filter(pa.array(m)).to_pylist()])
        return pd.Series(minor).where(has_value).astype("Int64").to_numpy()

    if "Debit" in columns and "Credit" in columns:
        debit, credit = amount("Debit"), amount("Credit")
    else:
        value = amount("Montant")
        sens = text_of("Sens").str.upper()
        is_debit = sens.isin(["D", "+1", "1", "+"]).to_numpy()
        is_credit = sens.isin(["C", "-1", "-"]).to_numpy()
        flag(~(is_debit | is_credit), "Sens", "bad_sens",
             lambda m: [f"Sens '{x}' is neither D nor C" for x in text_of("Sens")[m]])
        debit = np.where(is_debit, value, 0)
        credit = np.where(is_credit, value, 0)
    out["debit_minor"] = pd.Series(debit, dtype="Int64").fillna(0).astype("int64").to_numpy()
    out["credit_minor"] = pd.Series(credit, dtype="Int64").fillna(0).astype("int64").to_numpy()
    if "Montantdevise" in columns:
        codes = cells["Idevise"].to_pandas() if "Idevise" in columns else pd.Series([""] * len(good_idx))
        out["currency_amount_minor"] = pd.Series(amount("Montantdevise", codes.map(exponent).to_numpy()),
                                                 dtype="Int64").to_numpy()
    out["currency"] = ledger_currency

    loaded = conform(out[~bad_any], LINE_COLUMNS)
    quarantine_frame = (pd.concat(quarantined, ignore_index=True) if quarantined else empty_quarantine())
    quarantine_frame = conform(quarantine_frame.sort_values("line_no", kind="stable"), QUARANTINE_COLUMNS)
    result = LedgerRead(
        lines=loaded, quarantine=quarantine_frame, rows_read=rows_read,
        meta={"encoding": encoding, "separator": "TAB" if sep == "\t" else sep,
              "columns": ncols, "variant": _variant(columns), "source": source_name(path)},
    )
    result.check_conservation()
    return result


def _np(array: pa.Array) -> np.ndarray:
    return array.to_numpy(zero_copy_only=False)


def _split_fields(lines: pa.Array, sep: str, columns: list[str]) -> dict[str, pa.Array]:
    """Lines that each have exactly len(columns) fields -> one trimmed Arrow string array a column."""
    # Each line followed by a newline: the data buffer of that array IS the CSV payload, and
    # pyarrow reads it in place (no Python string is built).
    joined = pc.binary_join_element_wise(lines, pa.scalar("", pa.large_string()), pa.scalar("\n", pa.large_string()))
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int64)[joined.offset:joined.offset + len(joined) + 1]
    payload = joined.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    table = pacsv.read_csv(
        pa.BufferReader(payload),
        read_options=pacsv.ReadOptions(column_names=columns, block_size=1 << 26),
        parse_options=pacsv.ParseOptions(delimiter=sep, quote_char=False, escape_char=False,
                                         ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in columns},
                                             strings_can_be_null=False),
    )
    if table.num_rows != len(lines):   # cannot happen: field counts were checked line by line
        raise AssertionError(f"split {table.num_rows} rows from {len(lines)} lines")
    return {c: pc.utf8_trim_whitespace(table[c].combine_chunks()) for c in columns}


def _variant(columns: list[str]) -> str:
    if "Montant" in columns:
        return "montant-sens"
    if any(c in columns for c in CASH_BASIS_COLUMNS):
        return "cash-basis"
    return "standard"
