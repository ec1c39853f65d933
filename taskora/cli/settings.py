"""Building the service's settings from command-line options and the environment."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from taskora.config import Settings
from taskora.errors import ExitCode, TaskoraError


def build_settings(**overrides: Any) -> Settings:
    """Return settings from ``TASKORA_*`` variables, with the options given (not None) on top."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as error:
        problems = "; ".join(_describe(item, given) for item in error.errors())
        raise TaskoraError(f"invalid settings: {problems}", exit_code=ExitCode.USAGE) from None


def _describe(item: Any, given: dict[str, Any]) -> str:
    """Name the option or variable a validation error came from, with the reason."""
    field = str(item["loc"][0]) if item["loc"] else "settings"
    variable = f"TASKORA_{field.upper()}"
    option = "--" + field.replace("_", "-")
    source = f"{option} (or {variable})" if field in given else variable
    reason = str(item["msg"]).removeprefix("Value error, ")
    return f"{source}: {reason}"
