"""Queries on the event log (the outbox): sequencing, publishing, replay and retention."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from taskora.server.domain.tasks import utc_now
from taskora.server.events.hub import StreamEvent
from taskora.server.store.models import EventLogState, EventRecord

# PostgreSQL notification channels: writers announce new events, the sequencer announces
# new positions.
OUTBOX_CHANNEL = "taskora_outbox"
POSITIONS_CHANNEL = "taskora_events"


def _to_stream_event(record: EventRecord) -> StreamEvent:
    if record.position is None:
        raise ValueError(f"event {record.event_id} has no position yet and cannot be streamed")
    return StreamEvent(
        position=record.position,
        user_id=record.user_id,
        type=record.type,
        payload=record.payload,
    )


def _lock_state(session: Session) -> EventLogState:
    """Return the log state row, locked until the transaction ends.

    The lock makes the sequencers of all replicas take turns, so positions are handed out
    in one order and each sequencing transaction commits before the next one reads.
    """
    return session.scalars(
        select(EventLogState).where(EventLogState.id == 1).with_for_update()
    ).one()


def sequence_pending(session: Session, limit: int) -> list[StreamEvent]:
    """Give positions to up to ``limit`` committed events that have none, oldest first.

    An event of a transaction that is still open is invisible here, so it gets a position
    after it commits, higher than every position handed out before. That is what lets a
    reader resume from a position without missing a late committer.
    """
    state = _lock_state(session)
    records = list(
        session.scalars(
            select(EventRecord)
            .where(EventRecord.position.is_(None))
            .order_by(EventRecord.seq)
            .limit(limit)
        )
    )
    for offset, record in enumerate(records, start=1):
        record.position = state.last_position + offset
    state.last_position += len(records)
    session.flush()
    return [_to_stream_event(record) for record in records]


def unpublished_events(session: Session, limit: int) -> list[StreamEvent]:
    """Return up to ``limit`` sequenced events the publisher has not acknowledged, in order."""
    records = session.scalars(
        select(EventRecord)
        .where(EventRecord.published_at.is_(None), EventRecord.position.is_not(None))
        .order_by(EventRecord.position)
        .limit(limit)
    )
    return [_to_stream_event(record) for record in records]


def mark_published(session: Session, positions: Collection[int]) -> None:
    session.execute(
        update(EventRecord)
        .where(EventRecord.position.in_(list(positions)))
        .values(published_at=utc_now())
    )


def events_after(
    session: Session,
    after_position: int,
    limit: int,
    *,
    user_id: int | None = None,
    types: frozenset[str] | None = None,
) -> list[StreamEvent]:
    """Return sequenced events above ``after_position`` in position order.

    ``user_id`` and ``types`` narrow the result to one user's events of those types.
    """
    statement = (
        select(EventRecord)
        .where(EventRecord.position > after_position)
        .order_by(EventRecord.position)
        .limit(limit)
    )
    if user_id is not None:
        statement = statement.where(EventRecord.user_id == user_id)
    if types is not None:
        statement = statement.where(EventRecord.type.in_(sorted(types)))
    return [_to_stream_event(record) for record in session.scalars(statement)]


def log_state(session: Session) -> tuple[int, int]:
    """Return (last position assigned, last position deleted by retention)."""
    state = session.get_one(EventLogState, 1)
    return state.last_position, state.pruned_through


def prune(session: Session, older_than: datetime) -> int:
    """Delete published events older than ``older_than``; return how many.

    Only a prefix of the log is deleted, up to the first event that is too young or not yet
    published. A reader resuming at ``pruned_through`` or later misses nothing, and one
    resuming before it may have missed events that are gone.
    """
    state = _lock_state(session)
    first_kept = session.scalar(
        select(func.min(EventRecord.position)).where(
            EventRecord.position > state.pruned_through,
            (EventRecord.time >= older_than) | EventRecord.published_at.is_(None),
        )
    )
    limit = state.last_position if first_kept is None else first_kept - 1
    if limit <= state.pruned_through:
        return 0

    result = session.execute(
        delete(EventRecord).where(
            EventRecord.position > state.pruned_through, EventRecord.position <= limit
        )
    )
    state.pruned_through = limit
    return result.rowcount or 0


def position_of(session: Session, event_id: str) -> int | None:
    """Return the position of the event with the CloudEvent id ``event_id``.

    None when the log has no such event (never written here, or pruned) or the event has
    no position yet.
    """
    return session.scalar(select(EventRecord.position).where(EventRecord.event_id == event_id))
