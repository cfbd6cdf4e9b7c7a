"""Benchmark (issue 4): the late-payment model against two naive baselines, then at scale.

    python bench/scoring.py                           # quality (4 portfolios), then the scale run
    python bench/scoring.py --quick --no-scale        # the default portfolio's quality only
    python bench/scoring.py --no-scale
    python bench/scoring.py --scale-customers 20000

1. Quality, with outcomes the model cannot see. The demo generator writes a ledger that runs
   past the evaluation date: 27 months ending 2026-03-31, so the 18 months before
   as_of = 2025-06-30 are the demo's history and the 9 months after hold what really happened.
   The model is scored on as_of exactly as in production:
   `score_portfolio(lines, customers, open_items(lines, customers, as_of), as_of)` (history and
   open items are cut at as_of; the leak check below verifies it). Truth, per invoice open on
   as_of: its settlement date as the full ledger shows it on 2026-03-31
   (`invoice_history(lines, customers, end)`), D = settlement date - due date in days.
   - late = D > 0; an invoice still unpaid at the end (due before it) is late;
   - more than 30 days late = D > 30; unpaid at the end and due more than 30 days before it
     counts as > 30, an unpaid invoice due less than 30 days before the end is left out;
   - AUC and Brier score (sklearn.metrics) of p_late and p_late_30, MAE in days of
     expected_payment_date against the settlement date (invoices still unpaid at the end are
     censored: left out of the MAE, and counted).
   Two populations: (a) the open invoices not yet due on as_of (days_overdue <= 0), the real
   prediction problem and the headline; (b) every open invoice. On (b) the overdue invoices
   are late by definition and the model knows it (p_late = 1), the baselines do not.
   Baselines, on the same rows, from the history as it stood on as_of
   (`invoice_history(lines, customers, as_of)`, settled invoices only):
   - late rate: the customer's share of invoices paid after the due date (its share paid more
     than 30 days late for p_late_30); expected date = due date + late rate x the portfolio's
     mean days late of the late-paid invoices;
   - mean days late: the customer's mean D, the AUC score of both questions (no Brier: it is
     not a probability); expected date = due date + mean D.
   A customer with no settled invoice gets the portfolio's figure; like the model's, a
   baseline's expected date is never before as_of + 1 day.
   Targets, on (a): AUC of p_late and MAE better than both baselines; AUC >= 0.80.
   The default portfolio (300 customers, seed 42, the demo's size) is detailed; seeds 43 and 44
   and a 3,000-customer portfolio get one line each.
   Leak check: the default portfolio is scored again on the ledger as it would have been
   exported on as_of (no line after it; lettering dated after it removed): the predictions must
   be identical.
2. Scale: a portfolio with about 100,000 open invoices on as_of (18 months of history ending
   on as_of, ~47,500 customers), scored in a child process. The FEC is generated and read once,
   then cached as parquet, so the child's peak memory is the parquet load + open items +
   scoring, not the FEC parser's. In the child: open_items is timed on its own, then
   score_portfolio end to end and per stage (the functions score_portfolio calls by name, and
   inside train the model module's own, are wrapped with timers in the child; the source files
   are untouched). Peak RSS from `resource.getrusage(RUSAGE_CHILDREN)` of a small runner process
   that only starts the child (a process's ru_maxrss starts at its parent's peak, so measured
   from this script the generator's memory would count). Target: score_portfolio <= 60 s.
   The quality runs use one OpenMP thread (threadpoolctl; the figures are the same with two,
   and a busy neighbour on the 2-core machine slows multi-threaded fitting down many times); the
   scale run uses the default, as in production, and prints the load average before it.

Everything generated goes under bench/out/scoring/ (git-ignored), one folder per portfolio
(customers, months, end, seed and the generator's hash), plus `predictions_seed42.csv`: the
default portfolio's open invoices with predictions, baselines and truth.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "scoring"

AS_OF = dt.date(2025, 6, 30)
END = dt.date(2026, 3, 31)          # the ledger runs 9 months past as_of: the outcomes
MONTHS = 27                         # 18 months of history before as_of, as in the demo
HISTORY_MONTHS = 18
TARGETS = {"auc": 0.80, "scale_seconds": 60.0}
MODELS = ("model", "late_rate", "mean_days_late")
LABELS = {"model": "our model", "late_rate": "baseline: late rate", "mean_days_late": "baseline: mean days late"}


# -- data ------------------------------------------------------------------------------------------

def portfolio(customers: int, months: int, end: dt.date, seed: int) -> tuple[Path, str]:
    """(folder, how it was obtained): the portfolio is generated and read once, then cached as parquet."""
    from receivables.demo import generator

    version = hashlib.sha1(Path(generator.__file__).read_bytes()).hexdigest()[:8]   # a new generator, new data
    folder = OUT / f"c{customers}_m{months}_e{end:%Y%m%d}_s{seed}_{version}"
    if (folder / "customers.parquet").exists():
        return folder, "cached"
    from receivables.ledger.customers import read_customer_master
    from receivables.ledger.sources import read_ledger

    t = time.perf_counter()
    made = generator.generate_portfolio(folder, customers=customers, months=months, end=end, seed=seed)
    read_ledger(made["fec"]).lines.to_parquet(folder / "lines.parquet")
    read_customer_master(made["customers_csv"]).customers.to_parquet(folder / "customers.parquet")
    return folder, f"generated and read in {time.perf_counter() - t:.1f} s"


def load(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ledger lines, customer master) of a cached portfolio."""
    return pd.read_parquet(folder / "lines.parquet"), pd.read_parquet(folder / "customers.parquet")


