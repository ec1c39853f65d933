"""``taskora events``: follow the caller's task events as they happen."""

from __future__ import annotations

import os
import sys
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from taskora.cli import output
from taskora.cli.client import TokenOption, UrlOption, open_client

app = typer.Typer(
    help="Follow the CloudEvents that every change to your tasks produces.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


RESET_EVENT = "reset"


def _print_reset(
    data: dict[str, Any], sequence: int | None, json_output: bool, stdout: Console
) -> None:
    """Tell the user that events were missed and the task list must be fetched again."""
    if json_output:
        line = {"type": RESET_EVENT, "sequence": str(sequence), "data": data}
        output.write_json(line, indent=False)
        return
    requested = data.get("requested_after")
    if isinstance(requested, int) and sequence is not None and requested > sequence:
        cause = (
            f"event #{requested} is newer than the server's newest event #{sequence}, so it "
            "came from another database"
        )
    else:
        oldest = data.get("oldest_available", "?")
        cause = (
            f"the server no longer has the events before #{escape(str(oldest))}, so some "
            "changes were not printed"
        )
    stdout.print(
        f"[bold yellow]#{sequence}  reset: {cause}. Run `taskora tasks list` to see the "
        "current tasks; following continues from here.[/]",
        soft_wrap=True,
    )


class EventType(str, Enum):
    """The event types the server sends."""

    created = "task.created"
    updated = "task.updated"
    completed = "task.completed"
    deleted = "task.deleted"
    recurred = "task.recurred"
    reminder = "task.reminder"


@app.command(
    help=(
        "Print events as they arrive until Ctrl-C.\n\n"
        "Each text line starts with the event's sequence number in the server's event log, "
        "as #N. With --json, each CloudEvent carries that number as its sequence attribute "
        "(a string), and every other attribute is as the server sent it.\n\n"
        "If the connection drops or the server restarts, the command reconnects with backoff "
        "and resumes after the last event it printed. It stops with an error when the first "
        "connection fails or the server rejects the token.\n\n"
        "When the server's retention window has already deleted events you asked for, it "
        "sends a reset instead: fetch the task list again, because some changes were not "
        'printed. With --json a reset is the line {"type": "reset", "sequence": ..., '
        '"data": {...}}, which is not a CloudEvent.'
    ),
    epilog=(
        "Examples:\n\n"
        "  taskora events tail\n\n"
        "  taskora events tail --type task.created --type task.completed\n\n"
        "  taskora events tail --json --since 100 | jq -r .data.title"
    ),
)
def tail(
    # Not the shared JsonOption, because this prints one CloudEvent per line rather than
    # a response of the server.
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help=(
                "Print each event as one CloudEvent JSON object per line, with its sequence "
                "number added as the sequence attribute."
            ),
        ),
    ] = False,
    since: Annotated[
        int | None,
        typer.Option(
            "--since",
            min=0,
            metavar="N",
            help=(
                "First print the stored events after this one, then live ones. --since takes "
                "the number shown as #N, or the sequence attribute of --json output."
            ),
        ),
    ] = None,
    types: Annotated[
        list[EventType] | None,
        typer.Option("--type", help="Only this event type; repeat the option for several."),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Print events as they arrive, reconnecting after drops, until Ctrl-C."""
    stdout = Console(highlight=False)
    stderr = Console(stderr=True, highlight=False)

    def notify(message: str) -> None:
        stderr.print(f"[dim]{escape(message)}[/]", soft_wrap=True)

    try:
        with open_client(url, token) as client:
            events = client.follow_events(
                since=since,
                types=[event_type.value for event_type in types or []],
                notify=notify,
            )
            for event in events:
                if event.type == RESET_EVENT:
                    _print_reset(event.cloudevent, event.sequence, json_output, stdout)
                elif json_output:
                    printed = output.event_with_sequence(event.cloudevent, event.sequence)
                    output.write_json(printed, indent=False)
                else:
                    line = output.event_line(event.cloudevent, event.type, event.sequence)
                    stdout.print(line, soft_wrap=True)
    except KeyboardInterrupt:
        # Ctrl-C is the normal way to stop following, so it is a success.
        raise typer.Exit(0) from None
    except BrokenPipeError:
        # The reader of stdout (such as `head`) exited. Pointing stdout at /dev/null keeps
        # the interpreter's final flush from failing a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None
