"""Alembic environment: runs migrations on the connection that the service hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from taskora.server.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return

    # Without a connection handed over (plain `alembic` commands run by developers),
    # open one from the configured URL.
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as own_connection:
            context.configure(connection=own_connection, target_metadata=target_metadata)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations()
