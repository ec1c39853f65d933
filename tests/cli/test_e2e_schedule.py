"""Repeat and reminder options of ``tasks add/edit/done/rm/show`` against a real server.

The commands run in this process through Typer's runner, over real HTTP on loopback to the
session's ``taskora serve``. Each test makes its own user.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from cli_helpers import ScriptedResponse, ScriptedServer, make_task
from typer.testing import CliRunner, Result

from taskora.cli import checks
from taskora.errors import ExitCode, TaskoraError
from tests.conftest import LiveServer

# A Friday in winter: 18:00 in Berlin is 17:00 UTC.
FRIDAY_EVENING = "2027-01-08 18:00"


class Cli:
    """One user of the live server, who runs ``taskora`` commands."""

    def __init__(self, runner: CliRunner, cli: typer.Typer, live_server: LiveServer) -> None:
        self.runner = runner
        self.cli = cli
        self.options = ["--url", live_server.url, "--token", live_server.create_user()]

    def run(self, *args: str) -> Result:
        # Wide enough that no usage error box wraps a message.
        return self.runner.invoke(self.cli, [*args, *self.options], env={"COLUMNS": "400"})

    def json(self, *args: str) -> Any:
        result = self.run(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def add_repeating(self, *options: str) -> dict[str, Any]:
        return dict(
            self.json(
                "tasks", "add", "Gym", "--due", FRIDAY_EVENING, "--timezone", "Europe/Berlin",
                "--every", "weekly on fri", *options,
            )
        )  # fmt: skip


@pytest.fixture
def user(runner: CliRunner, cli: typer.Typer, live_server: LiveServer) -> Cli:
    cli.add_typer(checks.reminders_app, name="reminders")
    return Cli(runner, cli, live_server)


def test_edit_sets_rule_and_reminder(user: Cli) -> None:
    task_id = str(user.json("tasks", "add", "Plants", "--due", FRIDAY_EVENING)["id"])

    edited = user.json(
        "tasks", "edit", task_id, "--every", "every 3 days", "--from-completion",
        "--remind", "1h30m",
    )  # fmt: skip

    assert edited["recurrence"] == {"rule": "FREQ=DAILY;INTERVAL=3", "anchor": "completion"}
    assert edited["remind_before"] == "PT1H30M"


def test_edit_anchor_alone_keeps_rule(user: Cli) -> None:
    task_id = str(user.add_repeating("--from-completion")["id"])

    edited = user.json("tasks", "edit", task_id, "--from-due")

    assert edited["recurrence"] == {"rule": "FREQ=WEEKLY;BYDAY=FR", "anchor": "due"}


def test_edit_rrule_keeps_anchor(user: Cli) -> None:
    task_id = str(user.add_repeating("--from-completion")["id"])

    edited = user.json("tasks", "edit", task_id, "--rrule", "FREQ=DAILY;COUNT=3")

    assert edited["recurrence"] == {"rule": "FREQ=DAILY;COUNT=3", "anchor": "completion"}


def test_edit_clears_rule_and_reminder(user: Cli) -> None:
    task_id = str(user.add_repeating("--remind", "2d12h")["id"])

    edited = user.json("tasks", "edit", task_id, "--no-repeat", "--no-remind")

    assert edited["recurrence"] is None
    assert edited["remind_before"] is None


def test_edit_rule_needs_due(user: Cli) -> None:
    task_id = str(user.json("tasks", "add", "Someday")["id"])

    result = user.run("tasks", "edit", task_id, "--every", "daily")

    assert isinstance(result.exception, TaskoraError)
    assert result.exception.exit_code == ExitCode.USAGE
    assert result.exception.message == (
        f"--every needs a due date, and task {task_id} has none. Pass --due too."
    )
    assert user.json("tasks", "show", task_id)["recurrence"] is None


def test_add_every_without_due_sends_nothing(user: Cli) -> None:
    result = user.run("tasks", "add", "Gym", "--every", "daily")

    assert isinstance(result.exception, TaskoraError)
    assert result.exception.exit_code == ExitCode.USAGE
    assert result.exception.message == "--every needs --due: a repeating task needs a due date."
    assert user.json("tasks", "list")["items"] == []


def test_add_bad_weekday_named(user: Cli) -> None:
    result = user.run("tasks", "add", "Gym", "--due", "tomorrow", "--every", "weekly on funday")

    assert result.exit_code == ExitCode.USAGE
    assert "'funday' is not a weekday in 'weekly on funday'" in result.output
    assert user.json("tasks", "list")["items"] == []


def test_add_unknown_preset_short_error(user: Cli) -> None:
    result = user.run("tasks", "add", "Gym", "--due", "tomorrow", "--every", "fortnightly")

    assert isinstance(result.exception, TaskoraError)
    assert result.exception.exit_code == ExitCode.USAGE
    assert result.exception.message == (
        "--every 'fortnightly' is not a preset the server knows. See `taskora tasks add "
        "--help` for the presets, or pass an RFC 5545 rule with --rrule."
    )


def test_add_remind_seconds_rejected(user: Cli) -> None:
    result = user.run("tasks", "add", "Call", "--due", "tomorrow", "--remind", "90s")

    assert result.exit_code == ExitCode.USAGE
    assert "'90s' uses seconds, which reminder offsets do not accept." in result.output
    assert user.json("tasks", "list")["items"] == []


def test_done_prints_next_occurrence(user: Cli) -> None:
    """Needs the server's ``Link: </api/tasks/N>; rel="next"`` header on completion."""
    task_id = user.add_repeating()["id"]

    result = user.run("tasks", "done", str(task_id))
    listing = user.json("tasks", "list", "--status", "pending")

    assert result.exit_code == 0, result.output
    [next_task] = listing["items"]
    assert result.stdout.splitlines() == [
        f'Completed task {task_id} "Gym".',
        f"Next occurrence: task {next_task['id']}, due 2027-01-15 18:00 CET.",
    ]


