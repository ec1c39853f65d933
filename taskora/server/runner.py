"""Starting the service: database preparation, the local user and the uvicorn server."""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import tzlocal
import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from taskora.config import Settings
from taskora.server.app import PrepareDatabase, ServiceStartError, create_app
from taskora.server.domain.rules import check_timezone
from taskora.server.store import database as store_database
from taskora.server.store.database import Database, DatabaseError, describe_url
from taskora.server.store.users import (
    InvalidUserName,
    UserError,
    UserExists,
    UserNotFound,
    UserSummary,
    authenticate,
    bootstrap_local_user,
    create_user,
    replace_tokens,
    set_timezone,
    summarize_users,
)

logger = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_SECONDS = 5


def _describe_failure(url: str, error: SQLAlchemyError) -> str:
    cause = error.orig if getattr(error, "orig", None) is not None else error
    reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return (
        f"cannot open the database {describe_url(url)}: {reason}. "
        "Check the URL (--database-url, TASKORA_DATABASE_URL, or in Dapr mode the secret "
        "'database-url') and that the database server runs."
    )


def prepare_database(settings: Settings) -> list[str]:
    """Apply pending migrations and return them, raising :class:`DatabaseError` on failure."""
    url = settings.resolved_database_url
    try:
        return store_database.upgrade(url)
    except SQLAlchemyError as error:
        raise DatabaseError(_describe_failure(url, error)) from error


def check_database(settings: Settings) -> None:
    """Raise :class:`DatabaseError` unless the database is reachable and fully migrated."""
    url = settings.resolved_database_url
    sqlite_file = store_database.sqlite_path(url)
    if sqlite_file is not None and not sqlite_file.exists():
        store_database.reject_misread_absolute_path(sqlite_file)
        raise DatabaseError(
            f"no database at {sqlite_file.absolute()}: create it with `taskora db upgrade` "
            "(with the same --data-dir or --database-url), or start `taskora serve` without "
            "--no-migrate"
        )
    try:
        pending = store_database.pending_migrations(url)
    except SQLAlchemyError as error:
        raise DatabaseError(_describe_failure(url, error)) from error
    if pending:
        raise DatabaseError(
            f"the database {describe_url(url)} needs migrations {', '.join(pending)}: run "
            "`taskora db upgrade` with the same --database-url or --data-dir (or their "
            "TASKORA_* variables), or start with --migrate"
        )


def local_timezone() -> str:
    """Return this machine's IANA time zone name, or UTC when it has none."""
    try:
        name = tzlocal.get_localzone_name()
    except (LookupError, ValueError) as error:
        logger.info("Using UTC: the local time zone has no IANA name (%s)", error)
        return "UTC"
    try:
        return check_timezone(name or "UTC")
    except ValueError:
        logger.info("Using UTC: the local time zone %r is not an IANA name", name)
        return "UTC"


def token_is_valid(settings: Settings, token: str) -> bool:
    """Return whether ``token`` belongs to a user of the database."""
    database = Database(settings.resolved_database_url)
    try:
        with database.read() as session:
            return authenticate(session, token) is not None
    finally:
        database.dispose()


def ensure_local_user(settings: Settings, saved_token: str | None) -> str | None:
    """Create the local user if needed; return a token to save, or None if ``saved_token`` works."""
    database = Database(settings.resolved_database_url)
    try:
        with database.write() as session:
            return bootstrap_local_user(session, saved_token, local_timezone())
    finally:
        database.dispose()


def add_user(settings: Settings, name: str, timezone: str = "UTC") -> tuple[int, str]:
    """Create the user ``name`` and return its id and first token."""
    prepare_database(settings)
    database = Database(settings.resolved_database_url)
    try:
        with database.write() as session:
            user, token = create_user(session, name, timezone)
            return user.id, token
    except SQLAlchemyError as error:
        raise DatabaseError(_describe_failure(settings.resolved_database_url, error)) from error
    finally:
        database.dispose()


@contextmanager
def _existing_database(settings: Settings) -> Iterator[Database]:
    """Open the database of ``settings``, which must exist and be fully migrated."""
    check_database(settings)
    database = Database(settings.resolved_database_url)
    try:
        yield database
    except SQLAlchemyError as error:
        raise DatabaseError(_describe_failure(settings.resolved_database_url, error)) from error
    finally:
        database.dispose()


