"""The service's own schedule runs the recurrence and reminder checks for every user."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.servers import ServerProcess

WAIT_SECONDS = 20


@pytest.fixture
def scheduled_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(home=tmp_path / "home", check_interval_seconds=0.3)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def reminders(url: str, token: str) -> list[dict]:
    """Replay the user's task.reminder events from the log."""
    found = []
    with httpx.stream(
        "GET",
        f"{url}/api/events/stream",
        params={"since": 0, "types": "task.reminder"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                found.append(json.loads(line[6:]))
            if line.startswith(":"):
                break
    return found


def test_reminders_sent_without_check_call(
    scheduled_server: ServerProcess,
) -> None:
    users = {name: scheduled_server.create_user(name) for name in ("ana", "bo")}
    due = datetime.now(UTC) + timedelta(minutes=10)
    task_ids = {}
    for name, token in users.items():
        response = httpx.post(
            f"{scheduled_server.url}/api/tasks",
            json={"title": f"call {name}", "due_at": iso(due), "remind_before": "PT15M"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text
        task_ids[name] = response.json()["id"]

    deadline = time.monotonic() + WAIT_SECONDS
    sent: dict[str, list[dict]] = {}
    while time.monotonic() < deadline:
        sent = {name: reminders(scheduled_server.url, token) for name, token in users.items()}
        if all(sent.values()):
            break
        time.sleep(0.2)
    # Several more runs of the schedule must not send anything again.
    time.sleep(1.0)
    sent = {name: reminders(scheduled_server.url, token) for name, token in users.items()}

    for name in users:
        assert [event["data"]["id"] for event in sent[name]] == [task_ids[name]]
        assert sent[name][0]["data"]["remind_at"] == iso(due - timedelta(minutes=15))
    assert "Scheduled checks every 0.3 s started" in scheduled_server.log


def test_schedule_off_sends_nothing(tmp_path: Path) -> None:
    server = ServerProcess(home=tmp_path / "home", check_interval_seconds=0)
    server.start()
    try:
        token = server.create_user("cy")
        due = datetime.now(UTC) + timedelta(minutes=10)
        httpx.post(
            f"{server.url}/api/tasks",
            json={"title": "quiet", "due_at": iso(due), "remind_before": "PT15M"},
            headers={"Authorization": f"Bearer {token}"},
        )
        time.sleep(1.0)
        assert reminders(server.url, token) == []
        assert "Scheduled checks" not in server.log
    finally:
        server.stop()
