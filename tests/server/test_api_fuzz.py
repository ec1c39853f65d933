"""Property-based requests from the service's own OpenAPI document: no input gives a 5xx.

schemathesis generates requests that fit the schema and requests that break it, for every
operation, and each must get an answer below 500. The event stream is left out because it
never ends on its own. The examples per operation and mode are bounded, so the run is short,
and derandomized, so a run is repeatable; raise MAX_EXAMPLES locally to search further.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.conftest import LiveServer

MAX_EXAMPLES = 25


def has_inputs(operation) -> bool:
    parts = (operation.path_parameters, operation.query, operation.headers, operation.body)
    return any(len(part) for part in parts)


def operations(api_server: LiveServer) -> list:
    schema = schemathesis.openapi.from_url(f"{api_server.url}/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    return [operation for operation in found if operation.path != "/api/events/stream"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_causes_server_error(api_server: LiveServer, mode: GenerationMode) -> None:
    headers = {"Authorization": f"Bearer {api_server.create_user()}"}
    checked: list[str] = []

    for operation in operations(api_server):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        def check(case) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error], timeout=30)

        try:
            check()
        except Unsatisfiable:
            # Without parameters or a body there is nothing to make invalid.
            if mode is GenerationMode.POSITIVE or has_inputs(operation):
                raise
            continue
        checked.append(f"{operation.method.upper()} {operation.path}")

    assert "POST /api/tasks" in checked
    assert "PATCH /api/tasks/{task_id}" in checked
    assert "GET /api/tasks" in checked
