"""PostgreSQL LISTEN: wakes this process's workers when another process commits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

import psycopg
from psycopg import sql

from taskora.server.store.database import describe_url, normalize_url

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0


def libpq_url(url: str) -> str:
    """Return ``url`` in the form libpq accepts (no SQLAlchemy driver suffix)."""
    return normalize_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class NotificationListener:
    """Holds one connection that listens on ``channels`` and calls their callbacks.

    After a lost connection it reconnects with backoff and then calls every callback once,
    because notifications sent while it was away are gone.
    """

    def __init__(self, url: str, channels: Mapping[str, Callable[[], None]]) -> None:
        self._url = url
        self._channels = dict(channels)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="postgresql-listener")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
        logger.info("Stopped listening for PostgreSQL notifications")

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as error:
                failures += 1
                delay = min(MAX_BACKOFF_SECONDS, 0.2 * 2**failures)
                logger.warning(
                    "Listening for notifications on %s failed (%s); reconnecting in %.1f s",
                    describe_url(self._url),
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                continue

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            libpq_url(self._url), autocommit=True
        ) as connection:
            for channel in self._channels:
                await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            logger.info("Listening for notifications on %s", ", ".join(self._channels))
            # Anything committed while no connection listened is picked up now.
            for callback in self._channels.values():
                callback()
            async for notification in connection.notifies():
                callback = self._channels.get(notification.channel)
                if callback is not None:
                    callback()
