"""One entry point for ledger files, whatever produced them.

    >>> read_ledger(Path("123456789FEC20250630.txt")).meta["format"]         # doctest: +SKIP
    'fec'
    >>> read_ledger(Path("balance_agee.csv"), mapping=Path("include/mappings/aged_balance_example.yaml"))  # doctest: +SKIP

`fmt="auto"` reads the first bytes: a FEC header (JournalCode ...) means a FEC; a spreadsheet
or CSV needs a YAML column mapping (an aged-balance export, see `tabular.py`); anything else
(an XML bank statement, a PDF) is refused with a message naming the file and line 1.
"""

from __future__ import annotations

from pathlib import Path

from receivables.ledger.fec import read_fec, source_name
from receivables.ledger.schema import LedgerFormatError, LedgerRead

FORMATS = ("auto", "fec", "csv", "xlsx")


def detect_format(path: Path) -> str:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return "xlsx"
    head = path.read_bytes()[:4096].lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].lower()
    if b"journalcode" in head:
        return "fec"
    if head.lstrip().startswith(b"<"):
        raise LedgerFormatError(path.name, 1, "this is an XML document (a bank statement?), not a ledger export")
    if head.startswith(b"%pdf"):
        raise LedgerFormatError(path.name, 1, "this is a PDF, not a ledger export")
    return "csv"


def read_ledger(path: Path, *, fmt: str = "auto", mapping: Path | None = None, ledger_currency: str = "EUR",
                known_customers: set[str] | None = None) -> LedgerRead:
    if fmt not in FORMATS:
        raise ValueError(f"unknown ledger format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not path.exists():
        raise LedgerFormatError(path.name, None, "no such file")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "fec":
        read = read_fec(path, ledger_currency=ledger_currency)
    else:
        from receivables.ledger.tabular import default_mapping, load_mapping, read_open_items

        table_mapping = load_mapping(mapping) if mapping else default_mapping(fmt)
        read = read_open_items(path, table_mapping, ledger_currency=ledger_currency,
                               known_customers=known_customers)
        read.meta.setdefault("source", path.stem)
    read.meta["format"] = fmt
    read.meta.setdefault("source", source_name(path))
    read.meta.setdefault("encoding", "")
    return read
