"""Task queries and changes. Each change appends its CloudEvent to the event log in the
same transaction, so an event exists exactly when its change was committed."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    column,
    exists,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, raiseload

from taskora.server.domain.recurrence import find_next_occurrence, preset_to_rule
from taskora.server.domain.reminders import reminder_time
from taskora.server.domain.rules import RuleViolation, resolve_due, rule_until
from taskora.server.domain.tasks import (
    Priority,
    Recurrence,
    RecurrenceAnchor,
    RecurrenceOut,
    Status,
    TaskCreate,
    TaskOut,
    TaskUpdate,
    utc_now,
)
from taskora.server.events.cloudevents import EventType, TaskEvent, build_task_event
from taskora.server.store.bulk import bulk_insert
from taskora.server.store.cursors import CursorCodec
from taskora.server.store.events import OUTBOX_CHANNEL
from taskora.server.store.models import EventRecord, Task, TaskTag

logger = logging.getLogger(__name__)

SEARCH_WORD = re.compile(r"\w+")
# The SQLite FTS5 table that the migrations create and triggers keep in step with tasks.
SEARCH_TABLE = table("tasks_search", column("rowid"), column("tasks_search"))
MAX_SEARCH_WORDS = 16


class TaskNotFound(Exception):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"task {task_id} not found")
        self.task_id = task_id


class VersionConflict(Exception):
    """``If-Match`` named a version that the task no longer has."""

    def __init__(self, task_id: int, expected: frozenset[int], current: int) -> None:
        if expected:
            expected_text = " or ".join(str(version) for version in sorted(expected))
            reason = f"task {task_id} is at version {current}, not {expected_text}"
        else:
            # Only weak tags, which never match under the strong comparison If-Match uses.
            reason = (
                f"task {task_id} is at version {current}, and a weak entity tag never "
                f'matches; send "{current}"'
            )
        super().__init__(f"{reason}: fetch it again and reapply the change")
        self.task_id = task_id
        self.expected = expected
        self.current = current


@dataclass(frozen=True)
class TaskQuery:
    """Filters, sort and page of ``GET /api/tasks``."""

    status: Status | None = None
    priorities: tuple[Priority, ...] = ()
    tags: tuple[str, ...] = ()
    any_tag: bool = False
    search: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    overdue: bool = False
    sort: str = "created_at"
    limit: int = 50
    cursor: str | None = None

    @property
    def filters_digest(self) -> str:
        """A short digest of the filters, which a cursor must match."""
        filters = [
            self.status,
            sorted(self.priorities),
            sorted(self.tags),
            self.any_tag,
            self.search,
            self.due_before.isoformat() if self.due_before else None,
            self.due_after.isoformat() if self.due_after else None,
            self.overdue,
        ]
        encoded = json.dumps(filters, separators=(",", ":"), default=str).encode()
        return hashlib.sha256(encoded).hexdigest()[:16]

    @property
    def sort_key(self) -> str:
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")


def to_out(task: Task | SimpleNamespace, tags: list[str] | None = None) -> TaskOut:
    """Return the API form of ``task``, a Task or any object with its attributes; ``tags``
    spares loading them through the ORM."""
    recurrence = None
    if task.recurrence_rule is not None:
        recurrence = RecurrenceOut(
            rule=task.recurrence_rule,
            anchor=RecurrenceAnchor(task.recurrence_anchor or RecurrenceAnchor.DUE),
        )
    return TaskOut(
        id=task.id,
        title=task.title,
        description=task.description,
        status=Status(task.status),
        priority=Priority.from_rank(task.priority),
        tags=task.tags if tags is None else tags,
        due_at=task.due_at,
        timezone=task.timezone,
        recurrence=recurrence,
        remind_before=task.remind_before,
        remind_at=(
            reminder_time(task.due_at, task.remind_before, task.timezone)
            if task.due_at is not None and task.remind_before is not None
            else None
        ),
        created_at=task.created_at,
        updated_at=task.updated_at,
        completed_at=task.completed_at,
        series_id=task.series_id,
        occurrence=task.occurrence,
        version=task.version,
    )


def _append_event(session: Session, event_type: EventType, task: TaskOut, user_id: int) -> None:
    """Add the CloudEvent of a change to the log, in the transaction of the change.

    On PostgreSQL the transaction also notifies the sequencers of every replica; PostgreSQL
    sends the notification only if the transaction commits, once however many it queued.
    """
    add_event(session, build_task_event(event_type, task, user_id, utc_now()), user_id)


def add_event(session: Session, event: TaskEvent, user_id: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
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


def add_events(session: Session, events: list[TaskEvent], user_id: int) -> None:
    """Append ``events`` to the event log in one multi-row insert."""
    if not events:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
    rows = [
        {
            "event_id": event.event_id,
            "user_id": user_id,
            "type": str(event.type),
            "subject": event.subject,
            "time": event.time,
            "payload": event.payload,
        }
        for event in events
    ]
    bulk_insert(session, EventRecord.__table__, rows)


def _load(session: Session, user_id: int, task_id: int, *, for_update: bool = False) -> Task:
    # Another user's task is reported exactly like a missing one, so ids reveal nothing.
    statement = select(Task).where(Task.id == task_id, Task.user_id == user_id)
    if for_update:
        # Two completions of one task wait for each other instead of both seeing it pending.
        statement = statement.with_for_update()
    task = session.scalar(statement)
    if task is None:
        raise TaskNotFound(task_id)
    return task


def _check_due_dependents(task: Task) -> None:
    """Reject a recurrence or a reminder on a task without a due date, and a rule that
    ends before the due date."""
    if task.due_at is not None:
        until = rule_until(task.recurrence_rule) if task.recurrence_rule else None
        if until is not None and until < task.due_at:
            raise RuleViolation(
                "body.recurrence.rule",
                f"the rule ends (UNTIL {until.isoformat()}) before the task is due "
                f"({task.due_at.isoformat()}), so it never produces a date",
            )
        return
    if task.recurrence_rule is not None:
        raise RuleViolation("body.recurrence", "a recurring task needs a due_at")
    if task.remind_before is not None:
        raise RuleViolation("body.remind_before", "a reminder needs a due_at")


def _rule_of(recurrence: Recurrence | None, task: Task) -> str | None:
    """Return the RRULE of ``recurrence``, turning a preset into one at the task's due date."""
    if recurrence is None:
        return None
    if recurrence.rule is not None:
        return recurrence.rule
    if task.due_at is None:
        raise RuleViolation("body.recurrence", "a recurring task needs a due_at")
    due_local = task.due_at.astimezone(ZoneInfo(task.timezone))
    try:
        return preset_to_rule(recurrence.preset or "", due_local)
    except ValueError as error:
        raise RuleViolation("body.recurrence.preset", str(error)) from None


