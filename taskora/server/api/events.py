"""The Server-Sent Events stream of the caller's task events."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from taskora.server.api.deps import CallerDep, DatabaseDep, EventsDep, SettingsDep
from taskora.server.api.problems import InvalidParameter
from taskora.server.events.cloudevents import EventType
from taskora.server.events.hub import SseHub, StreamEvent, Subscription
from taskora.server.store.database import Database
from taskora.server.store.events import events_after, log_state

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/events", tags=["events"])

REPLAY_BATCH_SIZE = 500
# Sent instead of a replay when the retention window already deleted what a client missed.
RESET_EVENT = "reset"
KNOWN_TYPES = frozenset(str(event_type) for event_type in EventType)


def _parse_types(types: str | None) -> frozenset[str] | None:
    if types is None or not types.strip():
        return None
    requested = frozenset(part.strip() for part in types.split(",") if part.strip())
    unknown = sorted(requested - KNOWN_TYPES)
    if unknown:
        raise InvalidParameter(
            "query.types",
            f"unknown event type {unknown[0]!r}; "
            f"use one or more of {', '.join(sorted(KNOWN_TYPES))}",
        )
    return requested


def _parse_resume_point(last_event_id: str | None, since: int | None) -> int | None:
    if since is not None:
        return since
    if last_event_id is None or not last_event_id.strip():
        return None
    try:
        value = int(last_event_id)
    except ValueError:
        raise HTTPException(
            400,
            f"invalid Last-Event-ID header {last_event_id!r}: it must be an event id "
            "(a non-negative integer) this stream sent",
        ) from None
    if value < 0:
        raise HTTPException(400, f"invalid Last-Event-ID header {last_event_id!r}: negative")
    return value


def _to_sse(event: StreamEvent, retry_milliseconds: int) -> ServerSentEvent:
    # The retry hint rides on every event: a message of its own would reach clients such as
    # httpx-sse as an empty event.
    return ServerSentEvent(
        data=event.payload, event=event.type, id=str(event.position), retry=retry_milliseconds
    )


def _reset_event(
    resume_after: int, pruned_through: int, head: int, retry_milliseconds: int
) -> ServerSentEvent:
    """Tell a client that the log cannot replay what it requested, and give its new position."""
    if resume_after > head:
        reason = (
            f"event {resume_after} is beyond the newest event {head} of this server's log, "
            "so it comes from another database; fetch the task list again, then keep "
            "reading this stream"
        )
    else:
        reason = (
            f"events {resume_after + 1} to {pruned_through} were deleted by the retention "
            "window; fetch the task list again, then keep reading this stream"
        )
    data = {
        "reason": reason,
        "requested_after": resume_after,
        "oldest_available": pruned_through + 1,
    }
    return ServerSentEvent(
        data=json.dumps(data), event=RESET_EVENT, id=str(head), retry=retry_milliseconds
    )


async def _stream(
    database: Database,
    hub: SseHub,
    subscription: Subscription,
    resume_after: int | None,
    retry_milliseconds: int,
) -> AsyncIterator[ServerSentEvent]:
    """Replay the log after ``resume_after``, then send live events, skipping any seen."""
    last_sent = resume_after
    try:
        if resume_after is not None:
            head, pruned_through = await run_in_threadpool(_log_state, database)
            if resume_after < pruned_through or resume_after > head:
                yield _reset_event(resume_after, pruned_through, head, retry_milliseconds)
                last_sent = head
            while True:
                batch = await run_in_threadpool(
                    _replay_batch, database, subscription, last_sent or 0
                )
                for event in batch:
                    yield _to_sse(event, retry_milliseconds)
                    last_sent = event.position
                if len(batch) < REPLAY_BATCH_SIZE:
                    break

        while True:
            event = await subscription.queue.get()
            if event is None:
                return
            if last_sent is not None and event.position <= last_sent:
                continue
            yield _to_sse(event, retry_milliseconds)
            last_sent = event.position
    finally:
        hub.unsubscribe(subscription)


def _log_state(database: Database) -> tuple[int, int]:
    with database.read() as session:
        return log_state(session)


def _replay_batch(database: Database, subscription: Subscription, after: int) -> list[StreamEvent]:
    with database.read() as session:
        return events_after(
            session,
            after,
            REPLAY_BATCH_SIZE,
            user_id=subscription.user_id,
            types=subscription.types,
        )


@router.get("/stream", response_class=EventSourceResponse)
async def stream_events(
    request: Request,
    caller: CallerDep,
    database: DatabaseDep,
    events: EventsDep,
    settings: SettingsDep,
    last_event_id: Annotated[str | None, Header(description="Resume after this event id.")] = None,
    since: Annotated[
        int | None, Query(ge=0, description="Resume after this event id (like Last-Event-ID).")
    ] = None,
    types: Annotated[
        str | None, Query(description="Comma-separated event types to receive; default all.")
    ] = None,
) -> EventSourceResponse:
    """Stream the caller's task events as Server-Sent Events."""
    wanted = _parse_types(types)
    resume_after = _parse_resume_point(last_event_id, since)

    # Subscribing before the replay query means an event committed meanwhile is either in
    # the replay or in the queue (or both, and then skipped by its sequence number).
    hub = events.hub
    subscription = hub.subscribe(caller.id, wanted)
    if resume_after is None:
        logger.info(
            "Opened a live event stream for user %d (%d open)", caller.id, hub.connection_count
        )
    else:
        logger.info(
            "Opened an event stream for user %d resuming after event %d (%d open)",
            caller.id,
            resume_after,
            hub.connection_count,
        )
    return EventSourceResponse(
        _stream(database, hub, subscription, resume_after, settings.sse_retry_milliseconds),
        ping=settings.sse_ping_seconds,
        headers={"Cache-Control": "no-cache"},
    )
