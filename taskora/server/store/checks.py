"""The recurrence and reminder checks: idempotent, so every replica may run them at once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from taskora.server.events.cloudevents import EventType, build_task_event
from taskora.server.store.models import ReminderSent, Task
from taskora.server.store.tasks import add_event, create_next_occurrence, to_out

logger = logging.getLogger(__name__)

# A reminder sent this long after its time is marked late, as after a service outage.
LATE_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class CheckResult:
    examined: int
    created: int


def repair_series(session: Session, user_id: int, now: datetime, limit: int) -> CheckResult:
    """Create the missing next occurrence of each completed recurring task of the user.

    A task qualifies when it repeats, is completed, has no successor and is the newest
    task of its series. A series whose checks were missed for a long time gets one next
    occurrence, the first after now, not one per missed period.
    """
    successor = aliased(Task)
    newer = aliased(Task)
    candidates = list(
        session.scalars(
            select(Task)
            .where(
                Task.user_id == user_id,
                # Literals, not bound values, written as in the partial index's WHERE:
                # SQLite uses a partial index only when the query repeats its terms, and
                # it cannot see through a bound parameter.
                Task.status == literal_column("'completed'"),
                Task.recurrence_rule.is_not(None),
                ~Task.next_occurrence_done,
                ~exists().where(successor.previous_id == Task.id),
                ~exists().where(and_(newer.series_id == Task.series_id, newer.id > Task.id)),
            )
            .limit(limit)
        )
    )
    created = sum(1 for task in candidates if create_next_occurrence(session, task, now))
    return CheckResult(examined=len(candidates), created=created)


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
                Task.status == literal_column("'pending'"),
                Task.remind_at.is_not(None),
                Task.remind_at <= now,
                ~exists().where(
                    ReminderSent.task_id == Task.id, ReminderSent.remind_at == Task.remind_at
                ),
            )
            .limit(limit)
        )
    )
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    sent = 0
    for task in candidates:
        remind_at = task.remind_at
        if remind_at is None:
            continue
        claimed = session.execute(
            insert(ReminderSent)
            .values(task_id=task.id, remind_at=remind_at, sent_at=now)
            .on_conflict_do_nothing()
            .returning(ReminderSent.task_id)
        ).scalar_one_or_none()
        # Disarm the task, unless a concurrent change armed it again for another time.
        session.execute(
            update(Task)
            .where(Task.id == task.id, Task.remind_at == remind_at)
            .values(remind_at=None)
            .execution_options(synchronize_session=False)
        )
        if claimed is None:
            # Another check sent this reminder first.
            continue
        late = now - remind_at > LATE_AFTER
        extra = {"remind_at": remind_at.isoformat().replace("+00:00", "Z"), "late": late}
        event = build_task_event(EventType.REMINDER, to_out(task), user_id, now, extra)
        add_event(session, event, user_id)
        sent += 1
    return CheckResult(examined=len(candidates), created=sent)