def _set_recurrence(task: Task, recurrence: Recurrence | None) -> None:
    """Give ``task`` a rule, starting a new series at its due date; None stops repeating."""
    task.recurrence_rule = _rule_of(recurrence, task)
    task.recurrence_anchor = recurrence.anchor.value if recurrence else None
    # A new rule applies from this occurrence on, so the series restarts here.
    task.series_start = task.due_at if recurrence else None
    task.occurrence = 1 if recurrence else None


def _recurrence_changes(task: Task, recurrence: Recurrence | None) -> bool:
    if recurrence is None:
        return task.recurrence_rule is not None
    anchor_changes = recurrence.anchor.value != (task.recurrence_anchor or "due")
    return (
        recurrence.rule != task.recurrence_rule or recurrence.preset is not None or anchor_changes
    )


def _refresh_remind_at(task: Task) -> None:
    if task.due_at is None or task.remind_before is None:
        task.remind_at = None
        return
    task.remind_at = reminder_time(task.due_at, task.remind_before, task.timezone)


def create_task(session: Session, user_id: int, default_timezone: str, body: TaskCreate) -> TaskOut:
    now = utc_now()
    timezone = body.timezone or default_timezone
    task = Task(
        user_id=user_id,
        title=body.title,
        description=body.description,
        status=Status.PENDING.value,
        priority=body.priority.rank,
        due_at=resolve_due(body.due_at, timezone),
        timezone=timezone,
        remind_before=body.remind_before,
        created_at=now,
        updated_at=now,
        completed_at=None,
        version=1,
        tag_rows=[TaskTag(tag=tag) for tag in body.tags],
    )
    _set_recurrence(task, body.recurrence)
    _check_due_dependents(task)
    _refresh_remind_at(task)
    session.add(task)
    session.flush()
    if task.recurrence_rule is not None:
        task.series_id = task.id
    out = to_out(task)
    _append_event(session, EventType.CREATED, out, user_id)
    return out


def next_occurrence_id(session: Session, task_id: int) -> int | None:
    """Return the id of the occurrence that follows ``task_id`` in its series, if any."""
    return session.scalar(select(Task.id).where(Task.previous_id == task_id))


