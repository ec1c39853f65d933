"""The Dapr sidecar beside this process: its health and the SDK's gRPC client.

Deliberate differences from the SDK's defaults:

- The health wait is our own async loop on ``/v1.0/healthz/outbound``. The SDK's
  ``DaprClient`` constructor (dapr 1.19) runs a blocking wait of up to 60 s that prints to
  stdout, so the client is only built right after our wait succeeded, when the SDK's
  check passes at its first request. It cannot move to a thread, because grpc.aio binds
  the channel to the running event loop.
- Every call gets a deadline (:data:`CALL_TIMEOUT_SECONDS`); the SDK sets none by default,
  so a hung sidecar would block the relay forever.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from enum import StrEnum

import grpc
import httpx
from dapr.aio.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError, DaprInternalError

from taskora.config import Settings

logger = logging.getLogger(__name__)

DEFAULT_HTTP_PORT = 3500
DEFAULT_GRPC_PORT = 50001
CALL_TIMEOUT_SECONDS = 10.0
PROBE_TIMEOUT_SECONDS = 1.0
WAIT_INTERVAL_SECONDS = 0.5
# Dapr sends this header with DAPR_API_TOKEN when the sidecar requires a token
# (docs.dapr.io, "Enable API token authentication in Dapr").
API_TOKEN_HEADER = "dapr-api-token"


# The async client (dapr 1.19) raises three kinds of errors for a failed call: most methods
# raise DaprGrpcError, get_secret lets grpc's AioRpcError through, and save_state raises
# DaprInternalError, which has no status code but keeps the AioRpcError as __cause__.
CALL_ERRORS: tuple[type[Exception], ...] = (DaprGrpcError, DaprInternalError, grpc.RpcError)
# A failed call, or one cut off at CALL_TIMEOUT_SECONDS by asyncio.wait_for.
CALL_FAILURES: tuple[type[Exception], ...] = (*CALL_ERRORS, TimeoutError)


def _rpc_error(error: BaseException) -> BaseException | None:
    """Return the error in ``error``'s chain (itself, its cause or context) with a status code."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "code", None)
        if callable(code) and isinstance(code(), grpc.StatusCode):
            return current
        current = current.__cause__ or current.__context__
    return None


def error_code(error: BaseException) -> grpc.StatusCode | None:
    """Return the gRPC status code of a failed sidecar call, if its error chain has one."""
    found = _rpc_error(error)
    return found.code() if found is not None else None  # type: ignore[attr-defined]


def describe_error(error: BaseException) -> str:
    """Return the status code and details of a failed sidecar call, for logs and errors."""
    if isinstance(error, TimeoutError):
        return f"timed out after {CALL_TIMEOUT_SECONDS:.0f} s"
    found = _rpc_error(error)
    if found is None:
        return f"{type(error).__name__}: {error}"
    details = getattr(found, "details", None)
    text = details() if callable(details) else str(found)
    return f"{found.code().name}: {text}"  # type: ignore[attr-defined]


class SidecarState(StrEnum):
    """The sidecar's health as the last check found it."""

    WAITING = "waiting"
    READY = "ok"
    UNAVAILABLE = "unavailable"


class SidecarUnavailable(Exception):
    """The sidecar did not become ready in time; the message names its address."""


