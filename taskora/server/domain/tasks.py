"""Task fields, their validation and the rules of status changes."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from taskora.server.domain.rules import (
    check_reminder_offset,
    check_rule,
    check_timezone,
    parse_due,
)

TITLE_MAX_LENGTH = 500
DESCRIPTION_MAX_LENGTH = 20_000
TAG_MAX_LENGTH = 64
TAGS_MAX_COUNT = 50
# \w covers letters and digits of every script, plus the underscore.
TAG_PATTERN = re.compile(r"^[\w\-/:.]+$")


class Status(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        """The stored integer, so that sorting by priority is a numeric sort."""
        return PRIORITY_RANKS[self]

    @classmethod
    def from_rank(cls, rank: int) -> Priority:
        return PRIORITIES_BY_RANK[rank]


PRIORITY_RANKS = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2, Priority.URGENT: 3}
PRIORITIES_BY_RANK = {rank: priority for priority, rank in PRIORITY_RANKS.items()}


def reject_nul(value: str) -> str:
    """Reject text with NUL characters, which PostgreSQL cannot store in text columns."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters (U+0000)")
    return value


def normalize_title(value: str) -> str:
    """Trim ``value`` and reject an empty or over-long title."""
    title = reject_nul(value).strip()
    if not title:
        raise ValueError("title must not be empty or only spaces")
    if len(title) > TITLE_MAX_LENGTH:
        raise ValueError(
            f"title is {len(title)} characters long; the maximum is {TITLE_MAX_LENGTH}"
        )
    return title


def normalize_tags(values: list[str]) -> list[str]:
    """Lower-case, trim, deduplicate and sort ``values``, rejecting invalid tags."""
    tags: set[str] = set()
    for value in values:
        tag = value.strip().lower()
        if not tag or len(tag) > TAG_MAX_LENGTH:
            raise ValueError(f"tag {value!r} must be 1 to {TAG_MAX_LENGTH} characters long")
        if not TAG_PATTERN.fullmatch(tag):
            raise ValueError(
                f"tag {value!r} may contain only letters, digits and the characters - _ / : ."
            )
        tags.add(tag)
    if len(tags) > TAGS_MAX_COUNT:
        raise ValueError(f"a task has at most {TAGS_MAX_COUNT} tags, got {len(tags)}")
    return sorted(tags)


Description = Annotated[str, Field(max_length=DESCRIPTION_MAX_LENGTH), AfterValidator(reject_nul)]


class RecurrenceAnchor(StrEnum):
    DUE = "due"
    COMPLETION = "completion"


class Recurrence(BaseModel):
    """The repetition of a task: an RFC 5545 RRULE and the anchor of the next occurrence."""

    model_config = ConfigDict(extra="forbid")

    rule: str | None = Field(
        None, description="An RRULE without DTSTART, such as FREQ=WEEKLY;BYDAY=MO,WE."
    )
    preset: str | None = Field(
        None,
        description="Instead of rule: a phrase such as 'weekdays', 'weekly on mon,wed' or "
        "'monthly on the last day', stored as the equivalent RRULE.",
    )
    anchor: RecurrenceAnchor = Field(
        RecurrenceAnchor.DUE,
        description="'due': the next date follows the previous due date; "
        "'completion': it follows the completion time.",
    )

    @field_validator("rule")
    @classmethod
    def _check_rule(cls, value: str | None) -> str | None:
        return None if value is None else check_rule(value)

    @model_validator(mode="after")
    def _one_of_rule_or_preset(self) -> Recurrence:
        if (self.rule is None) == (self.preset is None):
            raise ValueError("give exactly one of rule (an RRULE) and preset (a phrase)")
        return self


DueInput = Annotated[
    AwareDatetime | date,
    BeforeValidator(parse_due),
    Field(
        description="RFC 3339 timestamp with an offset, or a date alone meaning 23:59:59 "
        "that day in the task's time zone."
    ),
]
TimezoneName = Annotated[
    str,
    AfterValidator(check_timezone),
    Field(description="IANA time zone name, such as Europe/Berlin."),
]
Duration = Annotated[
    str,
    AfterValidator(check_reminder_offset),
    Field(description="ISO 8601 duration before due_at, such as PT15M or P1D."),
]


class TaskCreate(BaseModel):
    """The body of ``POST /api/tasks``."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(description="1 to 500 characters; surrounding spaces are trimmed.")
    description: Description = ""
    priority: Priority = Priority.MEDIUM
    tags: list[str] = Field(default_factory=list, description="Up to 50 tags.")
    due_at: DueInput | None = None
    timezone: TimezoneName | None = Field(None, description="Default: the user's time zone.")
    recurrence: Recurrence | None = None
    remind_before: Duration | None = None

    @field_validator("title")
    @classmethod
    def _check_title(cls, value: str) -> str:
        return normalize_title(value)

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, value: list[str]) -> list[str]:
        return normalize_tags(value)


class TaskUpdate(BaseModel):
    """The body of ``PATCH /api/tasks/{id}``: only the fields present are changed."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    description: Description | None = None
    priority: Priority | None = None
    tags: list[str] | None = None
    due_at: DueInput | None = None
    timezone: TimezoneName | None = None
    recurrence: Recurrence | None = None
    remind_before: Duration | None = None
    status: Status | None = None

    @field_validator("title")
    @classmethod
    def _check_title(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("title cannot be null")
        return normalize_title(value)

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, value: list[str] | None) -> list[str]:
        if value is None:
            raise ValueError("tags cannot be null; send [] to remove every tag")
        return normalize_tags(value)

    @field_validator("description", "priority", "status", "timezone")
    @classmethod
    def _check_not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("this field cannot be null")
        return value


class RecurrenceOut(BaseModel):
    """A stored recurrence, returned without validating the rule again."""

    rule: str
    anchor: RecurrenceAnchor


class TaskOut(BaseModel):
    """A task as the API returns it."""

    id: int
    title: str
    description: str
    status: Status
    priority: Priority
    tags: list[str]
    due_at: datetime | None
    timezone: str
    recurrence: RecurrenceOut | None
    remind_before: str | None
    # When the reminder is due: remind_before earlier than due_at, on the task's wall time.
    remind_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    series_id: int | None = None
    occurrence: int | None = None
    version: int


class TaskPage(BaseModel):
    """One page of ``GET /api/tasks``."""

    items: list[TaskOut]
    next_cursor: str | None


def utc_now() -> datetime:
    return datetime.now(UTC)
