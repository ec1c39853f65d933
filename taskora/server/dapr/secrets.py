"""Reading secrets from a Dapr secret store."""

from __future__ import annotations

import asyncio
import logging

import grpc

from taskora.server.dapr.sidecar import (
    CALL_ERRORS,
    CALL_TIMEOUT_SECONDS,
    Sidecar,
    describe_error,
    error_code,
)
from taskora.server.secrets import DATABASE_URL_SECRET, SecretUnavailable

logger = logging.getLogger(__name__)


class DaprSecrets:
    """Secrets of one Dapr secret store component, read by key.

    A ``kubernetes`` store returns every data key of the Secret named ``key``; a
    ``local.file`` store returns one entry named ``key``. Both are read the same way: the
    entry named ``key``, or the only entry there is.
    """

    def __init__(self, sidecar: Sidecar, store: str) -> None:
        self._sidecar = sidecar
        self.name = f"the Dapr secret store {store!r}"
        self._store = store

    async def get(self, key: str) -> str | None:
        client = await self._sidecar.client()
        try:
            response = await asyncio.wait_for(
                client.get_secret(store_name=self._store, key=key), CALL_TIMEOUT_SECONDS
            )
        except CALL_ERRORS as error:
            if error_code(error) == grpc.StatusCode.INVALID_ARGUMENT:
                raise SecretUnavailable(
                    f"reading the secret {key!r} from {self.name} failed "
                    f"({describe_error(error)}): check TASKORA_DAPR_SECRET_STORE and the "
                    "sidecar's components"
                ) from None
            # NOTE: daprd reports a missing key and a failing store alike (ERR_SECRET_GET,
            # gRPC INTERNAL), so both fall back to the environment. The details name the key
            # and the store, never the value.
            # Only the database URL matters at every start; without the other secrets the
            # service has working defaults, so their absence is expected, not a warning.
            level = logging.WARNING if key == DATABASE_URL_SECRET else logging.INFO
            logger.log(
                level,
                "The secret %r is not available from %s (%s); using its TASKORA_* setting",
                key,
                self.name,
                describe_error(error),
            )
            return None
        except TimeoutError:
            raise SecretUnavailable(
                f"reading the secret {key!r} from {self.name} timed out after "
                f"{CALL_TIMEOUT_SECONDS:.0f} s: check the sidecar's log"
            ) from None

        values = dict(response.secret)
        if key in values:
            return values[key]
        if len(values) == 1:
            return next(iter(values.values()))
        if values:
            raise SecretUnavailable(
                f"the secret {key!r} in {self.name} has {len(values)} entries and none is "
                f"named {key!r}: add an entry {key!r} to it"
            )
        return None
