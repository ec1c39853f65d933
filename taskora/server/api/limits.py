"""A limit on request body size, checked before a handler reads the body into memory."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskora.server.api.problems import problem_response

logger = logging.getLogger(__name__)


class BodySizeLimit:
    """Return 413 for a body over ``max_bytes``, by its Content-Length or while it streams."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return (
            f"request body too large: the limit is {self.max_bytes} bytes (TASKORA_MAX_BODY_BYTES)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            logger.info("Rejected a %s-byte body on %s", declared.decode(), scope["path"])
            response = problem_response(413, self._message())
            await response(scope, receive, send)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI passes HTTPException raised while reading the body through to
                    # the exception handlers, which turn it into a problem document.
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited_receive, send)