def cut_at(lines: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The ledger as exported on `as_of`: no line after it, lettering dated after it not done yet."""
    cutoff = pd.Timestamp(as_of)
    cut = lines[lines["entry_date"] <= cutoff].copy()
    later = cut["let_date"] > cutoff
    cut.loc[later, "let_code"] = ""
    cut.loc[later, "let_date"] = pd.NaT
    return cut


# -- quality ---------------------------------------------------------------------------------------

def outcomes(predictions: pd.DataFrame, lines: pd.DataFrame, customers: pd.DataFrame, end: dt.date) -> pd.DataFrame:
    """The predictions with their truth: settle_date by `end`, D, late and late_30 (NaN: unknown)."""
    from receivables.scoring.history import invoice_history

    keys = ["customer_id", "invoice_id", "currency"]
    final = invoice_history(lines, customers, end)[keys + ["settle_date"]]
    rows = predictions.merge(final, on=keys, how="left", validate="one_to_one", indicator=True)
    if (rows["_merge"] != "both").any():
        raise AssertionError(f"{(rows['_merge'] != 'both').sum()} open invoices missing from the history of {end}")
    rows = rows.drop(columns="_merge")
    cutoff = pd.Timestamp(end)
    days = (rows["settle_date"] - rows["due_date"]).dt.days.astype("float64")
    settled = rows["settle_date"].notna()
    rows["D"] = days
    rows["late"] = np.where(settled, days > 0, np.where(rows["due_date"] < cutoff, 1.0, np.nan))
    rows["late_30"] = np.where(settled, days > 30,
                               np.where(rows["due_date"] + pd.Timedelta(days=30) < cutoff, 1.0, np.nan))
    return rows


def add_baselines(rows: pd.DataFrame, lines: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Per row: both baselines' scores and expected payment dates, from the history of `as_of`."""
    from receivables.scoring.history import invoice_history

    history = invoice_history(lines, customers, as_of)
    settled = history[history["settle_date"].notna()]
    d = (settled["settle_date"] - settled["due_date"]).dt.days.astype("float64")
    outcome = pd.DataFrame({"late": d > 0, "late_30": d > 30, "days": d}).astype("float64")
    per_customer = outcome.groupby(settled["customer_id"].to_numpy()).mean()
    for column, key in (("late_rate", "late"), ("late_rate_30", "late_30"), ("mean_days_late", "days")):
        rows[column] = rows["customer_id"].map(per_customer[key]).fillna(outcome[key].mean()).astype("float64")
    mean_late_days = d[d > 0].mean()
    floor = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    for name, days in (("late_rate", rows["late_rate"] * mean_late_days), ("mean_days_late", rows["mean_days_late"])):
        rows[f"{name}_date"] = (rows["due_date"] + pd.to_timedelta(np.rint(days), unit="D")).clip(lower=floor)
    return rows


def scores(rows: pd.DataFrame) -> dict:
    """Per system: (p_late score, p_late_30 score, expected date, is a probability)."""
    return {"model": (rows["p_late"], rows["p_late_30"], rows["expected_payment_date"], True),
            "late_rate": (rows["late_rate"], rows["late_rate_30"], rows["late_rate_date"], True),
            "mean_days_late": (rows["mean_days_late"], rows["mean_days_late"], rows["mean_days_late_date"], False)}


def metrics(rows: pd.DataFrame) -> dict:
    """Per system: auc, brier, auc_30, mae (NaN where undefined), on `rows`."""
    from sklearn.metrics import brier_score_loss, roc_auc_score

    def auc(y: pd.Series, s: pd.Series) -> float:
        known = y.notna()
        return float(roc_auc_score(y[known].astype(int), s[known])) if y[known].nunique() == 2 else float("nan")

    def brier(y: pd.Series, p: pd.Series) -> float:
        known = y.notna()
        return float(brier_score_loss(y[known].astype(int), p[known])) if known.any() else float("nan")

    settled = rows["settle_date"].notna()
    out = {}
    for name, (p, p30, date, probability) in scores(rows).items():
        out[name] = {
            "auc": auc(rows["late"], p), "auc_30": auc(rows["late_30"], p30),
            "brier": brier(rows["late"], p) if probability else float("nan"),
            "mae": float((date[settled] - rows.loc[settled, "settle_date"]).dt.days.abs().mean()),
        }
    return out


def evaluate(lines: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date, end: dt.date) -> dict:
    from receivables.ledger.open_items import open_items
    from receivables.scoring.portfolio import score_portfolio

    t = time.perf_counter()
    result = score_portfolio(lines, customers, open_items(lines, customers, as_of), as_of)
    seconds = time.perf_counter() - t
    rows = add_baselines(outcomes(result.predictions, lines, customers, end), lines, customers, as_of)
    not_due = rows[rows["days_overdue"] <= 0]
    return {"result": result, "rows": rows, "seconds": seconds,
            "not_due": metrics(not_due), "all": metrics(rows),
            "counts": {"all": len(rows), "not_due": len(not_due),
                       "censored_all": int(rows["settle_date"].isna().sum()),
                       "censored_not_due": int(not_due["settle_date"].isna().sum()),
                       "unknown_30_not_due": int(not_due["late_30"].isna().sum())}}


def beats(ev: dict) -> bool:
    """On the invoices not yet due: a higher AUC of p_late and a lower MAE than both baselines."""
    m = ev["not_due"]
    return all(m["model"]["auc"] > m[b]["auc"] and m["model"]["mae"] < m[b]["mae"] for b in MODELS[1:])


def leak_check(lines: pd.DataFrame, customers: pd.DataFrame, as_of: dt.date, predictions: pd.DataFrame) -> str:
    from receivables.ledger.open_items import open_items
    from receivables.scoring.portfolio import score_portfolio

    cut = cut_at(lines, as_of)
    again = score_portfolio(cut, customers, open_items(cut, customers, as_of), as_of).predictions
    try:
        pd.testing.assert_frame_equal(predictions, again)
    except AssertionError as error:
        return "LEAK: the predictions differ with the ledger cut at as_of:\n" + textwrap.indent(str(error), "    ")
    return (f"no leak: the predictions are identical with the ledger cut at as_of "
            f"({len(cut):,} of {len(lines):,} lines, lettering after as_of removed)")


def scoring_version() -> str:
    """Which scoring code was measured: a hash of its files and their git state (others edit them)."""
    from receivables import scoring

    folder = Path(scoring.__file__).parent
    digest = hashlib.sha1(b"".join(p.read_bytes() for p in sorted(folder.glob("*.py")))).hexdigest()[:10]
    done = subprocess.run(["git", "status", "--porcelain", "--", str(folder)], capture_output=True, text=True,
                          cwd=folder)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=folder)
    state = done.stdout.strip()[:2] or "committed"
    return f"scoring code: {folder} sha1 {digest} (git HEAD {head.stdout.strip()}, state {state!r})"


