"""Task routes: create, read, list, update, complete, reopen and delete."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, HTTPException, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from taskora.server.api.deps import (
    Caller,
    CallerDep,
    CursorsDep,
    DatabaseDep,
    EventsDep,
    IdempotencyDep,
)
from taskora.server.api.problems import InvalidParameter
from taskora.server.domain.recurrence import upcoming
from taskora.server.domain.tasks import (
    Priority,
    Status,
    TaskCreate,
    TaskOut,
    TaskPage,
    TaskUpdate,
    normalize_tags,
    utc_now,
)
from taskora.server.events.pipeline import EventPipeline
from taskora.server.store import idempotency
from taskora.server.store import tasks as store
from taskora.server.store.cursors import InvalidCursor
from taskora.server.store.database import Database
from taskora.server.store.tasks import TaskNotFound, TaskQuery

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/tasks", tags=["tasks"])

SortParam = Literal[
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "due_at",
    "-due_at",
    "priority",
    "-priority",
    "title",
    "-title",
]
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# One entity tag of an If-Match list: weak (W/"3"), strong ("3"), or a bare number, which
# earlier clients sent and which is read as the strong tag.
ENTITY_TAG = re.compile(r'^(W/)?(?:"(\d{1,18})"|(\d{1,18}))$')

# Ids are 64-bit integers in both databases; a larger number is a 422, not a driver error.
TaskId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The task's id.")]
IfMatchHeader = Annotated[
    str | None,
    Header(description='The task\'s ETag, such as "3": change it only at that version.'),
]


def _not_found(error: TaskNotFound) -> HTTPException:
    return HTTPException(404, str(error))


def _next_link(task_id: int) -> str:
    """Return the RFC 8288 link to the occurrence that follows in the series."""
    return f'</api/tasks/{task_id}>; rel="next"'


def _with_next_link(session: Session, task: TaskOut) -> dict[str, str]:
    """Headers naming the next occurrence of a completed task of a series, when it exists."""
    if task.status is not Status.COMPLETED or task.recurrence is None:
        return {}
    follower = store.next_occurrence_id(session, task.id)
    return {} if follower is None else {"Link": _next_link(follower)}


def _task_response(task: TaskOut, status_code: int = 200, **headers: str) -> Response:
    return Response(
        task.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers={"ETag": f'"{task.version}"', **headers},
    )


def _expected_version(if_match: str | None) -> frozenset[int] | None:
    """Return the versions that an If-Match header accepts; None for no header or ``*``.

    RFC 9110 section 13.1.1 compares If-Match with the strong function, under which a weak
    tag never matches, so a list of weak tags alone accepts no version and the request
    gets 412, as a stale tag does.
    """
    if if_match is None or if_match.strip() == "*":
        return None
    versions = set()
    for item in if_match.split(","):
        match = ENTITY_TAG.fullmatch(item.strip())
        if match is None:
            raise InvalidParameter(
                "header.If-Match",
                f'invalid entity tag {item.strip()!r}: send the task\'s ETag, such as "3"',
            )
        if match.group(1) is None:
            versions.add(int(match.group(2) or match.group(3)))
    return frozenset(versions)


@router.post("", status_code=201, response_model=TaskOut)
async def create_task(
    body: TaskCreate,
    caller: CallerDep,
    database: DatabaseDep,
    events: EventsDep,
    keys: IdempotencyDep,
    idempotency_key: Annotated[
        str | None,
        Header(description="Makes a retry return the first response instead of a new task."),
    ] = None,
) -> Response:
    """Create a task and emit task.created."""
    if idempotency_key is not None and not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise InvalidParameter(
            "header.Idempotency-Key", "must be 1 to 255 visible ASCII characters"
        )
    if idempotency_key is None:
        task = await run_in_threadpool(_create, database, caller, body)
        events.notify_commit()
        return _task_response(task, 201, Location=f"/api/tasks/{task.id}")

    def create(session: Session) -> idempotency.StoredResponse:
        task = store.create_task(session, caller.id, caller.timezone, body)
        return idempotency.StoredResponse(201, task.model_dump(mode="json"))

    body_hash = idempotency.request_hash(body.model_dump(mode="json"))
    try:
        result = await keys.create_once(caller.id, idempotency_key, body_hash, create)
    except idempotency.KeyReused as error:
        raise InvalidParameter("header.Idempotency-Key", str(error)) from None
    except idempotency.KeyInProgress as error:
        raise HTTPException(409, str(error)) from None
    except idempotency.IdempotencyUnavailable as error:
        logger.warning("Idempotency-Key of user %d not handled: %s", caller.id, error)
        raise HTTPException(503, str(error), {"Retry-After": "5"}) from None

    if not result.replayed:
        events.notify_commit()
    stored = result.response
    headers = {
        "ETag": f'"{stored.body.get("version", 0)}"',
        "Location": f"/api/tasks/{stored.body.get('id')}",
    }
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(stored.body, status_code=stored.status_code, headers=headers)


def _create(database: Database, caller: Caller, body: TaskCreate) -> TaskOut:
    with database.write() as session:
        return store.create_task(session, caller.id, caller.timezone, body)


@router.get("", response_model=TaskPage)
def list_tasks(
    caller: CallerDep,
    database: DatabaseDep,
    cursors: CursorsDep,
    status: Annotated[Status | None, Query(description="Only tasks with this status.")] = None,
    priority: Annotated[
        list[Priority] | None, Query(description="Only tasks with any of these priorities.")
    ] = None,
    tag: Annotated[list[str] | None, Query(description="Only tasks with these tags.")] = None,
    tag_mode: Annotated[
        Literal["all", "any"], Query(description="'all': every tag; 'any': at least one.")
    ] = "all",
    q: Annotated[
        str | None,
        Query(max_length=200, description="Words searched as prefixes in title and description."),
    ] = None,
    due_before: Annotated[
        AwareDatetime | None, Query(description="Only tasks due before this time.")
    ] = None,
    due_after: Annotated[
        AwareDatetime | None, Query(description="Only tasks due at or after this time.")
    ] = None,
    overdue: Annotated[
        bool, Query(description="Only pending tasks whose due date has passed.")
    ] = False,
    sort: Annotated[
        SortParam, Query(description="Sort key; a leading '-' sorts in descending order.")
    ] = "created_at",
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=1000, description="next_cursor of the previous page.")
    ] = None,
) -> Response:
    """List the caller's tasks, one page at a time."""
    try:
        tags = tuple(normalize_tags(tag or []))
    except ValueError as error:
        raise InvalidParameter("query.tag", str(error)) from None
    query = TaskQuery(
        status=status,
        priorities=tuple(priority or ()),
        tags=tags,
        any_tag=tag_mode == "any",
        search=q,
        due_before=due_before,
        due_after=due_after,
        overdue=overdue,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )
    try:
        with database.read() as session:
            items, next_cursor = store.list_tasks(session, caller.id, query, cursors)
    except InvalidCursor as error:
        raise HTTPException(400, f"invalid query.cursor: {error}") from None
    # Serialized here, once: a returned model would be validated again against the
    # response model before FastAPI encodes it.
    page = TaskPage(items=items, next_cursor=next_cursor)
    return Response(page.model_dump_json(), media_type="application/json")


