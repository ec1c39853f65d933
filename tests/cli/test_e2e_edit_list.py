"""``tasks list`` filters, ``tasks edit`` and retried ``tasks add`` against a real server.

Each test makes its own user, so its listings contain only its own tasks.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from test_e2e import client_env, table_rows, taskora, taskora_json

from tests.conftest import LiveServer


@pytest.fixture
def user_env(live_server: LiveServer) -> dict[str, str]:
    return client_env(live_server, live_server.create_user())


def add(env: dict[str, str], title: str, *options: str) -> int:
    return int(taskora_json(env, "tasks", "add", title, *options)["id"])


def list_ids(env: dict[str, str], *options: str) -> list[int]:
    page = taskora_json(env, "tasks", "list", *options)
    return [task["id"] for task in page["items"]]


def test_list_filters_search_sort(user_env: dict[str, str]) -> None:
    a = add(user_env, "Groceries", "-t", "home", "--due", "2099-12-01T10:00:00Z")
    b = add(user_env, "Call bank", "-t", "work", "-d", "about the grocery card")
    c = add(user_env, "apples", "-t", "home", "-t", "work", "--due", "2099-12-03T10:00:00Z")
    d = add(user_env, "Tax return", "-t", "admin", "--due", "2020-01-01T00:00:00Z")
    e = add(user_env, "Old bill", "--due", "2020-01-02T00:00:00Z")
    taskora_json(user_env, "tasks", "done", str(e))

    assert list_ids(user_env, "--tag", "home", "--tag", "work") == [c]
    assert list_ids(user_env, "--tag", "home", "--tag", "admin", "--any-tag") == [a, c, d]
    assert list_ids(user_env, "-q", "groc") == [a, b]
    assert list_ids(user_env, "--search", "GROCERIES") == [a]
    assert list_ids(user_env, "--due-before", "2099-12-02T00:00:00Z") == [a, d, e]
    assert list_ids(user_env, "--due-after", "2099-12-01T10:00:00Z") == [a, c]
    assert list_ids(
        user_env, "--due-after", "2099-11-30", "--due-before", "2099-12-02 00:00"
    ) == [a]
    assert list_ids(user_env, "--overdue") == [d]
    assert list_ids(user_env, "--sort", "title") == [c, b, a, e, d]
    assert list_ids(user_env, "--sort", "-title") == [d, e, a, b, c]

    taskora_json(user_env, "tasks", "edit", str(b), "--priority", "high")
    assert list_ids(user_env, "--sort", "-updated_at")[0] == b
    assert list_ids(user_env, "--sort", "updated_at")[-1] == b


FIRST_PAGE_HINT = (
    "Showing the first 3 matching tasks, and more match. Pass --all to list every one, "
    "--limit (up to 200) for longer pages, or --cursor with next_cursor from --json output "
    "for the next page."
)
LATER_PAGE_HINT = (
    "Showing 3 matching tasks from the cursor, and more match. Pass --all with this --cursor "
    "to list every one from here, --limit (up to 200) for longer pages, or --cursor with "
    "next_cursor from --json output for the next page."
)


def words(text: str) -> str:
    """Join the words of ``text`` with single spaces, undoing Rich's line wrapping."""
    return " ".join(text.split())


def test_list_hint_on_each_page(user_env: dict[str, str]) -> None:
    ids = [add(user_env, f"Task {number}") for number in range(7)]
    first_cursor = taskora_json(user_env, "tasks", "list", "--limit", "3")["next_cursor"]
    second_cursor = taskora_json(
        user_env, "tasks", "list", "--limit", "3", "--cursor", first_cursor
    )["next_cursor"]

    first = taskora(user_env, "tasks", "list", "--limit", "3")
    second = taskora(user_env, "tasks", "list", "--limit", "3", "--cursor", first_cursor)
    last = taskora(user_env, "tasks", "list", "--limit", "3", "--cursor", second_cursor)
    rest = list_ids(user_env, "--all", "--cursor", first_cursor)

    assert first.returncode == 0, first.stderr
    assert [row[0] for row in table_rows(first.stdout)[1:4]] == [str(i) for i in ids[:3]]
    assert words(first.stdout).endswith(FIRST_PAGE_HINT)
    assert second.returncode == 0, second.stderr
    assert [row[0] for row in table_rows(second.stdout)[1:4]] == [str(i) for i in ids[3:6]]
    assert words(second.stdout).endswith(LATER_PAGE_HINT)
    assert last.returncode == 0, last.stderr
    assert [row[0] for row in table_rows(last.stdout)[1:]] == [str(ids[6])]
    assert "Showing" not in last.stdout
    assert rest == ids[3:]


def test_list_hint_for_one_task(user_env: dict[str, str]) -> None:
    add(user_env, "First")
    add(user_env, "Second")
    add(user_env, "Third")
    cursor = taskora_json(user_env, "tasks", "list", "--limit", "1")["next_cursor"]

    first = taskora(user_env, "tasks", "list", "--limit", "1")
    second = taskora(user_env, "tasks", "list", "--limit", "1", "--cursor", cursor)

    assert first.returncode == 0, first.stderr
    assert words(first.stdout).endswith(
        "Showing the first matching task, and more match. Pass --all to list every one, "
        "--limit (up to 200) for longer pages, or --cursor with next_cursor from --json "
        "output for the next page."
    )
    assert second.returncode == 0, second.stderr
    assert words(second.stdout).endswith(
        "Showing 1 matching task from the cursor, and more match. Pass --all with this "
        "--cursor to list every one from here, --limit (up to 200) for longer pages, or "
        "--cursor with next_cursor from --json output for the next page."
    )


