"""Tests of reminder times: calendar units on local wall time, exact units in elapsed time."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from taskora.server.domain.reminders import reminder_time

BERLIN = ZoneInfo("Europe/Berlin")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# (due date, duration, time zone, expected reminder)
REMINDER_CASES = [
    # 09:00 CEST on 29 March 2026, the day Berlin moves from CET to CEST.
    (utc(2026, 3, 29, 7), "P1D", "Europe/Berlin", utc(2026, 3, 28, 8)),  # 09:00 CET
    (utc(2026, 3, 29, 7), "PT24H", "Europe/Berlin", utc(2026, 3, 28, 7)),  # 08:00 CET
    (utc(2026, 3, 29, 7), "P1DT1H", "Europe/Berlin", utc(2026, 3, 28, 7)),
    # 09:00 CET on 25 October 2026, the day Berlin moves back to CET.
    (utc(2026, 10, 25, 8), "P1D", "Europe/Berlin", utc(2026, 10, 24, 7)),  # 09:00 CEST
    (utc(2026, 10, 25, 8), "P1W", "Europe/Berlin", utc(2026, 10, 18, 7)),
    (utc(2026, 10, 25, 8), "PT15M", "Europe/Berlin", utc(2026, 10, 25, 7, 45)),
    (utc(2026, 10, 25, 8), "PT1H30M", "Europe/Berlin", utc(2026, 10, 25, 6, 30)),
    (utc(2026, 10, 25, 8), "PT90S", "Europe/Berlin", utc(2026, 10, 25, 7, 58, 30)),
    # A day before 02:30 on 30 March is 02:30 on 29 March, which Berlin skips: 03:30 CEST.
    (utc(2026, 3, 30, 0, 30), "P1D", "Europe/Berlin", utc(2026, 3, 29, 1, 30)),
    # A day before 02:30 CET on 26 October is 02:30 on 25 October, which occurs twice, and
    # the first, in CEST, is taken.
    (utc(2026, 10, 26, 1, 30), "P1D", "Europe/Berlin", utc(2026, 10, 25, 0, 30)),
    # Months and years keep the day, or take the month's last day. 31 March 2024 is in CEST
    # and 29 February in CET, and both reminders stay at 09:00 local.
    (utc(2024, 3, 31, 7), "P1M", "Europe/Berlin", utc(2024, 2, 29, 8)),
    (utc(2028, 2, 29, 8), "P1Y", "Europe/Berlin", utc(2027, 2, 28, 8)),
    (utc(2026, 5, 15, 7), "P1Y2M", "Europe/Berlin", utc(2025, 3, 15, 8)),
    # New York moves to EDT on 8 March 2026: P2D before 09:00 EDT is 09:00 EST.
    (utc(2026, 3, 9, 13), "P2D", "America/New_York", utc(2026, 3, 7, 14)),
    # Adelaide is UTC+10:30 from 02:00 on 4 October 2026, UTC+09:30 before.
    (utc(2026, 10, 4, 22, 30), "P1D", "Australia/Adelaide", utc(2026, 10, 3, 22, 30)),
    (utc(2026, 10, 4, 22, 30), "P2D", "Australia/Adelaide", utc(2026, 10, 2, 23, 30)),
    (utc(2026, 5, 1, 12), "P0D", "UTC", utc(2026, 5, 1, 12)),
]


@pytest.mark.parametrize(("due_at", "duration", "timezone", "expected"), REMINDER_CASES)
def test_reminder_time(due_at: datetime, duration: str, timezone: str, expected: datetime) -> None:
    assert reminder_time(due_at, duration, timezone) == expected


def test_reminder_time_accepts_any_offset() -> None:
    due_at = datetime(2026, 3, 29, 9, tzinfo=BERLIN)

    assert reminder_time(due_at, "p1d", "Europe/Berlin") == utc(2026, 3, 28, 8)


def test_reminder_zero_calendar_keeps_repeated_hour() -> None:
    # A zero calendar part leaves 02:30 CET, the second 02:30 of 25 October, unchanged.
    due_at = utc(2026, 10, 25, 1, 30)

    assert reminder_time(due_at, "PT0S", "Europe/Berlin") == due_at
    assert reminder_time(due_at, "P0D", "Europe/Berlin") == due_at


@pytest.mark.parametrize(
    ("due_at", "duration", "timezone", "message"),
    [
        (utc(2026, 5, 1), "15M", "UTC", "invalid duration"),
        (utc(2026, 5, 1), "PT", "UTC", "invalid duration"),
        (utc(2026, 5, 1), "P1D", "Mars/Olympus", "unknown time zone"),
        (datetime(2026, 5, 1), "P1D", "UTC", "aware datetime"),
    ],
)
def test_reminder_time_rejects_invalid_input(
    due_at: datetime, duration: str, timezone: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        reminder_time(due_at, duration, timezone)
