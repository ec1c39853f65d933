"""The task-events subscription: declaration, deliveries, redeliveries and bad messages.

The sidecar is a test double (tests/support/dapr_sidecar.py) because daprd cannot be
installed on the machines that run these tests.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.server.dapr.conftest import DaprService, start_dapr_service, wait_for
from tests.server.test_events_stream import StreamReader
from tests.support.dapr_sidecar import TestSidecar


def _sqlite_file(service: DaprService) -> Path:
    return Path(service.database_url.removeprefix("sqlite:///"))


def test_subscribe_declares_task_events(service: DaprService) -> None:
    response = httpx.get(f"{service.url}/dapr/subscribe")

    assert response.status_code == 200
    assert response.json() == [
        {"pubsubname": "pubsub", "topic": "task-events", "route": "/dapr/events/task-events"}
    ]


def test_redelivery_adds_no_duplicate(service: DaprService) -> None:
    client = service.create_user("streamer")
    token = client.headers["Authorization"].removeprefix("Bearer ")
    reader = StreamReader(service.url, token)
    reader.start()
    try:
        first = client.post("/api/tasks", json={"title": "one"}).json()
        wait_for(lambda: len(service.sidecar.published) == 1, "the first event")
        assert [record.status for record in service.sidecar.deliver_pending()] == ["SUCCESS"]
        redelivered = service.sidecar.redeliver(0)
        second = client.post("/api/tasks", json={"title": "two"}).json()
        wait_for(lambda: len(service.sidecar.published) == 2, "the second event")
        assert [record.status for record in service.sidecar.deliver_pending()] == ["SUCCESS"]

        events = reader.take(2)
    finally:
        reader.stop()

    assert redelivered.status == "SUCCESS"
    assert [json.loads(event.data)["data"]["id"] for event in events] == [first["id"], second["id"]]
    assert int(events[1].id) == int(events[0].id) + 1
    assert reader.received.empty()
    assert "Ignoring redelivered event" in service.server.log


def test_malformed_deliveries_are_dropped(service: DaprService) -> None:
    route = "/dapr/events/task-events"
    bodies = {
        b"not json": "the body is not JSON",
        b"[1, 2]": "the body is a JSON list",
        json.dumps({"specversion": "1.0", "type": "task.created"}).encode(): "the id attribute",
        json.dumps(
            {"specversion": "1.0", "id": "x1", "type": "order.placed", "data": {}}
        ).encode(): "unknown type 'order.placed'",
    }

    for body, reason in bodies.items():
        record = service.sidecar.post_to_app(route, body)
        assert (record.http_status, record.status) == (200, "DROP")
        assert reason in service.server.log


def test_event_missing_from_log_is_dropped(service: DaprService) -> None:
    foreign = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/elsewhere",
        "type": "task.created",
        "data": {"id": 1},
    }

    record = service.sidecar.post_to_app("/dapr/events/task-events", json.dumps(foreign).encode())

    assert record.status == "DROP"
    assert f"Dropping event {foreign['id']} (task.created)" in service.server.log


def test_database_failure_asks_for_retry(service: DaprService) -> None:
    client = service.create_user("retry")
    assert client.post("/api/tasks", json={"title": "later"}).status_code == 201
    wait_for(lambda: len(service.sidecar.published) == 1, "the event to be published")

    with sqlite3.connect(_sqlite_file(service)) as connection:
        connection.execute("ALTER TABLE events RENAME TO events_away")
    try:
        records = service.sidecar.deliver_pending()
    finally:
        with sqlite3.connect(_sqlite_file(service)) as connection:
            connection.execute("ALTER TABLE events_away RENAME TO events")

    assert [record.status for record in records] == ["RETRY"]
    assert "Asking for a retry of event" in service.server.log
    assert [record.status for record in service.sidecar.deliver_pending()] == ["SUCCESS"]


def test_app_token_guards_dapr_routes(tmp_path: Path) -> None:
    sidecar = TestSidecar(app_api_token="app-token-for-tests")
    sidecar.recorder.secrets["secretstore"] = {}
    sidecar.start()
    try:
        service = start_dapr_service(tmp_path, sidecar)
        try:
            anonymous = httpx.get(f"{service.url}/dapr/subscribe")
            wrong = httpx.post(f"{service.url}/reminder-cron", headers={"dapr-api-token": "guess"})
            subscriptions = sidecar.connect_app(service.url)
            tick = sidecar.fire("reminder-cron")
        finally:
            service.server.stop()
    finally:
        sidecar.stop()

    assert anonymous.status_code == 401
    assert "missing or invalid dapr-api-token header" in anonymous.json()["detail"]
    assert wrong.status_code == 401
    assert subscriptions[0]["topic"] == "task-events"
    assert tick.status_code == 200


def test_replayed_history_is_acknowledged_quietly(service: DaprService) -> None:
    """A new consumer group gets the stream's history: old events need no lookup."""
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    old = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/taskora/tasks",
        "type": "task.created",
        "time": hour_ago,
        "data": {"id": 1},
    }

    record = service.sidecar.post_to_app("/dapr/events/task-events", json.dumps(old).encode())

    assert record.status == "SUCCESS"
    assert old["id"] not in service.server.log
