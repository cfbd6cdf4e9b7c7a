"""The daily collection wave. Wiring only: task bodies live in `receivables.pipeline.tasks`."""

from __future__ import annotations

from datetime import time, timedelta

import pendulum
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param, dag, task
from receivables_timetables import BusinessDayTimetable

DOC = """
### Daily collection wave

One run per French business day (Mon–Fri without public holidays), working on the business
date of its data interval (`as_of`), never the clock: a re-run or a backfill for a past date
recomputes that date's snapshot from the ledger as it stood then. Backfill one day after the
other: `airflow backfill create ... --max-active-runs 1` (a day reads the step register the days
before it wrote; a backfill day whose previous run has not succeeded fails at once).

1. **extract_ledger**: reads the ledger files (FEC, CSV/XLSX aged-balance exports) and the
   customer master into the run folder (`.data/runs/<as_of>/`); a file already imported is
   not parsed again.
2. **validate_ledger**: Great Expectations suite on every line; bad lines are quarantined with a
   reason, the HTML report's path is in the log; a file that is not a usable ledger fails the
   task without retry.
3. **load_ledger**: one transaction into the warehouse: all sources or nothing.
4. **extract_bank_statements → validate_bank_lines**: the statements in the drop folder
   (CAMT.053/054, MT940, CFONB 120, OFX, CSV), checked and stored once (re-imports are no-ops).
5. **match_bank_lines**: receipts the ledger does not know yet matched to open items (references,
   payer, amounts); **apply_matches**: allocations and exceptions to the warehouse, a lettering
   export for the accounting system. Nobody is reminded of an invoice paid today.
6. **train_scoring_model → score_customers → publish_scores**: a model trained once on the
   ledger's history up to `as_of` (rules when the history is thin); then, mapped over customer
   shards, the payer profile per customer and, for every open invoice, the probability of being
   paid late (and more than 30 days late) and its expected payment date; then a risk score
   0–100 and class per customer (its exposure ranked across all shards) with its drivers in
   words. Model metrics in `scoring_models`.
7. **plan_shards → plan_collection_actions**: the register files (disputes, promises, payment
   plans) imported once; then, mapped over customer shards (one shard up to
   `receivables_shard_customers`, 250,000 by default), today's reminders from the collection
   scenarios (courtesy notice, emails, SMS, letters, calls, formal notices with the legal late
   fees, agency hand-offs; statements for strategic accounts), one message per customer, step and channel,
   in `collection_actions`. Disputed, promised, rescheduled and paid-today invoices are left
   alone (`collection_steps` says why); promises are judged kept or broken after today's cash;
   formal notices and hand-offs wait for approval. Re-running a date gives the same actions.
8. **compute_aging**: open items after today's cash and the aged balance (not due, 1–30 …
   >120 days) for `as_of`.

9. **prepare_dispatch**: the day's actions into the outbox (`dispatch_outbox`), once per action
   key. A backfill, a run for a past date or the kill switch (`receivables_dispatch_enabled`
   false) records them as suppressed and contacts no one.
10. **approve_formal_notices**: formal notices and agency hand-offs wait here for a credit
   manager (Required actions in the UI; skipped when none wait); rejections are recorded.
11. **send_emails / send_sms / print_letters / publish_call_list**: one mapped task per channel
   over batches of the outbox (pools `sendgrid`, `twilio`, `print`); each message exactly once
   (SendGrid or `.eml` files, Twilio or files, PDF print batches with a manifest, the call list);
   **summarise_dispatch** counts every action's state.
12. **compute_kpis**: the day's KPIs into `kpi_daily` (aged balance, DSO, best possible DSO, ADD,
   CEI, disputes, promises kept, reminders sent and paid after them, cash applied automatically,
   call list, 8-week cash forecast), per segment, collector and currency, and the fact tables for
   BI tools; runs once dispatch is done even when its tasks were skipped (a backfill).

Settings: connections `sendgrid_default`, `twilio_default`; connection `receivables_warehouse`; Variables (or env) `receivables_ledger`,
`receivables_customers`, `receivables_mapping`, `receivables_bank`, `receivables_scenarios`,
`receivables_disputes`, `receivables_promises`, `receivables_payment_plans`. Params override the paths.

Alerts: a task that fails for good emails the addresses of the Variable
`receivables_alert_recipients` (through `sendgrid_default`, else `.eml` files in
`.data/outbox/alerts/`); every run, success or failure, leaves its counts and amounts per stage in
the run's note (plugin `receivables_run_notes`).
"""