def load_task(session: Session, user_id: int, task_id: int) -> Task:
    """Return the user's task as a model row, for read-only use."""
    return _load(session, user_id, task_id)


def get_task(session: Session, user_id: int, task_id: int) -> TaskOut:
    return to_out(_load(session, user_id, task_id))


def _check_version(task: Task, expected_versions: frozenset[int] | None) -> None:
    if expected_versions is not None and task.version not in expected_versions:
        raise VersionConflict(task.id, expected_versions, task.version)


def _apply(task: Task, body: TaskUpdate, now: datetime) -> bool:
    """Copy the fields present in ``body`` onto ``task``; return whether anything changed."""
    fields = body.model_fields_set
    before = to_out(task)

    if "title" in fields and body.title is not None:
        task.title = body.title
    if "description" in fields and body.description is not None:
        task.description = body.description
    if "priority" in fields and body.priority is not None:
        task.priority = body.priority.rank
    if "timezone" in fields and body.timezone is not None:
        task.timezone = body.timezone
    if "due_at" in fields:
        task.due_at = resolve_due(body.due_at, task.timezone)
    if "recurrence" in fields and _recurrence_changes(task, body.recurrence):
        _set_recurrence(task, body.recurrence)
        # A new rule starts a new series at this task, numbered from 1; without a rule the
        # task belongs to no series.
        task.series_id = task.id if task.recurrence_rule is not None else None
    if "remind_before" in fields:
        task.remind_before = body.remind_before
    if fields & {"due_at", "remind_before", "timezone"}:
        # A sent reminder is disarmed (remind_at NULL); a new time arms the next one.
        _refresh_remind_at(task)
    if "tags" in fields and body.tags is not None and body.tags != task.tags:
        task.tag_rows = [TaskTag(tag=tag) for tag in body.tags]
    if "status" in fields and body.status is not None and body.status.value != task.status:
        task.status = body.status.value
        task.completed_at = now if body.status is Status.COMPLETED else None

    _check_due_dependents(task)
    return to_out(task) != before


def update_task(
    session: Session,
    user_id: int,
    task_id: int,
    body: TaskUpdate,
    expected_version: frozenset[int] | None = None,
) -> TaskOut:
    """Apply the fields present in ``body``; a change that alters nothing emits no event."""
    task = _load(session, user_id, task_id, for_update=True)
    _check_version(task, expected_version)
    was_completed = task.status == Status.COMPLETED.value
    now = utc_now()

    if not _apply(task, body, now):
        return to_out(task)

    task.updated_at = now
    task.version += 1
    session.flush()
    out = to_out(task)
    completed = out.status is Status.COMPLETED and not was_completed
    _append_event(session, EventType.COMPLETED if completed else EventType.UPDATED, out, user_id)
    if completed:
        create_next_occurrence(session, task, now)
    return out


def plan_next_occurrence(task: Task, now: datetime) -> dict[str, Any] | None:
    """Return the column values of the occurrence after the completed ``task``, without
    its id, or None at the series' end. A plain dict, so a check can plan thousands without
    building ORM objects."""
    if task.recurrence_rule is None or task.due_at is None:
        return None
    series_start = task.series_start or task.due_at
    following = find_next_occurrence(
        task.recurrence_rule,
        task.recurrence_anchor or RecurrenceAnchor.DUE.value,
        series_start=series_start,
        previous_due=task.due_at,
        completed_at=task.completed_at or now,
        timezone=task.timezone,
        now=now,
        occurrence=task.occurrence or 1,
    )
    if following is None:
        return None
    remind_at = None
    if task.remind_before is not None:
        remind_at = reminder_time(following.due_at, task.remind_before, task.timezone)
    return {
        "user_id": task.user_id,
        "title": task.title,
        "description": task.description,
        "status": Status.PENDING.value,
        "priority": task.priority,
        "due_at": following.due_at,
        "timezone": task.timezone,
        "recurrence_rule": task.recurrence_rule,
        "recurrence_anchor": task.recurrence_anchor,
        "remind_before": task.remind_before,
        "series_id": task.series_id or task.id,
        "occurrence": following.number,
        "series_start": series_start,
        "previous_id": task.id,
        "remind_at": remind_at,
        "created_at": now,
        "updated_at": now,
        "completed_at": None,
        "version": 1,
        "next_occurrence_done": False,
    }


def recurred_event(successor: TaskOut, previous_id: int, user_id: int, now: datetime) -> TaskEvent:
    return build_task_event(
        EventType.RECURRED, successor, user_id, now, {"previous_task_id": previous_id}
    )


