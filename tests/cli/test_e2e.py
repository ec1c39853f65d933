"""The real ``taskora`` CLI, run as a subprocess, against a real ``taskora serve``.

Each test makes its own user, so it receives only its own tasks and events even though
the server is shared by the whole session.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.conftest import LiveServer
from tests.support.servers import ServerProcess

CLI_TIMEOUT_SECONDS = 60
EVENT_TIMEOUT_SECONDS = 20.0


def client_env(live_server: LiveServer, token: str) -> dict[str, str]:
    """Return the server's environment with a user's token, UTC times and wide tables."""
    env = dict(live_server.env)
    env["TASKORA_URL"] = live_server.url
    env["TASKORA_TOKEN"] = token
    env["TZ"] = "UTC0"
    env["COLUMNS"] = "200"
    return env


def taskora(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskora", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
    )


def taskora_json(env: dict[str, str], *args: str) -> Any:
    result = taskora(env, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def table_rows(text: str) -> list[list[str]]:
    """Split a rendered Rich table into cells, dropping rules and blank lines."""
    rows = []
    for line in text.splitlines():
        if not line.strip() or set(line.strip()) <= set("━─┼╇┃│ "):
            continue
        rows.append([cell.strip() for cell in line.replace("┃", "│").split("│")])
    return rows


@pytest.fixture
def user_env(live_server: LiveServer) -> dict[str, str]:
    return client_env(live_server, live_server.create_user())


def test_task_lifecycle(user_env: dict[str, str]) -> None:
    first = taskora_json(
        user_env, "tasks", "add", "Buy milk", "-p", "high", "-t", "Home", "-t", "errands",
        "--due", "2026-12-24T17:00:00+01:00", "-d", "Two litres",
    )
    assert first["title"] == "Buy milk"
    assert first["description"] == "Two litres"
    assert first["status"] == "pending"
    assert first["priority"] == "high"
    assert first["tags"] == ["errands", "home"]
    assert first["due_at"] == "2026-12-24T16:00:00Z"
    assert first["completed_at"] is None
    assert first["version"] == 1

    added = taskora(user_env, "tasks", "add", "[red]x")
    assert added.returncode == 0, added.stderr
    second_id = int(added.stdout.split()[2])
    assert added.stdout == f'Added task {second_id} "[red]x".\n'

    page = taskora_json(user_env, "tasks", "list")
    second = taskora_json(user_env, "tasks", "show", str(second_id))
    assert page == {"items": [first, second], "next_cursor": None}

    table = taskora(user_env, "tasks", "list")
    assert table.returncode == 0, table.stderr
    assert table_rows(table.stdout) == [
        ["id", "status", "priority", "title", "tags", "due"],
        [str(first["id"]), "pending", "high", "Buy milk", "errands, home", "2026-12-24 16:00 UTC"],
        [str(second_id), "pending", "medium", "[red]x", "", ""],
    ]

    shown = taskora(user_env, "tasks", "show", str(first["id"]))
    assert shown.returncode == 0, shown.stderr
    lines = [line.rstrip() for line in shown.stdout.splitlines()]
    assert f"id           {first['id']}" in lines
    assert "title        Buy milk" in lines
    assert "due          2026-12-24 16:00:00 UTC" in lines
    assert "description  Two litres" in lines

    completed = taskora_json(user_env, "tasks", "done", str(first["id"]))
    assert completed["status"] == "completed"
    assert completed["completed_at"] is not None
    assert completed["version"] == 2

    done_page = taskora_json(user_env, "tasks", "list", "--status", "completed")
    assert [task["id"] for task in done_page["items"]] == [first["id"]]

    reopened = taskora(user_env, "tasks", "reopen", str(first["id"]))
    assert reopened.stdout == f'Reopened task {first["id"]} "Buy milk".\n'

    removed = taskora(user_env, "tasks", "rm", str(first["id"]))
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout == f"Deleted task {first['id']}.\n"

    gone = taskora(user_env, "tasks", "show", str(first["id"]))
    assert gone.returncode == 5
    assert gone.stderr == f"Error: task {first['id']} not found\n"
    assert gone.stdout == ""


def test_empty_list_message(user_env: dict[str, str]) -> None:
    result = taskora(user_env, "tasks", "list")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "No tasks found.\n"


def test_bad_token_exit_code(live_server: LiveServer, user_env: dict[str, str]) -> None:
    result = taskora(user_env, "tasks", "list", "--token", "not-a-real-token")

    assert result.returncode == 4
    assert result.stderr.startswith(
        f"Error: the server at {live_server.url} rejected the API token from --token (401 "
    )
    assert "Traceback" not in result.stderr


def test_other_users_task_not_found(live_server: LiveServer, user_env: dict[str, str]) -> None:
    task = taskora_json(user_env, "tasks", "add", "Private")
    stranger = client_env(live_server, live_server.create_user())

    result = taskora(stranger, "tasks", "done", str(task["id"]))

    assert result.returncode == 5
    assert result.stderr == f"Error: task {task['id']} not found\n"


def test_server_validation_error(user_env: dict[str, str]) -> None:
    result = taskora(user_env, "tasks", "add", "x" * 501)

    assert result.returncode == 2
    assert result.stderr.startswith("Error: the server rejected the request as invalid: title: ")


@pytest.mark.parametrize(
    ("options", "field"),
    [(("   ",), "title: "), (("Milk", "--tag", "no spaces allowed"), "tags")],
)
def test_invalid_values_exit_usage(
    user_env: dict[str, str], options: tuple[str, ...], field: str
) -> None:
    result = taskora(user_env, "tasks", "add", *options)

    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Error: the server rejected the request as invalid: ")
    assert field in result.stderr


def test_url_with_api_path(live_server: LiveServer, user_env: dict[str, str]) -> None:
    url = f"{live_server.url}/api"

    listing = taskora(user_env, "tasks", "list", "--url", url)
    showing = taskora(user_env, "tasks", "show", "1", "--url", url)

    assert listing.returncode == 1
    assert listing.stderr == (
        f"Error: the server at {url} returned 404 Not Found for GET /api/api/tasks, so {url} "
        f"does not look like a Taskora server. If the server runs at {live_server.url}, set "
        "that base URL without the path /api in --url.\n"
    )
    assert showing.returncode == 1
    assert "not found" not in showing.stderr.replace("404 Not Found", "")


def test_filters_and_sort(user_env: dict[str, str]) -> None:
    def add(title: str, *options: str) -> int:
        return int(taskora_json(user_env, "tasks", "add", title, *options)["id"])

    a = add("a", "-p", "low", "-t", "x", "--due", "2026-12-03T10:00:00Z")
    b = add("b", "-p", "urgent", "-t", "x", "-t", "y")
    c = add("c", "-p", "high", "-t", "y", "--due", "2026-12-01T10:00:00Z")
    d = add("d", "-p", "medium", "-t", "x", "-t", "y", "--due", "2026-12-02T10:00:00Z")
    taskora_json(user_env, "tasks", "done", str(d))

    def ids(*options: str) -> list[int]:
        page = taskora_json(user_env, "tasks", "list", *options)
        return [task["id"] for task in page["items"]]

    assert ids() == [a, b, c, d]
    assert ids("--sort", "-created_at") == [d, c, b, a]
    assert ids("--priority", "high", "--priority", "urgent") == [b, c]
    assert ids("--tag", "x", "--tag", "y") == [b, d]
    assert ids("--status", "pending", "--tag", "y") == [b, c]
    # Tasks without a due date sort last in both directions.
    assert ids("--sort", "due_at") == [c, d, a, b]
    assert ids("--sort", "-due_at") == [a, d, c, b]
    assert ids("--sort", "priority") == [a, d, c, b]
    assert ids("--sort", "-priority") == [b, c, d, a]

    first_page = taskora_json(user_env, "tasks", "list", "--limit", "3")
    assert [task["id"] for task in first_page["items"]] == [a, b, c]
    assert first_page["next_cursor"]
    assert ids("--limit", "3", "--cursor", first_page["next_cursor"]) == [d]

    table = taskora(user_env, "tasks", "list", "--limit", "3")
    assert [row[0] for row in table_rows(table.stdout)[1:4]] == [str(a), str(b), str(c)]
    assert "Showing the first 3 matching tasks, and more match." in " ".join(table.stdout.split())


class LineReader:
    """Reads a subprocess pipe in a thread so a test can wait for a line with a deadline."""

    def __init__(self, pipe: IO[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(pipe,), daemon=True)
        self._thread.start()

    def _pump(self, pipe: IO[str]) -> None:
        for line in pipe:
            self.lines.put(line)

    def next_line(self, timeout: float = EVENT_TIMEOUT_SECONDS) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line within {timeout} s") from None


@pytest.fixture
def tail_process(user_env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """``taskora events tail --json --since 0`` for a new user, killed if a test leaves it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "taskora", "events", "tail", "--json", "--since", "0"],
        env=user_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_events_tail_receives_changes(
    user_env: dict[str, str], tail_process: subprocess.Popen[str]
) -> None:
    assert tail_process.stdout is not None
    reader = LineReader(tail_process.stdout)

    # This event was committed before the stream connected, so it arrives by replay.
    task = taskora_json(user_env, "tasks", "add", "Watch me")
    created = json.loads(reader.next_line())

    # This one is committed while the stream is open, so it arrives live.
    taskora_json(user_env, "tasks", "done", str(task["id"]))
    completed = json.loads(reader.next_line())

    assert created["type"] == "task.created"
    assert created["subject"] == str(task["id"])
    assert created["data"]["title"] == "Watch me"
    assert created["data"]["status"] == "pending"
    assert completed["type"] == "task.completed"
    assert completed["subject"] == str(task["id"])
    assert completed["data"]["status"] == "completed"
    assert completed["specversion"] == "1.0"
    assert created["sequence"].isdigit()
    assert int(completed["sequence"]) > int(created["sequence"])

    tail_process.send_signal(signal.SIGINT)
    _, stderr = tail_process.communicate(timeout=20)
    assert tail_process.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_events_tail_bad_token(live_server: LiveServer, user_env: dict[str, str]) -> None:
    started = time.monotonic()

    result = taskora(user_env, "events", "tail", "--token", "not-a-real-token")

    assert result.returncode == 4
    assert result.stderr.startswith(
        f"Error: the server at {live_server.url} rejected the API token from --token"
    )
    assert time.monotonic() - started < CLI_TIMEOUT_SECONDS


