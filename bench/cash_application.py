"""Benchmark: cash application (our matching engine) against the Odoo/OCA invoice_matching model.

    python bench/cash_application.py                       # 5,000 lines x 50,000 items, then the scale run
    python bench/cash_application.py --lines 2000 --items 20000 --no-scale
    python bench/cash_application.py --scale-lines 100000 --scale-items 1000000 --profile

1. Quality, on a labelled set from bench/matching_data.py (categories and shares there): both
   systems run on the same lines; each prediction is scored against the truth.
   - allocation level: a predicted (line, invoice, amount) is correct when it is in the truth;
     precision = correct / predicted, recall = correct / truth allocations. Cash only: write-off
     rows (bank charges proposed for writing off) and on-account rows (no invoice) are not
     allocations; two rows of one line on one invoice are summed;
   - line level: a line is right when its set of (invoice, amount) equals the truth (for a line
     whose truth is "none": when nothing is allocated); precision over the lines with a
     prediction, recall over the lines with a truth;
   - `auto` = the rows the system would post on its own; `auto+sugg` = every proposal.
   Targets: auto precision >= 99.9 %, auto recall >= 95 % (allocation level).
2. Scale: 100,000 lines x 1,000,000 items, our engine only, in a child process (the data are
   generated here and cached as parquet under bench/out/, so the child's peak memory is the
   load + match); wall time per stage (the engine's stage functions are wrapped with timers in the
   child, the engine file is untouched) and peak RSS (`resource.getrusage(RUSAGE_CHILDREN)`).
   Targets: <= 20 s and <= 4 GB. The baseline then runs at the same size in its own child
   (--no-scale-baseline to skip it; --baseline-scale-lines/--baseline-scale-items to shrink it).

Everything generated goes under bench/out/ (git-ignored): the data sets, the scored lines of each
system (`scored_<system>.csv`) and the engine's failing lines (`failures_engine.csv`).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "cash_application"
sys.path.insert(0, str(HERE))

TARGETS = {"auto_precision": 0.999, "auto_recall": 0.95, "scale_seconds": 20.0, "scale_gb": 4.0}


# -- scoring ----------------------------------------------------------------------------------------

def cash_rows(pred: pd.DataFrame) -> pd.DataFrame:
    """(bank_line_id, invoice_id, amount_minor, status) cash allocations, one row per line and invoice."""
    rows = pred[(pred["invoice_id"].fillna("") != "") & (pred["rule"] != "write_off")]
    if rows.empty:
        return pd.DataFrame(columns=["bank_line_id", "invoice_id", "amount_minor", "status"])
    return (rows.assign(is_auto=rows["status"] == "auto")
            .groupby(["bank_line_id", "invoice_id"], as_index=False)
            .agg(amount_minor=("amount_minor", "sum"), is_auto=("is_auto", "all"))
            .assign(status=lambda f: np.where(f["is_auto"], "auto", "suggested")).drop(columns="is_auto"))


def _signature(frame: pd.DataFrame) -> pd.Series:
    if frame.empty:
        return pd.Series(dtype=object)
    keyed = frame["invoice_id"] + ":" + frame["amount_minor"].astype("int64").astype(str)
    return keyed.groupby(frame["bank_line_id"]).agg(lambda s: " ".join(sorted(s)))


def score_lines(pred: pd.DataFrame, truth: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Per bank line: truth/predicted counts and correctness at the auto and all levels."""
    cash = cash_rows(pred)
    truth_sig = _signature(truth)
    out = labels.set_index("bank_line_id")[["category", "detail"]].copy()
    out["truth_n"] = truth.groupby("bank_line_id").size().reindex(out.index, fill_value=0)
    out["truth"] = truth_sig.reindex(out.index).fillna("")
    tkey = set(zip(truth["bank_line_id"], truth["invoice_id"], truth["amount_minor"].astype("int64")))
    for level, rows in (("auto", cash[cash["status"] == "auto"]), ("all", cash)):
        hit = np.array([k in tkey for k in zip(rows["bank_line_id"], rows["invoice_id"],
                                               rows["amount_minor"].astype("int64"))], dtype=bool)
        out[f"{level}_n"] = rows.groupby("bank_line_id").size().reindex(out.index, fill_value=0)
        out[f"{level}_ok"] = rows[hit].groupby("bank_line_id").size().reindex(out.index, fill_value=0)
        out[f"{level}_pred"] = _signature(rows).reindex(out.index).fillna("")
        out[f"{level}_line_ok"] = out[f"{level}_pred"] == out["truth"]
    return out


