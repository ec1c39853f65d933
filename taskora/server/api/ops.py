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
async def readyz(request: Request, database: DatabaseDep) -> JSONResponse:
    """Return 200 when a database query succeeds, 503 otherwise; report the Dapr sidecar.

    A sidecar that is down does not make the service unready: writes keep working and
    their events wait in the outbox until the sidecar is back.
    """
    checks: dict[str, str] = {}
    sidecar = getattr(request.app.state, "sidecar", None)
    if sidecar is not None:
        checks["sidecar"] = str(await sidecar.probe())

    try:
        await run_in_threadpool(database.ping)
    except SQLAlchemyError as error:
        logger.warning(
            "Readiness check failed: the database query failed: %s", type(error).__name__
        )
        checks["database"] = "unavailable"
        return JSONResponse({"status": "unavailable", "checks": checks}, 503)
    checks["database"] = "ok"
    return JSONResponse({"status": "ready", "checks": checks})
