"""Parsing of the time options (``--due``, ``--due-before``, ``--due-after``) into RFC 3339."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import typer
from cli_helpers import ScriptedResponse, ScriptedServer, make_task
from typer.testing import CliRunner

from taskora.cli import dates

NEW_YORK = ZoneInfo("America/New_York")
# Wednesday 2026-12-23, 10:30 in New York (UTC-5).
WINTER_NOW = datetime(2026, 12, 23, 15, 30, tzinfo=timezone.utc)
# Saturday 2026-03-07, 10:00 in New York, the day before clocks move to UTC-4 at 02:00.
SPRING_NOW = datetime(2026, 3, 7, 15, 0, tzinfo=timezone.utc)
# Saturday 2026-10-31, 12:00 in New York, the day before clocks move back to UTC-5 at 02:00.
AUTUMN_NOW = datetime(2026, 10, 31, 16, 0, tzinfo=timezone.utc)

# A POSIX TZ rule needs no tz database: UTC-5 in winter and UTC-4 from the second Sunday
# of March to the first Sunday of November, like America/New_York.
NEW_YORK_RULE = "EST+05EDT,M3.2.0,M11.1.0"


@pytest.fixture
def new_york_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", NEW_YORK_RULE)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def parse(value: str, now: datetime = WINTER_NOW) -> str:
    return dates.format_rfc3339(dates.parse_when(value, now=now, zone=NEW_YORK))


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
        ("+30m", "2026-12-23T11:00:00-05:00"),
        ("+4h", "2026-12-23T14:30:00-05:00"),
        ("+3d", "2026-12-26T10:30:00-05:00"),
        ("+2w", "2027-01-06T10:30:00-05:00"),
        ("+0d", "2026-12-23T10:30:00-05:00"),
        ("2026-12-24", "2026-12-24T23:59:59-05:00"),
        ("2026-07-04", "2026-07-04T23:59:59-04:00"),
        ("2026-12-24 17:00", "2026-12-24T17:00:00-05:00"),
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
        ("+24h", SPRING_NOW, "2026-03-08T11:00:00-04:00"),
        ("tomorrow", SPRING_NOW, "2026-03-08T23:59:59-04:00"),
        # 02:30 does not exist that night; it names the instant the clocks showed as 03:30.
        ("sun 2:30", SPRING_NOW, "2026-03-08T03:30:00-04:00"),
        ("2026-03-08 02:30", SPRING_NOW, "2026-03-08T03:30:00-04:00"),
        # 01:30 happens twice that night; the first one, still UTC-4, is taken.
        ("sun 1:30", AUTUMN_NOW, "2026-11-01T01:30:00-04:00"),
        ("+1w", AUTUMN_NOW, "2026-11-07T12:00:00-05:00"),
        ("+1d", AUTUMN_NOW, "2026-11-01T12:00:00-05:00"),
        ("+24h", AUTUMN_NOW, "2026-11-01T11:00:00-05:00"),
    ],
)
def test_parse_when_across_dst_change(value: str, now: datetime, expected: str) -> None:
    assert parse(value, now) == expected


@pytest.mark.usefixtures("new_york_time")
@pytest.mark.parametrize(
    ("value", "now", "expected"),
    [
        ("tomorrow 9:00", WINTER_NOW, "2026-12-24T09:00:00-05:00"),
        ("2026-07-04", WINTER_NOW, "2026-07-04T23:59:59-04:00"),
        ("+4h", WINTER_NOW, "2026-12-23T14:30:00-05:00"),
        ("+1d", SPRING_NOW, "2026-03-08T10:00:00-04:00"),
        ("+24h", SPRING_NOW, "2026-03-08T11:00:00-04:00"),
        ("fri", SPRING_NOW, "2026-03-13T23:59:59-04:00"),
    ],
)
def test_parse_when_machine_local_zone(value: str, now: datetime, expected: str) -> None:
    """Without a zone, wall-clock forms use the local zone of the TZ variable."""
    assert dates.format_rfc3339(dates.parse_when(value, now=now)) == expected


def test_parse_when_today_follows_zone() -> None:
    """At 23:30 in New York it is already the next day in Tokyo."""
    late_evening = datetime(2026, 12, 24, 4, 30, tzinfo=timezone.utc)

    tokyo = dates.parse_when("today", now=late_evening, zone=ZoneInfo("Asia/Tokyo"))
    new_york = dates.parse_when("today", now=late_evening, zone=NEW_YORK)

    assert dates.format_rfc3339(tokyo) == "2026-12-24T23:59:59+09:00"
    assert dates.format_rfc3339(new_york) == "2026-12-23T23:59:59-05:00"


def test_parse_when_needs_aware_now() -> None:
    with pytest.raises(ValueError, match="aware"):
        dates.parse_when("today", now=datetime(2026, 12, 23))


@pytest.mark.parametrize(
    "value",
    [
        "",
        "someday",
        "fr",
        "tomorrow 25:00",
        "tomorrow at 9",
        "fri 9",
        "+3y",
        "+d",
        "3d",
        "+1234567d",
        "+999999w",
        "2026-13-01",
        "24.12.2026",
        "2026-12-24T25:00",
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


def test_load_zone_rejects_unknown() -> None:
    for name in ("Mars/Olympus", "/etc/passwd", ""):
        with pytest.raises(dates.InvalidTime):
            dates.load_zone(name)


@pytest.mark.usefixtures("new_york_time")
def test_add_sends_converted_due(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    scripted_server.add("POST", "/api/tasks", ScriptedResponse(201, make_task(1, "Wrap gifts")))

    result = runner.invoke(
        cli,
        [
            "tasks", "add", "Wrap gifts", "--due", "2026-12-24", "-p", "high", "-d", "All of them",
            "--url", scripted_server.url, "--token", "t",
        ],
    )

    assert result.exit_code == 0, result.output
    assert scripted_server.requests[-1].body == {
        "title": "Wrap gifts",
        "description": "All of them",
        "priority": "high",
        "due_at": "2026-12-24T23:59:59-05:00",
    }


@pytest.mark.usefixtures("new_york_time")
def test_add_reads_due_in_timezone_option(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    scripted_server.add("POST", "/api/tasks", ScriptedResponse(201, make_task(1, "Call")))

    result = runner.invoke(
        cli,
        [
            "tasks", "add", "Call", "--due", "2026-12-24 09:00", "--timezone", "Asia/Tokyo",
            "--url", scripted_server.url, "--token", "t",
        ],
    )

    assert result.exit_code == 0, result.output
    assert scripted_server.requests[-1].body == {
        "title": "Call",
        "due_at": "2026-12-24T09:00:00+09:00",
        "timezone": "Asia/Tokyo",
    }


def test_add_invalid_due_is_usage_error(runner: CliRunner, cli: typer.Typer) -> None:
    result = runner.invoke(cli, ["tasks", "add", "x", "--due", "someday", "--token", "t"])

    message = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2
    assert "Invalid value for '--due': 'someday' is not a valid time." in message
    assert "+30m, +4h, +3d or +2w from now" in message


def test_add_unknown_timezone_is_usage_error(runner: CliRunner, cli: typer.Typer) -> None:
    result = runner.invoke(
        cli, ["tasks", "add", "x", "--timezone", "Mars/Olympus", "--token", "t"]
    )

    message = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2
    assert "Invalid value for '--timezone': unknown time zone 'Mars/Olympus'." in message
