"""The bodies of the daily wave's ledger tasks, free of Airflow so they run and test anywhere.

    manifest = extract_ledger(settings, as_of)        # files -> Parquet in the run folder
    manifest = validate_ledger(settings, manifest)    # GX suite, quarantine, HTML report
    summary  = load_ledger(settings, manifest)        # one transaction into the warehouse
    summary  = score_customers(settings, as_of, now=...)             # profiles, predictions, risk
    summary  = plan_collection_actions(settings, as_of, now=...)     # today's reminders
    # a large portfolio, as the DAG maps it over customer shards (receivables.shards):
    shards   = train_scoring_model(settings, as_of, now=...)["shards"]; score_shard(settings, as_of, shard)
    summary  = publish_scores(settings, as_of, now=...)
    shards   = plan_shards(settings, now=...)["shards"]
    summary  = plan_collection_actions(settings, as_of, now=..., shard=shard, import_first=False)
    summary  = compute_aging(settings, as_of)         # open items, aged balance of as_of
    (then the dispatch tasks, and pipeline.kpis.compute_kpis: the KPIs of as_of)

Bulk data moves through Parquet files in `<data_dir>/runs/<as_of>/`; what the functions return
(and Airflow passes through XCom) is small: paths, counts, names. A file already imported (same
SHA-256) is not parsed again; a run for a past date recomputes that date's snapshot from the
ledger as it stood then (entry and lettering dates).
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from receivables.ledger.schema import LedgerFormatError, LedgerRead, empty_quarantine
from receivables.shards import SHARD_CUSTOMERS, WHOLE, Shard, check, only, shard_list

log = logging.getLogger(__name__)


@dataclass
class WaveSettings:
    warehouse_url: str
    data_dir: Path
    ledger_paths: list[str] = field(default_factory=list)   # files or glob patterns
    customers_file: str | None = None
    mapping_file: str | None = None
    # SQL sources: {"name", "url", "sql", optional "customers_sql", "params"}; `as_of` is
    # passed to the queries as the bind parameter :as_of.
    sql_sources: list[dict] = field(default_factory=list)
    bank_paths: list[str] = field(default_factory=list)     # statement files or globs (a drop folder)
    bank_mapping: str | None = None                         # YAML mapping for CSV statements
    default_terms_days: int = 30
    ledger_currency: str = "EUR"
    country: str = "FR"                                     # the company's calendar (payment dates)
    min_settled_invoices: int = 200                         # below: rule-based scoring, not the model
    scenarios_file: str | None = None                       # collection policy (default: the French B2B set)
    # register files imported (upserted by id) by each planning run, when set
    disputes_file: str | None = None
    promises_file: str | None = None
    payment_plans_file: str | None = None
    shard_customers: int = SHARD_CUSTOMERS                  # customers per scoring and planning shard


def run_dir(settings: WaveSettings, as_of: dt.date) -> Path:
    path = Path(settings.data_dir) / "runs" / as_of.isoformat()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _engine(settings: WaveSettings):
    from receivables.warehouse.db import make_engine

    return make_engine(settings.warehouse_url)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ledger_files(settings: WaveSettings) -> list[Path]:
    files: list[Path] = []
    if not settings.ledger_paths and settings.sql_sources:
        return files
    for pattern in settings.ledger_paths:
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise LedgerFormatError(pattern, None, "no ledger file matches this path")
        files += [Path(m) for m in matches]
    if not files:
        raise LedgerFormatError("settings", None, "no ledger source is configured (RECEIVABLES_LEDGER "
                                "or RECEIVABLES_SQL_SOURCES)")
    return files


def extract_ledger(settings: WaveSettings, as_of: dt.date) -> dict:
    from receivables.warehouse.store import already_imported

    out = run_dir(settings, as_of)
    manifest: dict = {"as_of": as_of.isoformat(), "run_dir": str(out), "sources": [], "customers": None}
    known = None
    if settings.customers_file:
        from receivables.ledger.customers import read_customer_master

        path = Path(settings.customers_file)
        master = read_customer_master(path)
        master.customers.to_parquet(out / "customers.read.parquet", index=False)
        master.quarantine.to_parquet(out / "customers.read_quarantine.parquet", index=False)
        # Warnings (line, customer id, field, reason) go to a file: XCom carries paths and counts.
        (out / "customers.warnings.json").write_text(json.dumps(master.warnings), encoding="utf-8")
        known = set(master.customers["customer_id"])
        manifest["customers"] = {"source_file": path.name, "rows_read": master.rows_read,
                                 "read": str(out / "customers.read.parquet"),
                                 "read_quarantine": str(out / "customers.read_quarantine.parquet"),
                                 "warnings": str(out / "customers.warnings.json")}
    engine = _engine(settings)
    reads = [(path, None) for path in ledger_files(settings)] + [(None, spec) for spec in settings.sql_sources]
    for path, spec in reads:
        if spec is not None:
            _extract_sql_source(spec, as_of, out, manifest, engine, known)
            continue
        digest = sha256_of(path)
        with engine.connect() as conn:
            unchanged = already_imported(conn, digest)
        entry = {"file": str(path), "source_file": path.name, "sha256": digest}
        if unchanged:
            log.info("%s already imported (sha256 %s): not parsed again", path.name, digest[:12])
            manifest["sources"].append({**entry, "status": "unchanged"})
            continue
        from receivables.ledger.sources import read_ledger

        read = read_ledger(path, mapping=Path(settings.mapping_file) if settings.mapping_file else None,
                           ledger_currency=settings.ledger_currency, known_customers=known)
        stem = out / read.meta["source"]
        read.lines.to_parquet(f"{stem}.parsed.parquet", index=False)
        read.quarantine.to_parquet(f"{stem}.parse_quarantine.parquet", index=False)
        log.info("%s: %d lines read, %d quarantined while parsing (%s)", path.name, read.rows_read,
                 len(read.quarantine), json.dumps({k: v for k, v in read.meta.items() if k != "source"}))
        manifest["sources"].append({**entry, "status": "parsed", "source": read.meta["source"],
                                    "format": read.meta["format"], "encoding": read.meta.get("encoding", ""),
                                    "rows_read": read.rows_read, "stem": str(stem)})
    return manifest


def _content_digest(read: LedgerRead) -> str:
    """A SHA-256 of what a query returned, so an unchanged source is not loaded again."""
    digest = hashlib.sha256()
    for frame in (read.lines, read.quarantine):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _extract_sql_source(spec: dict, as_of: dt.date, out: Path, manifest: dict, warehouse, known) -> None:  # noqa: ANN001
    from receivables.ledger.sql_source import read_sql_customers, read_sql_ledger
    from receivables.warehouse.db import make_engine
    from receivables.warehouse.store import already_imported

    name = spec["name"]
    engine = make_engine(spec["url"])
    params = {**spec.get("params", {}), "as_of": as_of}
    try:
        read = read_sql_ledger(engine, Path(spec["sql"]), params=params, source_name=name)
        if spec.get("customers_sql") and manifest["customers"] is None:
            master = read_sql_customers(engine, Path(spec["customers_sql"]), params=params)
            master.to_parquet(out / "customers.read.parquet", index=False)
            empty_quarantine().to_parquet(out / "customers.read_quarantine.parquet", index=False)
            (out / "customers.warnings.json").write_text("[]", encoding="utf-8")
            manifest["customers"] = {"source_file": Path(spec["customers_sql"]).name, "rows_read": len(master),
                                     "read": str(out / "customers.read.parquet"),
                                     "read_quarantine": str(out / "customers.read_quarantine.parquet"),
                                     "warnings": str(out / "customers.warnings.json")}
    finally:
        engine.dispose()
    digest = _content_digest(read)
    with warehouse.connect() as conn:
        unchanged = already_imported(conn, digest)
    entry = {"file": spec["sql"], "source_file": name, "sha256": digest}
    if unchanged:
        manifest["sources"].append({**entry, "status": "unchanged"})
        return
    stem = out / name
    read.lines.to_parquet(f"{stem}.parsed.parquet", index=False)
    read.quarantine.to_parquet(f"{stem}.parse_quarantine.parquet", index=False)
    log.info("SQL source %s: %d rows read, %d quarantined while converting", name, read.rows_read, len(read.quarantine))
    manifest["sources"].append({**entry, "status": "parsed", "source": name, "format": "sql", "encoding": "",
                                "rows_read": read.rows_read, "stem": str(stem)})


def _validate_customers(info: dict, as_of: dt.date, out: Path) -> None:
    from receivables.ledger.customers import CustomerRead
    from receivables.validation.customers import validate_customers
    from receivables.validation.report import write_report

    read = CustomerRead(customers=pd.read_parquet(info["read"]), quarantine=pd.read_parquet(info["read_quarantine"]),
                        rows_read=info["rows_read"], warnings=json.loads(Path(info["warnings"]).read_text(encoding="utf-8")))
    checked = validate_customers(read, info["source_file"])
    checked.lines.to_parquet(out / "customers.parquet", index=False)
    checked.quarantine.to_parquet(out / "customers.quarantine.parquet", index=False)
    report = write_report(checked, as_of, out / "customers.validation.html", suite="customers")
    log.info("customer master %s: %d customers, %d quarantined; validation report: %s", info["source_file"],
             len(checked.lines), len(checked.quarantine), report)
    info.update(path=str(out / "customers.parquet"), quarantine=str(out / "customers.quarantine.parquet"),
                loaded=len(checked.lines), quarantined=len(checked.quarantine), report=str(report))


def validate_ledger(settings: WaveSettings, manifest: dict) -> dict:
    from receivables.validation.ledger import CHECKED_COLUMNS
    from receivables.validation.ledger import validate_ledger as run_suite
    from receivables.validation.report import write_report

    as_of = dt.date.fromisoformat(manifest["as_of"])
    known = None
    if manifest["customers"]:
        _validate_customers(manifest["customers"], as_of, Path(manifest["run_dir"]))
        known = set(pd.read_parquet(manifest["customers"]["path"], columns=["customer_id"])["customer_id"])
    for source in manifest["sources"]:
        if source["status"] != "parsed":
            continue
        stem = source["stem"]
        # Only the quarantine is written (the valid lines are the parsed ones minus it), so only
        # the columns the suite checks are read.
        read = LedgerRead(lines=pd.read_parquet(f"{stem}.parsed.parquet", columns=CHECKED_COLUMNS),
                          quarantine=pd.read_parquet(f"{stem}.parse_quarantine.parquet"),
                          rows_read=source["rows_read"],
                          meta={"source": source["source"],
                                "source_kind": "aged_balance" if source["format"] in ("csv", "xlsx") else "ledger"})
        outcome = run_suite(read, known_customers=known)   # raises SystemicValidationError
        outcome.quarantine.to_parquet(f"{stem}.quarantine.parquet", index=False)
        report = write_report(outcome, as_of, Path(f"{stem}.validation.html"))
        log.info("%s: %d lines valid, %d quarantined; validation report: %s", source["source_file"],
                 len(outcome.lines), len(outcome.quarantine), report)
        source.update(status="validated", rows_valid=len(outcome.lines),
                      rows_quarantined=len(outcome.quarantine), report=str(report),
                      findings={f.reason_code: f.count for f in outcome.findings})
    return manifest


LOAD_SLICE_ROWS = 500_000


def _parsed_slices(path: str, quarantined: pd.Series):  # noqa: ANN202
    """The parsed lines of `path` minus the quarantined ones, in slices of LOAD_SLICE_ROWS: a
    10M-line ledger is loaded without holding its frame (~6 GB) whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parsed = pq.ParquetFile(path)
    for batch in parsed.iter_batches(batch_size=LOAD_SLICE_ROWS):
        part = pa.Table.from_batches([batch], schema=parsed.schema_arrow).to_pandas()
        yield part[~part["line_no"].isin(quarantined)] if len(quarantined) else part


