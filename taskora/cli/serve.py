"""``taskora serve``: run the service with uvicorn."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
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
from taskora.config import Settings
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
        str | None, typer.Option(help="Address to listen on. [default: 127.0.0.1]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port to listen on. [default: 8000]")] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            envvar="TASKORA_DATABASE_URL",
            help="sqlite:///FILE or postgresql://USER@HOST:PORT/DB. "
            "[default: taskora.db in the user data directory]",
            show_envvar=True,
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="TASKORA_DATA_DIR",
            help="Directory of the embedded database. [default: the user data directory]",
            show_envvar=True,
        ),
    ] = None,
    log_level: Annotated[
        str | None, typer.Option(help="DEBUG, INFO, WARNING or ERROR. [default: INFO]")
    ] = None,
    migrate: Annotated[
        bool | None,
        typer.Option(
            "--migrate/--no-migrate",
            help="Apply pending migrations at start. With --no-migrate the service refuses "
            "to start on a database that needs `taskora db upgrade`. [default: --migrate]",
            show_default=False,
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

    logger.info("Database: %s", _describe_database(settings))
    try:
        if settings.migrate_on_start:
            runner.prepare_database(settings)
        else:
            runner.check_database(settings)
        if settings.uses_default_database:
            _save_local_credentials(settings, runner.ensure_local_user)
    except runner.DatabaseError as error:
        raise TaskoraError(str(error)) from None

    # The schema was brought up to date or checked above, so the app's start-up skips it.
    runner.run(settings.model_copy(update={"migrate_on_start": False}))


def _describe_database(settings: Settings) -> str:
    if settings.uses_default_database:
        return f"embedded SQLite at {settings.data_dir / 'taskora.db'}"

    from taskora.server.store.database import describe_url

    return describe_url(settings.resolved_database_url)


def _client_url(settings: Settings) -> str:
    host = settings.host
    if host in {"0.0.0.0", ""}:
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def _save_local_credentials(
    settings: Settings, ensure_local_user: Callable[[Settings, str | None], str | None]
) -> None:
    """Save the local user's token and this server's URL in the CLI config file."""
    try:
        saved = load_config()
    except ConfigFileError as error:
        raise TaskoraError(str(error)) from None

    token = ensure_local_user(settings, saved.token) or saved.token
    url = _client_url(settings)
    if token == saved.token and url == saved.url:
        logger.info("The CLI config %s already points at this server", config_path())
        return
    path = save_config(ClientConfig(url=url, token=token))
    logger.info("Saved the local user's API token and %s in %s", url, path)