def notify_finance_ops(context) -> None:  # noqa: ANN001
    """A task failed for good: email finance ops (Variable receivables_alert_recipients)."""
    from receivables.pipeline.tasks import notify_failure

    notify_failure(context)


@dag(
    dag_id="ar_collections_daily",
    schedule=BusinessDayTimetable(country="FR", timezone="Europe/Paris", run_at=time(6, 0)),
    start_date=pendulum.datetime(2025, 1, 1, tz="Europe/Paris"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "finance-ops", "retries": 2, "retry_delay": timedelta(minutes=5),
                  "on_failure_callback": notify_finance_ops},
    tags=["receivables", "collections"],
    doc_md=DOC,
    params={
        "ledger": Param(None, type=["null", "string"],
                        description="Ledger files or globs (':'-separated); default: Variable receivables_ledger"),
        "customers": Param(None, type=["null", "string"],
                           description="Customer master CSV; default: Variable receivables_customers"),
        "bank": Param(None, type=["null", "string"],
                      description="Bank statement files or globs (':'-separated); default: Variable receivables_bank"),
    },
)
def ar_collections_daily():
    @task
    def extract_ledger(**context) -> dict:
        from receivables.pipeline import tasks

        return tasks.extract_ledger(context)

    @task
    def validate_ledger(manifest: dict, **context) -> dict:
        from receivables.pipeline import tasks

        return tasks.validate_ledger(manifest, context)

    @task
    def load_ledger(manifest: dict, **context) -> dict:
        from receivables.pipeline import tasks

        return tasks.load_ledger(manifest, context)

    @task
    def compute_aging(**context) -> dict:
        from receivables.pipeline import tasks

        return tasks.compute_aging(context)

    @task
    def extract_bank_statements(**context) -> dict:
        from receivables.pipeline import tasks

        return tasks.extract_bank_statements(context)

    @task
    def validate_bank_lines(manifest: dict, **context) -> dict:
        from receivables.pipeline import tasks

        return tasks.validate_bank_lines(manifest, context)

    @task
    def match_bank_lines(**context) -> dict:
        from receivables.pipeline import tasks

        return tasks.match_bank_lines(context)

    @task
    def apply_matches(**context) -> dict:
        from receivables.pipeline import tasks

        return tasks.apply_matches(context)

    @task
    def train_scoring_model(**context) -> list:
        """The model, trained once on the whole history; returns the customer shards to score."""
        from receivables.pipeline import tasks

        return tasks.train_scoring_model(context)

    @task(map_index_template="{{ task.op_kwargs['shard'] }}")
    def score_customers(shard: list, **context) -> dict:
        from receivables.pipeline import tasks

        return tasks.score_customers(shard, context)

    @task
    def publish_scores(**context) -> dict:
        from receivables.pipeline import tasks

        return tasks.publish_scores(context)

    @task
    def plan_shards(**context) -> list:
        """The register files imported once, and the customers split into planning shards."""
        from receivables.pipeline import tasks

        return tasks.plan_shards(context)

    # One mapped task per customer shard: [0, 1] (everything) below RECEIVABLES_SHARD_CUSTOMERS.
    @task(map_index_template="{{ task.op_kwargs['shard'] }}")
    def plan_collection_actions(shard: list, **context) -> dict:
        from receivables.pipeline import tasks

        return tasks.plan_collection_actions(shard, context)

    @task
    def prepare_dispatch(**context) -> dict:
        from receivables.pipeline import tasks

        return tasks.prepare_dispatch(context)

    @task
    def describe_approvals(prepared: dict, **context) -> str:
        from receivables.pipeline import tasks

        return tasks.describe_approvals(prepared["awaiting_approval"], context)

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def anything_to_approve(prepared: dict) -> bool:
        return bool(prepared["awaiting_approval"])

    # Formal notices and agency hand-offs wait for a credit manager (Airflow UI: Required
    # actions). No answer within the day rejects them: nothing legal goes out unseen.
    approve = HITLOperator(
        task_id="approve_formal_notices",
        subject="Approve the formal notices and agency hand-offs of {{ dag_run.run_after | ds }}",
        body="{{ ti.xcom_pull(task_ids='describe_approvals') }}",
        options=["Approve", "Reject"], defaults=["Reject"],
        params={"reject_action_keys": Param("", type="string", title="Action keys to reject (space-separated)",
                                            description="Approve: every listed action goes out except these")},
        response_timeout=timedelta(hours=10),
    )

    @task
    def record_approvals(prepared: dict, response: dict, **context) -> dict:
        from receivables.pipeline import tasks

        return tasks.record_approvals(prepared["awaiting_approval"], response, context)

    @task(trigger_rule="none_failed")
    def dispatch_batches(channel: str, prepared: dict, **context) -> list:
        """The parts this channel's mapped task takes, counted once approvals are recorded."""
        from receivables.pipeline import tasks

        return tasks.dispatch_batches(channel, prepared, context)

    # One mapped task per channel, over batches of the outbox (a hash of the action key), each
    # provider capped by its pool. Retries are safe: the outbox sends nothing twice.
    @task(pool="sendgrid", map_index_template="{{ task.op_kwargs['part'] }}")
    def send_emails(part: list, **context) -> dict:
        from receivables.pipeline import tasks

        return tasks.send_emails(part, context)

    @task(pool="twilio", map_index_template="{{ task.op_kwargs['part'] }}")
    def send_sms(part: list, **context) -> dict:
        from receivables.pipeline import tasks

        return tasks.send_sms(part, context)

    @task(pool="print", map_index_template="{{ task.op_kwargs['part'] }}")
    def print_letters(part: list, **context) -> dict:
        from receivables.pipeline import tasks

        return tasks.print_letters(part, context)

    @task(map_index_template="{{ task.op_kwargs['part'] }}")
    def publish_call_list(part: list, **context) -> dict:
        from receivables.pipeline import tasks

        return tasks.publish_call_list(part, context)

    @task(trigger_rule="all_done")
    def summarise_dispatch(**context) -> dict:
        from receivables.pipeline import tasks

        return tasks.summarise_dispatch(context)

    # After dispatch (reminders sent today count) whatever was skipped; not after a failure
    # upstream: the day's snapshots would be missing or stale.
    @task(trigger_rule="none_failed")
    def compute_kpis(**context) -> dict:
        from receivables.pipeline import tasks

        return tasks.compute_kpis(context)

    ledger = load_ledger(validate_ledger(extract_ledger()))
    bank = validate_bank_lines(extract_bank_statements())
    matched = match_bank_lines()
    [ledger, bank] >> matched
    to_score = train_scoring_model()
    matched >> apply_matches() >> to_score
    shards = plan_shards()
    score_customers.expand(shard=to_score) >> publish_scores() >> shards
    planned = plan_collection_actions.expand(shard=shards)
    aged = planned >> compute_aging()
    prepared = prepare_dispatch()
    planned >> prepared
    recorded = record_approvals(prepared, approve.output)
    [describe_approvals(prepared), anything_to_approve(prepared)] >> approve
    letters = dispatch_batches.override(task_id="letter_batches")("letter", prepared)
    recorded >> letters
    sent = [send_emails.expand(part=dispatch_batches.override(task_id="email_batches")("email", prepared)),
            send_sms.expand(part=dispatch_batches.override(task_id="sms_batches")("sms", prepared)),
            print_letters.expand(part=letters),
            publish_call_list.expand(part=dispatch_batches.override(task_id="call_batches")("call", prepared))]
    [sent >> summarise_dispatch(), aged] >> compute_kpis()


ar_collections_daily()
