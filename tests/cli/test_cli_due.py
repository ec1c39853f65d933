"""Parsing of the time options (``--due``, ``--due-before``, ``--due-after``) and the zone
each command reads them in: ``--timezone``, else the account's or the task's zone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import typer
from cli_helpers import ScriptedResponse, ScriptedServer, make_task, make_user
from typer.testing import CliRunner

from taskora.cli import dates, tasks
from taskora.errors import ExitCode, TaskoraError

NEW_YORK = ZoneInfo("America/New_York")
# Wednesday 2026-12-23, 10:30 in New York (UTC-5).
WINTER_NOW = datetime(2026, 12, 23, 15, 30, tzinfo=timezone.utc)
# Saturday 2026-03-07, 10:00 in New York, the day before clocks move to UTC-4 at 02:00.
SPRING_NOW = datetime(2026, 3, 7, 15, 0, tzinfo=timezone.utc)
# Saturday 2026-10-31, 12:00 in New York, the day before clocks move back to UTC-5 at 02:00.
AUTUMN_NOW = datetime(2026, 10, 31, 16, 0, tzinfo=timezone.utc)
# Thursday 2026-12-24 03:00 UTC: still Wednesday 22:00 in New York, but already Thursday
# noon in Tokyo, so "today" and "tomorrow" name different days in the two zones.
LATE_EVENING_NOW = datetime(2026, 12, 24, 3, 0, tzinfo=timezone.utc)

# A POSIX TZ rule needs no tz database: UTC+9 all year, like Asia/Tokyo.
TOKYO_RULE = "JST-09"


@pytest.fixture
def tokyo_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Set the machine's local time zone to Tokyo, which no expected value uses."""
    monkeypatch.setenv("TZ", TOKYO_RULE)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def pinned_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Make the commands parse times against :data:`WINTER_NOW`."""
    monkeypatch.setattr(tasks, "utc_now", lambda: WINTER_NOW)
    return WINTER_NOW


class CountingZone:
    """A zone function that counts its calls."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.calls = 0

    def __call__(self) -> ZoneInfo:
        self.calls += 1
        return self.zone


def parse(value: str, now: datetime = WINTER_NOW) -> str:
    return dates.format_rfc3339(dates.parse_when(value, now=now, zone=NEW_YORK))


# --- the dates module -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("today", "2026-12-23T23:59:59-05:00"),
        ("today 17:00", "2026-12-23T17:00:00-05:00"),
        ("tomorrow", "2026-12-24T23:59:59-05:00"),
        ("tomorrow 9:00", "2026-12-24T09:00:00-05:00"),
        ("  Tomorrow   09:05:30 ", "2026-12-24T09:05:30-05:00"),
        # A weekday is the next one strictly after today, so Wednesday is a week away.
        ("wed", "2026-12-30T23:59:59-05:00"),
        ("thu", "2026-12-24T23:59:59-05:00"),
        ("thurs", "2026-12-24T23:59:59-05:00"),
        ("fri", "2026-12-25T23:59:59-05:00"),
        ("FRIDAY 17:00", "2026-12-25T17:00:00-05:00"),
        ("tues", "2026-12-29T23:59:59-05:00"),
        ("sun 8:15", "2026-12-27T08:15:00-05:00"),
        # Minutes and hours count elapsed time, which needs no zone, so the result keeps
        # the offset of now (UTC here).
        ("+30m", "2026-12-23T16:00:00+00:00"),
        ("+4h", "2026-12-23T19:30:00+00:00"),
        ("+3d", "2026-12-26T10:30:00-05:00"),
        ("+2w", "2027-01-06T10:30:00-05:00"),
        ("+0d", "2026-12-23T10:30:00-05:00"),
        ("2026-12-24", "2026-12-24T23:59:59-05:00"),
        ("2026-07-04", "2026-07-04T23:59:59-04:00"),
        ("2026-12-24 17:00", "2026-12-24T17:00:00-05:00"),
        ("2026-12-24 9:00", "2026-12-24T09:00:00-05:00"),
        ("2026-12-24T17:00", "2026-12-24T17:00:00-05:00"),
        ("2026-07-04T08:30:15", "2026-07-04T08:30:15-04:00"),
        ("2026-12-24T17:00:00+01:00", "2026-12-24T17:00:00+01:00"),
        ("2026-12-24T16:00:00Z", "2026-12-24T16:00:00+00:00"),
    ],
)
def test_parse_when_accepted_forms(value: str, expected: str) -> None:
    assert parse(value) == expected


