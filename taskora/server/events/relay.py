"""The outbox relay: publishes committed events from the event log, oldest first.

An event is marked published only after the publisher accepted it. A crash between the two
steps publishes it again after restart, and streams skip a sequence number they already sent.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from taskora.server.events.hub import StreamEvent
from taskora.server.events.publishers import Publisher
from taskora.server.store.database import Database
from taskora.server.store.events import mark_published, unpublished_events

logger = logging.getLogger(__name__)

BATCH_SIZE = 200
MAX_BACKOFF_SECONDS = 30.0


class OutboxRelay:
    """Runs as one asyncio task per process, woken after each commit and on a timer."""

    def __init__(self, database: Database, publisher: Publisher, poll_seconds: float) -> None:
        self._database = database
        self._publisher = publisher
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")
        logger.info("Started the outbox relay, publishing %s", self._publisher.name)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
        logger.info("Stopped the outbox relay")

    def notify(self) -> None:
        """Wake the relay after a commit; safe to call from any thread."""
        if self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                published = await self.publish_pending()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                delay = min(MAX_BACKOFF_SECONDS, 0.1 * 2**failures)
                logger.exception(
                    "Publishing from the outbox failed (attempt %d); retrying in %.1f s",
                    failures,
                    delay,
                )
                await asyncio.sleep(delay)
                continue

            if published == BATCH_SIZE:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished events in log order; return how many."""
        self._wake.clear()
        events = await run_in_threadpool(self._load_batch)
        if not events:
            return 0

        published: list[int] = []
        try:
            for event in events:
                await self._publisher.publish(event)
                published.append(event.seq)
        finally:
            # Whatever was accepted before a failure is marked, so it is not sent again.
            if published:
                await run_in_threadpool(self._mark, published)
        return len(published)

    def _load_batch(self) -> list[StreamEvent]:
        with self._database.read() as session:
            return unpublished_events(session, BATCH_SIZE)

    def _mark(self, seqs: list[int]) -> None:
        with self._database.write() as session:
            mark_published(session, seqs)
