"""The ledger suite: what must hold for a ledger line to load, checked with Great Expectations.

    >>> outcome = validate_ledger(read_fec(path), customers=master)       # doctest: +SKIP
    >>> outcome.rows_read == len(outcome.lines) + len(outcome.quarantine) # doctest: +SKIP
    True

Errors quarantine rows; warnings load them and are reported. An entry is atomic: when one of
its lines is quarantined, the whole entry is (its other lines say which line held it back),
because loading half an entry would unbalance the books. A systemic problem, when too many rows
fail to be a plausible ledger, raises `SystemicValidationError` and nothing loads.

Errors: required fields (JournalCode, EcritureNum, EcritureDate, CompteNum), a line with both a
debit and a credit, an entry that does not balance, an entry repeated whole (the same lines
twice: a double export), an unknown currency code, a due date before the document date.
Warnings: customers absent from the master, lines with neither debit nor credit, an empty label,
receivable lines without a document reference, identical lines inside a balanced entry (real
exports have them: two equal VAT lines).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from receivables.ledger.schema import (
    QUARANTINE_COLUMNS,
    RECEIVABLE_ACCOUNT_PREFIX,
    LedgerRead,
    conform,
)
from receivables.money import ISO_4217, format_minor
from receivables.validation.gx import Rule, RuleResult, expectations, run_rules

MAX_ERROR_SHARE = 0.05   # above this share of invalid lines the file is not a usable ledger

# The columns of the parsed lines the suite reads (a stage may read only these).
CHECKED_COLUMNS = ["source_file", "line_no", "journal_code", "entry_num", "entry_date", "account", "aux_account",
                   "piece_ref", "piece_date", "label", "debit_minor", "credit_minor", "let_code", "currency_code",
                   "due_date", "currency"]
_CONTENT = ["journal_code", "entry_num", "entry_date", "account", "aux_account", "piece_ref",
            "label", "debit_minor", "credit_minor", "let_code"]


class SystemicValidationError(ValueError):
    """The file as a whole is unusable; the message says what and where."""


@dataclass
class Finding:
    severity: str
    reason_code: str
    reason: str
    count: int
    line_nos: list[int] = field(default_factory=list)   # the first ones, for the report


@dataclass
class ValidationOutcome:
    source_file: str
    lines: pd.DataFrame           # the lines that load
    quarantine: pd.DataFrame      # parse quarantine + validation quarantine
    rows_read: int
    findings: list[Finding]
    results: list[RuleResult]

    @property
    def success(self) -> bool:
        return all(f.severity != "error" for f in self.findings)

    def check_conservation(self) -> None:
        if self.rows_read != len(self.lines) + len(self.quarantine):
            raise AssertionError(f"{self.source_file}: read {self.rows_read}, loaded {len(self.lines)}, "
                                 f"quarantined {len(self.quarantine)}")


def _check_frame(lines: pd.DataFrame, known_customers: set[str] | None) -> pd.DataFrame:
    """The columns the expectations look at, derived from the normalized lines (vectorized)."""
    frame = pd.DataFrame({"line_no": lines["line_no"].to_numpy()})
    for column in ("journal_code", "entry_num", "account"):
        frame[column] = lines[column].replace("", None).to_numpy()
    frame["entry_date"] = lines["entry_date"].to_numpy()
    entry = lines.groupby(["journal_code", "entry_num"], sort=False).ngroup().to_numpy()
    signed = lines["debit_minor"] - lines["credit_minor"]
    frame["entry_imbalance_minor"] = signed.groupby(entry).transform("sum").to_numpy()
    debit, credit = lines["debit_minor"].to_numpy(), lines["credit_minor"].to_numpy()
    frame["sides"] = np.select([(debit != 0) & (credit != 0), debit != 0, credit != 0],
                               ["both", "debit", "credit"], "none")
    frame["currency_code"] = lines["currency_code"].replace("", None).to_numpy()
    frame["currency"] = lines["currency"].to_numpy()
    frame["doc_date"] = lines["piece_date"].fillna(lines["entry_date"]).to_numpy()
    frame["due_date"] = lines["due_date"].to_numpy()
    frame["label"] = lines["label"].replace("", None).to_numpy()
    receivable = lines["account"].str.startswith(RECEIVABLE_ACCOUNT_PREFIX).to_numpy()
    frame["receivable_ref"] = np.where(receivable, lines["piece_ref"], "n/a")
    frame["receivable_ref"] = frame["receivable_ref"].replace("", None)
    customer = lines["aux_account"].where(lines["aux_account"] != "", lines["account"])
    if known_customers is not None:
        frame["customer_known"] = np.where(receivable, customer.isin(known_customers), True)
    # An entry repeated whole: each of its distinct lines occurs at least twice. Lines are
    # grouped by a 64-bit hash of their content, then the few candidates are compared exactly.
    content_hash = np.zeros(len(lines), dtype=np.uint64)
    for column in _CONTENT:     # column by column: no copy of ten columns of the lines
        content_hash = content_hash * np.uint64(1_000_003) ^ pd.util.hash_array(lines[column].to_numpy())
    occurrences = pd.Series(content_hash).groupby(content_hash).transform("size").to_numpy()
    candidates = occurrences > 1
    if candidates.any():
        exact = lines.loc[candidates].groupby(_CONTENT, sort=False, dropna=False)["line_no"].transform("size")
        occurrences[candidates] = exact.to_numpy()
    frame["line_occurrences"] = occurrences
    frame["entry_repeated"] = pd.Series(occurrences).groupby(entry).transform("min").to_numpy() >= 2
    return frame


def ledger_rules(with_customers: bool, double_entry: bool = True) -> list[Rule]:
    gxe = expectations()
    rules = [
        Rule(gxe.ExpectColumnValuesToNotBeNull(column="journal_code"), "error", "missing_field",
             "JournalCode is empty", "JournalCode"),
        Rule(gxe.ExpectColumnValuesToNotBeNull(column="entry_num"), "error", "missing_field",
             "EcritureNum is empty", "EcritureNum"),
        Rule(gxe.ExpectColumnValuesToNotBeNull(column="account"), "error", "missing_field",
             "CompteNum is empty", "CompteNum"),
        Rule(gxe.ExpectColumnValuesToNotBeNull(column="entry_date"), "error", "missing_field",
             "EcritureDate is empty", "EcritureDate"),
        Rule(gxe.ExpectColumnValuesToNotBeInSet(column="sides", value_set=["both"]), "error",
             "debit_and_credit", "the line has both a debit and a credit", "Debit"),
        Rule(gxe.ExpectColumnValuesToBeInSet(column="currency_code", value_set=sorted(ISO_4217)), "error",
             "bad_currency", "Idevise is not an ISO 4217 currency code", "Idevise"),
        Rule(gxe.ExpectColumnValuesToBeInSet(column="currency", value_set=sorted(ISO_4217)), "error",
             "bad_currency", "the ledger currency is not an ISO 4217 code", ""),
        Rule(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="due_date", column_B="doc_date", or_equal=True,
                ignore_row_if="either_value_is_missing"),
             "error", "due_before_document", "the due date is before the document date", "due_date"),
        Rule(gxe.ExpectColumnValuesToNotBeInSet(column="sides", value_set=["none"]), "warning",
             "zero_line", "the line has neither a debit nor a credit", "Debit"),
        Rule(gxe.ExpectColumnValuesToNotBeNull(column="label"), "warning", "missing_label",
             "EcritureLib is empty", "EcritureLib"),
        Rule(gxe.ExpectColumnValuesToNotBeNull(column="receivable_ref"), "warning", "missing_piece_ref",
             "a receivable line has no PieceRef: its item is named after the entry", "PieceRef"),
        Rule(gxe.ExpectColumnValuesToBeBetween(column="line_occurrences", min_value=1, max_value=1),
             "warning", "identical_lines", "identical lines inside one entry", ""),
    ]
    if double_entry:
        rules += [
            Rule(gxe.ExpectColumnValuesToBeBetween(column="entry_imbalance_minor", min_value=0, max_value=0),
                 "error", "unbalanced_entry", "its entry does not balance", "Debit"),
            Rule(gxe.ExpectColumnValuesToBeInSet(column="entry_repeated", value_set=[False]),
                 "error", "duplicate_entry", "the whole entry appears twice in the file (a double export?)", ""),
        ]
    if with_customers:
        rules.append(Rule(gxe.ExpectColumnValuesToBeInSet(column="customer_known", value_set=[True]),
                          "warning", "unknown_customer",
                          "the customer (CompAuxNum) is not in the customer master: default terms apply",
                          "CompAuxNum"))
    return rules


def _entry_label(lines: pd.DataFrame) -> pd.Series:
    return lines["journal_code"] + " " + lines["entry_num"]


def _hold_back(lines: pd.DataFrame, bad: pd.DataFrame) -> pd.DataFrame:
    """Records holding back every line of `lines` whose entry has a line in `bad` (which has
    line_no, journal_code, entry_num); the reason names the entry and its first bad line."""
    if bad.empty or lines.empty:
        return pd.DataFrame(columns=["line_no", "field", "reason_code", "reason"])
    cause = bad.assign(entry=_entry_label(bad)).groupby("entry")["line_no"].min()
    entry = _entry_label(lines)
    held = lines[entry.isin(cause.index) & ~lines["line_no"].isin(bad["line_no"])]
    held_entry = _entry_label(held)
    return pd.DataFrame({
        "line_no": held["line_no"].to_numpy(), "field": "", "reason_code": "entry_held_back",
        "reason": ("held back with its entry " + held_entry + ": see line " + held_entry.map(cause).astype(str)).to_numpy(),
    })


def validate_ledger(read: LedgerRead, *, known_customers: set[str] | None = None,
                    max_error_share: float = MAX_ERROR_SHARE) -> ValidationOutcome:
    # Not one copy of the lines more than needed: at 10M lines each copy is gigabytes.
    lines = read.lines if _plain_index(read.lines) else read.lines.reset_index(drop=True)
    name = lines["source_file"].iloc[0] if len(lines) else read.meta.get("source", "ledger")
    # Aged-balance exports list open items, one side each: they have no entries to balance.
    double_entry = read.meta.get("source_kind") != "aged_balance"
    findings: list[Finding] = []
    results: list[RuleResult] = []

    # 1. Entries with a line the reader could not type are held back whole, before any check,
    #    so that what remains of them is not reported as unbalanced.
    parse_bad = read.quarantine
    known_entry = parse_bad[parse_bad["entry_num"].fillna("") != ""] if "entry_num" in parse_bad else parse_bad.iloc[:0]
    held_first = _hold_back(lines, known_entry[["line_no", "journal_code", "entry_num"]] if double_entry and len(known_entry)
                            else pd.DataFrame())
    checked = (lines[~lines["line_no"].isin(held_first["line_no"])].reset_index(drop=True) if len(held_first)
               else lines)

    # 2. The suite, on the remaining lines.
    records = [held_first]
    if len(checked):
        frame = _check_frame(checked, known_customers)
        results = run_rules(frame, ledger_rules(known_customers is not None, double_entry=double_entry),
                            suite_name="ledger_lines")
        failures = []
        for result in results:
            if result.success or not result.failed_line_nos:
                continue
            rule = result.rule
            findings.append(Finding(rule.severity, rule.reason_code, rule.reason, result.unexpected_count,
                                    result.failed_line_nos[:20]))
            if rule.severity != "error":
                continue
            failed = _rows_of(checked, result.failed_line_nos)
            reason = pd.Series(rule.reason, index=failed.index)
            if rule.reason_code == "unbalanced_entry":
                imbalance = frame.set_index("line_no").loc[result.failed_line_nos, "entry_imbalance_minor"]
                amounts = [format_minor(int(m), c) for m, c in zip(imbalance, failed["currency"])]
                reason = ("entry " + _entry_label(failed) + " does not balance: debit minus credit is "
                          + pd.Series(amounts, index=failed.index) + " " + failed["currency"])
            elif rule.reason_code == "bad_currency" and rule.field:
                reason = "Idevise '" + failed["currency_code"] + "' is not an ISO 4217 currency code"
            failures.append(pd.DataFrame({"line_no": failed.index, "field": rule.field, "reason_code": rule.reason_code,
                                          "reason": reason.to_numpy(), "journal_code": failed["journal_code"].to_numpy(),
                                          "entry_num": failed["entry_num"].to_numpy()}))
        if failures:
            failed_lines = pd.concat(failures).sort_values("line_no", kind="stable").drop_duplicates("line_no")
            records += [failed_lines.drop(columns=["journal_code", "entry_num"])]
            if double_entry:
                records.append(_hold_back(checked, failed_lines))   # 3. entry atomicity

    held = pd.concat([r for r in records if len(r)]) if any(len(r) for r in records) else records[0]
    quarantined_lines = lines["line_no"].isin(held["line_no"])
    raw_of = _raw_lines(lines[quarantined_lines])
    entry_of = lines.loc[quarantined_lines, ["line_no", "journal_code", "entry_num"]].set_index("line_no")
    validation_quarantine = held.assign(source_file=name, raw=held["line_no"].map(raw_of).fillna(""),
                                        journal_code=held["line_no"].map(entry_of["journal_code"]),
                                        entry_num=held["line_no"].map(entry_of["entry_num"]))
    quarantine = pd.concat([conform(read.quarantine, QUARANTINE_COLUMNS), conform(validation_quarantine, QUARANTINE_COLUMNS)],
                           ignore_index=True).sort_values("line_no", kind="stable").reset_index(drop=True)
    for code, count in read.quarantine["reason_code"].value_counts().items():
        sample = read.quarantine.loc[read.quarantine["reason_code"] == code, "line_no"].head(20).tolist()
        reason = read.quarantine.loc[read.quarantine["reason_code"] == code, "reason"].iloc[0]
        findings.insert(0, Finding("error", str(code), str(reason), int(count), sample))
    if len(held_first):
        findings.insert(0, Finding("error", "entry_held_back", "entries held back with a line the reader rejected",
                                   len(held_first), held_first["line_no"].head(20).tolist()))
    outcome = ValidationOutcome(
        source_file=name, lines=lines[~quarantined_lines].reset_index(drop=True) if quarantined_lines.any() else lines,
        quarantine=quarantine,
        rows_read=read.rows_read, findings=findings, results=results,
    )
    outcome.check_conservation()
    if read.rows_read and len(quarantine) / read.rows_read > max_error_share:
        first = quarantine.iloc[0]
        raise SystemicValidationError(
            f"{name}, line {first['line_no']}: {len(quarantine)} of {read.rows_read} lines are invalid "
            f"(more than {max_error_share:.0%}; first: {first['reason']}); the file is not a usable "
            f"ledger and nothing was loaded")
    return outcome


def _plain_index(frame: pd.DataFrame) -> bool:
    index = frame.index
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def _rows_of(lines: pd.DataFrame, line_nos: list[int]) -> pd.DataFrame:
    """The rows of `lines` with these line numbers, indexed and ordered by them."""
    rows = lines[lines["line_no"].isin(line_nos)].set_index("line_no")
    return rows.loc[line_nos]


def _raw_lines(lines: pd.DataFrame) -> pd.Series:
    """A readable rendering of the given normalized lines, kept with their quarantine records."""
    text = (lines["journal_code"] + "|" + lines["entry_num"] + "|" + lines["entry_date"].dt.strftime("%Y%m%d").fillna("")
            + "|" + lines["account"] + "|" + lines["aux_account"] + "|" + lines["piece_ref"] + "|" + lines["label"]
            + "|" + lines["debit_minor"].astype(str) + "|" + lines["credit_minor"].astype(str))
    return pd.Series(text.to_numpy(), index=lines["line_no"].to_numpy())
