"""The recurrence and reminder checks: idempotent, so every replica may run them at once.

Both work in batches of set-based statements rather than one flush per task: the unique
``previous_id`` and the primary key of ``reminders_sent`` decide, inside each multi-row
``INSERT ... ON CONFLICT DO NOTHING``, which rows this check created; only those get an
event. A concurrent check that inserted a row first makes this one skip it, not fail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import exists, func, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from taskora.server.events.cloudevents import EventType, build_task_event
from taskora.server.store.bulk import bulk_insert
from taskora.server.store.database import Database
from taskora.server.store.models import (
    PENDING_REMINDER_PREDICATE,
    RECURRING_PREDICATE,
    ReminderSent,
    Task,
    TaskTag,
)
from taskora.server.store.tasks import add_events, plan_next_occurrence, recurred_event, to_out

logger = logging.getLogger(__name__)

# A reminder sent this long after its time is marked late, as after a service outage.
LATE_AFTER = timedelta(minutes=5)
# Rows per multi-row statement: well under SQLite's limit of bound parameters.
BATCH_SIZE = 500


@dataclass(frozen=True)
class CheckResult:
    examined: int
    created: int


def _batches(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), BATCH_SIZE):
        yield items[start : start + BATCH_SIZE]


def repair_series(session: Session, user_id: int, now: datetime, limit: int) -> CheckResult:
    """Create the missing next occurrence of each completed recurring task of the user.

    A task qualifies when it repeats, is completed, has no successor and is the newest
    task of its series. A series whose checks were missed for a long time gets one next
    occurrence, the first after now, not one per missed period.
    """
    candidates = list(
        session.scalars(
            select(Task)
            .where(
                Task.user_id == user_id,
                # The partial index's own WHERE, as text: SQLite uses a partial index only
                # when the query repeats its terms, and it renders a negated boolean
                # column as "= 0", which it does not match with "NOT next_occurrence_done".
                text(RECURRING_PREDICATE),
            )
            # Id order everywhere, so concurrent checks take their row locks in one order.
            .order_by(Task.id)
            .limit(limit)
        )
    )
    created = 0
    for batch in _batches(candidates):
        batch_created, failed = _create_successors(
            session, _newest_without_successor(session, batch), user_id, now
        )
        created += batch_created
        # Handled: the next occurrence exists now, a later task of the series already
        # follows, or the series has ended. A rule that failed stays for the next check.
        session.execute(
            update(Task)
            .where(Task.id.in_([task.id for task in batch if task.id not in failed]))
            .values(next_occurrence_done=True)
            .execution_options(synchronize_session=False)
        )
    return CheckResult(examined=len(candidates), created=created)


def _newest_without_successor(session: Session, tasks: Sequence[Task]) -> list[Task]:
    """Keep the tasks that have no successor and no later task in their series.

    Two lookups by index per batch, not anti-joins in the candidate query. While its
    statistics lagged behind a large check, PostgreSQL planned those anti-joins as hash
    joins over the whole table, which took 40 ms even with no task left to repair.
    """
    ids = [task.id for task in tasks]
    followed = set(session.scalars(select(Task.previous_id).where(Task.previous_id.in_(ids))))
    series_ids = {task.series_id for task in tasks if task.series_id is not None}
    newest: dict[int, int] = {}
    if series_ids:
        newest = {
            series_id: last_id
            for series_id, last_id in session.execute(
                select(Task.series_id, func.max(Task.id))
                .where(Task.series_id.in_(series_ids))
                .group_by(Task.series_id)
            )
        }
    return [
        task
        for task in tasks
        if task.id not in followed and newest.get(task.series_id or task.id, task.id) <= task.id
    ]


def _create_successors(
    session: Session, tasks: Sequence[Task], user_id: int, now: datetime
) -> tuple[int, set[int]]:
    """Create the next occurrences of ``tasks``; return how many, and the ids whose rule
    could not be evaluated."""
    planned: dict[int, tuple[dict[str, Any], list[str]]] = {}
    failed: set[int] = set()
    for task in tasks:
        try:
            values = plan_next_occurrence(task, now)
        except (ValueError, IndexError):
            # Only a rule stored before the current validation can fail here; the others
            # go on, and this one is tried again by the next check.
            logger.exception(
                "Task %d has a recurrence rule that cannot be evaluated: %r; fix or remove it",
                task.id,
                task.recurrence_rule,
            )
            failed.add(task.id)
            continue
        if values is not None:
            planned[task.id] = (values, task.tags)
    if not planned:
        return 0, failed

    returned = bulk_insert(
        session,
        Task.__table__,
        [values for values, _ in planned.values()],
        returning=("id", "previous_id"),
        skip_conflicts=True,
    )
    inserted = sorted((row.previous_id, row.id) for row in returned)

    tag_rows = []
    events = []
    for previous_id, new_id in inserted:
        values, tags = planned[previous_id]
        tag_rows.extend({"task_id": new_id, "tag": tag} for tag in tags)
        out = to_out(SimpleNamespace(id=new_id, **values), tags)
        events.append(recurred_event(out, previous_id, user_id, now))
    bulk_insert(session, TaskTag.__table__, tag_rows)
    add_events(session, events, user_id)

    skipped = len(planned) - len(inserted)
    if skipped:
        logger.info("%d next occurrences already existed; another check created them", skipped)
    return len(inserted), failed


def send_due_reminders(session: Session, user_id: int, now: datetime, limit: int) -> CheckResult:
    """Emit one task.reminder per pending task whose reminder time has passed.

    The primary key of ``reminders_sent`` (task, reminder time) makes each reminder go out
    once however many checks run. A changed due date or offset is a new reminder time.
    """
    candidates = list(
        session.scalars(
            select(Task)
            .where(
                Task.user_id == user_id,
                text(PENDING_REMINDER_PREDICATE),
                Task.remind_at <= now,
            )
            .order_by(Task.id)
            .limit(limit)
        )
    )
    sent = 0
    for batch in _batches(candidates):
        sent += _send_reminders(session, batch, user_id, now)
    return CheckResult(examined=len(candidates), created=sent)


def _send_reminders(session: Session, tasks: Sequence[Task], user_id: int, now: datetime) -> int:
    due = {task.id: task for task in tasks if task.remind_at is not None}
    if not due:
        return 0
    rows = [
        {"task_id": task.id, "remind_at": task.remind_at, "sent_at": now} for task in due.values()
    ]
    returned = bulk_insert(
        session, ReminderSent.__table__, rows, returning=("task_id",), skip_conflicts=True
    )
    claimed = sorted(row.task_id for row in returned)

    # Disarm each task whose current reminder time has been sent, by this check or another.
    # A concurrent change that armed a task for another time keeps that time.
    session.execute(
        update(Task)
        .where(
            Task.id.in_(list(due)),
            exists().where(
                ReminderSent.task_id == Task.id, ReminderSent.remind_at == Task.remind_at
            ),
        )
        .values(remind_at=None)
        .execution_options(synchronize_session=False)
    )
    if len(claimed) < len(due):
        logger.info("%d reminders were already sent by another check", len(due) - len(claimed))

    events = []
    for task_id in claimed:
        task = due[task_id]
        remind_at = task.remind_at
        assert remind_at is not None
        late = now - remind_at > LATE_AFTER
        extra = {"remind_at": remind_at.isoformat().replace("+00:00", "Z"), "late": late}
        events.append(build_task_event(EventType.REMINDER, to_out(task), user_id, now, extra))
    add_events(session, events, user_id)
    return len(claimed)


CheckFunction = Callable[[Session, int, datetime, int], CheckResult]


@dataclass(frozen=True)
class UsersRun:
    """The totals of one check run over every user with due work."""

    users: int = 0
    examined: int = 0
    created: int = 0
    failed_users: int = 0


def users_with_due_work(session: Session, now: datetime) -> list[int]:
    """Return the users with a completed recurring task to examine or a reminder due.

    Both reads use the partial indexes, so a run with nothing due costs two index probes.
    """
    recurring = select(Task.user_id).where(text(RECURRING_PREDICATE))
    reminders = select(Task.user_id).where(text(PENDING_REMINDER_PREDICATE), Task.remind_at <= now)
    found = set(session.scalars(recurring.distinct())) | set(session.scalars(reminders.distinct()))
    return sorted(found)


def run_for_users(
    database: Database, check: CheckFunction, now: datetime, label: str, limit: int = 10_000
) -> UsersRun:
    """Run ``check`` for every user with due work, each in its own transaction.

    Every replica may run this at the same moment, because each check is idempotent. One
    user's failure is logged as "The LABEL failed for user N" and stops no other.
    """
    with database.read() as session:
        user_ids = users_with_due_work(session, now)

    examined = created = failed = 0
    for user_id in user_ids:
        try:
            with database.write() as session:
                result = check(session, user_id, now, limit)
        except SQLAlchemyError:
            failed += 1
            logger.exception("The %s failed for user %d", label, user_id)
            continue
        examined += result.examined
        created += result.created
    return UsersRun(len(user_ids), examined, created, failed)
