"""Benchmark: printing a day's letters into a print batch (one PDF per envelope), target >= 20 letters/s.

    python bench/letters.py                       # 400 letters, then the naive path on 40 (and 10) of them
    python bench/letters.py --letters 1000 --naive 0 --parts 0

What it measures, on a temporary SQLite warehouse holding a generated plan for as_of 2025-06-30
(customers in FR, DE, GB writing fr, de, en; actions: ~50 % reminder letters, ~25 % account
statements, ~25 % formal notices (approved), 1-8 invoices each, some customers with a letter and a
statement the same day, ~2 % without a postal address), every action enqueued in the outbox:

1. `print_letters` on the whole day in one process (part 0 of 1): claim, render the messages from
   the plan (Jinja), lay out each letter (WeasyPrint), write batch.pdf once, cut the envelope PDFs
   from it (pypdf), write the manifest, commit. Seconds per stage: the functions print_letters
   calls by name, wrapped with timers (bench/stage_timer.py; the source is untouched);
2. the same day split in two parts printed by two processes at once (the DAG's mapped letter
   tasks: part 0 and 1 of 2), on a fresh copy of the warehouse: letters/s of the machine;
3. the naive path for comparison, on a fresh copy: the same claim and rendering, then one
   `render_pdf` per letter (WeasyPrint lays out, subsets the fonts and writes each letter alone),
   on the first `--naive` letters only (it is slow), so its letters/s is comparable, its total not;
   then again on a quarter of them with WeasyPrint's fontTools subsetting (a machine without
   Debian's libharfbuzz-subset0, where every letter pays ~0.3 s of subsetting that a batch pays
   once per chunk).

Figures: letters/s (wall clock, and per CPU second of the process: other work on the machine
slows the first, hardly the second), envelopes, pages, batch.pdf size, mean envelope PDF size, peak RSS of the
process (the laid-out letters are held until batch.pdf is written). Checks (ok/FAILED): every
claimed letter is sent or suppressed; the manifest's page ranges tile batch.pdf; each envelope PDF
opens with pypdf, has the manifest's page count, its first page names the customer and its text
holds the envelope's invoice numbers; the outbox units add up to the pages. No assertion on time.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pypdf import PdfReader

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from stage_timer import StageTimer  # noqa: E402

from receivables.channels import letters, outbox  # noqa: E402
from receivables.channels.messages import rendered  # noqa: E402
from receivables.ledger.schema import CUSTOMER_COLUMNS, conform  # noqa: E402
from receivables.scenarios.legal import load_rules  # noqa: E402
from receivables.scenarios.planner import ACTION_COLUMNS, LINE_COLUMNS  # noqa: E402
from receivables.scenarios.render import Creditor, render_pdf  # noqa: E402
from receivables.warehouse.db import bulk_insert, make_engine, upgrade  # noqa: E402
from receivables.warehouse.schema import collection_action_lines, collection_actions, open_items  # noqa: E402
from receivables.warehouse.store import refresh_customers  # noqa: E402

AS_OF = dt.date(2025, 6, 30)
NOW = dt.datetime(2025, 6, 30, 7, 0, tzinfo=dt.timezone.utc)
LETTERS = 400
NAIVE = 40
SEED = 42
TARGET = 20.0                    # letters per second on the 2-core machine
CREDITOR = Creditor.from_env({})

COUNTRIES = {"FR": ("fr", "France", ["69003 Lyon", "75011 Paris", "13008 Marseille", "33000 Bordeaux"]),
             "DE": ("de", "Deutschland", ["10969 Berlin", "80331 München", "50667 Köln"]),
             "GB": ("en", "United Kingdom", ["London EC1A 1BB", "Manchester M1 1AE"])}
STREETS = ["rue de la République", "avenue Jean Jaurès", "Lindenstraße", "High Street", "chemin des Vignes"]
NAMES = ["Boulangerie Martin", "Transports Dubois", "Bäckerei Müller", "Garage Leroy", "Hotel Victoria",
         "Imprimerie Moreau", "Laboratoires Simon", "Atelier Fournier", "Schreinerei Weber", "Studio Lambert"]
KINDS = {"letter": ("reminder_letter", "letter/reminder_letter"),
         "statement": ("statement_1", "statement/account_statement"),
         "formal_notice": ("formal_notice", "formal_notice/formal_notice")}


# -- the day's plan --------------------------------------------------------------------------------

def generate(n_letters: int, seed: int) -> dict:
    """Customers, open items, actions and lines of a day whose plan prints `n_letters` letters."""
    rng = np.random.default_rng(seed)
    customers, items, actions, lines = [], [], [], []
    number = 0
    while len(actions) < n_letters:
        cid = f"C{len(customers) + 1:05d}"
        country = str(rng.choice(list(COUNTRIES), p=[0.7, 0.2, 0.1]))
        language, country_name, cities = COUNTRIES[country]
        address = "" if rng.random() < 0.02 else "\n".join(
            [f"{rng.integers(1, 200)} {rng.choice(STREETS)}", str(rng.choice(cities))]
            + ([country_name] if country != "FR" else []))
        customers.append({"customer_id": cid, "name": f"{rng.choice(NAMES)} {cid}", "country": country,
                          "language": language, "email": f"compta.{cid.lower()}@example.com", "address": address,
                          "segment": "PME"})
        invoices = []
        for _ in range(int(rng.integers(1, 9))):
            number += 1
            due = AS_OF - dt.timedelta(days=int(rng.integers(5, 120)))
            amount = int(rng.integers(5_000, 900_000))
            invoices.append({"as_of": pd.Timestamp(AS_OF), "customer_id": cid, "invoice_id": f"FA-2025-{number:05d}",
                             "currency": "EUR", "item_type": "invoice",
                             "doc_date": pd.Timestamp(due - dt.timedelta(days=30)), "due_date": pd.Timestamp(due),
                             "original_minor": amount, "open_minor": amount, "days_overdue": (AS_OF - due).days,
                             "bucket": "31-60"})
        items.extend(invoices)
        draw = rng.random()
        kinds = ["formal_notice"] if draw < 0.25 else ["letter", "statement"] if draw < 0.45 else \
            ["statement"] if draw < 0.55 else ["letter"]
        for kind in kinds[:n_letters - len(actions)]:
            actions.append(_action(cid, kind, language, invoices, lines))
    return {"customers": conform(pd.DataFrame(customers), CUSTOMER_COLUMNS), "items": pd.DataFrame(items),
            "actions": pd.DataFrame(actions)[ACTION_COLUMNS], "lines": pd.DataFrame(lines)[LINE_COLUMNS]}


def _action(cid: str, kind: str, language: str, invoices: list[dict], lines: list[dict]) -> dict:
    step, template = KINDS[kind]
    legal = kind == "formal_notice"
    key = hashlib.sha256(f"{cid}|{step}".encode()).hexdigest()[:20]
    for item in invoices:
        lines.append({"action_key": key, "customer_id": cid, "invoice_id": item["invoice_id"], "step_id": step,
                      "doc_date": item["doc_date"], "due_date": item["due_date"],
                      "original_minor": item["original_minor"], "open_minor": item["open_minor"],
                      "days_overdue": item["days_overdue"], "late_interest_minor": 1_000 if legal else pd.NA,
                      "indemnity_minor": 4_000 if legal else 0})
    principal = sum(item["open_minor"] for item in invoices)
    interest, indemnity = (1_000 * len(invoices), 4_000 * len(invoices)) if legal else (0, 0)
    return {"action_key": key, "as_of": pd.Timestamp(AS_OF), "customer_id": cid, "scenario": "standard",
            "step_id": step, "offset_days": 30, "channel": kind, "template": template,
            "tone": "legal" if legal else "firm", "invoice_ids": " ".join(i["invoice_id"] for i in invoices),
            "amount_minor": principal + interest + indemnity, "principal_minor": principal,
            "interest_minor": interest, "indemnity_minor": indemnity, "currency": "EUR", "language": language,
            "requires_approval": legal, "legal_fees": legal, "hold_reason": "",
            "send_at": pd.Timestamp("2025-06-30 09:00", tz="Europe/Paris")}


def warehouse(path: Path, day: dict) -> str:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    lines = day["lines"].assign(as_of=pd.Timestamp(AS_OF))
    lines["late_interest_minor"] = lines["late_interest_minor"].astype("Int64")
    with engine.begin() as conn:
        refresh_customers(conn, day["customers"])
        bulk_insert(conn, open_items, day["items"])
        bulk_insert(conn, collection_actions, day["actions"])
        bulk_insert(conn, collection_action_lines, lines)
        outbox.enqueue(conn, day["actions"], AS_OF, now=NOW)
        approved = day["actions"][day["actions"]["requires_approval"]][["action_key"]]
        outbox.record_decisions(conn, approved.assign(as_of=AS_OF, decision="approved", decided_by="bench", note=""),
                                now=NOW)
    engine.dispose()
    return url


# -- the runs --------------------------------------------------------------------------------------

def print_part(url: str, out_dir: Path, part: tuple[int, int]) -> dict:
    return letters.print_letters(make_engine(url), part=part, now=NOW, as_of=AS_OF, out_dir=out_dir,
                                 creditor=CREDITOR, legal=load_rules("FR"))


def _print_part_star(args: tuple) -> dict:
    return print_part(*args)


def naive(url: str, out_dir: Path, limit: int) -> int:
    """Claim and render as print_letters does, then one render_pdf per letter (the first `limit`)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        claimed = outbox.claim(conn, "letter", now=NOW, limit=limit)
    out_dir.mkdir(parents=True, exist_ok=True)
    with engine.connect() as conn:
        messages = list(rendered(conn, claimed, creditor=CREDITOR, legal=load_rules("FR")))
    for row, message, _ in messages:
        (out_dir / f"{row['action_key']}.pdf").write_bytes(render_pdf(message.html))
    return len(messages)


