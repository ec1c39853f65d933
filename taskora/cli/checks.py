"""``taskora recurrence check`` and ``taskora reminders check``: run the scheduled checks now."""

from __future__ import annotations

import typer
from rich.console import Console

from taskora.cli import output
from taskora.cli.client import JsonOption, TokenOption, UrlOption, open_client

recurrence_app = typer.Typer(help="Recurring tasks.", no_args_is_help=True)
reminders_app = typer.Typer(help="Task reminders.", no_args_is_help=True)


@recurrence_app.command(
    "check", epilog="Examples:\n\n  taskora recurrence check\n\n  taskora recurrence check --json"
)
def check_recurrence(
    json_output: JsonOption = False, url: UrlOption = None, token: TokenOption = None
) -> None:
    """Create each missing next occurrence of your recurring tasks. Safe to run any time."""
    with open_client(url, token) as client:
        result = client.run_check("/api/recurrence/check", ("examined", "created"))
    if json_output:
        output.write_json(result, indent=False)
        return
    Console().print(recurrence_summary(result["examined"], result["created"]), soft_wrap=True)


@reminders_app.command(
    "check", epilog="Examples:\n\n  taskora reminders check\n\n  taskora reminders check --json"
)
def check_reminders(
    json_output: JsonOption = False, url: UrlOption = None, token: TokenOption = None
) -> None:
    """Send a task.reminder event for each reminder that is due. Safe to run any time."""
    with open_client(url, token) as client:
        result = client.run_check("/api/reminders/check", ("examined", "sent"))
    if json_output:
        output.write_json(result, indent=False)
        return
    Console().print(reminder_summary(result["examined"], result["sent"]), soft_wrap=True)


def recurrence_summary(examined: int, created: int) -> str:
    """Return the sentence that reports a recurrence check, in singular or plural."""
    tasks = output.count_noun(examined, "completed recurring task")
    occurrences = output.count_noun(created, "occurrence")
    return f"Examined {tasks} without a next occurrence; created {occurrences}."


def reminder_summary(examined: int, sent: int) -> str:
    """Return the sentence that reports a reminder check, in singular or plural."""
    return f"Examined {output.count_noun(examined, 'due reminder')}; sent {sent}."