def load_ledger(settings: WaveSettings, manifest: dict, *, now: dt.datetime) -> dict:
    """Every validated source and the customer master, in ONE transaction: all or nothing."""
    from receivables.warehouse.store import (
        ImportMeta,
        load_ledger as store,
        record_validation,
        refresh_customers,
        replace_master_quarantine,
    )

    as_of = dt.date.fromisoformat(manifest["as_of"])
    summary = {"as_of": manifest["as_of"], "sources": []}
    with _engine(settings).begin() as conn:
        for source in manifest["sources"]:
            if source["status"] != "validated":
                summary["sources"].append({"source_file": source["source_file"], "status": source["status"]})
                continue
            stem = source["stem"]
            quarantined = pd.read_parquet(f"{stem}.quarantine.parquet")
            lines = _parsed_slices(f"{stem}.parsed.parquet", quarantined["line_no"])
            result = store(conn, lines=lines, quarantined=quarantined, meta=ImportMeta(
                source=source["source"], source_file=source["source_file"], sha256=source["sha256"],
                format=source["format"], encoding=source["encoding"], rows_read=source["rows_read"],
                as_of=as_of, imported_at=now))
            if not result.skipped and result.rows_loaded != source["rows_valid"]:
                # the run folder was changed between tasks: the transaction is rolled back
                raise RuntimeError(f"{stem}: {result.rows_loaded} valid lines found, {source['rows_valid']} expected")
            record_validation(conn, as_of=as_of, source=source["source"], source_file=source["source_file"],
                              success=source["rows_quarantined"] == 0, rows_read=source["rows_read"],
                              rows_valid=source["rows_valid"], rows_quarantined=source["rows_quarantined"],
                              report_path=source["report"])
            summary["sources"].append({"source_file": source["source_file"], "status": "skipped" if result.skipped
                                       else "loaded", "rows_loaded": result.rows_loaded,
                                       "rows_quarantined": result.rows_quarantined})
        master = None
        if manifest["customers"]:
            info = manifest["customers"]
            master = pd.read_parquet(info["path"])
            # The master's rejected rows: its current state replaces the last.
            replace_master_quarantine(conn, pd.read_parquet(info["quarantine"]))
            record_validation(conn, as_of=as_of, source="customer_master", source_file=info["source_file"],
                              success=info["quarantined"] == 0, rows_read=info["rows_read"],
                              rows_valid=info["loaded"], rows_quarantined=info["quarantined"],
                              report_path=info["report"])
        summary["customers"] = refresh_customers(conn, master)
    return summary


