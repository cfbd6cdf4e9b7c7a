"""Scoring: payer profiles, invoice predictions, risk scores, the model of each as_of.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payer_profiles",
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("segment", sa.String(10), nullable=False),
        sa.Column("segment_source", sa.String(10), nullable=False),
        sa.Column("strategic", sa.Boolean, nullable=False),
        sa.Column("invoices", sa.Integer, nullable=False),
        sa.Column("invoices_settled", sa.Integer, nullable=False),
        sa.Column("days_to_pay_mean", sa.Float),
        sa.Column("days_to_pay_p25", sa.Float),
        sa.Column("days_to_pay_p50", sa.Float),
        sa.Column("days_to_pay_p75", sa.Float),
        sa.Column("days_to_pay_p90", sa.Float),
        sa.Column("days_late_mean", sa.Float),
        sa.Column("days_late_weighted", sa.Float),
        sa.Column("days_late_3m", sa.Float),
        sa.Column("days_late_6m", sa.Float),
        sa.Column("days_late_12m", sa.Float),
        sa.Column("trend_3m_vs_12m", sa.Float),
        sa.Column("late_share", sa.Float),
        sa.Column("late_30_share", sa.Float),
        sa.Column("partial_share", sa.Float),
        sa.Column("dispute_rate", sa.Float),
        sa.Column("broken_promise_rate", sa.Float),
        sa.Column("open_minor", sa.BigInteger, nullable=False),
        sa.Column("overdue_minor", sa.BigInteger, nullable=False),
        sa.Column("overdue_items", sa.Integer, nullable=False),
        sa.Column("oldest_overdue_days", sa.Integer),
        sa.Column("usual_pay_day", sa.SmallInteger),
        sa.Column("usual_pay_weekday", sa.SmallInteger),
        sa.Column("billed_12m_minor", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("as_of", "customer_id", name="pk_payer_profiles"),
    )
    op.create_table(
        "invoice_predictions",
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("invoice_id", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("open_minor", sa.BigInteger, nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("days_overdue", sa.Integer, nullable=False),
        sa.Column("p_late", sa.Float, nullable=False),
        sa.Column("p_late_30", sa.Float, nullable=False),
        sa.Column("expected_days_late", sa.Integer, nullable=False),
        sa.Column("expected_payment_date", sa.Date, nullable=False),
        sa.Column("model_kind", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("as_of", "customer_id", "invoice_id", "currency", name="pk_invoice_predictions"),
    )
    op.create_table(
        "risk_scores",
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("score", sa.SmallInteger, nullable=False),
        sa.Column("risk_class", sa.String(10), nullable=False),
        sa.Column("p_late", sa.Float, nullable=False),
        sa.Column("p_late_30", sa.Float, nullable=False),
        sa.Column("open_minor", sa.BigInteger, nullable=False),
        sa.Column("overdue_minor", sa.BigInteger, nullable=False),
        sa.Column("oldest_overdue_days", sa.Integer),
        sa.Column("expected_late_minor", sa.BigInteger, nullable=False),
        sa.Column("drivers", sa.Text, nullable=False),
        sa.Column("model_kind", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("as_of", "customer_id", name="pk_risk_scores"),
    )
    op.create_index("ix_risk_scores_class", "risk_scores", ["as_of", "risk_class"])
    op.create_table(
        "scoring_models",
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("auc", sa.Float),
        sa.Column("brier", sa.Float),
        sa.Column("auc_30", sa.Float),
        sa.Column("brier_30", sa.Float),
        sa.Column("mae_days", sa.Float),
        sa.Column("rows", sa.Text, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("artifact_path", sa.Text, nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("as_of", name="pk_scoring_models"),
    )


def downgrade() -> None:
    op.drop_table("scoring_models")
    op.drop_table("risk_scores")
    op.drop_table("invoice_predictions")
    op.drop_table("payer_profiles")