def checks(url: str, summary: dict, day: dict) -> list[tuple[str, bool, str]]:
    folder = Path(summary["batch_dir"])
    with open(folder / "manifest.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with make_engine(url).connect() as conn:
        box = outbox.read_outbox(conn)
    batch_pages = len(PdfReader(folder / "batch.pdf").pages)
    starts = [int(r["first_page"]) for r in rows]
    ends = [int(r["last_page"]) for r in rows]
    tiled = starts[0] == 1 and ends[-1] == batch_pages and all(s == e + 1 for s, e in zip(starts[1:], ends))
    invoices = day["lines"].groupby("action_key")["invoice_id"].apply(list).to_dict()
    bad = []
    for row in rows:
        reader = PdfReader(folder / row["file"])
        text = " ".join(page.extract_text() for page in reader.pages)
        wanted = [i for key in row["action_keys"].split() for i in invoices[key]]
        if (len(reader.pages) != int(row["pages"]) or row["name"] not in reader.pages[0].extract_text()
                or not all(i in text for i in wanted)):
            bad.append(row["envelope_id"])
    sent = box[box["state"] == "sent"]
    return [
        ("every claimed letter is sent or suppressed",
         len(sent) + (box["state"] == "suppressed").sum() == summary["claimed"] == len(box),
         f"{box['state'].value_counts().to_dict()}"),
        ("the manifest's page ranges tile batch.pdf", tiled, f"{batch_pages} pages"),
        ("each envelope PDF: page count, customer's name on page 1, its invoice numbers", not bad,
         f"{len(bad)} envelopes, e.g. {bad[:3]}"),
        ("outbox units add up to the batch's pages", int(sent["units"].sum()) == batch_pages,
         f"{int(sent['units'].sum())} != {batch_pages}"),
        ("one envelope id per (customer, mail class)",
         len(rows) == len({(r["customer_id"], r["mail_class"]) for r in rows}), ""),
    ]


def sizes(summary: dict) -> tuple[int, float, int]:
    folder = Path(summary["batch_dir"])
    envelopes = [p.stat().st_size for p in folder.glob(f"{summary['batch_id']}-*.pdf")]
    return (folder / "batch.pdf").stat().st_size, sum(envelopes) / len(envelopes), max(envelopes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--letters", type=int, default=LETTERS)
    parser.add_argument("--naive", type=int, default=NAIVE, help="letters printed the naive way (0: skip)")
    parser.add_argument("--parts", type=int, default=2, help="parallel parts of the second run (0: skip)")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-letters-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    day = generate(args.letters, args.seed)
    pristine = work / "pristine.db"
    url = warehouse(pristine, day)
    counts = day["actions"]["channel"].value_counts().to_dict()
    print(f"== print batch of {AS_OF}: {len(day['actions'])} letters ({counts}), {len(day['customers'])} customers, "
          f"{len(day['lines'])} invoice lines, seed {args.seed}")
    print(f"  load average before the runs (2 cores): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    def copy(name: str) -> str:
        shutil.copyfile(pristine, work / name)
        return f"sqlite:///{work / name}"

    timer = StageTimer()
    inner = timer.wrap_calls(letters.write_batch, letters, "receivables", prefix="write_batch > ", nested=True)
    stages = timer.wrap_calls(letters.print_letters, letters, "receivables")
    one = copy("one.db")
    t, cpu = time.perf_counter(), time.process_time()
    summary = print_part(one, work / "one", (0, 1))
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    batch_bytes, mean_envelope, largest = sizes(summary)
    print("\n== one process (part 0 of 1)")
    print(f"  {summary['letters']} letters in {summary['envelopes']} envelopes ({summary['registered']} registered), "
          f"{summary['pages']} pages, {summary['suppressed']} suppressed (no postal address)")
    print(f"  {seconds:.1f} s: {summary['letters'] / seconds:.1f} letters/s "
          f"(target {TARGET:g}: {'met' if summary['letters'] / seconds >= TARGET else 'missed'} in one process); "
          f"CPU {cpu:.1f} s: {summary['letters'] / cpu:.1f} letters per CPU second")
    per_letter = 1000 / summary["letters"]
    shown = {"envelopes_of": "render (plan, Jinja)", "write_batch": "PDF"}
    for name in stages:
        if timer.seconds.get(name, 0) >= 0.005:
            print(f"    {shown.get(name, name):<34}{timer.seconds[name]:7.2f} s {timer.seconds[name] * per_letter:7.1f} ms/letter")
        if name == "write_batch":
            nested = sum(timer.seconds.get("write_batch > " + n, 0.0) for n in inner)
            for label, value in (("lay out (WeasyPrint)", timer.seconds.get("write_batch > lay_out", 0.0)),
                                 ("write_pdf, cut envelopes, manifest", timer.seconds[name] - nested)):
                print(f"      {label:<32}{value:7.2f} s {value * per_letter:7.1f} ms/letter")
    staged = sum(timer.seconds.get(name, 0.0) for name in stages)
    print(f"    {'other (claim, commit)':<34}{seconds - staged:7.2f} s")
    print(f"  batch.pdf {batch_bytes / 1024:.0f} KiB; envelope PDF mean {mean_envelope / 1024:.1f} KiB, "
          f"largest {largest / 1024:.1f} KiB (each holds the batch's font subsets)")
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print("\n== checks")
    for label, ok, detail in checks(one, summary, day):
        print(f"  {'ok    ' if ok else 'FAILED'} {label}" + ("" if ok else f": {detail}"))

    if args.parts > 1:
        url = copy("parts.db")
        jobs = [(url, work / "parts", (i, args.parts)) for i in range(args.parts)]
        t, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        pool = multiprocessing.get_context("fork").Pool(args.parts)
        results = pool.map(_print_part_star, jobs)
        pool.close()
        pool.join()
        seconds, after = time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        total = sum(r["letters"] for r in results)
        print(f"\n== {args.parts} processes at once (parts i of {args.parts}, as the mapped letter tasks run)")
        print(f"  {total} letters in {sum(r['envelopes'] for r in results)} envelopes, {len(results)} batches, "
              f"{seconds:.1f} s: {total / seconds:.1f} letters/s "
              f"(target {TARGET:g}: {'met' if total / seconds >= TARGET else 'missed'}); "
              f"CPU {cpu:.1f} s in the {args.parts} processes ({cpu / seconds:.2f} cores busy on average)")

    if args.naive:
        print("\n== naive: one render_pdf per letter, one process")
        from weasyprint.pdf import fonts

        with_harfbuzz = fonts.harfbuzz_subset
        for label, subsetter, limit in (("HarfBuzz subsetting (libharfbuzz-subset0)", with_harfbuzz, args.naive),
                                        ("fontTools subsetting (without it)", None, max(1, args.naive // 4))):
            if label.startswith("HarfBuzz") and subsetter is None:
                print("  libharfbuzz-subset0 is not installed: WeasyPrint subsets fonts with fontTools")
                continue
            fonts.harfbuzz_subset = subsetter
            url = copy(f"naive-{limit}.db")
            t, cpu = time.perf_counter(), time.process_time()
            count = naive(url, work / f"naive-{limit}", limit)
            seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
            files = list((work / f"naive-{limit}").glob("*.pdf"))
            mean = sum(p.stat().st_size for p in files) / len(files)
            print(f"  {label}: {count} letters in {seconds:.1f} s: {count / seconds:.1f} letters/s, "
                  f"{count / cpu:.1f} per CPU second; "
                  f"letter PDF mean {mean / 1024:.1f} KiB (each embeds its own font subsets)")
        fonts.harfbuzz_subset = with_harfbuzz


if __name__ == "__main__":
    main()
