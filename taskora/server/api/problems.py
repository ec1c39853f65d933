"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from taskora.server.domain.rules import RuleViolation
from taskora.server.store.tasks import VersionConflict

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

# RFC 9110 renamed 422; Python's http module still uses the older phrase.
_TITLES = {422: "Unprocessable Content"}


class InvalidParameter(StarletteHTTPException):
    """A 422 for one request parameter that the route checks itself, listed in ``errors``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(422, f"invalid {field}: {message}")
        self.errors = [{"field": field, "message": message}]


def problem_response(
    status: int,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, HTTPStatus(status).phrase),
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _field_name(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location)


def _validation_errors(error: RequestValidationError) -> list[dict[str, str]]:
    errors = []
    for item in error.errors():
        message = str(item.get("msg", "invalid value")).removeprefix("Value error, ")
        if item.get("type") == "extra_forbidden":
            message = "unknown field"
        location = tuple(item.get("loc", ()))
        if item.get("type") == "json_invalid":
            # The location of a JSON syntax error ends in a character offset, not a field.
            location = location[:1]
            message = (
                f"the body is not valid JSON ({item.get('ctx', {}).get('error', 'syntax error')})"
            )
        errors.append({"field": _field_name(location), "message": message})
    return errors


async def _on_validation_error(request: Request, error: Exception) -> JSONResponse:
    errors = _validation_errors(cast(RequestValidationError, error))
    detail = "; ".join(f"invalid {item['field']}: {item['message']}" for item in errors)
    return problem_response(422, detail, errors=errors)


async def _on_http_error(request: Request, error: Exception) -> JSONResponse:
    error = cast(StarletteHTTPException, error)
    detail = error.detail if isinstance(error.detail, str) else HTTPStatus(error.status_code).phrase
    errors = error.errors if isinstance(error, InvalidParameter) else None
    return problem_response(
        error.status_code, detail, errors=errors, headers=getattr(error, "headers", None)
    )


async def _on_unexpected_error(request: Request, error: Exception) -> JSONResponse:
    logger.error("Unhandled error in %s %s", request.method, request.url.path, exc_info=error)
    return problem_response(500, "internal server error; the service log has the details")


async def _on_rule_violation(request: Request, error: Exception) -> JSONResponse:
    violation = cast(RuleViolation, error)
    errors = [{"field": violation.field, "message": violation.message}]
    return problem_response(422, f"invalid {violation.field}: {violation.message}", errors=errors)


async def _on_version_conflict(request: Request, error: Exception) -> JSONResponse:
    conflict = cast(VersionConflict, error)
    return problem_response(
        412,
        str(conflict),
        headers={"ETag": f'"{conflict.current}"'},
        current_version=conflict.current,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RuleViolation, _on_rule_violation)
    app.add_exception_handler(VersionConflict, _on_version_conflict)
    app.add_exception_handler(Exception, _on_unexpected_error)