def metrics(scored: pd.DataFrame) -> dict:
    m = {"lines": len(scored), "truth_allocations": int(scored["truth_n"].sum())}
    has_truth = scored["truth_n"] > 0
    for level in ("auto", "all"):
        pred, ok = int(scored[f"{level}_n"].sum()), int(scored[f"{level}_ok"].sum())
        m[f"{level}_precision"] = ok / pred if pred else float("nan")
        m[f"{level}_recall"] = ok / m["truth_allocations"] if m["truth_allocations"] else float("nan")
        m[f"{level}_predicted"] = pred
        m[f"{level}_wrong"] = pred - ok
        with_pred = scored[f"{level}_n"] > 0
        right = scored[f"{level}_line_ok"]
        m[f"{level}_line_precision"] = (right & with_pred).sum() / with_pred.sum() if with_pred.any() else float("nan")
        m[f"{level}_line_recall"] = (right & has_truth).sum() / has_truth.sum() if has_truth.any() else float("nan")
        m[f"{level}_none_left_alone"] = (~with_pred & ~has_truth).sum() / (~has_truth).sum() if (~has_truth).any() \
            else float("nan")
    return m


def pct(x, digits=1) -> str:
    return "   -  " if x != x else f"{100 * x:.{digits}f}%"


# -- running the systems ----------------------------------------------------------------------------

def run_engine(data):
    from receivables.matching.engine import match

    t = time.perf_counter()
    result = match(data.lines, data.items, data.customers, known_accounts=data.known_accounts)
    return result, time.perf_counter() - t


def run_odoo(data):
    import odoo_baseline

    t = time.perf_counter()
    pred = odoo_baseline.match(data.lines, data.items, data.customers, known_accounts=data.known_accounts)
    return pred, time.perf_counter() - t


def get_data(lines: int, items: int, seed: int):
    import matching_data

    import hashlib

    version = hashlib.sha1(Path(matching_data.__file__).read_bytes()).hexdigest()[:8]   # a new generator, new data
    folder = OUT / f"set_{lines}x{items}_seed{seed}_{version}"
    if (folder / "as_of.txt").exists():
        return matching_data.load(folder), folder, None
    t = time.perf_counter()
    data = matching_data.generate(n_lines=lines, n_items=items, seed=seed)
    seconds = time.perf_counter() - t
    matching_data.save(data, folder)
    return data, folder, seconds


# -- printing ----------------------------------------------------------------------------------------

def print_overall(results: dict) -> None:
    names = list(results)
    print(f"{'':34}" + "".join(f"{n:>16}" for n in names) + f"{'target':>12}")
    rows = [("auto: allocation precision", "auto_precision", 2, "auto_precision"),
            ("auto: allocation recall", "auto_recall", 1, "auto_recall"),
            ("auto: line precision", "auto_line_precision", 2, None),
            ("auto: line recall", "auto_line_recall", 1, None),
            ("auto+sugg: allocation precision", "all_precision", 2, None),
            ("auto+sugg: allocation recall", "all_recall", 1, None),
            ("auto+sugg: line precision", "all_line_precision", 2, None),
            ("auto+sugg: line recall", "all_line_recall", 1, None),
            ("'none' lines left alone (auto)", "auto_none_left_alone", 1, None),
            ("'none' lines left alone (all)", "all_none_left_alone", 1, None)]
    for label, key, digits, target in rows:
        cells = "".join(f"{pct(results[n]['metrics'][key], digits):>16}" for n in names)
        tgt = f">= {100 * TARGETS[target]:g}%" if target else ""
        print(f"  {label:32}{cells}{tgt:>12}")
    for label, key in (("auto allocations (wrong)", "auto"), ("all allocations (wrong)", "all")):
        cells = "".join(f"{results[n]['metrics'][key + '_predicted']:>9,} ({results[n]['metrics'][key + '_wrong']:>4,})"
                        for n in names)
        print(f"  {label:32}{cells}")
    print(f"  {'lines without any proposal':32}" + "".join(f"{results[n]['no_proposal']:>16,}" for n in names))
    print(f"  {'run time':32}" + "".join(f"{results[n]['seconds']:>15.1f}s" for n in names))


