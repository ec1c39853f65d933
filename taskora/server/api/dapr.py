"""Routes that the Dapr sidecar calls: the subscription and the cron input bindings.

They are mounted only in Dapr mode. Dapr calls them at fixed paths on the app's port, so
they sit at the root, outside ``/api``, and take no user token. When Dapr is configured
with an app API token, it passes the token to the app as ``APP_API_TOKEN`` and sends it
in the ``dapr-api-token`` header, and each call here must carry it. Without one, any
client that reaches the port may call these routes. That is safe because the subscription
only wakes the log follower for events already in the log, and the checks are idempotent.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from taskora.server.api.deps import DatabaseDep, EventsDep, SettingsDep
from taskora.server.domain.tasks import utc_now
from taskora.server.events.deliveries import SubscriptionInbox
from taskora.server.events.pipeline import EventPipeline
from taskora.server.store import checks
from taskora.server.store.database import Database

logger = logging.getLogger(__name__)

SUBSCRIPTION_ROUTE = "/dapr/events/task-events"
RECURRENCE_BINDING = "recurrence-cron"
REMINDER_BINDING = "reminder-cron"
# Tasks one binding run examines per user, as for the CLI's default check.
CHECK_LIMIT = 10_000


async def require_dapr_token(
    settings: SettingsDep,
    dapr_api_token: Annotated[
        str | None, Header(description="The app API token that Dapr sends, if configured.")
    ] = None,
) -> None:
    expected = settings.app_api_token
    if expected is None:
        return
    if dapr_api_token is None or not hmac.compare_digest(
        dapr_api_token.encode(), expected.get_secret_value().encode()
    ):
        raise HTTPException(
            401,
            "missing or invalid dapr-api-token header: only the Dapr sidecar, which sends "
            "APP_API_TOKEN, may call this route",
        )


router = APIRouter(tags=["dapr"], dependencies=[Depends(require_dapr_token)])


@router.get("/dapr/subscribe")
def list_subscriptions(settings: SettingsDep) -> list[dict[str, str]]:
    """Return the service's pub/sub subscriptions, as the sidecar reads them at start."""
    return [
        {
            "pubsubname": settings.dapr_pubsub,
            "topic": settings.dapr_topic,
            "route": SUBSCRIPTION_ROUTE,
        }
    ]


@router.post(SUBSCRIPTION_ROUTE)
async def receive_task_event(request: Request) -> dict[str, str]:
    """Receive one delivered task event and return SUCCESS, RETRY or DROP."""
    inbox: SubscriptionInbox = request.app.state.inbox
    status = await inbox.receive(await request.body())
    return {"status": str(status)}


async def _run_binding(
    binding: str, check: checks.CheckFunction, database: Database, events: EventPipeline
) -> JSONResponse:
    try:
        run = await run_in_threadpool(
            checks.run_for_users, database, check, utc_now(), f"{binding} run", CHECK_LIMIT
        )
    except SQLAlchemyError:
        # Dapr ignores the response of an input binding call, so the log is the only trace.
        logger.exception("The %s run failed: listing the users failed", binding)
        return JSONResponse({"status": "failed", "binding": binding}, status_code=500)

    if run.created:
        events.notify_commit()
    body: dict[str, Any] = {"status": "ok", "binding": binding, **asdict(run)}
    if run.failed_users:
        logger.error(
            "The %s run failed for %d of %d users; see the errors above",
            binding,
            run.failed_users,
            run.users,
        )
        body["status"] = "failed"
        return JSONResponse(body, status_code=500)
    logger.info(
        "The %s run examined %d tasks of %d users and created %d events",
        binding,
        run.examined,
        run.users,
        run.created,
    )
    return JSONResponse(body)


@router.options(f"/{RECURRENCE_BINDING}")
@router.options(f"/{REMINDER_BINDING}")
def accept_binding() -> Response:
    """Tell the sidecar that this app takes the binding's events."""
    # NOTE: daprd is understood to probe each input binding's route with OPTIONS at start
    # and to skip a binding whose route returns 404; not verified against daprd here.
    return Response(status_code=200)


@router.post(f"/{RECURRENCE_BINDING}")
async def run_recurrence_binding(database: DatabaseDep, events: EventsDep) -> JSONResponse:
    """Create the missing next occurrences of every user's recurring tasks; idempotent."""
    return await _run_binding(RECURRENCE_BINDING, checks.repair_series, database, events)


@router.post(f"/{REMINDER_BINDING}")
async def run_reminder_binding(database: DatabaseDep, events: EventsDep) -> JSONResponse:
    """Emit task.reminder for every user's due reminders; idempotent."""
    return await _run_binding(REMINDER_BINDING, checks.send_due_reminders, database, events)
