"""Ledger imports and lines, customers, quarantine, validation reports, open items, aging, KPIs.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_imports",
        sa.Column("import_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("source_file", sa.String(500), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("encoding", sa.String(20), nullable=False),
        sa.Column("rows_read", sa.Integer, nullable=False),
        sa.Column("rows_loaded", sa.Integer, nullable=False),
        sa.Column("rows_quarantined", sa.Integer, nullable=False),
        sa.Column("as_of", sa.Date),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("sha256", name="uq_ledger_imports_sha256"),
    )
    op.create_table(
        "ledger_lines",
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("import_id", sa.Integer, nullable=False),
        sa.Column("source_file", sa.String(500), nullable=False),
        sa.Column("journal_code", sa.String(50), nullable=False),
        sa.Column("journal_lib", sa.Text, nullable=False),
        sa.Column("entry_num", sa.String(100), nullable=False),
        sa.Column("entry_date", sa.Date, nullable=False),
        sa.Column("account", sa.String(50), nullable=False),
        sa.Column("account_label", sa.Text, nullable=False),
        sa.Column("aux_account", sa.String(100), nullable=False),
        sa.Column("aux_label", sa.Text, nullable=False),
        sa.Column("piece_ref", sa.String(200), nullable=False),
        sa.Column("piece_date", sa.Date),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("debit_minor", sa.BigInteger, nullable=False),
        sa.Column("credit_minor", sa.BigInteger, nullable=False),
        sa.Column("let_code", sa.String(50), nullable=False),
        sa.Column("let_date", sa.Date),
        sa.Column("valid_date", sa.Date),
        sa.Column("currency_amount_minor", sa.BigInteger),
        sa.Column("currency_code", sa.String(3), nullable=False),
        sa.Column("due_date", sa.Date),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.PrimaryKeyConstraint("source", "line_no", name="pk_ledger_lines"),
    )
    op.create_index("ix_ledger_lines_receivable", "ledger_lines", ["account", "aux_account"])
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(100), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("phone", sa.String(50), nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("segment", sa.String(3), nullable=False),
        sa.Column("strategic", sa.Boolean, nullable=False),
        sa.Column("payment_terms_days", sa.Integer),
        sa.Column("opt_out_channels", sa.String(100), nullable=False),
        sa.Column("origin", sa.String(10), nullable=False),
    )
    op.create_table(
        "quarantine",
        sa.Column("quarantine_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("import_id", sa.Integer, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("source_file", sa.String(500), nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("journal_code", sa.String(50), nullable=False),
        sa.Column("entry_num", sa.String(100), nullable=False),
        sa.Column("field", sa.String(100), nullable=False),
        sa.Column("reason_code", sa.String(50), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
    )
    op.create_index("ix_quarantine_import", "quarantine", ["import_id", "line_no"])
    op.create_table(
        "validation_reports",
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("source_file", sa.String(500), nullable=False),
        sa.Column("success", sa.Boolean, nullable=False),
        sa.Column("rows_read", sa.Integer, nullable=False),
        sa.Column("rows_valid", sa.Integer, nullable=False),
        sa.Column("rows_quarantined", sa.Integer, nullable=False),
        sa.Column("report_path", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("as_of", "source", name="pk_validation_reports"),
    )
    op.create_table(
        "open_items",
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("invoice_id", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("item_type", sa.String(10), nullable=False),
        sa.Column("doc_date", sa.Date, nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("original_minor", sa.BigInteger, nullable=False),
        sa.Column("open_minor", sa.BigInteger, nullable=False),
        sa.Column("days_overdue", sa.Integer, nullable=False),
        sa.Column("bucket", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("as_of", "customer_id", "invoice_id", "currency", "item_type", name="pk_open_items"),
    )
    op.create_table(
        "aging_snapshots",
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("not_due_minor", sa.BigInteger, nullable=False),
        sa.Column("d1_30_minor", sa.BigInteger, nullable=False),
        sa.Column("d31_60_minor", sa.BigInteger, nullable=False),
        sa.Column("d61_90_minor", sa.BigInteger, nullable=False),
        sa.Column("d91_120_minor", sa.BigInteger, nullable=False),
        sa.Column("over_120_minor", sa.BigInteger, nullable=False),
        sa.Column("total_minor", sa.BigInteger, nullable=False),
        sa.Column("overdue_minor", sa.BigInteger, nullable=False),
        sa.Column("open_items", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("as_of", "customer_id", "currency", name="pk_aging_snapshots"),
    )
    op.create_table(
        "kpi_daily",
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("metric", sa.String(50), nullable=False),
        sa.Column("segment", sa.String(10), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("value", sa.Numeric(20, 4), nullable=False),
        sa.PrimaryKeyConstraint("as_of", "metric", "segment", "currency", name="pk_kpi_daily"),
    )


def downgrade() -> None:
    for table in ("kpi_daily", "aging_snapshots", "open_items", "validation_reports", "quarantine",
                  "customers", "ledger_lines", "ledger_imports"):
        op.drop_table(table)