def print_categories(results: dict, by: list[str]) -> None:
    names = list(results)
    head = f"  {'category' if by == ['category'] else 'category / detail':38}{'lines':>6}{'alloc':>6}"
    sub = "  autoP  autoR   allP   allR lineOK"
    print(head + "".join(f" | {n:^{len(sub) - 2}}" for n in names))
    print(" " * len(head) + "".join(f" |{sub}" for _ in names))
    first = results[names[0]]["scored"]
    for key, g in first.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        label = " / ".join(str(k) for k in key if k != "")[:38]
        cells = []
        for n in names:
            s = results[n]["scored"].loc[g.index]
            m = metrics(s)
            none = s["truth_n"].sum() == 0
            if none:   # P/R undefined: show how many lines got something
                a, b = int((s["auto_n"] > 0).sum()), int((s["all_n"] > 0).sum())
                cells.append(f"   {'falsely allocated: auto':>16} {a:>4} all {b:>4}")
            else:
                cells.append(f"{pct(m['auto_precision']):>7}{pct(m['auto_recall']):>7}{pct(m['all_precision']):>7}"
                             f"{pct(m['all_recall']):>7}{pct(s['auto_line_ok'].mean()):>7}")
        print(f"  {label:38}{len(g):>6}{int(g['truth_n'].sum()):>6}" + "".join(f" | {c}" for c in cells))


# -- the scale child -------------------------------------------------------------------------------

def child(folder: str, system: str, profile: bool) -> None:
    import matching_data

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    data = matching_data.load(folder)
    timings["load parquet"] = time.perf_counter() - t0
    if system == "engine":
        from receivables.matching import engine

        from stage_timer import StageTimer

        # The stages: the engine's own functions that match() calls by name (the engine file is
        # not modified, and the timing follows the engine as it changes).
        timer = StageTimer()
        timer.seconds = timings
        timer.wrap_calls(engine.match, engine, "receivables.matching")
        run = lambda: engine.match(data.lines, data.items, data.customers, known_accounts=data.known_accounts)  # noqa: E731
    else:
        import odoo_baseline

        run = lambda: odoo_baseline.match(data.lines, data.items, data.customers, known_accounts=data.known_accounts)  # noqa: E731
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t = time.perf_counter()
    result = run()
    total = time.perf_counter() - t
    if prof:
        import io
        import pstats

        prof.disable()
        prof.dump_stats(str(Path(folder) / f"profile_{system}.prof"))
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats("tottime").print_stats(18)
        stats.sort_stats("cumulative").print_stats(25)
        (Path(folder) / f"profile_{system}.txt").write_text(buf.getvalue())
    staged = sum(v for k, v in timings.items() if k != "load parquet")
    timings["match (total)"] = total
    if system == "engine":
        timings["other (in match, outside the stages)"] = total - staged
        allocations = result.allocations
        n_exc = len(result.exceptions)
    else:
        allocations, n_exc = result, -1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(json.dumps({"timings": timings, "allocations": len(allocations), "exceptions": n_exc,
                      "engine": engine_version() if system == "engine" else "",
                      "auto_lines": int(allocations.loc[allocations["status"] == "auto", "bank_line_id"].nunique()),
                      "self_peak_gb": peak, "lines": len(data.lines), "items": len(data.items)}))