# -- printing --------------------------------------------------------------------------------------

def fmt(x: float, pattern: str = "{:.3f}") -> str:
    return "-" if x != x else pattern.format(x)


def print_quality(ev: dict) -> None:
    c = ev["counts"]
    head = ["AUC late", "Brier late", "AUC >30", "MAE days", "AUC late", "MAE days"]
    sub = ["(not due)"] * 4 + ["(all)"] * 2
    print(f"  {'':28}" + "".join(f"{h:>11}" for h in head))
    print(f"  {'':28}" + "".join(f"{s:>11}" for s in sub))
    for name in MODELS:
        a, b = ev["not_due"][name], ev["all"][name]
        cells = [fmt(a["auc"]), fmt(a["brier"]), fmt(a["auc_30"]), fmt(a["mae"], "{:.1f}"), fmt(b["auc"]),
                 fmt(b["mae"], "{:.1f}")]
        label = LABELS[name] + (f" ({ev['result'].model.kind})" if name == "model" else "")
        print(f"  {label:28}" + "".join(f"{x:>11}" for x in cells))
    print(f"  rows: {c['not_due']:,} open invoices not yet due, {c['all']:,} in all; AUC >30 leaves out "
          f"{c['unknown_30_not_due']:,} not yet due (unpaid on {END}, due less than 30 days before it);\n"
          f"  MAE on the invoices settled by {END}: {c['censored_not_due']:,} not yet due and {c['censored_all']:,} "
          f"in all still unpaid then (censored, left out)")


