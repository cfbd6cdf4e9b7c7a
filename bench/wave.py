"""Benchmark (issue 7, "Scale"): the whole daily wave of `ar_collections_daily` for one as_of.

    python bench/wave.py                            # (make bench) medium: 50k customers, ~1M lines, 20k bank lines
    python bench/wave.py --size large               # (make bench BENCH_LARGE=1) 500k customers, ~10M lines, 200k bank lines
    python bench/wave.py --customers 5000 --lines 100000 --bank-lines 2000
    python bench/wave.py --stages extract_ledger,validate_ledger,load_ledger      # a subset (the state of a
                                                    # previous run in the same --workdir is reused)
    python bench/wave.py --profile score_customers  # cProfile of that stage: top functions printed, .prof kept
    python bench/wave.py --warehouse postgresql://127.0.0.1:5432/test   # on a temporary database of that server

Targets (issue 7): medium (50k customers, 1M ledger lines, 20k bank lines) whole wave <= 3 min;
large (500k customers, 10M ledger lines, 200k bank lines) <= 20 min and <= 16 GB peak, on the
2-core machine.

The portfolio (seeded, cached under bench/out/wave_<customers>_<lines>_<bank lines>/, git-ignored):
- the FEC and the customer master CSV of the demo generator (`receivables.demo.generator`, numpy,
  no per-line Python): `customers` customers over the number of months that gives about `lines`
  ledger lines (~4.9 lines per customer and month), ending on as_of = 2025-06-30 (a Monday);
- ONE CAMT.053 statement of as_of with `bank_lines` entries written here (vectorized string
  formatting), replacing the generator's (which carries one day's receipts only: ~2 % of the
  customers). The entries pay open, unlettered EUR invoices of the FEC (each invoice at most once):
  ~57 % one invoice in full with its number in the free-text remittance (`VIR <PAYER> FA2025-000123`
  or `FACT FA2025000123`), ~15 % a structured creditor reference, ~8 % a payment run for 2-3
  invoices of one customer, ~8 % a partial payment (50-90 %) with the number, ~10 % the amount and
  the payer only (name as the bank spells it, IBAN when the master knows one), and ~2 % lines that
  are not customer payments (interest, refunds from suppliers, bank fees, unknown payers).
  So matching has real work: references, payer names and accounts, amounts, combinations.

The wave (in DAG order, each stage a CHILD process as in Airflow, where each task is its own
process; each calls the same `receivables.pipeline` body the DAG task calls, with a WaveSettings
on a temporary warehouse under bench/out/.../run (SQLite; or a temporary database `bench_wave_<pid>`
created and dropped on the `--warehouse` PostgreSQL server):

    extract_ledger  validate_ledger  load_ledger  extract_bank_statements  validate_bank_lines
    match_bank_lines  apply_matches  score_customers  plan_collection_actions  compute_aging
    (score_customers and plan_collection_actions as the DAG runs them: the model trained once, or
    the registers imported once, then one process per customer shard, at most --workers at once:
    1 shard for the medium portfolio, 2 for the large one; then the scores ranked and written)
    prepare_dispatch  record_approvals  send_emails  send_sms  print_letters  publish_call_list
    summarise_dispatch  compute_kpis

Dispatch runs on the file outbox (no provider keys; `today` = as_of so nothing is suppressed,
every formal notice approved by "bench"). PDF letters render at ~10-17 letters/s/core (the
wave's day is mostly two-page statements), so the
dispatch stages are reported apart from the wave, and `--letters N` (default 200) prints one
part of the letter outbox holding about N letters (part 0 of ceil(pending/N), the same hashing
the mapped print tasks use); the output says how many were printed out of how many ready, and
the rest stays pending. `--letters all` prints them all (the DAG's parts, one after the other).

Scheduling: stages start as the DAG lets them (AFTER below), at most `--workers` at once (default
2: the 2-core machine's LocalExecutor, or its two Celery workers), so the bank branch runs beside
the ledger one and compute_aging beside dispatch, as in Airflow. `--workers 1` runs them one after
the other. print_letters runs last, after compute_kpis (rendering-bound, outside the target).

Output: per stage wall seconds, CPU seconds (user + system of the child: two cores can make it
larger than wall), peak RSS (the child's ru_maxrss), its start and end, and the stage's summary
counts; the wave's span from the first start to the end of compute_kpis (what the target
measures), the sum of CPU seconds, the largest sum of peak RSS over stages that ran together (the
memory target), the load average at the start (the machine may be shared: CPU seconds are the
steadier figure), and PASS / see figures against the targets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
AS_OF = dt.date(2025, 6, 30)
NOW = dt.datetime(2025, 6, 30, 8, 0, tzinfo=dt.timezone.utc)    # 10:00 in Paris: inside the SMS window
SEED = 7
LINES_PER_CUSTOMER_MONTH = 4.87    # what the demo generator gives (measured: 97k lines for 5,000 x 4 months)
SIZES = {"medium": {"customers": 50_000, "lines": 1_000_000, "bank_lines": 20_000, "seconds": 180, "gb": None},
         "large": {"customers": 500_000, "lines": 10_000_000, "bank_lines": 200_000, "seconds": 1200, "gb": 16}}
WAVE = ("extract_ledger", "validate_ledger", "load_ledger", "extract_bank_statements", "validate_bank_lines",
        "match_bank_lines", "apply_matches", "score_customers", "plan_collection_actions", "compute_aging")
DISPATCH = ("prepare_dispatch", "record_approvals", "send_emails", "send_sms", "print_letters", "publish_call_list",
            "summarise_dispatch")
STAGES = WAVE + DISPATCH + ("compute_kpis",)
# What each stage waits for, as in dags/ar_collections_daily.py (the approval and batch-count tasks
# folded into their neighbours). print_letters is not in the DAG's place: it renders PDFs at
# ~10-17 letters/s/core, so the bench prints after the rest (the target leaves printing out) and
# summarise_dispatch counts the letters as still pending.
AFTER = {"validate_ledger": ["extract_ledger"], "load_ledger": ["validate_ledger"],
         "validate_bank_lines": ["extract_bank_statements"],
         "match_bank_lines": ["load_ledger", "validate_bank_lines"], "apply_matches": ["match_bank_lines"],
         "score_customers": ["apply_matches"], "plan_collection_actions": ["score_customers"],
         "compute_aging": ["plan_collection_actions"], "prepare_dispatch": ["plan_collection_actions"],
         "record_approvals": ["prepare_dispatch"], "send_emails": ["prepare_dispatch"],
         "send_sms": ["prepare_dispatch"], "publish_call_list": ["prepare_dispatch"],
         "summarise_dispatch": ["send_emails", "send_sms", "publish_call_list", "record_approvals"],
         "compute_kpis": ["summarise_dispatch", "compute_aging"],
         "print_letters": [s for s in STAGES if s != "print_letters"]}


# -- the portfolio ----------------------------------------------------------------------------------

def portfolio(customers: int, lines: int, bank_lines: int) -> dict:
    """The cached portfolio's paths and counts (generated when missing)."""
    folder = OUT / f"wave_{customers}_{lines}_{bank_lines}"
    marker = folder / "portfolio.json"
    if marker.exists():
        return json.loads(marker.read_text())
    from receivables.demo.generator import generate_portfolio

    shutil.rmtree(folder, ignore_errors=True)
    months = max(1, round(lines / customers / LINES_PER_CUSTOMER_MONTH))
    print(f"generating {customers:,} customers over {months} months (~{lines:,} lines) into {folder} ...", flush=True)
    start = time.perf_counter()
    made = generate_portfolio(folder / "input", customers=customers, months=months, end=AS_OF, seed=SEED)
    Path(made["statement"]).unlink()          # replaced by a statement of `bank_lines` entries
    generated = time.perf_counter() - start
    t = time.perf_counter()
    statement = folder / "input" / f"statement_{AS_OF:%Y%m%d}_bench.camt053.xml"
    entries = write_statement(statement, Path(made["fec"]), Path(made["customers_csv"]), bank_lines)
    info = {"fec": str(made["fec"]), "customers_csv": str(made["customers_csv"]), "statement": str(statement),
            "customers": made["customers"], "months": months, "lines": made["lines"], "invoices": made["invoices"],
            "bank_lines": entries["lines"], "bank_kinds": entries["kinds"],
            "generate_seconds": round(generated, 1), "statement_seconds": round(time.perf_counter() - t, 1)}
    marker.write_text(json.dumps(info, indent=1))
    return info