def open_items_after_cash(engine, settings: WaveSettings, as_of: dt.date,  # noqa: ANN001, ANN201
                          shard: Shard = WHOLE):
    """(receivable lines, customers, open items of `as_of` once today's cash is applied, the
    lines' open amounts on `as_of`): the auto allocations settle invoices the ledger does not
    know are paid yet. With a `shard`, of that shard's customers only."""
    from receivables.ledger.open_items import open_items, receivable_lines_open
    from receivables.matching.apply import apply_allocations
    from receivables.pipeline.ledger_cache import receivable_lines
    from receivables.warehouse.store import read_allocations, read_customers

    lines = receivable_lines(engine, run_dir(settings, as_of) / "cache")
    with engine.connect() as conn:
        customers = read_customers(conn)
        allocations = read_allocations(conn, as_of)
    if shard[1] > 1:
        lines = only(lines.assign(customer_id=lines["aux_account"].where(lines["aux_account"] != "", lines["account"])),
                     shard).drop(columns="customer_id").reset_index(drop=True)
        customers, allocations = only(customers, shard).reset_index(drop=True), only(allocations, shard)
    lines_open = receivable_lines_open(lines, as_of)
    items = open_items(lines, customers, as_of, settings.default_terms_days, lines_open=lines_open)
    return lines, customers, apply_allocations(items, allocations, as_of), lines_open


