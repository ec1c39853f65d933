"""Reminder offsets, --every presets, schedule options and their rendering, without a server."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pytest
import typer
from cli_helpers import make_cloudevent, make_task
from rich.console import Console

from taskora.cli import checks, dates, output, tasks
from taskora.cli.client import next_task_id
from taskora.errors import ExitCode, TaskoraError
from taskora.server.domain.recurrence import preset_to_rule


def render(markup: str) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(markup)
    return console.file.getvalue().rstrip()  # type: ignore[attr-defined]


# --- reminder offsets -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", "PT15M"),
        ("2h", "PT2H"),
        ("1h30m", "PT1H30M"),
        ("1H 30M", "PT1H30M"),
        ("2d12h", "P2DT12H"),
        ("1d", "P1D"),
        ("1w", "P1W"),
        ("1w2d", "P9D"),
        ("52w", "P52W"),
        ("365d", "P365D"),
        ("0m", "PT0M"),
        ("PT15M", "PT15M"),
        ("p1dt2h", "P1DT2H"),
    ],
)
def test_reminder_offset_accepted(text: str, expected: str) -> None:
    assert dates.parse_reminder_offset(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "90s",
            (
                "'90s' uses seconds, which reminder offsets do not accept. Round it to minutes "
                "or longer, such as 2m or 1h30m."
            ),
        ),
        (
            "1h30s",
            (
                "'1h30s' uses seconds, which reminder offsets do not accept. Round it to minutes "
                "or longer, such as 2m or 1h30m."
            ),
        ),
        (
            "PT90S",
            (
                "'PT90S' uses seconds, which reminder offsets do not accept. Round it to minutes "
                "or longer, such as 2m or 1h30m."
            ),
        ),
        (
            "366d",
            (
                "'366d' is longer than 365 days, the longest reminder offset. Use a shorter one, "
                "such as 52w or 365d."
            ),
        ),
        (
            "52w2d",
            (
                "'52w2d' is longer than 365 days, the longest reminder offset. Use a shorter one, "
                "such as 52w or 365d."
            ),
        ),
        (
            "P1Y",
            (
                "'P1Y' is longer than 365 days, the longest reminder offset. Use a shorter one, "
                "such as 52w or 365d."
            ),
        ),
        (
            "30m1h",
            (
                "'30m1h' repeats a unit or puts a smaller one first. Write each unit once, from "
                "weeks to minutes, such as 1w2d or 2h30m."
            ),
        ),
        (
            "2y",
            (
                "'y' in '2y' is not a unit of reminder offsets. Use m (minutes), h (hours), "
                "d (days) or w (weeks), such as 1h30m."
            ),
        ),
        ("soon", f"'soon' is not a reminder offset. Use {dates.REMINDER_FORMS}."),
        ("1h30", f"'1h30' is not a reminder offset. Use {dates.REMINDER_FORMS}."),
        ("P", f"'P' is not a reminder offset. Use {dates.REMINDER_FORMS}."),
        ("", f"the reminder offset is empty. Use {dates.REMINDER_FORMS}."),
    ],
)
def test_reminder_offset_rejected(text: str, message: str) -> None:
    with pytest.raises(dates.InvalidOffset) as caught:
        dates.parse_reminder_offset(text)

    assert str(caught.value) == message


def test_remind_option_names_option() -> None:
    with pytest.raises(typer.BadParameter) as caught:
        tasks.parse_remind("90s")

    assert caught.value.param_hint == "'--remind'"


# --- presets ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "message"),
    [
        (
            "weekly on funday",
            (
                "'funday' is not a weekday in 'weekly on funday'. "
                "Use mon, tue, wed, thu, fri, sat or sun."
            ),
        ),
        (
            "weekly on mon, wendsday",
            (
                "'wendsday' is not a weekday in 'weekly on mon, wendsday'. "
                "Use mon, tue, wed, thu, fri, sat or sun."
            ),
        ),
        (
            "every 2 weeks on tue and funday",
            (
                "'funday' is not a weekday in 'every 2 weeks on tue and funday'. "
                "Use mon, tue, wed, thu, fri, sat or sun."
            ),
        ),
        (
            "monthly on the last funday",
            (
                "'funday' is not a weekday in 'monthly on the last funday'. "
                "Use mon, tue, wed, thu, fri, sat or sun."
            ),
        ),
        (
            "monthly on the 32nd",
            "32 is not a day of the month in 'monthly on the 32nd'. Use 1 to 31.",
        ),
        (
            "every 3th friday",
            "'3th' is not an ordinal in 'every 3th friday'. Use 1st, 2nd, 3rd, 4th, 5th or last.",
        ),
        (
            "every 3rd funday",
            (
                "'funday' is not a weekday in 'every 3rd funday'. "
                "Use mon, tue, wed, thu, fri, sat or sun."
            ),
        ),
        (
            "every funday",
            f"'funday' is not a weekday in 'every funday'. {tasks.EVERY_HINT}",
        ),
    ],
)
def test_preset_problem_names_word(preset: str, message: str) -> None:
    assert tasks.describe_preset_problem(preset) == message


@pytest.mark.parametrize(
    "preset",
    [
        "daily",
        "weekdays",
        "every weekday",
        "weekly",
        "monthly",
        "yearly",
        "every day",
        "every 3 days",
        "every other week",
        "every 2 months",
        "weekly on mon,wed",
        "weekly on Monday and Wednesday",
        "every 2 weeks on tue, thu",
        "every monday",
        "every mon and fri",
        "monthly on the 15th",
        "monthly on day 15",
        "monthly on the last day",
        "monthly on the last friday",
        "every 3rd friday",
        "every last friday",
    ],
)
def test_preset_accepted_by_server_passes(preset: str) -> None:
    """Every preset the server's parser accepts must reach the server unchallenged."""
    preset_to_rule(preset, datetime(2026, 12, 4, 9, 0))

    assert tasks.describe_preset_problem(preset) is None


