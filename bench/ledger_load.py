"""Benchmark (issue 2): a 1M-line FEC parsed, validated and loaded into SQLite, then aged.

    make bench                      # 1,000,000 lines
    python bench/ledger_load.py --lines 200000

Target: parse + validate + load <= 60 s and <= 3 GB peak memory on the 2-core machine.
The pipeline runs in a child process, so its peak RSS is its own (not the generator's).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AS_OF = dt.date(2025, 6, 30)


def child(fec: str, customers: str, workdir: str) -> None:
    from receivables.pipeline import wave
    from receivables.warehouse.db import make_engine, upgrade

    url = f"sqlite:///{workdir}/warehouse.db"
    upgrade(make_engine(url))
    settings = wave.WaveSettings(warehouse_url=url, data_dir=Path(workdir), ledger_paths=[fec], customers_file=customers)
    timings = {}
    start = time.perf_counter()
    manifest = wave.extract_ledger(settings, AS_OF)
    timings["parse"] = time.perf_counter() - start
    t = time.perf_counter()
    manifest = wave.validate_ledger(settings, manifest)
    timings["validate"] = time.perf_counter() - t
    t = time.perf_counter()
    loaded = wave.load_ledger(settings, manifest, now=dt.datetime.now(dt.timezone.utc))
    timings["load"] = time.perf_counter() - t
    timings["parse_validate_load"] = time.perf_counter() - start
    t = time.perf_counter()
    aged = wave.compute_aging(settings, AS_OF)
    timings["aging"] = time.perf_counter() - t
    source = manifest["sources"][0]
    print(json.dumps({"timings": timings, "rows_read": source["rows_read"], "rows_valid": source["rows_valid"],
                      "rows_quarantined": source["rows_quarantined"], "loaded": loaded["sources"][0],
                      "open_items": aged["open_items"]}))


def dag_parse_seconds() -> float:
    code = ("import sys, time; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import airflow.sdk; t = time.perf_counter(); "
            "import ar_collections_daily; print(time.perf_counter() - t)")
    done = subprocess.run([sys.executable, "-c", code, str(REPO / "plugins"), str(REPO / "dags")],
                          capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from receivables.demo.generator import customers_for_lines, generate_portfolio

    out = REPO / "bench" / "out" / f"fec_{args.lines}"
    marker = out / "portfolio.json"
    if marker.exists():
        portfolio = json.loads(marker.read_text())
    else:
        t = time.perf_counter()
        portfolio = generate_portfolio(out, customers=customers_for_lines(args.lines), end=AS_OF, seed=1)
        portfolio = {k: str(v) for k, v in portfolio.items()}
        portfolio["generate_seconds"] = round(time.perf_counter() - t, 2)
        marker.write_text(json.dumps(portfolio))
    with tempfile.TemporaryDirectory(prefix="receivables-bench-") as workdir:
        env = {**os.environ, "GX_ANALYTICS_ENABLED": "False"}
        done = subprocess.run([sys.executable, __file__, "--child", portfolio["fec"], portfolio["customers_csv"], workdir],
                              capture_output=True, text=True, env=env)
        if done.returncode:
            sys.exit(done.stderr[-4000:])
        result = json.loads(done.stdout.strip().splitlines()[-1])
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024
    timings = result["timings"]
    total = timings["parse_validate_load"]
    print(f"ledger load benchmark: {result['rows_read']:,} FEC lines ({Path(portfolio['fec']).stat().st_size / 1e6:.0f} MB), "
          f"generated in {portfolio.get('generate_seconds', '?')} s (cached in {out})")
    for stage in ("parse", "validate", "load", "aging"):
        print(f"  {stage:<9} {timings[stage]:7.1f} s")
    print(f"  parse + validate + load: {total:.1f} s = {result['rows_read'] / total:,.0f} lines/s "
          f"(target <= 60 s): {'OK' if total <= 60 else 'OVER'}")
    print(f"  peak memory: {peak_gb:.2f} GB (target <= 3 GB): {'OK' if peak_gb <= 3 else 'OVER'}")
    print(f"  loaded {result['loaded']['rows_loaded']:,}, quarantined {result['rows_quarantined']:,}, "
          f"open items on {AS_OF}: {result['open_items']:,}")
    print(f"  DAG file parse (after airflow.sdk is imported): {dag_parse_seconds() * 1000:.0f} ms")


if __name__ == "__main__":
    main()
