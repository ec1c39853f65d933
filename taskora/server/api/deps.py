"""Dependencies shared by the routers, declared once as ``Annotated`` aliases."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from taskora.config import Settings
from taskora.server.events.pipeline import EventPipeline
from taskora.server.store.cursors import CursorCodec
from taskora.server.store.database import Database
from taskora.server.store.idempotency import IdempotencyStore
from taskora.server.store.users import authenticate, hash_token


@dataclass(frozen=True)
class Caller:
    """The authenticated user of a request."""

    id: int
    name: str
    timezone: str


# Dependencies that only read app.state are coroutines: FastAPI runs a plain function
# dependency in the thread pool, and each hand-over costs more than the work.
async def get_database(request: Request) -> Database:
    return request.app.state.database


async def get_events(request: Request) -> EventPipeline:
    return request.app.state.events


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_cursors(request: Request) -> CursorCodec:
    return request.app.state.cursors


async def get_idempotency(request: Request) -> IdempotencyStore:
    return request.app.state.idempotency


DatabaseDep = Annotated[Database, Depends(get_database)]
EventsDep = Annotated[EventPipeline, Depends(get_events)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CursorsDep = Annotated[CursorCodec, Depends(get_cursors)]
IdempotencyDep = Annotated[IdempotencyStore, Depends(get_idempotency)]

_bearer = HTTPBearer(auto_error=False, description="An API token from `taskora users create`.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def get_caller(
    request: Request,
    database: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            401, "missing bearer token: send 'Authorization: Bearer <token>'", _CHALLENGE
        )
    callers: CallerCache = request.app.state.callers
    token_hash = hash_token(credentials.credentials)
    caller = callers.get(token_hash)
    if caller is not None:
        return caller

    caller = await run_in_threadpool(_look_up_caller, database, credentials.credentials)
    if caller is None:
        raise HTTPException(401, "invalid API token", _CHALLENGE)
    callers.put(token_hash, caller)
    return caller


def _look_up_caller(database: Database, token: str) -> Caller | None:
    with database.read() as session:
        user = authenticate(session, token)
        if user is None:
            return None
        return Caller(id=user.id, name=user.name, timezone=user.timezone)


class CallerCache:
    """Recently authenticated tokens, so most requests skip the token query.

    Entries live ``ttl_seconds``; changing a user drops that user's entries at once.
    NOTE: a deleted token would keep working until its entry expires; nothing deletes
    tokens yet.
    """

    def __init__(self, ttl_seconds: float = 30.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._entries: dict[str, tuple[float, Caller]] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> Caller | None:
        with self._lock:
            entry = self._entries.get(token_hash)
            if entry is None:
                return None
            if entry[0] < time.monotonic():
                del self._entries[token_hash]
                return None
            return entry[1]

    def put(self, token_hash: str, caller: Caller) -> None:
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[token_hash] = (time.monotonic() + self._ttl, caller)

    def forget_user(self, user_id: int) -> None:
        with self._lock:
            stale = [key for key, (_, caller) in self._entries.items() if caller.id == user_id]
            for key in stale:
                del self._entries[key]


CallerDep = Annotated[Caller, Depends(get_caller)]
