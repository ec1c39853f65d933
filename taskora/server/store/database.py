"""Engines, sessions and migrations for SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class DatabaseError(Exception):
    """The database cannot be opened or migrated; the message names the URL and the cause."""


def normalize_url(url: str) -> URL:
    """Parse ``url``, selecting the psycopg 3 driver for plain ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def describe_url(url: str) -> str:
    """Return ``url`` with any password masked, fit for logs and messages.

    A relative SQLite path is shown as the absolute file it opens from this directory.
    """
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database:
        path = Path(parsed.database).expanduser()
        if parsed.database != ":memory:" and not path.is_absolute():
            parsed = parsed.set(database=str(path.absolute()))
    return parsed.render_as_string(hide_password=True)


def _configure_sqlite(engine: Engine, *, foreign_keys: bool = True) -> None:
    """Use WAL, a busy timeout and explicit transactions on SQLite.

    pysqlite's own transaction handling defers BEGIN until the first write, which breaks
    SERIALIZABLE reads inside a write transaction; SQLAlchemy's documentation
    ("Serializable isolation / Savepoints / Transactional DDL") recommends emitting BEGIN
    ourselves. Write sessions ask for ``BEGIN IMMEDIATE`` so that two writers queue on the
    busy timeout instead of failing when a read lock would have to be upgraded.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get("sqlite_immediate"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


def sqlite_path(url: str) -> Path | None:
    """Return the file of a SQLite URL, or None for another database."""
    parsed = normalize_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database:
        return None
    return Path(parsed.database).expanduser()


def reject_misread_absolute_path(path: Path) -> None:
    """Raise :class:`DatabaseError` for a relative path that was likely meant as absolute.

    ``sqlite:///tmp/x.db`` names ``tmp/x.db`` under the current directory, and
    ``sqlite:////tmp/x.db`` names ``/tmp/x.db``. When the relative file's folder does not
    exist but the absolute one's does, starting would create a new, empty database in an
    unexpected place.
    """
    if path.is_absolute() or path.parent.exists() or not (Path("/") / path).parent.is_dir():
        return
    raise DatabaseError(
        f"the SQLite path {path} is relative to the current directory {Path.cwd()}, where "
        f"the folder {path.parent} does not exist. For the file /{path}, write the URL with "
        f"four slashes: sqlite:////{path}. For a file under the current directory, create "
        f"{path.parent} first"
    )


def _create_private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only, before SQLite creates it.

    SQLite gives its -wal and -shm files the database file's permissions, so tasks stay
    private on a shared machine.
    """
    if path.exists():
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    except OSError as error:
        if isinstance(error, FileExistsError | NotADirectoryError):
            # Name the file that is in the way of a directory, not a folder below it.
            blocker = next(
                (folder for folder in reversed(path.parents) if folder.is_file()), path.parent
            )
            reason = f"{blocker} is a file, not a directory"
        else:
            reason = f"{error.strerror}: {error.filename}"
        raise DatabaseError(
            f"cannot create the SQLite file {path}: {reason}. Pass a --data-dir (or a "
            "--database-url) in a directory you can write to"
        ) from None
    os.close(descriptor)


def create_database_engine(url: str, *, foreign_keys: bool = True) -> Engine:
    """Create the engine for ``url``, creating the SQLite file's directory if needed.

    ``foreign_keys=False`` leaves SQLite's foreign key enforcement off, as its documented
    procedure for rebuilding a table requires: enforcement cannot change inside the
    transaction that runs the migrations.
    """
    parsed = normalize_url(url)
    if parsed.drivername.startswith("sqlite"):
        database = parsed.database
        if not database or database == ":memory:":
            raise DatabaseError(
                "an in-memory SQLite database cannot be shared by the service's connections: "
                "use sqlite:///PATH"
            )
        path = Path(database).expanduser()
        reject_misread_absolute_path(path)
        _create_private_file(path)
        engine = create_engine(parsed, pool_size=20, max_overflow=20)
        _configure_sqlite(engine, foreign_keys=foreign_keys)
        return engine
    return create_engine(parsed, pool_size=20, max_overflow=20, pool_pre_ping=True)


class Database:
    """The engine and session factory shared by the service's requests and workers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_database_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Session]:
        """Yield a session for queries; it is rolled back on exit."""
        with self._sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """Yield a session in one transaction, committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            if self.dialect == "sqlite":
                # Execution options apply when the session first procures its connection,
                # which happens here, before the BEGIN that the listener above emits.
                session.connection(execution_options={"sqlite_immediate": True})
            yield session

    def ping(self) -> None:
        """Run a trivial query, raising if the database is unreachable."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def _alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Percent signs in a URL-encoded password would be read as ConfigParser interpolation.
    rendered = normalize_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def upgrade(url: str) -> list[str]:
    """Apply every pending migration to the database at ``url``; return their revisions."""
    pending = pending_migrations(url)
    if not pending:
        logger.info("The database %s is up to date", describe_url(url))
        return []

    logger.info("Applying database migrations %s to %s", ", ".join(pending), describe_url(url))
    # Migrations that rebuild a SQLite table check the foreign keys themselves.
    engine = create_database_engine(url, foreign_keys=False)
    try:
        with engine.begin() as connection:
            config = _alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    return pending


def pending_migrations(url: str) -> list[str]:
    """Return the revisions that ``upgrade`` would apply, oldest first."""
    script = ScriptDirectory.from_config(_alembic_config(url))
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
    finally:
        engine.dispose()
    revisions = script.iterate_revisions("heads", current or "base")
    return [revision.revision for revision in reversed(list(revisions))]
