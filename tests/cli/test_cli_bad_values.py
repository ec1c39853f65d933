"""A bad option or argument value is reported with the value typed, in plain words."""

from __future__ import annotations

from typing import Annotated

import pytest
import typer.main
from cli_helpers import run_plain
from pydantic import Field, TypeAdapter, ValidationError

from taskora.cli.app import mount_commands, name_option_values, plain_value_error


def usage_error(*arguments: str) -> str:
    """Run ``taskora ARGUMENTS``, check that it is a usage error and return the error line."""
    completed = run_plain(*arguments)
    assert completed.returncode == 2, completed.stderr
    assert completed.stdout == ""
    lines = [line.strip("│ ") for line in completed.stderr.splitlines()]
    errors = [line for line in lines if line.startswith("Invalid value")]
    assert len(errors) == 1, completed.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            ["tasks", "list", "--limit", "abc"],
            "Invalid value for '--limit': 'abc' is not a whole number.",
        ),
        (
            ["tasks", "list", "--limit", "2.5"],
            "Invalid value for '--limit': '2.5' is not a whole number.",
        ),
        (
            ["tasks", "list", "--limit", "500"],
            "Invalid value for '--limit': 500 is above the maximum of 200.",
        ),
        (
            ["tasks", "list", "--limit", "0"],
            "Invalid value for '--limit': 0 is below the minimum of 1.",
        ),
        (
            ["events", "tail", "--since", "-3"],
            "Invalid value for '--since': -3 is below the minimum of 0.",
        ),
        (
            ["tasks", "list", "--status", "huge"],
            "Invalid value for '--status': 'huge' is not one of 'pending', 'completed'.",
        ),
        (
            ["deploy", "rollback", "abc"],
            "Invalid value for 'REVISION': 'abc' is not a whole number.",
        ),
    ],
)
def test_bad_value_names_the_value(arguments: list[str], expected: str) -> None:
    assert usage_error(*arguments) == expected


def validation_error(annotation: object, value: object) -> ValidationError:
    """Return the error pydantic raises when it checks ``value`` against ``annotation``."""
    with pytest.raises(ValidationError) as raised:
        TypeAdapter(annotation).validate_python(value)
    return raised.value


def test_plain_value_error_bounds() -> None:
    assert plain_value_error(validation_error(Annotated[int, Field(gt=3)], "3")) == (
        "3 must be greater than 3."
    )
    assert plain_value_error(validation_error(Annotated[int, Field(lt=3)], "7")) == (
        "7 must be less than 3."
    )
    assert plain_value_error(validation_error(float, "fast")) == "'fast' is not a number."


def test_plain_value_error_other_messages() -> None:
    error = validation_error(Annotated[str, Field(max_length=2)], "abc")

    assert plain_value_error(error) == "String should have at most 2 characters"


def test_plain_value_error_without_pydantic() -> None:
    # Typer versions built on click raise BadParameter with no pydantic cause.
    assert plain_value_error(None) is None
    assert plain_value_error(ValueError("plain")) is None


def test_explain_bad_values_wraps_once() -> None:
    command = typer.main.get_command(mount_commands(["tasks"]))
    limit = next(
        parameter
        for parameter in command.commands["tasks"].commands["list"].params
        if parameter.name == "limit"
    )

    name_option_values(command)
    wrapped = limit.process_value
    name_option_values(command)

    assert limit.process_value is wrapped
