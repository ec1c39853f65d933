"""Dependencies shared by the routers, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from taskora.config import Settings
from taskora.server.events.pipeline import EventPipeline
from taskora.server.store.cursors import CursorCodec
from taskora.server.store.database import Database
from taskora.server.store.users import authenticate


@dataclass(frozen=True)
class Caller:
    """The authenticated user of a request."""

    id: int
    name: str
    timezone: str


def get_database(request: Request) -> Database:
    return request.app.state.database


def get_events(request: Request) -> EventPipeline:
    return request.app.state.events


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_cursors(request: Request) -> CursorCodec:
    return request.app.state.cursors


DatabaseDep = Annotated[Database, Depends(get_database)]
EventsDep = Annotated[EventPipeline, Depends(get_events)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CursorsDep = Annotated[CursorCodec, Depends(get_cursors)]

_bearer = HTTPBearer(auto_error=False, description="An API token from `taskora users create`.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def get_caller(
    database: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401, "missing bearer token: send 'Authorization: Bearer <token>'", _CHALLENGE
        )
    with database.read() as session:
        user = authenticate(session, credentials.credentials)
        if user is None:
            raise HTTPException(401, "invalid API token", _CHALLENGE)
        return Caller(id=user.id, name=user.name, timezone=user.timezone)


CallerDep = Annotated[Caller, Depends(get_caller)]
