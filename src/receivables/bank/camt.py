"""ISO 20022 CAMT bank statements (camt.053 statements, camt.054 notifications) to bank lines.

    >>> read = read_camt(Path("test-camt053-txdtls"))          # doctest: +SKIP
    >>> stmt = read.statements[0]
    >>> stmt.statement_id, stmt.account, stmt.opening_balance_minor, stmt.closing_balance_minor, stmt.findings
    ('20170323123456789012345', 'CH1111000000123456789', 7596015, 7944315, [])
    >>> read.lines[["bank_line_id", "amount_minor", "currency", "counterparty_name", "structured_ref"]].values.tolist()
    [['20170323001234567891234567891234/1', 218700, 'CHF', 'Banque Cantonale Vaudoise', '302388292000011111111111111'],
     ['20170323001234567891234567891234/2', 129600, 'CHF', 'Banque Cantonale Vaudoise', '302388292000022222222222222']]

One code path reads every version: the namespace (`urn:iso:std:iso:20022:tech:xsd:camt.053.001.08`)
is checked once, then stripped from every tag while parsing, so the lookups below are
version-agnostic (`Dbtr/Nm` up to v7, `Dbtr/Pty/Nm` from v8 are simply both tried). The file is
untrusted input: `defusedxml` forbids entity declarations and external references. A zip archive of
statements is read member by member (`source_file` = `archive.zip!member.xml`).

What is read (a `Stmt`, `Ntfctn` or `Rpt` is one `Statement`; each `Ntry` one or more lines):

- camt.053.001.01 to .10 (`BkToCstmrStmt`/`Stmt`) and camt.054.001.01 to .10
  (`BkToCstmrDbtCdtNtfctn`/`Ntfctn`). camt.052 intraday reports (`BkToCstmrAcctRpt`/`Rpt`) share
  the structure and are read too, with `meta["message"] == "camt.052"`: their entries may be
  pending and are typically reported again in the day's camt.053, so a loader must not add both.
  A camt.054 has usually no balances: its statements carry none and no balance check is made.
  Any other namespace or root is a `StatementFormatError` naming what was found.
- Amounts are read exactly (`Decimal`, never float) into minor units with the currency's ISO 4217
  exponent. More decimals than the currency has are accepted when they are zeros (genkgo's
  `camt053.v2.five.decimals.xml` has `8.850` EUR, `camt53.only-Dt-with-DtTm.xml` `5442.09000` RON:
  both exact at the currency's precision, and genkgo's oracle reads them as 885 and 544209 minor
  units). Non-zero digits beyond the currency's precision (`8.8512` EUR) are neither truncated
  (genkgo's StringToUnits helper keeps two decimals and drops the rest) nor rounded (its
  MoneyFactory passes debit amounts through a PHP float): no bank books a fraction of a cent, so
  such an amount is not a booking we can apply cash from. The entry is quarantined (`excess_decimals`); such a
  balance is left out of the balance check with a statement finding.
- The sign is the entry's `CdtDbtInd` (CRDT positive); a reversal (`RvslInd`) is already booked in
  the direction it moves the account, so it needs nothing more.
- Batch booking: an entry whose `TxDtls` carry their own amounts (`AmtDtls/TxAmt/Amt`, else the
  `Amt` of the `TxDtls`) in the entry's currency, adding up (signed, each by its own `CdtDbtInd`)
  to the entry amount, is split into one line per `TxDtls`. When they do not add up (some banks
  put the instructed amount or another currency there) the entry stays one line with its booked
  amount, the transactions' texts joined, and the statement gets a finding saying so: the lines
  must always sum to what moved on the account, or the balance check and the cash application
  would disagree with the bank. A single `TxDtls` always takes the entry's amount.
- The counterparty is the debtor (`Dbtr`, `DbtrAcct`, `UltmtDbtr`) of a credit and the creditor of a
  debit, unless that side is our own account (same IBAN, or the account owner's name): banks differ
  on which side they fill in for returns and reversals, so the side that is us is skipped.
- Remittance is `RmtInf/Ustrd` joined with ' ', else the structured blocks' `AddtlRmtInf`, else the
  transaction's `AddtlTxInf`; an entry whose details carry neither remittance nor a structured
  reference (or that has no details) falls back to its `AddtlNtryInf`. `structured_ref` is
  `RmtInf/Strd/CdtrRefInf/Ref` (several joined with ' '); `end_to_end_id` ignores `NOTPROVIDED`.
- Only booked money is a line: an entry whose status (`Sts`, or `Sts/Cd` from v8) is PDNG, INFO or
  FUTR is quarantined as `not_booked` (it comes again, booked, in a later statement; applying it
  now would apply cash that may never arrive, and count it twice). No status means booked.
- `bank_line_id` (DESIGN.md): the entry's `AcctSvcrRef`, else its `NtryRef`, else
  `<statement id>#<entry position>`; a reference that more than one entry of the statement carries
  falls back to `<statement id>#<entry position>`, so ids stay unique. A split entry's lines are
  `<entry id>/<k>`, or the transaction's own `AcctSvcrRef` when no other line of the statement has it.
- `position` is the 1-based position of the line's *entry* in its statement (the number the
  `#<position>` ids and the quarantine's `line_no` use); the lines of a split entry share it.
- `entries_read` counts what became a line or a quarantine record: an entry, or each transaction of
  a split entry. A line with no or a zero amount, no usable sign, currency or date is quarantined
  (`missing_amount`, `zero_amount`, `bad_amount`, `excess_decimals`, `bad_currency`,
  `missing_credit_debit`, `not_booked`, `missing_date`, `bad_date`) with the entry's XML line in
  `raw`; its `journal_code` is the statement id and its `entry_num` the entry's id (as
  `bank_line_id` would have been).
- `transaction_code` is the entry's `BkTxCd` (`Domn/Cd/Fmly/Cd/SubFmlyCd` joined with '/', else
  `Prtry/Cd`), the transaction's own when the entry has none.
- Booking date: `BookgDt/Dt`, else the date part of `BookgDt/DtTm` (as written: the bank's local
  date, not converted to UTC), else the value date.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

import pandas as pd
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from receivables.bank.schema import (
    BANK_LINE_COLUMNS,
    Statement,
    StatementFormatError,
    StatementRead,
    check_balances,
    empty_bank_lines,
)
from receivables.ledger.schema import QUARANTINE_COLUMNS, conform, empty_quarantine
from receivables.money import ISO_4217, exponent, format_minor

__all__ = ["read_camt", "SUPPORTED_VERSIONS"]

_NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:camt\.(05[234])\.001\.(\d{2})$")
# message (urn:iso:std:iso:20022:tech:xsd:camt.<message>.001.<version>) -> (message root, statement element)
_MESSAGES = {
    "053": ("BkToCstmrStmt", "Stmt"),
    "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
    "052": ("BkToCstmrAcctRpt", "Rpt"),
}
SUPPORTED_VERSIONS = range(1, 11)   # .001.01 to .001.10 (.01 roots carry a V01 suffix)
_MAX_MEMBER_BYTES = 512 * 1024 * 1024   # a zip member larger than this is not a bank statement
_RAW_MAX = 400
# An account's id: IBAN, else the bank's own id (Othr from v2; BBAN, UPIC, PrtryAcct in v1).
_ACCOUNT_IDS = ("IBAN", "Othr/Id", "BBAN", "UPIC", "PrtryAcct/Id")
# Entry statuses that are money on the account; PDNG (pending), INFO and FUTR are not (yet).
_BOOKED = ("BOOK", "")
_STATUS_WORDS = {"PDNG": "pending", "INFO": "for information only", "FUTR": "a future booking"}


class _Skip(Exception):
    """An entry (or transaction) that becomes a quarantine record."""

    def __init__(self, field: str, code: str, reason: str):
        super().__init__(reason)
        self.field, self.code, self.reason = field, code, reason


# -- parsing ----------------------------------------------------------------------------------


class _Builder:
    """Parser target: strips namespaces once (one code path for every version), remembers the
    root's namespace and line, and the source line of every `Ntry` (for the exceptions worklist)."""

    def __init__(self) -> None:
        self.builder = TreeBuilder()
        self.data = self.builder.data   # the parser calls the C builder directly for text
        self.parser: DefusedXMLParser | None = None
        self.namespace: str | None = None
        self.root_line = 1
        self.entry_lines: dict[int, int] = {}

    def start(self, tag: str, attrib: dict) -> Element:
        cut = tag.find("}")
        if self.namespace is None:
            self.namespace = tag[1:cut] if cut >= 0 else ""
            self.root_line = self.parser.parser.CurrentLineNumber
        if cut >= 0:
            tag = tag[cut + 1:]
        element = self.builder.start(tag, attrib)
        if tag == "Ntry":
            self.entry_lines[id(element)] = self.parser.parser.CurrentLineNumber
        return element

    def end(self, tag: str) -> Element:
        return self.builder.end(tag[tag.find("}") + 1:])

    def close(self) -> Element:
        return self.builder.close()