def open_invoices(fec: Path) -> pd.DataFrame:
    """The FEC's unlettered EUR invoices (customer_id, invoice_id, amount_minor, payable: no
    unlettered credit of the customer — partial payments, credit notes — can make it owe less)."""
    columns = ["CompteNum", "CompAuxNum", "PieceRef", "Debit", "Credit", "EcritureLet", "Idevise"]
    kept, credited = [], []
    for chunk in pd.read_csv(fec, sep="\t", usecols=columns, dtype=str, keep_default_na=False,
                             chunksize=1_000_000, encoding="utf-8"):
        chunk = chunk[chunk["CompteNum"].str.startswith("411") & (chunk["EcritureLet"] == "")]
        debit = chunk["Debit"].str.replace(",", "", regex=False).astype("int64")
        credit = chunk["Credit"].str.replace(",", "", regex=False).astype("int64")
        credited.append(chunk.loc[credit > 0, "CompAuxNum"])
        invoice = (debit > 0) & chunk["PieceRef"].str.startswith("FA") & chunk["Idevise"].isin(["", "EUR"])
        kept.append(pd.DataFrame({"customer_id": chunk.loc[invoice, "CompAuxNum"],
                                  "invoice_id": chunk.loc[invoice, "PieceRef"], "amount_minor": debit[invoice]}))
    items = pd.concat(kept, ignore_index=True).groupby(["customer_id", "invoice_id"], as_index=False)["amount_minor"].sum()
    return items.assign(payable=~items["customer_id"].isin(set(pd.concat(credited))))


def _xml(text: pd.Series) -> pd.Series:
    return (text.str.replace("&", "&amp;", regex=False).str.replace("<", "&lt;", regex=False)
            .str.replace(">", "&gt;", regex=False))