def test_unknown_preset_left_to_server() -> None:
    assert tasks.describe_preset_problem("fortnightly") is None


# --- add and edit option checks ----------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"every": "daily"}, "--every needs --due: a repeating task needs a due date."),
        ({"rrule": "FREQ=DAILY"}, "--rrule needs --due: a repeating task needs a due date."),
        (
            {"remind": "15m"},
            "--remind needs --due: a reminder is counted back from the due date.",
        ),
    ],
)
def test_add_schedule_needs_due(options: dict[str, str], message: str) -> None:
    arguments: dict[str, Any] = {"every": None, "rrule": None, "remind": None, **options}

    with pytest.raises(TaskoraError) as caught:
        tasks.check_needs_due(None, **arguments)

    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.message == message


def test_add_recurrence_anchor() -> None:
    assert tasks.build_recurrence("daily", None, None) == {"preset": "daily", "anchor": "due"}
    assert tasks.build_recurrence(None, "FREQ=DAILY", True) == {
        "rule": "FREQ=DAILY",
        "anchor": "completion",
    }
    assert tasks.build_recurrence(None, None, None) is None


def test_add_anchor_without_rule() -> None:
    with pytest.raises(TaskoraError) as caught:
        tasks.build_recurrence(None, None, False)

    assert caught.value.message == "--from-due needs --every or --rrule"


def edit_options(**changes: Any) -> dict[str, Any]:
    """Return the keyword arguments of check_edit_options with ``changes`` applied."""
    options: dict[str, Any] = {
        "title": None,
        "description": None,
        "priority": None,
        "tags": [],
        "add_tags": [],
        "remove_tags": [],
        "no_tags": False,
        "due": None,
        "no_due": False,
        "timezone_name": None,
        "status": None,
    }
    options.update(changes)
    return options


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"every": "daily", "rrule": "FREQ=DAILY"},
            "--every and --rrule both set how the task repeats: give one.",
        ),
        (
            {"no_repeat": True, "every": "daily"},
            (
                "--no-repeat removes the rule, so it cannot be combined with --every, --rrule, "
                "--from-completion or --from-due."
            ),
        ),
        (
            {"no_repeat": True, "from_completion": False},
            (
                "--no-repeat removes the rule, so it cannot be combined with --every, --rrule, "
                "--from-completion or --from-due."
            ),
        ),
        ({"remind": "1h", "no_remind": True}, "--remind and --no-remind cannot be combined."),
        (
            {"every": "daily", "no_due": True},
            "--every needs a due date, so it cannot be combined with --no-due.",
        ),
        (
            {"remind": "1h", "no_due": True},
            "--remind needs a due date, so it cannot be combined with --no-due.",
        ),
    ],
)
def test_edit_schedule_conflicts(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(TaskoraError) as caught:
        tasks.check_edit_options(**edit_options(**changes))

    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.message == message


@pytest.mark.parametrize(
    "changes",
    [
        {"every": "daily"},
        {"rrule": "FREQ=DAILY"},
        {"from_completion": True},
        {"from_completion": False},
        {"no_repeat": True},
        {"remind": "1h"},
        {"no_remind": True},
    ],
)
def test_edit_schedule_option_is_change(changes: dict[str, Any]) -> None:
    tasks.check_edit_options(**edit_options(**changes))


def test_edit_needs_due_on_task() -> None:
    current = make_task(8, "No due")

    with pytest.raises(TaskoraError) as caught:
        tasks.check_task_has_due(current, None, every=None, rrule=None, remind="1h")

    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.message == "--remind needs a due date, and task 8 has none. Pass --due too."


REPEATING = make_task(
    9,
    "Gym",
    due_at="2026-12-04T17:00:00Z",
    recurrence={"rule": "FREQ=WEEKLY;BYDAY=FR", "anchor": "completion"},
)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # A new rule keeps the task's anchor.
        ({"every": "daily"}, {"preset": "daily", "anchor": "completion"}),
        (
            {"rrule": "FREQ=DAILY", "from_completion": False},
            {"rule": "FREQ=DAILY", "anchor": "due"},
        ),
        # An anchor option alone changes the anchor of the rule the task has.
        ({"from_completion": False}, {"rule": "FREQ=WEEKLY;BYDAY=FR", "anchor": "due"}),
        ({}, None),
    ],
)
def test_edit_recurrence_body(options: dict[str, Any], expected: dict[str, str] | None) -> None:
    arguments: dict[str, Any] = {"every": None, "rrule": None, "from_completion": None, **options}

    assert tasks.build_edit_recurrence(REPEATING, **arguments) == expected