def reissue_token(settings: Settings, name: str, *, keep_others: bool = False) -> tuple[str, int]:
    """Give the user ``name`` a new token; return it and how many old ones were revoked."""
    with _existing_database(settings) as database, database.write() as session:
        return replace_tokens(session, name, keep_others=keep_others)


def token_owner(settings: Settings, token: str) -> str | None:
    """Return the name of the user that ``token`` belongs to, or None."""
    with _existing_database(settings) as database, database.read() as session:
        user = authenticate(session, token)
        return None if user is None else user.name


def change_timezone(settings: Settings, name: str, timezone: str) -> None:
    """Set the time zone of the user ``name``."""
    with _existing_database(settings) as database, database.write() as session:
        set_timezone(session, name, timezone)


def list_users(settings: Settings) -> list[UserSummary]:
    """Return every user of the database, without their tokens."""
    with _existing_database(settings) as database, database.read() as session:
        return summarize_users(session)


class _GracefulServer(uvicorn.Server):
    """A uvicorn server that exits normally after a graceful stop on SIGINT or SIGTERM.

    uvicorn (0.29 and later, ``Server.capture_signals``) raises the signal again once it has
    shut down, so the process would end killed by SIGTERM or with a KeyboardInterrupt.
    A second Ctrl-C still forces the exit without waiting for open connections.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        originals = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            logger.warning("Received a second SIGINT: stopping without waiting for connections")
            self.force_exit = True
            return
        logger.info("Received %s: shutting down", signal.Signals(sig).name)
        self.should_exit = True


class ListenError(Exception):
    """The service cannot listen on the requested address."""


def listen(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host``:``port`` before any other start-up work.

    Binding first means a port that is taken fails the start at once, before migrations
    run, and the log line about listening is true when it is written.
    """
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as error:
        raise ListenError(f"cannot listen on {host!r}: {error.strerror}. Check --host.") from None

    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        reason = error.strerror or str(error)
        raise ListenError(
            f"cannot listen on {_format_host(host)}:{port}: {reason}. "
            "Stop the program using it or pass another --port."
        ) from None
    return sock


class _StartFailureReport:
    """An ASGI wrapper that keeps a :class:`ServiceStartError` of the start-up for the runner.

    Starlette sends the start-up failure's traceback to uvicorn, which logs it. For an
    expected failure, such as a sidecar that is not ready, the message alone gives the fix,
    so the wrapper sends an empty failure message and the runner raises the error.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.error: ServiceStartError | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def report(message: Any) -> None:
            if message["type"] == "lifespan.startup.failed":
                # Starlette sends this message from inside its except block.
                error = sys.exc_info()[1]
                if isinstance(error, ServiceStartError):
                    self.error = error
                    message = {"type": "lifespan.startup.failed", "message": ""}
            await send(message)

        await self.app(scope, receive, report)


def run(settings: Settings, sock: socket.socket, prepare: PrepareDatabase | None = None) -> None:
    """Serve on ``sock`` until SIGINT or SIGTERM, then stop gracefully.

    Raises :class:`ServiceStartError` when the app's start-up failed with one.
    """
    app = _StartFailureReport(create_app(settings, prepare=prepare))
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=sock.getsockname()[1],
        log_config=None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        proxy_headers=True,
    )
    server = _GracefulServer(config)
    logger.info("Listening on http://%s:%d", _format_host(settings.host), config.port)
    try:
        server.run(sockets=[sock])
    except SystemExit:
        # uvicorn exits with code 3 when the start-up failed.
        if app.error is not None:
            raise app.error from None
        raise


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


__all__ = [
    "DatabaseError",
    "InvalidUserName",
    "ListenError",
    "ServiceStartError",
    "UserError",
    "UserExists",
    "UserNotFound",
    "add_user",
    "change_timezone",
    "check_database",
    "ensure_local_user",
    "list_users",
    "listen",
    "local_timezone",
    "prepare_database",
    "reissue_token",
    "run",
    "token_is_valid",
    "token_owner",
]