def _amount(cents: pd.Series) -> pd.Series:
    cents = cents.abs()
    return (cents // 100).astype(str) + "." + (cents % 100).astype(str).str.zfill(2)


def _bank_spelling(names: pd.Series) -> pd.Series:
    """How a bank spells a payer: upper case, no accents, 35 characters."""
    plain = names.str.normalize("NFKD").str.encode("ascii", "ignore").str.decode("ascii")
    return plain.str.upper().str.slice(0, 35)


def write_statement(path: Path, fec: Path, customers_csv: Path, n: int) -> dict:
    """A CAMT.053 statement of AS_OF with `n` entries paying open invoices of `fec` (module doc)."""
    rng = np.random.default_rng([SEED, 53])
    items = open_invoices(fec)
    master = pd.read_csv(customers_csv, dtype=str, keep_default_na=False).set_index("customer_id")
    shares = {"reference": 0.57, "structured": 0.15, "run": 0.08, "partial": 0.08, "payer_only": 0.10, "other": 0.02}
    counts = {k: int(round(n * v)) for k, v in shares.items()}
    counts["reference"] += n - sum(counts.values())
    # payment runs: customers with 2-3 payable open invoices, the first ones of each
    payable = items[items["payable"]].sample(frac=1.0, random_state=rng.integers(2 ** 31)).reset_index(drop=True)
    payable["rank"] = payable.groupby("customer_id").cumcount()
    per_customer = payable.groupby("customer_id")["invoice_id"].transform("size")
    run_customers = payable.loc[(per_customer >= 2) & (payable["rank"] == 0), "customer_id"].head(counts["run"])
    counts["run"] = len(run_customers)
    in_run = payable["customer_id"].isin(set(run_customers)) & (payable["rank"] < 3)
    run_items = payable[in_run]
    singles = payable[~payable["customer_id"].isin(set(run_customers))]
    partial_pool = items[~items["payable"]]      # partial payments may go to any open invoice
    want = counts["reference"] + counts["structured"] + counts["payer_only"]
    if len(singles) < want or len(partial_pool) + len(singles) - want < counts["partial"]:
        raise SystemExit(f"the FEC has too few open invoices ({len(items):,}) for {n:,} bank lines: "
                         "ask for more lines or fewer bank lines")
    single = singles.iloc[:want]
    spare = pd.concat([partial_pool, singles.iloc[want:]]).sample(n=counts["partial"],
                                                                   random_state=rng.integers(2 ** 31))
    kind = np.repeat(np.array(["reference", "structured", "payer_only"]),
                     [counts["reference"], counts["structured"], counts["payer_only"]])
    run = run_items.groupby("customer_id", sort=False).agg(amount_minor=("amount_minor", "sum"),
                                                          refs=("invoice_id", " ".join)).reset_index()
    paying = pd.concat([
        pd.DataFrame({"customer_id": single["customer_id"].to_numpy(), "refs": single["invoice_id"].to_numpy(),
                      "amount_minor": single["amount_minor"].to_numpy(), "kind": kind}),
        run.assign(kind="run"),
        pd.DataFrame({"customer_id": spare["customer_id"].to_numpy(), "refs": spare["invoice_id"].to_numpy(),
                      "amount_minor": (spare["amount_minor"].to_numpy() * rng.uniform(0.5, 0.9, len(spare)))
                      .astype("int64"), "kind": "partial"}),
    ], ignore_index=True)
    name = master["name"].reindex(paying["customer_id"]).fillna("").reset_index(drop=True)
    iban = master["iban"].reindex(paying["customer_id"]).fillna("").reset_index(drop=True) \
        if "iban" in master.columns else pd.Series("", index=paying.index)
    payer = pd.Series(np.where(rng.random(len(paying)) < 0.5, _bank_spelling(name), name), dtype=object)
    iban = iban.where(rng.random(len(paying)) < 0.85, "")
    compact = paying["refs"].str.replace("-", "", regex=False)
    free = np.where(rng.random(len(paying)) < 0.7, "VIR " + _bank_spelling(name) + " " + paying["refs"],
                    "FACT " + compact + " " + _bank_spelling(name))
    ustrd = pd.Series(np.select([paying["kind"] == "structured", paying["kind"] == "payer_only"],
                                ["", "VIREMENT " + _bank_spelling(name)], free), dtype=object).str.slice(0, 140)
    e2e = pd.Series(np.where(rng.random(len(paying)) < 0.5, "NOTPROVIDED",
                             "E2E" + pd.Series(rng.integers(0, 10 ** 12, len(paying))).astype(str).str.zfill(12)),
                    dtype=object)
    # not customer payments: interest, suppliers' refunds, unknown payers, fees (debits)
    m = counts["other"]
    other_amount = pd.Series(rng.integers(5_00, 900_00, m)) * np.where(np.arange(m) % 4 == 3, -1, 1)
    other = pd.DataFrame({"amount_minor": other_amount, "payer": np.where(other_amount > 0, "SOCIETE INCONNUE SARL", ""),
                          "iban": "", "ustrd": np.where(other_amount > 0, "REMBOURSEMENT TROP PERCU",
                                                        "FRAIS TENUE DE COMPTE"), "strd": "", "e2e": "NOTPROVIDED",
                          "kind": "other"})
    entries = pd.concat([pd.DataFrame({"amount_minor": paying["amount_minor"], "payer": payer, "iban": iban,
                                       "ustrd": ustrd, "strd": np.where(paying["kind"] == "structured", paying["refs"], ""),
                                       "e2e": e2e, "kind": paying["kind"]}), other], ignore_index=True)
    entries = entries.iloc[rng.permutation(len(entries))].reset_index(drop=True)
    _write_camt(path, entries)
    return {"lines": len(entries), "kinds": {str(k): int(v) for k, v in entries["kind"].value_counts().items()}}


def _write_camt(path: Path, e: pd.DataFrame) -> None:
    from receivables.demo.generator import BANK_ACCOUNT_IBAN, BANK_BIC, CAMT053_NAMESPACE

    day, iso = f"{AS_OF:%Y%m%d}", AS_OF.isoformat()
    credit = e["amount_minor"] > 0
    codes = pd.Series(np.where(credit, "<Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly>",
                               "<Cd>ACMT</Cd><Fmly><Cd>MDOP</Cd><SubFmlyCd>CHRG</SubFmlyCd></Fmly>"), dtype=object)
    refs = pd.Series(np.where(e["e2e"] != "", "<Refs><EndToEndId>" + e["e2e"] + "</EndToEndId></Refs>", ""), dtype=object)
    parties = pd.Series(np.where(e["payer"] != "", "<RltdPties><Dbtr><Nm>" + _xml(e["payer"].str.slice(0, 70))
                                 + "</Nm></Dbtr>" + pd.Series(np.where(
                                     e["iban"] != "", "<DbtrAcct><Id><IBAN>" + e["iban"] + "</IBAN></Id></DbtrAcct>",
                                     ""), dtype=object) + "</RltdPties>", ""), dtype=object)
    strd = e["strd"].str.split(" ").map(lambda refs: "".join(
        f"<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>{r}</Ref></CdtrRefInf></Strd>"
        for r in refs if r))
    remittance = pd.Series(np.where(e["ustrd"] != "", "<Ustrd>" + _xml(e["ustrd"]) + "</Ustrd>", ""), dtype=object) + strd
    remittance = pd.Series(np.where(remittance != "", "<RmtInf>" + remittance + "</RmtInf>", ""), dtype=object)
    position = pd.Series(np.arange(1, len(e) + 1)).astype(str).str.zfill(7)
    ntry = ("<Ntry><Amt Ccy=\"EUR\">" + _amount(e["amount_minor"]) + "</Amt><CdtDbtInd>"
            + pd.Series(np.where(credit, "CRDT", "DBIT"), dtype=object) + "</CdtDbtInd><Sts>BOOK</Sts><BookgDt><Dt>"
            + iso + "</Dt></BookgDt><ValDt><Dt>" + iso + "</Dt></ValDt><AcctSvcrRef>BK" + day + "-" + position
            + "</AcctSvcrRef><BkTxCd><Domn>" + codes + "</Domn></BkTxCd><NtryDtls><TxDtls>" + refs + parties
            + remittance + "</TxDtls></NtryDtls><AddtlNtryInf>"
            + pd.Series(np.where(credit, "VIREMENT SEPA RECU", "COMMISSIONS ET FRAIS"), dtype=object)
            + "</AddtlNtryInf></Ntry>")
    credits, debits = int(e.loc[credit, "amount_minor"].sum()), int(-e.loc[~credit, "amount_minor"].sum())
    opening, net = 250_000_00, credits - debits

    def amount(cents: int) -> str:
        return f"{abs(cents) // 100}.{abs(cents) % 100:02d}"

    def balance(code: str, cents: int) -> str:
        return (f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">{amount(cents)}</Amt>"
                f"<CdtDbtInd>{'CRDT' if cents >= 0 else 'DBIT'}</CdtDbtInd><Dt><Dt>{iso}</Dt></Dt></Bal>")

    head = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{CAMT053_NAMESPACE}"><BkToCstmrStmt>'
            f"<GrpHdr><MsgId>CAMT053-{day}-BENCH</MsgId><CreDtTm>{iso}T06:30:00</CreDtTm></GrpHdr><Stmt>"
            f"<Id>{day}-{BANK_ACCOUNT_IBAN[-13:]}</Id><ElctrncSeqNb>{AS_OF.timetuple().tm_yday}</ElctrncSeqNb>"
            f"<CreDtTm>{iso}T06:30:00</CreDtTm><FrToDt><FrDtTm>{iso}T00:00:00</FrDtTm><ToDtTm>{iso}T23:59:59</ToDtTm>"
            f"</FrToDt><Acct><Id><IBAN>{BANK_ACCOUNT_IBAN}</IBAN></Id><Ccy>EUR</Ccy><Svcr><FinInstnId><BIC>{BANK_BIC}"
            f"</BIC></FinInstnId></Svcr></Acct>{balance('OPBD', opening)}{balance('CLBD', opening + net)}"
            f"<TxsSummry><TtlNtries><NbOfNtries>{len(e)}</NbOfNtries><Sum>{amount(credits + debits)}</Sum>"
            f"<TtlNetNtryAmt>{amount(net)}</TtlNetNtryAmt><CdtDbtInd>{'CRDT' if net >= 0 else 'DBIT'}</CdtDbtInd>"
            f"</TtlNtries><TtlCdtNtries><NbOfNtries>{int(credit.sum())}</NbOfNtries><Sum>{amount(credits)}</Sum>"
            f"</TtlCdtNtries><TtlDbtNtries><NbOfNtries>{int((~credit).sum())}</NbOfNtries><Sum>{amount(debits)}</Sum>"
            f"</TtlDbtNtries></TxsSummry>\n")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(head)
        fh.write("\n".join(ntry))
        fh.write("\n</Stmt></BkToCstmrStmt></Document>\n")


