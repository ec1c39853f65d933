"""Publishers hand relayed events on. Without Dapr, the in-process one feeds the SSE hub."""

from __future__ import annotations

from typing import Protocol

from taskora.server.events.hub import SseHub, StreamEvent


class Publisher(Protocol):
    """Something the relay publishes to. ``publish`` returns once the event is accepted
    and raises if it was not, so the relay can retry."""

    name: str

    async def publish(self, event: StreamEvent) -> None: ...


class InProcessPublisher:
    """Delivers events straight to this process's SSE hub."""

    name = "in-process"

    def __init__(self, hub: SseHub) -> None:
        self._hub = hub

    async def publish(self, event: StreamEvent) -> None:
        self._hub.deliver(event)
