"""The `receivables` command (contract in DESIGN.md; users and acceptance checks script it).

    receivables load-ledger 123456789FEC20250630.txt --customers customers.csv --json
    receivables plan --ledger 123456789FEC20250630.txt --customers customers.csv --as-of 2025-06-30 \
        --out actions.csv --preview preview/
    receivables import disputes disputes.csv
    receivables demo-data --out .data/demo --customers 300 --end 2025-06-30
    receivables db upgrade
    receivables summary --as-of 2025-06-30

Unusable input exits with status 2 and one line on stderr naming the file and the line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# One OpenMP thread unless the user says otherwise, set before scikit-learn loads its OpenMP
# runtime: a command's model fits are small, and on a busy 2-core machine the gradient boosting
# with two threads measured 10x slower (threadpoolctl's limit inside the fit did not prevent it).
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _days(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 365:
        raise argparse.ArgumentTypeError("payment terms must be between 0 and 365 days")
    return value


class InputError(Exception):
    """Unusable input: printed as one line on stderr, exit status 2."""


def _customers(path: str | None):  # noqa: ANN202
    from receivables.ledger.schema import empty_customers

    if not path:
        return empty_customers(), None
    from receivables.ledger.customers import read_customer_master

    master = read_customer_master(Path(path))
    return master.customers, master


def ledger_summary(path: Path, *, fmt: str, as_of: dt.date | None, customers_file: str | None,
                   default_terms: int, mapping: str | None) -> dict:
    """What `load-ledger --json` prints: counts, open items and quarantine of one ledger file."""
    from receivables.ledger.open_items import open_items, receivable_lines
    from receivables.ledger.sources import read_ledger
    from receivables.money import format_minor
    from receivables.validation.ledger import validate_ledger

    customers, master = _customers(customers_file)
    known = set(customers["customer_id"]) if master is not None else None
    read = read_ledger(path, fmt=fmt, mapping=Path(mapping) if mapping else None, known_customers=known)
    outcome = validate_ledger(read, known_customers=known)
    parsed = read.lines
    balance = (parsed["debit_minor"] - parsed["credit_minor"]).groupby(
        [parsed["journal_code"], parsed["entry_num"]]).sum()
    as_of = as_of or parsed["entry_date"].max().date()
    items = open_items(outcome.lines, customers, as_of, default_terms)
    receivable = receivable_lines(outcome.lines, as_of)
    return {
        "lines": read.rows_read,
        "entries": int(len(balance)),
        "unbalanced_entries": int((balance != 0).sum()),
        "customers": int(receivable["customer_id"].nunique()),
        "open_items": int(len(items)),
        "open_amount": {cur: format_minor(int(v), cur) for cur, v in items.groupby("currency")["open_minor"].sum().items()},
        "quarantined": {str(k): int(v) for k, v in outcome.quarantine["reason_code"].value_counts().sort_index().items()},
        "as_of": as_of.isoformat(),
    }


def cmd_load_ledger(args: argparse.Namespace) -> int:
    summary = ledger_summary(Path(args.file), fmt=args.format, as_of=args.as_of, customers_file=args.customers,
                             default_terms=args.default_terms, mapping=args.mapping)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        print(f"{args.file}: {summary['lines']} lines, {summary['entries']} entries, "
              f"{summary['customers']} customers")
        print(f"open on {summary['as_of']}: {summary['open_items']} items, "
              + ", ".join(f"{v} {k}" for k, v in summary["open_amount"].items()))
        quarantined = sum(summary["quarantined"].values())
        print(f"quarantined: {quarantined}" + (f" ({summary['quarantined']})" if quarantined else ""))
    return 0


def _statement_json(path: Path, fmt: str, mapping: str | None) -> dict:
    from receivables.bank.sources import read_statement
    from receivables.money import format_minor

    import pandas as pd

    read = read_statement(path, fmt=fmt, mapping=Path(mapping) if mapping else None)

    def money(minor, currency: str):  # noqa: ANN001, ANN202
        return None if minor is None or pd.isna(minor) else format_minor(int(minor), currency or "EUR")

    def day(value):  # noqa: ANN001, ANN202
        return None if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()

    statements = []
    for statement in read.statements:
        mine = read.lines[read.lines["statement_id"] == statement.statement_id]
        statements.append({
            "id": statement.statement_id, "account": statement.account, "currency": statement.currency,
            "opening_balance": money(statement.opening_balance_minor, statement.currency),
            "closing_balance": money(statement.closing_balance_minor, statement.currency),
            "findings": statement.findings,
            "lines": [{
                "bank_line_id": line.bank_line_id, "booking_date": day(line.booking_date),
                "value_date": day(line.value_date), "amount": money(line.amount_minor, line.currency),
                "currency": line.currency, "counterparty_name": line.counterparty_name or "",
                "counterparty_account": line.counterparty_account or "", "remittance": line.remittance or "",
                "end_to_end_id": line.end_to_end_id or "",
            } for line in mine.itertuples()],
        })
    quarantined = {str(k): int(v) for k, v in read.quarantine["reason_code"].value_counts().items()}
    return {"statements": statements, "quarantined": quarantined, "format": read.meta.get("format")}


def cmd_parse_statement(args: argparse.Namespace) -> int:
    result = _statement_json(Path(args.file), args.format, args.mapping)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for statement in result["statements"]:
            print(f"{statement['id']} ({statement['account']}, {statement['currency']}): {len(statement['lines'])} lines, "
                  f"opening {statement['opening_balance']}, closing {statement['closing_balance']}")
            for finding in statement["findings"]:
                print(f"  finding: {finding}")
    return 0


def cmd_match(args: argparse.Namespace) -> int:
    """Ledger open items (as of the latest booking date) x statements -> allocations CSV."""
    import csv

    import pandas as pd

    from receivables.bank.sources import read_statement
    from receivables.ledger.open_items import open_items
    from receivables.ledger.sources import read_ledger
    from receivables.matching.engine import match
    from receivables.money import format_minor
    from receivables.validation.ledger import validate_ledger

    customers, master = _customers(args.customers)
    known = set(customers["customer_id"]) if master is not None else None
    ledger = validate_ledger(read_ledger(Path(args.ledger), known_customers=known), known_customers=known)
    reads = [read_statement(Path(f), fmt=args.format) for f in args.statement]
    lines = pd.concat([r.lines for r in reads], ignore_index=True)
    as_of = args.as_of or max(lines["booking_date"].max().date() if len(lines) else dt.date.min,
                              ledger.lines["entry_date"].max().date())
    items = open_items(ledger.lines, customers, as_of, args.default_terms)
    result = match(lines, items, customers)
    with open(args.out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["bank_line_id", "invoice_id", "amount", "rule", "confidence", "status"])
        for row in result.allocations.itertuples():
            writer.writerow([row.bank_line_id, row.invoice_id, format_minor(int(row.amount_minor), row.currency),
                             row.rule, f"{row.confidence:.3f}", row.status])
    auto = result.allocations[result.allocations["status"] == "auto"]["bank_line_id"].nunique()
    print(f"{len(lines)} bank lines: {auto} matched automatically, {result.stats['lines_suggested_only']} suggested, "
          f"{len(result.exceptions)} exceptions; allocations in {args.out}", file=sys.stderr)
    return 0


def _ledger_on(args: argparse.Namespace):  # noqa: ANN202
    """(customers, valid ledger lines, their open amounts on --as-of, open items on --as-of) of
    --ledger and --customers, for the commands that work on a date."""
    from receivables.ledger.open_items import open_items, receivable_lines_open
    from receivables.ledger.sources import read_ledger
    from receivables.validation.ledger import validate_ledger

    customers, master = _customers(args.customers)
    known = set(customers["customer_id"]) if master is not None else None
    lines = validate_ledger(read_ledger(Path(args.ledger), known_customers=known), known_customers=known).lines
    lines_open = receivable_lines_open(lines, args.as_of)
    items = open_items(lines, customers, args.as_of, args.default_terms, lines_open=lines_open)
    return customers, lines, lines_open, items


def cmd_predict(args: argparse.Namespace) -> int:
    """Open invoices on --as-of -> p_late and expected payment date, learnt from the ledger up to then."""
    import csv

    from receivables.scoring.history import invoice_history
    from receivables.scoring.model import train
    from receivables.scoring.portfolio import predict_items

    customers, lines, lines_open, items = _ledger_on(args)
    history = invoice_history(lines, customers, args.as_of, args.default_terms, lines_open=lines_open)
    model = train(history, customers, args.as_of)
    predictions, _ = predict_items(model, history, items, customers, args.as_of, country=args.country)
    with open(args.out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["invoice_id", "customer_id", "p_late", "expected_payment_date"])
        for row in predictions.itertuples():
            writer.writerow([row.invoice_id, row.customer_id, f"{row.p_late:.4f}",
                             row.expected_payment_date.date().isoformat()])
    report = model.report
    how = (f"gradient boosting, AUC {report.metrics['auc']:.3f} on the newest invoices" if "auc" in report.metrics
           else report.kind if report.kind == "gbm" else f"rules: {report.reason}")
    print(f"{len(predictions)} open invoices on {args.as_of} predicted ({how}); written to {args.out}",
          file=sys.stderr)
    return 0


def _read_history(path: str | None):  # noqa: ANN202
    """The steps already taken (customer_id, invoice_id, step_id[, due_date]) from a CSV, else none."""
    import pandas as pd

    if not path:
        return None
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"customer_id", "invoice_id", "step_id"} - set(frame.columns)
    if missing:
        raise InputError(f"{Path(path).name}, line 1: missing column(s) {', '.join(sorted(missing))}")
    if "due_date" in frame:
        frame["due_date"] = pd.to_datetime(frame["due_date"].replace("", None), errors="coerce")
    return frame


def cmd_plan(args: argparse.Namespace) -> int:
    """The collection actions the scenarios call for on --as-of, one CSV row per message."""
    import csv

    from receivables.money import format_minor
    from receivables.scenarios.legal import LegalRulesError, load_rules
    from receivables.scenarios.planner import plan_actions
    from receivables.scenarios.policy import default_policy_path, load_policy
    from receivables.scenarios.registers import planning_registers, read_register
    from receivables.scoring.portfolio import score_portfolio

    policy = load_policy(Path(args.scenarios) if args.scenarios else default_policy_path())
    customers, lines, lines_open, items = _ledger_on(args)
    def register(path: str | None, kind: str):  # noqa: ANN202
        return read_register(Path(path), kind) if path else None

    registers = planning_registers(items, args.as_of, disputes=register(args.disputes, "disputes"),
                                   promises=register(args.promises, "promises"),
                                   plans=register(args.payment_plans, "payment_plans"))
    scores = score_portfolio(lines, customers, items, args.as_of, default_terms_days=args.default_terms,
                             country=args.country, lines_open=lines_open, disputes=registers["disputes"],
                             promises=registers["promises"])
    try:
        legal = load_rules(args.country)
    except LegalRulesError as error:
        print(f"receivables: warning: {error}: formal notices are held", file=sys.stderr)
        legal = None
    result = plan_actions(items, customers, scores.risk, policy, args.as_of, done=_read_history(args.history),
                          legal=legal, country=args.country, **registers)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["action_key", "customer_id", "step", "channel", "invoice_ids", "amount", "currency",
                         "language", "requires_approval"])
        for row in result.actions.itertuples():
            writer.writerow([row.action_key, row.customer_id, row.step_id, row.channel, row.invoice_ids,
                             format_minor(row.amount_minor, row.currency), row.currency, row.language,
                             "true" if row.requires_approval else "false"])
    held = result.skipped["reason"].value_counts()
    print(f"{len(result.actions)} actions on {args.as_of} for {result.actions['customer_id'].nunique()} customers "
          f"({', '.join(f'{c} {n}' for c, n in result.actions['channel'].value_counts().sort_index().items())}); "
          f"not sent: {', '.join(f'{r} {n}' for r, n in held.sort_index().items()) or 'none'}; "
          f"written to {args.out}", file=sys.stderr)
    if args.preview:
        from receivables.scenarios.preview import preview_plan

        index = preview_plan(Path(args.preview), result, customers=customers, items=items, risk=scores.risk,
                             legal=legal, as_of=args.as_of)
        print(f"preview of every message: {index}", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Upsert a register file (disputes, promises, payment plans) into the warehouse: all or nothing."""
    from receivables.scenarios.registers import read_register
    from receivables.warehouse.db import make_engine
    from receivables.warehouse.store import upsert_register

    kind = args.register.replace("-", "_")
    now = dt.datetime.now(dt.timezone.utc)
    if kind == "call_outcomes":   # outcomes feed the promises and disputes registers too
        from receivables.channels.calls import import_outcomes, read_outcomes

        outcomes = read_outcomes(Path(args.file))
        with make_engine(_warehouse_url(args)).begin() as conn:
            counts = import_outcomes(conn, outcomes, now=now)
        print(f"{counts['outcomes']} call outcomes imported from {Path(args.file).name}: "
              f"{counts['promises']} promises, {counts['disputes']} disputes", file=sys.stderr)
        return 0
    frame = read_register(Path(args.file), kind)
    with make_engine(_warehouse_url(args)).begin() as conn:
        count = upsert_register(conn, kind, frame, now=now)
    print(f"{count} {args.register} imported from {Path(args.file).name}", file=sys.stderr)
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    """A credit manager settles messages left in doubt by an interrupted dispatch: `release` (the
    message surely never left: send it again) or `confirm` (it did leave: record it sent)."""
    import pandas as pd

    from receivables.channels import outbox
    from receivables.warehouse.db import make_engine

    now = dt.datetime.now(dt.timezone.utc)
    with make_engine(_warehouse_url(args)).begin() as conn:
        if args.action == "release":
            count = outbox.release(conn, args.keys, now=now)
        else:
            count = outbox.mark_sent(conn, pd.DataFrame({"action_key": args.keys, "provider": "manual",
                                                         "provider_message_id": "", "recipient": "",
                                                         "reason": "confirmed sent by a credit manager"}), now=now)
    print(f"{count} of {len(args.keys)} message(s) in doubt {args.action}d", file=sys.stderr)
    return 0 if count == len(args.keys) else 1


