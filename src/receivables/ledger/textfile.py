"""Reading delimited text and spreadsheets as records that remember their physical line.

    >>> table = read_delimited(b'id;name\\r\\nC1;"Dupont\\nSA"\\r\\nC2;Martin\\r\\n', "clients.csv")
    >>> table.header, table.rows, table.line_no, table.meta["separator"]
    (['id', 'name'], [['C1', 'Dupont\\nSA'], ['C2', 'Martin']], [2, 4], ';')

Every source reports problems by physical line (header = line 1), so a record's line is the
line it *starts* on, counted by the CSV reader itself: a quoted cell with a line break makes
its record span two lines, and the next record's number accounts for it. For spreadsheets the
line is the worksheet row number.

Decoding (`decode`): a UTF-8 BOM means UTF-8; else strict UTF-8; else CP1252 (what French
Windows tools write); else Latin-1, which cannot fail. The separator is sniffed from the header
line: the most frequent of `;`, `,`, tab and `|` outside quotes (`,` when none occurs).

Records with no data at all (blank lines, `;;;;` rows that spreadsheets export for empty rows)
are skipped: they are not records, so they are neither loaded nor quarantined.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from pandas import NA

from receivables.ledger.schema import LedgerFormatError

SEPARATORS = (";", ",", "\t", "|")
_AUTO = (None, "", "auto")


@dataclass
class RawTable:
    """A header and the records under it, each with its physical line and its raw text."""

    header: list[str]
    header_line: int
    rows: list[list]          # cell values: str for text files; str/int/float/datetime/None for xlsx
    line_no: list[int]        # the physical line (or worksheet row) each record starts on
    raw: list[str]            # each record as read (decoded), for quarantine
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Bytes to text: `(text, encoding used)`. `encoding` None/'auto' sniffs (module docstring)."""
    if encoding not in _AUTO:
        name = codecs.lookup(encoding).name
        if name == "utf-8" and data.startswith(codecs.BOM_UTF8):
            name = "utf-8-sig"
        return data.decode(name), name
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace"), "utf-8-sig"
    for name in ("utf-8", "cp1252"):
        try:
            return data.decode(name), name
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def sniff_separator(header_line: str) -> str:
    """The most frequent candidate separator outside double quotes in the header line."""
    outside, quoted = [], False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted:
            outside.append(char)
    text = "".join(outside)
    counts = {sep: text.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def read_delimited(
    data: bytes,
    source: str,
    *,
    encoding: str | None = None,
    separator: str | None = None,
    skip_rows: int = 0,
) -> RawTable:
    """Parse delimited text: `skip_rows` physical lines, then the header, then records.

    Raises `LedgerFormatError` when there is no header (empty file) or the text is not CSV.
    """
    try:
        text, used = decode(data, encoding)
    except (LookupError, UnicodeDecodeError) as exc:
        raise LedgerFormatError(source, None, f"cannot decode the file as {encoding}: {exc}") from None
    lines = io.StringIO(text, newline="").readlines()  # keeps \r\n, \r, \n as the csv module sees them
    first = skip_rows
    while first < len(lines) and not lines[first].strip():
        first += 1  # blank lines before the header
    if first >= len(lines):
        raise LedgerFormatError(source, skip_rows + 1, "empty file: no header line")
    sep = sniff_separator(lines[first]) if separator in _AUTO else separator

    reader = csv.reader(lines[first:], delimiter=sep, quotechar='"', doublequote=True, strict=False)
    header: list[str] | None = None
    rows: list[list] = []
    line_no: list[int] = []
    raw: list[str] = []
    consumed = 0  # physical lines consumed by the reader so far, relative to `first`
    try:
        for record in reader:
            start, consumed = consumed, reader.line_num
            if header is None:
                header = [name.strip() for name in record]
                continue
            if not any(cell.strip() for cell in record):
                continue
            rows.append(record)
            line_no.append(first + start + 1)
            raw.append("".join(lines[first + start:first + consumed]).rstrip("\r\n"))
    except csv.Error as exc:
        raise LedgerFormatError(source, first + consumed + 1, f"not a readable CSV file: {exc}") from None
    assert header is not None
    return RawTable(
        header=header,
        header_line=first + 1,
        rows=rows,
        line_no=line_no,
        raw=raw,
        meta={"format": "csv", "encoding": used, "separator": sep},
    )


def read_xlsx(path: Path, *, sheet: str | int | None = None, skip_rows: int = 0) -> RawTable:
    """Read a worksheet (by name, 0-based index, or the first): `skip_rows` rows, then the first
    non-empty row is the header. Cell values are kept as openpyxl returns them (formula results,
    not formulas); line numbers are worksheet row numbers."""
    import openpyxl  # imported here: only spreadsheet sources pay for it

    source = path.name
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException...
        raise LedgerFormatError(source, None, f"not a readable XLSX workbook: {exc}") from None
    try:
        if sheet is None:
            ws = book.worksheets[0]
        elif isinstance(sheet, int):
            if not 0 <= sheet < len(book.worksheets):
                raise LedgerFormatError(
                    source, None, f"no sheet number {sheet} (the workbook has {len(book.worksheets)})"
                )
            ws = book.worksheets[sheet]
        else:
            if sheet not in book.sheetnames:
                raise LedgerFormatError(
                    source, None, f"no sheet named {sheet!r} (sheets: {', '.join(book.sheetnames)})"
                )
            ws = book[sheet]
        ws.reset_dimensions()  # some writers store a wrong <dimension>: read every row there is
        header: list[str] | None = None
        header_line = 0
        rows: list[list] = []
        line_no: list[int] = []
        for number, values in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
            if number <= skip_rows or not any(_has_value(v) for v in values):
                continue
            if header is None:
                header = [cell_text(v).strip() for v in values]
                header_line = number
                continue
            rows.append(list(values))
            line_no.append(number)
    finally:
        book.close()
    if header is None:
        raise LedgerFormatError(source, skip_rows + 1, "empty worksheet: no header row")
    width = len(header)
    while width and not header[width - 1]:
        width -= 1  # trailing empty header cells
    header = header[:width]
    rows = [_fit(values, width) for values in rows]
    raw = ["\t".join(cell_text(v) for v in values) for values in rows]
    return RawTable(
        header=header,
        header_line=header_line,
        rows=rows,
        line_no=line_no,
        raw=raw,
        meta={"format": "xlsx", "sheet": ws.title},
    )


def _fit(values: list, width: int) -> list:
    """A worksheet row cut or padded to the header's width. Cells can't be misplaced in a
    worksheet as they can in CSV, so cells right of the header (a note) are simply ignored."""
    if len(values) < width:
        return values + [None] * (width - len(values))
    return values[:width]


def _has_value(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def clean_cells(cells):
    """A column of cells as stripped text ("" for empty); line breaks inside a quoted cell (an
    address) become "\n". One small function mapped over the column: faster here than three
    `.str` passes over object strings."""
    return cells.map(_clean_cell)


def _clean_cell(value: object) -> str:
    text = value if isinstance(value, str) else cell_text(value)
    return text.strip().replace("\r\n", "\n").replace("\r", "\n")


def cell_text(value: object) -> str:
    """A cell as text: integral floats without '.0' (an id or a phone typed as a number),
    booleans as true/false, dates as ISO dates (with the time only when there is one)."""
    if value is None or value is NA:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:  # NaN: pandas' filler for a missing cell
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def locate_columns(
    table: RawTable, wanted: dict[str, str], required: list[str] | tuple[str, ...], source: str
) -> dict[str, int]:
    """Find each wanted column (ours -> source header name) in the header: exact match first,
    then ignoring case and surrounding spaces. Returns ours -> position; a required column that
    is missing raises one `LedgerFormatError` naming all of them and the header that was found."""
    exact = {}
    folded = {}
    for position, name in enumerate(table.header):
        exact.setdefault(name, position)
        folded.setdefault(name.strip().casefold(), position)
    found: dict[str, int] = {}
    missing: list[str] = []
    for ours, theirs in wanted.items():
        position = exact.get(theirs, folded.get(theirs.strip().casefold()))
        if position is not None:
            found[ours] = position
        elif ours in required:
            missing.append(repr(theirs) if theirs == ours else f"{theirs!r} (for {ours})")
    if missing:
        plural = "s" if len(missing) > 1 else ""
        shown = ", ".join(repr(h) for h in table.header if h) or "nothing"
        raise LedgerFormatError(
            source, table.header_line,
            f"missing required column{plural} {', '.join(missing)}; the header has {shown}",
        )
    return found


def select_columns(table: RawTable, positions: dict[str, int]):
    """A DataFrame with one object column per located column, plus `line_no`, `raw` and
    `width_ok` (False when a record has more or fewer cells than the header)."""
    import pandas as pd

    frame = pd.DataFrame(table.rows, dtype=object) if table.rows else pd.DataFrame()
    out = pd.DataFrame(index=range(len(table.rows)))
    for ours, position in positions.items():
        out[ours] = frame[position] if position in frame.columns else None
    out["line_no"] = pd.Series(table.line_no, dtype="int64")
    out["raw"] = pd.Series(table.raw, dtype=object)
    width = len(table.header)
    named = width
    while named and not table.header[named - 1]:
        named -= 1  # a header ending with a separator: the last, unnamed cells are optional
    out["width"] = pd.Series([len(row) for row in table.rows], dtype="int64")
    out["width_ok"] = pd.Series(
        [_width_ok(row, width, named) for row in table.rows], dtype=bool
    )
    return out


def _width_ok(row: list, width: int, named: int) -> bool:
    """As many cells as the header, or fewer only where the header's last cells are unnamed
    (a header line ending with separators). More cells are never accepted, even empty ones:
    `C001,Dupont, Fils et Cie,...,45,` has one cell too many and an empty last cell, and every
    cell after the name is in the wrong column."""
    n = len(row)
    return n == width or named <= n < width
