"""Print a command's error as a JSON object on stderr when the command runs with ``--json``."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import typer

from taskora.errors import TaskoraError

logger = logging.getLogger(__name__)

Params = ParamSpec("Params")
Result = TypeVar("Result")


def json_errors(command: Callable[Params, Result]) -> Callable[Params, Result]:
    """Make ``command`` print an error as JSON on stderr when its ``json_output`` is true."""

    @functools.wraps(command)
    def run(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        with errors_as_json(bool(kwargs.get("json_output"))):
            return command(*args, **kwargs)

    return run


@contextmanager
def errors_as_json(json_output: bool) -> Iterator[None]:
    """With ``json_output``, turn a :class:`TaskoraError` into a JSON object and its exit code.

    Without it the error passes on to ``taskora.cli.app.main``, which prints it as text.
    """
    if not json_output:
        yield
        return
    try:
        yield
    except TaskoraError as error:
        logger.info("command failed with exit code %d: %s", error.exit_code, error.message)
        document = {"error": error.message, "exit_code": int(error.exit_code)}
        sys.stderr.write(json.dumps(document, ensure_ascii=False) + "\n")
        sys.stderr.flush()
        raise typer.Exit(int(error.exit_code)) from None
