"""The FastAPI application and its lifespan: the database and the event pipeline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from taskora import __version__
from taskora.config import Settings
from taskora.server.api import checks, events, ops, tasks, users
from taskora.server.api import dapr as dapr_routes
from taskora.server.api.deps import CallerCache
from taskora.server.api.limits import BodySizeLimit
from taskora.server.api.problems import install_problem_handlers
from taskora.server.domain.tasks import utc_now
from taskora.server.events.deliveries import SubscriptionInbox
from taskora.server.events.pipeline import EventPipeline
from taskora.server.events.publishers import InProcessPublisher, Publisher
from taskora.server.metrics import build_registry
from taskora.server.store import checks as checks_store
from taskora.server.store import database as store_database
from taskora.server.store import idempotency
from taskora.server.store.cursors import CursorCodec
from taskora.server.store.database import Database, describe_url
from taskora.server.store.idempotency import DatabaseIdempotency, IdempotencyStore
from taskora.server.store.models import ServiceKey

if TYPE_CHECKING:
    from taskora.server.dapr.sidecar import Sidecar

logger = logging.getLogger(__name__)


IDEMPOTENCY_CLEANUP_SECONDS = 3600

# Prepares the database of the resolved settings (migrations or checks, the local user)
# before the service opens it. It raises ServiceStartError to stop the start.
PrepareDatabase = Callable[[Settings], None]


class ServiceStartError(Exception):
    """Error raised when the service cannot start; the message names the cause and the fix."""


def load_service_key(database: Database, name: str) -> bytes:
    """Return the shared key ``name`` that the migrations stored."""
    with database.read() as session:
        row = session.get(ServiceKey, name)
        if row is None:
            raise RuntimeError(
                f"the database has no service key {name!r}: run `taskora db upgrade`"
            )
        return bytes.fromhex(row.value)


async def _delete_expired_keys(database: Database, lifetime: timedelta) -> None:
    """Delete expired idempotency keys once an hour, for as long as the service runs."""
    while True:
        try:
            deleted = await run_in_threadpool(_delete_expired_keys_once, database, lifetime)
            if deleted:
                logger.info("Deleted %d expired idempotency keys", deleted)
        except SQLAlchemyError:
            logger.exception("Deleting expired idempotency keys failed; retrying in an hour")
        await asyncio.sleep(IDEMPOTENCY_CLEANUP_SECONDS)


def _delete_expired_keys_once(database: Database, lifetime: timedelta) -> int:
    with database.write() as session:
        return idempotency.delete_expired(session, lifetime)


async def _run_scheduled_checks(database: Database, events: EventPipeline, seconds: float) -> None:
    """Run the recurrence and reminder checks for every user every ``seconds``."""
    logger.info("Scheduled checks every %g s started", seconds)
    try:
        while True:
            await asyncio.sleep(seconds)
            now = utc_now()
            try:
                recurrence = await run_in_threadpool(
                    checks_store.run_for_users,
                    database,
                    checks_store.repair_series,
                    now,
                    "scheduled recurrence check",
                )
                reminders = await run_in_threadpool(
                    checks_store.run_for_users,
                    database,
                    checks_store.send_due_reminders,
                    now,
                    "scheduled reminder check",
                )
            except SQLAlchemyError:
                logger.exception("The scheduled checks failed; trying again in %g s", seconds)
                continue
            if recurrence.created or reminders.created:
                events.notify_commit()
                logger.info(
                    "Scheduled checks: next occurrences created: %d, reminders sent: %d",
                    recurrence.created,
                    reminders.created,
                )
    finally:
        logger.info("Scheduled checks stopped")


def create_app(
    settings: Settings,
    publisher: Publisher | None = None,
    prepare: PrepareDatabase | None = None,
) -> FastAPI:
    """Build the service for ``settings``; the database is opened when the app starts.

    ``publisher`` receives every event. By default it is Dapr pub/sub in Dapr mode and
    otherwise one that acknowledges without sending anything. ``prepare``, when given,
    replaces the start-up's own migrations. It gets the settings with the secret store's
    secrets applied, because in Dapr mode the database URL may come from there.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.dapr_enabled:
            async with _run_service(app, settings, settings, publisher, None, prepare):
                yield
            return

        # Imported only in Dapr mode, because the SDK loads grpc and protobuf.
        from taskora.server import dapr
        from taskora.server.secrets import SecretUnavailable

        # The port already listens (the runner binds it before the app starts), so the
        # sidecar can find the app while this waits for it.
        try:
            sidecar, resolved = await dapr.connect(settings)
        except (dapr.SidecarUnavailable, SecretUnavailable) as error:
            raise ServiceStartError(str(error)) from None
        try:
            async with _run_service(app, settings, resolved, publisher, sidecar, prepare):
                yield
        finally:
            await sidecar.close()

    app = FastAPI(
        title="Taskora",
        version=__version__,
        summary="Tasks whose every change is a CloudEvent, streamed to their owner.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.include_router(tasks.router)
    app.include_router(checks.router)
    app.include_router(events.router)
    app.include_router(users.router)
    app.include_router(ops.router)
    if settings.dapr_enabled:
        app.include_router(dapr_routes.router)
    return app


@asynccontextmanager
async def _run_service(
    app: FastAPI,
    given: Settings,
    settings: Settings,
    publisher: Publisher | None,
    sidecar: Sidecar | None,
    prepare: PrepareDatabase | None,
) -> AsyncIterator[None]:
    """Open the database, start the event pipeline and fill ``app.state``.

    ``settings`` are the ``given`` settings with the secret store's secrets applied.
    """
    url = settings.resolved_database_url
    # NOTE: a database URL from the secret store is migrated here even with --no-migrate,
    # because nothing before the app's start could read it.
    from_secret_store = settings.database_url != given.database_url
    if prepare is not None:
        await run_in_threadpool(prepare, settings)
    elif settings.migrate_on_start or from_secret_store:
        await run_in_threadpool(store_database.upgrade, url)
    database = Database(url)
    try:
        if settings.cursor_key is not None:
            cursor_key = settings.cursor_key.get_secret_value().encode()
        else:
            cursor_key = await run_in_threadpool(load_service_key, database, "cursor")
        events = EventPipeline(
            settings, database, publisher or _default_publisher(settings, sidecar)
        )
        app.state.settings = settings
        app.state.database = database
        app.state.events = events
        app.state.cursors = CursorCodec(cursor_key)
        app.state.callers = CallerCache()
        app.state.metrics = build_registry(events, asyncio.get_running_loop())
        app.state.sidecar = sidecar
        app.state.idempotency = _idempotency_store(settings, database, sidecar)
        app.state.inbox = SubscriptionInbox(database, events.follower)

        events.start()
        cleanup = asyncio.create_task(
            _delete_expired_keys(database, settings.idempotency_ttl), name="idempotency-cleanup"
        )
        scheduled = None
        # Under Dapr the cron bindings run the checks, so the service does not.
        if sidecar is None and settings.check_interval_seconds > 0:
            scheduled = asyncio.create_task(
                _run_scheduled_checks(database, events, settings.check_interval_seconds),
                name="scheduled-checks",
            )
        logger.info("Service started on the database %s", describe_url(url))
        if sidecar is not None:
            logger.info(
                "Using Dapr: events go to %s/%s, idempotency keys to the state store %s",
                settings.dapr_pubsub,
                settings.dapr_topic,
                settings.dapr_state_store,
            )
        try:
            yield
        finally:
            cleanup.cancel()
            if scheduled is not None:
                scheduled.cancel()
            await events.stop()
    finally:
        database.dispose()
        logger.info("Service stopped")


def _default_publisher(settings: Settings, sidecar: Sidecar | None) -> Publisher:
    if sidecar is None:
        return InProcessPublisher()
    from taskora.server.dapr import DaprPublisher

    return DaprPublisher(sidecar, settings.dapr_pubsub, settings.dapr_topic)


def _idempotency_store(
    settings: Settings, database: Database, sidecar: Sidecar | None
) -> IdempotencyStore:
    if sidecar is None:
        return DatabaseIdempotency(database, settings.idempotency_ttl)
    from taskora.server.dapr import StateStoreIdempotency

    return StateStoreIdempotency(
        sidecar, settings.dapr_state_store, database, settings.idempotency_ttl
    )
