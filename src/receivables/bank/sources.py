"""One entry point for bank statement files, whatever the format.

    >>> read_statement(Path("statement_20250630.camt053.xml")).meta["format"]   # doctest: +SKIP
    'camt'

`fmt="auto"` recognizes the format from the first bytes: a zip or an XML ISO 20022 document is
CAMT, OFXHEADER or <OFX> is OFX, `:20:` with `:60F:`/`:61:` tags is MT940, records of 120
characters starting with 01 are CFONB 120. CSV exports need a YAML mapping (`--format csv`).
"""

from __future__ import annotations

import re
from pathlib import Path

from receivables.bank.schema import StatementFormatError, StatementRead

FORMATS = ("auto", "camt", "mt940", "cfonb", "ofx", "csv")


def detect_format(path: Path, head: bytes | None = None) -> str:
    head = (head if head is not None else path.read_bytes()[:8192]).lstrip(b"\xef\xbb\xbf \r\n\t")
    if head.startswith(b"PK\x03\x04"):
        return "camt"
    upper = head.upper()
    if b"OFXHEADER" in upper[:200] or b"<OFX>" in upper:
        return "ofx"
    if head.startswith(b"<") and b"camt.05" in head:
        return "camt"
    if head.startswith(b"<"):
        raise StatementFormatError(path.name, 1, "an XML document that is not an ISO 20022 camt statement")
    if re.search(rb"(^|[\r\n{:])20:", head) and (b":60F:" in head or b":60M:" in head or b":61:" in head
                                                 or b":25:" in head):
        return "mt940"
    if re.match(rb"01\d{4}", head) and (len(head.split(b"\n", 1)[0].rstrip(b"\r")) in (120, 121)
                                         or len(head) >= 240 and head[120:122] in (b"04", b"07", b"01", b"05")):
        return "cfonb"
    raise StatementFormatError(path.name, 1, "not a statement format this reader knows (CAMT.053/054, MT940, "
                                             "CFONB 120, OFX); a CSV export needs --format csv and a mapping")


def read_statement(path: Path, *, fmt: str = "auto", mapping: Path | None = None) -> StatementRead:
    if fmt not in FORMATS:
        raise ValueError(f"unknown statement format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if not path.exists():
        raise StatementFormatError(path.name, None, "no such file")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "camt":
        from receivables.bank.camt import read_camt as reader
    elif fmt == "mt940":
        from receivables.bank.mt940 import read_mt940 as reader
    elif fmt == "cfonb":
        from receivables.bank.cfonb import read_cfonb as reader
    elif fmt == "ofx":
        from receivables.bank.ofx import read_ofx as reader
    else:
        if mapping is None:
            raise StatementFormatError(path.name, None, "a CSV statement needs a YAML column mapping (--mapping)")
        from receivables.bank.csv_statement import read_csv_statement

        read = read_csv_statement(path, mapping)
        read.meta["format"] = "csv"
        return read
    read = reader(path)
    read.meta["format"] = fmt
    return read