def create_next_occurrence(session: Session, task: Task, now: datetime) -> TaskOut | None:
    """Create the occurrence after the completed ``task`` and emit task.recurred.

    Returns None when the task does not repeat, its series has ended, or its next
    occurrence exists. The unique ``previous_id`` decides the last case, not timing: of
    two transactions racing to create it, the second fails its insert and creates nothing.
    """
    if task.recurrence_rule is None or task.due_at is None:
        return None
    if session.scalar(select(Task.id).where(Task.previous_id == task.id)) is not None:
        task.next_occurrence_done = True
        return None
    values = plan_next_occurrence(task, now)
    if values is None:
        task.next_occurrence_done = True
        return None
    successor = Task(**values, tag_rows=[TaskTag(tag=tag) for tag in task.tags])
    try:
        with session.begin_nested():
            session.add(successor)
            session.flush()
    except IntegrityError:
        logger.info("The next occurrence of task %d already exists", task.id)
        task.next_occurrence_done = True
        return None
    task.next_occurrence_done = True

    out = to_out(successor)
    add_event(session, recurred_event(out, task.id, task.user_id, now), task.user_id)
    return out


def set_status(session: Session, user_id: int, task_id: int, status: Status) -> TaskOut:
    """Complete or reopen a task; asking for the status it already has changes nothing."""
    return update_task(session, user_id, task_id, TaskUpdate(status=status))


def delete_task(
    session: Session,
    user_id: int,
    task_id: int,
    expected_version: frozenset[int] | None = None,
    *,
    stop_series: bool = False,
) -> TaskOut | None:
    """Delete a task; with ``stop_series``, also end its series so no occurrence follows.

    Without it, deleting a pending occurrence of a series skips that occurrence: the one
    after it is created in the same transaction and returned.
    """
    task = _load(session, user_id, task_id, for_update=True)
    _check_version(task, expected_version)
    doomed = [task]
    if stop_series and task.series_id is not None:
        members = session.scalars(
            select(Task).where(Task.user_id == user_id, Task.series_id == task.series_id)
        )
        for member in members:
            if member.id == task.id:
                continue
            if member.status == Status.PENDING.value:
                doomed.append(member)
            else:
                # Kept as history, but no longer repeated by a recurrence check.
                member.recurrence_rule = None
                member.recurrence_anchor = None
    # Deleting one pending occurrence skips it: the series goes on with the following one.
    skip = (
        not stop_series
        and task.status == Status.PENDING.value
        and task.recurrence_rule is not None
        and task.due_at is not None
        # A reopened occurrence may already have its follower.
        and next_occurrence_id(session, task.id) is None
    )
    now = utc_now()
    values = plan_next_occurrence(task, now) if skip else None
    tags = task.tags
    for member in doomed:
        out = to_out(member)
        session.delete(member)
        _append_event(session, EventType.DELETED, out, user_id)
    if values is None:
        return None

    # The follower takes the skipped task's place after its predecessor, whose unique
    # previous_id slot the delete has just freed.
    session.flush()
    values["previous_id"] = task.previous_id
    successor = Task(**values, tag_rows=[TaskTag(tag=tag) for tag in tags])
    session.add(successor)
    session.flush()
    follower = to_out(successor)
    add_event(session, recurred_event(follower, task.id, user_id, now), user_id)
    return follower


def _search_condition(session: Session, words: list[str]) -> ColumnElement[bool]:
    """Match tasks whose title or description has every word as a prefix of one of its words."""
    if session.get_bind().dialect.name == "postgresql":
        # Must match the expression of the ix_tasks_search GIN index.
        document = func.to_tsvector(literal_column("'simple'"), Task.title + " " + Task.description)
        query = " & ".join(f"{word}:*" for word in words)
        return document.op("@@")(func.to_tsquery(literal_column("'simple'"), query))

    # FTS5 query syntax: a double-quoted string followed by * is a prefix query.
    match = " ".join(f'"{word}"*' for word in words)
    matching_ids = select(SEARCH_TABLE.c.rowid).where(
        SEARCH_TABLE.c.tasks_search.op("MATCH")(match)
    )
    return Task.id.in_(matching_ids)


def search_words(search: str) -> list[str]:
    """Split a search into the words that are matched as prefixes (lower-cased)."""
    return [word.lower() for word in SEARCH_WORD.findall(search)][:MAX_SEARCH_WORDS]


