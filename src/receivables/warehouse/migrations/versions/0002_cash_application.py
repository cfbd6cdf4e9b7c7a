"""Cash application: bank statements and lines, allocations, exceptions.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("iban", sa.String(34), nullable=False, server_default=""))
    op.create_table(
        "bank_statements",
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("statement_id", sa.String(200), nullable=False),
        sa.Column("source_file", sa.String(500), nullable=False),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("opening_balance_minor", sa.BigInteger),
        sa.Column("closing_balance_minor", sa.BigInteger),
        sa.Column("opening_date", sa.Date),
        sa.Column("closing_date", sa.Date),
        sa.Column("findings", sa.Text, nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account", "statement_id", name="pk_bank_statements"),
    )
    op.create_table(
        "bank_lines",
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("statement_id", sa.String(200), nullable=False),
        sa.Column("bank_line_id", sa.String(200), nullable=False),
        sa.Column("source_file", sa.String(500), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("booking_date", sa.Date, nullable=False),
        sa.Column("value_date", sa.Date),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("counterparty_name", sa.Text, nullable=False),
        sa.Column("counterparty_account", sa.String(64), nullable=False),
        sa.Column("ultimate_debtor", sa.Text, nullable=False),
        sa.Column("remittance", sa.Text, nullable=False),
        sa.Column("structured_ref", sa.String(200), nullable=False),
        sa.Column("end_to_end_id", sa.String(200), nullable=False),
        sa.Column("bank_reference", sa.String(200), nullable=False),
        sa.Column("transaction_code", sa.String(100), nullable=False),
        sa.Column("original_amount_minor", sa.BigInteger),
        sa.Column("original_currency", sa.String(3), nullable=False),
        sa.Column("charges_minor", sa.BigInteger),
        sa.PrimaryKeyConstraint("account", "statement_id", "bank_line_id", name="pk_bank_lines"),
    )
    op.create_index("ix_bank_lines_booking", "bank_lines", ["booking_date"])
    op.create_table(
        "bank_allocations",
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("allocation_no", sa.Integer, nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("statement_id", sa.String(200), nullable=False),
        sa.Column("bank_line_id", sa.String(200), nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("invoice_id", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("rule", sa.String(30), nullable=False),
        sa.Column("confidence", sa.Numeric(4, 3), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("alternatives", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("as_of", "allocation_no", name="pk_bank_allocations"),
    )
    op.create_index("ix_bank_allocations_line", "bank_allocations", ["as_of", "bank_line_id"])
    op.create_table(
        "bank_exceptions",
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("statement_id", sa.String(200), nullable=False),
        sa.Column("bank_line_id", sa.String(200), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason_code", sa.String(30), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("counterparty_name", sa.Text, nullable=False),
        sa.Column("remittance", sa.Text, nullable=False),
        sa.Column("suggested_customer_id", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("as_of", "account", "statement_id", "bank_line_id", name="pk_bank_exceptions"),
    )


def downgrade() -> None:
    for table in ("bank_exceptions", "bank_allocations", "bank_lines", "bank_statements"):
        op.drop_table(table)
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("iban")
