"""Idempotency keys of ``POST /api/tasks``: the first response, replayed for retries."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from taskora.server.domain.tasks import utc_now
from taskora.server.store.models import IdempotencyKey

KEY_LIFETIME = timedelta(hours=24)


class KeyReused(Exception):
    """The key was first sent with another request body."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used with a different body: "
            "use a new key for a new request"
        )


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]


def request_hash(body: dict[str, Any]) -> str:
    """Return a digest of the validated request body, independent of key order."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def find_response(
    session: Session, user_id: int, key: str, body_hash: str
) -> StoredResponse | None:
    """Return the stored response for ``key``, None if there is none that is still valid."""
    row = session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    )
    if row is None:
        return None
    if row.created_at < utc_now() - KEY_LIFETIME:
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


def delete_expired(session: Session) -> int:
    """Delete keys older than their lifetime; return how many."""
    result = session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < utc_now() - KEY_LIFETIME)
    )
    return result.rowcount or 0
