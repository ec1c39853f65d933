"""The cron input bindings recurrence-cron and reminder-cron, fired as daprd fires them.

The sidecar is a test double (tests/support/dapr_sidecar.py) because daprd cannot be
installed on the machines that run these tests.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.server.dapr.conftest import DaprService, wait_for


def _due_soon() -> str:
    return (datetime.now(UTC) + timedelta(minutes=10)).isoformat()


def test_binding_routes_accept_options(service: DaprService) -> None:
    for binding in ("recurrence-cron", "reminder-cron"):
        assert httpx.options(f"{service.url}/{binding}").status_code == 200


def test_reminder_cron_covers_every_user(service: DaprService) -> None:
    for name in ("ana", "ben"):
        client = service.create_user(name)
        task = {"title": f"call {name}", "due_at": _due_soon(), "remind_before": "PT1H"}
        assert client.post("/api/tasks", json=task).status_code == 201

    first = service.sidecar.fire("reminder-cron")
    second = service.sidecar.fire("reminder-cron")

    assert first.status_code == 200
    assert first.json() == {
        "status": "ok",
        "binding": "reminder-cron",
        "users": 2,
        "examined": 2,
        "created": 2,
        "failed_users": 0,
    }
    assert second.json()["created"] == 0
    wait_for(lambda: len(service.sidecar.published) == 4, "two task.created and two reminders")
    types = [message.cloud_event["type"] for message in service.sidecar.published]
    assert types.count("task.reminder") == 2


def test_recurrence_cron_covers_every_user(service: DaprService) -> None:
    database_file = Path(service.database_url.removeprefix("sqlite:///"))
    completed = []
    for name in ("cora", "dan"):
        client = service.create_user(name)
        task = {
            "title": f"water {name}",
            "due_at": _due_soon(),
            "recurrence": {"rule": "FREQ=DAILY"},
        }
        task_id = client.post("/api/tasks", json=task).json()["id"]
        assert client.post(f"/api/tasks/{task_id}/complete").status_code == 200
        completed.append(task_id)
    service.create_user("eli")  # nothing to repair
    # Lose both next occurrences behind the service's back, as a restored backup would.
    with sqlite3.connect(database_file) as connection:
        for task_id in completed:
            connection.execute("DELETE FROM tasks WHERE previous_id = ?", (task_id,))
            connection.execute("UPDATE tasks SET next_occurrence_done = 0 WHERE id = ?", (task_id,))

    first = service.sidecar.fire("recurrence-cron")
    second = service.sidecar.fire("recurrence-cron")

    assert first.status_code == 200
    assert first.json() == {
        "status": "ok",
        "binding": "recurrence-cron",
        "users": 2,
        "examined": 2,
        "created": 2,
        "failed_users": 0,
    }
    assert second.json()["users"] == 0
    assert second.json()["created"] == 0


def test_failed_cron_run_is_logged(service: DaprService) -> None:
    client = service.create_user("eve")
    task = {"title": "call eve", "due_at": _due_soon(), "remind_before": "PT1H"}
    assert client.post("/api/tasks", json=task).status_code == 201
    database_file = Path(service.database_url.removeprefix("sqlite:///"))

    with sqlite3.connect(database_file) as connection:
        connection.execute("ALTER TABLE reminders_sent RENAME TO reminders_away")
    try:
        response = service.sidecar.fire("reminder-cron")
    finally:
        with sqlite3.connect(database_file) as connection:
            connection.execute("ALTER TABLE reminders_away RENAME TO reminders_sent")

    assert response.status_code == 500
    assert response.json()["failed_users"] == 1
    assert "The reminder-cron run failed for user 1" in service.server.log
    assert "no such table: reminders_sent" in service.server.log
    assert "The reminder-cron run failed for 1 of 1 users" in service.server.log
