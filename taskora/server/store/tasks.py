"""Task queries and changes. Each change appends its CloudEvent to the event log in the
same transaction, so an event exists exactly when its change was committed."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, exists, or_, select
from sqlalchemy.orm import Session

from taskora.server.domain.tasks import (
    Priority,
    Status,
    TaskCreate,
    TaskOut,
    TaskUpdate,
    utc_now,
)
from taskora.server.events.cloudevents import EventType, build_task_event
from taskora.server.store.models import EventRecord, Task, TaskTag

logger = logging.getLogger(__name__)


class TaskNotFound(Exception):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"task {task_id} not found")
        self.task_id = task_id


class InvalidCursor(Exception):
    """A ``cursor`` query value that this server did not issue for this sort."""


@dataclass(frozen=True)
class TaskQuery:
    """Filters, sort and page of ``GET /api/tasks``."""

    status: Status | None = None
    priorities: tuple[Priority, ...] = ()
    tags: tuple[str, ...] = ()
    sort: str = "created_at"
    limit: int = 50
    cursor: str | None = None

    @property
    def sort_key(self) -> str:
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")


def to_out(task: Task) -> TaskOut:
    return TaskOut(
        id=task.id,
        title=task.title,
        description=task.description,
        status=Status(task.status),
        priority=Priority.from_rank(task.priority),
        tags=task.tags,
        due_at=task.due_at,
        created_at=task.created_at,
        updated_at=task.updated_at,
        completed_at=task.completed_at,
        version=task.version,
    )


def _append_event(session: Session, event_type: EventType, task: TaskOut, user_id: int) -> None:
    event = build_task_event(event_type, task, user_id, utc_now())
    session.add(
        EventRecord(
            event_id=event.event_id,
            user_id=user_id,
            type=str(event.type),
            subject=event.subject,
            time=event.time,
            payload=event.payload,
        )
    )


def _load(session: Session, user_id: int, task_id: int) -> Task:
    # Another user's task is reported exactly like a missing one, so ids reveal nothing.
    task = session.scalar(select(Task).where(Task.id == task_id, Task.user_id == user_id))
    if task is None:
        raise TaskNotFound(task_id)
    return task


def create_task(session: Session, user_id: int, body: TaskCreate) -> TaskOut:
    now = utc_now()
    task = Task(
        user_id=user_id,
        title=body.title,
        description=body.description,
        status=Status.PENDING.value,
        priority=body.priority.rank,
        due_at=body.due_at,
        created_at=now,
        updated_at=now,
        completed_at=None,
        version=1,
        tag_rows=[TaskTag(tag=tag) for tag in body.tags],
    )
    session.add(task)
    session.flush()
    out = to_out(task)
    _append_event(session, EventType.CREATED, out, user_id)
    return out


def get_task(session: Session, user_id: int, task_id: int) -> TaskOut:
    return to_out(_load(session, user_id, task_id))


def _set_status(task: Task, status: Status, now: datetime) -> None:
    task.status = status.value
    task.completed_at = now if status is Status.COMPLETED else None


def update_task(session: Session, user_id: int, task_id: int, body: TaskUpdate) -> TaskOut:
    """Apply the fields present in ``body``; a change that alters nothing emits no event."""
    task = _load(session, user_id, task_id)
    fields = body.model_fields_set
    now = utc_now()
    changed = False
    completed = False

    if "title" in fields and body.title != task.title:
        task.title = body.title  # type: ignore[assignment]
        changed = True
    if "description" in fields and body.description != task.description:
        task.description = body.description  # type: ignore[assignment]
        changed = True
    if "priority" in fields and body.priority is not None and body.priority.rank != task.priority:
        task.priority = body.priority.rank
        changed = True
    if "due_at" in fields and body.due_at != task.due_at:
        task.due_at = body.due_at
        changed = True
    if "tags" in fields and body.tags is not None and body.tags != task.tags:
        task.tag_rows = [TaskTag(tag=tag) for tag in body.tags]
        changed = True
    if "status" in fields and body.status is not None and body.status.value != task.status:
        _set_status(task, body.status, now)
        completed = body.status is Status.COMPLETED
        changed = True

    if not changed:
        return to_out(task)

    task.updated_at = now
    task.version += 1
    session.flush()
    out = to_out(task)
    _append_event(session, EventType.COMPLETED if completed else EventType.UPDATED, out, user_id)
    return out


def set_status(session: Session, user_id: int, task_id: int, status: Status) -> TaskOut:
    """Complete or reopen a task; asking for the status it already has changes nothing."""
    return update_task(session, user_id, task_id, TaskUpdate(status=status))


def delete_task(session: Session, user_id: int, task_id: int) -> None:
    task = _load(session, user_id, task_id)
    out = to_out(task)
    session.delete(task)
    _append_event(session, EventType.DELETED, out, user_id)


def _encode_cursor(sort_key: str, value: Any, task_id: int) -> str:
    raw = json.dumps({"s": sort_key, "v": value, "i": task_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort_key: str) -> tuple[Any, int]:
    """Return the (sort value, id) after which the next page starts."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as error:
        raise InvalidCursor("cursor is not one this server issued") from error

    if not isinstance(data, dict) or set(data) != {"s", "v", "i"}:
        raise InvalidCursor("cursor is not one this server issued")
    if data["s"] != sort_key:
        raise InvalidCursor(
            f"cursor was issued for sort {data['s']!r}, not {sort_key!r}: "
            "repeat the first request's sort or drop the cursor"
        )
    task_id = data["i"]
    value = data["v"]
    if not isinstance(task_id, int) or isinstance(task_id, bool):
        raise InvalidCursor("cursor is not one this server issued")

    if sort_key == "priority":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 3:
            raise InvalidCursor("cursor is not one this server issued")
        return value, task_id
    if value is None and sort_key == "due_at":
        return None, task_id
    if not isinstance(value, str):
        raise InvalidCursor("cursor is not one this server issued")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise InvalidCursor("cursor is not one this server issued") from error
    if moment.tzinfo is None:
        raise InvalidCursor("cursor is not one this server issued")
    return moment, task_id


