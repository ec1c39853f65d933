"""Recurrence and reminder checks, run by a schedule on every replica or by the CLI."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from taskora.server.api.deps import CallerDep, DatabaseDep, EventsDep
from taskora.server.domain.tasks import utc_now
from taskora.server.store import checks

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["checks"])

CheckLimit = Annotated[
    int, Query(ge=1, le=100_000, description="Tasks examined at most in this run.")
]


class RecurrenceCheckResult(BaseModel):
    examined: int
    created: int


class ReminderCheckResult(BaseModel):
    examined: int
    sent: int


@router.post("/recurrence/check", response_model=RecurrenceCheckResult)
def check_recurrence(
    caller: CallerDep, database: DatabaseDep, events: EventsDep, limit: CheckLimit = 10_000
) -> RecurrenceCheckResult:
    """Create each missing next occurrence of the caller's recurring tasks; idempotent."""
    with database.write() as session:
        result = checks.repair_series(session, caller.id, utc_now(), limit)
    if result.created:
        events.notify_commit()
        logger.info(
            "Recurrence check for user %d created %d occurrences", caller.id, result.created
        )
    return RecurrenceCheckResult(examined=result.examined, created=result.created)


@router.post("/reminders/check", response_model=ReminderCheckResult)
def check_reminders(
    caller: CallerDep, database: DatabaseDep, events: EventsDep, limit: CheckLimit = 10_000
) -> ReminderCheckResult:
    """Emit task.reminder for each of the caller's reminders that is due; idempotent."""
    with database.write() as session:
        result = checks.send_due_reminders(session, caller.id, utc_now(), limit)
    if result.created:
        events.notify_commit()
        logger.info("Reminder check for user %d sent %d reminders", caller.id, result.created)
    return ReminderCheckResult(examined=result.examined, sent=result.created)
