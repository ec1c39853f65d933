"""The SSE hub: fans each published event out to the open streams of its user."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamEvent:
    """An event as streams send it: its position in the log, the owner and the CloudEvent."""

    position: int
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
        # One slot more than the limit, so the end marker always fits behind the events.
        queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue(maxsize=self.queue_size + 1)
        subscription = Subscription(user_id, types, queue)
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
            if subscription.queue.qsize() < self.queue_size:
                subscription.queue.put_nowait(event)
                continue
            # The client is sent what is queued, then the end. It resumes after the last
            # event it received, so the event not queued here is replayed from the log.
            subscription.overflowed = True
            logger.warning(
                "Ending a slow event stream of user %d: %d events are waiting",
                event.user_id,
                subscription.queue.qsize(),
            )
            subscription.queue.put_nowait(None)

    def close_all(self) -> None:
        """End every stream, as at shutdown."""
        for subscriptions in list(self._subscriptions.values()):
            for subscription in list(subscriptions):
                if not subscription.overflowed:
                    subscription.overflowed = True
                    subscription.queue.put_nowait(None)
