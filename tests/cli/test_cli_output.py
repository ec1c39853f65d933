"""Table, detail, JSON and event rendering of the client commands."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import typer
import typer.main
from cli_helpers import ScriptedResponse, ScriptedServer, make_cloudevent, make_task
from rich.console import Console
from typer.testing import CliRunner

from taskora.cli import output

# The machine runs on Japan time (UTC+9 all year, as a POSIX rule), while the tasks are in
# Europe/Berlin, so a time shown in the machine's zone would be off by eight hours.
TOKYO_RULE = "JST-9"


@pytest.fixture(autouse=True)
def machine_in_tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", TOKYO_RULE)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def render(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def table_rows(text: str) -> list[list[str]]:
    """Split a rendered table into its cells, dropping the header rule."""
    rows = []
    for line in text.splitlines():
        if not line.strip() or set(line.strip()) <= set("━─┼╇┃│ "):
            continue
        rows.append([cell.strip() for cell in line.replace("┃", "│").split("│")])
    return rows


def test_tasks_table_cells() -> None:
    tasks = [
        make_task(1, "[red]x", tags=["home", "work"], due_at="2026-12-24T16:00:00Z",
                  priority="urgent", timezone="Europe/Berlin"),
        make_task(2, "Done thing", status="completed", priority="low"),
    ]

    now = datetime(2026, 12, 1, tzinfo=timezone.utc)

    rows = table_rows(render(output.tasks_table(tasks, now=now)))

    assert rows == [
        ["id", "status", "priority", "title", "tags", "due"],
        ["1", "pending", "urgent", "[red]x", "home, work", "2026-12-24 17:00 CET"],
        ["2", "completed", "low", "Done thing", "", ""],
    ]


def test_overdue_due_date_is_red() -> None:
    task = make_task(1, "Late", due_at="2026-01-01T00:00:00Z", timezone="Europe/Berlin")
    console = Console(file=io.StringIO(), width=120, color_system="standard", force_terminal=True)

    console.print(output.tasks_table([task], now=datetime(2026, 2, 1, tzinfo=timezone.utc)))

    assert "\x1b[31m2026-01-01 01:00 CET" in console.file.getvalue()  # type: ignore[attr-defined]


def test_task_details_fields() -> None:
    task = make_task(
        7,
        "Plan [b]trip[/b]",
        description="Book trains",
        tags=["travel"],
        due_at="2026-07-01T10:00:00Z",
        status="completed",
        completed_at="2026-06-30T18:30:00Z",
        version=3,
        timezone="Europe/Berlin",
    )

    lines = [line.rstrip() for line in render(output.task_details(task)).splitlines()]

    assert lines == [
        "id           7",
        "title        Plan [b]trip[/b]",
        "status       completed",
        "priority     medium",
        "tags         travel",
        "due          2026-07-01 12:00:00 CEST",
        "timezone     Europe/Berlin",
        "created      2026-12-01 10:00:00 CET",
        "updated      2026-12-01 10:00:00 CET",
        "completed    2026-06-30 20:30:00 CEST",
        "version      3",
        "description  Book trains",
    ]


def test_list_empty_prints_friendly_line(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    empty_page = {"items": [], "next_cursor": None}
    scripted_server.add("GET", "/api/tasks", ScriptedResponse(200, empty_page))

    result = runner.invoke(cli, ["tasks", "list", "--url", scripted_server.url, "--token", "t"])

    assert result.exit_code == 0
    assert result.output == "No tasks found.\n"


def test_list_json_prints_page(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    page = {"items": [make_task(1, "[red]x")], "next_cursor": "abc"}
    scripted_server.add("GET", "/api/tasks", ScriptedResponse(200, page))

    result = runner.invoke(
        cli, ["tasks", "list", "--json", "--url", scripted_server.url, "--token", "t"]
    )

    assert result.exit_code == 0
    assert result.output.count("\n") == 1
    assert json.loads(result.output) == page


def test_list_table_mentions_next_page(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    page = {"items": [make_task(1, "One")], "next_cursor": "abc"}
    scripted_server.add("GET", "/api/tasks", ScriptedResponse(200, page))

    result = runner.invoke(cli, ["tasks", "list", "--url", scripted_server.url, "--token", "t"])

    assert result.exit_code == 0
    assert " ".join(result.output.split()).endswith(
        "Showing the first matching task, and more match. Pass --all to list every one, "
        "--limit (up to 200) for longer pages, or --cursor with next_cursor from --json "
        "output for the next page."
    )


def test_show_json_is_indented(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    task = make_task(3, "Indented")
    scripted_server.add("GET", "/api/tasks/3", ScriptedResponse(200, task))

    result = runner.invoke(
        cli, ["tasks", "show", "3", "--json", "--url", scripted_server.url, "--token", "t"]
    )

    assert result.exit_code == 0
    assert result.output == json.dumps(task, indent=2) + "\n"


@pytest.mark.parametrize(
    ("command", "path", "expected"),
    [
        ("done", "/api/tasks/4/complete", 'Completed task 4 "[red]x".\n'),
        ("reopen", "/api/tasks/4/reopen", 'Reopened task 4 "[red]x".\n'),
    ],
)
def test_state_change_messages(
    runner: CliRunner,
    cli: typer.Typer,
    scripted_server: ScriptedServer,
    command: str,
    path: str,
    expected: str,
) -> None:
    scripted_server.add("POST", path, ScriptedResponse(200, make_task(4, "[red]x")))

    result = runner.invoke(
        cli, ["tasks", command, "4", "--url", scripted_server.url, "--token", "t"]
    )

    assert result.exit_code == 0
    assert result.output == expected


def test_rm_message(runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer) -> None:
    scripted_server.add("GET", "/api/tasks/42", ScriptedResponse(200, make_task(42, "Once")))
    scripted_server.add("DELETE", "/api/tasks/42", ScriptedResponse(204))

    result = runner.invoke(cli, ["tasks", "rm", "42", "--url", scripted_server.url, "--token", "t"])

    assert result.exit_code == 0
    assert result.output == "Deleted task 42.\n"


def test_event_line_task_zone() -> None:
    cloudevent = make_cloudevent("task.completed", 12, "[red]x")
    cloudevent["data"]["timezone"] = "Europe/Berlin"

    text = render(output.event_line(cloudevent, "task.completed", 345)).rstrip()

    assert text == "#345     2026-12-24 17:00:05 CET  task.completed   task 12  [red]x"


def test_event_line_without_sequence() -> None:
    cloudevent = make_cloudevent("task.created", 3, "Buy milk")

    text = render(output.event_line(cloudevent, "task.created")).rstrip()

    # Without the task's time zone in the event, the time is shown in UTC.
    assert text == "#-       2026-12-24 16:00:05 UTC  task.created     task 3  Buy milk"


def test_event_with_sequence_keeps_attributes() -> None:
    cloudevent = make_cloudevent("task.created", 3, "Buy milk")

    printed = output.event_with_sequence(cloudevent, 23)

    assert printed == {**cloudevent, "sequence": "23"}
    assert list(printed)[:-1] == list(cloudevent)
    assert "sequence" not in cloudevent
    assert output.event_with_sequence(cloudevent, None) == cloudevent


def test_help_texts_keep_square_brackets(cli: typer.Typer) -> None:
    """Rich markup in help would drop text such as ``[default: x]``, so none may change."""
    from rich.markup import render as render_markup

    command = typer.main.get_command(cli)
    pending = [("", command)]
    checked = 0
    while pending:
        path, current = pending.pop()
        texts = [current.help or "", current.epilog or ""]
        texts.extend(getattr(param, "help", None) or "" for param in current.params)
        for text in texts:
            assert render_markup(text).plain == text, f"{path}: {text!r}"
            checked += 1
        subcommands = getattr(current, "commands", {})
        pending.extend((f"{path} {name}", sub) for name, sub in subcommands.items())

    assert checked > 50


def test_error_keeps_square_brackets(scripted_server: ScriptedServer) -> None:
    """Server text in an error, such as ``[default: x]``, reaches stderr unchanged."""
    scripted_server.add(
        "POST",
        "/api/tasks/9/complete",
        ScriptedResponse(409, {"title": "Conflict", "status": 409, "detail": "[default: x] [b]"}),
    )

    result = subprocess.run(
        [
            sys.executable, "-m", "taskora", "tasks", "done", "9",
            "--url", scripted_server.url, "--token", "t",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 6
    assert result.stderr == "Error: conflict (409 Conflict): [default: x] [b]\n"
