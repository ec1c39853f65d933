"""The root ``taskora`` command and its command groups."""

from __future__ import annotations

import importlib
import os
import sys

import typer

from taskora import __version__
from taskora.errors import TaskoraError

EPILOG = (
    "Exit codes: 0 success, 1 error, 2 invalid usage, 3 server unreachable, "
    "4 missing or invalid token, 5 not found, 6 conflict."
)

app = typer.Typer(
    name="taskora",
    help="An event-driven task service: run it, manage tasks, follow events, deploy it.",
    epilog=EPILOG,
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"taskora {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Taskora: tasks whose every change is a CloudEvent, streamed to their owner."""


# Each command and the module attribute that defines it, in the order of `taskora --help`.
# main() imports only the module of the command being run, so that `taskora deploy` does
# not load the HTTP client and settings of `taskora tasks`, and the reverse.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("taskora.cli.serve", "serve"),
    "tasks": ("taskora.cli.tasks", "app"),
    "events": ("taskora.cli.events", "app"),
    "users": ("taskora.cli.users", "app"),
    "db": ("taskora.cli.db", "app"),
    "recurrence": ("taskora.cli.checks", "recurrence_app"),
    "reminders": ("taskora.cli.checks", "reminders_app"),
    "deploy": ("taskora.cli.deploy", "app"),
    "images": ("taskora.cli.images", "app"),
    "dapr": ("taskora.cli.dapr", "app"),
}


def mount_commands(names: list[str] | None = None) -> typer.Typer:
    """Add the commands ``names`` (all when None) to the root app, importing their modules."""
    for name in names if names is not None else list(COMMANDS):
        module_name, attribute = COMMANDS[name]
        module = importlib.import_module(module_name)
        command = getattr(module, attribute)
        if isinstance(command, typer.Typer):
            app.add_typer(command, name=name)
        else:
            app.command(name=name, epilog=getattr(module, "EPILOG", None))(command)
    return app


def requested_command(arguments: list[str]) -> str | None:
    """Return the command named on the command line, or None for help, completion or a typo."""
    if any(name.startswith("_TASKORA_COMPLETE") for name in os.environ):
        return None
    for argument in arguments:
        if not argument.startswith("-"):
            return argument if argument in COMMANDS else None
    return None


def main() -> None:
    """Run the CLI, turning a :class:`TaskoraError` into one line on stderr and its exit code."""
    command = requested_command(sys.argv[1:])
    mount_commands([command] if command is not None else None)
    try:
        app()
    except TaskoraError as error:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]Error:[/] {escape(error.message)}", highlight=False
        )
        sys.exit(int(error.exit_code))
