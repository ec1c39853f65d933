"""The root ``taskora`` command and its command groups."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer
import typer.main

from taskora import __version__
from taskora.errors import TaskoraError

EPILOG = (
    "Exit codes: 0 success, 1 error, 2 invalid usage, 3 server unreachable, "
    "4 missing or invalid token, 5 not found, 6 conflict."
)

app = typer.Typer(
    name="taskora",
    help="An event-driven task service: run it, manage tasks, follow events, deploy it.",
    epilog=EPILOG,
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"taskora {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Taskora: tasks whose every change is a CloudEvent, streamed to their owner."""


# Each command and the module attribute that defines it, in the order of `taskora --help`.
# main() imports only the module of the command being run, so that `taskora deploy` does
# not load the HTTP client and settings of `taskora tasks`, and the reverse.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("taskora.cli.serve", "serve"),
    "tasks": ("taskora.cli.tasks", "app"),
    "events": ("taskora.cli.events", "app"),
    "users": ("taskora.cli.users", "app"),
    "db": ("taskora.cli.db", "app"),
    "recurrence": ("taskora.cli.checks", "recurrence_app"),
    "reminders": ("taskora.cli.checks", "reminders_app"),
    "deploy": ("taskora.cli.deploy", "app"),
    "images": ("taskora.cli.images", "app"),
    "dapr": ("taskora.cli.dapr", "app"),
}


def mount_commands(names: list[str] | None = None) -> typer.Typer:
    """Add the commands ``names`` (all when None) to the root app, importing their modules."""
    for name in names if names is not None else list(COMMANDS):
        module_name, attribute = COMMANDS[name]
        module = importlib.import_module(module_name)
        command = getattr(module, attribute)
        if isinstance(command, typer.Typer):
            app.add_typer(command, name=name)
        else:
            app.command(name=name, epilog=getattr(module, "EPILOG", None))(command)
    return app


def name_option_values(command: Any) -> Any:
    """Give every option of ``command`` and its subcommands a readable placeholder in help.

    Typer writes an option's Python type after it (``--cloud <str>``, ``--json <bool>``,
    ``-f <list[Path]>``). This names the value after the option instead (``--cloud
    CLOUD``, ``--limit LIMIT [1<=x<=200]``), as most command-line tools do, lists the
    choices of an option that has them (``--status [pending|completed]``), and shows flags,
    ``--help`` included, with no placeholder. Options that declare their own metavar keep
    it. Arguments are written in capitals, in usage lines and errors too (``[REVISION]``).
    """
    context = typer.Context(command)
    for parameter in command.params:
        explain_bad_values(parameter)
    options = [*command.params, command.get_help_option(context)]
    for option in options:
        if option is None or option.metavar is not None:
            continue
        if option.param_type_name == "argument":
            option.metavar = option.name.upper()
            show_argument_plainly(option)
            continue
        if option.is_flag:
            option.metavar = ""
            continue
        descriptor = getattr(option, "type_descriptor", None)
        if descriptor is not None and descriptor.is_choice:
            # Typer writes "<a|b>", or "<list[a|b]>" for a repeatable option.
            choices = option.display_type(context).strip("<>").removeprefix("list[").rstrip("]")
            option.metavar = f"[{choices}]"
            continue
        if getattr(getattr(option, "type", None), "choices", None) is not None:
            # Typer versions built on click show a click.Choice as [a|b] already.
            continue
        long_names = [name for name in option.opts if name.startswith("--")]
        option.metavar = (long_names or option.opts)[0].lstrip("-").upper()
    for subcommand in getattr(command, "commands", {}).values():
        name_option_values(subcommand)
    return command


def show_argument_plainly(argument: Any) -> None:
    """Show ``argument`` as ``TITLE`` or ``[REVISION]`` in usage lines, with no type in help.

    Typer 0.29 and newer write a required argument as ``{TITLE}`` in usage lines and add
    its Python type in help (``TITLE <str>``). Older versions, built on click, already
    write it as this function does, and have no ``display_type_rich`` to change.
    """
    if not hasattr(argument, "display_type_rich"):
        return
    usage_name = argument.metavar if argument.required else f"[{argument.metavar}]"
    if argument.nargs != 1:
        usage_name += "..."
    argument.get_usage_pieces = lambda ctx: [usage_name]
    argument.display_type_rich = lambda ctx: None


# Typer versions that check values with pydantic report pydantic's wording. These read
# the value back to the user instead; other errors keep pydantic's own message.
BAD_VALUE_MESSAGES: dict[str, str] = {
    "int_parsing": "{input!r} is not a whole number.",
    "int_from_float": "{input!r} is not a whole number.",
    "float_parsing": "{input!r} is not a number.",
    "greater_than_equal": "{input} is below the minimum of {ge}.",
    "greater_than": "{input} must be greater than {gt}.",
    "less_than_equal": "{input} is above the maximum of {le}.",
    "less_than": "{input} must be less than {lt}.",
}


def plain_value_error(error: Any) -> str | None:
    """Return a message for the first problem of a pydantic ``ValidationError``, or None."""
    problems = error.errors() if hasattr(error, "errors") else []
    if not problems:
        return None
    problem = problems[0]
    template = BAD_VALUE_MESSAGES.get(problem["type"])
    if template is not None:
        try:
            return template.format(input=problem.get("input"), **problem.get("ctx", {}))
        except (KeyError, IndexError, ValueError):
            return None
    message = str(problem.get("msg", ""))
    # A check that raised ValueError, such as a choice: pydantic prefixes its text.
    return message.removeprefix("Value error, ") or None


def explain_bad_values(parameter: Any) -> None:
    """Make a bad value for ``parameter`` name the value typed, in plain words.

    Typer 0.29 and newer check values with pydantic and report "Input should be a valid
    integer, unable to parse string as an integer" for ``--limit abc``. With this the
    error reads "Invalid value for '--limit': 'abc' is not a whole number."
    """
    check_value = parameter.process_value
    if getattr(check_value, "explains_bad_values", False):
        # Tests run main() many times in one process: wrap each parameter only once.
        return

    def process_value(context: Any, value: Any) -> Any:
        try:
            return check_value(context, value)
        except typer.BadParameter as error:
            message = plain_value_error(error.__cause__)
            if message is not None:
                error.message = message
            raise

    process_value.explains_bad_values = True  # type: ignore[attr-defined]
    parameter.process_value = process_value


def requested_command(arguments: list[str]) -> str | None:
    """Return the command named on the command line, or None for help, completion or a typo."""
    if any(name.startswith("_TASKORA_COMPLETE") for name in os.environ):
        return None
    for argument in arguments:
        if not argument.startswith("-"):
            return argument if argument in COMMANDS else None
    return None


def main() -> None:
    """Run the CLI, turning a :class:`TaskoraError` into one line on stderr and its exit code."""
    command = requested_command(sys.argv[1:])
    mount_commands([command] if command is not None else None)
    try:
        name_option_values(typer.main.get_command(app))()
    except TaskoraError as error:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]Error:[/] {escape(error.message)}", highlight=False
        )
        sys.exit(int(error.exit_code))
