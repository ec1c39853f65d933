"""``taskora events tail`` against a scripted event stream: output, reconnects and errors.

The scripted server stands in for the real service so that a test can drop the stream at
a chosen point, replay an event twice, or return 401 and 503 on demand.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
import typer
from cli_helpers import ScriptedResponse, ScriptedServer, make_cloudevent, sse_message
from rich.console import Console
from typer.testing import CliRunner

from taskora.cli.client import Connection, TaskoraClient
from taskora.cli.events import _print_reset
from taskora.errors import ExitCode, TaskoraError

STREAM = "/api/events/stream"
CREATED_1 = make_cloudevent("task.created", 1, "Buy milk")
COMPLETED_1 = make_cloudevent("task.completed", 1, "Buy milk")
CREATED_2 = make_cloudevent("task.created", 2, "[red]x")


def stream_response(*messages: str) -> ScriptedResponse:
    return ScriptedResponse(
        200, "".join(messages).encode(), content_type="text/event-stream; charset=utf-8"
    )


UNAUTHORIZED = ScriptedResponse(
    401,
    {"title": "Unauthorized", "status": 401, "detail": "Invalid or missing API token"},
    content_type="application/problem+json",
)


@pytest.fixture
def utc_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC0")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_tail_json_resumes_after_drop(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    # The first stream ends after event 2, and the second one replays event 2 before 3,
    # as a server might after a restart. The final 401 ends the command.
    scripted_server.add(
        "GET",
        STREAM,
        stream_response(sse_message(1, CREATED_1), ": ping\n\n", sse_message(2, COMPLETED_1)),
        stream_response(sse_message(2, COMPLETED_1), sse_message(3, CREATED_2)),
        UNAUTHORIZED,
    )

    result = runner.invoke(
        cli,
        [
            "events", "tail", "--json", "--since", "0", "--type", "task.created",
            "--type", "task.completed", "--url", scripted_server.url, "--token", "t",
        ],
    )

    assert isinstance(result.exception, TaskoraError)
    assert result.exception.exit_code == ExitCode.UNAUTHORIZED
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {**CREATED_1, "sequence": "1"},
        {**COMPLETED_1, "sequence": "2"},
        {**CREATED_2, "sequence": "3"},
    ]

    first, second, third = scripted_server.requests
    assert first.query == [("types", "task.created,task.completed"), ("since", "0")]
    assert "last-event-id" not in first.headers
    assert second.query == [("types", "task.created,task.completed")]
    assert second.headers["last-event-id"] == "2"
    assert third.headers["last-event-id"] == "3"
    assert first.headers["accept"] == "text/event-stream"


def test_tail_notes_reconnects_on_stderr(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    scripted_server.add(
        "GET", STREAM, stream_response(sse_message(5, CREATED_1)), stream_response(), UNAUTHORIZED
    )

    result = runner.invoke(cli, ["events", "tail", "--url", scripted_server.url, "--token", "t"])

    notes = result.stderr.splitlines()
    assert notes[0] == (
        f"Connection to {scripted_server.url} lost (the server closed the stream); "
        "reconnecting in 0.5 s to resume after event 5."
    )
    assert notes[1] == f"Reconnected to {scripted_server.url}."


@pytest.mark.usefixtures("utc_time")
def test_tail_readable_lines(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    scripted_server.add(
        "GET", STREAM, stream_response(sse_message(1, CREATED_1), sse_message(2, CREATED_2)),
        UNAUTHORIZED,
    )

    result = runner.invoke(cli, ["events", "tail", "--url", scripted_server.url, "--token", "t"])

    assert result.stdout.splitlines() == [
        "#1       2026-12-24 16:00:05 UTC  task.created     task 1  Buy milk",
        "#2       2026-12-24 16:00:05 UTC  task.created     task 2  [red]x",
    ]


def test_tail_first_401_is_not_retried(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    scripted_server.add("GET", STREAM, UNAUTHORIZED)

    result = runner.invoke(cli, ["events", "tail", "--url", scripted_server.url, "--token", "bad"])

    assert isinstance(result.exception, TaskoraError)
    assert result.exception.exit_code == ExitCode.UNAUTHORIZED
    assert result.exception.message.startswith(
        f"the server at {scripted_server.url} rejected the API token from --token"
    )
    assert len(scripted_server.requests) == 1


def test_tail_retries_server_errors(scripted_server: ScriptedServer) -> None:
    unavailable = ScriptedResponse(503, {"title": "Service Unavailable", "status": 503})
    scripted_server.add(
        "GET",
        STREAM,
        stream_response(sse_message(1, CREATED_1)),
        unavailable,
        unavailable,
        stream_response(sse_message(2, COMPLETED_1)),
    )
    delays: list[float] = []
    notes: list[str] = []
    connection = Connection(scripted_server.url, "--url", "t", "--token")

    with TaskoraClient(connection) as client:
        events = client.follow_events(notify=notes.append, sleep=delays.append)
        received = [next(events).sequence, next(events).sequence]
        events.close()

    assert received == [1, 2]
    assert delays == [0.5, 1.0, 2.0]
    assert notes[1].startswith(f"Connection to {scripted_server.url} lost (the server at ")


def test_tail_first_connection_refused(runner: CliRunner, cli: typer.Typer) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"

    result = runner.invoke(cli, ["events", "tail", "--url", url, "--token", "t"])

    assert isinstance(result.exception, TaskoraError)
    assert result.exception.exit_code == ExitCode.UNREACHABLE
    assert result.exception.message.startswith(f"cannot reach the Taskora server at {url}")


def test_tail_stops_cleanly_on_sigint(scripted_server: ScriptedServer) -> None:
    scripted_server.add("GET", STREAM, stream_response(sse_message(1, CREATED_1)))
    helpers_dir = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(helpers_dir), *sys.path])}
    process = subprocess.Popen(
        [
            sys.executable, "-c", "from cli_helpers import build_cli; build_cli()()",
            "events", "tail", "--json", "--url", scripted_server.url, "--token", "t",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert json.loads(first_line) == {**CREATED_1, "sequence": "1"}
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_tail_into_closed_pipe(scripted_server: ScriptedServer) -> None:
    """``taskora events tail --json | head -n 1`` ends quietly once ``head`` exits."""
    messages = [sse_message(number, CREATED_1) for number in range(1, 2001)]
    scripted_server.add("GET", STREAM, stream_response(*messages), UNAUTHORIZED)
    helpers_dir = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(helpers_dir), *sys.path])}
    process = subprocess.Popen(
        [
            sys.executable, "-c", "from cli_helpers import build_cli; build_cli()()",
            "events", "tail", "--json", "--url", scripted_server.url, "--token", "t",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        process.stdout.close()
        process.wait(timeout=20)
        stderr = process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert json.loads(first_line) == {**CREATED_1, "sequence": "1"}
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_tail_json_adds_only_sequence(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    """Each printed line is the server's event text plus a string ``sequence`` at the end."""
    scripted_server.add(
        "GET", STREAM, stream_response(sse_message(23, CREATED_2)), UNAUTHORIZED
    )

    result = runner.invoke(
        cli, ["events", "tail", "--json", "--url", scripted_server.url, "--token", "t"]
    )

    (line,) = result.stdout.splitlines()
    printed = json.loads(line)
    assert printed["sequence"] == "23"
    assert printed["id"] == CREATED_2["id"]
    assert {key: value for key, value in printed.items() if key != "sequence"} == CREATED_2
    assert list(printed) == [*CREATED_2, "sequence"]


