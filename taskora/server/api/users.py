"""Routes about the calling user."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from taskora.server.api.deps import CallerDep, DatabaseDep
from taskora.server.store.models import User

router = APIRouter(prefix="/api/users", tags=["users"])


class UserOut(BaseModel):
    id: int
    name: str
    created_at: datetime


@router.get("/me", response_model=UserOut)
def get_me(caller: CallerDep, database: DatabaseDep) -> UserOut:
    """Return the user that owns the request's token."""
    with database.read() as session:
        user = session.get_one(User, caller.id)
        return UserOut(id=user.id, name=user.name, created_at=user.created_at)
