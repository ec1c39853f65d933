"""When a task's reminder is due: its due date minus an ISO 8601 duration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from taskora.server.domain.rules import DURATION, check_duration, check_timezone


def reminder_time(due_at: datetime, remind_before: str, timezone: str) -> datetime:
    """Return the UTC time to remind of a task due at ``due_at``, ``remind_before`` earlier.

    The years, months, weeks and days of the duration are calendar units on local wall time
    in ``timezone``, so P1D before 09:00 is 09:00 local the day before even when a daylight
    saving change lies between. Hours, minutes and seconds are exact. The calendar part comes
    first, as RFC 5545 section 3.3.6 orders it for durations: days before hours.

    Subtracting months or years keeps the day when the target month has it and takes the
    month's last day otherwise (dateutil's relativedelta, checked with dateutil 4.0.0: P1M
    before 31 March 2024 is 29 February). A result in a spring-forward gap moves forward by
    the gap, and a repeated wall time means its first occurrence, as for due dates.
    """
    if due_at.tzinfo is None or due_at.utcoffset() is None:
        raise ValueError(f"due_at must be an aware datetime, got the naive {due_at.isoformat()}")
    zone = ZoneInfo(check_timezone(timezone))
    match = DURATION.fullmatch(check_duration(remind_before))
    if match is None:
        raise ValueError(f"invalid duration {remind_before!r}: use ISO 8601, such as PT15M or P1D")
    amounts = {name: int(value or 0) for name, value in match.groupdict().items()}

    calendar = relativedelta(
        years=amounts["years"],
        months=amounts["months"],
        weeks=amounts["weeks"],
        days=amounts["days"],
    )
    exact = timedelta(
        hours=amounts["hours"], minutes=amounts["minutes"], seconds=amounts["seconds"]
    )

    moment = due_at.astimezone(UTC)
    # Skipped when zero, because going through wall time would move a due date in the second
    # pass of a repeated hour to the first pass.
    if calendar:
        wall = moment.astimezone(zone).replace(tzinfo=None) - calendar
        # fold=0 moves a skipped wall time forward by the gap and takes the first of a
        # repeated one, as checked with zoneinfo on Python 3.11.
        moment = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    return moment - exact
