"""``taskora tasks``: create, list, show, complete, reopen and delete tasks over the API."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console

from taskora.cli import output
from taskora.cli.client import JsonOption, TokenOption, UrlOption, open_client

app = typer.Typer(
    help="Create, list, show, complete, reopen and delete tasks on a Taskora server.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

DUE_FORMS = (
    "an RFC 3339 timestamp with offset (2026-12-24T17:00:00+01:00 or 2026-12-24T16:00:00Z), "
    "a date and time in local time (2026-12-24T17:00 or '2026-12-24 17:00'), "
    "or a date alone meaning 23:59:59 local time that day (2026-12-24)"
)


class Priority(str, Enum):
    """Task priority, from least to most pressing."""

    low = "low"
    medium = "medium"
    high = "high"
    urgent = "urgent"


class Status(str, Enum):
    """Task status."""

    pending = "pending"
    completed = "completed"


class Sort(str, Enum):
    """Sort orders of ``GET /api/tasks``, where a leading ``-`` means descending."""

    due_at = "due_at"
    due_at_desc = "-due_at"
    priority = "priority"
    priority_desc = "-priority"
    created_at = "created_at"
    created_at_desc = "-created_at"


def parse_due(value: str) -> str:
    """Convert a ``--due`` value to an RFC 3339 timestamp with an explicit offset.

    A date alone means the end of that day, 23:59:59, and a date-time without an offset
    means local time, so both get the local UTC offset in effect on that date.
    """
    text = value.strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return datetime.combine(day, time(23, 59, 59)).astimezone().isoformat()

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a valid due date. Use {DUE_FORMS}.", param_hint="'--due'"
        ) from None
    if moment.tzinfo is None:
        # astimezone() on a naive datetime interprets it as local time.
        moment = moment.astimezone()
    return moment.isoformat()


def _due_callback(value: str | None) -> str | None:
    return None if value is None else parse_due(value)


def build_task_fields(
    title: str,
    description: str | None,
    priority: Priority | None,
    tags: list[str] | None,
    due_at: str | None,
) -> dict[str, Any]:
    """Return the ``POST /api/tasks`` body, leaving unset options to the server's defaults."""
    fields: dict[str, Any] = {"title": title}
    if description is not None:
        fields["description"] = description
    if priority is not None:
        fields["priority"] = priority.value
    if tags:
        fields["tags"] = tags
    if due_at is not None:
        fields["due_at"] = due_at
    return fields


def build_list_params(
    status: Status | None,
    priorities: list[Priority] | None,
    tags: list[str] | None,
    sort: Sort | None,
    limit: int | None,
    cursor: str | None,
) -> list[tuple[str, str]]:
    """Return the ``GET /api/tasks`` query as pairs, since ``priority`` and ``tag`` repeat."""
    params: list[tuple[str, str]] = []
    if status is not None:
        params.append(("status", status.value))
    params.extend(("priority", priority.value) for priority in priorities or [])
    params.extend(("tag", tag) for tag in tags or [])
    if sort is not None:
        params.append(("sort", sort.value))
    if limit is not None:
        params.append(("limit", str(limit)))
    if cursor is not None:
        params.append(("cursor", cursor))
    return params


def _print_message(text: str) -> None:
    """Print a confirmation, unwrapped so it stays one line when piped."""
    Console().print(text, highlight=False, soft_wrap=True)


TaskIdArgument = Annotated[int, typer.Argument(help="Id of the task.", min=1, show_default=False)]


