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

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from receivables.ledger.amounts import parse_amounts
from receivables.ledger.dates import parse_dates
from receivables.ledger.schema import (
    LINE_COLUMNS,
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
    if b"\x00" in data[:65536]:
        raise LedgerFormatError(name, 1, "binary content (NUL bytes): not a text FEC export")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="surrogateescape"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if _VALID_UTF8_MULTIBYTE.search(data):
        # UTF-8 text with some invalid bytes: keep UTF-8, the lines at fault get quarantined.
        return data.decode("utf-8", errors="surrogateescape"), "utf-8"
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


def _quarantine(mask: np.ndarray, frame: pd.DataFrame, field: str, code: str, reason: pd.Series | str) -> pd.DataFrame:
    rows = frame.loc[mask]
    return pd.DataFrame({
        "source_file": rows["source_file"],
        "line_no": rows["line_no"],
        "field": field,
        "reason_code": code,
        "reason": reason[mask] if isinstance(reason, pd.Series) else reason,
        "raw": rows["raw"],
    })


def read_fec(path: Path, *, ledger_currency: str = "EUR", data: bytes | None = None) -> LedgerRead:
    """Read a FEC file into normalized ledger lines and quarantine records."""
    name = path.name
    text, encoding = decode(path.read_bytes() if data is None else data, name)
    # CR CR LF (a CRLF file re-encoded by a tool that added another CR) and CRLF both end a line.
    lines = pd.Series(re.split(r"\r*\n|\r", text), dtype="object")
    if len(lines) and lines.iloc[-1] == "":
        lines = lines.iloc[:-1]
    if _SURROGATE.search(lines.iloc[0]):
        raise LedgerFormatError(name, 1, "the header line has bytes that are not text in any known encoding")
    header_text = lines.iloc[0]
    if header_text.startswith("<?xml") or header_text.lstrip().startswith("<"):
        raise LedgerFormatError(name, 1, "this is an XML document (a bank statement or an XML FEC?), not a FEC text export")
    sep, header, _trailing = _split_header(header_text, name)
    columns = _canonical_header(header, name)
    ncols = len(columns)

    body = lines.iloc[1:]
    line_no = np.arange(2, len(lines) + 1, dtype="int64")
    frame = pd.DataFrame({"raw": body.to_numpy(), "line_no": line_no})
    frame = frame[frame["raw"].str.strip() != ""]   # blank lines are not rows
    frame["source_file"] = name
    rows_read = len(frame)
    if rows_read == 0:
        raise LedgerFormatError(name, 2, "the FEC has a header but no entry line")
    quarantined = []

    bad_bytes = frame["raw"].str.contains(_SURROGATE, regex=True).to_numpy()
    if bad_bytes.any():
        quarantined.append(_quarantine(bad_bytes, frame, "", "invalid_bytes",
                                       f"bytes that are not valid {encoding} text"))
    # A line may carry a trailing separator or not, whatever the header does: one field too
    # many that is empty at the end of the line is that separator, not data.
    raw_fields = frame["raw"].str.count(re.escape(sep)).to_numpy() + 1
    trailing = (raw_fields == ncols + 1) & frame["raw"].str.endswith(sep).to_numpy()
    stripped = frame["raw"].where(~trailing, frame["raw"].str.slice(0, -1))
    nfields = np.where(trailing, raw_fields - 1, raw_fields)
    bad_count = (nfields != ncols) & ~bad_bytes
    if bad_count.any():
        reasons = pd.Series(
            [f"{n} fields where the header has {ncols}" for n in nfields[bad_count]],
            index=frame.index[bad_count])
        quarantined.append(_quarantine(bad_count, frame, "", "wrong_field_count",
                                       reasons.reindex(frame.index)))
    good = ~(bad_bytes | bad_count)
    if good.sum() == 0 and rows_read > 0 and bad_count.sum() == rows_read:
        raise LedgerFormatError(
            name, 2, f"no line has the header's {ncols} fields: wrong separator or not a FEC")
    frame = frame[good]
    stripped = stripped[good]

    cells = pd.read_csv(
        io.StringIO("\n".join(stripped.tolist())), sep=sep, header=None, names=columns,
        dtype=str, keep_default_na=False, na_filter=False, quoting=3, engine="c",
    ) if len(frame) else pd.DataFrame(columns=columns, dtype=str)
    cells.index = frame.index
    for column in cells.columns:
        cells[column] = cells[column].str.strip()

    out = pd.DataFrame(index=frame.index)
    out["source_file"] = name
    out["line_no"] = frame["line_no"]
    for fec_name, ours in {**STANDARD_COLUMNS, **CASH_BASIS_COLUMNS}.items():
        if fec_name in cells and ours not in ("debit", "credit", "currency_amount") and fec_name not in _DATE_FIELDS:
            out[ours] = cells[fec_name]

    bad_any = np.zeros(len(frame), dtype=bool)
    reasons: list[pd.DataFrame] = []

    def flag(mask: np.ndarray, field: str, code: str, reason: pd.Series | str) -> None:
        nonlocal bad_any
        mask = mask & ~bad_any        # one reason per line: the first problem found
        if mask.any():
            reasons.append(_quarantine(mask, frame, field, code, reason))
            bad_any = bad_any | mask

    for fec_name, ours in _DATE_FIELDS.items():
        if fec_name not in cells:
            continue
        raw = cells[fec_name]
        # The norm says AAAAMMJJ; some tools write AAAA-MM-JJ or JJ/MM/AAAA.
        parsed, bad = parse_dates(raw, "%Y%m%d")
        if bad.any():
            alt, alt_bad = parse_dates(raw.where(bad.to_numpy(), ""), "%Y-%m-%d")
            parsed = parsed.where(~bad, alt)
            bad = bad & alt_bad
        out[ours] = parsed
        flag(bad.to_numpy(), fec_name, "bad_date",
             "'" + raw + f"' is not a date (expected YYYYMMDD)")
        if fec_name == "EcritureDate":
            flag((raw == "").to_numpy(), fec_name, "missing_field", "EcritureDate is empty")

    def amount(fec_name: str) -> pd.Series:
        raw = cells[fec_name]
        # Decimal comma per the norm; a decimal point is tolerated when there is no comma.
        normalized = raw.where(raw.str.contains(",", regex=False), raw.str.replace(".", ",", regex=False))
        minor, bad = parse_amounts(normalized, decimal=",", exponent=2)
        flag(bad.to_numpy(), fec_name, "bad_amount", "'" + raw + "' is not an amount")
        return minor

    if "Debit" in cells and "Credit" in cells:
        debit, credit = amount("Debit"), amount("Credit")
    else:
        value = amount("Montant")
        sens = cells["Sens"].str.upper()
        is_debit = sens.isin(["D", "+1", "1", "+"])
        is_credit = sens.isin(["C", "-1", "-"])
        flag((~(is_debit | is_credit)).to_numpy(), "Sens", "bad_sens",
             "Sens '" + cells["Sens"] + "' is neither D nor C")
        debit = value.where(is_debit, 0)
        credit = value.where(is_credit, 0)
    out["debit_minor"] = debit.fillna(0)
    out["credit_minor"] = credit.fillna(0)
    if "Montantdevise" in cells:
        out["currency_amount_minor"] = amount("Montantdevise")
    out["currency"] = ledger_currency

    if reasons:
        quarantined.extend(reasons)
    loaded = conform(out[~bad_any], LINE_COLUMNS)
    quarantine = pd.concat(quarantined, ignore_index=True) if quarantined else empty_quarantine()
    quarantine = quarantine.sort_values("line_no", kind="stable").reset_index(drop=True)
    result = LedgerRead(
        lines=loaded, quarantine=quarantine, rows_read=rows_read,
        meta={"encoding": encoding, "separator": "TAB" if sep == "\t" else sep,
              "columns": ncols, "variant": _variant(columns), "source": source_name(path)},
    )
    result.check_conservation()
    return result


def _variant(columns: list[str]) -> str:
    if "Montant" in columns:
        return "montant-sens"
    if any(c in columns for c in CASH_BASIS_COLUMNS):
        return "cash-basis"
    return "standard"
