"""SQLAlchemy models. The schema itself is created by the Alembic migrations beside this file."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# SQLite only assigns ROWID-backed auto-increment keys to columns declared INTEGER,
# so BIGINT keys fall back to INTEGER there.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    PostgreSQL stores ``timestamptz``. SQLite has no time zone type, so values are stored
    as naive UTC text, which still sorts and compares correctly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored: attach a time zone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiToken(Base):
    """An API token. Only the SHA-256 digest of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined")


# Completed recurring tasks that may still need their next occurrence.
RECURRING_PREDICATE = (
    "status = 'completed' AND recurrence_rule IS NOT NULL AND NOT next_occurrence_done"
)
# Pending tasks whose reminder has not been sent yet.
PENDING_REMINDER_PREDICATE = "status = 'pending' AND remind_at IS NOT NULL"


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Ranks 0 (low) to 3 (urgent), so that sorting by priority is a plain integer sort.
    priority: Mapped[int] = mapped_column(SmallInteger, default=1)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    recurrence_rule: Mapped[str | None] = mapped_column(String(500), nullable=True)
    recurrence_anchor: Mapped[str | None] = mapped_column(String(16), nullable=True)
    remind_before: Mapped[str | None] = mapped_column(String(64), nullable=True)
    series_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    occurrence: Mapped[int | None] = mapped_column(Integer, nullable=True)
    series_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    previous_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_occurrence_done: Mapped[bool] = mapped_column(
        Boolean, server_default=false(), default=False
    )

    tag_rows: Mapped[list[TaskTag]] = relationship(
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="TaskTag.tag",
        passive_deletes=True,
    )

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'completed')", name="status"),
        CheckConstraint("priority BETWEEN 0 AND 3", name="priority"),
        Index("ix_tasks_user_id_created_at", "user_id", "created_at", "id"),
        Index("ix_tasks_user_id_due_at", "user_id", "due_at", "id"),
        Index("ix_tasks_user_id_priority", "user_id", "priority", "id"),
        Index("ix_tasks_user_id_updated_at", "user_id", "updated_at", "id"),
        Index("ix_tasks_user_id_title", "user_id", func.lower(text("title")), "id"),
        Index("ix_tasks_user_id_status_due_at", "user_id", "status", "due_at", "id"),
        Index("ix_tasks_series_id_occurrence", "series_id", "occurrence"),
        Index("uq_tasks_previous_id", "previous_id", unique=True),
        Index(
            "ix_tasks_recurring_completed",
            "user_id",
            "id",
            postgresql_where=text(RECURRING_PREDICATE),
            sqlite_where=text(RECURRING_PREDICATE),
        ),
        Index(
            "ix_tasks_user_id_pending_remind_at",
            "user_id",
            "remind_at",
            postgresql_where=text(PENDING_REMINDER_PREDICATE),
            sqlite_where=text(PENDING_REMINDER_PREDICATE),
        ),
        # SQLite would otherwise give the id of a deleted newest task to the next one.
        {"sqlite_autoincrement": True},
    )

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]


class ReminderSent(Base):
    """A reminder already emitted; its primary key (task, time) lets each be inserted once."""

    __tablename__ = "reminders_sent"

    task_id: Mapped[int] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    remind_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TaskTag(Base):
    __tablename__ = "task_tags"

    task_id: Mapped[int] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_task_tags_tag_task_id", "tag", "task_id"),)


class IdempotencyKey(Base):
    """The first response to a ``POST /api/tasks`` that carried an ``Idempotency-Key``."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(SmallInteger)
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class ServiceKey(Base):
    """A random key made by the migrations and shared by every replica, such as the cursor key."""

    __tablename__ = "service_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


class EventRecord(Base):
    """One CloudEvent in the event log (the outbox).

    ``seq`` is assigned at insert. ``position``, the SSE event id, is assigned by the
    sequencer once the event is committed, in the order the sequencer sees commits, so a
    reader that resumes "after position N" misses nothing. ``published_at`` is set once
    the publisher acknowledged the event.
    """

    __tablename__ = "events"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(64))
    time: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    position: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        UniqueConstraint("event_id"),
        UniqueConstraint("position"),
        Index("ix_events_user_id_position", "user_id", "position"),
        Index(
            "ix_events_unsequenced",
            "seq",
            postgresql_where=text("position IS NULL"),
            sqlite_where=text("position IS NULL"),
        ),
        Index(
            "ix_events_unpublished",
            "position",
            postgresql_where=text("published_at IS NULL AND position IS NOT NULL"),
            sqlite_where=text("published_at IS NULL AND position IS NOT NULL"),
        ),
    )


class EventLogState(Base):
    """The single row that orders the sequencers of every replica.

    ``last_position`` is the highest position assigned, and ``pruned_through`` the highest
    position deleted by retention.
    """

    __tablename__ = "event_log_state"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    last_position: Mapped[int] = mapped_column(BigInteger)
    pruned_through: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)