def compute_aging(settings: WaveSettings, as_of: dt.date) -> dict:
    """The open items and aged balance of `as_of` (the KPIs read them: `pipeline.kpis`)."""
    from receivables.kpis.aging import aging
    from receivables.warehouse.store import replace_snapshot

    engine = _engine(settings)
    _, _, items, _ = open_items_after_cash(engine, settings, as_of)
    aged = aging(items)
    with engine.begin() as conn:
        replace_snapshot(conn, as_of, items=items, aging=aged)
    overdue = items[(items["item_type"] == "invoice") & (items["days_overdue"] > 0)]
    return {"as_of": as_of.isoformat(), "open_items": len(items), "customers_with_balance": len(aged),
            "overdue_items": len(overdue),
            "buckets_minor": {currency: {str(b): int(v) for b, v in per.groupby("bucket")["open_minor"].sum().items()}
                              for currency, per in items.groupby("currency")}}


def _scores_dir(settings: WaveSettings, as_of: dt.date) -> Path:
    return run_dir(settings, as_of) / "scores"


def _recorded_registers(conn, shard: Shard = WHOLE) -> dict:  # noqa: ANN001
    """Dispute and broken-promise rates, where they are recorded (None when nothing is)."""
    from receivables.warehouse.store import read_register_table

    recorded = {kind: only(read_register_table(conn, kind), shard) for kind in ("disputes", "promises")}
    return {kind: (frame if not frame.empty else None) for kind, frame in recorded.items()}


