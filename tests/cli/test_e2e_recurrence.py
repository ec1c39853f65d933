"""Recurring tasks, reminders and the check commands through the real CLI and server."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import LiveServer
from tests.support.servers import taskora_command


def run(live_server: LiveServer, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**live_server.env, "TASKORA_URL": live_server.url, "TASKORA_TOKEN": token}
    return subprocess.run(
        taskora_command(*args), env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_add_every_then_done_creates_next(live_server: LiveServer) -> None:
    token = live_server.create_user()

    added = run(
        live_server,
        token,
        "tasks",
        "add",
        "Gym",
        "--due",
        "2027-03-26T18:00:00+01:00",
        "--timezone",
        "Europe/Berlin",
        "--every",
        "weekly on fri,sat",
        "--remind",
        "30m",
        "--json",
    )
    task = json.loads(added.stdout)
    shown = run(live_server, token, "tasks", "show", str(task["id"]))
    run(live_server, token, "tasks", "done", str(task["id"]))
    listing = json.loads(run(live_server, token, "tasks", "list", "--json").stdout)

    assert added.returncode == 0
    assert task["recurrence"] == {"rule": "FREQ=WEEKLY;BYDAY=FR,SA", "anchor": "due"}
    assert task["remind_before"] == "PT30M"
    assert "Next dates of the series:" in shown.stdout
    assert len([line for line in shown.stdout.splitlines() if line.startswith("  ")]) >= 5
    assert [item["occurrence"] for item in listing["items"]] == [1, 2]
    assert listing["items"][1]["status"] == "pending"


def test_repeat_options_are_checked(live_server: LiveServer) -> None:
    token = live_server.create_user()

    both = run(
        live_server,
        token,
        "tasks",
        "add",
        "x",
        "--due",
        "tomorrow",
        "--every",
        "daily",
        "--rrule",
        "FREQ=DAILY",
    )
    bad_remind = run(
        live_server, token, "tasks", "add", "x", "--due", "tomorrow", "--remind", "soon"
    )

    assert both.returncode == 2
    assert "--every and --rrule both set how the task repeats: give one" in both.stderr
    assert bad_remind.returncode == 2
    assert "is not a reminder offset" in bad_remind.stderr


def test_check_commands_report_counts(live_server: LiveServer) -> None:
    token = live_server.create_user()
    run(
        live_server,
        token,
        "tasks",
        "add",
        "Missed call",
        "--due",
        "2020-01-01T10:00:00Z",
        "--remind",
        "1h",
    )

    reminders = run(live_server, token, "reminders", "check", "--json")
    again = run(live_server, token, "reminders", "check")
    recurrence = run(live_server, token, "recurrence", "check")

    assert json.loads(reminders.stdout) == {"examined": 1, "sent": 1}
    assert again.stdout.strip() == "Examined 0 due reminders; sent 0."
    assert recurrence.returncode == 0
    assert "created 0 occurrences" in recurrence.stdout
