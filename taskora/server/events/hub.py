"""The SSE hub: fans each published event out to the open streams of its user."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamEvent:
    """An event as streams send it: the log's sequence number, the owner and the CloudEvent."""

    seq: int
    user_id: int
    type: str
    payload: str


@dataclass(eq=False)
class Subscription:
    """One open stream. ``overflowed`` is set when the client fell too far behind."""

    user_id: int
    types: frozenset[str] | None
    queue: asyncio.Queue[StreamEvent | None]
    overflowed: bool = False

    def wants(self, event: StreamEvent) -> bool:
        return self.types is None or event.type in self.types


@dataclass
class SseHub:
    """Subscriptions of one process, by user. All methods run on the event loop."""

    queue_size: int
    _subscriptions: dict[int, set[Subscription]] = field(default_factory=lambda: defaultdict(set))

    def subscribe(self, user_id: int, types: frozenset[str] | None) -> Subscription:
        subscription = Subscription(user_id, types, asyncio.Queue(maxsize=self.queue_size))
        self._subscriptions[user_id].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscriptions = self._subscriptions.get(subscription.user_id)
        if subscriptions is None:
            return
        subscriptions.discard(subscription)
        if not subscriptions:
            del self._subscriptions[subscription.user_id]

    @property
    def connection_count(self) -> int:
        return sum(len(subscriptions) for subscriptions in self._subscriptions.values())

    def deliver(self, event: StreamEvent) -> None:
        """Queue ``event`` for every stream of its user without waiting for any of them.

        A stream whose queue is full is ended instead of blocking the others. Its client
        reconnects with Last-Event-ID and replays what it missed from the event log.
        """
        for subscription in list(self._subscriptions.get(event.user_id, ())):
            if subscription.overflowed or not subscription.wants(event):
                continue
            try:
                subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscription.overflowed = True
                logger.warning(
                    "Ending a slow event stream of user %d: %d events are waiting",
                    event.user_id,
                    subscription.queue.qsize(),
                )
                self._wake_with_end(subscription)

    def close_all(self) -> None:
        """End every stream, as at shutdown."""
        for subscriptions in list(self._subscriptions.values()):
            for subscription in list(subscriptions):
                self._wake_with_end(subscription)

    @staticmethod
    def _wake_with_end(subscription: Subscription) -> None:
        # Drop one queued event if needed so the end marker always fits; the client replays
        # it from the log after reconnecting.
        if subscription.queue.full():
            subscription.queue.get_nowait()
        subscription.queue.put_nowait(None)