@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        # Calendar days keep the wall-clock time although this day is 23 hours long.
        ("+1d", SPRING_NOW, "2026-03-08T10:00:00-04:00"),
        # 24 elapsed hours, kept in UTC, are 11:00 in New York, an hour later than "+1d".
        ("+24h", SPRING_NOW, "2026-03-08T15:00:00+00:00"),
        ("tomorrow", SPRING_NOW, "2026-03-08T23:59:59-04:00"),
        # 02:30 does not exist that night; it names the instant the clocks showed as 03:30.
        ("sun 2:30", SPRING_NOW, "2026-03-08T03:30:00-04:00"),
        ("2026-03-08 02:30", SPRING_NOW, "2026-03-08T03:30:00-04:00"),
        # 01:30 happens twice that night; the first one, still UTC-4, is taken.
        ("sun 1:30", AUTUMN_NOW, "2026-11-01T01:30:00-04:00"),
        ("+1w", AUTUMN_NOW, "2026-11-07T12:00:00-05:00"),
        ("+1d", AUTUMN_NOW, "2026-11-01T12:00:00-05:00"),
        # 24 elapsed hours, kept in UTC, are 11:00 in New York, an hour earlier than "+1d".
        ("+24h", AUTUMN_NOW, "2026-11-01T16:00:00+00:00"),
    ],
)
def test_parse_when_across_dst_change(value: str, now: datetime, expected: str) -> None:
    assert parse(value, now) == expected


@pytest.mark.usefixtures("tokyo_machine")
@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        ("tomorrow 9:00", WINTER_NOW, "2026-12-24T09:00:00-05:00"),
        ("today", LATE_EVENING_NOW, "2026-12-23T23:59:59-05:00"),
        ("2026-07-04", WINTER_NOW, "2026-07-04T23:59:59-04:00"),
        ("+1d", SPRING_NOW, "2026-03-08T10:00:00-04:00"),
        ("fri", SPRING_NOW, "2026-03-13T23:59:59-04:00"),
    ],
)
def test_parse_when_ignores_machine_zone(value: str, now: datetime, expected: str) -> None:
    """The machine's TZ variable (Tokyo here) never changes a result; only ``zone`` does.

    These cases once checked that a missing zone meant the machine's zone, under a New
    York TZ variable. The zone is now always given and the machine's is never read.
    """
    assert parse(value, now) == expected


def test_parse_when_today_follows_zone() -> None:
    """At 23:30 in New York it is already the next day in Tokyo."""
    late_evening = datetime(2026, 12, 24, 4, 30, tzinfo=timezone.utc)

    tokyo = dates.parse_when("today", now=late_evening, zone=ZoneInfo("Asia/Tokyo"))
    new_york = dates.parse_when("today", now=late_evening, zone=NEW_YORK)

    assert dates.format_rfc3339(tokyo) == "2026-12-24T23:59:59+09:00"
    assert dates.format_rfc3339(new_york) == "2026-12-23T23:59:59-05:00"


def test_parse_when_needs_aware_now() -> None:
    with pytest.raises(ValueError, match="aware"):
        dates.parse_when("today", now=datetime(2026, 12, 23), zone=NEW_YORK)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-24", date(2026, 12, 24)),
        ("today", date(2026, 12, 23)),
        ("tomorrow", date(2026, 12, 24)),
        ("fri", date(2026, 12, 25)),
        ("Wednesday", date(2026, 12, 30)),
    ],
)
def test_parse_due_keeps_whole_days(value: str, expected: date) -> None:
    parsed = dates.parse_due(value, now=WINTER_NOW, zone=NEW_YORK)

    assert type(parsed) is date
    assert parsed == expected


def test_parse_due_tomorrow_in_zone() -> None:
    new_york = dates.parse_due("tomorrow", now=LATE_EVENING_NOW, zone=NEW_YORK)
    tokyo = dates.parse_due("tomorrow", now=LATE_EVENING_NOW, zone=ZoneInfo("Asia/Tokyo"))

    assert new_york == date(2026, 12, 24)
    assert tokyo == date(2026, 12, 25)


@pytest.mark.parametrize(
    ("value", "keep_dates", "expected"),
    [
        ("2026-12-24", True, "2026-12-24"),
        ("2026-12-24", False, "2026-12-24T23:59:59-05:00"),
        ("fri", True, "2026-12-25"),
        ("fri", False, "2026-12-25T23:59:59-05:00"),
        ("fri 17:00", True, "2026-12-25T17:00:00-05:00"),
        ("+3d", True, "2026-12-26T10:30:00-05:00"),
        ("+4h", True, "2026-12-23T19:30:00+00:00"),
    ],
)
def test_parse_option_keep_dates(value: str, keep_dates: bool, expected: str) -> None:
    text = dates.parse_option(
        value, "--due", now=WINTER_NOW, zone=NEW_YORK, keep_dates=keep_dates
    )

    assert text == expected