def test_events_tail_survives_server_restart(tmp_path: Path) -> None:
    server = ServerProcess(home=tmp_path / "restarting-server")
    server.start()
    try:
        env = {
            **server.env,
            "TASKORA_URL": server.url,
            "TASKORA_TOKEN": server.saved_token(),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "taskora", "events", "tail", "--json", "--since", "0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            reader = LineReader(process.stdout)
            before = taskora_json(env, "tasks", "add", "Before restart")
            assert json.loads(reader.next_line())["subject"] == str(before["id"])

            server.stop()
            server.start()
            # Both changes are committed while the tail may still be waiting to reconnect,
            # so they can only reach it through the Last-Event-ID replay.
            after = taskora_json(env, "tasks", "add", "After restart")
            taskora_json(env, "tasks", "done", str(before["id"]))

            received = [json.loads(reader.next_line()) for _ in range(2)]
            assert [(event["type"], event["subject"]) for event in received] == [
                ("task.created", str(after["id"])),
                ("task.completed", str(before["id"])),
            ]
            # No replay of the first event: nothing more arrives within a ping or two.
            with pytest.raises(AssertionError, match="no line within"):
                reader.next_line(timeout=3.0)

            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    finally:
        server.stop()

    assert process.returncode == 0, stderr
    assert f"Connection to {server.url} lost" in stderr
    assert f"Reconnected to {server.url}." in stderr


def test_events_tail_since_printed_sequence(user_env: dict[str, str]) -> None:
    """The #N of a text line and the sequence of --json output both work with --since."""
    first = taskora_json(user_env, "tasks", "add", "First")
    second = taskora_json(user_env, "tasks", "add", "Second")
    process = subprocess.Popen(
        [sys.executable, "-m", "taskora", "events", "tail", "--since", "0"],
        env=user_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        reader = LineReader(process.stdout)
        first_line = reader.next_line()
        second_line = reader.next_line()
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert f"task {first['id']}  First" in first_line
    assert f"task {second['id']}  Second" in second_line
    sequence_label = first_line.split()[0]
    assert sequence_label.startswith("#")

    with subprocess.Popen(
        [
            sys.executable, "-m", "taskora", "events", "tail", "--json",
            "--since", sequence_label.removeprefix("#"),
        ],
        env=user_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as resumed:
        try:
            assert resumed.stdout is not None
            event = json.loads(LineReader(resumed.stdout).next_line())
        finally:
            resumed.kill()
            resumed.wait()

    assert event["subject"] == str(second["id"])
    assert second_line.split()[0] == f"#{event['sequence']}"


def test_complete_and_delete_aliases(user_env: dict[str, str]) -> None:
    """complete and delete, the names many users type, run done and rm."""
    task = taskora_json(user_env, "tasks", "add", "Alias check", "--json")

    completed = taskora(user_env, "tasks", "complete", str(task["id"]))
    deleted = taskora(user_env, "tasks", "delete", str(task["id"]))
    shown_after = taskora(user_env, "tasks", "show", str(task["id"]))

    assert completed.stdout == f'Completed task {task["id"]} "Alias check".\n'
    assert deleted.stdout == f"Deleted task {task['id']}.\n"
    assert shown_after.returncode == 5
