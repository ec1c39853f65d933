"""The one exception type that the CLI turns into a message and an exit code."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the ``taskora`` command, documented in ``taskora --help``."""

    OK = 0
    ERROR = 1
    USAGE = 2
    UNREACHABLE = 3
    UNAUTHORIZED = 4
    NOT_FOUND = 5
    CONFLICT = 6


class TaskoraError(Exception):
    """A failure to report to the user as one line, without a traceback.

    The message names what failed, on which value, and what to do next.
    """

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code
