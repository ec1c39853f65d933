"""The background workers of the event path: sequencer, relay, log follower and pruner.

Each runs as one asyncio task per process. It is woken after a commit (in this process, or
in another through PostgreSQL notifications) and by a timer, does one step of work in the
thread pool, and backs off exponentially while steps fail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from taskora.server.domain.tasks import utc_now
from taskora.server.events.hub import SseHub, StreamEvent
from taskora.server.events.publishers import Publisher
from taskora.server.store import events as event_log
from taskora.server.store.database import Database
from taskora.server.store.events import POSITIONS_CHANNEL

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
MAX_BACKOFF_SECONDS = 30.0


class BackgroundWorker:
    """A loop that runs :meth:`step` whenever it is woken or its poll interval passes."""

    name = "worker"

    def __init__(self, poll_seconds: float) -> None:
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    async def step(self) -> bool:
        """Do one unit of work; return True when more work is already waiting."""
        raise NotImplementedError

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name=self.name)
        logger.info("Started the %s", self.name)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
        logger.info("Stopped the %s", self.name)

    def notify(self) -> None:
        """Wake the worker; safe to call from any thread."""
        if self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            try:
                more = await self.step()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                delay = min(MAX_BACKOFF_SECONDS, 0.1 * 2**failures)
                if failures == 1:
                    logger.exception(
                        "The %s failed (attempt 1); retrying in %.1f s", self.name, delay
                    )
                else:
                    # The first failure's traceback is in the log at ERROR; each retry
                    # adds one WARNING line until the worker recovers.
                    logger.warning(
                        "The %s failed (attempt %d); retrying in %.1f s: %s: %s",
                        self.name,
                        failures,
                        delay,
                        type(error).__name__,
                        error,
                    )
                await asyncio.sleep(delay)
                continue

            if failures:
                logger.info("The %s recovered after %d failed attempts", self.name, failures)
                failures = 0
            if more:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
            except TimeoutError:
                pass


class Sequencer(BackgroundWorker):
    """Gives committed events their stream positions, then wakes the follower and the relay."""

    name = "event sequencer"

    def __init__(
        self, database: Database, poll_seconds: float, on_sequenced: list[Callable[[], None]]
    ) -> None:
        super().__init__(poll_seconds)
        self._database = database
        self._on_sequenced = on_sequenced

    async def step(self) -> bool:
        count = await run_in_threadpool(self._sequence_batch)
        if count:
            for callback in self._on_sequenced:
                callback()
        return count == BATCH_SIZE

    def _sequence_batch(self) -> int:
        with self._database.write() as session:
            events = event_log.sequence_pending(session, BATCH_SIZE)
            if events and self._database.dialect == "postgresql":
                session.execute(text(f"NOTIFY {POSITIONS_CHANNEL}"))
            return len(events)


class OutboxRelay(BackgroundWorker):
    """Hands sequenced events to the publisher in position order, marking each one sent
    only after the publisher accepted it."""

    name = "outbox relay"

    def __init__(self, database: Database, publisher: Publisher, poll_seconds: float) -> None:
        super().__init__(poll_seconds)
        self._database = database
        self._publisher = publisher

    async def step(self) -> bool:
        events = await run_in_threadpool(self._load_batch)
        if not events:
            return False

        published: list[int] = []
        try:
            for event in events:
                await self._publisher.publish(event)
                published.append(event.position)
        finally:
            # Whatever was accepted before a failure is marked, so it is not sent again.
            if published:
                await run_in_threadpool(self._mark, published)
        return len(events) == BATCH_SIZE

    def _load_batch(self) -> list[StreamEvent]:
        with self._database.read() as session:
            return event_log.unpublished_events(session, BATCH_SIZE)

    def _mark(self, positions: list[int]) -> None:
        with self._database.write() as session:
            event_log.mark_published(session, positions)


class LogFollower(BackgroundWorker):
    """Reads new positions from the log and hands them to this process's SSE hub.

    Every replica runs one, so a change made through any replica reaches the streams
    open on all of them, each event once and in position order.
    """

    name = "event log follower"

    def __init__(self, database: Database, hub: SseHub, poll_seconds: float) -> None:
        super().__init__(poll_seconds)
        self._database = database
        self._hub = hub
        self._delivered_through: int | None = None

    @property
    def delivered_through(self) -> int | None:
        """Position of the last event handed to the hub; None before the first step."""
        return self._delivered_through

    async def step(self) -> bool:
        if self._delivered_through is None:
            self._delivered_through = await run_in_threadpool(self._head)
        events = await run_in_threadpool(self._load_after, self._delivered_through)
        for event in events:
            self._hub.deliver(event)
            self._delivered_through = event.position
        return len(events) == BATCH_SIZE

    def _head(self) -> int:
        with self._database.read() as session:
            return event_log.log_state(session)[0]

    def _load_after(self, position: int) -> list[StreamEvent]:
        with self._database.read() as session:
            return event_log.events_after(session, position, BATCH_SIZE)


class Pruner(BackgroundWorker):
    """Deletes published events older than the retention window, at start and hourly."""

    name = "event log pruner"

    def __init__(self, database: Database, retention: timedelta, poll_seconds: float) -> None:
        super().__init__(poll_seconds)
        self._database = database
        self._retention = retention

    async def step(self) -> bool:
        deleted = await run_in_threadpool(self._prune)
        if deleted:
            logger.info(
                "Deleted %d events older than %s from the event log", deleted, self._retention
            )
        return False

    def _prune(self) -> int:
        with self._database.write() as session:
            return event_log.prune(session, utc_now() - self._retention)
