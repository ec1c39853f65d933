"""``taskora users``: manage the users of a database directly, without the HTTP API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from taskora.cli.logs import configure_logging
from taskora.cli.settings import build_settings
from taskora.errors import ExitCode, TaskoraError

app = typer.Typer(help="Manage users and their API tokens.", no_args_is_help=True)


@app.command(
    "create",
    epilog="Examples:\n\n  taskora users create alice\n\n"
    "  taskora users create ci-bot --database-url postgresql://taskora@127.0.0.1/taskora --json",
)
def create(
    name: Annotated[str, typer.Argument(help="1 to 64 letters, digits, '.', '_' or '-'.")],
    database_url: Annotated[
        str | None,
        typer.Option(
            envvar="TASKORA_DATABASE_URL",
            help="The service's database: sqlite:///FILE (relative), sqlite:////ABSOLUTE/FILE "
            "or postgresql://USER@HOST:PORT/DB.",
            show_default="taskora.db in --data-dir",
            show_envvar=True,
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="TASKORA_DATA_DIR", metavar="DIR", help="Directory of the embedded database."
        ),
    ] = None,
    timezone: Annotated[
        str,
        typer.Option(
            metavar="ZONE", help="IANA time zone of the user's new tasks, such as Europe/Berlin."
        ),
    ] = "UTC",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {id, name, token} as JSON.")
    ] = False,
) -> None:
    """Create a user and print its API token. The token is shown only this once."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    configure_logging("WARNING")

    from taskora.server import runner

    try:
        user_id, token = runner.add_user(settings, name, runner.check_timezone(timezone))
    except runner.UserExists as error:
        raise TaskoraError(str(error), exit_code=ExitCode.CONFLICT) from None
    except (runner.InvalidUserName, ValueError) as error:
        raise TaskoraError(str(error), exit_code=ExitCode.USAGE) from None
    except runner.DatabaseError as error:
        raise TaskoraError(str(error)) from None

    if as_json:
        typer.echo(json.dumps({"id": user_id, "name": name, "token": token}))
        return
    console = Console()
    console.print(f"Created user [bold]{escape(name)}[/] (id {user_id}).")
    console.print("API token (shown only this once; store it now):")
    typer.echo(token)
    console.print("Use it with [bold]--token[/] or the TASKORA_TOKEN environment variable.")