def cmd_demo_data(args: argparse.Namespace) -> int:
    from receivables.demo.generator import customers_for_lines, generate_portfolio, write_sample_registers

    count = customers_for_lines(args.lines) if args.lines else args.customers
    result = generate_portfolio(Path(args.out), customers=count, months=args.months, end=args.end, seed=args.seed)
    if not args.no_registers:
        result.update(write_sample_registers(Path(args.out), result["fec"], result["customers_csv"], args.end,
                                             seed=args.seed))
    print(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in result.items()}))
    return 0


def _warehouse_url(args: argparse.Namespace) -> str:
    from receivables.pipeline.settings import wave_settings

    return args.url or wave_settings().warehouse_url


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from receivables.warehouse.db import current_revision, make_engine, upgrade

    engine = make_engine(_warehouse_url(args))
    upgrade(engine)
    print(f"warehouse at revision {current_revision(engine)}: {engine.url.render_as_string(hide_password=True)}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from receivables.warehouse.db import make_engine
    from receivables.warehouse.report import demo_summary

    print(demo_summary(make_engine(_warehouse_url(args)), args.as_of))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="receivables", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("load-ledger", help="parse and validate a ledger, print a summary")
    p.add_argument("file")
    p.add_argument("--format", default="auto", choices=["auto", "fec", "csv", "xlsx"])
    p.add_argument("--as-of", type=_date, help="business date (default: the ledger's last entry date)")
    p.add_argument("--customers", help="customer master CSV")
    p.add_argument("--default-terms", type=_days, default=30, help="payment terms in days when unknown")
    p.add_argument("--mapping", help="YAML column mapping for CSV/XLSX exports")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_load_ledger)

    p = sub.add_parser("parse-statement", help="parse a bank statement (CAMT, MT940, CFONB 120, OFX, CSV)")
    p.add_argument("file")
    p.add_argument("--format", default="auto", choices=["auto", "camt", "mt940", "cfonb", "ofx", "csv"])
    p.add_argument("--mapping", help="YAML column mapping for CSV statements")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_parse_statement)

    p = sub.add_parser("match", help="match bank lines to the ledger's open items (cash application)")
    p.add_argument("--ledger", required=True)
    p.add_argument("--statement", required=True, action="append", help="repeatable")
    p.add_argument("--out", required=True)
    p.add_argument("--format", default="auto", choices=["auto", "camt", "mt940", "cfonb", "ofx"])
    p.add_argument("--as-of", type=_date, help="open items as of (default: the latest ledger or bank date)")
    p.add_argument("--customers", help="customer master CSV")
    p.add_argument("--default-terms", type=_days, default=30)
    p.set_defaults(func=cmd_match)

    p = sub.add_parser("predict", help="probability of late payment and expected payment date of each open invoice")
    p.add_argument("--ledger", required=True)
    p.add_argument("--as-of", type=_date, required=True, help="open invoices of this date; history up to it")
    p.add_argument("--out", required=True)
    p.add_argument("--customers", help="customer master CSV")
    p.add_argument("--default-terms", type=_days, default=30)
    p.add_argument("--country", default="FR", help="calendar of the expected payment dates (ISO 3166)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("plan", help="the collection actions the scenarios call for on a date, one row per message")
    p.add_argument("--ledger", required=True)
    p.add_argument("--as-of", type=_date, required=True)
    p.add_argument("--scenarios", help="collection policy YAML (default: include/scenarios/default_fr_b2b.yaml)")
    p.add_argument("--out", required=True)
    p.add_argument("--customers", help="customer master CSV")
    p.add_argument("--default-terms", type=_days, default=30)
    p.add_argument("--country", default="FR", help="the company's country: business days and late-payment law")
    p.add_argument("--disputes", help="disputes CSV")
    p.add_argument("--promises", help="promises-to-pay CSV")
    p.add_argument("--payment-plans", help="payment plans CSV")
    p.add_argument("--history", help="steps already taken: CSV customer_id,invoice_id,step_id[,due_date]")
    p.add_argument("--preview", metavar="DIR", help="render every message (HTML, text, PDF) into DIR for review")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("import", help="import a register file into the warehouse (upsert by id)")
    p.add_argument("register", choices=["disputes", "promises", "payment-plans", "call-outcomes"])
    p.add_argument("file")
    p.add_argument("--url", help="SQLAlchemy URL (default: RECEIVABLES_WAREHOUSE_URL or .data/warehouse.db)")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("outbox", help="settle messages left in doubt ('sending') by an interrupted dispatch")
    p.add_argument("action", choices=["release", "confirm"])
    p.add_argument("keys", nargs="+", metavar="ACTION_KEY")
    p.add_argument("--url", help="SQLAlchemy URL (default: RECEIVABLES_WAREHOUSE_URL or .data/warehouse.db)")
    p.set_defaults(func=cmd_outbox)

    p = sub.add_parser("demo-data", help="generate a sample portfolio (FEC + customer master)")
    p.add_argument("--out", default=".data/demo")
    p.add_argument("--customers", type=int, default=300)
    p.add_argument("--lines", type=int, help="size the portfolio for about this many ledger lines")
    p.add_argument("--months", type=int, default=18)
    p.add_argument("--end", type=_date, default=dt.date(2025, 6, 30))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--no-registers", action="store_true",
                   help="no sample disputes, promises and payment plans (they read the ledger back: slow at scale)")
    p.set_defaults(func=cmd_demo_data)

    p = sub.add_parser("db", help="warehouse administration")
    db = p.add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="create or upgrade the warehouse schema (Alembic)")
    up.add_argument("--url", help="SQLAlchemy URL (default: RECEIVABLES_WAREHOUSE_URL or .data/warehouse.db)")
    up.set_defaults(func=cmd_db_upgrade)

    p = sub.add_parser("summary", help="what the warehouse holds for a business date, for humans")
    p.add_argument("--as-of", type=_date, required=True)
    p.add_argument("--url")
    p.set_defaults(func=cmd_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from receivables.bank.schema import StatementFormatError
    from receivables.ledger.schema import LedgerFormatError
    from receivables.scenarios.policy import PolicyError
    from receivables.scenarios.registers import RegisterError
    from receivables.validation.ledger import SystemicValidationError

    try:
        return args.func(args)
    except (LedgerFormatError, StatementFormatError, SystemicValidationError, InputError, PolicyError,
            RegisterError) as error:
        print(f"receivables: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
