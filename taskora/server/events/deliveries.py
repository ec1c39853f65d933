"""Task events delivered by a pub/sub subscription, and how they reach the SSE hub.

A delivery does not go to the hub itself. The hub is fed by the log follower alone, which
reads the event log in position order, so every stream keeps gap-free, resumable ids
whatever the broker does (redelivery, reordering, loss). A delivery is matched by its
CloudEvent id to the log and wakes the follower, so replicas learn of each other's
events without waiting for the follower's poll interval.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from taskora.server.events.cloudevents import EventType
from taskora.server.events.workers import LogFollower
from taskora.server.store import events as event_log
from taskora.server.store.database import Database

logger = logging.getLogger(__name__)

KNOWN_TYPES = frozenset(str(event_type) for event_type in EventType)
RECENT_IDS = 10_000
# Allowed clock difference between the replica that wrote an event and the one receiving it.
REPLAY_MARGIN = timedelta(minutes=5)


class DeliveryStatus(StrEnum):
    """Status of a processed pub/sub delivery, as Dapr's pub/sub API defines them."""

    SUCCESS = "SUCCESS"
    RETRY = "RETRY"
    DROP = "DROP"


class MalformedDelivery(Exception):
    """A delivered message that is not one of this service's task events."""


@dataclass(frozen=True)
class Delivery:
    """The parts of a delivered CloudEvent that matching it to the log needs."""

    event_id: str
    type: str
    time: datetime | None = None
    """The CloudEvent's ``time`` attribute, when it has a valid one."""


def parse_delivery(body: bytes) -> Delivery:
    """Return the delivered task event in ``body``, raising MalformedDelivery if it is not one."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedDelivery(f"the body is not JSON ({error})") from None
    if not isinstance(document, dict):
        raise MalformedDelivery(f"the body is a JSON {type(document).__name__}, not an object")
    if document.get("specversion") != "1.0":
        raise MalformedDelivery(f"specversion is {document.get('specversion')!r}, not '1.0'")

    event_id = document.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedDelivery("the id attribute is missing or not a string")
    event_type = document.get("type")
    if event_type not in KNOWN_TYPES:
        raise MalformedDelivery(f"event {event_id} has the unknown type {event_type!r}")
    if not isinstance(document.get("data"), dict):
        raise MalformedDelivery(f"event {event_id} has no JSON object as data")
    return Delivery(event_id=event_id, type=event_type, time=_event_time(document.get("time")))


def _event_time(value: object) -> datetime | None:
    """Return the CloudEvent time as an aware datetime, or None when it is absent or invalid."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


class RecentIds:
    """The last ``size`` event ids seen, oldest first out."""

    def __init__(self, size: int = RECENT_IDS) -> None:
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        self._ids.move_to_end(event_id)
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)


class SubscriptionInbox:
    """Handler of the task-events subscription's deliveries. Its methods run on the event loop."""

    def __init__(self, database: Database, follower: LogFollower) -> None:
        self._database = database
        self._follower = follower
        self._seen = RecentIds()
        # Events older than this were in the log before the reader started, so a delivery
        # of one has nothing to wake it for. A new consumer group replays the stream's
        # history, and this keeps each replayed event to one DEBUG line, with no lookup.
        self._replay_before = datetime.now(UTC) - REPLAY_MARGIN
        self._replayed = 0

    async def receive(self, body: bytes) -> DeliveryStatus:
        try:
            delivery = parse_delivery(body)
        except MalformedDelivery as error:
            # Dropped: a message that cannot be parsed now never will be, so a retry would
            # only repeat until the broker gives up.
            logger.warning("Dropping a malformed task-events delivery: %s", error)
            return DeliveryStatus.DROP

        if delivery.event_id in self._seen:
            logger.info("Ignoring redelivered event %s", delivery.event_id)
            return DeliveryStatus.SUCCESS

        if delivery.time is not None and delivery.time < self._replay_before:
            self._replayed += 1
            logger.debug(
                "Ignoring event %s from before this service started (%d so far): the broker "
                "replays history to a new consumer group",
                delivery.event_id,
                self._replayed,
            )
            return DeliveryStatus.SUCCESS

        try:
            position = await run_in_threadpool(self._position_of, delivery.event_id)
        except SQLAlchemyError as error:
            logger.warning(
                "Asking for a retry of event %s: looking it up in the event log failed (%s: %s)",
                delivery.event_id,
                type(error).__name__,
                str(error).splitlines()[0] if str(error) else "",
            )
            return DeliveryStatus.RETRY

        if position is None:
            logger.warning(
                "Dropping event %s (%s): it is not in this service's event log, so it was "
                "pruned or comes from another deployment on the same topic",
                delivery.event_id,
                delivery.type,
            )
            return DeliveryStatus.DROP

        self._seen.add(delivery.event_id)
        delivered_through = self._follower.delivered_through
        if delivered_through is None or position > delivered_through:
            self._follower.notify()
        return DeliveryStatus.SUCCESS

    def _position_of(self, event_id: str) -> int | None:
        with self._database.read() as session:
            return event_log.position_of(session, event_id)