# -- one stage, in a child process -------------------------------------------------------------------

def settings_for(state: dict):  # noqa: ANN201
    from receivables.pipeline.wave import WaveSettings

    return WaveSettings(warehouse_url=state["url"], data_dir=Path(state["data_dir"]), ledger_paths=[state["fec"]],
                        customers_file=state["customers_csv"], bank_paths=[state["statement"]])


def run_stage(name: str, state: dict) -> dict:
    """Call the pipeline body the DAG task `name` calls; returns its (XCom-sized) result."""
    from receivables.pipeline import cash, dispatch, wave

    settings = settings_for(state)
    outbox = dispatch.DispatchSettings(today=AS_OF)     # no provider keys: the file outbox
    if name == "extract_ledger":
        return wave.extract_ledger(settings, AS_OF)
    if name == "validate_ledger":
        return wave.validate_ledger(settings, state["extract_ledger"])
    if name == "load_ledger":
        return wave.load_ledger(settings, state["validate_ledger"], now=NOW)
    if name == "extract_bank_statements":
        return cash.extract_bank_statements(settings, AS_OF)
    if name == "validate_bank_lines":
        return cash.validate_bank_lines(settings, state["extract_bank_statements"], now=NOW)
    if name == "match_bank_lines":
        return cash.match_bank_lines(settings, AS_OF)
    if name == "apply_matches":
        return cash.apply_matches(settings, AS_OF)
    if name == "score_customers":
        return score_in_shards(state)
    if name == "plan_collection_actions":
        return plan_in_shards(state)
    if name == "compute_aging":
        return wave.compute_aging(settings, AS_OF)
    if name == "prepare_dispatch":
        return dispatch.prepare_dispatch(settings, outbox, AS_OF, now=NOW, today=AS_OF, backfill=False)
    if name == "record_approvals":
        keys = state["prepare_dispatch"]["awaiting_approval"]
        return dispatch.record_approvals(settings, keys, approved=True, rejected_keys=[], decided_by="bench",
                                         note="", as_of=AS_OF, now=NOW) if keys else {"decisions": 0}
    if name in ("send_emails", "send_sms"):
        channel = "email" if name == "send_emails" else "sms"
        send = dispatch.send_emails if channel == "email" else dispatch.send_sms
        results = [send(settings, outbox, AS_OF, part=tuple(part), now=NOW)
                   for part in dispatch.dispatch_batches(settings, channel, state["prepare_dispatch"])]
        return {"parts": len(results), "sent": sum(r.get("sent", 0) for r in results), "per_part": results}
    if name == "print_letters":
        return print_some_letters(settings, state)
    if name == "publish_call_list":
        return dispatch.publish_call_list(settings, AS_OF, now=NOW)
    if name == "summarise_dispatch":
        return dispatch.summarise_dispatch(settings, AS_OF)
    if name == "compute_kpis":
        from receivables.pipeline import kpis

        return kpis.compute_kpis(settings, AS_OF)
    raise ValueError(name)