@pytest.mark.parametrize(
    ("value", "keep_dates", "zone_needed"),
    [
        ("+30m", False, False),
        ("+4h", True, False),
        ("2026-12-24T17:00:00+01:00", False, False),
        ("2026-12-24T16:00:00Z", True, False),
        ("2026-12-24", True, False),
        ("2026-12-24", False, True),
        ("2026-12-24 17:00", True, True),
        ("today", True, True),
        ("tomorrow", False, True),
        ("fri", True, True),
        ("fri 17:00", False, True),
        ("+3d", True, True),
        ("+2w", False, True),
    ],
)
def test_parse_option_asks_zone_once_if_needed(
    value: str, keep_dates: bool, zone_needed: bool
) -> None:
    zone = CountingZone(NEW_YORK)

    dates.parse_option(value, "--due", now=WINTER_NOW, zone=zone, keep_dates=keep_dates)

    assert zone.calls == (1 if zone_needed else 0)


@pytest.mark.parametrize("value", ["someday", "tomorrow 25:00", "fri 9", "2026-12-24T25:00"])
def test_parse_option_invalid_asks_no_zone(value: str) -> None:
    zone = CountingZone(NEW_YORK)

    with pytest.raises(typer.BadParameter):
        dates.parse_option(value, "--due", now=WINTER_NOW, zone=zone)

    assert zone.calls == 0


@pytest.mark.parametrize(
    "value",
    [
        "",
        "someday",
        "fr",
        "tomorrow at 9",
        "fri 9",
        "+3y",
        "+d",
        "3d",
        "+1234567d",
        "+999999w",
        "24.12.2026",
        "2026-12-24T9h",
        "2026-12-24T17:00:00+25:00",
    ],
)
def test_parse_option_rejects_invalid(value: str) -> None:
    with pytest.raises(typer.BadParameter) as caught:
        dates.parse_option(value, "--due", now=WINTER_NOW, zone=NEW_YORK)

    assert caught.value.param_hint == "'--due'"
    assert caught.value.message == (
        f"{value!r} is not a valid time. Use today, tomorrow, or a weekday (fri, friday: the "
        "next one after today), each meaning 23:59:59 that day unless a time follows "
        "(tomorrow 9:00, fri 17:00); +30m, +4h, +3d or +2w from now; a date alone, meaning "
        "23:59:59 that day (2026-12-24); a date and time (2026-12-24 17:00 or "
        "2026-12-24T17:00); or an RFC 3339 timestamp with offset (2026-12-24T17:00:00+01:00, "
        "2026-12-24T16:00:00Z)."
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "2026-02-30",
            (
                "'2026-02-30' is not a valid date: day 30 is out of range for February 2026, "
                "which has 28 days."
            ),
        ),
        (
            "2026-02-29 09:00",
            (
                "'2026-02-29 09:00' is not a valid date: day 29 is out of range for February "
                "2026, which has 28 days."
            ),
        ),
        (
            "2026-04-31",
            (
                "'2026-04-31' is not a valid date: day 31 is out of range for April 2026, which "
                "has 30 days."
            ),
        ),
        (
            "2026-12-00",
            (
                "'2026-12-00' is not a valid date: day 0 is out of range for December 2026, "
                "which has 31 days."
            ),
        ),
        ("2026-13-01", "'2026-13-01' is not a valid date: month 13 is out of range (1 to 12)."),
        (
            "2026-00-10T09:00",
            "'2026-00-10T09:00' is not a valid date: month 0 is out of range (1 to 12).",
        ),
        ("0000-01-01", "'0000-01-01' is not a valid date: year 0 is out of range (1 to 9999)."),
        (
            "2026-12-24T25:00",
            "'2026-12-24T25:00' is not a valid time: hour 25 is out of range (0 to 23).",
        ),
        (
            "2026-12-24 24:00",
            "'2026-12-24 24:00' is not a valid time: hour 24 is out of range (0 to 23).",
        ),
        (
            "2026-12-24T17:60Z",
            "'2026-12-24T17:60Z' is not a valid time: minute 60 is out of range (0 to 59).",
        ),
        (
            "2026-12-24T23:59:60+01:00",
            "'2026-12-24T23:59:60+01:00' is not a valid time: second 60 is out of range (0 to 59).",
        ),
        (
            "tomorrow 25:00",
            "'tomorrow 25:00' is not a valid time: hour 25 is out of range (0 to 23).",
        ),
        ("fri 9:61", "'fri 9:61' is not a valid time: minute 61 is out of range (0 to 59)."),
    ],
)
def test_parse_option_out_of_range(value: str, message: str) -> None:
    zone = CountingZone(NEW_YORK)

    with pytest.raises(typer.BadParameter) as caught:
        dates.parse_option(value, "--due", now=WINTER_NOW, zone=zone, keep_dates=True)

    assert caught.value.param_hint == "'--due'"
    assert caught.value.message == message
    assert zone.calls == 0


