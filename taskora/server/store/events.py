"""Queries on the event log (the outbox)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from taskora.server.domain.tasks import utc_now
from taskora.server.events.hub import StreamEvent
from taskora.server.store.models import EventRecord


def _to_stream_event(record: EventRecord) -> StreamEvent:
    return StreamEvent(
        seq=record.seq, user_id=record.user_id, type=record.type, payload=record.payload
    )


def unpublished_events(session: Session, limit: int) -> list[StreamEvent]:
    """Return up to ``limit`` events not yet published, in log order."""
    # NOTE: on PostgreSQL, sequence numbers are assigned at insert, not at commit, so a
    # transaction that commits late can publish after a higher number. Streams deliver it
    # live, but a client resuming from Last-Event-ID above it would not replay it.
    rows = session.scalars(
        select(EventRecord)
        .where(EventRecord.published_at.is_(None))
        .order_by(EventRecord.seq)
        .limit(limit)
    )
    return [_to_stream_event(row) for row in rows]


def mark_published(session: Session, seqs: Collection[int]) -> None:
    session.execute(
        update(EventRecord).where(EventRecord.seq.in_(list(seqs))).values(published_at=utc_now())
    )


def events_after(
    session: Session, user_id: int, after_seq: int, types: frozenset[str] | None, limit: int
) -> list[StreamEvent]:
    """Return the user's events with a sequence number above ``after_seq``, in log order."""
    statement = (
        select(EventRecord)
        .where(EventRecord.user_id == user_id, EventRecord.seq > after_seq)
        .order_by(EventRecord.seq)
        .limit(limit)
    )
    if types is not None:
        statement = statement.where(EventRecord.type.in_(sorted(types)))
    return [_to_stream_event(row) for row in session.scalars(statement)]