@app.command(
    epilog=(
        "Examples:\n\n"
        "  taskora tasks add 'Buy milk'\n\n"
        "  taskora tasks add 'Ship release' -p urgent -t work -t release --due 2026-12-24\n\n"
        "  taskora tasks add 'Call Ana' --due '2026-12-24 17:00' -d 'About the offer'"
    )
)
def add(
    title: Annotated[str, typer.Argument(help="Title, 1 to 500 characters.", show_default=False)],
    description: Annotated[
        str | None,
        typer.Option("--description", "-d", help="Longer text, up to 20,000 characters."),
    ] = None,
    priority: Annotated[
        Priority | None,
        typer.Option(
            "--priority", "-p", case_sensitive=False, help="Priority. The server uses medium."
        ),
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option(
            "--tag", "-t", metavar="TAG", help="Tag; repeat the option for several tags."
        ),
    ] = None,
    due: Annotated[
        str | None,
        typer.Option(
            "--due",
            metavar="WHEN",
            callback=_due_callback,
            help=(
                "Due time: 2026-12-24T17:00:00+01:00, 2026-12-24T17:00 (local time), "
                "or 2026-12-24 (23:59:59 local time)."
            ),
        ),
    ] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create a task and print its id."""
    fields = build_task_fields(title, description, priority, tags, due)
    with open_client(url, token) as client:
        task = client.create_task(fields)

    if json_output:
        output.write_json(task, indent=True)
    else:
        _print_message(f"Added task {output.task_label(task)}.")


@app.command(
    name="list",
    epilog=(
        "Examples:\n\n"
        "  taskora tasks list\n\n"
        "  taskora tasks list --status pending --priority high --priority urgent\n\n"
        "  taskora tasks list --tag work --sort due_at --limit 10\n\n"
        "  taskora tasks list --json | jq '.items[].title'"
    ),
)
def list_tasks(
    status: Annotated[
        Status | None, typer.Option("--status", case_sensitive=False, help="Only this status.")
    ] = None,
    priorities: Annotated[
        list[Priority] | None,
        typer.Option(
            "--priority",
            "-p",
            case_sensitive=False,
            help="Only these priorities; repeat the option to match any of several.",
        ),
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            "-t",
            metavar="TAG",
            help="Only tasks with this tag; repeated tags must all match.",
        ),
    ] = None,
    sort: Annotated[
        Sort | None,
        typer.Option(
            "--sort",
            help="Sort order; a leading - means descending. The server sorts by created_at.",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            max=200,
            help="Maximum number of tasks to show, 1 to 200. The server uses 50.",
        ),
    ] = None,
    cursor: Annotated[
        str | None,
        typer.Option(
            "--cursor",
            help="next_cursor of a previous --json page, with the same filters, for the next page.",
        ),
    ] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List tasks, newest last by default."""
    params = build_list_params(status, priorities, tags, sort, limit, cursor)
    with open_client(url, token) as client:
        page = client.list_tasks(params)

    if json_output:
        output.write_json(page, indent=False)
    else:
        output.print_tasks(Console(), page)


@app.command(epilog="Examples:\n\n  taskora tasks show 42\n\n  taskora tasks show 42 --json")
def show(
    task_id: TaskIdArgument,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show every field of one task."""
    with open_client(url, token) as client:
        task = client.get_task(task_id)

    if json_output:
        output.write_json(task, indent=True)
    else:
        output.print_task(Console(), task)


@app.command(epilog="Example:\n\n  taskora tasks done 42")
def done(
    task_id: TaskIdArgument,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Mark a task completed. Completing a completed task changes nothing."""
    with open_client(url, token) as client:
        task = client.complete_task(task_id)

    if json_output:
        output.write_json(task, indent=True)
    else:
        _print_message(f"Completed task {output.task_label(task)}.")


@app.command(epilog="Example:\n\n  taskora tasks reopen 42")
def reopen(
    task_id: TaskIdArgument,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Mark a completed task pending again. Reopening a pending task changes nothing."""
    with open_client(url, token) as client:
        task = client.reopen_task(task_id)

    if json_output:
        output.write_json(task, indent=True)
    else:
        _print_message(f"Reopened task {output.task_label(task)}.")


@app.command(epilog="Example:\n\n  taskora tasks rm 42")
def rm(
    task_id: TaskIdArgument,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Delete a task. There is no undo."""
    with open_client(url, token) as client:
        client.delete_task(task_id)
    _print_message(f"Deleted task {task_id}.")
