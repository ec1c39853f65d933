"""Publishers receive relayed events. Without Dapr there is nothing outside the process to
publish to, so the in-process publisher only acknowledges: every replica's log follower
already streams each event from the database."""

from __future__ import annotations

from typing import Protocol

from taskora.server.events.hub import StreamEvent


class Publisher(Protocol):
    """Something the relay publishes to. ``publish`` returns once the event is accepted
    and raises if it was not, so the relay can retry."""

    name: str

    async def publish(self, event: StreamEvent) -> None: ...


class InProcessPublisher:
    """Acknowledges every event at once."""

    name = "in-process"

    async def publish(self, event: StreamEvent) -> None:
        return None
