"""Task routes: create, read, list, update, complete, reopen and delete."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response

from taskora.server.api.deps import CallerDep, DatabaseDep, RelayDep
from taskora.server.api.problems import InvalidParameter
from taskora.server.domain.tasks import (
    Priority,
    Status,
    TaskCreate,
    TaskOut,
    TaskPage,
    TaskUpdate,
    normalize_tags,
)
from taskora.server.store import tasks as store
from taskora.server.store.tasks import InvalidCursor, TaskNotFound, TaskQuery

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/tasks", tags=["tasks"])

SortParam = Literal["created_at", "-created_at", "due_at", "-due_at", "priority", "-priority"]


def _not_found(error: TaskNotFound) -> HTTPException:
    return HTTPException(404, str(error))


@router.post("", status_code=201, response_model=TaskOut)
def create_task(
    body: TaskCreate, caller: CallerDep, database: DatabaseDep, relay: RelayDep
) -> TaskOut:
    """Create a task and emit task.created."""
    with database.write() as session:
        task = store.create_task(session, caller.id, body)
    relay.notify()
    return task


@router.get("", response_model=TaskPage)
def list_tasks(
    caller: CallerDep,
    database: DatabaseDep,
    status: Annotated[Status | None, Query(description="Only tasks with this status.")] = None,
    priority: Annotated[
        list[Priority] | None, Query(description="Only tasks with any of these priorities.")
    ] = None,
    tag: Annotated[
        list[str] | None, Query(description="Only tasks with all of these tags.")
    ] = None,
    sort: Annotated[
        SortParam, Query(description="Sort key; a leading '-' sorts in descending order.")
    ] = "created_at",
    limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
) -> TaskPage:
    """List the caller's tasks, one page at a time."""
    try:
        tags = tuple(normalize_tags(tag or []))
    except ValueError as error:
        raise InvalidParameter("query.tag", str(error)) from None
    query = TaskQuery(
        status=status,
        priorities=tuple(priority or ()),
        tags=tags,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )
    try:
        with database.read() as session:
            items, next_cursor = store.list_tasks(session, caller.id, query)
    except InvalidCursor as error:
        raise HTTPException(400, f"invalid query.cursor: {error}") from None
    return TaskPage(items=items, next_cursor=next_cursor)


@router.get("/{task_id}", response_model=TaskOut)
def get_task(task_id: int, caller: CallerDep, database: DatabaseDep) -> TaskOut:
    """Return one task."""
    try:
        with database.read() as session:
            return store.get_task(session, caller.id, task_id)
    except TaskNotFound as error:
        raise _not_found(error) from None


@router.patch("/{task_id}", response_model=TaskOut)
def update_task(
    task_id: int, body: TaskUpdate, caller: CallerDep, database: DatabaseDep, relay: RelayDep
) -> TaskOut:
    """Change the fields present in the body and emit task.updated (or task.completed)."""
    try:
        with database.write() as session:
            task = store.update_task(session, caller.id, task_id, body)
    except TaskNotFound as error:
        raise _not_found(error) from None
    relay.notify()
    return task


@router.post("/{task_id}/complete", response_model=TaskOut)
def complete_task(
    task_id: int, caller: CallerDep, database: DatabaseDep, relay: RelayDep
) -> TaskOut:
    """Mark a task completed and emit task.completed; a completed task is left as it is."""
    return _set_status(task_id, Status.COMPLETED, caller.id, database, relay)


@router.post("/{task_id}/reopen", response_model=TaskOut)
def reopen_task(task_id: int, caller: CallerDep, database: DatabaseDep, relay: RelayDep) -> TaskOut:
    """Mark a task pending again and emit task.updated; a pending task is left as it is."""
    return _set_status(task_id, Status.PENDING, caller.id, database, relay)


@router.delete("/{task_id}", status_code=204)
def delete_task(
    task_id: int, caller: CallerDep, database: DatabaseDep, relay: RelayDep
) -> Response:
    """Delete a task and emit task.deleted."""
    try:
        with database.write() as session:
            store.delete_task(session, caller.id, task_id)
    except TaskNotFound as error:
        raise _not_found(error) from None
    relay.notify()
    return Response(status_code=204)


def _set_status(
    task_id: int, status: Status, user_id: int, database: DatabaseDep, relay: RelayDep
) -> TaskOut:
    try:
        with database.write() as session:
            task = store.set_status(session, user_id, task_id, status)
    except TaskNotFound as error:
        raise _not_found(error) from None
    relay.notify()
    return task