def scale_run(args, system: str) -> None:
    lines, items = (args.scale_lines, args.scale_items) if system == "engine" else \
        (args.baseline_scale_lines, args.baseline_scale_items)
    data, folder, gen_seconds = get_data(lines, items, args.seed)
    del data
    print(f"\n== scale: {system}, {lines:,} bank lines x {items:,} open items (data "
          + (f"generated in {gen_seconds:.1f} s" if gen_seconds is not None else "cached") + f", {folder})")
    cmd = [sys.executable, __file__, "--child", str(folder), system] + (["--profile"] if args.profile else [])
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.scale_timeout)
    except subprocess.TimeoutExpired:
        print(f"  TIMEOUT: no result after {args.scale_timeout} s (the child was stopped); rerun with --profile "
              f"on a smaller --scale-lines/--scale-items to see where the time goes")
        return
    wall = time.perf_counter() - start
    if done.returncode:
        print(f"  CRASH (exit {done.returncode}):\n" + done.stderr[-3000:])
        return
    result = json.loads(done.stdout.strip().splitlines()[-1])
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    peak_gb = max(after, before) / 1024 / 1024
    if result.get("engine"):
        print(f"  {result['engine']}")
    for stage, seconds in result["timings"].items():
        print(f"  {stage:<40}{seconds:8.1f} s")
    match_s = result["timings"]["match (total)"]
    if system == "engine":
        time_target = (f" (target <= {TARGETS['scale_seconds']:g} s): "
                       f"{'OK' if match_s <= TARGETS['scale_seconds'] else 'OVER'}")
        mem_target = (f" (target <= {TARGETS['scale_gb']:g} GB): "
                      f"{'OK' if result['self_peak_gb'] <= TARGETS['scale_gb'] else 'OVER'}")
    else:
        time_target = mem_target = " (the targets are the engine's)"
    print(f"  match wall time {match_s:.1f} s{time_target}; child wall incl. imports and load {wall:.1f} s")
    print(f"  peak memory (RUSAGE_CHILDREN, max over the children so far) {peak_gb:.2f} GB, "
          f"this child's own {result['self_peak_gb']:.2f} GB{mem_target}")
    print(f"  {result['allocations']:,} allocation rows, lines with an auto allocation {result['auto_lines']:,}"
          + (f", exceptions {result['exceptions']:,}" if result["exceptions"] >= 0 else ""))
    if args.profile:
        print(f"  cProfile: {Path(folder) / f'profile_{system}.txt'}")
        print("\n".join((Path(folder) / f"profile_{system}.txt").read_text().splitlines()[:40]))


# -- main ------------------------------------------------------------------------------------------

def engine_version() -> str:
    """Which engine was measured: the file's hash and git state (others edit it concurrently)."""
    import hashlib

    from receivables.matching import engine

    path = Path(engine.__file__)
    digest = hashlib.sha1(path.read_bytes()).hexdigest()[:10]
    try:
        state = subprocess.run(["git", "status", "--porcelain", "--", str(path)], capture_output=True, text=True,
                               cwd=path.parent).stdout.strip()[:2] or "committed"
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=path.parent).stdout.strip()
    except OSError:
        state, head = "?", "?"
    return f"engine: {path} sha1 {digest} (git HEAD {head}, file state {state!r})"

