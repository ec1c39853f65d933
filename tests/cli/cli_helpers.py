"""Test helpers for the client commands: a scripted HTTP server and API-shaped data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import typer

from taskora.cli import events, tasks


@dataclass
class RecordedRequest:
    """One request that the scripted server received."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any


@dataclass
class ScriptedResponse:
    """A canned response; ``body`` is sent as-is when it is bytes, else as JSON."""

    status: int
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


class ScriptedServer:
    """A tiny HTTP server on 127.0.0.1 with a free port that replays canned responses.

    Each route contains a queue of responses, and the last one repeats once the others are
    used, so a test can script a sequence such as "events, then 401".
    """

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[ScriptedResponse]] = {}
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        handler = self._handler_class()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def add(self, method: str, path: str, *responses: ScriptedResponse) -> None:
        self.routes[(method, path)] = list(responses)

    def _next_response(self, method: str, path: str) -> ScriptedResponse:
        with self._lock:
            queue = self.routes.get((method, path))
            if not queue:
                return ScriptedResponse(404, {"title": "Not Found", "status": 404})
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0 closes the connection after each response, which ends an event
            # stream the way a restarting server does.
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                server.requests.append(
                    RecordedRequest(
                        method=self.command,
                        path=parts.path,
                        query=parse_qsl(parts.query),
                        headers={key.lower(): value for key, value in self.headers.items()},
                        body=json.loads(raw) if raw else None,
                    )
                )
                response = server._next_response(self.command, parts.path)
                payload = response.encode()
                self.send_response(response.status)
                if payload or response.content_type.startswith("text/event-stream"):
                    self.send_header("Content-Type", response.content_type)
                if payload:
                    self.send_header("Content-Length", str(len(payload)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _handle
            do_POST = _handle
            do_DELETE = _handle
            do_PATCH = _handle

        return Handler


def build_cli() -> typer.Typer:
    """Return a root app with only the client command groups, like ``taskora`` mounts them."""
    root = typer.Typer()
    root.add_typer(tasks.app, name="tasks")
    root.add_typer(events.app, name="events")
    return root


def sse_message(sequence: int, cloudevent: dict[str, Any]) -> str:
    """Format one Server-Sent Event the way the Taskora server sends it."""
    return f"id: {sequence}\nevent: {cloudevent['type']}\ndata: {json.dumps(cloudevent)}\n\n"


def make_cloudevent(event_type: str, task_id: int, title: str) -> dict[str, Any]:
    """Return a CloudEvent like the server's, with a fixed time for exact output checks."""
    return {
        "specversion": "1.0",
        "id": f"00000000-0000-0000-0000-{task_id:012d}",
        "source": "/taskora/tasks",
        "type": event_type,
        "subject": str(task_id),
        "time": "2026-12-24T16:00:05Z",
        "datacontenttype": "application/json",
        "data": {"id": task_id, "title": title, "user_id": 1},
    }


def make_task(task_id: int, title: str, **overrides: Any) -> dict[str, Any]:
    """Return a task as the API sends it."""
    task: dict[str, Any] = {
        "id": task_id,
        "title": title,
        "description": "",
        "status": "pending",
        "priority": "medium",
        "tags": [],
        "due_at": None,
        "timezone": "UTC",
        "created_at": "2026-12-01T09:00:00Z",
        "updated_at": "2026-12-01T09:00:00Z",
        "completed_at": None,
        "version": 1,
    }
    task.update(overrides)
    return task


def make_user(timezone: str) -> dict[str, Any]:
    """Return the account that ``GET /api/users/me`` sends, with the time zone given."""
    return {"id": 1, "name": "local", "timezone": timezone, "created_at": "2026-12-01T09:00:00Z"}


def run_plain(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run ``taskora ARGUMENTS`` in a new process with a wide terminal and no colour."""
    return subprocess.run(
        [sys.executable, "-m", "taskora", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
    )
