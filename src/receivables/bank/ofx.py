"""OFX bank and credit-card statements (OFX 1.x SGML and 2.x XML) to normalized bank lines.

    >>> read = read_ofx(Path("test_ofx.ofx"))
    >>> [(s.statement_id, s.closing_balance_minor) for s in read.statements]
    [('123456/2013-08-31', 215656), ('123412341234/2013-08-31', -56200)]
    >>> read.lines.loc[0, ["bank_line_id", "amount_minor", "counterparty_name", "bank_reference"]].tolist()
    ['123456/2013-08-31#1', -8000, 'Agrolait', '219378']

One `Statement` per STMTRS (bank account) or CCSTMTRS (credit card) response:
  - account: ACCTID of BANKACCTFROM/CCACCTFROM (BANKID, BRANCHID and ACCTTYPE go to
    `meta["accounts"]`, with the IBAN a French BANKID/BRANCHID/ACCTID spells, when it does);
  - id: `<ACCTID>/<date>`, the date being DTEND of the transaction list, else the ledger
    balance's DTASOF, else the server's DTSERVER (a second statement with the same id gets -2..);
  - currency: CURDEF (when it is blank, the one currency all transactions give in CURRENCY);
  - closing balance: LEDGERBAL/BALAMT (None, with a finding, when empty or absent);
  - opening balance: OFX has none. It is derived as closing - the sum of every transaction's
    amount, when the closing balance is known and every amount could be read (quarantined
    transactions with a readable amount included, so the balance check still points at them);
    else None. The derived statements are listed in `meta["derived_opening"]`.

Each STMTTRN (in every BANKTRANLIST of the statement, in file order) is one line at position
1, 2, ...: bank_line_id `<statement id>#<position>` (DESIGN.md), amount TRNAMT signed as given
(credit positive; a decimal comma, which OFX allows, is read too), booking date DTPOSTED,
value date DTUSER (else the VALUEDATE some banks add), counterparty NAME (else PAYEE/NAME,
else EXTDNAME) and BANKACCTTO/CCACCTTO ACCTID, remittance MEMO followed by `CHECKNUM n` and
`REFNUM r` when given, bank_reference FITID, transaction_code TRNTYPE. A CURRENCY aggregate
gives the line's currency; ORIGCURRENCY the original currency.

Dates are the bank's local calendar date: the first 8 digits of an OFX datetime. The time
zone suffix is ignored on purpose: `20130831165153.000[-8:PST]` is 31 August for the bank,
even though it is 1 September in UTC (ofxparse converts to UTC and moves such statements to
the next day, one reason this module reads OFX itself).

The reader is tolerant the way OFX files need: SGML leaves without end tags (`<CODE>0`), XML,
empty elements with or without end tags, comments, CDATA, `&amp;`-style entities, CRLF or
`\\r\\r\\n` line ends, blank lines before the header. Line numbers are physical lines.

What stops the read (`StatementFormatError` with file and line) and what is quarantined:
  - no <OFX> element, or no bank/credit-card statement in it: a sign-on response only, an
    account list, an error status from the bank (its code and message are quoted), or an
    investment statement only (401k, brokerage: INVSTMTRS holds positions, not a bank account's
    movements, and its INVBANKTRAN cash lines are not read);
  - a statement with no ACCTID, no currency, no date, or an unreadable ledger balance;
  - a transaction with no or an impossible DTPOSTED, no or an unreadable TRNAMT, a zero
    amount, an unknown currency, or an impossible DTUSER is a quarantine record, `line_no` the
    physical line of its <STMTTRN> (in OFX 2 XML too: a clerk opens the file at that line):
    the rest of the file is sound. ofxparse's `fail_nice` fixtures are of this kind;
  - a WARN or ERROR status on the response that carries a statement becomes a finding of the
    statement; investment statements beside bank ones are skipped (`meta["skipped"]`).
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from receivables.bank.schema import (
    statement_bytes,
    BANK_LINE_COLUMNS,
    Statement,
    StatementFormatError,
    StatementRead,
    check_balances,
)
from receivables.ledger.amounts import parse_amounts
from receivables.ledger.dates import parse_dates
from receivables.ledger.schema import QUARANTINE_COLUMNS, conform, empty_quarantine
from receivables.ledger.textfile import decode
from receivables.money import ISO_4217, exponent

STATEMENT_TAGS = ("STMTRS", "CCSTMTRS")
_OFX_START = re.compile(r"<OFX\s*>", re.IGNORECASE)
_TOKEN = re.compile(
    r"<!--.*?-->"                                   # comment
    r"|<!\[CDATA\[(?P<cdata>.*?)\]\]>"              # CDATA: literal text
    r"|<[?!][^>]*>"                                 # processing instruction, doctype
    r"|<(?P<close>/?)(?P<name>[A-Za-z0-9._:-]+)[^>]*?(?P<empty>/?)>"
    r"|(?P<text>[^<]+)"
    r"|<",                                          # a lone '<' in text
    re.DOTALL,
)
_ENTITY = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos|nbsp);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'", "nbsp": "\u00a0"}
_DATETIME = re.compile(r"([0-9]{8})[0-9.:]*\s*(?:\[[^\]]*\])?")
_HEADER_VERSION = re.compile(r"^\s*VERSION:\s*([0-9]+)|<\?OFX[^>]*\bVERSION=\"([0-9]+)\"", re.IGNORECASE | re.MULTILINE)


# -- a tolerant SGML/XML tree --------------------------------------------------------------------

@dataclass
class _Element:
    name: str
    line: int
    start: int
    end: int = -1
    text: str | None = None
    children: list["_Element"] = field(default_factory=list)
    closed: bool = False

    def child(self, name: str) -> "_Element | None":
        return next((c for c in self.children if c.name == name), None)

    def value(self, *path: str) -> str | None:
        """Text of the child at `path` (names), stripped; None when there is no such element."""
        node: _Element | None = self
        for name in path:
            node = node.child(name) if node is not None else None
        if node is None:
            return None
        return (node.text or "").strip() if not node.children else ""

    def iter(self, name: str):
        for c in self.children:
            if c.name == name:
                yield c
            yield from c.iter(name)


def _unescape(text: str) -> str:
    def one(m: re.Match) -> str:
        key = m.group(1)
        try:
            if key.startswith("#x"):
                return chr(int(key[2:], 16))
            if key.startswith("#"):
                return chr(int(key[1:]))
        except (ValueError, OverflowError):
            return m.group(0)  # no such character: keep the text as written
        return _ENTITIES[key]
    return _ENTITY.sub(one, text) if "&" in text else text


def _parse_tree(text: str, offset: int) -> _Element:
    """The element tree of `text[offset:]`. SGML leaves have no end tag: an element that got
    non-blank text is closed by the next tag; an element that never gets an end tag and
    holds no text is an empty leaf, and what was nested under it are its siblings."""
    newlines = [m.start() for m in re.finditer("\n", text)]

    def line_of(pos: int) -> int:
        return bisect.bisect_right(newlines, pos - 1) + 1

    root = _Element("#ROOT", 1, offset)
    stack = [root]

    def close_implicitly(element: _Element, at: int) -> None:
        element.end = at
        if element.children and not (element.text or "").strip():
            parent = stack[-1]
            k = parent.children.index(element)
            parent.children[k + 1:k + 1] = element.children
            element.children = []

    for m in _TOKEN.finditer(text, offset):
        kind = m.lastgroup
        if kind in ("cdata", "text") or (kind is None and m.group(0) == "<"):
            chunk = m.group("cdata") if kind == "cdata" else _unescape(m.group(0))
            top = stack[-1]
            if top is not root and not top.children:
                top.text = (top.text or "") + chunk
            continue
        if kind is None:  # comment, processing instruction
            continue
        name = m.group("name").upper()
        if m.group("close"):
            depth = next((k for k in range(len(stack) - 1, 0, -1) if stack[k].name == name), None)
            if depth is None:
                continue  # a stray end tag: nothing to close
            while len(stack) - 1 > depth:
                close_implicitly(stack.pop(), m.start())
            element = stack.pop()
            element.end, element.closed = m.end(), True
            continue
        top = stack[-1]
        if top is not root and (top.text or "").strip() and not top.children:
            close_implicitly(stack.pop(), m.start())  # an SGML leaf: <CODE>0<SEVERITY>...
        element = _Element(name, line_of(m.start()), m.start())
        stack[-1].children.append(element)
        if m.group("empty"):
            element.text, element.end, element.closed = "", m.end(), True
        else:
            stack.append(element)
    while len(stack) > 1:
        close_implicitly(stack.pop(), len(text))
    return root


# -- reading ---------------------------------------------------------------------------------------

def read_ofx(path: Path, *, data: bytes | None = None) -> StatementRead:
    """Read an OFX file (see the module docstring); `data` is the file's bytes when already
    in memory (`path` then only names it)."""
    source, data = statement_bytes(path, data)
    text, encoding = decode(data)
    start = _OFX_START.search(text)
    if start is None:
        raise StatementFormatError(source, None, "not an OFX file: no <OFX> element")
    version_match = _HEADER_VERSION.search(text[:start.start()])
    root = _parse_tree(text, start.start())
    ofx = root.child("OFX") or root

    found = [el for tag in STATEMENT_TAGS for el in ofx.iter(tag)]
    found.sort(key=lambda el: el.start)
    if not found:
        raise _no_statement(source, ofx)

    server_date = _local_date(ofx.value("SIGNONMSGSRSV1", "SONRS", "DTSERVER"))
    statements: list[Statement] = []
    transactions: list[dict] = []
    accounts: list[dict] = []
    seen: Counter[str] = Counter()
    # The STATUS of the response (STMTTRNRS/CCSTMTTRNRS) each statement came in.
    status_of = {id(rs): response.child("STATUS") for tag in ("STMTTRNRS", "CCSTMTTRNRS")
                 for response in ofx.iter(tag) for rs in response.children if rs.name in STATEMENT_TAGS}
    for element in found:
        statement, rows, account = _statement(element, status_of.get(id(element)), text, source,
                                              server_date, seen)
        statements.append(statement)
        transactions.extend(rows)
        accounts.append(account)

    lines, quarantine, derivable = _lines(transactions, source)
    listed = {row["statement_id"] for row in transactions}  # statements with transactions
    derived = []
    for statement in statements:
        total = derivable.get(statement.statement_id, 0 if statement.statement_id not in listed else None)
        if statement.closing_balance_minor is not None and total is not None:
            statement.opening_balance_minor = statement.closing_balance_minor - total
            derived.append(statement.statement_id)
        check_balances(statement, lines)

    skipped = sum(1 for _ in ofx.iter("INVSTMTRS"))
    meta = {"format": "ofx", "version": next((g for g in version_match.groups() if g), "") if version_match else "",
            "encoding": encoding, "accounts": accounts, "derived_opening": derived}
    if skipped:
        meta["skipped"] = f"{skipped} investment statement(s) (INVSTMTRS) not read"
    read = StatementRead(statements=statements, lines=lines, quarantine=quarantine,
                         entries_read=len(transactions), meta=meta)
    read.check_conservation()
    return read


def _no_statement(source: str, ofx: _Element) -> StatementFormatError:
    """The clearest reason there is nothing to read."""
    for status in ofx.iter("STATUS"):
        if (status.value("SEVERITY") or "").upper() == "ERROR":
            code, message = status.value("CODE") or "?", status.value("MESSAGE") or "no message"
            return StatementFormatError(
                source, status.line,
                f"no bank statement in this OFX: the bank answered with error {code} ({message})")
    investments = list(ofx.iter("INVSTMTRS"))
    if investments:
        account = investments[0].value("INVACCTFROM", "ACCTID") or "?"
        return StatementFormatError(
            source, investments[0].line,
            f"no bank statement in this OFX: it holds only investment statements (INVSTMTRS, "
            f"account {account}), which carry holdings, not a bank account's movements")
    listing = next(ofx.iter("ACCTINFORS"), None)
    if listing is not None:
        return StatementFormatError(source, listing.line,
                                    "no bank statement in this OFX: it is an account list (ACCTINFORS)")
    return StatementFormatError(
        source, ofx.line, "no bank statement in this OFX: no STMTRS (bank) or CCSTMTRS (credit card) "
                          "response, only a sign-on" if ofx.child("SIGNONMSGSRSV1") else
                          "no bank statement in this OFX: the <OFX> element is empty")


def _local_date(value: str | None):
    """The calendar date an OFX datetime starts with; None when absent, empty, zeros or unreadable."""
    if not value:
        return None
    m = _DATETIME.fullmatch(value.strip())
    if not m or m.group(1) == "00000000":
        return None
    parsed = pd.to_datetime(m.group(1), format="%Y%m%d", errors="coerce")
    return None if pd.isna(parsed) else parsed.date()


def _french_iban(bank_id: str, branch_id: str, account_id: str) -> str:
    """The IBAN of a French RIB (bank 5 digits, desk 5 digits, account 11 characters), the RIB
    key computed as the banks do; '' when the ids do not have that shape."""
    if not (re.fullmatch(r"[0-9]{5}", bank_id) and re.fullmatch(r"[0-9]{5}", branch_id)
            and re.fullmatch(r"[0-9A-Z]{11}", account_id)):
        return ""
    letters = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "12345678912345678923456789")
    account = int(account_id.translate(letters))
    key = 97 - (89 * int(bank_id) + 15 * int(branch_id) + 3 * account) % 97
    bban = f"{bank_id}{branch_id}{account_id}{key:02d}"
    digits = "".join(str(int(c, 36)) for c in bban + "FR00")
    return f"FR{98 - int(digits) % 97:02d}{bban}"


def _statement(element: _Element, status: _Element | None, text: str, source: str, server_date,
               seen: Counter[str]):
    kind = "credit card" if element.name == "CCSTMTRS" else "bank"
    account_from = element.child("BANKACCTFROM") or element.child("CCACCTFROM")
    account = account_from.value("ACCTID") if account_from is not None else None
    if not account:
        raise StatementFormatError(
            source, element.line,
            f"the {kind} statement ({element.name}) has no account id: expected "
            f"{'CCACCTFROM' if kind == 'credit card' else 'BANKACCTFROM'}/ACCTID")

    trns = list(element.iter("STMTTRN"))
    currency = (element.value("CURDEF") or "").upper()
    if not currency:
        given = {(t.value("CURRENCY", "CURSYM") or "").upper() for t in trns} - {""}
        if len(given) == 1 and not any(t.child("CURRENCY") is None for t in trns):
            currency = given.pop()
        else:
            raise StatementFormatError(source, element.line,
                                       f"the {kind} statement of account {account} has no currency (CURDEF)")
    if currency not in ISO_4217:
        raise StatementFormatError(source, element.line,
                                   f"the currency {currency!r} (CURDEF) of account {account} is not an ISO 4217 code")

    lists = list(element.iter("BANKTRANLIST"))
    starts = [d for d in (_local_date(t.value("DTSTART")) for t in lists) if d]
    ends = [d for d in (_local_date(t.value("DTEND")) for t in lists) if d]
    ledger = element.child("LEDGERBAL")
    balance_date = _local_date(ledger.value("DTASOF")) if ledger is not None else None
    statement_date = max(ends) if ends else balance_date or server_date
    if statement_date is None:
        raise StatementFormatError(source, element.line,
                                   f"the {kind} statement of account {account} has no date: no DTEND, "
                                   "LEDGERBAL/DTASOF or DTSERVER")
    statement_id = f"{account}/{statement_date.isoformat()}"
    seen[statement_id] += 1
    if seen[statement_id] > 1:
        statement_id = f"{statement_id}-{seen[statement_id]}"

    findings: list[str] = []
    closing = None
    amount_text = ledger.value("BALAMT") if ledger is not None else None
    if ledger is None:
        findings.append("no closing balance: the statement has no LEDGERBAL")
    elif not amount_text:
        findings.append(f"no closing balance: LEDGERBAL/BALAMT is empty (line {ledger.line})")
    else:
        point = _decimal_point(amount_text)
        minor, bad = parse_amounts(pd.Series([point]), decimal=".", exponent=exponent(currency))
        if bad.iloc[0] or minor.isna().iloc[0]:
            raise StatementFormatError(source, ledger.line,
                                       f"the ledger balance {amount_text!r} (LEDGERBAL/BALAMT) of account "
                                       f"{account} is not an amount in {currency}")
        closing = int(minor.iloc[0])
    if status is not None and (status.value("SEVERITY") or "").upper() in ("WARN", "ERROR"):
        findings.append(f"the bank flagged this statement: {status.value('SEVERITY')} "
                        f"{status.value('CODE') or '?'} ({status.value('MESSAGE') or 'no message'})")

    statement = Statement(
        statement_id=statement_id, account=account, currency=currency,
        closing_balance_minor=closing, opening_date=min(starts) if starts else None,
        closing_date=statement_date, findings=findings,
    )
    rows = [_transaction(t, position, text, statement_id, account, currency)
            for position, t in enumerate(trns, start=1)]
    bank_id = account_from.value("BANKID") or ""
    branch_id = account_from.value("BRANCHID") or ""
    info = {"statement_id": statement_id, "type": element.name, "account": account,
            "bank_id": bank_id, "branch_id": branch_id, "account_type": account_from.value("ACCTTYPE") or "",
            "iban": _french_iban(bank_id, branch_id, account)}
    return statement, rows, info


def _decimal_point(amount: str) -> str:
    """OFX amounts may use a decimal comma ('-12,50'); never a thousands separator."""
    return amount.replace(",", ".") if "." not in amount else amount


def _transaction(trn: _Element, position: int, text: str, statement_id: str, account: str,
                 currency: str) -> dict:
    def v(*path: str) -> str:
        return (trn.value(*path) or "").strip()

    line_currency = v("CURRENCY", "CURSYM").upper() or currency
    remittance = [v("MEMO")]
    for tag in ("CHECKNUM", "REFNUM"):
        value = v(tag)
        if value and value.strip("0"):
            remittance.append(f"{tag} {value}")
    return {
        "line_no": trn.line,
        "statement_id": statement_id,
        "account": account,
        "bank_line_id": f"{statement_id}#{position}",
        "position": position,
        "dtposted": v("DTPOSTED") if trn.child("DTPOSTED") is not None else None,
        "value_date_text": v("DTUSER") or v("VALUEDATE"),
        "trnamt": v("TRNAMT") if trn.child("TRNAMT") is not None else None,
        "currency": line_currency,
        "counterparty_name": v("NAME") or v("PAYEE", "NAME") or v("EXTDNAME"),
        "counterparty_account": v("BANKACCTTO", "ACCTID") or v("CCACCTTO", "ACCTID"),
        "remittance": " ".join(p for p in remittance if p),
        "bank_reference": v("FITID"),
        "transaction_code": v("TRNTYPE"),
        "original_currency": v("ORIGCURRENCY", "CURSYM").upper(),
        "raw": text[trn.start:trn.end].strip(),
    }


def _lines(transactions: list[dict], source: str) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Parse every transaction's amount and dates at once; split loaded lines from quarantine.
    Also returns, per statement whose amounts could all be read, the sum of its amounts."""
    if not transactions:
        empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in BANK_LINE_COLUMNS.items()})
        return empty, empty_quarantine(), {}
    frame = pd.DataFrame(transactions)
    known_currency = frame["currency"].isin(ISO_4217)

    amount_text = frame["trnamt"].fillna("").astype(str).str.strip()
    comma = amount_text.str.contains(",", regex=False) & ~amount_text.str.contains(".", regex=False)
    exponents = frame["currency"].map(lambda c: exponent(c) if c in ISO_4217 else 2)
    amount = pd.Series(pd.array([pd.NA] * len(frame), dtype="Int64"), index=frame.index)
    amount_bad = pd.Series(False, index=frame.index)
    for (is_comma, exp), rows in frame.groupby([comma, exponents]).groups.items():
        minor, bad = parse_amounts(amount_text[rows], decimal="," if is_comma else ".", exponent=int(exp))
        amount[rows] = minor.to_numpy()
        amount_bad[rows] = bad.to_numpy()

    booking_text, booking_shape_ok = _date_part(frame["dtposted"])
    booking, booking_bad = parse_dates(booking_text, "%Y%m%d")
    booking_bad |= ~booking_shape_ok
    value_text, value_shape_ok = _date_part(frame["value_date_text"])
    value_date, value_bad = parse_dates(value_text, "%Y%m%d")
    value_bad |= ~value_shape_ok

    problems = [
        (~known_currency, "currency", "bad_currency",
         lambda r: "currency " + repr(r["currency"]) + " (CURRENCY/CURSYM) is not an ISO 4217 code"),
        (booking.isna() & ~booking_bad, "booking_date", "missing_date",
         lambda r: "no posting date (DTPOSTED is " + ("absent" if r["dtposted"] is None else "empty") + ")"),
        (booking_bad, "booking_date", "bad_date",
         lambda r: f"posting date DTPOSTED {r['dtposted']!r} is not a date (YYYYMMDD...)"),
        (value_bad, "value_date", "bad_date",
         lambda r: f"value date DTUSER {r['value_date_text']!r} is not a date (YYYYMMDD...)"),
        (amount.isna() & ~amount_bad & known_currency, "amount", "missing_amount",
         lambda r: "no amount (TRNAMT is " + ("absent" if r["trnamt"] is None else "empty") + ")"),
        (amount_bad & known_currency, "amount", "bad_amount",
         lambda r: f"amount TRNAMT {r['trnamt']!r} is not a number with at most "
                   f"{exponent(r['currency'])} decimals"),
        ((amount == 0).fillna(False), "amount", "zero_amount", lambda r: "the amount is zero: nothing to apply"),
    ]
    failed = pd.Series(False, index=frame.index)
    records = {}
    for mask, field_name, code, reason in problems:
        mask = mask.fillna(False).astype(bool)
        for k in frame.index[mask]:
            row = frame.loc[k]
            sentence = reason(row)
            if k in records:
                records[k]["also"].append(sentence)
            else:
                records[k] = {"field": field_name, "reason_code": code, "first": sentence, "also": []}
        failed |= mask
    quarantine = pd.DataFrame([{
        "source_file": source,
        "line_no": int(frame.at[k, "line_no"]),
        "journal_code": "",
        "entry_num": "",
        "field": rec["field"],
        "reason_code": rec["reason_code"],
        "reason": f"transaction {frame.at[k, 'bank_line_id']} (FITID {frame.at[k, 'bank_reference'] or 'none'}): "
                  + "; ".join([rec["first"], *rec["also"]]),
        "raw": frame.at[k, "raw"],
    } for k, rec in sorted(records.items())])

    # Opening balances: derivable where every amount of the statement was read, in its currency.
    readable = amount.notna()
    sums = {}
    for statement_id, rows in frame.groupby("statement_id").groups.items():
        if readable[rows].all():
            sums[statement_id] = int(amount[rows].sum())

    ok = ~failed
    lines = pd.DataFrame({
        "source_file": source,
        "statement_id": frame["statement_id"],
        "account": frame["account"],
        "bank_line_id": frame["bank_line_id"],
        "position": frame["position"].astype("int64"),
        "booking_date": booking,
        "value_date": value_date,
        "amount_minor": amount.fillna(0).astype("int64"),
        "currency": frame["currency"],
        "counterparty_name": frame["counterparty_name"],
        "counterparty_account": frame["counterparty_account"],
        "remittance": frame["remittance"],
        "bank_reference": frame["bank_reference"],
        "transaction_code": frame["transaction_code"],
        "original_currency": frame["original_currency"],
        "raw": frame["raw"],
    })[ok]
    return (conform(lines, BANK_LINE_COLUMNS),
            conform(quarantine, QUARANTINE_COLUMNS) if len(quarantine) else empty_quarantine(),
            sums)


def _date_part(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The YYYYMMDD part of OFX datetimes ('' when absent, empty or all zeros) and whether the
    rest has the OFX shape (time, fraction, [zone])."""
    text = values.fillna("").astype(str).str.strip()
    parts = text.str.extract(r"^([0-9]{8})[0-9.:]*\s*(?:\[[^\]]*\])?$")[0]
    shape_ok = parts.notna() | (text == "")
    day = parts.fillna("").where(parts != "00000000", "")
    return day, shape_ok