@router.get("/{task_id}", response_model=TaskOut)
def get_task(task_id: TaskId, caller: CallerDep, database: DatabaseDep) -> Response:
    """Return one task."""
    try:
        with database.read() as session:
            return _task_response(store.get_task(session, caller.id, task_id))
    except TaskNotFound as error:
        raise _not_found(error) from None


class Occurrences(BaseModel):
    dates: list[datetime]


@router.get("/{task_id}/occurrences", response_model=Occurrences)
def list_occurrences(
    task_id: TaskId,
    caller: CallerDep,
    database: DatabaseDep,
    count: Annotated[int, Query(ge=1, le=100, description="How many dates.")] = 5,
) -> Occurrences:
    """Return the next due dates of the task's series after its current due date, or after
    now when the task is overdue."""
    try:
        with database.read() as session:
            task = store.load_task(session, caller.id, task_id)
            if task.recurrence_rule is None or task.due_at is None:
                return Occurrences(dates=[])
            # After now for an overdue task: completing it skips the dates that passed.
            dates = upcoming(
                task.recurrence_rule,
                task.series_start or task.due_at,
                task.timezone,
                max(task.due_at, utc_now()),
                count,
            )
    except TaskNotFound as error:
        raise _not_found(error) from None
    return Occurrences(dates=dates)


@router.patch("/{task_id}", response_model=TaskOut)
def update_task(
    task_id: TaskId,
    body: TaskUpdate,
    caller: CallerDep,
    database: DatabaseDep,
    events: EventsDep,
    if_match: IfMatchHeader = None,
) -> Response:
    """Change the fields present in the body and emit task.updated (or task.completed)."""
    expected = _expected_version(if_match)
    try:
        with database.write() as session:
            task = store.update_task(session, caller.id, task_id, body, expected)
            headers = _with_next_link(session, task)
    except TaskNotFound as error:
        raise _not_found(error) from None
    events.notify_commit()
    return _task_response(task, **headers)


@router.post("/{task_id}/complete", response_model=TaskOut)
def complete_task(
    task_id: TaskId, caller: CallerDep, database: DatabaseDep, events: EventsDep
) -> Response:
    """Mark a task completed and emit task.completed; a completed task is left as it is."""
    return _set_status(task_id, Status.COMPLETED, caller.id, database, events)


@router.post("/{task_id}/reopen", response_model=TaskOut)
def reopen_task(
    task_id: TaskId, caller: CallerDep, database: DatabaseDep, events: EventsDep
) -> Response:
    """Mark a task pending again and emit task.updated; a pending task is left as it is."""
    return _set_status(task_id, Status.PENDING, caller.id, database, events)


@router.delete("/{task_id}", status_code=204)
def delete_task(
    task_id: TaskId,
    caller: CallerDep,
    database: DatabaseDep,
    events: EventsDep,
    if_match: IfMatchHeader = None,
    series: Annotated[
        bool, Query(description="Also end the task's series: no occurrence follows.")
    ] = False,
) -> Response:
    """Delete a task and emit task.deleted; with series=true, end its series too."""
    expected = _expected_version(if_match)
    try:
        with database.write() as session:
            follower = store.delete_task(session, caller.id, task_id, expected, stop_series=series)
    except TaskNotFound as error:
        raise _not_found(error) from None
    events.notify_commit()
    headers = {} if follower is None else {"Link": _next_link(follower.id)}
    return Response(status_code=204, headers=headers)


def _set_status(
    task_id: int, status: Status, user_id: int, database: Database, events: EventPipeline
) -> Response:
    try:
        with database.write() as session:
            task = store.set_status(session, user_id, task_id, status)
            headers = _with_next_link(session, task)
    except TaskNotFound as error:
        raise _not_found(error) from None
    events.notify_commit()
    return _task_response(task, **headers)
