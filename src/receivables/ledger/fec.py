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

The file is read in blocks of `BLOCK_SIZE` bytes cut at line ends: one pass guesses the encoding
from the whole file, a second one decodes and types each block with the same columnar code and
keeps its columns compact (Arrow strings, numpy numbers) until the frame is built at the end. A
10-million-line FEC (1.5 GB) thus never exists as one text or as ten million Python strings.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

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


BLOCK_SIZE = 1 << 25
"""Bytes of the file decoded and typed at a time (cut at a line end): 32 MiB, ~200,000 lines."""
_BOM = b"\xef\xbb\xbf"


def decode(data: bytes, name: str) -> tuple[str, str]:
    """Bytes to text and the encoding used. Undecodable bytes survive as lone surrogates."""
    encoding = _guess_encoding(io.BytesIO(data), name, BLOCK_SIZE)
    if encoding == "utf-8-sig":
        return data[3:].decode("utf-8", errors="surrogateescape"), encoding
    return data.decode(_codec(encoding), errors="surrogateescape"), encoding


def _codec(encoding: str) -> str:
    return "utf-8" if encoding.startswith("utf-8") else encoding


def _guess_encoding(stream: BinaryIO, name: str, block_size: int) -> str:
    """The encoding of the whole stream (read from its start, block by block): 'utf-8',
    'utf-8-sig' (a BOM), 'utf-8+invalid' (UTF-8 with a few bytes that are not) or a legacy code
    page. Raises LedgerFormatError when the stream is empty or binary."""
    stream.seek(0)
    bom = stream.read(3) == _BOM
    stream.seek(0)
    has_text = has_nul = False
    utf8 = True
    for block in _blocks(stream, block_size):
        has_text = has_text or bool(block.strip(b"\r\n\t |\xef\xbb\xbf"))
        has_nul = has_nul or b"\x00" in block
        utf8 = utf8 and (bom or _is_utf8(block))
    if not has_text:
        raise LedgerFormatError(name, 1, "the file is empty")
    if has_nul:
        raise LedgerFormatError(name, 1, "binary content (NUL bytes): not a text FEC export")
    if bom:
        return "utf-8-sig"
    if utf8:
        return "utf-8"
    # UTF-8 with a few corrupt bytes, or an 8-bit file where a letter pair happens to look like
    # UTF-8 ("É" + no-break space)? Mostly valid sequences means the former.
    valid = undecodable = 0
    seen = np.zeros(256, dtype=bool)
    stream.seek(0)
    for block in _blocks(stream, block_size):
        valid += len(_VALID_UTF8_MULTIBYTE.findall(block))
        undecodable += len(_SURROGATE.findall(block.decode("utf-8", errors="surrogateescape")))
        seen |= np.bincount(np.frombuffer(block, dtype=np.uint8), minlength=256) > 0
    if valid >= 4 * undecodable:
        # UTF-8 text with some invalid bytes: keep UTF-8, the lines at fault get quarantined.
        return "utf-8+invalid"
    high = bytes(np.flatnonzero(seen[0x80:]) + 0x80)

    def french_score(encoding: str) -> int:
        decoded = high.decode(encoding, errors="replace")
        return sum(ch in _FRENCH_LETTERS for ch in decoded) - 3 * decoded.count("\ufffd")

    return max(_LEGACY_ENCODINGS, key=french_score)  # ties keep the first: CP1252


