"""The event log and its Server-Sent Events stream, through real HTTP."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from httpx_sse import connect_sse

from tests.conftest import LiveServer

RECEIVE_TIMEOUT_SECONDS = 10.0


@dataclass
class StreamReader:
    """Reads an event stream in a thread, so a test can write while it listens."""

    url: str
    token: str
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    received: queue.Queue = field(default_factory=queue.Queue)
    opened: threading.Event = field(default_factory=threading.Event)
    response_headers: dict[str, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if not self.opened.wait(RECEIVE_TIMEOUT_SECONDS):
            raise TimeoutError("the event stream did not open")

    def _read(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", **self.headers}
        with httpx.Client(timeout=httpx.Timeout(10, read=30)) as client:
            with connect_sse(
                client, "GET", f"{self.url}/api/events/stream", headers=headers, params=self.params
            ) as source:
                self.response_headers = dict(source.response.headers)
                self.opened.set()
                for event in source.iter_sse():
                    self.received.put(event)
                    if self._stop.is_set():
                        return

    def take(self, count: int) -> list:
        events = []
        deadline = time.monotonic() + RECEIVE_TIMEOUT_SECONDS
        while len(events) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"received {len(events)} of {count} events: {events}")
            events.append(self.received.get(timeout=remaining))
        return events

    def stop(self) -> None:
        self._stop.set()


@pytest.fixture
def user(api_server: LiveServer) -> tuple[str, httpx.Client]:
    token = api_server.create_user()
    client = httpx.Client(
        base_url=api_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return token, client


@pytest.fixture
def reader_factory(api_server: LiveServer) -> Iterator:
    readers: list[StreamReader] = []

    def open_reader(token: str, **options: dict[str, str]) -> StreamReader:
        reader = StreamReader(api_server.url, token, **options)
        reader.start()
        readers.append(reader)
        return reader

    yield open_reader
    for reader in readers:
        reader.stop()


def test_stream_sends_each_change_as_cloudevent(user, reader_factory) -> None:
    token, client = user
    reader = reader_factory(token)

    task = client.post("/api/tasks", json={"title": "Stream me"}).json()
    client.patch(f"/api/tasks/{task['id']}", json={"priority": "high"})
    client.post(f"/api/tasks/{task['id']}/complete")
    client.delete(f"/api/tasks/{task['id']}")
    events = reader.take(4)

    assert [event.event for event in events] == [
        "task.created",
        "task.updated",
        "task.completed",
        "task.deleted",
    ]
    ids = [int(event.id) for event in events]
    assert ids == sorted(ids)
    cloud_event = json.loads(events[2].data)
    assert cloud_event["specversion"] == "1.0"
    assert cloud_event["type"] == "task.completed"
    assert cloud_event["source"] == "/taskora/tasks"
    assert cloud_event["subject"] == str(task["id"])
    assert cloud_event["datacontenttype"] == "application/json"
    assert len(cloud_event["id"]) == 36
    assert cloud_event["time"].endswith("Z")
    assert cloud_event["data"]["status"] == "completed"
    assert cloud_event["data"]["priority"] == "high"
    assert cloud_event["data"]["version"] == 3
    assert isinstance(cloud_event["data"]["user_id"], int)
    assert json.loads(events[3].data)["data"]["title"] == "Stream me"


def test_stream_headers(user, reader_factory) -> None:
    token, _ = user
    reader = reader_factory(token)

    assert reader.response_headers["content-type"].startswith("text/event-stream")
    assert reader.response_headers["cache-control"] == "no-cache"
    assert reader.response_headers["x-accel-buffering"] == "no"


def test_stream_shows_only_own_events(api_server: LiveServer, user, reader_factory) -> None:
    token, client = user
    other_token = api_server.create_user()
    other_reader = reader_factory(other_token)
    own_reader = reader_factory(token)

    client.post("/api/tasks", json={"title": "private"})
    own_events = own_reader.take(1)
    with httpx.Client(
        base_url=api_server.url, headers={"Authorization": f"Bearer {other_token}"}, timeout=10
    ) as other:
        other.post("/api/tasks", json={"title": "theirs"})
    other_events = other_reader.take(1)

    assert json.loads(own_events[0].data)["data"]["title"] == "private"
    assert json.loads(other_events[0].data)["data"]["title"] == "theirs"
    assert other_reader.received.empty()


def test_resume_replays_missed_events(user, reader_factory) -> None:
    token, client = user
    first = reader_factory(token)
    task = client.post("/api/tasks", json={"title": "one"}).json()
    (created,) = first.take(1)
    first.stop()

    client.patch(f"/api/tasks/{task['id']}", json={"title": "two"})
    client.post(f"/api/tasks/{task['id']}/complete")
    resumed = reader_factory(token, headers={"Last-Event-ID": created.id})
    replayed = resumed.take(2)
    client.post(f"/api/tasks/{task['id']}/reopen")
    (live,) = resumed.take(1)

    assert [event.event for event in replayed] == ["task.updated", "task.completed"]
    assert int(replayed[0].id) > int(created.id)
    assert live.event == "task.updated"
    assert int(live.id) > int(replayed[1].id)


def test_since_parameter_replays_like_last_event_id(user, reader_factory) -> None:
    token, client = user
    watcher = reader_factory(token)
    client.post("/api/tasks", json={"title": "a"})
    client.post("/api/tasks", json={"title": "b"})
    first, second = watcher.take(2)

    resumed = reader_factory(token, params={"since": first.id})
    (replayed,) = resumed.take(1)

    assert replayed.id == second.id
    assert json.loads(replayed.data)["data"]["title"] == "b"


def test_types_filter(user, reader_factory) -> None:
    token, client = user
    reader = reader_factory(token, params={"types": "task.completed"})

    task = client.post("/api/tasks", json={"title": "filtered"}).json()
    client.post(f"/api/tasks/{task['id']}/complete")
    (event,) = reader.take(1)

    assert event.event == "task.completed"


def test_ping_comment_keeps_idle_stream_alive(api_server: LiveServer) -> None:
    """The test servers ping every second (TASKORA_SSE_PING_SECONDS=1)."""
    token = api_server.create_user()
    lines: list[str] = []
    with httpx.stream(
        "GET",
        f"{api_server.url}/api/events/stream",
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(10, read=5),
    ) as response:
        for line in response.iter_lines():
            lines.append(line)
            if line.startswith(":"):
                break

    assert lines[-1].startswith(": ping")


@pytest.mark.parametrize(
    ("params", "headers", "status", "detail"),
    [
        (
            {"types": "task.exploded"},
            {},
            422,
            "invalid query.types: unknown event type 'task.exploded'; use one or more of "
            "task.completed, task.created, task.deleted, task.recurred, task.reminder, task.updated",
        ),
        (
            {},
            {"Last-Event-ID": "abc"},
            400,
            "invalid Last-Event-ID header 'abc': it must be an event id "
            "(a non-negative integer) this stream sent",
        ),
    ],
)
def test_stream_rejects_invalid_parameters(
    api_server: LiveServer, params: dict, headers: dict, status: int, detail: str
) -> None:
    token = api_server.create_user()

    response = httpx.get(
        f"{api_server.url}/api/events/stream",
        params=params,
        headers={"Authorization": f"Bearer {token}", **headers},
        timeout=10,
    )

    assert response.status_code == status
    assert response.json()["detail"] == detail


def test_stream_lists_invalid_types_field(api_server: LiveServer) -> None:
    token = api_server.create_user()

    response = httpx.get(
        f"{api_server.url}/api/events/stream",
        params={"types": "task.created,nope"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )

    assert response.json()["errors"] == [
        {
            "field": "query.types",
            "message": "unknown event type 'nope'; use one or more of "
            "task.completed, task.created, task.deleted, task.recurred, task.reminder, task.updated",
        }
    ]


def test_stream_without_token_is_401(api_server: LiveServer) -> None:
    response = httpx.get(f"{api_server.url}/api/events/stream", timeout=10)

    assert response.status_code == 401
