"""Routes about the calling user."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from taskora.server.api.deps import CallerDep, DatabaseDep
from taskora.server.domain.tasks import TimezoneName
from taskora.server.store.models import User

router = APIRouter(prefix="/api/users", tags=["users"])


class UserOut(BaseModel):
    id: int
    name: str
    timezone: str
    created_at: datetime


class UserUpdate(BaseModel):
    """The body of ``PATCH /api/users/me``."""

    model_config = ConfigDict(extra="forbid")

    timezone: TimezoneName


def _to_out(user: User) -> UserOut:
    return UserOut(id=user.id, name=user.name, timezone=user.timezone, created_at=user.created_at)


@router.get("/me", response_model=UserOut)
def get_me(caller: CallerDep, database: DatabaseDep) -> UserOut:
    """Return the user that owns the request's token."""
    with database.read() as session:
        return _to_out(session.get_one(User, caller.id))


@router.patch("/me", response_model=UserOut)
def update_me(
    request: Request, body: UserUpdate, caller: CallerDep, database: DatabaseDep
) -> UserOut:
    """Change the caller's time zone, the default of their new tasks."""
    with database.write() as session:
        user = session.get_one(User, caller.id)
        user.timezone = body.timezone
        session.flush()
        updated = _to_out(user)
    request.app.state.callers.forget_user(caller.id)
    return updated
