"""Reads and writes of the warehouse, each write in one transaction.

    >>> with engine.begin() as conn:                                                # doctest: +SKIP
    ...     result = load_ledger(conn, source="123456789FEC20250630", lines=..., quarantine=...,
    ...                          meta=ImportMeta(...), customers=master)
    >>> result.skipped       # the same file (same SHA-256) was already imported   # doctest: +SKIP
    False

Idempotence: a ledger import is keyed by the file's SHA-256 (importing the same file twice adds
nothing); a new version of a source (same FEC name, new content) replaces that source's lines;
snapshots (open items, aging) are replaced whole for their `as_of`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, and_, case, delete, func, insert, literal, select, update
from sqlalchemy import types as sa_types

from receivables.ledger.schema import CUSTOMER_COLUMNS, LINE_COLUMNS, RECEIVABLE_ACCOUNT_PREFIX, conform
from receivables.shards import WHOLE, Shard, in_shard
from receivables.warehouse.db import bulk_insert, read_where_in
from receivables.warehouse.schema import (
    aging_snapshots,
    bank_allocations,
    bank_exceptions,
    bank_lines,
    bank_statements,
    collection_action_lines,
    collection_actions,
    collection_steps,
    customers,
    disputes,
    ledger_imports,
    ledger_lines,
    invoice_predictions,
    open_items,
    payer_profiles,
    payment_plans,
    promises,
    quarantine,
    risk_scores,
    scoring_models,
    validation_reports,
)


@dataclass
class ImportMeta:
    source: str
    source_file: str
    sha256: str
    format: str
    encoding: str
    rows_read: int
    as_of: dt.date | None
    imported_at: dt.datetime


@dataclass
class LoadResult:
    source: str
    import_id: int | None
    skipped: bool
    rows_loaded: int
    rows_quarantined: int


def already_imported(conn: Connection, sha256: str) -> bool:
    return conn.execute(select(ledger_imports.c.import_id).where(ledger_imports.c.sha256 == sha256)).first() is not None


def load_ledger(conn: Connection, *, lines: pd.DataFrame | Iterable[pd.DataFrame], quarantined: pd.DataFrame,
                meta: ImportMeta) -> LoadResult:
    """Replace `meta.source`'s lines by `lines` and record the import; call inside a transaction.

    `lines`: a frame, or frames one after the other (a large ledger is streamed from its Parquet
    file in slices, never held whole)."""
    if already_imported(conn, meta.sha256):
        return LoadResult(meta.source, None, True, 0, 0)
    import_id = conn.execute(insert(ledger_imports).values(
        source=meta.source, source_file=meta.source_file, sha256=meta.sha256, format=meta.format,
        encoding=meta.encoding, rows_read=meta.rows_read, rows_loaded=0,
        rows_quarantined=len(quarantined), as_of=meta.as_of, imported_at=meta.imported_at,
    ).returning(ledger_imports.c.import_id)).scalar_one()
    conn.execute(delete(ledger_lines).where(ledger_lines.c.source == meta.source))
    loaded = 0
    for part in [lines] if isinstance(lines, pd.DataFrame) else lines:
        loaded += bulk_insert(conn, ledger_lines, part[list(LINE_COLUMNS)].assign(source=meta.source,
                                                                                   import_id=import_id))
    conn.execute(update(ledger_imports).where(ledger_imports.c.import_id == import_id).values(rows_loaded=loaded))
    bulk_insert(conn, quarantine, quarantined.assign(source=meta.source, import_id=import_id))
    return LoadResult(meta.source, import_id, False, loaded, len(quarantined))


def refresh_customers(conn: Connection, master: pd.DataFrame | None) -> int:
    """Customers = the master (when given) plus every receivable account seen only in the ledger."""
    if master is not None:
        conn.execute(delete(customers).where(customers.c.origin == "master"))
        bulk_insert(conn, customers, conform(master, CUSTOMER_COLUMNS).assign(origin="master"))
    conn.execute(delete(customers).where(customers.c.origin == "ledger"))
    customer_id = case((ledger_lines.c.aux_account != "", ledger_lines.c.aux_account),
                       else_=ledger_lines.c.account).label("customer_id")
    seen = (select(customer_id, func.max(ledger_lines.c.aux_label).label("name"))
            .where(ledger_lines.c.account.like(RECEIVABLE_ACCOUNT_PREFIX + "%"))
            .group_by(customer_id).subquery())
    known = select(customers.c.customer_id)
    conn.execute(insert(customers).from_select(
        ["customer_id", "name", "country", "language", "email", "phone", "address", "segment",
         "strategic", "payment_terms_days", "opt_out_channels", "origin", "iban", "dunning_blocked"],
        select(seen.c.customer_id, seen.c.name, literal(""), literal(""), literal(""), literal(""),
               literal(""), literal(""), literal(False), literal(None), literal(""), literal("ledger"), literal(""),
               literal(False))
        .where(seen.c.customer_id.not_in(known)),
    ))
    return conn.execute(select(func.count()).select_from(customers)).scalar_one()


MASTER_SOURCE = "customer_master"


def replace_master_quarantine(conn: Connection, rejected: pd.DataFrame) -> None:
    """The customer master's rejected rows (import_id 0): its current state replaces the last."""
    conn.execute(delete(quarantine).where(quarantine.c.source == MASTER_SOURCE))
    bulk_insert(conn, quarantine, rejected.assign(source=MASTER_SOURCE, import_id=0))