def test_parse_option_accepts_leap_day() -> None:
    text = dates.parse_option("2028-02-29", "--due", now=WINTER_NOW, zone=NEW_YORK, keep_dates=True)

    assert text == "2028-02-29"


def test_load_zone_rejects_unknown() -> None:
    for name in ("Mars/Olympus", "/etc/passwd", ""):
        with pytest.raises(dates.InvalidTime):
            dates.load_zone(name)


# --- tasks add ------------------------------------------------------------------------


def options(server: ScriptedServer) -> list[str]:
    return ["--url", server.url, "--token", "t"]


def paths(server: ScriptedServer) -> list[str]:
    return [f"{request.method} {request.path}" for request in server.requests]


@pytest.fixture
def new_york_account(scripted_server: ScriptedServer) -> ScriptedServer:
    """The scripted server with an account in America/New_York that accepts new tasks."""
    scripted_server.add("GET", "/api/users/me", ScriptedResponse(200, make_user(NEW_YORK.key)))
    scripted_server.add("POST", "/api/tasks", ScriptedResponse(201, make_task(1, "Call")))
    return scripted_server


@pytest.mark.usefixtures("pinned_now", "tokyo_machine")
@pytest.mark.parametrize(
    ("due", "expected"),
    [
        # 17:00 in New York is 22:00Z in winter.
        ("fri 17:00", "2026-12-25T17:00:00-05:00"),
        ("2026-12-24 17:00", "2026-12-24T17:00:00-05:00"),
        ("2026-07-04 09:00", "2026-07-04T09:00:00-04:00"),
        ("+3d", "2026-12-26T10:30:00-05:00"),
        # Whole days go as dates, so the server ends them at 23:59:59 in the task's zone.
        ("fri", "2026-12-25"),
        ("tomorrow", "2026-12-24"),
    ],
)
def test_add_reads_due_in_account_zone(
    runner: CliRunner, cli: typer.Typer, new_york_account: ScriptedServer, due: str, expected: str
) -> None:
    result = runner.invoke(
        cli, ["tasks", "add", "Call", "--due", due, *options(new_york_account)]
    )

    assert result.exit_code == 0, result.output
    assert paths(new_york_account) == ["GET /api/users/me", "POST /api/tasks"]
    assert new_york_account.requests[-1].body == {"title": "Call", "due_at": expected}


