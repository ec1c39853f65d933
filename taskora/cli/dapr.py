"""``taskora dapr components``: write the local Dapr components for users who run Dapr."""

from __future__ import annotations

import json
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
    ComponentNames,
    ComponentOptions,
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
    "  taskora dapr components --redis-host redis.internal:6379 --consumer-id '{podName}' "
    "--json\n\n"
    "Then start the service beside daprd with: dapr run --app-id taskora --app-port 8000 "
    "--resources-path ./components -- taskora serve. Without --secrets-file, "
    "secrets.json is created in --output with the database URL and mode 0600; an existing "
    "one is kept."
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
            help="Secrets file as the sidecar sees it (a path inside its container, if any).",
            show_default=f"{SECRETS_FILE_NAME} in --output, as an absolute path",
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
    directory = output.expanduser().absolute()
    secrets_path = directory / SECRETS_FILE_NAME
    options = ComponentOptions(
        secrets_file=secrets_file or str(secrets_path),
        redis_host=redis_host,
        recurrence_schedule=schedule,
        reminder_schedule=schedule,
        consumer_id=consumer_id,
        max_len_approx=max_len_approx,
        names=ComponentNames(
            pubsub=pubsub_name, state_store=state_store_name, secret_store=secret_store_name
        ),
        app_id=APP_ID,
    )
    rendered = render_components(options)
    paths = write_components(rendered, directory)

    secrets_written = False
    if secrets_file is not None:
        # The sidecar reads the file from a path of its own, which may not exist here.
        secrets_path = Path(secrets_file)
    elif not secrets_path.exists():
        settings = build_settings(database_url=database_url)
        password = settings.database_password
        cursor_key = settings.cursor_key
        secrets = local_secrets(
            settings.database_url or default_database_url(settings.data_dir),
            password.get_secret_value() if password is not None else None,
            cursor_key.get_secret_value() if cursor_key is not None else None,
        )
        write_secrets_file(secrets_path, secrets)
        secrets_written = True

    if as_json:
        listing = {
            "directory": str(directory),
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

    console = Console(soft_wrap=True)
    table = Table(show_edge=False, header_style="bold")
    table.add_column("component")
    table.add_column("kind")
    table.add_column("file", overflow="fold")
    for component, path in zip(rendered, paths, strict=True):
        table.add_row(escape(component.name), component.kind, escape(str(path)))
    console.print(table)
    if secrets_written:
        state = "written, mode 0600"
    elif secrets_file is not None:
        state = "yours: the components point at it, and it was not read or checked"
    else:
        state = "already existed, left unchanged"
    console.print(f"Secrets file: {escape(str(secrets_path))} ({state})", highlight=False)