def _step(args: tuple) -> tuple[dict, float]:
    """One DAG task's body in its own process: (its result, its peak RSS in MB)."""
    from receivables.pipeline import wave

    step, state, shard = args
    settings = settings_for(state)
    if step == "train_scoring_model":
        result = wave.train_scoring_model(settings, AS_OF, now=NOW)
    elif step == "score_customers":
        result = wave.score_shard(settings, AS_OF, tuple(shard))
    elif step == "publish_scores":
        result = wave.publish_scores(settings, AS_OF, now=NOW)
    elif step == "plan_shards":
        result = wave.plan_shards(settings, now=NOW)
    else:
        result = wave.plan_collection_actions(settings, AS_OF, now=NOW, shard=tuple(shard), import_first=False)
    return result, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tasks(steps: list[tuple], workers: int) -> tuple[list[dict], float]:
    """Each step in a new process (each DAG task is its own process), at most `workers` at once:
    (the results, the memory they held together at most: the sum of the `workers` largest peaks)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(steps))), max_tasks_per_child=1,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        done = list(pool.map(_step, steps))
    peaks = sorted((peak for _, peak in done), reverse=True)
    return [result for result, _ in done], sum(peaks[:workers])


def score_in_shards(state: dict) -> dict:
    """As the DAG: train_scoring_model, score_customers mapped over the shards (at most --workers
    at once: nothing else runs then), publish_scores; each its own process."""
    workers = state.get("workers", 2)
    [trained], train_mb = _tasks([("train_scoring_model", state, None)], 1)
    scored, score_mb = _tasks([("score_customers", state, shard) for shard in trained["shards"]], workers)
    [published], publish_mb = _tasks([("publish_scores", state, None)], 1)
    return {"shards": len(scored), **published, "peak_mb": max(train_mb, score_mb, publish_mb)}


def plan_in_shards(state: dict) -> dict:
    """As the DAG: plan_shards (registers, shard count), then plan_collection_actions mapped."""
    workers = state.get("workers", 2)
    [prepared], prepare_mb = _tasks([("plan_shards", state, None)], 1)
    results, plan_mb = _tasks([("plan_collection_actions", state, shard) for shard in prepared["shards"]], workers)
    per_channel: dict[str, int] = {}
    for result in results:
        for channel, count in result["per_channel"].items():
            per_channel[channel] = per_channel.get(channel, 0) + count
    return {"shards": len(results), "actions": sum(r["actions"] for r in results),
            "invoices": sum(r["invoices"] for r in results), "per_channel": per_channel,
            "awaiting_approval": sum(r["awaiting_approval"] for r in results), "peak_mb": max(prepare_mb, plan_mb)}


def print_some_letters(settings, state: dict) -> dict:  # noqa: ANN001
    """All the letter parts (`--letters all`), or part 0 of as many parts as hold ~N letters each."""
    from sqlalchemy import func, select

    from receivables.channels.outbox import DISPATCHERS
    from receivables.pipeline import dispatch
    from receivables.pipeline.wave import _engine
    from receivables.warehouse.schema import dispatch_outbox as box

    with _engine(settings).connect() as conn:
        ready = conn.execute(select(func.count()).where(box.c.channel.in_(DISPATCHERS["letter"]),
                                                        box.c.state == "pending", box.c.reason == "")).scalar()
    if state["letters"] == "all":
        parts = dispatch.dispatch_batches(settings, "letter", state["prepare_dispatch"])
    else:
        parts = [[0, max(1, math.ceil(ready / max(1, int(state["letters"]))))]] if ready else []
    results = [dispatch.print_letters(settings, AS_OF, part=tuple(part), now=NOW) for part in parts]
    return {"ready": int(ready), "parts_printed": [p for p in parts], "letters": sum(r["letters"] for r in results),
            "pages": sum(r["pages"] for r in results), "suppressed": sum(r["suppressed"] for r in results)}


def child(name: str, state_file: str, profile: bool) -> None:
    state = json.loads(Path(state_file).read_text())
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        result = profiler.runcall(run_stage, name, state)
        path = Path(state["data_dir"]) / f"{name}.prof"
        profiler.dump_stats(path)
        stats = pstats.Stats(str(path), stream=sys.stderr).sort_stats("cumulative")
        stats.print_stats(45)
        stats.sort_stats("tottime").print_stats(25)
        print(f"profile kept in {path}", file=sys.stderr)
    else:
        result = run_stage(name, state)
    Path(state_file).with_suffix(f".{name}.json").write_text(json.dumps(result, default=str))


def start_child(name: str, state_file: Path, profile: bool, memory_gb: float | None = None) -> subprocess.Popen:
    command = [sys.executable, __file__, "--child", name, str(state_file)] + (["--profile-child"] if profile else [])

    def limit() -> None:   # a stage that needs more fails with MemoryError instead of waking the OOM killer
        cap = int(memory_gb * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return subprocess.Popen(command, env={**os.environ, "GX_ANALYTICS_ENABLED": "False"},
                            preexec_fn=limit if memory_gb else None)


def _write_state(state_file: Path, state: dict) -> None:
    """Atomically: a child starting now must not read a file half rewritten for the next one."""
    temporary = state_file.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(state, default=str))
    os.replace(temporary, state_file)


def run_schedule(stages: list[str], state: dict, state_file: Path, *, workers: int, profiled: set[str],
                 memory_gb: float | None) -> dict[str, dict]:
    """Run `stages` as the scheduler would with `workers` task slots (LocalExecutor parallelism, or
    two Celery workers of one slot each): a stage starts once the stages it waits for (AFTER,
    among those run) have succeeded, at most `workers` at once, in DAG order. Each figure holds
    wall, CPU and peak RSS of the child, and its start and end (seconds from the first start)."""
    figures: dict[str, dict] = {}
    running: dict[int, tuple[str, subprocess.Popen, float]] = {}
    origin = time.perf_counter()
    failed = False
    while True:
        done = {n for n, f in figures.items() if f["ok"]}
        ready = [n for n in stages if n not in figures and n not in {r[0] for r in running.values()}
                 and all(d in done or d not in stages for d in AFTER.get(n, []))]
        while ready and len(running) < workers and not failed:
            name = ready.pop(0)
            _write_state(state_file, state)
            started = time.perf_counter()
            process = start_child(name, state_file, name in profiled, memory_gb)
            running[process.pid] = (name, process, started)
        if not running:
            break
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        name, process, started = running.pop(pid)
        process.returncode = os.waitstatus_to_exitcode(status)
        end = time.perf_counter()
        figure = {"wall": end - started, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
                  "ok": process.returncode == 0, "returncode": process.returncode,
                  "start": started - origin, "end": end - origin}
        result_file = state_file.with_suffix(f".{name}.json")
        state[name] = json.loads(result_file.read_text()) if figure["ok"] and result_file.exists() else {}
        # a stage that ran its DAG tasks in processes of its own (mapped shards) says what they held together
        figure["rss_mb"] = max(figure["rss_mb"], float(state[name].get("peak_mb") or 0)) \
            if isinstance(state[name], dict) else figure["rss_mb"]
        figures[name] = figure
        print(f"  {name:<24} {figure['wall']:8.1f} s wall {figure['cpu']:8.1f} s CPU {figure['rss_mb']:8.0f} MB  "
              f"[{figure['start']:6.1f} -> {figure['end']:6.1f}]  "
              + (brief(name, state[name]) if figure["ok"] else f"FAILED (exit {figure['returncode']})"), flush=True)
        failed = failed or not figure["ok"]
    _write_state(state_file, state)
    return figures


def concurrent_peak_mb(figures: dict[str, dict], names) -> float:
    """The largest sum of peak RSS over stages running at the same time (an upper bound of the
    machine's peak: each stage counted at its own peak for its whole run)."""
    spans = [figures[n] for n in names if n in figures]
    return max((sum(g["rss_mb"] for g in spans if g["start"] <= f["start"] < g["end"]) for f in spans), default=0.0)


# -- the warehouse -----------------------------------------------------------------------------------

def temporary_warehouse(url: str | None, workdir: Path) -> tuple[str, object]:
    """(SQLAlchemy URL, cleanup): a new SQLite file, or a new database on the given server."""
    from receivables.pipeline.settings import sqlalchemy_url
    from receivables.warehouse.db import make_engine, upgrade

    if not url or url.startswith("sqlite"):
        path = workdir / "warehouse.db"
        path.unlink(missing_ok=True)
        target = f"sqlite:///{path}"
        upgrade(make_engine(target))
        return target, lambda: None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(sqlalchemy_url(url))
    name = f"bench_wave_{os.getpid()}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))     # a generated identifier, not user input
    target = server.set(database=name).render_as_string(hide_password=False)
    upgrade(make_engine(target))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return target, drop


# -- the run -----------------------------------------------------------------------------------------

def brief(name: str, result: dict) -> str:
    """A few counts of a stage's result, for the table."""
    pick = {"extract_ledger": lambda r: {s.get("source_file", "?"): s.get("rows_read", s.get("status"))
                                         for s in r.get("sources", [])},
            "validate_ledger": lambda r: [{"valid": s.get("rows_valid"), "quarantined": s.get("rows_quarantined")}
                                          for s in r.get("sources", [])],
            "load_ledger": lambda r: [s.get("rows_loaded", s.get("status")) for s in r.get("sources", [])],
            "extract_bank_statements": lambda r: [f.get("entries_read") for f in r.get("files", [])],
            "validate_bank_lines": lambda r: [(f.get("rows_valid"), f.get("new_lines")) for f in r.get("files", [])],
            "match_bank_lines": lambda r: {k: v for k, v in r.items() if k not in ("as_of", "ledger_cutoff")},
            "apply_matches": lambda r: {k: r.get(k) for k in ("allocations", "applied", "worklist", "exceptions")},
            "score_customers": lambda r: {k: r.get(k) for k in ("shards", "model", "auc", "customers",
                                                                 "invoices_scored")},
            "plan_collection_actions": lambda r: {k: r.get(k) for k in ("shards", "actions", "invoices", "per_channel",
                                                                         "awaiting_approval")},
            "compute_aging": lambda r: {k: r.get(k) for k in ("open_items", "customers_with_balance", "overdue_items")},
            "prepare_dispatch": lambda r: {"enqueued": r.get("enqueued"),
                                           "awaiting_approval": len(r.get("awaiting_approval", []))},
            "send_emails": lambda r: {"parts": r.get("parts"), "sent": r.get("sent")},
            "send_sms": lambda r: {"parts": r.get("parts"), "sent": r.get("sent")},
            "summarise_dispatch": lambda r: r.get("states"),
            "compute_kpis": lambda r: {"kpi_rows": r.get("kpi_rows")}}
    try:
        return json.dumps(pick.get(name, lambda r: r)(result), default=str)[:160]
    except Exception:   # noqa: BLE001  a summary of another shape: shown raw
        return json.dumps(result, default=str)[:160]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="medium")
    parser.add_argument("--customers", type=int)
    parser.add_argument("--lines", type=int)
    parser.add_argument("--bank-lines", type=int)
    parser.add_argument("--stages", help="comma-separated stages to run (default: all, in DAG order)")
    parser.add_argument("--warehouse", help="a PostgreSQL server URL: the wave runs on a temporary database there")
    parser.add_argument("--letters", default="200", help="letters to print (about): a number, or 'all'")
    parser.add_argument("--memory-limit-gb", type=float,
                        help="address-space limit of each stage's process (RLIMIT_AS): on a shared machine a stage "
                             "that outgrows it fails alone (virtual size: a little above the RSS)")
    parser.add_argument("--workers", type=int, default=2,
                        help="task slots: stages the DAG lets run side by side do so (default 2, the 2-core "
                             "machine's LocalExecutor or its two Celery workers; 1: one stage after the other)")
    parser.add_argument("--profile", help="comma-separated stages to run under cProfile")
    parser.add_argument("--workdir", help="run folder (default bench/out/<portfolio>/run: a new warehouse each run "
                                          "unless --stages is given)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.profile_child)
        return

    size = SIZES[args.size]
    customers, lines = args.customers or size["customers"], args.lines or size["lines"]
    bank_lines = args.bank_lines or size["bank_lines"]
    stages = args.stages.split(",") if args.stages else list(STAGES)
    unknown = set(stages) - set(STAGES)
    if unknown:
        parser.error(f"unknown stages {sorted(unknown)}; stages: {', '.join(STAGES)}")
    profiled = set(args.profile.split(",")) if args.profile else set()
    load = os.getloadavg()
    t = time.perf_counter()
    info = portfolio(customers, lines, bank_lines)
    print(f"portfolio: {info['customers']:,} customers, {info['lines']:,} ledger lines ({info['months']} months), "
          f"{info['invoices']:,} invoices, {info['bank_lines']:,} bank lines {info['bank_kinds']} "
          f"(generated in {info['generate_seconds']} s + statement {info['statement_seconds']} s, cached; "
          f"this run read it in {time.perf_counter() - t:.1f} s)")
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")

    workdir = Path(args.workdir) if args.workdir else Path(info["fec"]).parents[1] / "run"
    state_file = workdir / "state.json"
    partial = bool(args.stages) and state_file.exists()
    if partial:
        state = json.loads(state_file.read_text())
        cleanup = lambda: None   # noqa: E731  a subset reuses the run folder and warehouse of the last run
        print(f"reusing the warehouse and state of the last run in {workdir} ({state['url'].split('@')[-1]})")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        url, cleanup = temporary_warehouse(args.warehouse, workdir)
        state = {"url": url, "data_dir": str(workdir / "data"), "fec": info["fec"],
                 "customers_csv": info["customers_csv"], "statement": info["statement"], "letters": args.letters}
    state["letters"], state["workers"] = args.letters, args.workers
    print(f"{args.workers} task slot(s): stages start as the DAG allows [start -> end, seconds from the first start]")
    try:
        figures = run_schedule(stages, state, state_file, workers=args.workers, profiled=profiled,
                               memory_gb=args.memory_limit_gb)
    finally:
        if not args.stages and args.warehouse and not args.warehouse.startswith("sqlite"):
            cleanup()
    report(figures, state, size if not (args.customers or args.lines or args.bank_lines) else None, args)


def report(figures: dict, state: dict, size: dict | None, args) -> None:  # noqa: ANN001
    def total(names) -> tuple[float, float, float]:
        done = [figures[n] for n in names if n in figures]
        return (sum(f["wall"] for f in done), sum(f["cpu"] for f in done), max([f["rss_mb"] for f in done] or [0]))

    wave, dispatch, kpis = total(WAVE), total(DISPATCH), total(("compute_kpis",))
    everything = total(STAGES)
    unprinted = [n for n in STAGES if n != "print_letters" and n in figures]
    span = (max((figures[n]["end"] for n in unprinted), default=0.0)
            - min((figures[n]["start"] for n in unprinted), default=0.0))
    peak = concurrent_peak_mb(figures, STAGES)
    letters = state.get("print_letters") or {}
    print(f"wave (extract .. compute_aging): {wave[0]:.1f} s wall, {wave[1]:.1f} s CPU, peak {wave[2]:.0f} MB")
    print(f"dispatch (prepare .. summarise): {dispatch[0]:.1f} s wall, {dispatch[1]:.1f} s CPU, peak {dispatch[2]:.0f} MB"
          + (f"; letters printed: {letters.get('letters', 0):,} of {letters.get('ready', 0):,} ready "
             f"(--letters {args.letters}; parts {letters.get('parts_printed')})" if "print_letters" in figures else ""))
    print(f"compute_kpis: {kpis[0]:.1f} s wall, {kpis[1]:.1f} s CPU, peak {kpis[2]:.0f} MB")
    print(f"total: {everything[0]:.1f} s of stage wall time, {everything[1]:.1f} s CPU; largest stage {everything[2]:.0f} MB, "
          f"stages running together at most {peak:.0f} MB")
    print(f"the wave without printing, {args.workers} task slot(s): {span:.1f} s from the first start to the end "
          f"of compute_kpis ({sum(figures[n]['cpu'] for n in unprinted):.1f} s CPU)")
    failed = [n for n, f in figures.items() if not f["ok"]]
    if size is None or args.stages or failed:
        print("no verdict: " + ("stages failed: " + ", ".join(failed) if failed else
                                "a subset of stages or another size than the issue's targets"))
        return
    # The target covers the wave and its KPIs; letters are rendering-bound (reported above).
    measured = span
    ok_time = measured <= size["seconds"]
    ok_memory = size["gb"] is None or peak <= size["gb"] * 1024
    print(f"target {args.size}: wave + dispatch without printing + KPIs = {measured:.1f} s <= {size['seconds']} s "
          f"{'yes' if ok_time else 'NO'}" + (f"; peak {peak / 1024:.1f} GB <= {size['gb']} GB "
                                            f"{'yes' if ok_memory else 'NO'}" if size["gb"] else "")
          + f" -> {'PASS' if ok_time and ok_memory else 'see figures'}")


if __name__ == "__main__":
    main()
