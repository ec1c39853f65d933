"""``--help`` names each option's value after the option, not after its Python type."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import typer.main
from cli_helpers import run_plain

from taskora.cli.app import mount_commands, name_option_values

# Placeholders that Typer derives from Python types, which read as code rather than help.
TYPE_PLACEHOLDER = re.compile(r"<(bool|str|int|float|Path|list\[(str|Path)\])>")
# A placeholder named after the value: FILE, KEY=VALUE, HOST:PORT, DATABASE-URL.
NAMED_VALUE = re.compile(r"[A-Z][A-Z0-9]*([-=:][A-Z][A-Z0-9]*)*")
# The choices of an option, as in [pending|completed].
CHOICES = re.compile(r"\[[-a-z._]+(\|[-a-z._]+)+\]")


def help_text(*command: str) -> str:
    """Return the help that ``taskora COMMAND --help`` prints, on a wide terminal."""
    completed = run_plain(*command, "--help")
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def option_row(help_output: str, option: str) -> str:
    """Return the help table's row of ``option``, its cells separated by single spaces."""
    for line in help_output.splitlines():
        cells = line.strip("│ ").split()
        if cells and cells[0] == option:
            return " ".join(cells)
    raise AssertionError(f"no row for {option} in:\n{help_output}")


def test_deploy_help_placeholders() -> None:
    output = help_text("deploy")

    assert TYPE_PLACEHOLDER.search(output) is None, output
    assert option_row(output, "--cloud").startswith("--cloud CLOUD Cloud profile to apply")
    assert option_row(output, "--values").startswith("--values -f FILE YAML values file")
    assert option_row(output, "--set").startswith("--set KEY=VALUE KEY=VALUE layered")
    assert option_row(output, "--set-string").startswith("--set-string KEY=VALUE KEY=VALUE whose")
    assert option_row(output, "--image-tag").startswith("--image-tag TAG Image tag to deploy")
    assert option_row(output, "--timeout").startswith("--timeout DURATION How long helm waits")
    assert option_row(output, "--dry-run").startswith("--dry-run Print the merged values")
    assert option_row(output, "--help") == "--help Show this message and exit."


def test_list_help_keeps_choices() -> None:
    output = help_text("tasks", "list")

    assert TYPE_PLACEHOLDER.search(output) is None, output
    assert option_row(output, "--status").startswith("--status [pending|completed] Only this")
    assert option_row(output, "--priority").startswith(
        "--priority -p [low|medium|high|urgent] Only these priorities"
    )
    assert option_row(output, "--limit").startswith("--limit LIMIT [1<=x<=200] Tasks per")
    assert option_row(output, "--cursor").startswith("--cursor CURSOR next_cursor of")
    assert option_row(output, "--overdue").startswith("--overdue Only pending tasks")


def test_arguments_in_capitals() -> None:
    rollback = help_text("deploy", "rollback")
    show = help_text("tasks", "show")

    assert "Usage: python -m taskora deploy rollback [OPTIONS] [REVISION]" in rollback
    assert option_row(rollback, "REVISION").startswith("REVISION Revision to return to")
    assert "Usage: python -m taskora tasks show [OPTIONS] TASK_ID" in show
    assert option_row(show, "*").startswith("* TASK_ID [x>=1] Id of the task.")


def test_required_argument_usage_error() -> None:
    completed = run_plain("tasks", "add")

    assert completed.returncode == 2
    assert completed.stderr.splitlines()[0] == "Usage: python -m taskora tasks add [OPTIONS] TITLE"
    assert "Missing argument 'TITLE'." in completed.stderr


def test_root_help_version_flag() -> None:
    output = help_text()

    assert option_row(output, "--version") == "--version Print the version and exit."


def commands_of(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Yield ``command`` and every command below it, each named as typed: ``taskora tasks add``."""
    yield " ".join(("taskora", *path)), command
    for name, subcommand in getattr(command, "commands", {}).items():
        yield from commands_of(subcommand, (*path, name))


def test_every_option_placeholder() -> None:
    """Flags have none, options with choices list them, and the rest have a name."""
    root = name_option_values(typer.main.get_command(mount_commands()))
    placeholders: dict[str, str | None] = {}
    for path, command in commands_of(root):
        options = [*command.params, command.get_help_option(typer.Context(command))]
        for option in options:
            if option is not None and option.param_type_name == "option":
                placeholders[f"{path} {option.opts[0]}"] = option.metavar

    unreadable = {
        option: metavar
        for option, metavar in placeholders.items()
        if metavar is None
        or (metavar and not NAMED_VALUE.fullmatch(metavar) and not CHOICES.fullmatch(metavar))
    }
    assert unreadable == {}
    assert placeholders["taskora --version"] == ""
    assert placeholders["taskora tasks add --help"] == ""
    assert placeholders["taskora tasks list --status"] == "[pending|completed]"
    assert placeholders["taskora tasks list --limit"] == "LIMIT"
    assert placeholders["taskora deploy --values"] == "FILE"
    assert placeholders["taskora deploy rollback --timeout"] == "DURATION"
    assert placeholders["taskora images build --base-image"] == "IMAGE"
    assert placeholders["taskora serve --database-url"] == "DATABASE-URL"
    assert len(placeholders) > 100
