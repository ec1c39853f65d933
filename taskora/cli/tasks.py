"""``taskora tasks``: create, list, show, edit, complete, reopen and delete tasks over the API."""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, tzinfo
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from taskora.cli import dates, output
from taskora.cli.client import (
    JsonOption,
    TaskoraClient,
    TokenOption,
    UrlOption,
    open_client,
    resolve_connection,
)
from taskora.errors import ExitCode, TaskoraError

logger = logging.getLogger(__name__)

app = typer.Typer(
    help="Create, list, show, edit, complete, reopen and delete tasks on a Taskora server.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

# Shell completion runs on every Tab press, so it gives up quickly instead of hanging the
# shell while a server is slow or down.
COMPLETION_TIMEOUT_SECONDS = 1.5
COMPLETION_LIMIT = 50
# The largest page the API serves, used by --all to need as few requests as possible.
MAX_PAGE_SIZE = 200

WHEN_HELP = (
    "today, tomorrow, fri, 'fri 17:00', +3d, +4h, 2026-12-24 (23:59:59 that day), "
    "'2026-12-24 17:00' or 2026-12-24T17:00:00+01:00. A weekday means the next one after today."
)
ADD_DUE_ZONE_HELP = (
    "Times without an offset, today, tomorrow, weekdays and +3d are read in --timezone, "
    "else in your account's time zone (taskora fetches it from the server). A date alone "
    "means 23:59:59 that day in the task's time zone."
)
EDIT_DUE_ZONE_HELP = (
    "Times without an offset, today, tomorrow, weekdays and +3d are read in --timezone, "
    "else in the task's time zone. A date alone means 23:59:59 that day in the task's "
    "time zone."
)
LIST_DUE_ZONE_HELP = (
    "Times without an offset, dates, today, tomorrow, weekdays and +3d are read in your "
    "account's time zone (taskora fetches it from the server)."
)

TIMES_HELP = (
    "Every time of a task (due, reminder, created, updated, completed and next dates) is "
    "shown in the task's own time zone, with the zone's abbreviation."
)


class Priority(str, Enum):
    """Task priority, from least to most pressing."""

    low = "low"
    medium = "medium"
    high = "high"
    urgent = "urgent"


class Status(str, Enum):
    """Task status."""

    pending = "pending"
    completed = "completed"


class Sort(str, Enum):
    """Sort orders of ``GET /api/tasks``, where a leading ``-`` means descending."""

    created_at = "created_at"
    created_at_desc = "-created_at"
    updated_at = "updated_at"
    updated_at_desc = "-updated_at"
    due_at = "due_at"
    due_at_desc = "-due_at"
    priority = "priority"
    priority_desc = "-priority"
    # Not named title, which would hide str.title.
    by_title = "title"
    by_title_desc = "-title"


# --- shell completion -----------------------------------------------------------------


def _completion_client(ctx: typer.Context) -> TaskoraClient:
    """Return a client for the --url and --token already typed, or their defaults."""
    connection = resolve_connection(ctx.params.get("url"), ctx.params.get("token"))
    return TaskoraClient(connection, timeout=COMPLETION_TIMEOUT_SECONDS, max_attempts=1)


def complete_task_id(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Return the ids of pending tasks that start with ``incomplete``, each with its title.

    A completion callback must not print or raise, because its output goes into the
    shell's prompt, so any failure returns no candidates.
    """
    try:
        with _completion_client(ctx) as client:
            page = client.list_tasks(
                [("status", "pending"), ("sort", "-created_at"), ("limit", str(COMPLETION_LIMIT))]
            )
        candidates = [(str(task["id"]), str(task.get("title", ""))) for task in page["items"]]
    except Exception as error:  # noqa: BLE001 - see the docstring
        logger.debug("Task id completion failed: %s", error)
        return []
    return [(task_id, title) for task_id, title in candidates if task_id.startswith(incomplete)]


def complete_tag(ctx: typer.Context, incomplete: str) -> list[str]:
    """Return the tags of the most recently changed tasks that start with ``incomplete``.

    Like :func:`complete_task_id`, it returns no candidates on any failure.
    """
    try:
        with _completion_client(ctx) as client:
            page = client.list_tasks([("sort", "-updated_at"), ("limit", str(COMPLETION_LIMIT))])
        tags = {str(tag) for task in page["items"] for tag in task.get("tags") or []}
    except Exception as error:  # noqa: BLE001 - see complete_task_id
        logger.debug("Tag completion failed: %s", error)
        return []
    prefix = incomplete.lower()
    return sorted(tag for tag in tags if tag.startswith(prefix))


TaskIdArgument = Annotated[
    int,
    typer.Argument(
        help="Id of the task.", min=1, show_default=False, autocompletion=complete_task_id
    ),
]


# --- request bodies and queries -------------------------------------------------------


def parse_zone_option(name: str | None) -> tzinfo | None:
    """Return the IANA zone given with --timezone, or ``None`` when it is not given."""
    if name is None:
        return None
    try:
        return dates.load_zone(name)
    except dates.InvalidTime:
        raise typer.BadParameter(
            f"unknown time zone {name!r}. Use an IANA name such as Europe/Berlin, "
            "America/New_York or UTC.",
            param_hint="'--timezone'",
        ) from None


def utc_now() -> datetime:
    """Return the current time in UTC, the ``now`` that every time option is parsed against."""
    return datetime.now(UTC)


def parse_due_option(value: str | None, now: datetime, zone: dates.ZoneSource) -> str | None:
    """Parse ``--due`` into a ``due_at`` value, reading wall-clock times in ``zone``.

    A whole day stays a date (``2026-12-24``) so that the server ends it at 23:59:59 in
    the task's time zone. Every other form becomes RFC 3339 with an offset.
    """
    if value is None:
        return None
    return dates.parse_option(value, "--due", now=now, zone=zone, keep_dates=True)


def parse_filter_option(
    value: str | None, option: str, now: datetime, zone: dates.ZoneSource
) -> str | None:
    """Parse ``--due-before`` or ``--due-after`` into RFC 3339 with an offset, read in ``zone``."""
    if value is None:
        return None
    return dates.parse_option(value, option, now=now, zone=zone)


def zone_from_server(name: object, owner: str) -> tzinfo:
    """Load a time zone name that the server sent for ``owner``.

    Raise :class:`TaskoraError` when the name is missing or unknown to this machine's time
    zone database, so that a due time is never read in a guessed zone.
    """
    if not isinstance(name, str) or not name:
        raise TaskoraError(
            f"the server sent no time zone for {owner}. Pass --timezone with an IANA name "
            "such as Europe/Berlin.",
            exit_code=ExitCode.ERROR,
        )
    try:
        return dates.load_zone(name)
    except dates.InvalidTime:
        raise TaskoraError(
            f"the time zone of {owner} is {name!r}, which this machine's time zone database "
            "does not contain. Update the tzdata package, or pass --timezone with a zone "
            "that this machine knows.",
            exit_code=ExitCode.ERROR,
        ) from None


def account_zone_source(client: TaskoraClient) -> Callable[[], tzinfo]:
    """Return a function that fetches the account's time zone on its first call only."""

    @functools.cache
    def fetch() -> tzinfo:
        user = client.get_current_user()
        return zone_from_server(user.get("timezone"), "your account")

    return fetch


def task_zone(task: dict[str, Any]) -> tzinfo:
    """Return the time zone of a task as the server returned it."""
    return zone_from_server(task.get("timezone"), f"task {task.get('id')}")


def parse_remind(value: str) -> str:
    """Turn ``--remind`` (``15m``, ``1h30m``, ``2d12h``, ``1w`` or ISO 8601) into ISO 8601."""
    try:
        return dates.parse_reminder_offset(value)
    except dates.InvalidOffset as error:
        raise typer.BadParameter(str(error), param_hint="'--remind'") from None


# --- recurrence options ---------------------------------------------------------------

# The words that presets accept for weekdays and ordinals, as the server reads them. The
# client only uses them to name a mistyped word before sending the request; the server
# decides what a preset means.
PRESET_WEEKDAYS = frozenset({
    "mo", "mon", "monday", "tu", "tue", "tues", "tuesday", "we", "wed", "wednesday",
    "th", "thu", "thur", "thurs", "thursday", "fr", "fri", "friday",
    "sa", "sat", "saturday", "su", "sun", "sunday",
})  # fmt: skip
PRESET_ORDINALS = frozenset(
    ["1st", "first", "2nd", "second", "3rd", "third", "4th", "fourth", "5th", "fifth", "last"]
)
WEEKDAY_HINT = "Use mon, tue, wed, thu, fri, sat or sun."
EVERY_HINT = (
    "After every, use weekdays (every mon,wed), a unit (every 3 days) or an ordinal and "
    "a weekday (every 3rd fri)."
)
ORDINAL_HINT = "Use 1st, 2nd, 3rd, 4th, 5th or last."

_WEEKLY_ON = re.compile(r"(?:weekly|every (?:\d+ )?weeks?) on (?P<days>.+)")
_MONTHLY_ON = re.compile(r"(?:monthly|every (?:\d+ )?months?) on (?P<what>.+)")
_DAY_NUMBER = re.compile(r"(?:the )?(?:day (?P<plain>\d+)|(?P<ordinal>\d+)(?:st|nd|rd|th))")
_NTH_WEEKDAY = re.compile(r"(?:the )?(?P<ordinal>[a-z0-9]+) (?P<weekday>[a-z]+)")
_EVERY_UNIT = re.compile(r"every (?:\d+ )?(?:day|week|month|year)s?")
_EVERY_WORDS = re.compile(r"every (?P<words>[a-z0-9][a-z0-9, ]*)")


def describe_preset_problem(preset: str) -> str | None:
    """Name the word of an ``--every`` preset that the server cannot read, if one is clear.

    Return a message such as "'funday' is not a weekday in 'weekly on funday'" for a
    preset whose shape is known but one of whose words is not, and None otherwise, in
    which case the server judges the preset.
    """
    text = " ".join(preset.strip().lower().split()).replace(" ,", ",").replace(", ", ",")
    text = text.replace("every other ", "every 2 ")
    if match := _WEEKLY_ON.fullmatch(text):
        return _weekday_problem(match["days"], preset)
    if match := _MONTHLY_ON.fullmatch(text):
        return _monthly_problem(match["what"], preset)
    if _EVERY_UNIT.fullmatch(text) or text == "every weekday":
        return None
    if match := _EVERY_WORDS.fullmatch(text):
        words = match["words"]
        nth = _NTH_WEEKDAY.fullmatch(words)
        if nth is not None and (nth["ordinal"] in PRESET_ORDINALS or nth["ordinal"][0].isdigit()):
            return _nth_problem(nth["ordinal"], nth["weekday"], preset)
        return _weekday_problem(words, preset, EVERY_HINT)
    return None


def _weekday_problem(days: str, preset: str, hint: str = WEEKDAY_HINT) -> str | None:
    for word in re.split(r"[ ,]+", days):
        if word and word != "and" and word not in PRESET_WEEKDAYS:
            return f"{word!r} is not a weekday in {preset!r}. {hint}"
    return None


def _monthly_problem(what: str, preset: str) -> str | None:
    if what in ("the last day", "last day"):
        return None
    if day := _DAY_NUMBER.fullmatch(what):
        number = int(day["plain"] or day["ordinal"])
        if not 1 <= number <= 31:
            return f"{number} is not a day of the month in {preset!r}. Use 1 to 31."
        return None
    if nth := _NTH_WEEKDAY.fullmatch(what):
        return _nth_problem(nth["ordinal"], nth["weekday"], preset)
    return None


def _nth_problem(ordinal: str, weekday: str, preset: str) -> str | None:
    if ordinal not in PRESET_ORDINALS:
        return f"{ordinal!r} is not an ordinal in {preset!r}. {ORDINAL_HINT}"
    if weekday not in PRESET_WEEKDAYS:
        return f"{weekday!r} is not a weekday in {preset!r}. {WEEKDAY_HINT}"
    return None


def check_preset(preset: str) -> None:
    """Raise a usage error naming the mistyped word of an ``--every`` preset, if one is clear."""
    problem = describe_preset_problem(preset)
    if problem is not None:
        raise typer.BadParameter(problem, param_hint="'--every'")


@contextlib.contextmanager
def shorter_preset_errors(preset: str | None) -> Iterator[None]:
    """Replace the server's error for an unknown ``--every`` preset with a shorter one.

    The server responds to an unknown preset with the list of every form it accepts. The CLI
    names the rejected text and points at ``--help``, which lists the same forms. Every
    other error passes unchanged.
    """
    try:
        yield
    except TaskoraError as error:
        unknown = error.exit_code == ExitCode.USAGE and "unknown recurrence" in error.message
        if preset is None or not unknown:
            raise
        raise TaskoraError(
            f"--every {preset!r} is not a preset the server knows. See `taskora tasks add "
            "--help` for the presets, or pass an RFC 5545 rule with --rrule.",
            exit_code=ExitCode.USAGE,
        ) from error


def anchor_value(from_completion: bool | None) -> str | None:
    """Return the ``anchor`` of ``--from-completion`` (True) or ``--from-due`` (False)."""
    if from_completion is None:
        return None
    return "completion" if from_completion else "due"


def build_recurrence(
    every: str | None, rrule: str | None, from_completion: bool | None
) -> dict[str, str] | None:
    """Return the ``recurrence`` body field of ``add`` for the repeat options, or None."""
    if every is not None and rrule is not None:
        raise _usage_error("--every and --rrule both set how the task repeats: give one")
    if every is None and rrule is None:
        if from_completion is not None:
            flag = "--from-completion" if from_completion else "--from-due"
            raise _usage_error(f"{flag} needs --every or --rrule")
        return None
    if every is not None:
        check_preset(every)
    recurrence = {"preset": every} if every is not None else {"rule": rrule or ""}
    recurrence["anchor"] = anchor_value(from_completion) or "due"
    return recurrence


def check_needs_due(
    due: str | None, *, every: str | None, rrule: str | None, remind: str | None
) -> None:
    """Raise a usage error when ``add`` gets a repeat or reminder option without ``--due``."""
    if due is not None:
        return
    if every is not None or rrule is not None:
        option = "--every" if every is not None else "--rrule"
        raise _usage_error(f"{option} needs --due: a repeating task needs a due date.")
    if remind is not None:
        raise _usage_error("--remind needs --due: a reminder is counted back from the due date.")


def build_edit_recurrence(
    current: dict[str, Any],
    *,
    every: str | None,
    rrule: str | None,
    from_completion: bool | None,
) -> dict[str, str] | None:
    """Return the ``recurrence`` that ``edit`` sends, or None when the rule stays as it is.

    A new rule keeps the task's anchor unless --from-completion or --from-due is given,
    and an anchor option alone changes the anchor of the task's rule. ``--no-repeat`` is
    handled by :func:`build_edit_fields`.
    """
    anchor = anchor_value(from_completion)
    existing = current.get("recurrence")
    existing = existing if isinstance(existing, dict) else None
    if anchor is None and existing is not None:
        anchor = str(existing.get("anchor") or "due")

    if every is not None:
        check_preset(every)
        return {"preset": every, "anchor": anchor or "due"}
    if rrule is not None:
        return {"rule": rrule, "anchor": anchor or "due"}
    if from_completion is None:
        return None
    if existing is None or not existing.get("rule"):
        flag = "--from-completion" if from_completion else "--from-due"
        raise _usage_error(
            f"task {current.get('id')} does not repeat, so {flag} needs --every or --rrule."
        )
    return {"rule": str(existing["rule"]), "anchor": anchor or "due"}


def build_task_fields(
    title: str,
    description: str | None,
    priority: Priority | None,
    tags: list[str] | None,
    due_at: str | None,
    timezone_name: str | None = None,
    recurrence: dict[str, str] | None = None,
    remind_before: str | None = None,
) -> dict[str, Any]:
    """Return the ``POST /api/tasks`` body, leaving unset options to the server's defaults."""
    fields: dict[str, Any] = {"title": title}
    if recurrence is not None:
        fields["recurrence"] = recurrence
    if remind_before is not None:
        fields["remind_before"] = remind_before
    if description is not None:
        fields["description"] = description
    if priority is not None:
        fields["priority"] = priority.value
    if tags:
        fields["tags"] = tags
    if due_at is not None:
        fields["due_at"] = due_at
    if timezone_name is not None:
        fields["timezone"] = timezone_name
    return fields


def build_list_params(
    status: Status | None = None,
    priorities: Sequence[Priority] | None = None,
    tags: Sequence[str] | None = None,
    sort: Sort | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    *,
    any_tag: bool = False,
    search: str | None = None,
    due_before: str | None = None,
    due_after: str | None = None,
    overdue: bool = False,
) -> list[tuple[str, str]]:
    """Return the ``GET /api/tasks`` query as pairs, since ``priority`` and ``tag`` repeat.

    ``due_before`` and ``due_after`` are RFC 3339 timestamps with offset.
    """
    params: list[tuple[str, str]] = []
    if status is not None:
        params.append(("status", status.value))
    params.extend(("priority", priority.value) for priority in priorities or [])
    params.extend(("tag", tag) for tag in tags or [])
    if any_tag:
        params.append(("tag_mode", "any"))
    if search is not None:
        params.append(("q", search))
    if due_before is not None:
        params.append(("due_before", due_before))
    if due_after is not None:
        params.append(("due_after", due_after))
    if overdue:
        params.append(("overdue", "true"))
    if sort is not None:
        params.append(("sort", sort.value))
    if limit is not None:
        params.append(("limit", str(limit)))
    if cursor is not None:
        params.append(("cursor", cursor))
    return params


def normalize_tag(tag: str) -> str:
    """Return a tag as the server stores it: trimmed and lower-cased."""
    return tag.strip().lower()


def compute_tags(
    current: Sequence[str], add: Sequence[str], remove: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Return the tags after adding and removing some, and the removed tags not present.

    Tags compare as the server stores them, so ``--remove-tag Home`` removes ``home``.
    The result is sorted and without duplicates, like the server's.
    """
    tags = {normalize_tag(tag) for tag in current}
    removals = [normalize_tag(tag) for tag in remove]
    missing = [tag for tag in dict.fromkeys(removals) if tag not in tags]
    tags.update(normalize_tag(tag) for tag in add)
    tags.difference_update(removals)
    return sorted(tags), missing


def build_edit_fields(
    current: dict[str, Any],
    *,
    title: str | None = None,
    description: str | None = None,
    priority: Priority | None = None,
    tags: Sequence[str] | None = None,
    add_tags: Sequence[str] = (),
    remove_tags: Sequence[str] = (),
    no_tags: bool = False,
    due_at: str | None = None,
    no_due: bool = False,
    timezone_name: str | None = None,
    status: Status | None = None,
    recurrence: dict[str, str] | None = None,
    no_repeat: bool = False,
    remind_before: str | None = None,
    no_remind: bool = False,
) -> tuple[dict[str, Any], list[str]]:
    """Return the ``PATCH`` body for the options given, and the removed tags not present.

    ``current`` is the task as the server returned it, against which ``add_tags`` and
    ``remove_tags`` are applied. ``recurrence`` is the value from
    :func:`build_edit_recurrence`, and ``no_repeat`` and ``no_remind`` send null to clear
    the rule and the reminder. The option combinations must have passed
    :func:`check_edit_options`.
    """
    fields: dict[str, Any] = {}
    if title is not None:
        fields["title"] = title
    if description is not None:
        fields["description"] = description
    if priority is not None:
        fields["priority"] = priority.value
    if status is not None:
        fields["status"] = status.value
    if timezone_name is not None:
        fields["timezone"] = timezone_name
    if due_at is not None:
        fields["due_at"] = due_at
    elif no_due:
        fields["due_at"] = None
    if recurrence is not None:
        fields["recurrence"] = recurrence
    elif no_repeat:
        fields["recurrence"] = None
    if remind_before is not None:
        fields["remind_before"] = remind_before
    elif no_remind:
        fields["remind_before"] = None

    missing: list[str] = []
    if no_tags:
        fields["tags"] = []
    elif tags:
        fields["tags"] = list(tags)
    elif add_tags or remove_tags:
        fields["tags"], missing = compute_tags(current.get("tags") or [], add_tags, remove_tags)
    return fields, missing


def _usage_error(message: str) -> TaskoraError:
    return TaskoraError(message, exit_code=ExitCode.USAGE)


def check_edit_options(
    *,
    title: str | None,
    description: str | None,
    priority: Priority | None,
    tags: Sequence[str],
    add_tags: Sequence[str],
    remove_tags: Sequence[str],
    no_tags: bool,
    due: str | None,
    no_due: bool,
    timezone_name: str | None,
    status: Status | None,
    every: str | None = None,
    rrule: str | None = None,
    from_completion: bool | None = None,
    no_repeat: bool = False,
    remind: str | None = None,
    no_remind: bool = False,
) -> None:
    """Raise a usage error for contradictory options or for no change at all."""
    _check_schedule_options(
        every=every,
        rrule=rrule,
        from_completion=from_completion,
        no_repeat=no_repeat,
        remind=remind,
        no_remind=no_remind,
        no_due=no_due,
    )
    if no_tags and (tags or add_tags or remove_tags):
        raise _usage_error("--no-tags cannot be combined with --tag, --add-tag or --remove-tag.")
    if tags and (add_tags or remove_tags):
        raise _usage_error(
            "--tag replaces every tag, so it cannot be combined with --add-tag or --remove-tag."
        )
    added = {normalize_tag(tag) for tag in add_tags}
    both = sorted(added & {normalize_tag(tag) for tag in remove_tags})
    if both:
        raise _usage_error(
            f"tag {', '.join(both)} is given to both --add-tag and --remove-tag. Give it once."
        )
    if due is not None and no_due:
        raise _usage_error("--due and --no-due cannot be combined.")

    changes = (title, description, priority, due, timezone_name, status, every, rrule, remind)
    flags = (tags, add_tags, remove_tags, no_tags, no_due, no_repeat, no_remind)
    if all(value is None for value in changes) and from_completion is None and not any(flags):
        raise _usage_error(
            "nothing to change. Give at least one of --title, --description, --priority, "
            "--tag, --add-tag, --remove-tag, --no-tags, --due, --no-due, --timezone, --status, "
            "--every, --rrule, --from-completion, --from-due, --no-repeat, --remind or "
            "--no-remind."
        )


def _check_schedule_options(
    *,
    every: str | None,
    rrule: str | None,
    from_completion: bool | None,
    no_repeat: bool,
    remind: str | None,
    no_remind: bool,
    no_due: bool,
) -> None:
    """Raise a usage error for contradictory repeat and reminder options of ``edit``."""
    if every is not None and rrule is not None:
        raise _usage_error("--every and --rrule both set how the task repeats: give one.")
    if no_repeat and (every is not None or rrule is not None or from_completion is not None):
        raise _usage_error(
            "--no-repeat removes the rule, so it cannot be combined with --every, --rrule, "
            "--from-completion or --from-due."
        )
    if remind is not None and no_remind:
        raise _usage_error("--remind and --no-remind cannot be combined.")
    if no_due:
        for option, value in (("--every", every), ("--rrule", rrule), ("--remind", remind)):
            if value is not None:
                raise _usage_error(
                    f"{option} needs a due date, so it cannot be combined with --no-due."
                )


def check_task_has_due(
    current: dict[str, Any],
    due: str | None,
    *,
    every: str | None,
    rrule: str | None,
    remind: str | None,
) -> None:
    """Raise a usage error when ``edit`` sets a rule or reminder on a task without a due time."""
    if due is not None or current.get("due_at"):
        return
    for option, value in (("--every", every), ("--rrule", rrule), ("--remind", remind)):
        if value is not None:
            raise _usage_error(
                f"{option} needs a due date, and task {current.get('id')} has none. Pass --due too."
            )


def check_no_due_keeps_nothing(
    current: dict[str, Any], *, no_due: bool, no_repeat: bool, no_remind: bool
) -> None:
    """Raise a usage error when ``--no-due`` would leave a rule or a reminder without a due
    time, naming the option that drops it."""
    if not no_due:
        return
    task_id = current.get("id")
    if current.get("recurrence") and not no_repeat:
        raise _usage_error(
            f"task {task_id} repeats, and a repeating task needs a due date: add --no-repeat "
            "to stop it repeating, or keep its due date"
        )
    if current.get("remind_before") and not no_remind:
        raise _usage_error(
            f"task {task_id} has a reminder, which needs a due date: add --no-remind to drop "
            "it, or keep its due date"
        )


# --- output helpers -------------------------------------------------------------------


def _print_message(text: str) -> None:
    """Print a confirmation, unwrapped so it stays one line when piped."""
    Console().print(text, highlight=False, soft_wrap=True)


def _print_warning(text: str) -> None:
    Console(stderr=True).print(
        f"[yellow]Warning:[/] {escape(text)}", highlight=False, soft_wrap=True
    )


@contextlib.contextmanager
def _progress(console: Console) -> Iterator[Any]:
    """Yield a Rich status line on a terminal, or an object whose ``update`` does nothing."""
    if not console.is_terminal:
        yield _SilentStatus()
        return
    with console.status("Fetching tasks...") as status:
        yield status


class _SilentStatus:
    def update(self, status: str) -> None:
        pass


def fetch_all_tasks(
    client: TaskoraClient, params: Sequence[tuple[str, str]], cursor: str | None
) -> list[dict[str, Any]]:
    """Return the items of every page, showing the count on stderr when it is a terminal."""
    items: list[dict[str, Any]] = []
    with _progress(Console(stderr=True)) as status:
        for number, page in enumerate(client.iter_pages(params, cursor=cursor), start=1):
            items.extend(page["items"])
            status.update(f"Fetched {len(items)} tasks in {number} pages...")
    return items


# --- commands -------------------------------------------------------------------------

TagsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--tag",
        "-t",
        metavar="TAG",
        help="Tag; repeat the option for several tags.",
        autocompletion=complete_tag,
    ),
]
AddTimezoneOption = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        metavar="ZONE",
        help=(
            "IANA time zone of the task, such as Europe/Berlin; --due is read in it. "
            "Default: your account's time zone."
        ),
        show_default=False,
    ),
]
EditTimezoneOption = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        metavar="ZONE",
        help=(
            "New IANA time zone of the task, such as Europe/Berlin; --due is read in it. "
            "Without --due the due moment stays the same and shows in the new zone, so 17:00 "
            "New York time reads 23:00 in Berlin. Default: the task keeps its time zone, and "
            "--due is read in that."
        ),
        show_default=False,
    ),
]

EVERY_HELP = (
    "daily, weekdays, weekly, 'every 3 days', 'weekly on mon,wed', 'monthly on the 15th', "
    "'monthly on the last day', 'every 3rd friday', yearly."
)
EveryOption = Annotated[
    str | None,
    typer.Option(
        "--every",
        metavar="PRESET",
        help=f"Repeat by a preset: {EVERY_HELP} Needs a due time.",
    ),
]
RruleOption = Annotated[
    str | None,
    typer.Option(
        "--rrule",
        metavar="RULE",
        help="Repeat by an RFC 5545 rule without DTSTART, such as FREQ=WEEKLY;BYDAY=MO,WE. "
        "Needs a due time, which starts the series.",
    ),
]
AnchorOption = Annotated[
    bool | None,
    typer.Option(
        "--from-completion/--from-due",
        help="Count the next occurrence from when the task is completed, or from its due "
        "time. Default: from the due time.",
        show_default=False,
    ),
]
RemindOption = Annotated[
    str | None,
    typer.Option(
        "--remind",
        metavar="BEFORE",
        help="Send a task.reminder this long before the due time: minutes, hours, days and "
        "weeks, alone or combined (15m, 1h30m, 2d12h, 1w), or ISO 8601 (PT15M). At most 365 "
        "days; seconds are not accepted. Needs a due time.",
    ),
]


@app.command(
    help=(
        "Create a task and print its id.\n\n"
        "A request that fails with a connection error or a 502, 503 or 504 is retried up to "
        "three times in all, and the server creates the task only once."
    ),
    epilog=(
        "Examples:\n\n"
        "  taskora tasks add 'Buy milk'\n\n"
        "  taskora tasks add 'Ship release' -p urgent -t work -t release --due fri\n\n"
        "  taskora tasks add 'Call Ana' --due 'tomorrow 9:00' -d 'About the offer'\n\n"
        "  taskora tasks add 'Stand-up' --due '2026-12-24 17:00' --timezone America/New_York\n\n"
        "  taskora tasks add 'Gym' --due 'mon 18:00' --every 'weekly on mon,wed' --remind 30m\n\n"
        "  taskora tasks add 'Water plants' --due tomorrow --every 'every 3 days' "
        "--from-completion"
    ),
)
def add(
    title: Annotated[str, typer.Argument(help="Title, 1 to 500 characters.", show_default=False)],
    description: Annotated[
        str | None,
        typer.Option("--description", "-d", help="Longer text, up to 20,000 characters."),
    ] = None,
    priority: Annotated[
        Priority | None,
        typer.Option(
            "--priority", "-p", case_sensitive=False, help="Priority. The server uses medium."
        ),
    ] = None,
    tags: TagsOption = None,
    due: Annotated[
        str | None,
        typer.Option("--due", metavar="WHEN", help=f"Due time: {WHEN_HELP} {ADD_DUE_ZONE_HELP}"),
    ] = None,
    timezone_name: AddTimezoneOption = None,
    every: EveryOption = None,
    rrule: RruleOption = None,
    from_completion: AnchorOption = None,
    remind: RemindOption = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Create a task and print its id."""
    check_needs_due(due, every=every, rrule=rrule, remind=remind)
    recurrence = build_recurrence(every, rrule, from_completion)
    remind_before = None if remind is None else parse_remind(remind)
    zone = parse_zone_option(timezone_name)
    now = utc_now()
    # One key for every attempt of this command, so the server replays the first response
    # to a retry instead of creating a second task.
    idempotency_key = str(uuid.uuid4())
    with open_client(url, token) as client:
        # The account's zone is the one the server gives a task created without --timezone.
        due_at = parse_due_option(
            due, now, zone if zone is not None else account_zone_source(client)
        )
        fields = build_task_fields(
            title,
            description,
            priority,
            tags,
            due_at,
            timezone_name,
            recurrence=recurrence,
            remind_before=remind_before,
        )
        with shorter_preset_errors(every):
            task = client.create_task(fields, idempotency_key=idempotency_key)

    if json_output:
        output.write_json(task, indent=True)
    else:
        _print_message(f"Added task {output.task_label(task)}.")


@app.command(
    name="list",
    help=(
        "List tasks, oldest first by default.\n\n"
        f"--due-before and --due-after take the same forms as --due of `add`: {WHEN_HELP} "
        f"{LIST_DUE_ZONE_HELP}"
    ),
    epilog=(
        "Examples:\n\n"
        "  taskora tasks list\n\n"
        "  taskora tasks list --status pending --priority high --priority urgent\n\n"
        "  taskora tasks list --tag work --tag home --any-tag --sort due_at\n\n"
        "  taskora tasks list -q groc --due-before fri --overdue\n\n"
        "  taskora tasks list --all --json | jq '.items[].title'"
    ),
)
def list_tasks(
    status: Annotated[
        Status | None, typer.Option("--status", case_sensitive=False, help="Only this status.")
    ] = None,
    priorities: Annotated[
        list[Priority] | None,
        typer.Option(
            "--priority",
            "-p",
            case_sensitive=False,
            help="Only these priorities; repeat the option to match any of several.",
        ),
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            "-t",
            metavar="TAG",
            help="Only tasks with this tag; repeated tags must all match (see --any-tag).",
            autocompletion=complete_tag,
        ),
    ] = None,
    any_tag: Annotated[
        bool,
        typer.Option("--any-tag", help="Match tasks with at least one of the --tag values."),
    ] = False,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            "-q",
            metavar="TEXT",
            help="Words to find in title or description, each as a word prefix.",
        ),
    ] = None,
    due_before: Annotated[
        str | None,
        typer.Option(
            "--due-before",
            metavar="WHEN",
            help="Only tasks due before this time, read in your account's time zone.",
        ),
    ] = None,
    due_after: Annotated[
        str | None,
        typer.Option(
            "--due-after",
            metavar="WHEN",
            help="Only tasks due at or after this time, read in your account's time zone.",
        ),
    ] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only pending tasks whose due time has passed.")
    ] = False,
    sort: Annotated[
        Sort | None,
        typer.Option(
            "--sort",
            help="Sort order; a leading - means descending. The server sorts by created_at.",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            max=MAX_PAGE_SIZE,
            help="Tasks per page, 1 to 200. The server uses 50; --all uses 200.",
        ),
    ] = None,
    cursor: Annotated[
        str | None,
        typer.Option(
            "--cursor",
            help="next_cursor of a previous --json page, with the same filters, for the next page.",
        ),
    ] = None,
    fetch_all: Annotated[
        bool,
        typer.Option("--all", help="Fetch every page, not only the first."),
    ] = False,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """List tasks, one page or (with --all) every page."""
    if any_tag and not tags:
        raise typer.BadParameter("--any-tag needs at least one --tag.", param_hint="'--any-tag'")
    now = utc_now()
    if limit is None and fetch_all:
        limit = MAX_PAGE_SIZE

    with open_client(url, token) as client:
        # One source for both options, so the account is fetched at most once.
        account_zone = account_zone_source(client)
        params = build_list_params(
            status,
            priorities,
            tags,
            sort,
            limit,
            None if fetch_all else cursor,
            any_tag=any_tag,
            search=search,
            due_before=parse_filter_option(due_before, "--due-before", now, account_zone),
            due_after=parse_filter_option(due_after, "--due-after", now, account_zone),
            overdue=overdue,
        )
        if fetch_all:
            page: dict[str, Any] = {
                "items": fetch_all_tasks(client, params, cursor),
                "next_cursor": None,
            }
        else:
            page = client.list_tasks(params)

    if json_output:
        output.write_json(page, indent=False)
    else:
        output.print_tasks(Console(), page, from_cursor=cursor is not None)


