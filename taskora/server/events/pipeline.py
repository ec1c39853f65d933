"""The event path of one process: sequencer, relay, log follower, pruner and the hub."""

from __future__ import annotations

from taskora.config import Settings
from taskora.server.events.hub import SseHub
from taskora.server.events.listener import NotificationListener
from taskora.server.events.publishers import Publisher
from taskora.server.events.workers import (
    LogFollower,
    OutboxRelay,
    Pruner,
    Sequencer,
)
from taskora.server.store.database import Database
from taskora.server.store.events import OUTBOX_CHANNEL, POSITIONS_CHANNEL

PRUNE_INTERVAL_SECONDS = 3600.0


class EventPipeline:
    """Starts and stops the workers, and wakes them after this process commits."""

    def __init__(self, settings: Settings, database: Database, publisher: Publisher) -> None:
        self.hub = SseHub(queue_size=settings.sse_queue_size)
        poll = settings.relay_poll_seconds
        self.follower = LogFollower(database, self.hub, poll)
        self.relay = OutboxRelay(database, publisher, poll)
        self.sequencer = Sequencer(
            database, poll, on_sequenced=[self.follower.notify, self.relay.notify]
        )
        self.pruner = Pruner(database, settings.event_retention, PRUNE_INTERVAL_SECONDS)
        self._workers = (self.sequencer, self.relay, self.follower, self.pruner)

        self.listener: NotificationListener | None = None
        if database.dialect == "postgresql":
            self.listener = NotificationListener(
                database.url,
                {OUTBOX_CHANNEL: self.sequencer.notify, POSITIONS_CHANNEL: self.follower.notify},
            )

    def start(self) -> None:
        for worker in self._workers:
            worker.start()
        if self.listener is not None:
            self.listener.start()

    async def stop(self) -> None:
        self.hub.close_all()
        if self.listener is not None:
            await self.listener.stop()
        for worker in reversed(self._workers):
            await worker.stop()

    def notify_commit(self) -> None:
        """Wake the sequencer after this process committed events; safe from any thread."""
        self.sequencer.notify()