def _is_utf8(data: bytes) -> bool:
    """Whether `data` is valid UTF-8 (Arrow's validation: ten times Python's decode)."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    try:
        pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)]).cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


def _blocks(stream: BinaryIO, block_size: int) -> Iterator[bytes]:
    """The rest of the stream in blocks of about `block_size` bytes, each ending at a line end
    (the last one at the end of the stream) that no later byte can turn into another one."""
    pending: list[bytes | memoryview] = []     # the start of a line the next read completes
    while chunk := stream.read(block_size):
        cut = _line_end_cut(chunk)
        if cut == 0:            # a line longer than a block: keep reading
            pending.append(chunk)
            continue
        view = memoryview(chunk)
        if pending or cut < len(chunk):
            yield b"".join([*pending, view[:cut]])
        else:
            yield chunk
        pending = [view[cut:]] if cut < len(chunk) else []
    if pending:
        yield b"".join(pending)


def _line_end_cut(chunk: bytes) -> int:
    """Length of the longest prefix of `chunk` ending at a line end whatever bytes follow, else 0.

    An LF always ends one. A CR does when followed by a byte that is neither CR nor LF: before
    one, it may be the start of CRLF or CR CR LF, which the next block would hold.
    """
    lf = chunk.rfind(b"\n")
    if lf >= 0:
        return lf + 1
    cr = chunk.rfind(b"\r", 0, len(chunk) - 1)
    while cr >= 0 and chunk[cr + 1] == 0x0D:
        cr = chunk.rfind(b"\r", 0, cr)
    return cr + 1


def _block_lines(block: bytes, encoding: str) -> tuple[pa.Array, np.ndarray]:
    """A block of the file -> its lines (large_string, line ends dropped, a byte that is not text
    in `encoding` as one U+FFFD) and a mask of the lines that had such bytes."""
    # CR CR LF (a CRLF file re-encoded by a tool that added another CR) and CRLF both end a line.
    if b"\r" in block:
        block = block.replace(b"\r\r\n", b"\n").replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    bad_lines: list[int] = []
    if block.isascii() or (_codec(encoding) == "utf-8" and _is_utf8(block)):
        utf8 = block            # already the UTF-8 Arrow holds: no decoding at all
    else:
        text = block.decode(_codec(encoding), errors="surrogateescape")
        line = position = 0
        for match in _SURROGATE.finditer(text):   # one step a byte that is not text, not a line
            line += text.count("\n", position, match.start())
            position = match.start()
            bad_lines.append(line)
        utf8 = (_SURROGATE.sub("\ufffd", text) if bad_lines else text).encode("utf-8")
        del text
    del block
    ends = np.flatnonzero(np.frombuffer(utf8, dtype=np.uint8) == 0x0A)
    count = len(ends) + (not utf8.endswith(b"\n") and len(utf8) > 0)   # an unterminated last line
    # Without its line ends, line i of the block starts i bytes earlier.
    offsets = np.empty(count + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:len(ends) + 1] = ends - np.arange(len(ends))
    offsets[len(ends) + 1:] = len(utf8) - len(ends)
    payload = utf8.replace(b"\n", b"") if len(ends) else utf8
    lines = pa.Array.from_buffers(pa.large_string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(payload)])
    bad = np.zeros(count, dtype=bool)
    bad[bad_lines] = True
    return lines, bad


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


def read_fec(path: Path, *, ledger_currency: str = "EUR", data: bytes | None = None,
             block_size: int | None = None) -> LedgerRead:
    """Read a FEC file into normalized ledger lines and quarantine records.

    Every step over the lines is columnar (Arrow compute, pyarrow's CSV reader, pandas): a
    million-line FEC parses in seconds. The file is read `block_size` bytes at a time (default
    `BLOCK_SIZE`), so memory holds one block and the compact typed columns of the others.
    """
    name = path.name
    block_size = block_size or BLOCK_SIZE

    def open_stream() -> BinaryIO:
        return path.open("rb") if data is None else io.BytesIO(data)

    with open_stream() as stream:
        encoding = _guess_encoding(stream, name, block_size)
        stream.seek(3 if encoding == "utf-8-sig" else 0)
        body: _Body | None = None
        next_line = 1                     # the file's line number of the block's first line
        for block in _blocks(stream, block_size):
            lines, bad_bytes = _block_lines(block, encoding)
            del block
            first_line, next_line = next_line, next_line + len(lines)
            if body is None:              # the first block starts with the header
                sep, columns = _header(lines[0].as_py(), bool(bad_bytes[0]), name)
                body = _Body(name, sep, columns, encoding)
                lines, bad_bytes, first_line = lines.slice(1), bad_bytes[1:], 2
            if len(lines):
                body.add(lines, bad_bytes, first_line)
    if body is None:
        raise LedgerFormatError(name, 1, "the file is empty")
    loaded, quarantine_frame = body.finish(ledger_currency)
    result = LedgerRead(
        lines=loaded, quarantine=quarantine_frame, rows_read=body.rows_read,
        meta={"encoding": encoding, "separator": "TAB" if sep == "\t" else sep,
              "columns": len(columns), "variant": _variant(columns), "source": source_name(path)},
    )
    result.check_conservation()
    return result


def _header(header_text: str, bad_bytes: bool, name: str) -> tuple[str, list[str]]:
    """The separator and canonical columns of the header line, or LedgerFormatError."""
    if bad_bytes:
        raise LedgerFormatError(name, 1, "the header line has bytes that are not text in any known encoding")
    if header_text.lstrip().startswith("<"):
        raise LedgerFormatError(name, 1, "this is an XML document (a bank statement or an XML FEC?), not a FEC text export")
    sep, header, _trailing = _split_header(header_text, name)
    return sep, _canonical_header(header, name)


# The LINE_COLUMNS a FEC fills from its own text columns (the others are computed or constant).
_TEXT_COLUMNS = {fec: ours for fec, ours in {**STANDARD_COLUMNS, **CASH_BASIS_COLUMNS}.items()
                 if LINE_COLUMNS.get(ours) == "object"}


class _Body:
    """The entry lines of one FEC, typed block by block: loaded columns kept compact (Arrow
    strings, numpy arrays) until `finish`, quarantine records as they come."""

    def __init__(self, name: str, sep: str, columns: list[str], encoding: str):
        self.name, self.sep, self.columns, self.encoding = name, sep, columns, encoding
        self.rows_read = 0
        self.wrong_count = 0
        self.loaded: dict[str, list] = {}
        self.quarantined: list[pd.DataFrame] = []

    def add(self, text: pa.Array, bad_bytes_all: np.ndarray, first_line: int) -> None:
        """Type the lines `text` (large_string) of the file from line `first_line` on;
        `bad_bytes_all` marks those with bytes that were not text (U+FFFD in `text`)."""
        name, sep, columns, encoding = self.name, self.sep, self.columns, self.encoding
        ncols = len(columns)
        # Lines with bytes that are not text are typed as empty and quarantined as they are.
        arrow = (pc.if_else(pa.array(bad_bytes_all), pa.scalar("", pa.large_string()), text)
                 if bad_bytes_all.any() else text)
        blank = _np(pc.equal(pc.utf8_trim_whitespace(arrow), "")) & ~bad_bytes_all   # blank lines are not rows
        kept = np.flatnonzero(~blank)
        rows_read = len(kept)
        self.rows_read += rows_read
        if rows_read == 0:
            return
        raw = arrow if rows_read == len(arrow) else arrow.take(pa.array(kept))
        line_no = kept.astype("int64") + first_line
        bad_bytes = bad_bytes_all[kept]

        def raw_text(positions: np.ndarray) -> list[str]:
            """The text of the kept lines at `positions`, as read (U+FFFD for bytes that are not)."""
            return text.take(pa.array(kept[positions], type=pa.int64())).to_pylist()

        journal_at, entry_at = columns.index("JournalCode"), columns.index("EcritureNum")

        def entry_of(raws: list[str]) -> tuple[list[str], list[str]]:
            """The journal and entry number of rejected lines, so validation holds back their entries."""
            fields = [r.split(sep) for r in raws]
            return ([f[journal_at].strip() if len(f) > journal_at else "" for f in fields],
                    [f[entry_at].strip() if len(f) > entry_at else "" for f in fields])

        def quarantine(mask: np.ndarray, field: str, code: str, reason, lines_of=None) -> None:  # noqa: ANN001
            raws = raw_text(np.flatnonzero(mask)) if lines_of is None else raw_text(good_idx[mask])
            journals, entries = entry_of(raws)
            self.quarantined.append(pd.DataFrame({
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
        stripped = pc.if_else(pa.array(trailing), pc.utf8_slice_codeunits(raw, 0, -1), raw) if trailing.any() else raw
        nfields = np.where(trailing, raw_fields - 1, raw_fields)
        bad_count = (nfields != ncols) & ~bad_bytes
        if bad_count.any():
            quarantine(bad_count, "", "wrong_field_count",
                       [f"{n} fields where the header has {ncols}" for n in nfields[bad_count]])
            self.wrong_count += int(bad_count.sum())
        good = ~(bad_bytes | bad_count)
        good_idx = np.flatnonzero(good)
        if len(good_idx) == 0:
            return
        good_lines = line_no[good]
        cells = _split_fields(stripped if len(good_idx) == rows_read else stripped.filter(pa.array(good)),
                              sep, columns)
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

        typed: dict[str, np.ndarray | pd.arrays.IntegerArray] = {}
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
            typed[ours] = parsed.to_numpy()[codes]
            flag(bad.to_numpy()[codes], fec_name, "bad_date",
                 lambda m, v=distinct.to_numpy()[codes]: [f"'{x}' is not a date (expected YYYYMMDD)" for x in v[m]])
            raw_dates = distinct.to_numpy()[codes]
            if fec_name == "EcritureDate":
                flag(raw_dates == "", fec_name, "missing_field", "EcritureDate is empty")

        def amount(fec_name: str, exponents: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
            """Minor units of an amount column (0 where empty) and where it has a value;
            `exponents` per line (foreign currencies), else 2."""
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
            return minor, has_value

        if "Debit" in columns and "Credit" in columns:
            (debit, _), (credit, _) = amount("Debit"), amount("Credit")
        else:
            value, _ = amount("Montant")
            sens = text_of("Sens").str.upper()
            is_debit = sens.isin(["D", "+1", "1", "+"]).to_numpy()
            is_credit = sens.isin(["C", "-1", "-"]).to_numpy()
            flag(~(is_debit | is_credit), "Sens", "bad_sens",
                 lambda m: [f"Sens '{x}' is neither D nor C" for x in text_of("Sens")[m]])
            debit = np.where(is_debit, value, 0)
            credit = np.where(is_credit, value, 0)
        typed["debit_minor"], typed["credit_minor"] = debit, credit
        if "Montantdevise" in columns:
            if "Idevise" in columns:   # a few currencies for a million lines: look each up once
                encoded = cells["Idevise"].dictionary_encode()
                exponents = np.array([exponent(c) for c in encoded.dictionary.to_pylist()],
                                     dtype="int64")[_np(encoded.indices)]
            else:
                exponents = np.full(len(good_idx), exponent(""), dtype="int64")
            minor, has_value = amount("Montantdevise", exponents)
            typed["currency_amount_minor"] = pd.arrays.IntegerArray(minor, ~has_value)

        keep = ~bad_any
        every = bool(keep.all())
        self._store("line_no", good_lines if every else good_lines[keep])
        for fec_name, ours in _TEXT_COLUMNS.items():
            if fec_name in columns:
                self._store(ours, cells[fec_name] if every else cells[fec_name].filter(pa.array(keep)))
        for ours, values in typed.items():
            if ours in LINE_COLUMNS:
                self._store(ours, values if every else values[keep])

    def _store(self, column: str, values: pa.Array | np.ndarray | pd.arrays.IntegerArray) -> None:
        self.loaded.setdefault(column, []).append(values)

    def finish(self, ledger_currency: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The loaded lines (LINE_COLUMNS) and the quarantine (QUARANTINE_COLUMNS), in line order."""
        name = self.name
        if self.rows_read == 0:
            raise LedgerFormatError(name, 2, "the FEC has a header but no entry line")
        if self.wrong_count == self.rows_read:
            raise LedgerFormatError(
                name, 2, f"no line has the header's {len(self.columns)} fields: wrong separator or not a FEC")
        n = sum(len(chunk) for chunk in self.loaded.get("line_no", []))
        frame: dict[str, np.ndarray | pd.arrays.IntegerArray] = {}
        # What conform() would do, one column at a time and without a copy of the whole frame:
        # only the Arrow chunks of the columns not yet converted are held beside the frame.
        for column, dtype in LINE_COLUMNS.items():
            chunks = self.loaded.pop(column, None)
            if column in ("source_file", "currency"):
                frame[column] = _same_object(name if column == "source_file" else ledger_currency, n)
            elif dtype == "object":
                frame[column] = (pa.chunked_array(chunks, pa.string()).to_pandas().to_numpy(dtype=object)
                                 if chunks else _same_object("", n))
            elif dtype == "Int64":
                frame[column] = (pd.arrays.IntegerArray._concat_same_type(chunks) if chunks
                                 else pd.arrays.IntegerArray(np.zeros(n, dtype="int64"), np.ones(n, dtype=bool)))
            elif chunks:
                frame[column] = np.concatenate(chunks).astype(dtype, copy=False)
            else:
                frame[column] = np.full(n, np.datetime64("NaT") if dtype.startswith("datetime") else 0, dtype=dtype)
            del chunks
        lines = pd.DataFrame(frame, copy=False)
        del frame
        quarantine_frame = (pd.concat(self.quarantined, ignore_index=True) if self.quarantined else empty_quarantine())
        quarantine_frame = conform(quarantine_frame.sort_values("line_no", kind="stable"), QUARANTINE_COLUMNS)
        return lines, quarantine_frame


def _same_object(value: str, n: int) -> np.ndarray:
    """n references to one str (np.full would make n copies of it: 0.7 GB for 10M rows)."""
    array = np.empty(n, dtype=object)
    array.fill(value)
    return array


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