def test_edit_anchor_on_task_without_rule() -> None:
    with pytest.raises(TaskoraError) as caught:
        tasks.build_edit_recurrence(
            make_task(5, "Once"), every=None, rrule=None, from_completion=True
        )

    assert caught.value.message == (
        "task 5 does not repeat, so --from-completion needs --every or --rrule."
    )


def test_edit_fields_clear_schedule() -> None:
    fields, _ = tasks.build_edit_fields(REPEATING, no_repeat=True, no_remind=True)

    assert fields == {"recurrence": None, "remind_before": None}


def test_edit_fields_set_schedule() -> None:
    recurrence = {"preset": "daily", "anchor": "due"}

    fields, _ = tasks.build_edit_fields(REPEATING, recurrence=recurrence, remind_before="PT1H")

    assert fields == {"recurrence": recurrence, "remind_before": "PT1H"}


# --- rm, done -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("repeats", "series", "message"),
    [
        (False, False, "Deleted task 106."),
        # A completed occurrence, or the last one of its series: nothing follows.
        (True, False, "Deleted task 106."),
        (
            True,
            True,
            (
                "Deleted task 106 and ended its series: its pending occurrences were deleted, "
                "and its completed ones are kept."
            ),
        ),
        (False, True, "Deleted task 106. It did not repeat, so there was no series to end."),
    ],
)
def test_deleted_message(repeats: bool, series: bool, message: str) -> None:
    assert tasks.deleted_message(106, repeats=repeats, series=series) == message


def test_deleted_message_names_follower() -> None:
    message = tasks.deleted_message(106, repeats=True, series=False, follower=107)

    assert (
        message == "Deleted task 106. Its series continues with task 107; use --series to end it."
    )


def test_next_task_id_from_link() -> None:
    assert next_task_id({"url": "/api/tasks/107", "rel": "next"}) == 107
    assert next_task_id({"url": "http://127.0.0.1:9/api/tasks/8", "rel": "next"}) == 8
    assert next_task_id(None) is None


def test_next_task_id_rejects_other_target() -> None:
    with pytest.raises(TaskoraError) as caught:
        next_task_id({"url": "/api/users/me", "rel": "next"})

    assert caught.value.exit_code == ExitCode.ERROR
    assert caught.value.message.startswith(
        "the server sent a rel=\"next\" link to '/api/users/me', which is not a task."
    )


def test_next_occurrence_line_task_zone() -> None:
    task = make_task(107, "Gym", due_at="2026-12-05T08:00:00Z", timezone="Europe/Berlin")

    assert (
        tasks.next_occurrence_line(task) == "Next occurrence: task 107, due 2026-12-05 09:00 CET."
    )


# --- rendering ----------------------------------------------------------------------------


def test_details_reminder_row() -> None:
    task = make_task(
        1,
        "x",
        due_at="2026-12-05T08:00:00Z",
        timezone="Europe/Berlin",
        remind_before="PT1H30M",
        remind_at="2026-12-05T06:30:00Z",
    )

    rows = dict(output._schedule_rows(task))

    assert rows["reminder"] == "1 hour 30 minutes before the due time, at 2026-12-05 07:30:00 CET"


