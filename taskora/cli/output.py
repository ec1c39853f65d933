"""Rendering of tasks and events for the terminal (Rich) and for scripts (JSON).

Every time of a task (due, reminder, created, updated, completed, next dates) and the time
of an event about a task is shown in that task's own time zone, with the zone's
abbreviation. The machine's time zone is never used. A task without a time zone, or with
one that this machine's time zone database lacks, is shown in UTC.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from taskora.cli import dates

PRIORITY_STYLES = {"low": "dim", "medium": "", "high": "yellow", "urgent": "bold red"}
STATUS_STYLES = {"pending": "cyan", "completed": "green"}
EVENT_STYLES = {
    "task.created": "cyan",
    "task.updated": "yellow",
    "task.completed": "green",
    "task.deleted": "red",
    "task.recurred": "cyan",
    "task.reminder": "magenta",
}

TABLE_TIME_FORMAT = "%Y-%m-%d %H:%M %Z"
DETAIL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S %Z"
NEXT_DATE_FORMAT = "%a %Y-%m-%d %H:%M %Z"
EVENT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S %Z"


def parse_timestamp(value: str | None) -> datetime | None:
    """Parse an RFC 3339 timestamp from the API, returning ``None`` for missing or invalid text."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # The API always sends UTC, so a missing offset can only mean UTC.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def task_zone(task: Mapping[str, Any]) -> tzinfo:
    """Return the task's IANA time zone, or UTC when it has none or this machine lacks it."""
    name = task.get("timezone")
    if not isinstance(name, str) or not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def format_task_time(
    value: str | None, task: Mapping[str, Any], time_format: str = TABLE_TIME_FORMAT
) -> str:
    """Format an API timestamp in the task's time zone, or return the text unchanged."""
    parsed = parse_timestamp(value)
    if parsed is None:
        return value or ""
    return format_moment(parsed, task, time_format)


def format_moment(
    moment: datetime, task: Mapping[str, Any], time_format: str = TABLE_TIME_FORMAT
) -> str:
    """Format an aware datetime in the task's time zone."""
    return moment.astimezone(task_zone(task)).strftime(time_format)


def _is_overdue(task: Mapping[str, Any], now: datetime) -> bool:
    due = parse_timestamp(task.get("due_at"))
    return task.get("status") == "pending" and due is not None and due < now


def _styled(text: str, style: str) -> str:
    """Wrap escaped ``text`` in a Rich style tag, or leave it plain for an empty style."""
    escaped = escape(text)
    return f"[{style}]{escaped}[/]" if style else escaped


def tasks_table(tasks: Sequence[Mapping[str, Any]], *, now: datetime | None = None) -> Table:
    """Build the table for ``taskora tasks list``, with overdue due dates in red."""
    now = now or datetime.now(UTC)
    table = Table(show_edge=False, header_style="bold")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("priority", no_wrap=True)
    table.add_column("title", overflow="fold")
    table.add_column("tags")
    table.add_column("due", no_wrap=True)

    for task in tasks:
        status = str(task.get("status", ""))
        priority = str(task.get("priority", ""))
        due = format_task_time(task.get("due_at"), task)
        table.add_row(
            str(task.get("id", "")),
            _styled(status, STATUS_STYLES.get(status, "")),
            _styled(priority, PRIORITY_STYLES.get(priority, "")),
            escape(str(task.get("title", ""))),
            escape(", ".join(task.get("tags") or [])),
            _styled(due, "red" if _is_overdue(task, now) else ""),
        )
    return table


def task_details(task: Mapping[str, Any]) -> Table:
    """Build the two-column view of one task for ``taskora tasks show``."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")

    status = str(task.get("status", ""))
    priority = str(task.get("priority", ""))
    rows = [
        ("id", escape(str(task.get("id", "")))),
        ("title", escape(str(task.get("title", "")))),
        ("status", _styled(status, STATUS_STYLES.get(status, ""))),
        ("priority", _styled(priority, PRIORITY_STYLES.get(priority, ""))),
        ("tags", escape(", ".join(task.get("tags") or [])) or "-"),
        ("due", escape(format_task_time(task.get("due_at"), task, DETAIL_TIME_FORMAT)) or "-"),
        *_schedule_rows(task),
        ("created", escape(format_task_time(task.get("created_at"), task, DETAIL_TIME_FORMAT))),
        ("updated", escape(format_task_time(task.get("updated_at"), task, DETAIL_TIME_FORMAT))),
    ]
    if task.get("completed_at"):
        completed = format_task_time(task.get("completed_at"), task, DETAIL_TIME_FORMAT)
        rows.append(("completed", escape(completed)))
    rows.append(("version", escape(str(task.get("version", "")))))
    rows.append(("description", escape(str(task.get("description") or "")) or "-"))

    for name, value in rows:
        table.add_row(name, value)
    return table


def _schedule_rows(task: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return the rows for the time zone, recurrence and reminder, each only when set."""
    rows = []
    if task.get("timezone"):
        rows.append(("timezone", escape(str(task["timezone"]))))
    recurrence = task.get("recurrence")
    if isinstance(recurrence, Mapping) and recurrence.get("rule"):
        anchor = recurrence.get("anchor") or "due"
        # The anchor decides what the next occurrence counts from, so it is shown in words.
        counted_from = "the due time" if anchor == "due" else f"the {anchor}"
        rows.append(("recurrence", escape(f"{recurrence['rule']}, counted from {counted_from}")))
    if task.get("series_id") is not None:
        rows.append(
            ("series", escape(f"task {task['series_id']}, occurrence {task.get('occurrence')}"))
        )
    if task.get("remind_before"):
        reminder = f"{describe_duration(str(task['remind_before']))} before the due time"
        remind_at = format_task_time(task.get("remind_at"), task, DETAIL_TIME_FORMAT)
        if remind_at:
            reminder += f", at {remind_at}"
        rows.append(("reminder", escape(reminder)))
    return rows