@pytest.mark.usefixtures("tokyo_machine")
def test_add_tomorrow_is_account_day(
    runner: CliRunner,
    cli: typer.Typer,
    new_york_account: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At 22:00 in New York it is already the next day in Tokyo, the machine's zone."""
    monkeypatch.setattr(tasks, "utc_now", lambda: LATE_EVENING_NOW)

    result = runner.invoke(
        cli, ["tasks", "add", "Call", "--due", "tomorrow", *options(new_york_account)]
    )

    assert result.exit_code == 0, result.output
    assert new_york_account.requests[-1].body == {"title": "Call", "due_at": "2026-12-24"}


@pytest.mark.usefixtures("pinned_now")
@pytest.mark.parametrize(
    ("due", "expected"),
    [
        ("2026-12-24", "2026-12-24"),
        ("+4h", "2026-12-23T19:30:00+00:00"),
        ("2026-12-24T17:00:00+01:00", "2026-12-24T17:00:00+01:00"),
    ],
)
def test_add_without_zone_skips_account(
    runner: CliRunner, cli: typer.Typer, new_york_account: ScriptedServer, due: str, expected: str
) -> None:
    """A value that needs no zone sends no ``GET /api/users/me``."""
    result = runner.invoke(
        cli, ["tasks", "add", "Call", "--due", due, *options(new_york_account)]
    )

    assert result.exit_code == 0, result.output
    assert paths(new_york_account) == ["POST /api/tasks"]
    assert new_york_account.requests[-1].body == {"title": "Call", "due_at": expected}


@pytest.mark.usefixtures("pinned_now")
def test_add_timezone_option_beats_account(
    runner: CliRunner, cli: typer.Typer, new_york_account: ScriptedServer
) -> None:
    result = runner.invoke(
        cli,
        [
            "tasks", "add", "Call", "--due", "2026-12-24 09:00", "--timezone", "Asia/Tokyo",
            *options(new_york_account),
        ],
    )

    assert result.exit_code == 0, result.output
    assert paths(new_york_account) == ["POST /api/tasks"]
    assert new_york_account.requests[-1].body == {
        "title": "Call",
        "due_at": "2026-12-24T09:00:00+09:00",
        "timezone": "Asia/Tokyo",
    }


def test_add_sends_date_alone(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    """A date alone goes as a date, without asking for the account's zone.

    This test once expected 23:59:59 in the machine's zone (New York) with an offset. The
    server now ends the day in the task's time zone, whichever machine sent the request.
    """
    scripted_server.add("POST", "/api/tasks", ScriptedResponse(201, make_task(1, "Wrap gifts")))

    result = runner.invoke(
        cli,
        [
            "tasks", "add", "Wrap gifts", "--due", "2026-12-24", "-p", "high", "-d", "All of them",
            *options(scripted_server),
        ],
    )

    assert result.exit_code == 0, result.output
    assert paths(scripted_server) == ["POST /api/tasks"]
    assert scripted_server.requests[-1].body == {
        "title": "Wrap gifts",
        "description": "All of them",
        "priority": "high",
        "due_at": "2026-12-24",
    }


def test_add_unknown_account_zone(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    scripted_server.add("GET", "/api/users/me", ScriptedResponse(200, make_user("Mars/Olympus")))

    result = runner.invoke(
        cli, ["tasks", "add", "Call", "--due", "fri 17:00", *options(scripted_server)]
    )

    assert isinstance(result.exception, TaskoraError), result.output
    assert result.exception.exit_code == ExitCode.ERROR
    assert result.exception.message == (
        "the time zone of your account is 'Mars/Olympus', which this machine's time zone "
        "database does not contain. Update the tzdata package, or pass --timezone with a "
        "zone that this machine knows."
    )
    assert paths(scripted_server) == ["GET /api/users/me"]


def test_add_invalid_due_is_usage_error(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    result = runner.invoke(
        cli, ["tasks", "add", "x", "--due", "tomorrow at 9", *options(scripted_server)]
    )

    message = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2
    assert "Invalid value for '--due': 'tomorrow at 9' is not a valid time." in message
    assert "+30m, +4h, +3d or +2w from now" in message
    assert scripted_server.requests == []


def test_add_impossible_due_names_day(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    result = runner.invoke(
        cli, ["tasks", "add", "x", "--due", "2026-02-30", *options(scripted_server)]
    )

    message = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2
    assert (
        "Invalid value for '--due': '2026-02-30' is not a valid date: day 30 is out of range "
        "for February 2026, which has 28 days."
    ) in message
    assert "from now" not in message
    assert scripted_server.requests == []


def test_add_unknown_timezone_is_usage_error(runner: CliRunner, cli: typer.Typer) -> None:
    result = runner.invoke(
        cli, ["tasks", "add", "x", "--timezone", "Mars/Olympus", "--token", "t"]
    )

    message = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2
    assert "Invalid value for '--timezone': unknown time zone 'Mars/Olympus'." in message


# --- tasks edit -----------------------------------------------------------------------


@pytest.fixture
def berlin_task(scripted_server: ScriptedServer) -> ScriptedServer:
    """The scripted server with task 5 in Europe/Berlin, in an account in New York."""
    task = make_task(5, "Call", timezone="Europe/Berlin")
    scripted_server.add("GET", "/api/users/me", ScriptedResponse(200, make_user(NEW_YORK.key)))
    scripted_server.add(
        "GET", "/api/tasks/5", ScriptedResponse(200, task, headers={"ETag": '"1"'})
    )
    scripted_server.add("PATCH", "/api/tasks/5", ScriptedResponse(200, task))
    return scripted_server


@pytest.mark.usefixtures("pinned_now", "tokyo_machine")
@pytest.mark.parametrize(
    ("due", "expected"),
    [
        # 17:00 in Berlin is 16:00Z in winter.
        ("2026-12-24 17:00", "2026-12-24T17:00:00+01:00"),
        ("fri 17:00", "2026-12-25T17:00:00+01:00"),
        ("2026-12-24", "2026-12-24"),
        ("tomorrow", "2026-12-24"),
    ],
)
def test_edit_reads_due_in_task_zone(
    runner: CliRunner, cli: typer.Typer, berlin_task: ScriptedServer, due: str, expected: str
) -> None:
    result = runner.invoke(cli, ["tasks", "edit", "5", "--due", due, *options(berlin_task)])

    assert result.exit_code == 0, result.output
    assert paths(berlin_task) == ["GET /api/tasks/5", "PATCH /api/tasks/5"]
    assert berlin_task.requests[-1].body == {"due_at": expected}


@pytest.mark.usefixtures("pinned_now")
def test_edit_timezone_option_beats_task(
    runner: CliRunner, cli: typer.Typer, berlin_task: ScriptedServer
) -> None:
    result = runner.invoke(
        cli,
        [
            "tasks", "edit", "5", "--due", "2026-12-24 17:00", "--timezone", "America/New_York",
            *options(berlin_task),
        ],
    )

    assert result.exit_code == 0, result.output
    assert berlin_task.requests[-1].body == {
        "timezone": "America/New_York",
        "due_at": "2026-12-24T17:00:00-05:00",
    }


def test_edit_task_without_zone(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    task = make_task(5, "Call")
    del task["timezone"]
    scripted_server.add("GET", "/api/tasks/5", ScriptedResponse(200, task))

    result = runner.invoke(
        cli, ["tasks", "edit", "5", "--due", "fri 17:00", *options(scripted_server)]
    )

    assert isinstance(result.exception, TaskoraError), result.output
    assert result.exception.exit_code == ExitCode.ERROR
    assert result.exception.message == (
        "the server sent no time zone for task 5. Pass --timezone with an IANA name such as "
        "Europe/Berlin."
    )
    assert paths(scripted_server) == ["GET /api/tasks/5"]


# --- tasks list -----------------------------------------------------------------------


@pytest.mark.usefixtures("pinned_now", "tokyo_machine")
def test_list_reads_filters_in_account_zone(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    scripted_server.add("GET", "/api/users/me", ScriptedResponse(200, make_user(NEW_YORK.key)))
    empty_page = {"items": [], "next_cursor": None}
    scripted_server.add("GET", "/api/tasks", ScriptedResponse(200, empty_page))

    result = runner.invoke(
        cli,
        [
            "tasks", "list", "--due-after", "fri 17:00", "--due-before", "2026-12-31",
            *options(scripted_server),
        ],
    )

    assert result.exit_code == 0, result.output
    # One account lookup serves both options.
    assert paths(scripted_server) == ["GET /api/users/me", "GET /api/tasks"]
    assert scripted_server.requests[-1].query == [
        ("due_before", "2026-12-31T23:59:59-05:00"),
        ("due_after", "2026-12-25T17:00:00-05:00"),
    ]


@pytest.mark.usefixtures("pinned_now")
def test_list_filter_without_zone_skips_account(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    empty_page = {"items": [], "next_cursor": None}
    scripted_server.add("GET", "/api/tasks", ScriptedResponse(200, empty_page))

    result = runner.invoke(
        cli, ["tasks", "list", "--due-before", "+4h", *options(scripted_server)]
    )

    assert result.exit_code == 0, result.output
    assert paths(scripted_server) == ["GET /api/tasks"]
    assert scripted_server.requests[-1].query == [("due_before", "2026-12-23T19:30:00+00:00")]


def test_skipped_local_time_is_warned(caplog: pytest.LogCaptureFixture) -> None:
    now = datetime(2027, 3, 1, 12, tzinfo=timezone.utc)
    berlin = ZoneInfo("Europe/Berlin")

    with caplog.at_level("WARNING", logger="taskora.cli.dates"):
        skipped = dates.parse_due("2027-03-28 02:30", now=now, zone=berlin)
        ordinary = dates.parse_due("2027-03-27 02:30", now=now, zone=berlin)

    assert skipped == datetime(2027, 3, 28, 3, 30, tzinfo=berlin)
    assert ordinary == datetime(2027, 3, 27, 2, 30, tzinfo=berlin)
    assert [record.getMessage() for record in caplog.records] == [
        "2027-03-28 02:30 does not exist in Europe/Berlin: the clocks move forward that day, "
        "so 03:30 CEST is used"
    ]