def print_targets(ev: dict) -> None:
    m = ev["not_due"]
    auc, mae = m["model"]["auc"], m["model"]["mae"]
    print(f"  beats both baselines on AUC and MAE (not yet due): {'PASS' if beats(ev) else 'FAIL'} "
          f"(AUC {fmt(auc)} vs {fmt(m['late_rate']['auc'])} / {fmt(m['mean_days_late']['auc'])}, "
          f"MAE {fmt(mae, '{:.1f}')} vs {fmt(m['late_rate']['mae'], '{:.1f}')} / "
          f"{fmt(m['mean_days_late']['mae'], '{:.1f}')} days)")
    print(f"  AUC >= {TARGETS['auc']:.2f} on the default portfolio (not yet due): "
          f"{'PASS' if auc >= TARGETS['auc'] else 'FAIL'} ({fmt(auc)})")


def print_report(model) -> None:  # noqa: ANN001
    report = model.report
    print(f"  model report: kind {report.kind!r}" + (f", note {report.reason!r}" if report.reason else "")
          + ", rows " + ", ".join(f"{k} {v:,}" for k, v in report.rows.items()))
    print("  internal metrics (newest 15 % of the history before as_of): "
          + ", ".join(f"{k} {v:.3f}" for k, v in report.metrics.items()))


def one_line(label: str, ev: dict) -> str:
    m, c = ev["not_due"], ev["counts"]
    trio = lambda key, p: " / ".join(fmt(m[n][key], p) for n in MODELS)  # noqa: E731
    return (f"  {label:<24} {ev['result'].model.kind:>5} {c['not_due']:>6,} / {c['all']:>6,} "
            f" AUC {trio('auc', '{:.3f}')}  AUC>30 {trio('auc_30', '{:.3f}')}  MAE {trio('mae', '{:.1f}')}"
            f"  AUC all {fmt(ev['all']['model']['auc'])}  beats both: {'yes' if beats(ev) else 'NO'}"
            f"  ({ev['seconds']:.1f} s)")


def quality(args) -> None:  # noqa: ANN001
    folder, how = portfolio(300, MONTHS, END, 42)
    lines, customers = load(folder)
    print(f"== quality on {AS_OF}: 300 customers, seed 42, {len(lines):,} ledger lines over {MONTHS} months "
          f"ending {END} ({how}: {folder})")
    ev = evaluate(lines, customers, AS_OF, END)
    print(f"  scored in {ev['seconds']:.1f} s (one thread)\n")
    print_quality(ev)
    print()
    print_targets(ev)
    print_report(ev["result"].model)
    print(f"  {leak_check(lines, customers, AS_OF, ev['result'].predictions)}")
    ev["rows"].to_csv(OUT / "predictions_seed42.csv", index=False)
    if args.quick:
        return
    print("\n== the same on other portfolios (not yet due: model / late rate / mean days late)")
    print(f"  {'portfolio':<24} {'kind':>5} {'not due / open':>15}")
    for customers_n, seed in ((300, 43), (300, 44), (3_000, 42)):
        lines, customers = load(portfolio(customers_n, MONTHS, END, seed)[0])
        print(one_line(f"{customers_n:,} customers, seed {seed}", evaluate(lines, customers, AS_OF, END)))


# -- the scale child -------------------------------------------------------------------------------

def child(folder: str) -> None:
    from receivables.ledger.open_items import open_items
    from receivables.scoring import model as model_module
    from receivables.scoring import portfolio as portfolio_module

    from stage_timer import StageTimer

    timer = StageTimer()
    timings = timer.seconds
    stages = timer.wrap_calls(portfolio_module.score_portfolio, portfolio_module, "receivables.scoring")
    timer.wrap_calls(model_module.train, model_module, "receivables.scoring", prefix="train > ", nested=True)

    t = time.perf_counter()
    lines, customers = load(Path(folder))
    load_s, load_gb = time.perf_counter() - t, own_peak_gb()
    t = time.perf_counter()
    items = open_items(lines, customers, AS_OF)
    open_s, open_gb = time.perf_counter() - t, own_peak_gb()
    t = time.perf_counter()
    result = portfolio_module.score_portfolio(lines, customers, items, AS_OF)
    total = time.perf_counter() - t
    print(json.dumps({
        "load": load_s, "open_items": open_s, "score": total, "stages": stages, "timings": timings,
        "load_gb": load_gb, "open_items_gb": open_gb,
        "lines": len(lines), "customers": len(customers), "open_invoices": int((items["item_type"] == "invoice").sum()),
        "kind": result.model.kind, "reason": result.model.report.reason, "rows": result.model.report.rows,
        "metrics": result.model.report.metrics}))