def test_tail_since_takes_printed_sequence(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    """The number after # in a text line, passed to --since, resumes after that event."""
    scripted_server.add("GET", STREAM, stream_response(sse_message(41, CREATED_1)), UNAUTHORIZED)
    options = ["--url", scripted_server.url, "--token", "t"]

    first = runner.invoke(cli, ["events", "tail", *options])
    sequence_label = first.stdout.split()[0]
    runner.invoke(cli, ["events", "tail", "--since", sequence_label.removeprefix("#"), *options])

    assert sequence_label == "#41"
    assert scripted_server.requests[-1].query == [("since", "41")]


def test_tail_help_explains_since(runner: CliRunner, cli: typer.Typer) -> None:
    result = runner.invoke(cli, ["events", "tail", "--help"], env={"COLUMNS": "400"})

    assert result.exit_code == 0
    assert (
        "--since takes the number shown as #N, or the sequence attribute of --json output."
        in result.stdout
    )


@pytest.mark.parametrize(
    ("data", "cause"),
    [
        (
            {"requested_after": 3, "oldest_available": 9},
            "the server no longer has the events before #9, so some changes were not printed",
        ),
        (
            {"requested_after": 99999, "oldest_available": 1},
            (
                "event #99999 is newer than the server's newest event #56, so it came from "
                "another database"
            ),
        ),
    ],
    ids=["pruned", "other-database"],
)
def test_reset_text_names_cause(data: dict[str, int], cause: str) -> None:
    buffer = StringIO()
    _print_reset(data, 56, False, Console(file=buffer, width=300, no_color=True))

    assert buffer.getvalue() == (
        f"#56  reset: {cause}. Run `taskora tasks list` to see the current tasks; following "
        "continues from here.\n"
    )
