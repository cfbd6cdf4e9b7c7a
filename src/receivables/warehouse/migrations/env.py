"""Alembic environment: the engine comes from `receivables.warehouse.db.alembic_config`."""

from alembic import context

from receivables.warehouse.schema import metadata

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
