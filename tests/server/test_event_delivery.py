"""Event delivery across a crash, across replicas and across many short-lived streams."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import temporary_database
from tests.support.servers import ServerProcess


@pytest.fixture
def postgres_database() -> Iterator[str]:
    with temporary_database() as url:
        yield url


def read_events(url: str, token: str, since: int, count: int, timeout: float = 15) -> list:
    """Read ``count`` events after ``since`` from the stream, as (id, type, data) tuples."""
    events: list[tuple[int, str, dict]] = []
    current: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    with httpx.stream(
        "GET",
        f"{url}/api/events/stream",
        params={"since": since},
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(10, read=timeout),
    ) as response:
        for line in response.iter_lines():
            if line.startswith(("id:", "event:", "data:")):
                key, _, value = line.partition(": ")
                current[key] = value
            elif line == "" and "data" in current:
                events.append((int(current["id"]), current["event"], json.loads(current["data"])))
                current = {}
                if len(events) >= count:
                    break
            if time.monotonic() > deadline:
                break
    return events


def metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    assert match is not None, f"metric {name} missing from:\n{text}"
    return float(match.group(1))


def resident_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1))


def test_sigkill_mid_burst_loses_no_committed_event(tmp_path: Path, postgres_database: str) -> None:
    server = ServerProcess(home=tmp_path, database_url=postgres_database)
    server.start()
    token = server.create_user("burst")
    headers = {"Authorization": f"Bearer {token}"}
    acknowledged: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def write() -> None:
        with httpx.Client(base_url=server.url, headers=headers, timeout=5) as client:
            for number in range(200):
                if stop.is_set():
                    return
                try:
                    response = client.post("/api/tasks", json={"title": f"burst {number}"})
                except httpx.TransportError:
                    return
                if response.status_code == 201:
                    with lock:
                        acknowledged.append(response.json()["id"])

    writers = [threading.Thread(target=write) for _ in range(8)]
    for writer in writers:
        writer.start()
    while len(acknowledged) < 150:
        time.sleep(0.01)
    server.process.send_signal(signal.SIGKILL)
    stop.set()
    for writer in writers:
        writer.join()
    server.process.wait()
    server.process = None

    server.start()
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        stored: set[int] = set()
        params: dict[str, object] = {"limit": 200}
        while True:
            page = client.get("/api/tasks", params=params).json()
            stored |= {task["id"] for task in page["items"]}
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
    events = read_events(server.url, token, since=0, count=len(stored))
    server.stop()
    created = [int(event[2]["subject"]) for event in events if event[1] == "task.created"]
    positions = [event[0] for event in events]

    assert set(acknowledged) <= stored
    assert sorted(created) == sorted(stored)
    assert len(created) == len(set(created))
    assert positions == sorted(positions)


def test_change_through_one_replica_reaches_the_other(
    tmp_path: Path, postgres_database: str
) -> None:
    first = ServerProcess(home=tmp_path / "a", database_url=postgres_database)
    second = ServerProcess(home=tmp_path / "b", database_url=postgres_database)
    first.start()
    second.start()
    token = first.create_user("replicas")
    headers = {"Authorization": f"Bearer {token}"}
    received: list[tuple[int, str, dict]] = []
    opened = threading.Event()

    def listen() -> None:
        current: dict[str, str] = {}
        with httpx.stream(
            "GET",
            f"{first.url}/api/events/stream",
            headers=headers,
            timeout=httpx.Timeout(10, read=10),
        ) as response:
            opened.set()
            for line in response.iter_lines():
                if line.startswith(("id:", "event:", "data:")):
                    key, _, value = line.partition(": ")
                    current[key] = value
                elif line == "" and "data" in current:
                    received.append(
                        (int(current["id"]), current["event"], json.loads(current["data"]))
                    )
                    return

    listener = threading.Thread(target=listen)
    listener.start()
    opened.wait(10)
    time.sleep(0.2)
    written_at = time.monotonic()
    task = httpx.post(f"{second.url}/api/tasks", json={"title": "via B"}, headers=headers).json()
    listener.join(timeout=5)
    delay = time.monotonic() - written_at
    httpx.patch(f"{second.url}/api/tasks/{task['id']}", json={"title": "edited"}, headers=headers)
    httpx.post(f"{first.url}/api/tasks/{task['id']}/complete", headers=headers)
    position = received[0][0]
    resumed_on_first = read_events(first.url, token, since=position, count=2)
    resumed_on_second = read_events(second.url, token, since=position, count=2)
    first.stop()
    second.stop()

    assert received[0][2]["data"]["title"] == "via B"
    assert delay < 1.0
    assert [event[1] for event in resumed_on_first] == ["task.updated", "task.completed"]
    assert resumed_on_second == resumed_on_first


def test_many_short_streams_leave_nothing_behind(tmp_path: Path) -> None:
    server = ServerProcess(home=tmp_path)
    server.start()
    token = server.saved_token()
    headers = {"Authorization": f"Bearer {token}"}

    def cycle(count: int) -> None:
        with httpx.Client(timeout=10) as client:
            for _ in range(count):
                with client.stream(
                    "GET", f"{server.url}/api/events/stream", headers=headers
                ) as response:
                    assert response.status_code == 200

    def settled(name: str, expected: float) -> float:
        deadline = time.monotonic() + 10
        value = metric(server.url, name)
        while value != expected and time.monotonic() < deadline:
            time.sleep(0.1)
            value = metric(server.url, name)
        return value

    cycle(100)
    settled("taskora_sse_streams", 0)
    baseline_tasks = metric(server.url, "taskora_event_loop_tasks")
    baseline_kib = resident_kib(server.process.pid)
    cycle(1000)
    streams = settled("taskora_sse_streams", 0)
    tasks = settled("taskora_event_loop_tasks", baseline_tasks)
    growth_kib = resident_kib(server.process.pid) - baseline_kib
    server.stop()

    assert streams == 0
    assert tasks == baseline_tasks
    # 1,000 leaked stream states of a few KiB each would pass 4 MiB.
    assert growth_kib < 4096
