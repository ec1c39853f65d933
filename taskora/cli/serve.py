"""``taskora serve``: run the service with uvicorn."""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

from taskora.cli.config_file import (
    ClientConfig,
    ConfigFileError,
    config_path,
    load_config,
    save_config,
)
from taskora.cli.logs import configure_logging
from taskora.cli.settings import build_settings
from taskora.config import Settings, default_data_dir
from taskora.errors import TaskoraError

logger = logging.getLogger(__name__)

EPILOG = (
    "Examples:\n\n"
    "  taskora serve\n\n"
    "  taskora serve --port 9000\n\n"
    "  taskora serve --database-url postgresql://taskora@127.0.0.1:5432/taskora\n\n"
    "On the embedded database, the first start creates the user 'local' and saves its token "
    "in the CLI config file, so `taskora tasks add` works right away."
)


def serve(
    host: Annotated[
        str | None,
        typer.Option(envvar="TASKORA_HOST", help="Address to listen on.", show_default="127.0.0.1"),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(envvar="TASKORA_PORT", help="TCP port to listen on.", show_default="8000"),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            envvar="TASKORA_DATABASE_URL",
            help="sqlite:///FILE or postgresql://USER@HOST:PORT/DB.",
            show_default="taskora.db in --data-dir",
            show_envvar=True,
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="TASKORA_DATA_DIR",
            help="Directory of the embedded database.",
            show_default=str(default_data_dir()),
            show_envvar=True,
        ),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option(
            envvar="TASKORA_LOG_LEVEL",
            help="DEBUG, INFO, WARNING, ERROR or CRITICAL.",
            show_default="INFO",
        ),
    ] = None,
    migrate: Annotated[
        bool | None,
        typer.Option(
            "--migrate/--no-migrate",
            help="Apply pending migrations at start. With --no-migrate the service refuses "
            "to start on a database that needs `taskora db upgrade`.",
            show_default="--migrate",
        ),
    ] = None,
) -> None:
    """Run the Taskora service until Ctrl-C or SIGTERM."""
    settings = build_settings(
        host=host,
        port=port,
        database_url=database_url,
        data_dir=data_dir,
        log_level=log_level,
        migrate_on_start=migrate,
    )
    configure_logging(settings.log_level)

    # Imported here so that client commands never load the server's dependencies.
    from taskora.server import runner

    try:
        sock = runner.listen(settings.host, settings.port)
    except runner.ListenError as error:
        raise TaskoraError(str(error)) from None

    with sock:
        logger.info("Database: %s", _describe_database(settings))
        try:
            if settings.migrate_on_start:
                runner.prepare_database(settings)
            else:
                runner.check_database(settings)
            if settings.uses_default_database:
                _save_local_credentials(settings, runner, sock.getsockname()[1])
        except runner.DatabaseError as error:
            raise TaskoraError(str(error)) from None

        # The schema was brought up to date or checked above, so the app's start-up skips it.
        runner.run(settings.model_copy(update={"migrate_on_start": False}), sock)


def _describe_database(settings: Settings) -> str:
    if settings.uses_default_database:
        return f"embedded SQLite at {settings.data_dir / 'taskora.db'}"

    from taskora.server.store.database import describe_url

    return describe_url(settings.resolved_database_url)


def _client_url(settings: Settings, port: int) -> str:
    host = settings.host
    if host in {"0.0.0.0", ""}:
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _save_local_credentials(settings: Settings, runner: ModuleType, port: int) -> None:
    """Point the CLI config file at this server with a working token of the local user.

    A config file whose token belongs to another database, and whose URL names another
    server, is left alone, so a second server started for a test does not take over the
    CLI from the first.
    """
    try:
        saved = load_config()
    except ConfigFileError as error:
        raise TaskoraError(str(error)) from None
    url = _client_url(settings, port)

    if saved.token and runner.token_is_valid(settings, saved.token):
        if saved.url != url:
            save_config(ClientConfig(url=url, token=saved.token))
            logger.info("Pointed the CLI config %s at %s", config_path(), url)
        return
    if saved.token and saved.url and saved.url != url:
        logger.warning(
            "The CLI config %s belongs to the server at %s, so it is left unchanged. "
            "To use this server, create a user with `taskora users create NAME` (with this "
            "server's --data-dir) and pass --url %s --token TOKEN.",
            config_path(),
            saved.url,
            url,
        )
        return

    token = runner.ensure_local_user(settings, saved.token) or saved.token
    path = save_config(ClientConfig(url=url, token=token))
    logger.info("Saved the local user's API token and %s in %s", url, path)