@app.command(
    help=(
        "Show every field of one task, and the next dates of a repeating task.\n\n"
        f"{TIMES_HELP} When the task is shown but its next dates cannot be read, the "
        "command ends with an error and a non-zero exit code."
    ),
    epilog="Examples:\n\n  taskora tasks show 42\n\n  taskora tasks show 42 --json",
)
def show(
    task_id: TaskIdArgument,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Show every field of one task."""
    with open_client(url, token) as client:
        task = client.get_task(task_id)
        upcoming: list[str] = []
        upcoming_error: TaskoraError | None = None
        if task.get("recurrence") and not json_output:
            try:
                upcoming = client.upcoming_dates(task_id)
            except TaskoraError as error:
                # The task itself was read, so it is shown before the error is reported.
                upcoming_error = error

    if json_output:
        output.write_json(task, indent=True)
        return
    console = Console()
    output.print_task(console, task)
    if upcoming_error is not None:
        raise TaskoraError(
            f"the next dates of task {task_id} could not be read: {upcoming_error.message}",
            exit_code=upcoming_error.exit_code,
        ) from upcoming_error
    if upcoming:
        console.print("Next dates of the series:")
        for date in upcoming:
            when = output.format_task_time(date, task, output.NEXT_DATE_FORMAT)
            console.print(f"  {escape(when)}")


@app.command(
    help=(
        "Change fields of a task, unless someone else changed it since it was read.\n\n"
        "The command reads the task, then sends the change with the version it read (or "
        "--if-version), so a change made in between fails with exit code 6 instead of being "
        "overwritten.\n\n"
        "A new rule applies from this task on. It keeps the task's anchor unless "
        "--from-completion or --from-due is given, and either of those alone changes only "
        "the anchor. --every, --rrule and --remind need a due time: the task's, or --due."
    ),
    epilog=(
        "Examples:\n\n"
        "  taskora tasks edit 42 --title 'Buy oat milk' --priority high\n\n"
        "  taskora tasks edit 42 --add-tag errands --remove-tag home --due 'fri 17:00'\n\n"
        "  taskora tasks edit 42 --no-due --if-version 3\n\n"
        "  taskora tasks edit 42 --every 'weekly on mon,thu' --remind 1h30m\n\n"
        "  taskora tasks edit 42 --from-completion\n\n"
        "  taskora tasks edit 42 --no-repeat --no-remind"
    ),
)
def edit(
    task_id: TaskIdArgument,
    title: Annotated[
        str | None, typer.Option("--title", help="New title, 1 to 500 characters.")
    ] = None,
    description: Annotated[
        str | None,
        typer.Option("--description", "-d", help="New description; '' clears it."),
    ] = None,
    priority: Annotated[
        Priority | None,
        typer.Option("--priority", "-p", case_sensitive=False, help="New priority."),
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            "-t",
            metavar="TAG",
            help="Replace every tag with these; repeat the option for several.",
            autocompletion=complete_tag,
        ),
    ] = None,
    add_tags: Annotated[
        list[str] | None,
        typer.Option(
            "--add-tag",
            metavar="TAG",
            help="Add this tag; repeatable.",
            autocompletion=complete_tag,
        ),
    ] = None,
    remove_tags: Annotated[
        list[str] | None,
        typer.Option(
            "--remove-tag",
            metavar="TAG",
            help="Remove this tag; repeatable.",
            autocompletion=complete_tag,
        ),
    ] = None,
    no_tags: Annotated[bool, typer.Option("--no-tags", help="Remove every tag.")] = False,
    due: Annotated[
        str | None,
        typer.Option(
            "--due", metavar="WHEN", help=f"New due time: {WHEN_HELP} {EDIT_DUE_ZONE_HELP}"
        ),
    ] = None,
    no_due: Annotated[bool, typer.Option("--no-due", help="Remove the due time.")] = False,
    timezone_name: EditTimezoneOption = None,
    status: Annotated[
        Status | None,
        typer.Option("--status", case_sensitive=False, help="Mark pending or completed."),
    ] = None,
    every: EveryOption = None,
    rrule: RruleOption = None,
    from_completion: Annotated[
        bool | None,
        typer.Option(
            "--from-completion/--from-due",
            help="Count the next occurrence from when the task is completed, or from its due "
            "time. Default: the task keeps its setting; a new rule counts from the due time "
            "when the task had none.",
            show_default=False,
        ),
    ] = None,
    no_repeat: Annotated[
        bool,
        typer.Option(
            "--no-repeat",
            help="Remove the rule, so that completing the task creates no next occurrence.",
        ),
    ] = False,
    remind: RemindOption = None,
    no_remind: Annotated[bool, typer.Option("--no-remind", help="Remove the reminder.")] = False,
    if_version: Annotated[
        int | None,
        typer.Option(
            "--if-version",
            min=1,
            metavar="N",
            help="Change the task only if it is still at this version. Default: the version read.",
        ),
    ] = None,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Change fields of a task, unless someone else changed it since it was read."""
    tags, add_tags, remove_tags = tags or [], add_tags or [], remove_tags or []
    check_edit_options(
        title=title,
        description=description,
        priority=priority,
        tags=tags,
        add_tags=add_tags,
        remove_tags=remove_tags,
        no_tags=no_tags,
        due=due,
        no_due=no_due,
        timezone_name=timezone_name,
        status=status,
        every=every,
        rrule=rrule,
        from_completion=from_completion,
        no_repeat=no_repeat,
        remind=remind,
        no_remind=no_remind,
    )
    remind_before = None if remind is None else parse_remind(remind)
    zone = parse_zone_option(timezone_name)
    now = utc_now()

    with open_client(url, token) as client:
        current, read_version = client.read_task(task_id)
        check_task_has_due(current, due, every=every, rrule=rrule, remind=remind)
        check_no_due_keeps_nothing(current, no_due=no_due, no_repeat=no_repeat, no_remind=no_remind)
        recurrence = None
        if not no_repeat:
            recurrence = build_edit_recurrence(
                current, every=every, rrule=rrule, from_completion=from_completion
            )
        # Without --timezone the task keeps its zone, which the server also uses to end a
        # date alone at 23:59:59.
        due_at = parse_due_option(
            due, now, zone if zone is not None else (lambda: task_zone(current))
        )
        fields, missing = build_edit_fields(
            current,
            title=title,
            description=description,
            priority=priority,
            tags=tags,
            add_tags=add_tags,
            remove_tags=remove_tags,
            no_tags=no_tags,
            due_at=due_at,
            no_due=no_due,
            timezone_name=timezone_name,
            status=status,
            recurrence=recurrence,
            no_repeat=no_repeat,
            remind_before=remind_before,
            no_remind=no_remind,
        )
        for tag in missing:
            _print_warning(f"task {task_id} has no tag {tag!r}, so there was nothing to remove.")
        version = if_version if if_version is not None else read_version
        with shorter_preset_errors(every):
            task = client.update_task(task_id, fields, if_version=version)

    if json_output:
        output.write_json(task, indent=True)
    else:
        output.print_task(Console(), task)


@app.command(
    help=(
        "Mark a task completed. Completing a completed task changes nothing.\n\n"
        "Completing a repeating task creates its next occurrence, and the command prints "
        "its id and due time, in the task's time zone. With --json it prints the completed "
        "task with one more key, next_task: the next occurrence as the API returns a task, "
        "or null when none was created."
    ),
    epilog="Examples:\n\n  taskora tasks done 42\n\n  taskora tasks done 42 --json",
)
def done(
    task_id: TaskIdArgument,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Mark a task completed and print the next occurrence it created, if any."""
    with open_client(url, token) as client:
        task, next_id = client.complete_task(task_id)
        next_task = None
        if next_id is not None:
            try:
                next_task = client.get_task(next_id)
            except TaskoraError as error:
                raise TaskoraError(
                    f"task {task_id} is completed, but its next occurrence, task {next_id}, "
                    f"could not be read: {error.message}",
                    exit_code=error.exit_code,
                ) from error

    if json_output:
        output.write_json({**task, "next_task": next_task}, indent=True)
        return
    _print_message(f"Completed task {output.task_label(task)}.")
    if next_task is not None:
        _print_message(escape(next_occurrence_line(next_task)))


def next_occurrence_line(task: dict[str, Any]) -> str:
    """Return ``Next occurrence: task 107, due 2026-12-05 09:00 CET`` for a new occurrence."""
    due = output.format_task_time(task.get("due_at"), task)
    if not due:
        return f"Next occurrence: task {task.get('id')}."
    return f"Next occurrence: task {task.get('id')}, due {due}."


@app.command(epilog="Example:\n\n  taskora tasks reopen 42")
def reopen(
    task_id: TaskIdArgument,
    json_output: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Mark a completed task pending again. Reopening a pending task changes nothing."""
    with open_client(url, token) as client:
        task = client.reopen_task(task_id)

    if json_output:
        output.write_json(task, indent=True)
    else:
        _print_message(f"Reopened task {output.task_label(task)}.")


@app.command(
    help=(
        "Delete a task. There is no undo.\n\n"
        "Deleting one occurrence of a repeating task skips it: the series continues with "
        "the following occurrence. With --series the series ends instead: its pending "
        "occurrences are deleted, and its completed ones are kept as history."
    ),
    epilog="Examples:\n\n  taskora tasks rm 42\n\n  taskora tasks rm 42 --series",
)
def rm(
    task_id: TaskIdArgument,
    series: Annotated[
        bool,
        typer.Option(
            "--series",
            help="End the task's series too: delete its pending occurrences and keep the "
            "completed ones.",
        ),
    ] = False,
    url: UrlOption = None,
    token: TokenOption = None,
) -> None:
    """Delete a task, or with --series end its whole series."""
    with open_client(url, token) as client:
        # Read first, only to say whether the series continues.
        task = client.get_task(task_id)
        follower = client.delete_task(task_id, series=series)
    repeats = bool(task.get("recurrence"))
    _print_message(deleted_message(task_id, repeats=repeats, series=series, follower=follower))


def deleted_message(
    task_id: int, *, repeats: bool, series: bool, follower: int | None = None
) -> str:
    """Return the confirmation of ``rm``, which reports what happened to a task's series."""
    if not repeats:
        if series:
            return f"Deleted task {task_id}. It did not repeat, so there was no series to end."
        return f"Deleted task {task_id}."
    if series:
        return (
            f"Deleted task {task_id} and ended its series: its pending occurrences were "
            "deleted, and its completed ones are kept."
        )
    if follower is not None:
        return (
            f"Deleted task {task_id}. Its series continues with task {follower}; "
            "use --series to end it."
        )
    return f"Deleted task {task_id}."


# Names that users type for done and rm, accepted without being listed in the help.
app.command("complete", hidden=True, help="Mark a task completed: the same as `done`.")(done)
app.command("delete", hidden=True, help="Delete a task: the same as `rm`. There is no undo.")(rm)