def train_scoring_model(settings: WaveSettings, as_of: dt.date, *, now: dt.datetime, shards: bool = True) -> dict:
    """Scoring, step 1 of 3 (once per run): the late-payment model of the whole portfolio's
    history up to `as_of`, into the run folder (`late_payment_model.joblib`, `scores/`) with the
    invoice history and what the shards need; returns {"shards": [[i, n], ...], "model", "auc"}
    (one shard up to `settings.shard_customers` customers, or with `shards=False`)."""
    import joblib

    from receivables.scoring.history import invoice_history
    from receivables.scoring.portfolio import idle_customers, idle_usual_median, train_model
    from receivables.scoring.profile import profile_ids

    engine = _engine(settings)
    lines, customers, items, lines_open = open_items_after_cash(engine, settings, as_of)
    history = invoice_history(lines, customers, as_of, settings.default_terms_days, lines_open=lines_open)
    model = train_model(history, customers, as_of, ledger_currency=settings.ledger_currency, country=settings.country,
                        min_settled=settings.min_settled_invoices)
    folder = _scores_dir(settings, as_of)
    shutil.rmtree(folder, ignore_errors=True)      # an earlier run's shards are never read again
    folder.mkdir(parents=True)
    path = run_dir(settings, as_of) / "late_payment_model.joblib"
    joblib.dump(model, path)
    history.to_parquet(folder / "history.parquet", index=False)
    items.to_parquet(folder / "items.parquet", index=False)    # after today's cash: the shards take theirs
    customer_count = len(profile_ids(history, items, customers))
    split = shard_list(customer_count, settings.shard_customers) if shards else [WHOLE]
    report = model.report
    training = {"kind": report.kind, "reason": report.reason, "metrics": report.metrics, "rows": report.rows,
                "artifact_path": str(path) if report.kind == "gbm" else "",
                "artifact_sha256": sha256_of(path) if report.kind == "gbm" else "",
                "usual_fallback": idle_usual_median(history, idle_customers(history, items, customers)),
                "shards": [list(s) for s in split], "trained_at": now.isoformat()}
    (folder / "training.json").write_text(json.dumps(training, default=float))
    metric = report.metrics.get
    log.info("model of %s: %s (%s); scoring %d customers in %d shard(s)", as_of, report.kind, report.reason,
             customer_count, len(split))
    return {"as_of": as_of.isoformat(), "model": report.kind,
            "auc": round(metric("auc"), 4) if metric("auc") is not None else None, "shards": training["shards"]}


def _part_dir(settings: WaveSettings, as_of: dt.date, shard: Shard) -> Path:
    return _scores_dir(settings, as_of) / f"shard-{shard[0]}-of-{shard[1]}"