DURATION_WORDS = (
    ("years", "year"),
    ("months", "month"),
    ("weeks", "week"),
    ("days", "day"),
    ("hours", "hour"),
    ("minutes", "minute"),
    ("seconds", "second"),
)


def describe_duration(text: str) -> str:
    """Return an ISO 8601 duration in words, such as ``1 hour 30 minutes`` for PT1H30M, or
    the text itself when it is not one."""
    amounts = dates.iso_duration_amounts(text)
    if amounts is None:
        return text
    words = [
        count_noun(amounts[unit], singular, unit)
        for unit, singular in DURATION_WORDS
        if amounts.get(unit)
    ]
    return " ".join(words) or "0 minutes"


def print_tasks(console: Console, page: Mapping[str, Any], *, from_cursor: bool = False) -> None:
    """Print a page of tasks as a table, or one friendly line when it is empty.

    ``from_cursor`` is true when the page was requested with ``--cursor``, so it is not
    the first page.
    """
    items = page.get("items") or []
    if not items:
        console.print("No tasks found.")
        return
    console.print(tasks_table(items))
    if page.get("next_cursor"):
        console.print(f"[dim]{next_page_hint(len(items), from_cursor=from_cursor)}[/]")


def next_page_hint(count: int, *, from_cursor: bool) -> str:
    """Return the hint under a page of ``count`` tasks when more tasks match, with the options
    that list them."""
    if from_cursor:
        page_summary = f"Showing {count_noun(count, 'matching task')} from the cursor"
        list_all = "Pass --all with this --cursor to list every one from here"
    elif count == 1:
        page_summary = "Showing the first matching task"
        list_all = "Pass --all to list every one"
    else:
        page_summary = f"Showing the first {count} matching tasks"
        list_all = "Pass --all to list every one"
    return (
        f"{page_summary}, and more match. {list_all}, --limit (up to 200) for longer pages, or "
        "--cursor with next_cursor from --json output for the next page."
    )


def print_task(console: Console, task: Mapping[str, Any]) -> None:
    """Print one task with every field."""
    console.print(task_details(task))


def task_label(task: Mapping[str, Any]) -> str:
    """Return ``42 "Buy milk"`` with the title escaped for Rich markup."""
    return f"{task.get('id')} {escape(json.dumps(str(task.get('title', '')), ensure_ascii=False))}"


def write_json(value: Any, *, indent: bool, stream: TextIO | None = None) -> None:
    """Write ``value`` as JSON and a newline, flushed so pipes see it at once.

    Single objects are indented for reading, while lists and events stay on one line so
    tools like ``jq`` and ``grep`` can process them line by line.
    """
    stream = stream or sys.stdout
    stream.write(json.dumps(value, indent=2 if indent else None, ensure_ascii=False) + "\n")
    stream.flush()


# "#" and six digits, so that columns stay aligned up to event 999999.
SEQUENCE_COLUMN_WIDTH = 7


def event_line(cloudevent: Mapping[str, Any], event_type: str, sequence: int | None = None) -> str:
    """Format one event as ``#sequence  time  type  task id  title  schedule`` in Rich markup.

    ``sequence`` is the event's number in the server's event log, the value that
    ``--since`` takes, shown as ``#-`` when the server sent none. The event's time and the
    task's times are in the task's time zone. The schedule part is the reminder time (with
    "(late)" when the server sent it late) for task.reminder, else the due time, and is left
    out when the task has no due time.
    """
    data = cloudevent.get("data")
    data = data if isinstance(data, Mapping) else {}
    label = f"#{sequence}" if sequence is not None else "#-"
    when = format_task_time(cloudevent.get("time"), data, EVENT_TIME_FORMAT)
    task_id = data.get("id", cloudevent.get("subject", "?"))
    title = str(data.get("title", ""))
    style = EVENT_STYLES.get(event_type, "")
    line = (
        f"{label:<{SEQUENCE_COLUMN_WIDTH}}  {escape(when)}  "
        f"{_styled(f'{event_type:<15}', style)}  "
        f"task {escape(str(task_id))}  {escape(title)}"
    )
    schedule = _event_schedule(data, event_type)
    return f"{line}  {escape(schedule)}" if schedule else line


def _event_schedule(data: Mapping[str, Any], event_type: str) -> str:
    """Return ``reminder at ..., due ... (late)`` for a reminder, ``due ...`` for others."""
    due = format_task_time(data.get("due_at"), data)
    if event_type != "task.reminder":
        return f"due {due}" if due else ""
    remind_at = format_task_time(data.get("remind_at"), data)
    parts = [f"reminder at {remind_at}"] if remind_at else []
    if due:
        parts.append(f"due {due}")
    text = ", ".join(parts)
    if data.get("late") is True:
        text += " (late)"
    return text


def count_noun(count: int, singular: str, plural: str | None = None) -> str:
    """Return ``1 task`` or ``3 tasks``: the count with the noun in the matching number."""
    noun = singular if count == 1 else (plural or f"{singular}s")
    return f"{count} {noun}"


def event_with_sequence(cloudevent: Mapping[str, Any], sequence: int | None) -> dict[str, Any]:
    """Return the CloudEvent with ``sequence`` added as the ``sequence`` extension attribute.

    The CloudEvents sequence extension carries the value as a string. Every other attribute
    stays as the server sent it, and without a sequence the event is returned unchanged.
    """
    event = dict(cloudevent)
    if sequence is not None:
        event["sequence"] = str(sequence)
    return event