def explain_failures(data, scored: pd.DataFrame, engine_pred: pd.DataFrame, limit: int) -> None:
    """The engine's failing lines: wrong auto allocations first, then missed truth, per category."""
    lines = data.lines.set_index("bank_line_id")
    wrong_auto = scored[(scored["auto_n"] > scored["auto_ok"])]
    missed = scored[(scored["truth_n"] > 0) & ~scored["auto_line_ok"] & (scored["auto_n"] == scored["auto_ok"])]
    rows = engine_pred.copy()
    rows["what"] = (rows["invoice_id"].where(rows["invoice_id"] != "", "-") + " " + rows["amount_minor"].astype(str)
                    + " " + rows["rule"] + "/" + rows["status"] + " (" + rows["confidence"].astype(str) + ")")
    did = rows.groupby("bank_line_id")["what"].agg("; ".join)
    exc = pd.Series(dtype=object)
    if hasattr(data, "_exceptions") and len(data._exceptions):
        exc = data._exceptions.set_index("bank_line_id")["reason_code"]
    keep = []
    for title, frame in (("wrong auto allocations", wrong_auto), ("truth not auto-applied", missed)):
        print(f"\n-- engine, {title}: {len(frame):,} lines (up to {limit} per category below)")
        for category, g in frame.groupby("category"):
            print(f"  [{category}] {len(g)} lines")
            for line_id, s in g.head(limit).iterrows():
                ln = lines.loc[line_id]
                print(f"    {line_id}  {ln['amount_minor'] / 100:,.2f}  name={ln['counterparty_name']!r} "
                      f"acct={'yes' if ln['counterparty_account'] else 'no'} remit={ln['remittance']!r}"
                      + (f" sref={ln['structured_ref']!r}" if ln["structured_ref"] else "")
                      + (f" e2e={ln['end_to_end_id']!r}" if ln["end_to_end_id"] not in ("", "NOTPROVIDED")
                         and not str(ln["end_to_end_id"]).startswith("E2E") else ""))
                print(f"      detail={s['detail']!r}  truth: {s['truth'] or 'none'}")
                print(f"      engine: {did.get(line_id, 'nothing')}"
                      + (f"  [exception {exc.get(line_id)}]" if line_id in exc.index else ""))
            keep.append(g.assign(failure=title))
    if keep:
        allfail = pd.concat(keep)
        allfail = allfail.join(lines[["amount_minor", "counterparty_name", "counterparty_account", "remittance",
                                      "structured_ref", "end_to_end_id"]]).join(did.rename("engine_did"))
        allfail.to_csv(OUT / "failures_engine.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=5_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--scale-lines", type=int, default=100_000)
    parser.add_argument("--scale-items", type=int, default=1_000_000)
    parser.add_argument("--scale-baseline", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the baseline at scale (after the engine, in its own child)")
    parser.add_argument("--baseline-scale-lines", type=int, default=100_000)
    parser.add_argument("--baseline-scale-items", type=int, default=1_000_000)
    parser.add_argument("--scale-timeout", type=int, default=1800)
    parser.add_argument("--profile", action="store_true", help="cProfile the scale child")
    parser.add_argument("--examples", type=int, default=3, help="failing lines shown per category")
    parser.add_argument("--details", action="store_true", help="also break the categories down by detail")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.profile)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    pd.set_option("mode.chained_assignment", None)
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)

    if args.lines:
        data, folder, gen_seconds = get_data(args.lines, args.items, args.seed)
        print(engine_version())
        print(f"cash application benchmark: {len(data.lines):,} bank lines x {len(data.items):,} open items, "
              f"{len(data.customers):,} customers, seed {args.seed} ("
              + (f"generated in {gen_seconds:.1f} s" if gen_seconds is not None else "cached") + f": {folder})")
        results = {}
        try:
            engine_result, seconds = run_engine(data)
            pred = engine_result.allocations
            data._exceptions = engine_result.exceptions
            no_proposal = len(set(data.lines["bank_line_id"]) - set(pred["bank_line_id"]))
            results["engine"] = {"pred": pred, "seconds": seconds, "no_proposal": no_proposal}
            reasons = engine_result.exceptions["reason_code"].value_counts()
            engine_exc = f"{len(engine_result.exceptions):,} exceptions (" + ", ".join(
                f"{k} {v:,}" for k, v in reasons.items()) + ")"
        except Exception:   # report, keep the baseline figures
            import traceback

            print("ENGINE CRASH:\n" + traceback.format_exc())
            engine_exc = None
        pred, seconds = run_odoo(data)
        results["odoo/oca"] = {"pred": pred, "seconds": seconds,
                               "no_proposal": len(set(data.lines["bank_line_id"]) - set(pred["bank_line_id"]))}
        for name, r in results.items():
            r["scored"] = score_lines(r["pred"], data.truth, data.labels)
            r["metrics"] = metrics(r["scored"])
            r["scored"].to_csv(OUT / f"scored_{name.replace('/', '_')}.csv")
        print()
        print_overall(results)
        if engine_exc:
            print(f"  engine: {engine_exc}")
        print("\nper category (allocation-level precision/recall; lineOK = share of the lines whose auto allocations"
              " equal the truth):")
        print_categories(results, ["category"])
        if args.details:
            print("\nper category and detail:")
            print_categories(results, ["category", "detail"])
        if "engine" in results and args.examples:
            explain_failures(data, results["engine"]["scored"], results["engine"]["pred"], args.examples)
        del data
    if args.scale:
        scale_run(args, "engine")
        if args.scale_baseline:
            scale_run(args, "odoo")
        else:
            print("  (baseline at scale: skipped, --no-scale-baseline)")


if __name__ == "__main__":
    main()