def score_shard(settings: WaveSettings, as_of: dt.date, shard: Shard = WHOLE) -> dict:
    """Scoring, step 2 (mapped over the shards): profiles, predictions and drivers of the
    customers of `shard`, with the run's model, into `scores/shard-<i>-of-<n>/`."""
    import joblib

    from receivables.scoring.portfolio import score_part
    from receivables.warehouse.store import read_customers

    shard = check(shard)
    folder = _scores_dir(settings, as_of)
    training = json.loads((folder / "training.json").read_text())
    if list(shard) not in training["shards"]:
        raise ValueError(f"shard {shard[0]} of {shard[1]} is not one of this run's {training['shards']}")
    model = joblib.load(run_dir(settings, as_of) / "late_payment_model.joblib")
    engine = _engine(settings)
    items = only(pd.read_parquet(folder / "items.parquet"), shard).reset_index(drop=True)
    portfolio = pd.read_parquet(folder / "history.parquet")     # a shard's customers: their rows of it
    sharded = shard[1] > 1
    history = only(portfolio, shard).reset_index(drop=True) if sharded else portfolio
    with engine.connect() as conn:
        customers = only(read_customers(conn), shard).reset_index(drop=True)
        recorded = _recorded_registers(conn, shard)
    part = score_part(model, history, customers, items, as_of, default_terms_days=settings.default_terms_days,
                      ledger_currency=settings.ledger_currency, country=settings.country,
                      usual_fallback=training["usual_fallback"], portfolio=portfolio if sharded else None,
                      **recorded)
    out = _part_dir(settings, as_of, shard)
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    part.profiles.to_parquet(staging / "profiles.parquet", index=False)
    part.predictions.to_parquet(staging / "predictions.parquet", index=False)
    part.customer_p.to_parquet(staging / "customer_p.parquet", index=False)
    part.drivers.rename("drivers").rename_axis("customer_id").reset_index().to_parquet(staging / "drivers.parquet",
                                                                                        index=False)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(staging, out)
    return {"as_of": as_of.isoformat(), **({"shard": list(shard)} if sharded else {}),
            "customers": len(part.profiles), "invoices_scored": len(part.predictions)}


def publish_scores(settings: WaveSettings, as_of: dt.date, *, now: dt.datetime) -> dict:
    """Scoring, step 3 (once): every shard's customers ranked together (the risk score weighs
    the exposure's rank across the portfolio) and written with the model's row, replacing
    those of `as_of`."""
    import joblib

    from receivables.scoring.portfolio import ScoredPart, rank_risk
    from receivables.warehouse.store import replace_scores

    folder = _scores_dir(settings, as_of)
    training = json.loads((folder / "training.json").read_text())
    model = joblib.load(run_dir(settings, as_of) / "late_payment_model.joblib")
    parts = []
    for shard in training["shards"]:
        part = _part_dir(settings, as_of, tuple(shard))
        if not part.exists():
            raise RuntimeError(f"{part}: shard {shard[0]} of {shard[1]} was not scored")
        drivers = pd.read_parquet(part / "drivers.parquet")
        parts.append(ScoredPart(profiles=pd.read_parquet(part / "profiles.parquet"),
                                predictions=pd.read_parquet(part / "predictions.parquet"),
                                customer_p=pd.read_parquet(part / "customer_p.parquet"),
                                drivers=pd.Series(drivers["drivers"].to_numpy(), index=drivers["customer_id"])))
    result = rank_risk(parts, model)
    report = result.model.report
    metric = report.metrics.get
    with _engine(settings).begin() as conn:
        replace_scores(conn, as_of, profiles=result.profiles,
                       predictions=result.predictions.assign(model_kind=report.kind), risk=result.risk, model={
                           "kind": report.kind, "reason": report.reason, "auc": metric("auc"),
                           "brier": metric("brier"), "auc_30": metric("auc_30"), "brier_30": metric("brier_30"),
                           "mae_days": metric("mae_days"), "rows": json.dumps(report.rows),
                           "metrics": json.dumps(report.metrics), "artifact_path": training["artifact_path"],
                           "artifact_sha256": training["artifact_sha256"], "trained_at": now})
    classes = result.risk["risk_class"].value_counts()
    summary = {"as_of": as_of.isoformat(), "model": report.kind, "reason": report.reason,
               "auc": round(metric("auc"), 4) if metric("auc") is not None else None,
               "customers": len(result.risk), "invoices_scored": len(result.predictions),
               "risk_classes": {c: int(classes.get(c, 0)) for c in ("low", "medium", "high", "critical")}}
    log.info("scores of %s: %s", as_of, summary)
    return summary


