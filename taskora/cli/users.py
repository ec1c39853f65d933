"""``taskora users``: manage the users of a database directly, without the HTTP API."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from taskora.cli.config_file import ClientConfig, ConfigFileError, load_config, save_config
from taskora.cli.db import DatabaseUrlOption, DataDirOption
from taskora.cli.logs import configure_logging
from taskora.cli.settings import build_settings
from taskora.errors import ExitCode, TaskoraError

app = typer.Typer(
    help="Manage users and their API tokens, in the service's database directly.",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(help="Name of an existing user.")]


@app.command(
    "create",
    epilog="Examples:\n\n  taskora users create alice\n\n"
    "  taskora users create ci-bot --database-url postgresql://taskora@127.0.0.1/taskora --json",
)
def create(
    name: Annotated[str, typer.Argument(help="1 to 64 letters, digits, '.', '_' or '-'.")],
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
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


@app.command(
    "list",
    epilog="Examples:\n\n  taskora users list\n\n  taskora users list --json",
)
def list_users(
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print [{id, name, timezone, created_at, tokens}] as JSON."),
    ] = False,
) -> None:
    """List the users, their time zones and how many API tokens each has."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    configure_logging("WARNING")

    from taskora.server import runner

    with _database_errors(runner):
        users = runner.list_users(settings)

    if as_json:
        rows = [
            {
                "id": user.id,
                "name": user.name,
                "timezone": user.timezone,
                "created_at": user.created_at.isoformat(),
                "tokens": user.tokens,
            }
            for user in users
        ]
        typer.echo(json.dumps(rows))
        return
    from rich.table import Table

    table = Table(box=None)
    for column in ("ID", "NAME", "TIME ZONE", "TOKENS", "CREATED"):
        table.add_column(column)
    for user in users:
        table.add_row(
            str(user.id),
            escape(user.name),
            user.timezone,
            str(user.tokens),
            user.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        )
    Console().print(table)


@app.command(
    "token",
    epilog="Examples:\n\n  taskora users token alice\n\n"
    "  taskora users token ci-bot --keep-others --json",
)
def token(
    name: NameArgument,
    keep_others: Annotated[
        bool,
        typer.Option(
            "--keep-others",
            help="Keep the user's earlier tokens working. By default they are revoked.",
        ),
    ] = False,
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print {name, token, revoked, config_updated} as JSON."),
    ] = False,
) -> None:
    """Issue a new API token for a user, for example after a token was lost or leaked.

    The earlier tokens of the user stop working, unless --keep-others is given. A running
    server may still accept them for up to 30 seconds, the time it keeps a token in memory.
    """
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    configure_logging("WARNING")

    from taskora.server import runner

    with _database_errors(runner):
        config = _config_with_token_of(runner, settings, name) if not keep_others else None
        new_token, revoked = runner.reissue_token(settings, name, keep_others=keep_others)
    config_file = None
    if config is not None:
        config_file = save_config(dataclasses.replace(config, token=new_token))

    if as_json:
        document = {"name": name, "token": new_token, "revoked": revoked}
        typer.echo(json.dumps({**document, "config_updated": config_file is not None}))
        return
    console = Console()
    if keep_others:
        earlier_tokens = "earlier tokens kept"
    else:
        earlier_tokens = f"{revoked} earlier {'token' if revoked == 1 else 'tokens'} revoked"
    console.print(f"New API token for [bold]{escape(name)}[/] ({earlier_tokens}):")
    typer.echo(new_token)
    console.print("It is shown only this once; store it now.")
    if config_file is not None:
        console.print(
            f"The CLI config {escape(str(config_file))} contained a revoked token of "
            f"{escape(name)}; it now contains the new one.",
            soft_wrap=True,
        )


def _config_with_token_of(runner: ModuleType, settings: Any, name: str) -> ClientConfig | None:
    """Return the CLI config if its token belongs to the user ``name``, else None."""
    try:
        config = load_config()
    except ConfigFileError:
        return None
    if config.token is None or runner.token_owner(settings, config.token) != name:
        return None
    return config


@app.command(
    "edit",
    epilog="Examples:\n\n  taskora users edit alice --timezone America/New_York",
)
def edit(
    name: NameArgument,
    timezone: Annotated[
        str,
        typer.Option(
            metavar="ZONE",
            help="IANA time zone of the user's new tasks, such as Europe/Berlin. Existing "
            "tasks keep their own zone.",
        ),
    ],
    database_url: DatabaseUrlOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Change a user's time zone, the default zone of the tasks they add from now on."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    configure_logging("WARNING")

    from taskora.server import runner

    with _database_errors(runner):
        runner.change_timezone(settings, name, runner.check_timezone(timezone))
    Console().print(f"User [bold]{escape(name)}[/] now has the time zone {escape(timezone)}.")


@contextmanager
def _database_errors(runner: ModuleType) -> Iterator[None]:
    """Turn the errors of a users command into a :class:`TaskoraError` and its exit code."""
    try:
        yield
    except runner.UserNotFound as error:
        raise TaskoraError(str(error), exit_code=ExitCode.NOT_FOUND) from None
    except ValueError as error:
        raise TaskoraError(str(error), exit_code=ExitCode.USAGE) from None
    except runner.DatabaseError as error:
        raise TaskoraError(str(error)) from None
