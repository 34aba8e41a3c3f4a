"""Alembic environment: runs on the connection `Database.migrate` hands over, or on the URL."""
from alembic import context
from sqlalchemy import create_engine

from ledger_service.adapters.orm import Base

config = context.config


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    with create_engine(config.get_main_option("sqlalchemy.url")).connect() as fresh:
        run(fresh)
        fresh.commit()
