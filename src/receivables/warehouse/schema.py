"""The warehouse schema (SQLAlchemy Core). The same tables run on SQLite and PostgreSQL.

Owners and keys are documented in docs/warehouse.md; Alembic migrations under
`warehouse/migrations/versions/` create them, and a test checks the migrations and this module
agree. Amounts are BIGINT minor units beside a currency column; KPI values are NUMERIC.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData()

ledger_imports = Table(
    "ledger_imports", metadata,
    Column("import_id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False),
    Column("source_file", String(500), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("format", String(20), nullable=False),
    Column("encoding", String(20), nullable=False),
    Column("rows_read", Integer, nullable=False),
    Column("rows_loaded", Integer, nullable=False),
    Column("rows_quarantined", Integer, nullable=False),
    Column("as_of", Date),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("sha256", name="uq_ledger_imports_sha256"),
)

ledger_lines = Table(
    "ledger_lines", metadata,
    Column("source", String(200), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("import_id", Integer, nullable=False),
    Column("source_file", String(500), nullable=False),
    Column("journal_code", String(50), nullable=False),
    Column("journal_lib", Text, nullable=False),
    Column("entry_num", String(100), nullable=False),
    Column("entry_date", Date, nullable=False),
    Column("account", String(50), nullable=False),
    Column("account_label", Text, nullable=False),
    Column("aux_account", String(100), nullable=False),
    Column("aux_label", Text, nullable=False),
    Column("piece_ref", String(200), nullable=False),
    Column("piece_date", Date),
    Column("label", Text, nullable=False),
    Column("debit_minor", BigInteger, nullable=False),
    Column("credit_minor", BigInteger, nullable=False),
    Column("let_code", String(50), nullable=False),
    Column("let_date", Date),
    Column("valid_date", Date),
    Column("currency_amount_minor", BigInteger),
    Column("currency_code", String(3), nullable=False),
    Column("due_date", Date),
    Column("currency", String(3), nullable=False),
    PrimaryKeyConstraint("source", "line_no", name="pk_ledger_lines"),
    Index("ix_ledger_lines_receivable", "account", "aux_account"),
)

customers = Table(
    "customers", metadata,
    Column("customer_id", String(100), primary_key=True),
    Column("name", Text, nullable=False),
    Column("country", String(2), nullable=False),
    Column("language", String(2), nullable=False),
    Column("email", Text, nullable=False),
    Column("phone", String(50), nullable=False),
    Column("address", Text, nullable=False),
    Column("segment", String(3), nullable=False),
    Column("strategic", Boolean, nullable=False),
    Column("payment_terms_days", Integer),
    Column("opt_out_channels", String(100), nullable=False),
    Column("origin", String(10), nullable=False),   # 'master' or 'ledger' (seen only in the ledger)
    Column("iban", String(34), nullable=False, server_default=""),   # migration 0002
    Column("dunning_blocked", Boolean, nullable=False, server_default=false()),   # migration 0004
    Column("contact_hour", SmallInteger),                                          # migration 0004
    Column("collector", String(100), nullable=False, server_default=""),           # migration 0006
)

quarantine = Table(
    "quarantine", metadata,
    Column("quarantine_id", Integer, primary_key=True, autoincrement=True),
    Column("import_id", Integer, nullable=False),
    Column("source", String(200), nullable=False),
    Column("source_file", String(500), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("journal_code", String(50), nullable=False),
    Column("entry_num", String(100), nullable=False),
    Column("field", String(100), nullable=False),
    Column("reason_code", String(50), nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False),
    Index("ix_quarantine_import", "import_id", "line_no"),
)

validation_reports = Table(
    "validation_reports", metadata,
    Column("as_of", Date, nullable=False),
    Column("source", String(200), nullable=False),
    Column("source_file", String(500), nullable=False),
    Column("success", Boolean, nullable=False),
    Column("rows_read", Integer, nullable=False),
    Column("rows_valid", Integer, nullable=False),
    Column("rows_quarantined", Integer, nullable=False),
    Column("report_path", Text, nullable=False),
    PrimaryKeyConstraint("as_of", "source", name="pk_validation_reports"),
)

open_items = Table(
    "open_items", metadata,
    Column("as_of", Date, nullable=False),
    Column("customer_id", String(100), nullable=False),
    Column("invoice_id", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("item_type", String(10), nullable=False),     # 'invoice' (we are owed) or 'credit'
    Column("doc_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("original_minor", BigInteger, nullable=False),
    Column("open_minor", BigInteger, nullable=False),     # signed: credits are negative
    Column("days_overdue", Integer, nullable=False),
    Column("bucket", String(10), nullable=False),
    PrimaryKeyConstraint("as_of", "customer_id", "invoice_id", "currency", "item_type", name="pk_open_items"),
)

aging_snapshots = Table(
    "aging_snapshots", metadata,
    Column("as_of", Date, nullable=False),
    Column("customer_id", String(100), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("not_due_minor", BigInteger, nullable=False),
    Column("d1_30_minor", BigInteger, nullable=False),
    Column("d31_60_minor", BigInteger, nullable=False),
    Column("d61_90_minor", BigInteger, nullable=False),
    Column("d91_120_minor", BigInteger, nullable=False),
    Column("over_120_minor", BigInteger, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("overdue_minor", BigInteger, nullable=False),
    Column("open_items", Integer, nullable=False),
    PrimaryKeyConstraint("as_of", "customer_id", "currency", name="pk_aging_snapshots"),
)

# Reshaped by migration 0006 (docs/warehouse.md lists the metrics; src/receivables/kpis/ computes them).
kpi_daily = Table(
    "kpi_daily", metadata,
    Column("as_of", Date, nullable=False),
    Column("metric", String(50), nullable=False),
    Column("segment", String(10), nullable=False),                           # '' for all segments
    Column("currency", String(3), nullable=False),
    Column("collector", String(100), nullable=False, server_default=""),     # '' for all collectors
    Column("breakdown", String(50), nullable=False, server_default=""),      # '' for none: bucket, reason, channel...
    Column("value", Numeric(20, 4), nullable=False),
    PrimaryKeyConstraint("as_of", "metric", "segment", "currency", "collector", "breakdown", name="pk_kpi_daily"),
)


# -- cash application (migration 0002) -------------------------------------------------------------

bank_statements = Table(
    "bank_statements", metadata,
    Column("account", String(64), nullable=False),
    Column("statement_id", String(200), nullable=False),
    Column("source_file", String(500), nullable=False),
    Column("format", String(10), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("opening_balance_minor", BigInteger),
    Column("closing_balance_minor", BigInteger),
    Column("opening_date", Date),
    Column("closing_date", Date),
    Column("findings", Text, nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("account", "statement_id", name="pk_bank_statements"),
)

bank_lines = Table(
    "bank_lines", metadata,
    Column("account", String(64), nullable=False),
    Column("statement_id", String(200), nullable=False),
    Column("bank_line_id", String(200), nullable=False),
    Column("source_file", String(500), nullable=False),
    Column("position", Integer, nullable=False),
    Column("booking_date", Date, nullable=False),
    Column("value_date", Date),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("counterparty_name", Text, nullable=False),
    Column("counterparty_account", String(64), nullable=False),
    Column("ultimate_debtor", Text, nullable=False),
    Column("remittance", Text, nullable=False),
    Column("structured_ref", String(200), nullable=False),
    Column("end_to_end_id", String(200), nullable=False),
    Column("bank_reference", String(200), nullable=False),
    Column("transaction_code", String(100), nullable=False),
    Column("original_amount_minor", BigInteger),
    Column("original_currency", String(3), nullable=False),
    Column("charges_minor", BigInteger),
    PrimaryKeyConstraint("account", "statement_id", "bank_line_id", name="pk_bank_lines"),
    Index("ix_bank_lines_booking", "booking_date"),
)

bank_allocations = Table(
    "bank_allocations", metadata,
    Column("as_of", Date, nullable=False),
    Column("allocation_no", Integer, nullable=False),
    Column("account", String(64), nullable=False),
    Column("statement_id", String(200), nullable=False),
    Column("bank_line_id", String(200), nullable=False),
    Column("customer_id", String(100), nullable=False),
    Column("invoice_id", String(200), nullable=False),   # '' for an on-account credit
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("rule", String(30), nullable=False),
    Column("confidence", Numeric(4, 3), nullable=False),
    Column("status", String(10), nullable=False),        # auto (applied) or suggested (worklist)
    Column("evidence", Text, nullable=False),
    Column("alternatives", Text, nullable=False),
    PrimaryKeyConstraint("as_of", "allocation_no", name="pk_bank_allocations"),
    Index("ix_bank_allocations_line", "as_of", "bank_line_id"),
)

bank_exceptions = Table(
    "bank_exceptions", metadata,
    Column("as_of", Date, nullable=False),
    Column("account", String(64), nullable=False),
    Column("statement_id", String(200), nullable=False),
    Column("bank_line_id", String(200), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason_code", String(30), nullable=False),
    Column("reason", Text, nullable=False),
    Column("counterparty_name", Text, nullable=False),
    Column("remittance", Text, nullable=False),
    Column("suggested_customer_id", String(100), nullable=False),
    PrimaryKeyConstraint("as_of", "account", "statement_id", "bank_line_id", name="pk_bank_exceptions"),
)


# -- scoring (migration 0003) ----------------------------------------------------------------------
# Probabilities, shares and day counts are FLOAT (they are not money); amounts stay BIGINT minor units.

payer_profiles = Table(
    "payer_profiles", metadata,
    Column("as_of", Date, nullable=False),
    Column("customer_id", String(100), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("segment", String(10), nullable=False),
    Column("segment_source", String(10), nullable=False),    # master or volume
    Column("strategic", Boolean, nullable=False),
    Column("invoices", Integer, nullable=False),
    Column("invoices_settled", Integer, nullable=False),
    Column("days_to_pay_mean", Float),
    Column("days_to_pay_p25", Float),
    Column("days_to_pay_p50", Float),
    Column("days_to_pay_p75", Float),
    Column("days_to_pay_p90", Float),
    Column("days_late_mean", Float),
    Column("days_late_weighted", Float),
    Column("days_late_3m", Float),
    Column("days_late_6m", Float),
    Column("days_late_12m", Float),
    Column("trend_3m_vs_12m", Float),
    Column("late_share", Float),
    Column("late_30_share", Float),
    Column("partial_share", Float),
    Column("dispute_rate", Float),
    Column("broken_promise_rate", Float),
    Column("open_minor", BigInteger, nullable=False),
    Column("overdue_minor", BigInteger, nullable=False),
    Column("overdue_items", Integer, nullable=False),
    Column("oldest_overdue_days", Integer),
    Column("usual_pay_day", SmallInteger),
    Column("usual_pay_weekday", SmallInteger),               # 0 = Monday
    Column("billed_12m_minor", BigInteger, nullable=False),
    PrimaryKeyConstraint("as_of", "customer_id", name="pk_payer_profiles"),
)

invoice_predictions = Table(
    "invoice_predictions", metadata,
    Column("as_of", Date, nullable=False),
    Column("customer_id", String(100), nullable=False),
    Column("invoice_id", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("open_minor", BigInteger, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("days_overdue", Integer, nullable=False),
    Column("p_late", Float, nullable=False),
    Column("p_late_30", Float, nullable=False),
    Column("expected_days_late", Integer, nullable=False),
    Column("expected_payment_date", Date, nullable=False),
    Column("model_kind", String(10), nullable=False),
    PrimaryKeyConstraint("as_of", "customer_id", "invoice_id", "currency", name="pk_invoice_predictions"),
)

risk_scores = Table(
    "risk_scores", metadata,
    Column("as_of", Date, nullable=False),
    Column("customer_id", String(100), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("score", SmallInteger, nullable=False),           # 0-100
    Column("risk_class", String(10), nullable=False),        # low, medium, high, critical
    Column("p_late", Float, nullable=False),
    Column("p_late_30", Float, nullable=False),
    Column("open_minor", BigInteger, nullable=False),
    Column("overdue_minor", BigInteger, nullable=False),
    Column("oldest_overdue_days", Integer),
    Column("expected_late_minor", BigInteger, nullable=False),
    Column("drivers", Text, nullable=False),
    Column("model_kind", String(10), nullable=False),
    PrimaryKeyConstraint("as_of", "customer_id", name="pk_risk_scores"),
    Index("ix_risk_scores_class", "as_of", "risk_class"),
)

scoring_models = Table(
    "scoring_models", metadata,
    Column("as_of", Date, nullable=False),
    Column("kind", String(10), nullable=False),              # gbm or rules
    Column("reason", Text, nullable=False),                  # why the rules were used, '' for gbm
    Column("auc", Float),
    Column("brier", Float),
    Column("auc_30", Float),
    Column("brier_30", Float),
    Column("mae_days", Float),
    Column("rows", Text, nullable=False),                    # JSON: train / calibration / test counts
    Column("metrics", Text, nullable=False),                 # JSON: all metrics, baselines included
    Column("artifact_path", Text, nullable=False),           # the fitted model (joblib), '' for rules
    Column("artifact_sha256", String(64), nullable=False),
    Column("trained_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("as_of", name="pk_scoring_models"),
)


# -- collection planning (migration 0004) ----------------------------------------------------------

collection_actions = Table(
    "collection_actions", metadata,
    Column("as_of", Date, nullable=False),
    Column("action_key", String(40), nullable=False),        # sha256(customer|scenario|step|channel|currency|cycle)[:20]
    Column("customer_id", String(100), nullable=False),
    Column("scenario", String(60), nullable=False),
    Column("step_id", String(60), nullable=False),
    Column("offset_days", Integer, nullable=False),
    Column("channel", String(20), nullable=False),
    Column("template", String(200), nullable=False),
    Column("tone", String(20), nullable=False),
    Column("invoice_ids", Text, nullable=False),              # space-separated
    Column("amount_minor", BigInteger, nullable=False),       # what the message asks for
    Column("principal_minor", BigInteger, nullable=False),
    Column("interest_minor", BigInteger),                     # legal fees only; NULL: rate table missing
    Column("indemnity_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("language", String(2), nullable=False),
    Column("requires_approval", Boolean, nullable=False),
    Column("legal_fees", Boolean, nullable=False),
    Column("hold_reason", Text, nullable=False),              # '' unless the message must not go out as is
    Column("send_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("as_of", "action_key", name="pk_collection_actions"),
    Index("ix_collection_actions_customer", "customer_id", "as_of"),
)

collection_action_lines = Table(
    "collection_action_lines", metadata,
    Column("as_of", Date, nullable=False),
    Column("action_key", String(40), nullable=False),
    Column("customer_id", String(100), nullable=False),
    Column("invoice_id", String(200), nullable=False),        # '<plan_id>#<n>' for a plan instalment
    Column("step_id", String(60), nullable=False),
    Column("doc_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("original_minor", BigInteger, nullable=False),
    Column("open_minor", BigInteger, nullable=False),
    Column("days_overdue", Integer, nullable=False),
    Column("late_interest_minor", BigInteger),
    Column("indemnity_minor", BigInteger, nullable=False),
    PrimaryKeyConstraint("as_of", "action_key", "invoice_id", name="pk_collection_action_lines"),
)

# What happened to each due step of each invoice on each run: planned (in an action), passed
# (under the minimum, opted out: done, the invoice moves on) or held (disputed, promised, on a
# plan, paid today: comes back). The planner's `done` is planned + passed of earlier runs.
collection_steps = Table(
    "collection_steps", metadata,
    Column("as_of", Date, nullable=False),
    Column("customer_id", String(100), nullable=False),
    Column("invoice_id", String(200), nullable=False),
    Column("step_id", String(60), nullable=False),
    Column("due_date", Date, nullable=False),                 # the dunning cycle
    Column("outcome", String(10), nullable=False),            # planned, passed, held
    Column("reason", String(20), nullable=False),             # '' when planned
    Column("action_key", String(40), nullable=False),         # '' unless planned
    PrimaryKeyConstraint("as_of", "customer_id", "invoice_id", "step_id", "outcome", "reason", "action_key",
                         name="pk_collection_steps"),
    Index("ix_collection_steps_invoice", "customer_id", "invoice_id", "step_id"),
)

disputes = Table(
    "disputes", metadata,
    Column("dispute_id", String(100), primary_key=True),
    Column("customer_id", String(100), nullable=False),
    Column("invoice_id", String(200), nullable=False),
    Column("reason_code", String(20), nullable=False),        # price quantity quality delivery duplicate_invoice already_paid other
    Column("status", String(15), nullable=False),             # open investigating resolved
    Column("opened_on", Date, nullable=False),
    Column("resolved_on", Date),
    Column("note", Text, nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
)

promises = Table(
    "promises", metadata,
    Column("promise_id", String(100), primary_key=True),
    Column("customer_id", String(100), nullable=False),
    Column("invoice_ids", Text, nullable=False),              # '' = the customer's invoices issued by made_on
    Column("made_on", Date, nullable=False),
    Column("promised_date", Date, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("open_at_promise_minor", BigInteger),              # filled on first sight unless given
    Column("status", String(10), nullable=False),             # pending kept broken
    Column("judged_on", Date),
    Column("note", Text, nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
)

payment_plans = Table(
    "payment_plans", metadata,
    Column("plan_id", String(100), primary_key=True),
    Column("customer_id", String(100), nullable=False),
    Column("invoice_ids", Text, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("instalments", Integer, nullable=False),
    Column("first_date", Date, nullable=False),
    Column("frequency", String(10), nullable=False),          # weekly biweekly monthly quarterly
    Column("status", String(10), nullable=False),             # active cancelled completed
    Column("agreed_on", Date),
    Column("note", Text, nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
)


# -- dispatch (migration 0005) --------------------------------------------------------------------

# One row per action ever handed to dispatch, keyed by the planner's action_key (stable across
# re-plans and re-runs of a date): the row, not the day's plan, says whether a message went out.
# state: pending -> sending -> sent | failed | bounced; suppressed (never contacted: kill switch,
# past-date run, rejected, on hold, opted out). 'sending' rows are in doubt: the provider may have
# accepted them (see channels/outbox.py for the reconciliation policy).
dispatch_outbox = Table(
    "dispatch_outbox", metadata,
    Column("action_key", String(40), primary_key=True),
    Column("as_of", Date, nullable=False),                    # the business date that first enqueued it
    Column("customer_id", String(100), nullable=False),
    Column("channel", String(20), nullable=False),            # email sms letter statement formal_notice agency_handoff call
    Column("step_id", String(60), nullable=False),
    Column("batch", SmallInteger, nullable=False),            # the mapped dispatch task that owns it
    Column("state", String(12), nullable=False),
    Column("reason", Text, nullable=False),                   # why failed/suppressed/bounced, or what it waits for
    Column("attempts", Integer, nullable=False),
    Column("provider", String(20), nullable=False),           # sendgrid file twilio print call_list
    Column("provider_message_id", String(200), nullable=False),
    Column("recipient", Text, nullable=False),                # the address, number or postal address used
    Column("units", Integer),                                 # SMS segments, letter pages
    Column("parent_action_key", String(40), nullable=False),  # the bounced email a fallback letter replaces
    Column("send_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Index("ix_dispatch_outbox_work", "channel", "state", "batch"),
    Index("ix_dispatch_outbox_as_of", "as_of"),
)

dispatch_approvals = Table(
    "dispatch_approvals", metadata,
    Column("action_key", String(40), primary_key=True),
    Column("as_of", Date, nullable=False),
    Column("decision", String(10), nullable=False),           # approved rejected
    Column("decided_by", String(200), nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("note", Text, nullable=False),
)

email_events = Table(
    "email_events", metadata,
    Column("sg_event_id", String(100), primary_key=True),    # SendGrid retries deliveries: dedupe here
    Column("action_key", String(40), nullable=False),         # from custom_args ('' when absent)
    Column("event", String(30), nullable=False),
    Column("email", Text, nullable=False),
    Column("event_at", DateTime(timezone=True), nullable=False),
    Column("sg_message_id", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_email_events_action", "action_key"),
)

# Addresses and numbers no message may go to any more: hard bounces, drops, spam reports,
# unsubscribes, SMS STOP. Planning treats the customer as opted out of that channel.
contact_suppressions = Table(
    "contact_suppressions", metadata,
    Column("channel", String(20), nullable=False),
    Column("address", String(320), nullable=False),
    Column("customer_id", String(100), nullable=False),
    Column("reason", String(30), nullable=False),             # bounce dropped spamreport unsubscribe stop
    Column("source_id", String(100), nullable=False),         # the event or message that said so
    Column("since", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("channel", "address", name="pk_contact_suppressions"),
)

call_list = Table(
    "call_list", metadata,
    Column("as_of", Date, nullable=False),
    Column("action_key", String(40), nullable=False),
    Column("priority", Integer, nullable=False),              # 1 = call first
    Column("customer_id", String(100), nullable=False),
    Column("name", Text, nullable=False),
    Column("phone", String(50), nullable=False),
    Column("email", Text, nullable=False),
    Column("step_id", String(60), nullable=False),
    Column("invoice_ids", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("days_overdue", Integer, nullable=False),          # the oldest invoice's
    Column("risk_score", Integer),                            # 0-100
    Column("expected_value_minor", BigInteger, nullable=False),
    Column("drivers", Text, nullable=False),
    Column("script", Text, nullable=False),
    PrimaryKeyConstraint("as_of", "action_key", name="pk_call_list"),
)

call_outcomes = Table(
    "call_outcomes", metadata,
    Column("outcome_id", String(100), primary_key=True),
    Column("action_key", String(40), nullable=False),
    Column("customer_id", String(100), nullable=False),
    Column("called_on", Date, nullable=False),
    Column("outcome", String(20), nullable=False),            # reached no_answer promise dispute wrong_number
    Column("invoice_ids", Text, nullable=False),
    Column("promised_date", Date),
    Column("amount_minor", BigInteger),
    Column("currency", String(3), nullable=False),
    Column("dispute_reason", String(20), nullable=False),
    Column("note", Text, nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
)

print_batches = Table(
    "print_batches", metadata,
    Column("batch_id", String(60), primary_key=True),
    Column("as_of", Date, nullable=False),
    Column("letters", Integer, nullable=False),
    Column("pages", Integer, nullable=False),
    Column("registered", Integer, nullable=False),            # formal notices: registered mail with acknowledgement
    Column("pdf_path", Text, nullable=False),
    Column("manifest_path", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


# -- KPIs for BI tools (migration 0006) -------------------------------------------------------------
# Written by compute_kpis. No names, emails or phones: a BI tool joins on ids.

dim_customer = Table(
    "dim_customer", metadata,
    Column("customer_id", String(100), primary_key=True),
    Column("segment", String(10), nullable=False),
    Column("country", String(2), nullable=False),
    Column("language", String(2), nullable=False),
    Column("collector", String(100), nullable=False),
    Column("strategic", Boolean, nullable=False),
)

dim_date = Table(
    "dim_date", metadata,
    Column("day", Date, primary_key=True),
    Column("iso_week", String(8), nullable=False),            # 2025-W27
    Column("month", SmallInteger, nullable=False),
    Column("quarter", SmallInteger, nullable=False),
    Column("year", SmallInteger, nullable=False),
    Column("is_business_day", Boolean, nullable=False),       # the company's country calendar
)

fact_receivables = Table(
    "fact_receivables", metadata,
    Column("as_of", Date, nullable=False),
    Column("customer_id", String(100), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("not_due_minor", BigInteger, nullable=False),
    Column("d1_30_minor", BigInteger, nullable=False),
    Column("d31_60_minor", BigInteger, nullable=False),
    Column("d61_90_minor", BigInteger, nullable=False),
    Column("d91_120_minor", BigInteger, nullable=False),
    Column("over_120_minor", BigInteger, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    Column("overdue_minor", BigInteger, nullable=False),
    Column("disputed_minor", BigInteger, nullable=False),
    Column("risk_class", String(10), nullable=False),         # '' when the customer was not scored
    Column("p_late", Float),
    PrimaryKeyConstraint("as_of", "customer_id", "currency", name="pk_fact_receivables"),
)

# The actions the day's effectiveness KPIs measure: those sent (or handed to dispatch) in the
# 90 days up to `as_of`, with their outcome as known on `as_of` (NULL while the window runs).
fact_collection_actions = Table(
    "fact_collection_actions", metadata,
    Column("as_of", Date, nullable=False),
    Column("action_key", String(40), nullable=False),
    Column("sent_on", Date, nullable=False),                  # the wave that dispatched it (outbox as_of)
    Column("customer_id", String(100), nullable=False),
    Column("step_id", String(60), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("state", String(12), nullable=False),
    Column("paid_within_7d", Boolean),
    Column("paid_within_14d", Boolean),
    PrimaryKeyConstraint("as_of", "action_key", name="pk_fact_collection_actions"),
)

fact_cash_forecast = Table(
    "fact_cash_forecast", metadata,
    Column("as_of", Date, nullable=False),
    Column("week_start", Date, nullable=False),               # a Monday
    Column("segment", String(10), nullable=False),            # '' for all segments
    Column("currency", String(3), nullable=False),
    Column("expected_minor", BigInteger, nullable=False),
    PrimaryKeyConstraint("as_of", "week_start", "segment", "currency", name="pk_fact_cash_forecast"),
)