def score_customers(settings: WaveSettings, as_of: dt.date, *, now: dt.datetime) -> dict:
    """Payer profiles, a prediction per open invoice and a risk score per customer for `as_of`,
    from the ledger as it stood then and today's cash; the fitted model goes to the run folder.
    The three steps in one process (the DAG maps step 2 over customer shards)."""
    train_scoring_model(settings, as_of, now=now, shards=False)
    score_shard(settings, as_of, WHOLE)
    return publish_scores(settings, as_of, now=now)


def import_registers(settings: WaveSettings, *, now: dt.datetime) -> dict:
    """Upsert the register files named in the settings (disputes, promises, payment plans); each
    file is all or nothing (`registers.RegisterError` lists every bad cell)."""
    from receivables.scenarios.registers import read_register
    from receivables.warehouse.store import upsert_register

    counts = {}
    files = {"disputes": settings.disputes_file, "promises": settings.promises_file,
             "payment_plans": settings.payment_plans_file}
    with _engine(settings).begin() as conn:
        for kind, path in files.items():
            if path:
                counts[kind] = upsert_register(conn, kind, read_register(Path(path), kind), now=now)
    return counts


def plan_inputs(engine, settings: WaveSettings, as_of: dt.date, shard: Shard = WHOLE) -> dict:  # noqa: ANN001
    """Everything `plan_actions` needs on `as_of`, from the warehouse (after today's cash); with
    a `shard`, for that shard's customers (planning is per customer)."""
    from receivables.scenarios.legal import LegalRulesError, load_rules
    from receivables.scenarios.registers import planning_registers
    from receivables.warehouse.store import (
        previous_overdue_invoices,
        read_allocations,
        read_done_steps,
        read_register_table,
        read_risk,
    )

    _, customers, items, _ = open_items_after_cash(engine, settings, as_of, shard)
    with engine.connect() as conn:
        customers = with_suppressed_channels(conn, customers)
        registers = planning_registers(items, as_of, disputes=only(read_register_table(conn, "disputes"), shard),
                                       promises=only(read_register_table(conn, "promises"), shard),
                                       plans=only(read_register_table(conn, "payment_plans"), shard))
        # the step register is read for the cycles still open only: due on or after the earliest due date
        due = [pd.to_datetime(d).min() for d in (items.loc[items["item_type"] == "invoice", "due_date"],
                                                 registers["instalments"]["due_date"]) if len(d)]
        done = only(read_done_steps(conn, as_of, since_due=min(due).date() if due else None), shard)
        risk = only(read_risk(conn, as_of), shard)
        allocations = only(read_allocations(conn, as_of), shard)
        before = only(previous_overdue_invoices(conn, as_of), shard)
    still_open = items[(items["item_type"] == "invoice") & (items["open_minor"] > 0)]
    settled = before.merge(still_open[["customer_id", "invoice_id"]], on=["customer_id", "invoice_id"],
                           how="left", indicator=True)
    settled = settled[settled["_merge"] == "left_only"].drop(columns="_merge")
    try:
        legal = load_rules(settings.country)
    except LegalRulesError as error:   # no rules for that country: formal notices are held, with the reason
        log.warning("%s", error)
        legal = None
    return {"items": items, "customers": customers, "risk": risk, "done": done, **registers, "settled": settled,
            "legal": legal,
            # a payment matched today, even one a human must still confirm, stops its reminders
            "paid_today": allocations.loc[allocations["invoice_id"] != "", ["customer_id", "invoice_id"]]}