def _filtered(session: Session, user_id: int, query: TaskQuery) -> Select[tuple[Task]]:
    # Tags are read for the whole page at once in list_tasks, without ORM objects.
    statement = select(Task).options(raiseload(Task.tag_rows)).where(Task.user_id == user_id)
    if query.status is not None:
        statement = statement.where(Task.status == query.status.value)
    if query.priorities:
        statement = statement.where(Task.priority.in_([p.rank for p in query.priorities]))
    if query.tags and query.any_tag:
        statement = statement.where(
            exists().where(TaskTag.task_id == Task.id, TaskTag.tag.in_(query.tags))
        )
    elif query.tags:
        for tag in query.tags:
            statement = statement.where(
                exists().where(TaskTag.task_id == Task.id, TaskTag.tag == tag)
            )
    if query.search:
        words = search_words(query.search)
        if words:
            statement = statement.where(_search_condition(session, words))
    if query.due_before is not None:
        statement = statement.where(Task.due_at < query.due_before)
    if query.due_after is not None:
        statement = statement.where(Task.due_at >= query.due_after)
    if query.overdue:
        statement = statement.where(Task.status == Status.PENDING.value, Task.due_at < utc_now())
    return statement


def _sort_column(sort_key: str) -> Any:
    if sort_key == "title":
        return func.lower(Task.title)
    return getattr(Task, sort_key)


def _seek(
    statement: Select[tuple[Task]], column: Any, after: tuple[Any, int] | None, descending: bool
) -> Select[tuple[Task]]:
    """Order by ``column`` then id, starting after the (value, id) of the previous page."""
    if descending:
        statement = statement.order_by(column.desc(), Task.id.desc())
    else:
        statement = statement.order_by(column, Task.id)
    if after is None:
        return statement
    value, task_id = after
    beyond = column < value if descending else column > value
    id_beyond = Task.id < task_id if descending else Task.id > task_id
    return statement.where(or_(beyond, and_(column == value, id_beyond)))


def _cursor_value(task: Task, sort_key: str) -> Any:
    if sort_key == "title":
        return task.title.lower()
    value = getattr(task, sort_key)
    return value.isoformat() if isinstance(value, (datetime, date)) else value


def list_tasks(
    session: Session, user_id: int, query: TaskQuery, cursors: CursorCodec
) -> tuple[list[TaskOut], str | None]:
    """Return one page of the user's tasks and the cursor of the next page, if any.

    Sorting by due date reads tasks with a due date first and then those without, as two
    indexed queries, because SQLite and PostgreSQL disagree on where NULL sorts and neither
    uses an index for "NULLS LAST" in both directions.
    """
    after = (
        None
        if query.cursor is None
        else cursors.decode(query.cursor, query.sort_key, query.filters_digest)
    )
    filtered = _filtered(session, user_id, query)
    fetch_count = query.limit + 1
    rows: list[Task] = []

    if query.sort_key != "due_at":
        statement = _seek(filtered, _sort_column(query.sort_key), after, query.descending)
        rows = list(session.scalars(statement.limit(fetch_count)))
    else:
        in_undated_part = after is not None and after[0] is None
        if not in_undated_part:
            dated = _seek(
                filtered.where(Task.due_at.is_not(None)), Task.due_at, after, query.descending
            )
            rows = list(session.scalars(dated.limit(fetch_count)))
        if len(rows) < fetch_count:
            undated_after = (None, after[1]) if in_undated_part and after else None
            undated = filtered.where(Task.due_at.is_(None))
            if undated_after is not None:
                task_id = undated_after[1]
                undated = undated.where(
                    Task.id < task_id if query.descending else Task.id > task_id
                )
            undated = undated.order_by(Task.id.desc() if query.descending else Task.id)
            rows += list(session.scalars(undated.limit(fetch_count - len(rows))))

    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        last = rows[-1]
        next_cursor = cursors.encode(
            query.sort_key, query.filters_digest, _cursor_value(last, query.sort_key), last.id
        )
    tags = _tags_of(session, [row.id for row in rows])
    return [to_out(row, tags.get(row.id, [])) for row in rows], next_cursor


def _tags_of(session: Session, task_ids: list[int]) -> dict[int, list[str]]:
    """Return the sorted tags of each task in ``task_ids`` that has any."""
    if not task_ids:
        return {}
    tags: dict[int, list[str]] = {}
    rows = session.execute(
        select(TaskTag.task_id, TaskTag.tag)
        .where(TaskTag.task_id.in_(task_ids))
        .order_by(TaskTag.task_id, TaskTag.tag)
    )
    for task_id, tag in rows:
        tags.setdefault(task_id, []).append(tag)
    return tags
