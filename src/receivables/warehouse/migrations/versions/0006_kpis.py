"""KPIs: kpi_daily by collector and breakdown, the customer master's optional collector, and the
fact and dimension tables for BI tools.

Existing kpi_daily rows stay, as the all-collectors, no-breakdown rows (collector = '',
breakdown = ''). Batch mode recreates the tables on SQLite, which cannot alter a primary key.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD_KEY = ["as_of", "metric", "segment", "currency"]
NEW_KEY = [*OLD_KEY, "collector", "breakdown"]


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("collector", sa.String(100), nullable=False, server_default=""))
    # recreate="always": the same column order (the contract's) on SQLite and PostgreSQL
    with op.batch_alter_table("kpi_daily", recreate="always") as batch:
        batch.add_column(sa.Column("collector", sa.String(100), nullable=False, server_default=""),
                         insert_before="value")
        batch.add_column(sa.Column("breakdown", sa.String(50), nullable=False, server_default=""),
                         insert_before="value")
        batch.drop_constraint("pk_kpi_daily", type_="primary")
        batch.create_primary_key("pk_kpi_daily", NEW_KEY)
    op.create_table(
        "dim_customer",
        sa.Column("customer_id", sa.String(100), primary_key=True),
        sa.Column("segment", sa.String(10), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("collector", sa.String(100), nullable=False),
        sa.Column("strategic", sa.Boolean, nullable=False),
    )
    op.create_table(
        "dim_date",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("iso_week", sa.String(8), nullable=False),
        sa.Column("month", sa.SmallInteger, nullable=False),
        sa.Column("quarter", sa.SmallInteger, nullable=False),
        sa.Column("year", sa.SmallInteger, nullable=False),
        sa.Column("is_business_day", sa.Boolean, nullable=False),
    )
    op.create_table(
        "fact_receivables",
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
        sa.Column("disputed_minor", sa.BigInteger, nullable=False),
        sa.Column("risk_class", sa.String(10), nullable=False),
        sa.Column("p_late", sa.Float),
        sa.PrimaryKeyConstraint("as_of", "customer_id", "currency", name="pk_fact_receivables"),
    )
    op.create_table(
        "fact_collection_actions",
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("action_key", sa.String(40), nullable=False),
        sa.Column("sent_on", sa.Date, nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False),
        sa.Column("step_id", sa.String(60), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("paid_within_7d", sa.Boolean),
        sa.Column("paid_within_14d", sa.Boolean),
        sa.PrimaryKeyConstraint("as_of", "action_key", name="pk_fact_collection_actions"),
    )
    op.create_table(
        "fact_cash_forecast",
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("week_start", sa.Date, nullable=False),
        sa.Column("segment", sa.String(10), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("expected_minor", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("as_of", "week_start", "segment", "currency", name="pk_fact_cash_forecast"),
    )


def downgrade() -> None:
    for table in ("fact_cash_forecast", "fact_collection_actions", "fact_receivables", "dim_date", "dim_customer"):
        op.drop_table(table)
    # the old key cannot hold per-collector or broken-down rows: only the totals go back
    kpi = sa.table("kpi_daily", sa.column("collector", sa.String), sa.column("breakdown", sa.String))
    op.execute(kpi.delete().where(sa.or_(kpi.c.collector != "", kpi.c.breakdown != "")))
    with op.batch_alter_table("kpi_daily", recreate="always") as batch:
        batch.drop_constraint("pk_kpi_daily", type_="primary")
        batch.drop_column("breakdown")
        batch.drop_column("collector")
        batch.create_primary_key("pk_kpi_daily", OLD_KEY)
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("collector")
