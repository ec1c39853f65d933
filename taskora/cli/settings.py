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
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg'].removeprefix('Value error, ')}"
            for item in error.errors()
        )
        raise TaskoraError(
            f"invalid settings ({problems}). Fix the option or its TASKORA_* variable.",
            exit_code=ExitCode.USAGE,
        ) from None
