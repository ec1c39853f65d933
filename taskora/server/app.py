"""The FastAPI application and its lifespan: the database, the outbox relay and the SSE hub."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from taskora import __version__
from taskora.config import Settings
from taskora.server.api import events, ops, tasks, users
from taskora.server.api.problems import install_problem_handlers
from taskora.server.events.hub import SseHub
from taskora.server.events.publishers import InProcessPublisher
from taskora.server.events.relay import OutboxRelay
from taskora.server.store import database as store_database
from taskora.server.store.database import Database, describe_url

logger = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    """Build the service for ``settings``; the database is opened when the app starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.resolved_database_url
        if settings.migrate_on_start:
            await run_in_threadpool(store_database.upgrade, url)
        database = Database(url)
        hub = SseHub(queue_size=settings.sse_queue_size)
        relay = OutboxRelay(database, InProcessPublisher(hub), settings.relay_poll_seconds)
        app.state.settings = settings
        app.state.database = database
        app.state.hub = hub
        app.state.relay = relay

        relay.start()
        logger.info("Service started on the database %s", describe_url(url))
        try:
            yield
        finally:
            hub.close_all()
            await relay.stop()
            database.dispose()
            logger.info("Service stopped")

    app = FastAPI(
        title="Taskora",
        version=__version__,
        summary="Tasks whose every change is a CloudEvent, streamed to their owner.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.include_router(tasks.router)
    app.include_router(events.router)
    app.include_router(users.router)
    app.include_router(ops.router)
    return app
