"""Publishing relayed events through the Dapr sidecar, with the sidecar up, down and back.

The sidecar is a test double (tests/support/dapr_sidecar.py) because daprd cannot be
installed on the machines that run these tests.
"""

from __future__ import annotations

import httpx

from taskora.server.store import events as event_log
from taskora.server.store.database import Database
from tests.server.dapr.conftest import DaprService, wait_for


def _event_log(database_url: str) -> list[tuple[int, str, bool]]:
    """Return (position, payload, published) of every sequenced event, in order."""
    database = Database(database_url)
    try:
        with database.read() as session:
            events = event_log.events_after(session, 0, 1000)
            unpublished = {event.position for event in event_log.unpublished_events(session, 1000)}
        return [
            (event.position, event.payload, event.position not in unpublished) for event in events
        ]
    finally:
        database.dispose()


def test_publish_sends_logged_cloudevent(service: DaprService) -> None:
    client = service.create_user("publisher")

    created = client.post("/api/tasks", json={"title": "write the report"})
    assert created.status_code == 201
    wait_for(lambda: len(service.sidecar.published) == 1, "the event to be published")

    message = service.sidecar.published[0]
    logged = _event_log(service.database_url)
    assert message.pubsub == "pubsub"
    assert message.topic == "task-events"
    assert message.content_type == "application/cloudevents+json"
    assert message.data.decode() == logged[0][1]
    assert message.cloud_event["type"] == "task.created"
    assert message.cloud_event["data"]["id"] == created.json()["id"]
    wait_for(lambda: _event_log(service.database_url)[0][2], "the event to be marked published")


def test_sidecar_outage_keeps_events_in_order(service: DaprService) -> None:
    client = service.create_user("outage")
    sidecar = service.sidecar
    sidecar.stop()

    titles = ["first", "second", "third"]
    for title in titles:
        assert client.post("/api/tasks", json={"title": title}).status_code == 201
    wait_for(lambda: "outbox relay failed (attempt 2)" in service.server.log, "a second retry")

    ready = httpx.get(f"{service.url}/readyz").json()
    assert ready == {"status": "ready", "checks": {"sidecar": "unavailable", "database": "ok"}}
    assert sidecar.published == []
    assert [published for _, _, published in _event_log(service.database_url)] == [False] * 3

    sidecar.start()
    wait_for(lambda: len(sidecar.published) == 3, "the waiting events to be published")

    published = [message.cloud_event for message in sidecar.published]
    assert [event["data"]["title"] for event in published] == titles
    assert len({event["id"] for event in published}) == 3
    wait_for(
        lambda: all(done for _, _, done in _event_log(service.database_url)),
        "every event to be marked published",
    )
    assert "The outbox relay recovered after" in service.server.log
    ready = httpx.get(f"{service.url}/readyz").json()
    assert ready == {"status": "ready", "checks": {"sidecar": "ok", "database": "ok"}}


def test_broker_failure_is_retried(service: DaprService) -> None:
    client = service.create_user("broker")
    service.sidecar.fail_publishes(2)

    assert client.post("/api/tasks", json={"title": "retry me"}).status_code == 201
    wait_for(lambda: len(service.sidecar.published) == 1, "the event to be published")

    assert service.sidecar.recorder.failed_publishes == 2
    assert service.sidecar.published[0].cloud_event["data"]["title"] == "retry me"
    assert "the broker is unreachable" in service.server.log
    assert "it stays in the outbox" in service.server.log
