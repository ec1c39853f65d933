"""Building the CloudEvents 1.0 events that describe task changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from taskora.server.domain.tasks import TaskOut

EVENT_SOURCE = "/taskora/tasks"
_FORMAT = JSONFormat()


class EventType(StrEnum):
    CREATED = "task.created"
    UPDATED = "task.updated"
    COMPLETED = "task.completed"
    DELETED = "task.deleted"
    RECURRED = "task.recurred"
    REMINDER = "task.reminder"


@dataclass(frozen=True)
class TaskEvent:
    """A CloudEvent about one task, serialized in the JSON event format."""

    event_id: str
    type: EventType
    subject: str
    time: datetime
    payload: str


def build_task_event(
    event_type: EventType,
    task: TaskOut,
    user_id: int,
    time: datetime,
    extra: dict[str, Any] | None = None,
) -> TaskEvent:
    """Build the CloudEvent for a change of ``task``; its data is the task plus ``user_id``
    and the ``extra`` fields of the event type."""
    data: dict[str, Any] = task.model_dump(mode="json")
    data["user_id"] = user_id
    data.update(extra or {})
    event = CloudEvent(
        {
            "type": str(event_type),
            "source": EVENT_SOURCE,
            "subject": str(task.id),
            "time": time,
            "datacontenttype": "application/json",
        },
        data,
    )
    return TaskEvent(
        event_id=event.get_id(),
        type=event_type,
        subject=str(task.id),
        time=time,
        payload=_FORMAT.write(event).decode("utf-8"),
    )