def test_list_all_pages(user_env: dict[str, str]) -> None:
    ids = [add(user_env, f"Task {number}") for number in range(5)]

    page = taskora_json(user_env, "tasks", "list", "--all", "--limit", "2")
    table = taskora(user_env, "tasks", "list", "--all", "--limit", "2")

    assert [task["id"] for task in page["items"]] == ids
    assert page["next_cursor"] is None
    assert table.returncode == 0, table.stderr
    assert [row[0] for row in table_rows(table.stdout)[1:]] == [str(i) for i in ids]
    assert "Showing the first" not in table.stdout
    # stderr is a pipe here, so no progress line is drawn.
    assert table.stderr == ""


def test_edit_each_field(user_env: dict[str, str]) -> None:
    task_id = add(user_env, "Draft", "-t", "home", "-t", "misc")

    def edit(*options: str) -> dict[str, Any]:
        return dict(taskora_json(user_env, "tasks", "edit", str(task_id), *options))

    assert edit("--title", "Final")["title"] == "Final"
    assert edit("--description", "Two pages")["description"] == "Two pages"
    assert edit("--priority", "urgent")["priority"] == "urgent"
    assert edit("--tag", "b", "--tag", "A")["tags"] == ["a", "b"]
    assert edit("--add-tag", "c", "--remove-tag", "A")["tags"] == ["b", "c"]
    assert edit("--no-tags")["tags"] == []
    # A date alone ends at 23:59:59 in the task's time zone, UTC for a new user. (It once
    # followed the subprocess's TZ=UTC0 instead, which the CLI no longer reads.)
    assert edit("--due", "2026-12-24")["due_at"] == "2026-12-24T23:59:59Z"
    assert edit("--no-due")["due_at"] is None
    berlin = edit("--timezone", "Europe/Berlin", "--due", "2026-12-24 09:00")
    assert berlin["timezone"] == "Europe/Berlin"
    assert berlin["due_at"] == "2026-12-24T08:00:00Z"
    completed = edit("--status", "completed")
    assert completed["status"] == "completed"
    assert completed["completed_at"] is not None
    reopened = edit("--status", "pending")
    assert reopened["status"] == "pending"
    assert reopened["completed_at"] is None
    assert reopened["version"] == 12

    shown = taskora(user_env, "tasks", "show", str(task_id))
    lines = [line.rstrip() for line in shown.stdout.splitlines()]
    assert "timezone     Europe/Berlin" in lines
    assert "title        Final" in lines


def test_edit_table_output(user_env: dict[str, str]) -> None:
    task_id = add(user_env, "Plain")

    result = taskora(user_env, "tasks", "edit", str(task_id), "--title", "Renamed")

    assert result.returncode == 0, result.stderr
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert "title        Renamed" in lines
    assert "version      2" in lines


def test_edit_conflict_exit_code(user_env: dict[str, str]) -> None:
    task_id = add(user_env, "Shared")
    taskora_json(user_env, "tasks", "edit", str(task_id), "--title", "Changed elsewhere")

    result = taskora(user_env, "tasks", "edit", str(task_id), "--if-version", "1", "--title", "x")

    assert result.returncode == 6
    assert result.stderr == (
        f"Error: task {task_id} was changed by someone else (it is at version 2, you edited "
        f'version 1). Run "taskora tasks show {task_id}" and edit again.\n'
    )
    unchanged = taskora_json(user_env, "tasks", "show", str(task_id))
    assert unchanged["title"] == "Changed elsewhere"
    assert unchanged["version"] == 2


def test_edit_missing_task(user_env: dict[str, str]) -> None:
    result = taskora(user_env, "tasks", "edit", "999999", "--title", "x")

    assert result.returncode == 5
    assert result.stderr == "Error: task 999999 not found\n"


class LosingProxy:
    """A loopback proxy to a real server that drops the response to the first POST.

    It forwards that POST, so the server creates the task, then answers 503 as a proxy
    in front of a restarting server would. Every other request passes through unchanged.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self.post_keys: list[str | None] = []
        self.replayed: list[str | None] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    key: value
                    for key, value in self.headers.items()
                    if key.lower() not in ("host", "content-length", "connection")
                }
                upstream = httpx.request(
                    self.command, proxy.target + self.path, headers=headers, content=body
                )
                if self.command == "POST" and self.path == "/api/tasks":
                    proxy.post_keys.append(self.headers.get("Idempotency-Key"))
                    proxy.replayed.append(upstream.headers.get("Idempotent-Replayed"))
                    if len(proxy.post_keys) == 1:
                        self.send_response(503)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                self.send_response(upstream.status_code)
                for name in ("Content-Type", "ETag"):
                    if name in upstream.headers:
                        self.send_header(name, upstream.headers[name])
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            do_GET = _forward
            do_POST = _forward

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def losing_proxy(live_server: LiveServer) -> Iterator[LosingProxy]:
    proxy = LosingProxy(live_server.url)
    try:
        yield proxy
    finally:
        proxy.stop()


def test_add_retry_creates_one_task(
    user_env: dict[str, str], losing_proxy: LosingProxy
) -> None:
    env = {**user_env, "TASKORA_URL": losing_proxy.url}

    result = taskora(env, "tasks", "add", "Exactly once", "--json")

    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert len(losing_proxy.post_keys) == 2
    assert losing_proxy.post_keys[0] is not None
    assert losing_proxy.post_keys[0] == losing_proxy.post_keys[1]
    assert losing_proxy.replayed == [None, "true"]
    assert "retrying" in result.stderr
    page = taskora_json(user_env, "tasks", "list")
    assert [task["id"] for task in page["items"]] == [created["id"]]
