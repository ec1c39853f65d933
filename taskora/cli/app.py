"""The root ``taskora`` command and its command groups."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from taskora import __version__
from taskora.cli import checks, dapr, db, deploy, events, serve, tasks, users
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


app.command(name="serve", epilog=serve.EPILOG)(serve.serve)
app.add_typer(tasks.app, name="tasks")
app.add_typer(events.app, name="events")
app.add_typer(users.app, name="users")
app.add_typer(db.app, name="db")
app.add_typer(checks.recurrence_app, name="recurrence")
app.add_typer(checks.reminders_app, name="reminders")
app.add_typer(deploy.app, name="deploy")
app.add_typer(dapr.app, name="dapr")


def main() -> None:
    """Run the CLI, turning a :class:`TaskoraError` into one line on stderr and its exit code."""
    try:
        app()
    except TaskoraError as error:
        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]Error:[/] {escape(error.message)}", highlight=False
        )
        sys.exit(int(error.exit_code))