def read_receivable_lines(conn: Connection) -> pd.DataFrame:
    """The receivable (411*) lines of every loaded source, typed as the normalized ledger."""
    query = select(*(ledger_lines.c[c] for c in LINE_COLUMNS)).where(
        ledger_lines.c.account.like(RECEIVABLE_ACCOUNT_PREFIX + "%"))
    frame = pd.read_sql(query, conn)
    return _typed(frame, LINE_COLUMNS)


def read_customers(conn: Connection, ids: Iterable[str] | None = None) -> pd.DataFrame:
    """The customer master, or only the customers `ids` (read in slices of bound parameters)."""
    query = select(*(customers.c[c] for c in CUSTOMER_COLUMNS))
    if ids is None:
        return _typed(pd.read_sql(query, conn), CUSTOMER_COLUMNS)
    return _typed(read_where_in(conn, query, customers.c.customer_id, sorted({str(i) for i in ids})), CUSTOMER_COLUMNS)


def _typed(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    for name, dtype in columns.items():
        if dtype.startswith("datetime"):
            frame[name] = pd.to_datetime(frame[name])
        elif dtype == "bool":
            frame[name] = frame[name].astype(bool)
        else:
            frame[name] = frame[name].astype(dtype)
    return frame


def replace_day(conn: Connection, as_of: dt.date, frames: dict, *, shard: Shard = WHOLE) -> None:
    """Replace the rows of `as_of` in each table by its frame (a re-run or backfill rewrites that
    day only); with a `shard` of several, only the rows of that shard's customers."""
    for table in frames:
        if shard[1] == 1:
            conn.execute(delete(table).where(table.c.as_of == as_of))
            continue
        # Deleted by the key that follows as_of in the primary key (action_key, customer_id): its
        # index serves the deletes, and each of its values belongs to one customer.
        key = next(c for c in table.primary_key.columns if c.name != "as_of")
        present = pd.DataFrame(conn.execute(select(key, table.c.customer_id).where(table.c.as_of == as_of)).all(),
                               columns=["key", "customer_id"])
        mine = present.loc[in_shard(present["customer_id"], shard), "key"].unique().tolist()
        for start in range(0, len(mine), 500):
            conn.execute(delete(table).where(table.c.as_of == as_of, key.in_(mine[start:start + 500])))
    day = pd.Timestamp(as_of)
    for table, frame in frames.items():
        bulk_insert(conn, table, frame.assign(as_of=day))


def replace_snapshot(conn: Connection, as_of: dt.date, *, items: pd.DataFrame, aging: pd.DataFrame) -> None:
    """Replace the open items and aged balance of `as_of` (idempotent re-runs, backfills); the
    KPIs of the day are `compute_kpis`' (warehouse/kpi_store.py)."""
    replace_day(conn, as_of, {open_items: items, aging_snapshots: aging})


def record_validation(conn: Connection, *, as_of: dt.date, source: str, source_file: str, success: bool,
                      rows_read: int, rows_valid: int, rows_quarantined: int, report_path: str) -> None:
    conn.execute(delete(validation_reports).where(and_(validation_reports.c.as_of == as_of,
                                                       validation_reports.c.source == source)))
    conn.execute(insert(validation_reports).values(
        as_of=as_of, source=source, source_file=source_file, success=success, rows_read=rows_read,
        rows_valid=rows_valid, rows_quarantined=rows_quarantined, report_path=report_path))


# -- cash application ------------------------------------------------------------------------------

BANK_ACCOUNT_PREFIX = "51"


def bank_cutoff(conn: Connection, as_of: dt.date) -> dt.date | None:
    """The last day, on or before `as_of`, the ledger booked money into a bank account (a debit on
    51x): receipts the bank reports after it are not in the ledger yet, so they are matched."""
    value = conn.execute(select(func.max(ledger_lines.c.entry_date)).where(
        ledger_lines.c.account.like(BANK_ACCOUNT_PREFIX + "%"), ledger_lines.c.debit_minor > 0,
        ledger_lines.c.entry_date <= as_of)).scalar_one()
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def store_statements(conn: Connection, statements: pd.DataFrame, lines: pd.DataFrame) -> tuple[int, int]:
    """Insert the statements and lines not stored yet (keyed by account, statement, line):
    importing the same statement twice is a no-op. Returns (statements, lines) inserted."""
    existing = pd.read_sql(select(bank_statements.c.account, bank_statements.c.statement_id), conn)
    known = set(zip(existing["account"], existing["statement_id"]))
    new_statements = statements[[(a, s) not in known for a, s in zip(statements["account"], statements["statement_id"])]]
    new_lines = lines[[(a, s) not in known for a, s in zip(lines["account"], lines["statement_id"])]]
    bulk_insert(conn, bank_statements, new_statements)
    bulk_insert(conn, bank_lines, new_lines)
    return len(new_statements), len(new_lines)


def read_bank_lines(conn: Connection, after: dt.date | None, up_to: dt.date) -> pd.DataFrame:
    from receivables.bank.schema import BANK_LINE_COLUMNS

    query = select(*(bank_lines.c[c] for c in BANK_LINE_COLUMNS if c in bank_lines.c)).where(
        bank_lines.c.booking_date <= up_to)
    if after is not None:
        query = query.where(bank_lines.c.booking_date > after)
    frame = pd.read_sql(query.order_by(bank_lines.c.booking_date, bank_lines.c.position), conn)
    return _typed(frame, {c: t for c, t in BANK_LINE_COLUMNS.items() if c in frame})


def replace_matches(conn: Connection, as_of: dt.date, allocations: pd.DataFrame, exceptions: pd.DataFrame) -> None:
    for table in (bank_allocations, bank_exceptions):
        conn.execute(delete(table).where(table.c.as_of == as_of))
    day = pd.Timestamp(as_of)
    bulk_insert(conn, bank_allocations, allocations.assign(as_of=day, allocation_no=range(1, len(allocations) + 1)))
    bulk_insert(conn, bank_exceptions, exceptions.assign(as_of=day))


def read_allocations(conn: Connection, as_of: dt.date) -> pd.DataFrame:
    frame = pd.read_sql(select(bank_allocations).where(bank_allocations.c.as_of == as_of), conn)
    frame["amount_minor"] = frame["amount_minor"].astype("int64")
    return frame


def known_payer_accounts(conn: Connection, before: dt.date) -> pd.DataFrame:
    """(account, customer_id) of payments applied automatically before `before`: an account
    seen paying a customer identifies that customer next time."""
    query = (select(bank_lines.c.counterparty_account.label("account"), bank_allocations.c.customer_id)
             .join(bank_allocations, (bank_allocations.c.account == bank_lines.c.account)
                   & (bank_allocations.c.statement_id == bank_lines.c.statement_id)
                   & (bank_allocations.c.bank_line_id == bank_lines.c.bank_line_id))
             .where(bank_allocations.c.status == "auto", bank_allocations.c.as_of < before,
                    bank_lines.c.counterparty_account != "", bank_allocations.c.customer_id != "")
             .distinct())
    return pd.read_sql(query, conn)


# -- scoring ----------------------------------------------------------------------------------------

def replace_scores(conn: Connection, as_of: dt.date, *, profiles: pd.DataFrame, predictions: pd.DataFrame,
                   risk: pd.DataFrame, model: dict) -> None:
    """Replace the payer profiles, invoice predictions, risk scores and model row of `as_of`."""
    conn.execute(delete(scoring_models).where(scoring_models.c.as_of == as_of))
    replace_day(conn, as_of, {payer_profiles: profiles, invoice_predictions: predictions, risk_scores: risk})
    conn.execute(insert(scoring_models).values(as_of=as_of, **model))


# -- collection planning ---------------------------------------------------------------------------

REGISTER_TABLES = {"disputes": disputes, "promises": promises, "payment_plans": payment_plans}


def upsert_register(conn: Connection, kind: str, frame: pd.DataFrame, *, now: dt.datetime) -> int:
    """Insert the register rows of `frame`, replacing those with the same id; others are kept."""
    table = REGISTER_TABLES[kind]
    key = next(iter(table.primary_key.columns))
    ids = frame[key.name].astype(str).tolist()
    for start in range(0, len(ids), 500):
        conn.execute(delete(table).where(key.in_(ids[start:start + 500])))
    rows = frame.assign(imported_at=now)
    for column in table.columns:   # text columns are NOT NULL, '' when empty
        if column.name in rows and isinstance(column.type, (sa_types.String, sa_types.Text)) and not column.nullable:
            rows[column.name] = rows[column.name].fillna("")
    if kind == "promises" and "status" not in rows:
        rows["status"] = "pending"
    bulk_insert(conn, table, rows)
    return len(rows)


def read_register_table(conn: Connection, kind: str) -> pd.DataFrame:
    table = REGISTER_TABLES[kind]
    frame = pd.read_sql(select(table), conn)
    for column in table.columns:
        if isinstance(column.type, sa_types.Date):
            frame[column.name] = pd.to_datetime(frame[column.name]).dt.date
        elif isinstance(column.type, sa_types.BigInteger):
            frame[column.name] = pd.array(frame[column.name], dtype="Int64")
    return frame


def save_promise_verdicts(conn: Connection, judged: pd.DataFrame) -> None:
    """Write back what `registers.judge_promises` decided (status, judged_on, baseline)."""
    for row in judged[["promise_id", "status", "judged_on", "open_at_promise_minor"]].itertuples(index=False):
        conn.execute(promises.update().where(promises.c.promise_id == row.promise_id).values(
            status=row.status, judged_on=None if pd.isna(row.judged_on) else row.judged_on,
            open_at_promise_minor=None if pd.isna(row.open_at_promise_minor) else int(row.open_at_promise_minor)))


def replace_plan(conn: Connection, as_of: dt.date, *, actions: pd.DataFrame, lines: pd.DataFrame,
                 skipped: pd.DataFrame, shard: Shard = WHOLE) -> None:
    """Replace the collection actions of `as_of`, their lines and the step register of that run
    (of the customers of `shard` only, when the plan was made in shards)."""
    from receivables.scenarios.planner import PASSING_REASONS

    planned = lines.merge(actions[["action_key", "step_id"]].drop_duplicates(), on=["action_key", "step_id"])
    parts = [
        planned[["customer_id", "invoice_id", "step_id", "due_date", "action_key"]].assign(outcome="planned", reason=""),
        skipped.assign(outcome=skipped["reason"].isin(PASSING_REASONS).map({True: "passed", False: "held"}),
                       action_key=""),
    ]
    steps = pd.concat([p for p in parts if not p.empty], ignore_index=True) if any(not p.empty for p in parts) \
        else parts[0]
    steps = steps.drop_duplicates(["customer_id", "invoice_id", "step_id", "outcome", "reason", "action_key"])
    replace_day(conn, as_of, {collection_actions: actions, collection_action_lines: lines, collection_steps: steps},
                shard=shard)


def read_done_steps(conn: Connection, before: dt.date, *, since_due: dt.date | None = None) -> pd.DataFrame:
    """(customer_id, invoice_id, step_id, due_date) planned or passed on runs before `before`;
    with `since_due` only the cycles due on or after it (the earliest due date still open: the
    register of long-settled invoices is not read again every day)."""
    query = (select(collection_steps.c.customer_id, collection_steps.c.invoice_id, collection_steps.c.step_id,
                    collection_steps.c.due_date)
             .where(collection_steps.c.as_of < before, collection_steps.c.outcome.in_(["planned", "passed"]))
             .distinct())
    if since_due is not None:
        query = query.where(collection_steps.c.due_date >= since_due)
    return pd.read_sql(query, conn)


def previous_overdue_invoices(conn: Connection, before: dt.date) -> pd.DataFrame:
    """The invoices overdue in the last open-items snapshot before `before` (empty if none)."""
    last = conn.execute(select(func.max(open_items.c.as_of)).where(open_items.c.as_of < before)).scalar()
    if last is None:
        return pd.DataFrame(columns=["customer_id", "invoice_id", "currency", "doc_date", "due_date",
                                     "original_minor", "open_minor"])
    query = select(open_items.c.customer_id, open_items.c.invoice_id, open_items.c.currency, open_items.c.doc_date,
                   open_items.c.due_date, open_items.c.original_minor, open_items.c.open_minor).where(
        open_items.c.as_of == last, open_items.c.item_type == "invoice", open_items.c.days_overdue > 0,
        open_items.c.open_minor > 0)
    return pd.read_sql(query, conn)


def read_risk(conn: Connection, as_of: dt.date) -> pd.DataFrame:
    return pd.read_sql(select(risk_scores).where(risk_scores.c.as_of == as_of), conn)
