"""A throwaway PostgreSQL database on the local server, created per test session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

# The server the tests use: trust authentication on loopback, with a database named test.
ADMIN_URL = os.environ.get("TASKORA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def temporary_database() -> Iterator[str]:
    """Create an empty database, yield its SQLAlchemy URL, then drop it."""
    name = f"taskora_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as error:
        raise RuntimeError(
            f"the tests need PostgreSQL at {ADMIN_URL} ({error}). Start it, or point "
            "TASKORA_TEST_POSTGRES_URL at a server where this user may create databases."
        ) from error
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        base = psycopg.conninfo.conninfo_to_dict(ADMIN_URL)
        user = base.get("user", "postgres")
        host = base.get("host", "127.0.0.1")
        port = base.get("port", "5432")
        try:
            yield f"postgresql://{user}@{host}:{port}/{name}"
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