def test_done_json_has_next_task(user: Cli) -> None:
    task_id = user.add_repeating()["id"]

    completed = user.json("tasks", "done", str(task_id))

    assert completed["id"] == task_id
    assert completed["status"] == "completed"
    assert completed["next_task"]["due_at"] == "2027-01-15T17:00:00Z"
    assert completed["next_task"]["status"] == "pending"
    assert completed["next_task"]["series_id"] == task_id


def test_done_json_once_next_task_null(user: Cli) -> None:
    task_id = user.json("tasks", "add", "Once")["id"]

    completed = user.json("tasks", "done", str(task_id))

    assert completed["status"] == "completed"
    assert completed["next_task"] is None


def test_rm_occurrence_series_continues(user: Cli) -> None:
    task_id = user.add_repeating()["id"]

    result = user.run("tasks", "rm", str(task_id))
    (follower,) = user.json("tasks", "list")["items"]

    assert result.exit_code == 0, result.output
    assert follower["occurrence"] == 2
    assert result.stdout == (
        f"Deleted task {task_id}. Its series continues with task {follower['id']}; "
        "use --series to end it.\n"
    )


def test_rm_series_keeps_completed(user: Cli) -> None:
    first_id = user.add_repeating()["id"]
    next_id = user.json("tasks", "done", str(first_id))["next_task"]["id"]

    result = user.run("tasks", "rm", str(next_id), "--series")
    remaining = user.json("tasks", "list")["items"]

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Deleted task {next_id} and ended its series: its pending occurrences were deleted, "
        "and its completed ones are kept.\n"
    )
    assert [(task["id"], task["status"]) for task in remaining] == [(first_id, "completed")]


def test_rm_once_plain_message(user: Cli) -> None:
    task_id = user.json("tasks", "add", "Once")["id"]

    result = user.run("tasks", "rm", str(task_id))

    assert result.stdout == f"Deleted task {task_id}.\n"


