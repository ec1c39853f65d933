"""The Dapr building blocks the service uses: pub/sub, secrets, state and the sidecar.

This is the only package that imports the Dapr SDK. The rest of the service uses the
``Publisher``, ``SecretSource`` and ``IdempotencyStore`` interfaces, whose Dapr-less
implementations are the in-process publisher, the environment and the database.
"""

from __future__ import annotations

import logging
import os

# gRPC's C core prints its own INFO lines (such as a GOAWAY from the sidecar) to stderr
# unless GRPC_VERBOSITY is set. It reads the variable when grpc is first imported, below.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from taskora.config import Settings
from taskora.server.dapr.publisher import DaprPublisher
from taskora.server.dapr.secrets import DaprSecrets
from taskora.server.dapr.sidecar import (
    Sidecar,
    SidecarState,
    SidecarUnavailable,
    describe_unavailable,
)
from taskora.server.dapr.state import StateStoreIdempotency
from taskora.server.secrets import apply_secrets

logger = logging.getLogger(__name__)


async def connect(settings: Settings) -> tuple[Sidecar, Settings]:
    """Wait for the sidecar, then return it and ``settings`` with the store's secrets.

    Raises :class:`SidecarUnavailable` when the sidecar is not ready within
    ``dapr_sidecar_wait_seconds``.
    """
    sidecar = Sidecar(settings)
    sidecar.start()
    try:
        if await sidecar.wait_settled() is not SidecarState.READY:
            wait_seconds = settings.dapr_sidecar_wait_seconds
            raise SidecarUnavailable(describe_unavailable(sidecar, wait_seconds))
        await sidecar.client()
        secrets = DaprSecrets(sidecar, settings.dapr_secret_store)
        resolved = await apply_secrets(settings, secrets)
    except BaseException:
        await sidecar.close()
        raise
    return sidecar, resolved


__all__ = [
    "DaprPublisher",
    "DaprSecrets",
    "Sidecar",
    "SidecarState",
    "SidecarUnavailable",
    "StateStoreIdempotency",
    "connect",
]
