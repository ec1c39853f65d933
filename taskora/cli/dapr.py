"""``taskora dapr components``: write the local Dapr components for users who run Dapr."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from taskora.cli.settings import build_settings
from taskora.config import default_database_url
from taskora.deploy.components import (
    APP_ID,
    DEFAULT_CONSUMER_ID,
    DEFAULT_MAX_LEN_APPROX,
    DEFAULT_REDIS_HOST,
    DEFAULT_SCHEDULE,
    SECRETS_FILE_NAME,
    SECRETS_FILE_SUFFIX,
    ComponentNames,
    ComponentOptions,
    RenderedComponent,
    default_secrets_path,
    local_secrets,
    render_components,
    write_components,
    write_secrets_file,
)
from taskora.errors import ExitCode, TaskoraError

COMPONENTS_EPILOG = (
    "Examples:\n\n"
    "  taskora dapr components\n\n"
    "  taskora dapr components --output ./components --schedule '@every 30s'\n\n"
    "  taskora dapr components --output ./components --app-id tasks-eu\n\n"
    "  taskora dapr components --redis-host redis.internal:6379 --consumer-id '{podName}' "
    "--json\n\n"
    "Then start the service beside daprd with: dapr run --app-id taskora --app-port 8000 "
    "--resources-path ./components -- taskora serve (use the --app-id given here). Without "
    "--secrets-file, the secrets file goes beside the directory, such as "
    "components.secrets.json for ./components, with the database URL and mode 0600; an "
    "existing one is kept. It contains credentials: keep it out of version control."
)

app = typer.Typer(
    help="Work with the Dapr components of the service.",
    rich_markup_mode="rich",
    no_args_is_help=True,
)


@app.command(name="components", epilog=COMPONENTS_EPILOG)
def components(
    output: Annotated[
        Path,
        typer.Option("--output", "-o", metavar="DIR", help="Directory to write the components to."),
    ] = Path("components"),
    redis_host: Annotated[
        str,
        typer.Option(
            "--redis-host", metavar="HOST:PORT", help="Redis of the pub/sub and state store."
        ),
    ] = DEFAULT_REDIS_HOST,
    schedule: Annotated[
        str,
        typer.Option(
            "--schedule",
            help="Cron schedule of both bindings: '@every 1m', '@hourly' or six fields "
            "starting with seconds.",
        ),
    ] = DEFAULT_SCHEDULE,
    consumer_id: Annotated[
        str,
        typer.Option(
            "--consumer-id",
            help="Redis consumer group of this sidecar. Each replica needs its own: "
            "{uuid} is new at each sidecar start, {podName} is the pod on Kubernetes.",
        ),
    ] = DEFAULT_CONSUMER_ID,
    max_len_approx: Annotated[
        int,
        typer.Option(
            "--max-len-approx",
            metavar="ENTRIES",
            help="Approximate maximum length of the task-events stream in Redis; older "
            "entries are trimmed at each publish.",
        ),
    ] = DEFAULT_MAX_LEN_APPROX,
    secrets_file: Annotated[
        str | None,
        typer.Option(
            "--secrets-file",
            metavar="PATH",
            help="Secrets file that you provide, at the path where the sidecar reads it (a "
            "path inside its container, if any). The command neither writes nor reads it.",
            show_default=f"DIR{SECRETS_FILE_SUFFIX} beside --output, written when missing",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            envvar="TASKORA_DATABASE_URL",
            help="Database URL put in a new secrets file.",
            show_default="the embedded SQLite database",
            show_envvar=True,
        ),
    ] = None,
    pubsub_name: Annotated[
        str, typer.Option(envvar="TASKORA_DAPR_PUBSUB", help="Name of the pub/sub component.")
    ] = ComponentNames.pubsub,
    state_store_name: Annotated[
        str,
        typer.Option(envvar="TASKORA_DAPR_STATE_STORE", help="Name of the state store component."),
    ] = ComponentNames.state_store,
    secret_store_name: Annotated[
        str,
        typer.Option(
            envvar="TASKORA_DAPR_SECRET_STORE", help="Name of the secret store component."
        ),
    ] = ComponentNames.secret_store,
    app_id: Annotated[
        str,
        typer.Option(
            "--app-id",
            help="Dapr app ID that the components are scoped to; start daprd with the same "
            "--app-id.",
        ),
    ] = APP_ID,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the written files and components as JSON.")
    ] = False,
) -> None:
    """Write the Dapr components that `taskora serve --dapr` uses, for your own daprd."""
    if secrets_file is not None and database_url is not None:
        raise TaskoraError(
            "--database-url goes into a secrets file that this command writes, and "
            "--secrets-file names one you provide: put the URL under 'database-url' in your "
            "file, or drop --secrets-file",
            exit_code=ExitCode.USAGE,
        )
    # normpath turns `.`, `..` and `dir/` into a real directory name for the secrets file.
    directory = Path(os.path.normpath(output.expanduser().absolute()))
    # A file you provide is named by the path where the sidecar reads it, which may not exist here.
    secrets_path = Path(secrets_file) if secrets_file else default_secrets_path(directory)
    if secrets_file is None and secrets_path.exists() and not secrets_path.is_file():
        raise TaskoraError(
            f"the secrets file {secrets_path} exists but is not a regular file: remove it, "
            "or pass --secrets-file with the path of the file that the sidecar should read"
        )
    options = ComponentOptions(
        secrets_file=secrets_file if secrets_file is not None else str(secrets_path),
        redis_host=redis_host,
        recurrence_schedule=schedule,
        reminder_schedule=schedule,
        consumer_id=consumer_id,
        max_len_approx=max_len_approx,
        names=ComponentNames(
            pubsub=pubsub_name, state_store=state_store_name, secret_store=secret_store_name
        ),
        app_id=app_id,
    )
    rendered = render_components(options)
    paths = write_components(rendered, directory)

    secrets_written = False
    if secrets_file is None and not secrets_path.exists():
        _write_secrets(secrets_path, database_url)
        secrets_written = True
    _warn_about_old_secrets_file(directory, secrets_path)

    if as_json:
        listing = {
            "directory": str(directory),
            "app_id": app_id,
            "components": [
                {"name": component.name, "kind": component.kind, "file": str(path)}
                for component, path in zip(rendered, paths, strict=True)
            ],
            "secrets_file": {
                "path": str(secrets_path),
                "written": secrets_written,
                "provided": secrets_file is not None,
            },
        }
        typer.echo(json.dumps(listing, indent=2))
        return

    if secrets_written:
        state = "written, mode 0600; keep it out of version control"
    elif secrets_file is not None:
        state = "yours: the components point at it, and it was not read or checked"
    else:
        state = "already existed, left unchanged"
    console = Console(soft_wrap=True)
    print_components(console, rendered, directory)
    console.print(f"Secrets file: {escape(str(secrets_path))} ({state})", highlight=False)
    run_command = shlex.join(
        [
            "dapr",
            "run",
            "--app-id",
            app_id,
            "--app-port",
            "8000",
            "--resources-path",
            str(directory),
            "--",
            "taskora",
            "serve",
        ]
    )
    console.print(f"Start the service beside daprd with: {escape(run_command)}", highlight=False)


def print_components(console: Console, rendered: list[RenderedComponent], directory: Path) -> None:
    """Print the components written to ``directory``: a table on a terminal, else lines.

    A table fits itself to the console's width, 80 columns when the output is piped, and
    would break long paths in the middle of a name. So the terminal table names the
    directory once, above it, and piped output gets one line per component: name, kind
    and full path, separated by tabs.
    """
    if not console.is_terminal:
        # Written directly, because Rich would expand the tabs into spaces.
        for component in rendered:
            path = directory / component.file_name
            console.file.write(f"{component.name}\t{component.kind}\t{path}\n")
        return

    console.print(f"Wrote {len(rendered)} components to {escape(str(directory))}:", highlight=False)
    table = Table(show_edge=False, header_style="bold")
    table.add_column("component")
    table.add_column("kind")
    table.add_column("file", overflow="fold")
    for component in rendered:
        table.add_row(escape(component.name), component.kind, escape(component.file_name))
    console.print(table)


def _write_secrets(path: Path, database_url: str | None) -> None:
    """Write the secrets file from the settings: the database URL, password and cursor key."""
    settings = build_settings(database_url=database_url)
    password = settings.database_password
    cursor_key = settings.cursor_key
    secrets = local_secrets(
        settings.database_url or default_database_url(settings.data_dir),
        password.get_secret_value() if password is not None else None,
        cursor_key.get_secret_value() if cursor_key is not None else None,
    )
    write_secrets_file(path, secrets)


def _warn_about_old_secrets_file(directory: Path, secrets_path: Path) -> None:
    """Warn when the components directory still contains a secrets file of older versions."""
    old_path = directory / SECRETS_FILE_NAME
    if old_path == secrets_path or not old_path.is_file():
        return
    Console(stderr=True).print(
        f"[yellow]Warning:[/] {escape(str(old_path))} is a secrets file inside the components "
        f"directory, where older versions wrote it. The components now read "
        f"{escape(str(secrets_path))}. Move any entries you changed there, then delete "
        f"{escape(str(old_path))}: daprd logs a warning about it at each start, and the "
        "credentials should stay out of a directory that goes into version control.",
        highlight=False,
        soft_wrap=True,
    )
