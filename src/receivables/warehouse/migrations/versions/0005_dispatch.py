"""Dispatch: the outbox (one row per action, exactly once), approvals, SendGrid delivery events,
suppressed contacts, the call list and its outcomes, and the print batches.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dispatch_outbox",
        sa.Column("action_key", sa.String(40), primary_key=True),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("step_id", sa.String(60), nullable=False),
        sa.Column("batch", sa.SmallInteger, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("provider_message_id", sa.String(200), nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("units", sa.Integer),
        sa.Column("parent_action_key", sa.String(40), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_dispatch_outbox_work", "dispatch_outbox", ["channel", "state", "batch"])
    op.create_index("ix_dispatch_outbox_as_of", "dispatch_outbox", ["as_of"])
    op.create_table(
        "dispatch_approvals",
        sa.Column("action_key", sa.String(40), primary_key=True),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("decision", sa.String(10), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_table(
        "email_events",
        sa.Column("sg_event_id", sa.String(100), primary_key=True),
        sa.Column("action_key", sa.String(40), nullable=False),
        sa.Column("event", sa.String(30), nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sg_message_id", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_email_events_action", "email_events", ["action_key"])
    op.create_table(
        "contact_suppressions",
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("source_id", sa.String(100), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "address", name="pk_contact_suppressions"),
    )
    op.create_table(
        "call_list",
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("action_key", sa.String(40), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("phone", sa.String(50), nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("step_id", sa.String(60), nullable=False),
        sa.Column("invoice_ids", sa.Text, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("days_overdue", sa.Integer, nullable=False),
        sa.Column("risk_score", sa.Integer),
        sa.Column("expected_value_minor", sa.BigInteger, nullable=False),
        sa.Column("drivers", sa.Text, nullable=False),
        sa.Column("script", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("as_of", "action_key", name="pk_call_list"),
    )
    op.create_table(
        "call_outcomes",
        sa.Column("outcome_id", sa.String(100), primary_key=True),
        sa.Column("action_key", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("called_on", sa.Date, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("invoice_ids", sa.Text, nullable=False),
        sa.Column("promised_date", sa.Date),
        sa.Column("amount_minor", sa.BigInteger),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("dispute_reason", sa.String(20), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "print_batches",
        sa.Column("batch_id", sa.String(60), primary_key=True),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("letters", sa.Integer, nullable=False),
        sa.Column("pages", sa.Integer, nullable=False),
        sa.Column("registered", sa.Integer, nullable=False),
        sa.Column("pdf_path", sa.Text, nullable=False),
        sa.Column("manifest_path", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("print_batches")
    op.drop_table("call_outcomes")
    op.drop_table("call_list")
    op.drop_table("contact_suppressions")
    op.drop_table("email_events")
    op.drop_table("dispatch_approvals")
    op.drop_table("dispatch_outbox")