def _cursor_value(task: Task, sort_key: str) -> Any:
    value = getattr(task, sort_key)
    return value.isoformat() if isinstance(value, datetime) else value


def _order_and_seek(statement: Select[tuple[Task]], query: TaskQuery) -> Select[tuple[Task]]:
    column = getattr(Task, query.sort_key)
    descending = query.descending
    after = None if query.cursor is None else _decode_cursor(query.cursor, query.sort_key)

    if query.sort_key != "due_at":
        ordering = (column.desc(), Task.id.desc()) if descending else (column, Task.id)
        statement = statement.order_by(*ordering)
        if after is not None:
            value, task_id = after
            beyond = column < value if descending else column > value
            id_beyond = Task.id < task_id if descending else Task.id > task_id
            statement = statement.where(or_(beyond, and_(column == value, id_beyond)))
        return statement

    # Tasks without a due date come last in both directions, ordered by id among themselves.
    no_due = Task.due_at.is_(None)
    if descending:
        statement = statement.order_by(no_due, Task.due_at.desc(), Task.id.desc())
    else:
        statement = statement.order_by(no_due, Task.due_at, Task.id)
    if after is None:
        return statement

    value, task_id = after
    id_after = Task.id < task_id if descending else Task.id > task_id
    if value is None:
        return statement.where(no_due, id_after)
    due_after = Task.due_at < value if descending else Task.due_at > value
    return statement.where(or_(due_after, and_(Task.due_at == value, id_after), no_due))


def list_tasks(
    session: Session, user_id: int, query: TaskQuery
) -> tuple[list[TaskOut], str | None]:
    """Return one page of the user's tasks and the cursor of the next page, if any."""
    statement = select(Task).where(Task.user_id == user_id)
    if query.status is not None:
        statement = statement.where(Task.status == query.status.value)
    if query.priorities:
        statement = statement.where(Task.priority.in_([p.rank for p in query.priorities]))
    for tag in query.tags:
        statement = statement.where(exists().where(TaskTag.task_id == Task.id, TaskTag.tag == tag))

    statement = _order_and_seek(statement, query).limit(query.limit + 1)
    rows = list(session.scalars(statement))

    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        last = rows[-1]
        next_cursor = _encode_cursor(query.sort_key, _cursor_value(last, query.sort_key), last.id)
    return [to_out(row) for row in rows], next_cursor
