"""Parsing of ``taskora tasks add --due`` into an RFC 3339 timestamp with offset."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import typer
from cli_helpers import ScriptedResponse, ScriptedServer, make_task
from typer.testing import CliRunner

from taskora.cli.tasks import parse_due

# A POSIX TZ rule needs no tz database: UTC-5 in winter and UTC-4 from the second Sunday
# of March to the first Sunday of November, like America/New_York.
NEW_YORK_RULE = "EST+05EDT,M3.2.0,M11.1.0"


@pytest.fixture
def new_york_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", NEW_YORK_RULE)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("new_york_time")
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-24", "2026-12-24T23:59:59-05:00"),
        ("2026-07-04", "2026-07-04T23:59:59-04:00"),
        ("2026-12-24T17:00", "2026-12-24T17:00:00-05:00"),
        ("2026-12-24 17:00", "2026-12-24T17:00:00-05:00"),
        ("2026-07-04T08:30:15", "2026-07-04T08:30:15-04:00"),
        ("2026-12-24T17:00:00+01:00", "2026-12-24T17:00:00+01:00"),
        ("2026-12-24T16:00:00Z", "2026-12-24T16:00:00+00:00"),
        (" 2026-12-24 ", "2026-12-24T23:59:59-05:00"),
    ],
)
def test_parse_due_accepted_forms(value: str, expected: str) -> None:
    assert parse_due(value) == expected


@pytest.mark.parametrize("value", ["tomorrow", "2026-13-01", "24.12.2026", "", "2026-12-24T25:00"])
def test_parse_due_rejects_invalid(value: str) -> None:
    with pytest.raises(typer.BadParameter) as caught:
        parse_due(value)

    assert caught.value.message == (
        f"{value!r} is not a valid due date. Use an RFC 3339 timestamp with offset "
        "(2026-12-24T17:00:00+01:00 or 2026-12-24T16:00:00Z), a date and time in local time "
        "(2026-12-24T17:00 or '2026-12-24 17:00'), or a date alone meaning 23:59:59 local "
        "time that day (2026-12-24)."
    )


@pytest.mark.usefixtures("new_york_time")
def test_add_sends_converted_due(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    scripted_server.add("POST", "/api/tasks", ScriptedResponse(201, make_task(1, "Wrap gifts")))

    result = runner.invoke(
        cli,
        [
            "tasks", "add", "Wrap gifts", "--due", "2026-12-24", "-p", "high", "-d", "All of them",
            "--url", scripted_server.url, "--token", "t",
        ],
    )

    assert result.exit_code == 0, result.output
    assert scripted_server.requests[-1].body == {
        "title": "Wrap gifts",
        "description": "All of them",
        "priority": "high",
        "due_at": "2026-12-24T23:59:59-05:00",
    }


def test_add_invalid_due_is_usage_error(runner: CliRunner, cli: typer.Typer) -> None:
    result = runner.invoke(cli, ["tasks", "add", "x", "--due", "someday", "--token", "t"])

    message = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2
    assert "Invalid value for '--due': 'someday' is not a valid due date." in message
