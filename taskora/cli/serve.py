"""``taskora serve``: run the service with uvicorn."""

from __future__ import annotations

import logging
import os
import socket
import sys
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
from taskora.cli.dapr_local import (
    DAPRD_IMAGE,
    SidecarRequest,
    free_loopback_port,
    run_with_sidecar,
)
from taskora.cli.logs import configure_logging
from taskora.cli.settings import build_settings
from taskora.config import Settings, default_data_dir, default_database_url
from taskora.deploy.components import (
    DEFAULT_MAX_LEN_APPROX,
    DEFAULT_REDIS_HOST,
    DEFAULT_SCHEDULE,
    ComponentNames,
    local_secrets,
)
from taskora.errors import ExitCode, TaskoraError

logger = logging.getLogger(__name__)

# How long a start waits for the server that the CLI config names, to see if it still runs.
HEALTH_PROBE_SECONDS = 1.0

EPILOG = (
    "Examples:\n\n"
    "  taskora serve\n\n"
    "  taskora serve --port 9000\n\n"
    "  taskora serve --database-url postgresql://taskora@127.0.0.1:5432/taskora\n\n"
    "  taskora serve --dapr\n\n"
    "  taskora serve --dapr --redis-host 127.0.0.1:6380 --schedule '@every 30s'\n\n"
    "With --dapr the service runs beside a local Dapr sidecar: through `dapr run` when the "
    "Dapr CLI is on PATH, else in a daprio/daprd container through Docker. The components "
    "go to dapr/components in --data-dir.\n\n"
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
            help="sqlite:///FILE (relative to the current directory), sqlite:////ABSOLUTE/FILE "
            "or postgresql://USER@HOST:PORT/DB.",
            show_default="taskora.db in --data-dir",
            show_envvar=True,
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="TASKORA_DATA_DIR",
            metavar="DIR",
            help="Directory of the embedded database.",
            show_default=str(default_data_dir()),
            show_envvar=True,
        ),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option(
            envvar="TASKORA_LOG_LEVEL",
            metavar="LEVEL",
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
    dapr: Annotated[
        bool,
        typer.Option(
            "--dapr",
            help="Run beside a local Dapr sidecar (Redis pub/sub and state, local.file "
            "secrets, cron bindings), started with the Dapr CLI or Docker.",
        ),
    ] = False,
    redis_host: Annotated[
        str,
        typer.Option(
            "--redis-host",
            metavar="HOST:PORT",
            help="Redis of the pub/sub and state components; with --dapr only.",
        ),
    ] = DEFAULT_REDIS_HOST,
    schedule: Annotated[
        str,
        typer.Option(
            "--schedule",
            help="Cron schedule of the recurrence and reminder checks, such as '@every 1m' "
            "or '0 */5 * * * *'; with --dapr only.",
        ),
    ] = DEFAULT_SCHEDULE,
    max_len_approx: Annotated[
        int,
        typer.Option(
            "--max-len-approx",
            metavar="ENTRIES",
            help="Approximate maximum length of the task-events stream in Redis; with --dapr only.",
        ),
    ] = DEFAULT_MAX_LEN_APPROX,
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

    if dapr:
        code = serve_with_sidecar(
            settings,
            migrate=migrate,
            redis_host=redis_host,
            schedule=schedule,
            max_len_approx=max_len_approx,
        )
        raise typer.Exit(code)
    _reject_sidecar_options(redis_host=redis_host, schedule=schedule, max_len_approx=max_len_approx)

    # Imported here so that client commands never load the server's dependencies.
    from taskora.server import runner

    try:
        sock = runner.listen(settings.host, settings.port)
    except runner.ListenError as error:
        raise TaskoraError(str(error)) from None

    with sock:
        if settings.dapr_enabled:
            _run_beside_sidecar(settings, runner, sock)
            return

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


def _run_beside_sidecar(settings: Settings, runner: ModuleType, sock: socket.socket) -> None:
    """Run the service in Dapr mode, preparing the database once the secrets are read.

    The secret store may name another database than the settings, so the migrations and
    the local user wait for the resolved settings instead of running on the settings' one.
    """
    port = sock.getsockname()[1]

    def prepare(resolved: Settings) -> None:
        embedded = _is_embedded(resolved)
        if embedded:
            logger.info("Database: embedded SQLite at %s", resolved.data_dir / "taskora.db")
        else:
            logger.info("Database: %s", _describe_database(resolved))
        try:
            # A database URL from the secret store is migrated even with --no-migrate,
            # because `taskora db upgrade` cannot read that URL to migrate it beforehand.
            if resolved.migrate_on_start or resolved.database_url != settings.database_url:
                runner.prepare_database(resolved)
            else:
                runner.check_database(resolved)
            if embedded:
                _save_local_credentials(resolved, runner, port)
        except (runner.DatabaseError, TaskoraError) as error:
            raise runner.ServiceStartError(str(error)) from None

    try:
        runner.run(settings, sock, prepare=prepare)
    except runner.ServiceStartError as error:
        raise TaskoraError(str(error)) from None


def _is_embedded(settings: Settings) -> bool:
    """Return whether ``settings`` use the embedded database, given or by default."""
    return settings.resolved_database_url == default_database_url(settings.data_dir)


def _reject_sidecar_options(*, redis_host: str, schedule: str, max_len_approx: int) -> None:
    """Raise a usage error for a sidecar option given without --dapr, which would be ignored."""
    given = [
        option
        for option, value, default in (
            ("--redis-host", redis_host, DEFAULT_REDIS_HOST),
            ("--schedule", schedule, DEFAULT_SCHEDULE),
            ("--max-len-approx", max_len_approx, DEFAULT_MAX_LEN_APPROX),
        )
        if value != default
    ]
    if given:
        raise TaskoraError(
            f"{', '.join(given)} configure the local Dapr sidecar and work with --dapr only: "
            "add --dapr, or leave them out",
            exit_code=ExitCode.USAGE,
        )


def serve_with_sidecar(
    settings: Settings,
    *,
    migrate: bool | None,
    redis_host: str,
    schedule: str,
    max_len_approx: int = DEFAULT_MAX_LEN_APPROX,
) -> int:
    """Start ``taskora serve`` (without ``--dapr``) beside a sidecar; return its exit code."""
    port = settings.port or free_loopback_port()
    command = [
        sys.executable,
        "-m",
        "taskora",
        "serve",
        "--host",
        settings.host,
        "--port",
        str(port),
        "--data-dir",
        str(settings.data_dir),
        "--log-level",
        settings.log_level,
    ]
    if migrate is not None:
        command.append("--migrate" if migrate else "--no-migrate")

    request = SidecarRequest(
        serve_command=command,
        app_port=port,
        run_dir=settings.data_dir / "dapr",
        secrets=_sidecar_secrets(settings),
        redis_host=redis_host,
        schedule=schedule,
        max_len_approx=max_len_approx,
        names=ComponentNames.from_environment(),
        daprd_image=os.environ.get("TASKORA_DAPRD_IMAGE") or DAPRD_IMAGE,
        # Passed in the environment, not on the command line, where `ps` would show it.
        service_env=(
            {"TASKORA_DATABASE_URL": settings.database_url} if settings.database_url else {}
        ),
    )
    return run_with_sidecar(request)


def _sidecar_secrets(settings: Settings) -> dict[str, str]:
    """Return the secrets the service reads from the local secret store: its own settings."""
    password = settings.database_password
    cursor_key = settings.cursor_key
    return local_secrets(
        settings.database_url or default_database_url(settings.data_dir),
        password.get_secret_value() if password is not None else None,
        cursor_key.get_secret_value() if cursor_key is not None else None,
    )


def _describe_database(settings: Settings) -> str:
    if settings.uses_default_database:
        return f"embedded SQLite at {settings.data_dir / 'taskora.db'}"

    from taskora.server.store.database import describe_url, sqlite_path

    path = sqlite_path(settings.resolved_database_url)
    if path is not None:
        # A relative path is read from the current directory: show the file it names.
        return f"SQLite at {path.absolute()}"
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


def _server_responds(url: str) -> bool:
    """Return whether a Taskora server responds to its health check at ``url``."""
    import httpx

    try:
        response = httpx.get(f"{url.rstrip('/')}/healthz", timeout=HEALTH_PROBE_SECONDS)
    except httpx.HTTPError as error:
        logger.debug("no server responded at %s: %s", url, error)
        return False
    return response.status_code == 200


def _save_local_credentials(settings: Settings, runner: ModuleType, port: int) -> None:
    """Point the CLI config file at this server with a working token of the local user.

    The config file records the database file its token belongs to. It is left alone when
    its URL names another server that still responds, or when its token belongs to another
    database, so a second server started for a test does not take over the CLI from the
    first. A token that the recorded database no longer knows (the file was deleted and
    created again) is replaced.
    """
    try:
        saved = load_config()
    except ConfigFileError as error:
        raise TaskoraError(str(error)) from None
    url = _client_url(settings, port)
    database = str((settings.data_dir / "taskora.db").absolute())

    if saved.token and runner.token_is_valid(settings, saved.token):
        if saved.url == url and saved.database == database:
            return
        if saved.url != url and saved.url and _server_responds(saved.url):
            logger.warning(
                "The CLI config %s points at the server running at %s, so it is left "
                "unchanged. To use this server, pass --url %s.",
                config_path(),
                saved.url,
                url,
            )
            return
        save_config(ClientConfig(url=url, token=saved.token, database=database))
        logger.info("Pointed the CLI config %s at %s", config_path(), url)
        return
    # A config written before it recorded its database belongs to the server at its URL.
    other_database = saved.database != database if saved.database else saved.url != url
    if saved.token and saved.url and other_database:
        owner = saved.database or f"the server at {saved.url}"
        logger.warning(
            "The CLI config %s holds a token of %s, so it is left unchanged. To use this "
            "server, print a token with `taskora users token local --data-dir %s` and pass "
            "--url %s --token TOKEN.",
            config_path(),
            owner,
            settings.data_dir,
            url,
        )
        return

    token = runner.ensure_local_user(settings, saved.token) or saved.token
    path = save_config(ClientConfig(url=url, token=token, database=database))
    logger.info("Saved the local user's API token and %s in %s", url, path)
