"""The event log: positions in commit order, retention with reset, slow streams, retries."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
import uvicorn
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from taskora.config import Settings
from taskora.server.domain.tasks import TaskCreate, utc_now
from taskora.server.events.hub import SseHub, StreamEvent
from taskora.server.store import events as event_log
from taskora.server.store.database import Database, upgrade
from taskora.server.store.models import EventRecord
from taskora.server.store.tasks import create_task
from taskora.server.store.users import create_user
from tests.support.events import prune_everything
from tests.support.postgres import temporary_database
from tests.support.servers import ServerProcess


@pytest.fixture(scope="module")
def pg_database() -> Iterator[Database]:
    with temporary_database() as url:
        upgrade(url)
        database = Database(url)
        yield database
        database.dispose()


def sequence(database: Database) -> list[StreamEvent]:
    with database.write() as session:
        return event_log.sequence_pending(session, 100)


def test_late_committer_gets_later_position(pg_database: Database) -> None:
    """Two PostgreSQL transactions insert events; the one with the lower seq commits last."""
    with pg_database.write() as session:
        user, _ = create_user(session, "interleaved")
    sequence(pg_database)

    early = pg_database.engine.connect()
    early_transaction = early.begin()
    early_session = Session(bind=early)
    create_task(early_session, user.id, "UTC", TaskCreate(title="started first"))
    early_session.flush()
    early_session_events = early_session.scalars(select(EventRecord.seq)).all()

    with pg_database.write() as session:
        create_task(session, user.id, "UTC", TaskCreate(title="committed first"))
    first_batch = sequence(pg_database)
    early_transaction.commit()
    early_session.close()
    early.close()
    second_batch = sequence(pg_database)
    with pg_database.read() as session:
        resumed = event_log.events_after(session, first_batch[-1].position, 10, user_id=user.id)

    assert len(early_session_events) == 1
    assert [json.loads(event.payload)["data"]["title"] for event in first_batch] == [
        "committed first"
    ]
    assert [json.loads(event.payload)["data"]["title"] for event in resumed] == ["started first"]
    assert second_batch[0].position == first_batch[-1].position + 1


def test_rolled_back_change_leaves_no_event(pg_database: Database) -> None:
    with pg_database.write() as session:
        user, _ = create_user(session, "rollback")
    sequence(pg_database)

    with pytest.raises(RuntimeError):
        with pg_database.write() as session:
            create_task(session, user.id, "UTC", TaskCreate(title="never committed"))
            raise RuntimeError("abort the transaction")
    sequenced = sequence(pg_database)
    with pg_database.read() as session:
        count = session.scalar(
            text("SELECT count(*) FROM events WHERE user_id = :user"), {"user": user.id}
        )

    assert sequenced == []
    assert count == 0


def test_prune_deletes_only_published_prefix(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'prune.db'}"
    upgrade(url)
    database = Database(url)
    with database.write() as session:
        user, _ = create_user(session, "pruned")
        for number in range(5):
            create_task(session, user.id, "UTC", TaskCreate(title=f"t{number}"))
    events = sequence(database)
    with database.write() as session:
        event_log.mark_published(session, [event.position for event in events[:3]])

    with database.write() as session:
        deleted = event_log.prune(session, utc_now() + timedelta(seconds=1))
    with database.read() as session:
        state = event_log.log_state(session)
        left = event_log.events_after(session, 0, 10)
    database.dispose()

    assert deleted == 3
    assert state == (events[-1].position, events[2].position)
    assert [event.position for event in left] == [event.position for event in events[3:]]


def test_resume_older_than_retention_gets_reset(tmp_path) -> None:
    """Uses a server of its own, since pruning the log affects every user of a database."""
    url = f"sqlite:///{tmp_path / 'retention.db'}"
    server = ServerProcess(home=tmp_path, database_url=url)
    server.start()
    token = server.create_user("retention")
    headers = {"Authorization": f"Bearer {token}"}
    for number in range(3):
        httpx.post(f"{server.url}/api/tasks", json={"title": f"t{number}"}, headers=headers)
    head, pruned_through = prune_everything(url)

    lines: list[str] = []
    with httpx.stream(
        "GET",
        f"{server.url}/api/events/stream",
        headers={**headers, "Last-Event-ID": "0"},
        timeout=httpx.Timeout(10, read=10),
    ) as response:
        for line in response.iter_lines():
            lines.append(line)
            if line == "" and any(item.startswith("data:") for item in lines):
                break
    server.stop()
    data = json.loads(next(line for line in lines if line.startswith("data:"))[6:])

    assert "event: reset" in lines
    assert f"id: {head}" in lines
    assert "retry: 2000" in lines
    assert data["requested_after"] == 0
    assert data["oldest_available"] == pruned_through + 1


def test_slow_stream_is_ended_without_blocking_others() -> None:
    async def scenario() -> tuple[list, list, bool, bool]:
        hub = SseHub(queue_size=3)
        stalled = hub.subscribe(1, None)
        reading = hub.subscribe(1, None)
        received = []
        for position in range(1, 8):
            hub.deliver(StreamEvent(position, 1, "task.created", "{}"))
            received.append(reading.queue.get_nowait())
        drained = []
        while not stalled.queue.empty():
            drained.append(stalled.queue.get_nowait())
        return received, drained, stalled.overflowed, reading.overflowed

    received, drained, stalled_overflowed, reading_overflowed = asyncio.run(scenario())

    assert [event.position for event in received] == [1, 2, 3, 4, 5, 6, 7]
    assert [event.position if event else None for event in drained] == [1, 2, 3, None]
    assert stalled_overflowed is True
    assert reading_overflowed is False


class FlakyPublisher:
    """Stands in for the Dapr sidecar, which cannot run here: it rejects the first
    ``failures`` calls, then accepts and records every event."""

    name = "flaky test publisher"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.accepted: list[int] = []

    async def publish(self, event: StreamEvent) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("publisher unavailable")
        self.accepted.append(event.position)


@contextmanager
def serve_in_thread(app) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free loopback port in a thread; yield its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def test_failing_publisher_is_retried_while_writes_go_on(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    from taskora.server.app import create_app

    settings = Settings(data_dir=tmp_path, relay_poll_seconds=0.05)
    publisher = FlakyPublisher(failures=3)
    caplog.set_level(logging.INFO, logger="taskora.server.events.workers")
    upgrade(settings.resolved_database_url)
    database = Database(settings.resolved_database_url)
    with database.write() as session:
        _, token = create_user(session, "publisher")

    with serve_in_thread(create_app(settings, publisher)) as url:
        headers = {"Authorization": f"Bearer {token}"}
        statuses = [
            httpx.post(f"{url}/api/tasks", json={"title": f"t{n}"}, headers=headers).status_code
            for n in range(5)
        ]
        deadline = time.monotonic() + 15
        while len(publisher.accepted) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    with database.read() as session:
        unpublished = event_log.unpublished_events(session, 10)
    database.dispose()

    assert statuses == [201] * 5
    assert publisher.accepted == sorted(publisher.accepted)
    assert len(publisher.accepted) == 5
    assert unpublished == []
    levels = {
        record.getMessage().split(";")[0]: record.levelname
        for record in caplog.records
        if "failed (attempt" in record.getMessage()
    }
    assert levels == {
        "The outbox relay failed (attempt 1)": "ERROR",
        "The outbox relay failed (attempt 2)": "WARNING",
        "The outbox relay failed (attempt 3)": "WARNING",
    }
    assert "The outbox relay recovered after 3 failed attempts" in caplog.text
