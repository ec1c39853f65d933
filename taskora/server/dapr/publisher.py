"""Publishing relayed events to Dapr pub/sub."""

from __future__ import annotations

import asyncio
import logging

from taskora.server.dapr.sidecar import CALL_FAILURES, CALL_TIMEOUT_SECONDS, Sidecar, describe_error
from taskora.server.events.hub import StreamEvent

logger = logging.getLogger(__name__)

# With this content type the sidecar forwards the payload as the CloudEvent it is instead of
# wrapping it in a new one, so subscribers see the event's own id, type and source
# (docs.dapr.io, "Publishing & subscribing messages with CloudEvents").
CLOUDEVENT_CONTENT_TYPE = "application/cloudevents+json"


class PublishFailed(Exception):
    """The sidecar did not acknowledge an event; the relay keeps it and retries."""


class DaprPublisher:
    """Publishes each event to a topic of a Dapr pub/sub component and returns on the ack."""

    name = "dapr"

    def __init__(self, sidecar: Sidecar, pubsub: str, topic: str) -> None:
        self._sidecar = sidecar
        self._pubsub = pubsub
        self._topic = topic

    async def publish(self, event: StreamEvent) -> None:
        client = await self._sidecar.client()
        try:
            await asyncio.wait_for(
                client.publish_event(
                    pubsub_name=self._pubsub,
                    topic_name=self._topic,
                    data=event.payload,
                    data_content_type=CLOUDEVENT_CONTENT_TYPE,
                ),
                CALL_TIMEOUT_SECONDS,
            )
        except CALL_FAILURES as error:
            # The relay logs this with the attempt number and retries with backoff.
            raise PublishFailed(
                f"publishing event {event.position} to {self._pubsub}/{self._topic} failed "
                f"({describe_error(error)}); it stays in the outbox"
            ) from None