def reminder_event(late: bool) -> dict[str, Any]:
    cloudevent = make_cloudevent("task.reminder", 12, "Gym")
    cloudevent["time"] = "2026-12-05T07:31:00Z"
    cloudevent["data"].update(
        {
            "timezone": "Europe/Berlin",
            "due_at": "2026-12-05T08:00:00Z",
            "remind_at": "2026-12-05T07:30:00Z",
            "late": late,
        }
    )
    return cloudevent


def test_event_line_reminder_on_time() -> None:
    text = render(output.event_line(reminder_event(False), "task.reminder", 7))

    assert text == (
        "#7       2026-12-05 08:31:00 CET  task.reminder    task 12  Gym  "
        "reminder at 2026-12-05 08:30 CET, due 2026-12-05 09:00 CET"
    )


def test_event_line_reminder_late() -> None:
    text = render(output.event_line(reminder_event(True), "task.reminder", 7))

    assert text.endswith("reminder at 2026-12-05 08:30 CET, due 2026-12-05 09:00 CET (late)")


def test_event_line_due_in_task_zone() -> None:
    cloudevent = make_cloudevent("task.created", 3, "Call")
    cloudevent["data"].update({"timezone": "America/New_York", "due_at": "2026-12-24T22:00:00Z"})

    text = render(output.event_line(cloudevent, "task.created", 2))

    assert text == (
        "#2       2026-12-24 11:00:05 EST  task.created     task 3  Call  due 2026-12-24 17:00 EST"
    )


def test_unknown_zone_shown_in_utc() -> None:
    task = make_task(1, "x", due_at="2026-12-05T08:00:00Z", timezone="Mars/Olympus_Mons")

    assert output.format_task_time(task["due_at"], task) == "2026-12-05 08:00 UTC"


@pytest.mark.parametrize(
    ("examined", "created", "expected"),
    [
        (
            0,
            0,
            (
                "Examined 0 completed recurring tasks without a next occurrence; "
                "created 0 occurrences."
            ),
        ),
        (
            1,
            1,
            "Examined 1 completed recurring task without a next occurrence; created 1 occurrence.",
        ),
        (
            3,
            2,
            (
                "Examined 3 completed recurring tasks without a next occurrence; "
                "created 2 occurrences."
            ),
        ),
    ],
)
def test_recurrence_summary_number(examined: int, created: int, expected: str) -> None:
    assert checks.recurrence_summary(examined, created) == expected


@pytest.mark.parametrize(
    ("examined", "sent", "expected"),
    [
        (0, 0, "Examined 0 due reminders; sent 0."),
        (1, 1, "Examined 1 due reminder; sent 1."),
        (2, 1, "Examined 2 due reminders; sent 1."),
    ],
)
def test_reminder_summary_number(examined: int, sent: int, expected: str) -> None:
    assert checks.reminder_summary(examined, sent) == expected


def test_details_series_row() -> None:
    task = make_task(7, "x", series_id=3, occurrence=4)

    rows = dict(output._schedule_rows(task))

    assert rows["series"] == "task 3, occurrence 4"


@pytest.mark.parametrize(
    ("duration", "words"),
    [
        ("PT15M", "15 minutes"),
        ("PT1H", "1 hour"),
        ("P1DT2H30M", "1 day 2 hours 30 minutes"),
        ("P2W", "2 weeks"),
        ("soon", "soon"),
    ],
)
def test_describe_duration(duration: str, words: str) -> None:
    assert output.describe_duration(duration) == words


@pytest.mark.parametrize(
    ("current", "flags", "message"),
    [
        (
            {"id": 5, "recurrence": {"rule": "FREQ=DAILY", "anchor": "due"}},
            {},
            "task 5 repeats, and a repeating task needs a due date: add --no-repeat to stop it "
            "repeating, or keep its due date",
        ),
        (
            {"id": 6, "recurrence": None, "remind_before": "PT15M"},
            {},
            "task 6 has a reminder, which needs a due date: add --no-remind to drop it, or keep "
            "its due date",
        ),
    ],
)
def test_no_due_names_what_blocks_it(current: dict, flags: dict, message: str) -> None:
    with pytest.raises(TaskoraError) as caught:
        tasks.check_no_due_keeps_nothing(current, no_due=True, no_repeat=False, no_remind=False)

    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.message == message


def test_no_due_with_drops_is_allowed() -> None:
    current = {"id": 5, "recurrence": {"rule": "FREQ=DAILY"}, "remind_before": "PT15M"}

    tasks.check_no_due_keeps_nothing(current, no_due=True, no_repeat=True, no_remind=True)
    tasks.check_no_due_keeps_nothing(current, no_due=False, no_repeat=False, no_remind=False)
