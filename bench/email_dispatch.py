"""Benchmark: a day's 100,000 emails through the outbox, the official SendGrid client and the
local SendGrid double, in two dispatch processes (the mapped `send_emails` tasks on 2 cores).

    python bench/email_dispatch.py                  # 100,000 emails, 2 processes
    python bench/email_dispatch.py --emails 20000 --processes 1

Not timed: generating the plan (bench/rendering.py's generator: customers in six languages,
1-5 invoices per email), loading it into a fresh SQLite warehouse (customers, collection_actions,
collection_action_lines) and enqueuing it in the outbox. Timed: `channels.email.dispatch_email`
in each process on its part of the rows (claims committed first, rendering, requests of up to
1000 personalizations, outbox commits), until every email is sent. Target (issue 6): <= 60 s.

Then it checks, not times: every planned email reached the double exactly once, and the outbox
says sent for each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from doubles.sendgrid_api import SendGridDouble  # noqa: E402
from rendering import make_customers, make_items, make_plan  # noqa: E402

from receivables.channels import outbox  # noqa: E402
from receivables.warehouse.db import bulk_insert, make_engine, upgrade  # noqa: E402
from receivables.warehouse.schema import collection_action_lines, collection_actions, customers  # noqa: E402

AS_OF = dt.date(2025, 6, 30)
NOW = dt.datetime(2025, 6, 30, 4, 0, tzinfo=dt.timezone.utc)


def load(url: str, emails: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    master = make_customers(rng, max(1_000, round(emails * 0.6)))
    items, invoices, first = make_items(rng, master)
    plan = make_plan(rng, master, items, invoices, first, emails)
    actions = plan.actions[plan.actions["channel"] == "email"].reset_index(drop=True)
    lines = plan.lines[plan.lines["action_key"].isin(actions["action_key"])]
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        bulk_insert(conn, customers, master.assign(origin="master", iban="", dunning_blocked=False,
                                                   contact_hour=pd.NA)[[c.name for c in customers.columns]])
        day = pd.Timestamp(AS_OF)
        bulk_insert(conn, collection_actions, actions.assign(as_of=day)[[c.name for c in collection_actions.columns]])
        bulk_insert(conn, collection_action_lines, lines.assign(as_of=day)[[c.name for c in collection_action_lines.columns]])
        outbox.enqueue(conn, actions, AS_OF, now=NOW)
    engine.dispose()   # no SQLite connection may cross into the worker processes
    return len(actions)


def worker(url: str, host: str, api_key: str, part: tuple[int, int], results) -> None:  # noqa: ANN001
    warnings.filterwarnings("ignore", category=FutureWarning)
    from receivables.channels.email import EmailSettings, SendGridSender, dispatch_email, sendgrid_client
    from receivables.scenarios.render import Creditor

    started, started_cpu = time.perf_counter(), time.process_time()
    summary = dispatch_email(make_engine(url), part=part, now=NOW,
                             sender=SendGridSender(sendgrid_client(api_key, host, timeout=120)),
                             settings=EmailSettings(from_email="recouvrement@demo-distribution.example",
                                                    from_name="Demo Distribution SAS", unsubscribe_group=42),
                             creditor=Creditor.from_env({}), legal=None)
    results.put((part, summary, time.perf_counter() - started, time.process_time() - started_cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--emails", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'warehouse.db'}"
        t = time.perf_counter()
        planned = load(url, args.emails, args.seed)
        print(f"== {planned:,} emails planned and enqueued in {time.perf_counter() - t:.1f} s (not timed)")
        with SendGridDouble() as double:
            results = multiprocessing.get_context("spawn").Queue()
            started, started_cpu = time.perf_counter(), time.process_time()
            workers = [multiprocessing.get_context("spawn").Process(
                target=worker, args=(url, double.url, double.api_key, (i, args.processes), results))
                for i in range(args.processes)]
            for w in workers:
                w.start()
            reports = [results.get() for _ in workers]
            for w in workers:
                w.join()
            elapsed = time.perf_counter() - started
            double_cpu = time.process_time() - started_cpu   # this process: the double's threads
            received = Counter(p["custom_args"]["action_key"] for r in double.accepted
                               for p in r["body"]["personalizations"])
            requests = double.requests
        with make_engine(url).connect() as conn:
            states = outbox.state_counts(conn)["email"]
    sent = sum(s["sent"] for _, s, _, _ in reports)
    print(f"== dispatch: {sent:,} emails sent in {elapsed:.1f} s with {args.processes} process(es): "
          f"{sent / elapsed:,.0f} emails/s; {requests} requests to the double "
          f"(mean {sum(received.values()) / max(requests, 1):,.0f} personalizations per request)")
    for part, summary, seconds, cpu in sorted(reports):
        print(f"   part {part}: {seconds:.1f} s wall, {cpu:.1f} s CPU ({1000 * cpu / max(summary['sent'], 1):.3f} ms "
              f"per email) {summary}")
    print(f"   the double (this process): {double_cpu:.1f} s CPU; load average {os.getloadavg()[0]:.2f} "
          "(wall includes any other work on the machine)")
    # every planned email dealt with: sent, or suppressed with its reason (~2 % of the plan has no address)
    handled = sum(s["sent"] + s["suppressed"] for _, s, _, _ in reports)
    print(f"   target 100,000 emails <= 60 s: {handled:,} of {planned:,} planned sent or suppressed in {elapsed:.1f} s: "
          f"{'PASS' if elapsed <= 60 and handled == planned >= 100_000 else 'see figures'}"
          + ("" if args.emails >= 100_000 else " (smaller run)"))
    duplicates = sum(1 for c in received.values() if c > 1)
    print(f"== checks: outbox states {states}; keys received {len(received):,}, received twice {duplicates}; "
          f"{'ok' if duplicates == 0 and len(received) == states.get('sent', 0) else 'MISMATCH'}")


if __name__ == "__main__":
    main()
