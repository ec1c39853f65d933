"""Idempotency keys of ``POST /api/tasks`` in a Dapr state store.

The state store and the database cannot share a transaction, so a key is claimed before
the task is created and completed after:

1. The key is claimed by saving a ``pending`` record with first-write concurrency and no
   ETag, which succeeds for one request only. The claim expires after
   :data:`CLAIM_TTL_SECONDS`, so a process that dies mid-request frees its key soon.
2. The task is created in the database.
3. The record becomes ``done`` with the response, written with the claim's ETag and the
   full TTL (``ttlInSeconds`` metadata, docs.dapr.io "State Time-to-Live (TTL)").

A second request finds ``done`` and replays it, or ``pending`` and gets a conflict.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

from dapr.clients.grpc._state import Concurrency, StateOptions
from grpc import StatusCode
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from taskora.server.dapr.sidecar import (
    CALL_FAILURES,
    CALL_TIMEOUT_SECONDS,
    Sidecar,
    describe_error,
    error_code,
)
from taskora.server.store.database import Database
from taskora.server.store.idempotency import (
    CreateInSession,
    IdempotencyUnavailable,
    IdempotentResult,
    KeyInProgress,
    KeyReused,
    StoredResponse,
    find_response,
    save_response,
)

logger = logging.getLogger(__name__)

CLAIM_TTL_SECONDS = 60
PENDING = "pending"
DONE = "done"
# daprd rejects a save whose ETag or first-write claim lost with ABORTED. Some stores
# report FAILED_PRECONDITION instead.
CONFLICT_CODES = frozenset({StatusCode.ABORTED, StatusCode.FAILED_PRECONDITION})
FIRST_WRITE = StateOptions(concurrency=Concurrency.first_write)


class StateStoreIdempotency:
    """Idempotency keys in the Dapr state store ``store``, living ``lifetime``."""

    name = "dapr state store"

    def __init__(
        self, sidecar: Sidecar, store: str, database: Database, lifetime: timedelta
    ) -> None:
        self._sidecar = sidecar
        self._store = store
        self._database = database
        self._lifetime = lifetime
        self._ttl_seconds = max(1, int(lifetime.total_seconds()))

    async def create_once(
        self, user_id: int, key: str, body_hash: str, create: CreateInSession
    ) -> IdempotentResult:
        state_key = self._state_key(user_id, key)
        existing = await self._get(state_key)
        if existing is not None and existing[0].get("status") == DONE:
            return self._answer_existing(existing[0], key, body_hash)
        # A response that the state store could not take was kept in the database.
        stored = await run_in_threadpool(self._find_in_database, user_id, key, body_hash)
        if stored is not None:
            return IdempotentResult(stored, replayed=True)
        if existing is not None:
            return self._answer_existing(existing[0], key, body_hash)

        etag = await self._claim(state_key, key, body_hash)
        if etag is None:
            # Another request claimed the key between our read and our write.
            existing = await self._get(state_key)
            if existing is None:
                raise KeyInProgress(key)
            return self._answer_existing(existing[0], key, body_hash)

        try:
            response = await run_in_threadpool(self._create, create)
        except Exception:
            await self._release(state_key, etag)
            raise

        await self._complete(state_key, etag, body_hash, response, user_id, key)
        return IdempotentResult(response, replayed=False)

    def _find_in_database(self, user_id: int, key: str, body_hash: str) -> StoredResponse | None:
        with self._database.write() as session:
            return find_response(session, user_id, key, body_hash, self._lifetime)

    def _save_in_database(
        self, user_id: int, key: str, body_hash: str, response: StoredResponse
    ) -> None:
        with self._database.write() as session:
            save_response(session, user_id, key, body_hash, response)

    @staticmethod
    def _state_key(user_id: int, key: str) -> str:
        # Hashed, because Dapr reserves "||" in keys and a client's key may contain it.
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"idempotency-{user_id}-{digest}"

    def _answer_existing(
        self, record: dict[str, Any], key: str, body_hash: str
    ) -> IdempotentResult:
        if record.get("request_hash") != body_hash:
            raise KeyReused(key)
        if record.get("status") != DONE:
            raise KeyInProgress(key)
        return IdempotentResult(
            StoredResponse(int(record["status_code"]), record["body"]), replayed=True
        )

    def _create(self, create: CreateInSession) -> StoredResponse:
        with self._database.write() as session:
            return create(session)

    async def _get(self, state_key: str) -> tuple[dict[str, Any], str] | None:
        client = await self._sidecar.client()
        try:
            response = await asyncio.wait_for(
                client.get_state(store_name=self._store, key=state_key), CALL_TIMEOUT_SECONDS
            )
        except CALL_FAILURES as error:
            raise self._unavailable("reading", error) from None
        if not response.data:
            return None
        try:
            record = json.loads(response.data)
        except ValueError:
            raise IdempotencyUnavailable(
                f"the state store {self._store!r} contains an invalid record under "
                f"{state_key!r}: delete that key, then retry"
            ) from None
        return record, response.etag

    async def _claim(self, state_key: str, key: str, body_hash: str) -> str | None:
        """Save the pending record; return its ETag, or None when another request won."""
        record = {"status": PENDING, "request_hash": body_hash}
        saved = await self._save(state_key, record, None, CLAIM_TTL_SECONDS)
        if not saved:
            return None
        existing = await self._get(state_key)
        if existing is None or existing[0].get("status") != PENDING:
            return None
        return existing[1]

    async def _complete(
        self,
        state_key: str,
        etag: str,
        body_hash: str,
        response: StoredResponse,
        user_id: int,
        key: str,
    ) -> None:
        record = {
            "status": DONE,
            "request_hash": body_hash,
            "status_code": response.status_code,
            "body": response.body,
        }
        try:
            saved = await self._save(state_key, record, etag, self._ttl_seconds)
        except IdempotencyUnavailable as error:
            saved = False
            cause = str(error)
        else:
            cause = "the claim expired and another request took the key"
        if not saved:
            # The task exists, so its response must be found by a retry, or the retry would
            # create a second task once the claim expires: the database keeps it instead.
            logger.error(
                "Storing the Idempotency-Key response of user %d in the state store failed "
                "after task %s was created (%s); keeping it in the database",
                user_id,
                response.body.get("id"),
                cause,
            )
            try:
                await run_in_threadpool(self._save_in_database, user_id, key, body_hash, response)
            except SQLAlchemyError:
                logger.exception(
                    "Keeping the Idempotency-Key response of user %d in the database failed "
                    "too; a retry after %d s may create task %s again",
                    user_id,
                    CLAIM_TTL_SECONDS,
                    response.body.get("id"),
                )

    async def _release(self, state_key: str, etag: str) -> None:
        client = await self._sidecar.client()
        try:
            await asyncio.wait_for(
                client.delete_state(
                    store_name=self._store, key=state_key, etag=etag, options=FIRST_WRITE
                ),
                CALL_TIMEOUT_SECONDS,
            )
        except CALL_FAILURES as error:
            logger.warning(
                "Releasing an Idempotency-Key claim in %r failed (%s); it expires in %d s",
                self._store,
                describe_error(error),
                CLAIM_TTL_SECONDS,
            )

    async def _save(
        self, state_key: str, record: dict[str, Any], etag: str | None, ttl_seconds: int
    ) -> bool:
        """Write ``record`` with first-write concurrency; return False on a lost race."""
        client = await self._sidecar.client()
        try:
            await asyncio.wait_for(
                client.save_state(
                    store_name=self._store,
                    key=state_key,
                    value=json.dumps(record, separators=(",", ":")),
                    etag=etag,
                    options=FIRST_WRITE,
                    state_metadata={"ttlInSeconds": str(ttl_seconds)},
                ),
                CALL_TIMEOUT_SECONDS,
            )
        except CALL_FAILURES as error:
            if error_code(error) in CONFLICT_CODES:
                return False
            raise self._unavailable("writing", error) from None
        return True

    def _unavailable(self, action: str, error: Exception) -> IdempotencyUnavailable:
        return IdempotencyUnavailable(
            f"{action} an Idempotency-Key in the Dapr state store {self._store!r} failed "
            f"({describe_error(error)}): retry the request later"
        )