def with_suppressed_channels(conn, customers: pd.DataFrame) -> pd.DataFrame:  # noqa: ANN001
    """The master with the channels whose address bounced, was reported as spam, unsubscribed or
    said STOP added to `opt_out_channels`: the planner then uses the step's fallback channel."""
    from sqlalchemy import select

    from receivables.warehouse.schema import contact_suppressions

    gone = pd.read_sql(select(contact_suppressions.c.customer_id, contact_suppressions.c.channel)
                       .where(contact_suppressions.c.customer_id != "").distinct(), conn)
    if gone.empty or customers.empty:
        return customers
    extra = gone.groupby("customer_id")["channel"].agg(lambda c: " ".join(sorted(set(c))))
    added = customers["customer_id"].astype(str).map(extra).fillna("")
    return customers.assign(opt_out_channels=(customers["opt_out_channels"].fillna("").astype(str) + " " + added)
                            .str.strip())


def scenario_policy(settings: WaveSettings):  # noqa: ANN201
    from receivables.scenarios.policy import default_policy_path, load_policy

    return load_policy(Path(settings.scenarios_file) if settings.scenarios_file else default_policy_path())


def plan_shards(settings: WaveSettings, *, now: dt.datetime) -> dict:
    """Before a planning run in shards: import the register files once (every shard reads them),
    and split the customers into shards of `settings.shard_customers` (one shard for a portfolio
    that size or smaller). Returns {"registers_imported", "customers", "shards": [[i, n], ...]}."""
    from sqlalchemy import func, select

    from receivables.warehouse.schema import customers

    imported = import_registers(settings, now=now)
    with _engine(settings).connect() as conn:
        count = conn.execute(select(func.count()).select_from(customers)).scalar_one()
    shards = shard_list(count, settings.shard_customers)
    log.info("planning %d customers in %d shard(s) of at most %d", count, len(shards), settings.shard_customers)
    return {"registers_imported": imported, "customers": count, "shards": [list(s) for s in shards]}


def plan_collection_actions(settings: WaveSettings, as_of: dt.date, *, now: dt.datetime, shard: Shard = WHOLE,
                            import_first: bool = True) -> dict:
    """Today's collection actions from the scenarios, written to `collection_actions` (replacing
    those of `as_of`: planning the same day twice gives the same actions), with the step register
    and the promises judged after today's cash.

    `shard` (i, n): plan the customers of that shard only and replace only their rows (the DAG
    maps this over `plan_shards`, which imports the registers first: `import_first=False`)."""
    from receivables.scenarios.planner import plan_actions
    from receivables.warehouse.store import replace_plan, save_promise_verdicts

    shard = check(shard)
    policy = scenario_policy(settings)
    imported = import_registers(settings, now=now) if import_first else {}
    engine = _engine(settings)
    inputs = plan_inputs(engine, settings, as_of, shard)
    judged = inputs["promises"]
    result = plan_actions(inputs.pop("items"), inputs.pop("customers"), inputs.pop("risk"), policy, as_of,
                          country=settings.country, **inputs)
    with engine.begin() as conn:
        replace_plan(conn, as_of, actions=result.actions, lines=result.lines, skipped=result.skipped, shard=shard)
        save_promise_verdicts(conn, judged)
    actions = result.actions
    summary = {"as_of": as_of.isoformat(), **({"shard": list(shard)} if shard[1] > 1 else {}),
               "policy": policy.source, "registers_imported": imported,
               "actions": len(actions), "invoices": int(result.lines["invoice_id"].nunique()),
               "per_channel": {str(k): int(v) for k, v in actions["channel"].value_counts().sort_index().items()},
               "per_step": {str(k): int(v) for k, v in actions["step_id"].value_counts().sort_index().items()},
               "awaiting_approval": int(actions["requires_approval"].astype(bool).sum()),
               "on_hold": int((actions["hold_reason"] != "").sum()),
               "skipped": {str(k): int(v) for k, v in result.skipped["reason"].value_counts().sort_index().items()},
               "promises": {str(k): int(v) for k, v in judged["status"].value_counts().sort_index().items()}
               if not judged.empty else {}}
    for reason in sorted(set(actions.loc[actions["hold_reason"] != "", "hold_reason"])):
        log.warning("actions on hold: %s", reason)
    log.info("collection plan of %s: %s", as_of, summary)
    return summary