class Sidecar:
    """Health checks of the sidecar and the one gRPC client that talks to it.

    :meth:`start` runs the bounded start-up wait as a background task, so the service keeps
    listening meanwhile. :meth:`probe` checks once, for ``/readyz``.
    """

    def __init__(self, settings: Settings) -> None:
        http_port = settings.dapr_http_port or DEFAULT_HTTP_PORT
        grpc_port = settings.dapr_grpc_port or DEFAULT_GRPC_PORT
        self.health_url = f"http://127.0.0.1:{http_port}/v1.0/healthz/outbound"
        self.grpc_address = f"127.0.0.1:{grpc_port}"
        self.state = SidecarState.WAITING
        self._wait_seconds = settings.dapr_sidecar_wait_seconds
        headers = {}
        api_token = os.environ.get("DAPR_API_TOKEN")
        if api_token:
            headers[API_TOKEN_HEADER] = api_token
        self._http = httpx.AsyncClient(headers=headers, timeout=PROBE_TIMEOUT_SECONDS)
        # httpx logs every request at INFO, which would be a line per /readyz call. The
        # service makes no other httpx requests, and the checks log their own changes.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self._client: DaprClient | None = None
        self._client_lock = asyncio.Lock()
        self._wait_task: asyncio.Task[SidecarState] | None = None

    def start(self) -> None:
        """Start waiting for the sidecar in the background."""
        self._start_wait()

    def _start_wait(self) -> asyncio.Task[SidecarState]:
        if self._wait_task is None:
            self._wait_task = asyncio.create_task(self._wait(), name="dapr-sidecar-wait")
        return self._wait_task

    async def wait_settled(self) -> SidecarState:
        """Return the outcome of the start-up wait once it has one."""
        return await asyncio.shield(self._start_wait())

    async def _wait(self) -> SidecarState:
        logger.info(
            "Waiting up to %.0f s for the Dapr sidecar at %s", self._wait_seconds, self.health_url
        )
        deadline = time.monotonic() + self._wait_seconds
        attempts = 0
        while True:
            attempts += 1
            reason = await self._check()
            if reason is None:
                self.state = SidecarState.READY
                logger.info("The Dapr sidecar is ready after %d health checks", attempts)
                return self.state
            if time.monotonic() >= deadline:
                self.state = SidecarState.UNAVAILABLE
                logger.error(
                    "The Dapr sidecar at %s was not ready within %.0f s (%d health checks, "
                    "last: %s)",
                    self.health_url,
                    self._wait_seconds,
                    attempts,
                    reason,
                )
                return self.state
            if attempts == 1 or attempts % 20 == 0:
                logger.info("The Dapr sidecar is not ready yet (%s); still waiting", reason)
            await asyncio.sleep(WAIT_INTERVAL_SECONDS)

    async def probe(self) -> SidecarState:
        """Check the sidecar's health once and return the new state, logging a change."""
        if self._wait_task is not None and not self._wait_task.done():
            return SidecarState.WAITING
        reason = await self._check()
        state = SidecarState.READY if reason is None else SidecarState.UNAVAILABLE
        if state != self.state:
            if state is SidecarState.READY:
                logger.info("The Dapr sidecar at %s is ready again", self.health_url)
            else:
                logger.warning("The Dapr sidecar at %s is unavailable: %s", self.health_url, reason)
        self.state = state
        return state

    async def _check(self) -> str | None:
        """Return None when the sidecar reports ready, otherwise why it is not."""
        try:
            response = await self._http.get(self.health_url)
        except httpx.TransportError as error:
            return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        if response.status_code // 100 != 2:
            return f"HTTP {response.status_code}"
        return None

    async def client(self) -> DaprClient:
        """Return the SDK's async client, building it on first use."""
        async with self._client_lock:
            if self._client is None:
                # NOTE: the constructor's own health check blocks the event loop. It returns
                # at once after a successful wait, but takes up to DAPR_HEALTH_TIMEOUT when
                # the sidecar went down in between.
                self._client = DaprClient(self.grpc_address)
                logger.info("Connected the Dapr client to %s", self.grpc_address)
            return self._client

    async def close(self) -> None:
        if self._wait_task is not None and not self._wait_task.done():
            self._wait_task.cancel()
        if self._client is not None:
            await self._client.close()
            self._client = None
        await self._http.aclose()


def describe_unavailable(sidecar: Sidecar, wait_seconds: float) -> str:
    """Return the start-up error for a sidecar that never became ready."""
    return (
        f"the Dapr sidecar at {sidecar.health_url} was not ready within {wait_seconds:.0f} s, "
        "so the secrets could not be read from its secret store: start daprd beside the "
        "service (or `taskora serve --dapr`), raise TASKORA_DAPR_SIDECAR_WAIT_SECONDS, or "
        "unset TASKORA_DAPR, DAPR_HTTP_PORT and DAPR_GRPC_PORT to run without Dapr"
    )
