"""The cash-application tasks of the daily wave, free of Airflow.

    manifest = extract_bank_statements(settings, as_of)   # statement files -> Parquet
    manifest = validate_bank_lines(settings, manifest)     # GX suite, report, store new lines
    matched  = match_bank_lines(settings, as_of)           # pending lines x open items -> allocations
    applied  = apply_matches(settings, as_of)              # warehouse + lettering export

Which lines are pending: those booked after the last day the ledger booked money into a bank
account (`bank_cutoff`) and on or before `as_of`. Earlier receipts are already in the ledger
(lettered or not), so matching them again would count them twice; a run for a past date sees
no pending line when the ledger already holds that day's receipts.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import logging
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from receivables.pipeline.ledger_cache import receivable_lines
from receivables.pipeline.wave import WaveSettings, _engine, run_dir, sha256_of

log = logging.getLogger(__name__)


def statement_files(settings: WaveSettings) -> list[Path]:
    files: list[Path] = []
    for pattern in settings.bank_paths:
        files += [Path(m) for m in sorted(glob.glob(pattern))]
    return files


def extract_bank_statements(settings: WaveSettings, as_of: dt.date) -> dict:
    from receivables.bank.sources import read_statement

    out = run_dir(settings, as_of) / "bank"
    out.mkdir(exist_ok=True)
    manifest: dict = {"as_of": as_of.isoformat(), "files": []}
    for number, path in enumerate(statement_files(settings), start=1):
        read = read_statement(path, mapping=Path(settings.bank_mapping) if settings.bank_mapping else None)
        stem = out / f"{number:03d}"
        read.lines.to_parquet(f"{stem}.lines.parquet", index=False)
        read.quarantine.to_parquet(f"{stem}.parse_quarantine.parquet", index=False)
        statements = [{**asdict(s), "opening_date": str(s.opening_date or ""), "closing_date": str(s.closing_date or "")}
                      for s in read.statements]
        Path(f"{stem}.statements.json").write_text(json.dumps(statements), encoding="utf-8")
        log.info("%s: %d statement(s), %d lines, %d quarantined (%s)", path.name, len(read.statements),
                 len(read.lines), len(read.quarantine), read.meta.get("format"))
        manifest["files"].append({"file": str(path), "source_file": path.name, "sha256": sha256_of(path),
                                  "format": read.meta.get("format", ""), "entries_read": read.entries_read,
                                  "stem": str(stem)})
    if not manifest["files"]:
        log.info("no bank statement in %s: nothing to match today", settings.bank_paths)
    return manifest


def _statement_read(entry: dict):
    from receivables.bank.schema import Statement, StatementRead

    statements = []
    for raw in json.loads(Path(f"{entry['stem']}.statements.json").read_text(encoding="utf-8")):
        raw["opening_date"] = dt.date.fromisoformat(raw["opening_date"]) if raw["opening_date"] else None
        raw["closing_date"] = dt.date.fromisoformat(raw["closing_date"]) if raw["closing_date"] else None
        statements.append(Statement(**raw))
    return StatementRead(statements=statements, lines=pd.read_parquet(f"{entry['stem']}.lines.parquet"),
                         quarantine=pd.read_parquet(f"{entry['stem']}.parse_quarantine.parquet"),
                         entries_read=entry["entries_read"])


def validate_bank_lines(settings: WaveSettings, manifest: dict, *, now: dt.datetime) -> dict:
    """Run the bank suite, write its report, and store the statements not stored yet."""
    from receivables.validation.bank import validate_bank_lines as run_suite
    from receivables.validation.report import write_report
    from receivables.warehouse.store import store_statements

    as_of = dt.date.fromisoformat(manifest["as_of"])
    with _engine(settings).begin() as conn:
        for entry in manifest["files"]:
            read = _statement_read(entry)
            outcome = run_suite(read, as_of, entry["source_file"])
            report = write_report(outcome, as_of, Path(f"{entry['stem']}.validation.html"), suite="bank_lines")
            statements = pd.DataFrame([{
                "account": s.account, "statement_id": s.statement_id, "source_file": entry["source_file"],
                "format": entry["format"], "currency": s.currency, "opening_balance_minor": s.opening_balance_minor,
                "closing_balance_minor": s.closing_balance_minor,
                "opening_date": pd.Timestamp(s.opening_date) if s.opening_date else pd.NaT,
                "closing_date": pd.Timestamp(s.closing_date) if s.closing_date else pd.NaT,
                "findings": "; ".join(s.findings), "imported_at": now} for s in read.statements])
            new_statements, new_lines = store_statements(conn, statements, outcome.lines) if len(statements) else (0, 0)
            log.info("%s: %d lines valid, %d quarantined, %d new statement(s) with %d lines stored; report: %s",
                     entry["source_file"], len(outcome.lines), len(outcome.quarantine), new_statements, new_lines,
                     report)
            entry.update(rows_valid=len(outcome.lines), rows_quarantined=len(outcome.quarantine),
                         new_statements=new_statements, new_lines=new_lines, report=str(report))
    return manifest


def match_bank_lines(settings: WaveSettings, as_of: dt.date) -> dict:
    from receivables.ledger.open_items import open_items
    from receivables.matching.engine import match
    from receivables.warehouse.store import (
        bank_cutoff,
        known_payer_accounts,
        read_bank_lines,
        read_customers,
    )

    engine = _engine(settings)
    lines = receivable_lines(engine, run_dir(settings, as_of) / "cache")
    with engine.connect() as conn:
        cutoff = bank_cutoff(conn, as_of)
        pending = read_bank_lines(conn, after=cutoff, up_to=as_of)
        customers = read_customers(conn)
        history = known_payer_accounts(conn, before=as_of)
    items = open_items(lines, customers, as_of, settings.default_terms_days)
    from receivables.bank.schema import BANK_LINE_COLUMNS
    from receivables.ledger.schema import conform

    result = match(conform(pending, BANK_LINE_COLUMNS), items, customers, history)
    out = run_dir(settings, as_of) / "bank"
    out.mkdir(exist_ok=True)
    accounts = pending.set_index(["statement_id", "bank_line_id"])["account"] if len(pending) else None
    for name, frame in (("allocations", result.allocations), ("exceptions", result.exceptions)):
        if accounts is not None and len(frame):
            frame = frame.join(accounts, on=["statement_id", "bank_line_id"])
        else:
            frame = frame.assign(account="")
        frame.to_parquet(out / f"{name}.parquet", index=False)
    summary = {"as_of": as_of.isoformat(), "ledger_cutoff": cutoff.isoformat() if cutoff else None,
               "pending_lines": len(pending), **result.stats,
               "auto_minor": int(result.allocations.loc[result.allocations["status"] == "auto", "amount_minor"].sum())}
    log.info("cash application of %s: %s", as_of, summary)
    return summary


def apply_matches(settings: WaveSettings, as_of: dt.date) -> dict:
    from receivables.matching.apply import lettering_export
    from receivables.money import format_minor
    from receivables.warehouse.store import replace_matches

    out = run_dir(settings, as_of) / "bank"
    allocations = pd.read_parquet(out / "allocations.parquet")
    exceptions = pd.read_parquet(out / "exceptions.parquet")
    engine = _engine(settings)
    with engine.begin() as conn:
        replace_matches(conn, as_of, allocations, exceptions)
    lines = receivable_lines(engine, run_dir(settings, as_of) / "cache")
    export = lettering_export(allocations, lines, as_of)
    path = out / "lettering_export.csv"
    readable = export.assign(
        debit=[format_minor(int(v), c) for v, c in zip(export["debit_minor"], export["currency"])],
        allocated=[format_minor(int(v), c) for v, c in zip(export["allocated_minor"], export["currency"])],
        let_date=pd.to_datetime(export["let_date"]).dt.strftime("%Y-%m-%d"),
    ).drop(columns=["debit_minor", "allocated_minor"])
    readable.to_csv(path, index=False)
    summary = {"as_of": as_of.isoformat(), "allocations": len(allocations),
               "applied": int((allocations["status"] == "auto").sum()), "worklist": int((allocations["status"] != "auto").sum()),
               "exceptions": len(exceptions), "lettering_export": str(path), "lettered_lines": len(export)}
    log.info("applied matches of %s: %s", as_of, summary)
    return summary
