"""Collection planning: today's actions and their invoices, the step register, and the
disputes, promises and payment plans credit managers record.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("dunning_blocked", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("contact_hour", sa.SmallInteger))
    op.create_table(
        "collection_actions",
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("action_key", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("scenario", sa.String(60), nullable=False),
        sa.Column("step_id", sa.String(60), nullable=False),
        sa.Column("offset_days", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("template", sa.String(200), nullable=False),
        sa.Column("tone", sa.String(20), nullable=False),
        sa.Column("invoice_ids", sa.Text, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("principal_minor", sa.BigInteger, nullable=False),
        sa.Column("interest_minor", sa.BigInteger),
        sa.Column("indemnity_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("requires_approval", sa.Boolean, nullable=False),
        sa.Column("legal_fees", sa.Boolean, nullable=False),
        sa.Column("hold_reason", sa.Text, nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("as_of", "action_key", name="pk_collection_actions"),
    )
    op.create_index("ix_collection_actions_customer", "collection_actions", ["customer_id", "as_of"])
    op.create_table(
        "collection_action_lines",
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("action_key", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("invoice_id", sa.String(200), nullable=False),
        sa.Column("step_id", sa.String(60), nullable=False),
        sa.Column("doc_date", sa.Date, nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("original_minor", sa.BigInteger, nullable=False),
        sa.Column("open_minor", sa.BigInteger, nullable=False),
        sa.Column("days_overdue", sa.Integer, nullable=False),
        sa.Column("late_interest_minor", sa.BigInteger),
        sa.Column("indemnity_minor", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("as_of", "action_key", "invoice_id", name="pk_collection_action_lines"),
    )
    op.create_table(
        "collection_steps",
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("invoice_id", sa.String(200), nullable=False),
        sa.Column("step_id", sa.String(60), nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("action_key", sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint("as_of", "customer_id", "invoice_id", "step_id", "outcome", "reason", "action_key", name="pk_collection_steps"),
    )
    op.create_index("ix_collection_steps_invoice", "collection_steps", ["customer_id", "invoice_id", "step_id"])
    op.create_table(
        "disputes",
        sa.Column("dispute_id", sa.String(100), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("invoice_id", sa.String(200), nullable=False),
        sa.Column("reason_code", sa.String(20), nullable=False),
        sa.Column("status", sa.String(15), nullable=False),
        sa.Column("opened_on", sa.Date, nullable=False),
        sa.Column("resolved_on", sa.Date),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "promises",
        sa.Column("promise_id", sa.String(100), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("invoice_ids", sa.Text, nullable=False),
        sa.Column("made_on", sa.Date, nullable=False),
        sa.Column("promised_date", sa.Date, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("open_at_promise_minor", sa.BigInteger),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("judged_on", sa.Date),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "payment_plans",
        sa.Column("plan_id", sa.String(100), primary_key=True),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("invoice_ids", sa.Text, nullable=False),
        sa.Column("total_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("instalments", sa.Integer, nullable=False),
        sa.Column("first_date", sa.Date, nullable=False),
        sa.Column("frequency", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("agreed_on", sa.Date),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("payment_plans")
    op.drop_table("promises")
    op.drop_table("disputes")
    op.drop_table("collection_steps")
    op.drop_table("collection_action_lines")
    op.drop_table("collection_actions")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("contact_hour")
        batch.drop_column("dunning_blocked")
