"""Health and readiness probes."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from taskora.server.api.deps import DatabaseDep

logger = logging.getLogger(__name__)

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Return 200 while the process runs."""
    return {"status": "ok"}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    """Return the service's metrics in the Prometheus text format."""
    registry: CollectorRegistry = request.app.state.metrics
    return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/readyz")
async def readyz(database: DatabaseDep) -> JSONResponse:
    """Return 200 when a database query succeeds, 503 otherwise."""
    try:
        await run_in_threadpool(database.ping)
    except SQLAlchemyError as error:
        logger.warning(
            "Readiness check failed: the database query failed: %s", type(error).__name__
        )
        return JSONResponse({"status": "unavailable", "checks": {"database": "unavailable"}}, 503)
    return JSONResponse({"status": "ready", "checks": {"database": "ok"}})
