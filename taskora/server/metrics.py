"""Prometheus metrics of one service process, in a registry of its own per app."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from taskora.server.events.pipeline import EventPipeline


class _LiveCollector(Collector):
    """Reads gauges from the running objects when Prometheus scrapes."""

    def __init__(self, events: EventPipeline, loop: asyncio.AbstractEventLoop) -> None:
        self._events = events
        self._loop = loop

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "taskora_sse_streams",
            "Event streams open on this process.",
            value=self._events.hub.connection_count,
        )
        yield GaugeMetricFamily(
            "taskora_event_loop_tasks",
            "asyncio tasks alive on the event loop of this process.",
            value=len(asyncio.all_tasks(self._loop)),
        )
        yield GaugeMetricFamily(
            "taskora_events_delivered_position",
            "Position of the last event this process handed to its streams.",
            value=self._events.follower.delivered_through or 0,
        )


def build_registry(events: EventPipeline, loop: asyncio.AbstractEventLoop) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_LiveCollector(events, loop))
    return registry
