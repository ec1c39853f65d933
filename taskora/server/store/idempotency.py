"""Idempotency keys of ``POST /api/tasks``: the first response, replayed for retries.

:class:`IdempotencyStore` is the interface the API uses. :class:`DatabaseIdempotency` keeps the keys
in the database, in the transaction that creates the task; with Dapr the state store
implementation in ``taskora.server.dapr.state`` keeps them instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from taskora.server.domain.tasks import utc_now
from taskora.server.store.database import Database
from taskora.server.store.models import IdempotencyKey

logger = logging.getLogger(__name__)

KEY_LIFETIME = timedelta(hours=24)


class KeyReused(Exception):
    """The key was first sent with another request body."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used with a different body: "
            "use a new key for a new request"
        )


class KeyInProgress(Exception):
    """Another request with the same key has not finished yet."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"a request with Idempotency-Key {key!r} is still being processed: "
            "retry in a few seconds to receive its response"
        )


class IdempotencyUnavailable(Exception):
    """The store of idempotency keys failed; the message names the store and the cause."""


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class IdempotentResult:
    """The response of a keyed request; ``replayed`` when it is the first request's."""

    response: StoredResponse
    replayed: bool


# Creates the task in the given write session and returns the response to store.
CreateInSession = Callable[[Session], StoredResponse]


class IdempotencyStore(Protocol):
    """Runs a keyed request at most once per (user, key) while the key lives.

    ``create_once`` raises :class:`KeyReused` for the same key with another body,
    :class:`KeyInProgress` while a first request with the key runs, and
    :class:`IdempotencyUnavailable` when the store fails.
    """

    name: str

    async def create_once(
        self, user_id: int, key: str, body_hash: str, create: CreateInSession
    ) -> IdempotentResult: ...


class DatabaseIdempotency:
    """Keys in the database table, written in the transaction that creates the task."""

    name = "database"

    def __init__(self, database: Database, lifetime: timedelta = KEY_LIFETIME) -> None:
        self._database = database
        self._lifetime = lifetime

    async def create_once(
        self, user_id: int, key: str, body_hash: str, create: CreateInSession
    ) -> IdempotentResult:
        try:
            return await run_in_threadpool(self._create_once, user_id, key, body_hash, create)
        except IntegrityError:
            # A concurrent request with the same key committed first; replay its response.
            logger.info("Idempotency-Key of user %d was stored concurrently; replaying", user_id)
            return await run_in_threadpool(self._create_once, user_id, key, body_hash, create)

    def _create_once(
        self, user_id: int, key: str, body_hash: str, create: CreateInSession
    ) -> IdempotentResult:
        with self._database.write() as session:
            stored = find_response(session, user_id, key, body_hash, self._lifetime)
            if stored is not None:
                return IdempotentResult(stored, replayed=True)
            response = create(session)
            save_response(session, user_id, key, body_hash, response)
            return IdempotentResult(response, replayed=False)


def request_hash(body: dict[str, Any]) -> str:
    """Return a digest of the validated request body, independent of key order."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def find_response(
    session: Session,
    user_id: int,
    key: str,
    body_hash: str,
    lifetime: timedelta = KEY_LIFETIME,
) -> StoredResponse | None:
    """Return the stored response for ``key``, None if there is none that is still valid."""
    row = session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    )
    if row is None:
        return None
    if row.created_at < utc_now() - lifetime:
        session.delete(row)
        session.flush()
        return None
    if row.request_hash != body_hash:
        raise KeyReused(key)
    return StoredResponse(row.status_code, json.loads(row.response))


def save_response(
    session: Session, user_id: int, key: str, body_hash: str, response: StoredResponse
) -> None:
    session.add(
        IdempotencyKey(
            user_id=user_id,
            key=key,
            request_hash=body_hash,
            status_code=response.status_code,
            response=json.dumps(response.body),
            created_at=utc_now(),
        )
    )


def delete_expired(session: Session, lifetime: timedelta = KEY_LIFETIME) -> int:
    """Delete keys older than ``lifetime``; return how many."""
    result = session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < utc_now() - lifetime)
    )
    return result.rowcount or 0