def _parse_xml(name: str, data: bytes) -> tuple[Element, _Builder]:
    if not data or data.isspace():
        raise StatementFormatError(name, None, "the file is empty")
    target = _Builder()
    # defusedxml: no entity declarations (billion laughs), no external entities or DTDs fetched.
    parser = DefusedXMLParser(target=target, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    target.parser = parser
    try:
        parser.feed(data)
        root = parser.close()
    except ParseError as error:
        line = error.position[0] if getattr(error, "position", None) else None
        detail = re.sub(r": line \d+, column (\d+)$", r" (column \1)", str(getattr(error, "msg", None) or error))
        raise StatementFormatError(name, line, f"not well-formed XML: {detail}") from None
    except DefusedXmlException as error:
        raise StatementFormatError(name, parser.parser.CurrentLineNumber,
                                   f"forbidden XML construct ({type(error).__name__}): a bank statement "
                                   "declares no entities and references no external resource") from None
    return root, target


def _message_of(name: str, root: Element, target: _Builder) -> tuple[str, str, Element]:
    """(message '053', version '08', message element) or a StatementFormatError naming what was found."""
    namespace, line = target.namespace or "", target.root_line
    match = _NAMESPACE.match(namespace)
    if root.tag != "Document" or not match:
        found = f"namespace {namespace!r}" if namespace else "no namespace"
        raise StatementFormatError(
            name, line, f"not an ISO 20022 camt.053/054 document: root <{root.tag}> with {found} "
                     "(expected <Document> in urn:iso:std:iso:20022:tech:xsd:camt.053.001.NN or camt.054.001.NN, "
                     "NN from 01 to 10)")
    message, version = match.group(1), match.group(2)
    if int(version) not in SUPPORTED_VERSIONS:
        raise StatementFormatError(
            name, line, f"unsupported camt.{message} version: namespace {namespace!r} "
                     f"(supported: camt.{message}.001.01 to .001.10)")
    expected_root, _ = _MESSAGES[message]
    body = root[0] if len(root) else None
    if body is None or not (body.tag == expected_root or body.tag.startswith(expected_root + "V")):
        found = f"<{body.tag}>" if body is not None else "nothing"
        raise StatementFormatError(
            name, line, f"namespace {namespace!r} announces a <{expected_root}> message but the document holds {found}")
    return message, version, body


# -- small readers ----------------------------------------------------------------------------
# Element.find with a path ('Refs/EndToEndId') goes through the pure-Python ElementPath engine,
# and an entry is asked some forty paths, most of them absent. An entry (and each TxDtls) is
# therefore indexed once by relative path (_View: one walk, then dict lookups); other elements are
# walked tag by tag with the C `find`. Either way a path gives its first match in document order;
# repeated elements (Ustrd, Strd, TxDtls, Chrgs) are read with _find_all.


class _View:
    """An element's descendants by relative path ('RltdPties/Dbtr/Nm' -> first such element)."""

    __slots__ = ("element", "paths")

    def __init__(self, element: Element, stop: tuple[str, ...] = ()) -> None:
        self.element = element
        paths: dict[str, Element] = {}
        queue = [(element, "")]
        at = 0
        while at < len(queue):     # breadth first: the first element of a path is the document's first
            parent, prefix = queue[at]
            at += 1
            for child in parent:
                path = prefix + child.tag
                if path not in paths:
                    paths[path] = child
                if len(child) and child.tag not in stop:
                    queue.append((child, path + "/"))
        self.paths = paths


_SPLIT: dict[str, tuple[str, ...]] = {}


def _find(element: Element | _View | None, path: str) -> Element | None:
    if type(element) is _View:
        return element.paths.get(path)
    parts = _SPLIT.get(path)
    if parts is None:
        parts = _SPLIT[path] = tuple(path.split("/"))
    for part in parts:
        if element is None:
            return None
        element = element.find(part)
    return element


def _find_all(element: Element | _View | None, path: str) -> list[Element]:
    if type(element) is _View:
        element = element.element
    level = [element] if element is not None else []
    for part in path.split("/"):
        level = [child for parent in level for child in parent.findall(part)]
    return level


def _text(element: Element | _View | None, path: str) -> str:
    found = element.paths.get(path) if type(element) is _View else _find(element, path)
    if found is None or found.text is None:
        return ""
    return " ".join(found.text.split())


def _first(element: Element | None, *paths: str) -> str:
    for path in paths:
        value = _text(element, path)
        if value:
            return value
    return ""


def _all_texts(element: Element | None, path: str) -> list[str]:
    if element is None:
        return []
    return [" ".join(e.text.split()) for e in _find_all(element, path) if e.text and e.text.strip()]


def _date(element: Element | None, path: str, field: str) -> date | None:
    """`<path>/Dt` or the date part of `<path>/DtTm`; None when absent; _Skip when impossible."""
    text = _first(element, f"{path}/Dt", f"{path}/DtTm")
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise _Skip(field, "bad_date", f"the {field} {text!r} is not a date") from None


_AMOUNT = re.compile(r"\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")   # ISO 20022 amounts: unsigned xs:decimal
_INT64 = 2 ** 63


def _minor(text: str, currency: str, field: str) -> int:
    """An unsigned xs:decimal amount to exact minor units (Decimal, never float)."""
    cleaned = text.strip()
    if not _AMOUNT.fullmatch(cleaned):
        why = ("a negative amount: the direction is given by CdtDbtInd" if cleaned.startswith("-")
               else "not a decimal number")
        raise _Skip(field, "bad_amount", f"the amount {text.strip()!r} is {why}")
    try:
        scaled = Decimal(cleaned).scaleb(exponent(currency))
    except InvalidOperation:   # more digits than any bank amount has
        raise _Skip(field, "bad_amount", f"the amount {cleaned!r} is too large") from None
    if scaled != scaled.to_integral_value():
        raise _Skip(field, "excess_decimals",
                    f"the amount {cleaned} {currency} has more decimals than {currency} allows "
                    f"({exponent(currency)}): no bank books that, ask the bank for a corrected file")
    if abs(scaled) >= _INT64:
        raise _Skip(field, "bad_amount", f"the amount {cleaned!r} is too large")
    return int(scaled)


def _amount(element: Element | None, path: str, field: str) -> tuple[int, str] | None:
    """(unsigned minor units, currency) of the amount element at `path`, None when absent."""
    return _amount_of(_find(element, path), field)


def _amount_of(found: Element | None, field: str) -> tuple[int, str] | None:
    if found is None or not (found.text or "").strip():
        return None
    currency = (found.get("Ccy") or "").strip().upper()
    if currency not in ISO_4217:
        raise _Skip(field, "bad_currency", f"the currency {currency!r} of {field} is not an ISO 4217 code")
    return _minor(found.text, currency, field), currency


def _sign(indicator: str, field: str) -> int:
    if indicator == "CRDT":
        return 1
    if indicator == "DBIT":
        return -1
    raise _Skip(field, "missing_credit_debit",
                f"{field} is {indicator!r}: neither CRDT nor DBIT, so the direction of the money is unknown")


def _bank_code(element: Element | None) -> str:
    domain = _text(element, "BkTxCd/Domn/Cd")
    if domain:
        parts = [domain, _text(element, "BkTxCd/Domn/Fmly/Cd"), _text(element, "BkTxCd/Domn/Fmly/SubFmlyCd")]
        return "/".join(p for p in parts if p)
    return _text(element, "BkTxCd/Prtry/Cd")


_PARTY_PATHS = {
    role: (tuple(f"RltdPties/{role}/{p}" for p in ("Nm", "Pty/Nm", "Agt/FinInstnId/Nm")),
           tuple(f"RltdPties/{role}Acct/Id/{p}" for p in _ACCOUNT_IDS),
           tuple(f"RltdPties/Ultmt{role}/{p}" for p in ("Nm", "Pty/Nm")))
    for role in ("Dbtr", "Cdtr")
}


def _party(tx: _View | Element | None, role: str) -> tuple[str, str, str]:
    """(name, account, ultimate name) of the debtor ('Dbtr') or creditor ('Cdtr') side of a TxDtls."""
    if _find(tx, "RltdPties") is None:
        return "", "", ""
    names, accounts, ultimates = _PARTY_PATHS[role]
    return _first(tx, *names), _first(tx, *accounts), _first(tx, *ultimates)


def _charges(element: Element | None, currency: str) -> int | None:
    """Charges deducted, in the line's currency: the total when given, else the sum of the records."""
    if type(element) is _View:
        if "Chrgs" not in element.paths:
            return None
        element = element.element
    if element is None:
        return None
    blocks = element.findall("Chrgs")
    if not blocks:
        return None
    total, seen = 0, False
    for block in blocks:
        given = block.find("TtlChrgsAndTaxAmt")
        records = [given] if given is not None else (block.findall("Rcrd") or [block])
        for record in records:
            amount_el = record if record is given else record.find("Amt")
            if amount_el is None or not (amount_el.text or "").strip():
                continue
            if (amount_el.get("Ccy") or "").strip().upper() != currency:
                return None   # charges in another currency cannot sit in this line's minor units
            try:
                value = _minor(amount_el.text, currency, "Chrgs")
            except _Skip:
                return None
            sign = -1 if record is not given and _text(record, "CdtDbtInd") == "CRDT" else 1
            total, seen = total + sign * value, True
    return total if seen else None


def _decimal(minor: int, currency: str, *, signed: bool = False) -> str:
    """format_minor's text by integer arithmetic (it runs once per line, Money is slower)."""
    places = exponent(currency)
    units, cents = divmod(abs(minor), 10 ** places)
    sign = "-" if minor < 0 else ("+" if signed else "")
    return f"{sign}{units}.{cents:0{places}d}" if places else f"{sign}{units}"


def _clip(text: str) -> str:
    return text if len(text) <= _RAW_MAX else text[:_RAW_MAX - 1] + "…"


# -- transactions -----------------------------------------------------------------------------


class _Tx:
    """What a line needs from one TxDtls (or from the entry itself when it has none)."""

    __slots__ = ("element", "k", "own_ref", "end_to_end", "remittance", "structured", "name", "account",
                 "ultimate", "code", "instructed", "charges_el")

    def __init__(self, element: Element | None, k: int, credit: bool, ours: tuple[str, str]) -> None:
        if element is None:   # an entry without transaction details: nothing to look up
            self.element, self.k, self.instructed, self.charges_el = None, k, None, None
            self.own_ref = self.end_to_end = self.remittance = self.structured = ""
            self.name = self.account = self.ultimate = self.code = ""
            return
        element = _View(element)
        self.element, self.k = element, k
        self.own_ref = _text(element, "Refs/AcctSvcrRef")
        e2e = _text(element, "Refs/EndToEndId")
        self.end_to_end = "" if e2e.upper() == "NOTPROVIDED" else e2e
        remit = _find(element, "RmtInf")
        self.remittance = (" ".join(_all_texts(remit, "Ustrd")) or " ".join(_all_texts(remit, "Strd/AddtlRmtInf"))
                           or " ".join(_all_texts(element, "AddtlTxInf")))
        self.structured = " ".join(_all_texts(remit, "Strd/CdtrRefInf/Ref"))
        debtor, creditor = _party(element, "Dbtr"), _party(element, "Cdtr")
        mine, other = (debtor, creditor) if credit else (creditor, debtor)
        if (_is_us(mine, ours) and any(other[:2])) or (not any(mine) and any(other) and not _is_us(other, ours)):
            mine, other = other, mine
        self.name, self.account, self.ultimate = mine
        self.code = _bank_code(element)
        self.instructed = _find(element, "AmtDtls/InstdAmt/Amt")
        self.charges_el = element


def _is_us(party: tuple[str, str, str], ours: tuple[str, str]) -> bool:
    account, owner = ours
    name, party_account, _ = party
    if party_account and account and party_account.replace(" ", "").upper() == account.replace(" ", "").upper():
        return True
    return bool(name and owner and name.casefold() == owner.casefold())


# -- statements -------------------------------------------------------------------------------


class _StatementReader:
    def __init__(self, name: str, element: Element, entry_lines: dict[int, int]) -> None:
        self.name, self.element, self.entry_lines = name, element, entry_lines
        self.statement_id = _text(element, "Id")
        if not self.statement_id:
            raise StatementFormatError(name, None, f"a <{element.tag}> has no <Id>: not a usable statement")
        self.account = _first(element, *(f"Acct/Id/{path}" for path in _ACCOUNT_IDS))
        self.owner = _first(element, "Acct/Ownr/Nm", "Acct/Ownr/Pty/Nm", "Acct/Nm")
        entries = element.findall("Ntry")
        currency = _text(element, "Acct/Ccy").upper()
        if not currency:
            for entry in entries:
                currency = (entry.find("Amt").get("Ccy") or "").strip().upper() if entry.find("Amt") is not None else ""
                if currency:
                    break
        self.statement = Statement(statement_id=self.statement_id, account=self.account, currency=currency)
        self.entries = entries
        self.lines: dict[str, list] = {c: [] for c in BANK_LINE_COLUMNS}
        self.quarantine: list[dict] = []
        self.entry_ids: list[str] = []

    # balances ----------------------------------------------------------------------------------
    def read_balances(self) -> None:
        statement = self.statement
        found: dict[str, Element] = {}
        for balance in self.element.findall("Bal"):
            code = _text(balance, "Tp/CdOrPrtry/Cd")
            found.setdefault(code, balance)
        opening = found.get("OPBD") if "OPBD" in found else found.get("PRCD")
        for kind, balance in (("opening", opening), ("closing", found.get("CLBD"))):
            if balance is None:
                continue
            label = _text(balance, "Tp/CdOrPrtry/Cd")
            try:
                amount = _amount(balance, "Amt", f"{label} balance")
                when = _date(balance, "Dt", f"{label} balance date")
                if amount is None:
                    raise _Skip("Amt", "missing_amount", f"the {label} balance has no amount")
                minor, currency = amount
                indicator = _text(balance, "CdtDbtInd")
                sign = _sign(indicator, f"the {label} balance's CdtDbtInd") if minor or indicator else 1
            except _Skip as problem:
                statement.findings.append(f"{kind} balance not used: {problem.reason}")
                continue
            if not statement.currency:
                statement.currency = currency
            if currency != statement.currency:
                statement.findings.append(
                    f"{kind} balance ({label}) is in {currency}, the account in {statement.currency}: not used")
                continue
            setattr(statement, f"{kind}_balance_minor", sign * minor)
            setattr(statement, f"{kind}_date", when)

    # entries -----------------------------------------------------------------------------------
    def read_entries(self) -> int:
        ours = (self.account, self.owner)
        records = 0
        for position, entry in enumerate(self.entries, start=1):
            records += self._read_entry(position, entry, ours)
        self._assign_ids()
        return records

    def _entry_id(self, entry: Element, position: int) -> str:
        return _first(entry, "AcctSvcrRef", "NtryRef") or f"{self.statement_id}#{position}"

    def _read_entry(self, position: int, element: Element, ours: tuple[str, str]) -> int:
        line = self.entry_lines.get(id(element))
        entry = _View(element, stop=("NtryDtls",))   # the TxDtls get their own views
        self.entry_ids.append(self._entry_id(entry, position))
        try:
            amount = _amount(entry, "Amt", "Amt")
            if amount is None:
                raise _Skip("Amt", "missing_amount", "the entry has no amount: nothing to apply")
            minor, currency = amount
            if minor == 0:
                raise _Skip("Amt", "zero_amount",
                            f"the entry's amount is zero ({format_minor(0, currency)} {currency}): nothing to apply")
            sign = _sign(_text(entry, "CdtDbtInd"), "the entry's CdtDbtInd")
            status = _first(entry, "Sts/Cd", "Sts/Prtry", "Sts").upper()
            if status not in _BOOKED:
                raise _Skip("Sts", "not_booked",
                            f"the bank reports this entry as {status} ({_STATUS_WORDS.get(status, 'not booked')}), "
                            "not booked: it is applied when a statement books it")
            booked = _date(entry, "BookgDt", "booking date")
            valued = _date(entry, "ValDt", "value date")
            if booked is None and valued is None:
                raise _Skip("BookgDt", "missing_date", "the entry has neither a booking date nor a value date")
        except _Skip as problem:
            self._quarantine(position, line, entry, None, problem)
            return 1
        credit = sign > 0
        txs = [_Tx(t, k, credit, ours) for k, t in enumerate(_find_all(entry, "NtryDtls/TxDtls"), start=1)]
        split = self._split_amounts(position, txs, sign * minor, currency) if len(txs) > 1 else None
        common = {"booking_date": booked or valued, "value_date": valued, "currency": currency,
                  "entry_code": _bank_code(entry), "entry": entry}
        if split is None:
            if len(txs) == 1:
                self._check_single(position, txs[0], sign * minor, currency)
            tx = txs[0] if len(txs) == 1 else _merge(txs, entry, credit, ours)
            if not tx.remittance and not tx.structured:   # nothing from the payer: the bank's text
                tx.remittance = _text(entry, "AddtlNtryInf")
            self._add_line(position, line, None, tx, sign * minor, len(txs), common)
            return 1
        count = 0
        for tx, amount_or_problem in zip(txs, split):
            count += 1
            if isinstance(amount_or_problem, _Skip):
                self._quarantine(position, line, entry, tx, amount_or_problem)
            else:
                self._add_line(position, line, tx.k, tx, amount_or_problem, len(txs), common)
        return count

    def _tx_amount(self, tx: _Tx, entry_sign: int) -> tuple[int, str] | None:
        element = tx.element
        amount = _amount(element, "AmtDtls/TxAmt/Amt", f"TxDtls[{tx.k}]/AmtDtls/TxAmt/Amt")
        if amount is None:
            amount = _amount(element, "Amt", f"TxDtls[{tx.k}]/Amt")
        if amount is None:
            return None
        indicator = _text(element, "CdtDbtInd")
        sign = _sign(indicator, f"TxDtls[{tx.k}]/CdtDbtInd") if indicator else entry_sign
        return sign * amount[0], amount[1]

    def _split_amounts(self, position: int, txs: list[_Tx], total: int,
                       currency: str) -> list[int | _Skip] | None:
        """The signed amounts of a batch entry's transactions, or None when they do not add up."""
        entry_sign = 1 if total > 0 else -1
        amounts: list[int] = []
        problem = ""
        for tx in txs:
            try:
                amount = self._tx_amount(tx, entry_sign)
            except _Skip as error:
                problem = error.reason
                break
            if amount is None:
                problem = f"transaction {tx.k} has no amount"
                break
            if amount[1] != currency:
                problem = f"transaction {tx.k} is in {amount[1]}"
                break
            amounts.append(amount[0])
        if not problem and sum(amounts) != total:
            problem = (f"its {len(txs)} transactions add up to {format_minor(sum(amounts), currency)}, "
                       f"not {format_minor(total, currency)}")
        if problem:
            self.statement.findings.append(
                f"entry {position} ({format_minor(total, currency)} {currency}) kept as one line: {problem}")
            return None
        return [a if a else _Skip(f"TxDtls[{t.k}]/Amt", "zero_amount",
                                  f"transaction {t.k} of the batch entry has a zero amount: nothing to apply")
                for t, a in zip(txs, amounts)]

    def _check_single(self, position: int, tx: _Tx, total: int, currency: str) -> None:
        try:
            amount = _amount(tx.element, "AmtDtls/TxAmt/Amt", "TxAmt") or _amount(tx.element, "Amt", "Amt")
        except _Skip:
            return
        if amount is not None and amount[1] == currency and amount[0] != abs(total):
            self.statement.findings.append(
                f"entry {position}: its transaction says {format_minor(amount[0], currency)} {currency}, "
                f"the entry {format_minor(abs(total), currency)}: the entry amount is used")

    def _add_line(self, position: int, line: int | None, k: int | None, tx: _Tx, amount: int, n_tx: int,
                  common: dict) -> None:
        currency = common["currency"]
        entry = common["entry"]
        original = original_currency = None
        instructed = tx.instructed if tx.instructed is not None else _find(entry, "AmtDtls/InstdAmt/Amt")
        if instructed is not None and (instructed.get("Ccy") or "").strip().upper() not in ("", currency):
            try:
                value = _amount_of(instructed, "InstdAmt")
                if value is not None and value[0]:   # a zero instructed amount says nothing
                    original, original_currency = (value[0] if amount > 0 else -value[0]), value[1]
            except _Skip:
                pass
        charges = _charges(tx.charges_el, currency) if tx.charges_el is not None else None
        if charges is None and k is None:
            charges = _charges(entry, currency)
        bank_reference = tx.own_ref or _text(entry, "AcctSvcrRef")
        row = {
            "source_file": self.name, "statement_id": self.statement_id, "account": self.account,
            "bank_line_id": (position, k, tx.own_ref), "position": position,
            "booking_date": common["booking_date"], "value_date": common["value_date"],
            "amount_minor": amount, "currency": currency,
            "counterparty_name": tx.name, "counterparty_account": tx.account, "ultimate_debtor": tx.ultimate,
            "remittance": tx.remittance, "structured_ref": tx.structured, "end_to_end_id": tx.end_to_end,
            "bank_reference": bank_reference, "transaction_code": common["entry_code"] or tx.code,
            "original_amount_minor": original, "original_currency": original_currency or "",
            "charges_minor": charges,
            "raw": _render(line, position, entry, tx, f"tx {k}/{n_tx}" if k else "",
                           f"{_decimal(amount, currency, signed=True)} {currency}"),
        }
        for column, value in row.items():
            self.lines[column].append(value)

    def _quarantine(self, position: int, line: int | None, entry: _View, tx: _Tx | None, problem: _Skip) -> None:
        where = f"entry {position} of statement {self.statement_id}"
        if tx is not None:
            where += f", transaction {tx.k}"
            shown, label = tx, f"tx {tx.k}"
            amount_el = _find(tx.element, "AmtDtls/TxAmt/Amt")
            if amount_el is None:
                amount_el = _find(tx.element, "Amt")
        else:   # the whole entry: show who and why from its transaction details, for the clerk
            details = _find_all(entry, "NtryDtls/TxDtls")
            credit = _text(entry, "CdtDbtInd") != "DBIT"
            ours = (self.account, self.owner)
            shown = (_Tx(details[0], 1, credit, ours) if len(details) == 1
                     else _merge([_Tx(d, i, credit, ours) for i, d in enumerate(details, 1)], entry, credit, ours))
            label, amount_el = "", _find(entry, "Amt")
        indicator = _text(tx.element if tx is not None and _text(tx.element, "CdtDbtInd") else entry, "CdtDbtInd")
        amount_shown = (f"{indicator or '?'} {(amount_el.text or '').strip()} {amount_el.get('Ccy', '')}".rstrip()
                        if amount_el is not None else f"{indicator or '?'} no amount")
        self.quarantine.append({
            "source_file": self.name, "line_no": position, "journal_code": self.statement_id,
            "entry_num": self.entry_ids[position - 1], "field": problem.field, "reason_code": problem.code,
            "reason": f"{where}: {problem.reason}",
            "raw": _render(line, position, entry, shown, label, amount_shown),
        })

    def _assign_ids(self) -> None:
        """Turn the (position, k, own ref) placeholders into ids unique within the statement."""
        counts: dict[str, int] = {}
        for entry_id in self.entry_ids:
            counts[entry_id] = counts.get(entry_id, 0) + 1
        entry_ids = [e if counts[e] == 1 else f"{self.statement_id}#{p}" for p, e in enumerate(self.entry_ids, 1)]
        placeholders = self.lines["bank_line_id"]
        own_counts: dict[str, int] = {}
        for _position, k, own in placeholders:
            if k is not None and own:
                own_counts[own] = own_counts.get(own, 0) + 1
        taken = set(entry_ids)
        ids = []
        for position, k, own in placeholders:
            entry_id = entry_ids[position - 1]
            if k is None:
                ids.append(entry_id)
            elif own and own_counts[own] == 1 and own not in taken:
                ids.append(own)
            else:
                ids.append(f"{entry_id}/{k}")
        if len(set(ids)) != len(ids):   # pathological references (an AcctSvcrRef shaped like 'S#2/1')
            ids = [f"{self.statement_id}#{p}" + (f"/{k}" if k is not None else "") for p, k, _ in placeholders]
        self.lines["bank_line_id"] = ids
        for record in self.quarantine:
            record["entry_num"] = entry_ids[record["line_no"] - 1]

    def frame(self) -> pd.DataFrame:
        if not self.lines["position"]:
            return empty_bank_lines()
        columns = dict(self.lines)
        for name in ("booking_date", "value_date"):
            columns[name] = pd.to_datetime(pd.Series(columns[name], dtype="object"))
        for name in ("original_amount_minor", "charges_minor"):
            columns[name] = pd.array(columns[name], dtype="Int64")
        frame = pd.DataFrame(columns)
        return conform(frame, BANK_LINE_COLUMNS)


def _merge(txs: list[_Tx], entry: Element, credit: bool, ours: tuple[str, str]) -> _Tx:
    """One line for an entry whose transactions are not split: texts joined, parties only when unambiguous."""
    merged = _Tx(None, 0, credit, ours)
    merged.remittance = " ".join(t.remittance for t in txs if t.remittance)
    merged.structured = " ".join(dict.fromkeys(t.structured for t in txs if t.structured))
    merged.end_to_end = " ".join(dict.fromkeys(t.end_to_end for t in txs if t.end_to_end))
    for attribute in ("name", "account", "ultimate", "code"):
        values = {getattr(t, attribute) for t in txs if getattr(t, attribute)}
        setattr(merged, attribute, values.pop() if len(values) == 1 else "")
    merged.charges_el = None
    merged.instructed = None
    return merged


def _render(line: int | None, position: int, entry: _View, tx: _Tx | None, label: str, amount: str) -> str:
    """A short text a clerk can read: where, when, how much, who, why."""
    parts = [f"line {line}:" if line else "", f"entry {position}", label]
    status = _first(entry, "Sts/Cd", "Sts")
    if status and status != "BOOK":
        parts.append(status)
    parts += [_first(entry, "BookgDt/Dt", "BookgDt/DtTm", "ValDt/Dt", "ValDt/DtTm") or "no date", amount]
    if _text(entry, "RvslInd").lower() in ("true", "1"):
        parts.append("reversal")
    if tx is not None:
        parts += [tx.name, tx.account]
        if tx.remittance or tx.structured:
            parts.append(repr(" ".join(p for p in (tx.remittance, tx.structured) if p)))
    info = _text(entry, "AddtlNtryInf")
    if info and (tx is None or info not in tx.remittance):
        parts.append(f"[{info}]")
    return _clip(" ".join(p for p in parts if p))


# -- files ------------------------------------------------------------------------------------


def _read_document(name: str, data: bytes) -> StatementRead:
    root, target = _parse_xml(name, data)
    message, version, body = _message_of(name, root, target)
    _, statement_tag = _MESSAGES[message]
    elements = [child for child in body if child.tag == statement_tag]
    if not elements:
        raise StatementFormatError(name, None, f"the <{body.tag}> message holds no <{statement_tag}>: "
                                               "no statement to read")
    statements, frames, quarantined, entries_read = [], [], [], 0
    for element in elements:
        reader = _StatementReader(name, element, target.entry_lines)
        reader.read_balances()
        entries_read += reader.read_entries()
        lines = reader.frame()
        if len(lines) and (lines["currency"] != reader.statement.currency).any():
            others = sorted(set(lines["currency"]) - {reader.statement.currency})
            reader.statement.findings.append(
                f"lines in {', '.join(others)} on a {reader.statement.currency or 'currency-less'} account: "
                "balance check not made")
        else:
            check_balances(reader.statement, lines)
        statements.append(reader.statement)
        frames.append(lines)
        quarantined.extend(reader.quarantine)
    lines = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    quarantine = conform(pd.DataFrame(quarantined), QUARANTINE_COLUMNS) if quarantined else empty_quarantine()
    read = StatementRead(statements=statements, lines=lines, quarantine=quarantine, entries_read=entries_read,
                         meta={"format": "camt", "message": f"camt.{message}", "version": f"001.{version}",
                               "namespace": target.namespace})
    read.check_conservation()
    return read


def _read_zip(name: str, data: bytes) -> StatementRead:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise StatementFormatError(name, None, f"a broken zip archive ({error})") from None
    reads: list[StatementRead] = []
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")
                   and not Path(m.filename).name.startswith(".")]
        if not members:
            raise StatementFormatError(name, None, "the zip archive holds no file")
        for member in members:
            member_name = f"{name}!{member.filename}"
            if member.file_size > _MAX_MEMBER_BYTES:
                raise StatementFormatError(member_name, None, f"{member.file_size} bytes: too large for a statement")
            try:
                content = archive.read(member)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as error:
                raise StatementFormatError(member_name, None, f"cannot be extracted ({error})") from None
            if content[:4] == b"PK\x03\x04":
                raise StatementFormatError(member_name, None, "a zip inside the zip: extract it first")
            reads.append(_read_document(member_name, content))
    lines = [r.lines for r in reads if len(r.lines)]
    quarantine = [r.quarantine for r in reads if len(r.quarantine)]
    read = StatementRead(
        statements=[s for r in reads for s in r.statements],
        lines=pd.concat(lines, ignore_index=True) if lines else empty_bank_lines(),
        quarantine=pd.concat(quarantine, ignore_index=True) if quarantine else empty_quarantine(),
        entries_read=sum(r.entries_read for r in reads),
        meta={"format": "camt", "archive": name, "members": [r.meta | {"member": m.filename}
                                                             for r, m in zip(reads, members)],
              "message": ", ".join(sorted({r.meta["message"] for r in reads}))},
    )
    read.check_conservation()
    return read


def read_camt(path: Path, *, data: bytes | None = None) -> StatementRead:
    """Read a camt.053/054 file, or a zip archive of them, into statements, lines and quarantine.

    `data`, when given, is the file's content (`path` then only names it). A file that is not a
    readable camt document raises `StatementFormatError` naming the file and the line.
    """
    path = Path(path)
    name = path.name
    content = path.read_bytes() if data is None else data
    if content[:4] == b"PK\x03\x04":
        return _read_zip(name, content)
    return _read_document(name, content)