def test_show_times_in_task_zone(user: Cli) -> None:
    task_id = user.add_repeating("--remind", "30m")["id"]

    result = user.run("tasks", "show", str(task_id))

    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert result.exit_code == 0, result.output
    assert "due          2027-01-08 18:00:00 CET" in lines
    assert "reminder     30 minutes before the due time, at 2027-01-08 17:30:00 CET" in lines
    assert lines[lines.index("Next dates of the series:") + 1] == "  Fri 2027-01-15 18:00 CET"


def test_list_due_in_task_zone(user: Cli) -> None:
    user.json("tasks", "add", "Call", "--due", "2026-12-24 17:00", "--timezone", "America/New_York")

    result = user.run("tasks", "list")

    assert "2026-12-24 17:00 EST" in result.stdout


def test_reminder_check_singular(user: Cli) -> None:
    user.json("tasks", "add", "Missed", "--due", "2020-01-01T10:00:00Z", "--remind", "1h")

    result = user.run("reminders", "check")

    assert result.stdout == "Examined 1 due reminder; sent 1.\n"


def test_show_next_dates_failure_exits_nonzero(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    """The scripted server replaces one whose occurrences route fails (503)."""
    task = make_task(
        3,
        "Gym",
        due_at="2026-12-04T17:00:00Z",
        timezone="Europe/Berlin",
        recurrence={"rule": "FREQ=WEEKLY;BYDAY=FR", "anchor": "due"},
    )
    scripted_server.add("GET", "/api/tasks/3", ScriptedResponse(200, task))
    scripted_server.add(
        "GET",
        "/api/tasks/3/occurrences",
        ScriptedResponse(503, {"title": "Service Unavailable", "status": 503, "detail": "busy"}),
    )

    result = runner.invoke(
        cli, ["tasks", "show", "3", "--url", scripted_server.url, "--token", "t"]
    )

    assert "due          2026-12-04 18:00:00 CET" in result.stdout
    assert isinstance(result.exception, TaskoraError)
    assert result.exception.exit_code == ExitCode.ERROR
    assert result.exception.message == (
        f"the next dates of task 3 could not be read: the server at {scripted_server.url} "
        "returned 503 Service Unavailable for GET /api/tasks/3/occurrences: busy"
    )


def test_rm_series_sends_query(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    """The scripted server records the exact DELETE that --series sends."""
    scripted_server.add("GET", "/api/tasks/4", ScriptedResponse(200, make_task(4, "x")))
    scripted_server.add("DELETE", "/api/tasks/4", ScriptedResponse(204))

    runner.invoke(
        cli, ["tasks", "rm", "4", "--series", "--url", scripted_server.url, "--token", "t"]
    )

    delete = scripted_server.requests[-1]
    assert delete.method == "DELETE"
    assert delete.query == [("series", "true")]


def help_text(runner: CliRunner, cli: typer.Typer, command: str) -> str:
    result = runner.invoke(cli, ["tasks", command, "--help"], env={"COLUMNS": "400"})
    return " ".join(result.stdout.split())


def test_help_texts(runner: CliRunner, cli: typer.Typer) -> None:
    add_help = help_text(runner, cli, "add")
    done_help = help_text(runner, cli, "done")
    rm_help = help_text(runner, cli, "rm")
    edit_help = help_text(runner, cli, "edit")

    assert "is retried up to three times in all" in add_help
    assert "Needs a due time, which starts the series." in add_help
    assert "Completing a repeating task creates its next occurrence" in done_help
    assert "next_task" in done_help
    assert "the series continues with the following occurrence" in rm_help
    assert "--series" in rm_help
    for option in ("--every", "--rrule", "--from-completion", "--no-repeat", "--no-remind"):
        assert option in edit_help


def test_add_help_paragraph_unbroken(runner: CliRunner, cli: typer.Typer) -> None:
    result = runner.invoke(cli, ["tasks", "add", "--help"], env={"COLUMNS": "400"})

    assert "is retried up to three times in all" in result.stdout