def own_peak_gb() -> float:
    """This process's own peak RSS (VmHWM: its memory since it started, nothing inherited)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024 / 1024


def runner(folder: str, timeout: int) -> None:
    """Run the child and add its peak RSS and CPU time, from RUSAGE_CHILDREN of this process that does
    nothing else: a process's ru_maxrss starts at its parent's peak when it is spawned, so measured from
    the benchmark itself the generator's and the quality run's memory would count."""
    try:
        done = subprocess.run([sys.executable, __file__, "--child", folder], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        print(json.dumps({"error": f"TIMEOUT: no result after {timeout} s (the child was stopped)"}))
        return
    if done.returncode:
        print(json.dumps({"error": f"CRASH (exit {done.returncode}):\n" + done.stderr[-3000:]}))
        return
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = json.loads(done.stdout.strip().splitlines()[-1])
    r.update(peak_gb=usage.ru_maxrss / 1024 / 1024, cpu=usage.ru_utime + usage.ru_stime)
    print(json.dumps(r))


def scale(args) -> None:  # noqa: ANN001
    folder, how = portfolio(args.scale_customers, HISTORY_MONTHS, AS_OF, args.seed)
    print(f"\n== scale: {args.scale_customers:,} customers, {HISTORY_MONTHS} months ending {AS_OF} ({how}: {folder})")
    print(f"  load average before the run (2 cores): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--runner", str(folder), "--scale-timeout", str(args.scale_timeout)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        print(f"  CRASH of the runner (exit {done.returncode}):\n" + done.stderr[-3000:])
        return
    r = json.loads(done.stdout.strip().splitlines()[-1])
    if "error" in r:
        print("  " + r["error"])
        return
    print(f"  {r['lines']:,} ledger lines, {r['customers']:,} customers, {r['open_invoices']:,} open invoices on "
          f"{AS_OF}; model {r['kind']!r}" + (f" ({r['reason']})" if r["reason"] else "")
          + ", rows " + ", ".join(f"{k} {v:,}" for k, v in r["rows"].items()))
    print(f"  {'load parquet (not counted)':<44}{r['load']:8.1f} s")
    print(f"  {'open_items (not counted)':<44}{r['open_items']:8.1f} s")
    timings = r["timings"]
    for name in r["stages"]:
        print(f"  {'score_portfolio > ' + name:<44}{timings.get(name, 0.0):8.1f} s")
        if name == "train":
            inside = {sub: seconds for sub, seconds in timings.items() if sub.startswith("train > ")}
            for sub, seconds in inside.items():
                print(f"  {'    ' + sub:<44}{seconds:8.1f} s")
            print(f"  {'    train > other':<44}"
                  f"{timings.get('train', 0.0) - sum(inside.values()):8.1f} s")
    staged = sum(timings.get(name, 0.0) for name in r["stages"])
    print(f"  {'score_portfolio > other (outside the stages)':<44}{r['score'] - staged:8.1f} s")
    print(f"  {'score_portfolio (total)':<44}{r['score']:8.1f} s   target <= {TARGETS['scale_seconds']:g} s: "
          f"{'PASS' if r['score'] <= TARGETS['scale_seconds'] else 'FAIL'}")
    print(f"  open_items + score_portfolio {r['open_items'] + r['score']:.1f} s; child wall incl. imports and load "
          f"{wall:.1f} s, CPU {r['cpu']:.1f} s (user + sys)")
    print(f"  peak RSS (RUSAGE_CHILDREN) {r['peak_gb']:.2f} GB (after the load {r['load_gb']:.2f} GB, "
          f"after open_items {r['open_items_gb']:.2f} GB)")
    print("  internal metrics: " + ", ".join(f"{k} {v:.3f}" for k, v in r["metrics"].items()))


# -- main ------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="quality on the default portfolio only (the scale run still runs unless --no-scale)")
    parser.add_argument("--scale", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--scale-customers", type=int, default=47_500,
                        help="customers of the scale portfolio (47,500: about 100,000 open invoices)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the scale portfolio")
    parser.add_argument("--scale-timeout", type=int, default=1800)
    parser.add_argument("--runner", help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    if args.runner:
        runner(args.runner, args.scale_timeout)
        return
    if args.child:
        child(args.child)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    print(scoring_version())
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):   # same figures, and robust to a busy neighbour on a 2-core machine
        quality(args)
    if args.scale:
        scale(args)


if __name__ == "__main__":
    main()
