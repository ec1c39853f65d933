"""Validation of time zones, due dates, RFC 5545 rules and ISO 8601 durations."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from dateutil.rrule import YEARLY, rrule, rrulestr

DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# ISO 8601 durations as used by RFC 5545 and most APIs: PnYnMnWnDTnHnMnS, each part optional,
# at least one part present, and a T only when a time part follows.
DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
END_OF_DAY = time(23, 59, 59)


class RuleViolation(Exception):
    """A value that breaks a rule involving more than one field; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(name: str) -> str:
    """Return ``name`` if it is an IANA time zone in this system's tz database, else raise ValueError."""
    if name not in _known_zones():
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
        )
    return name


def parse_due(value: object) -> datetime | date:
    """Parse a ``due_at`` input: an RFC 3339 timestamp with an offset, or a date alone."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("due_at needs a UTC offset, such as Z or +01:00, or a date alone")
        return value
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("due_at must be a string: an RFC 3339 timestamp or a date (YYYY-MM-DD)")

    text = value.strip()
    if DATE_ONLY.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError as error:
            raise ValueError(f"invalid date {text!r}: {error}") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise ValueError(
            f"invalid timestamp {text!r} ({error}): use RFC 3339, such as "
            "2026-12-24T17:00:00+01:00, or a date alone"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(
            f"timestamp {text!r} has no UTC offset: add one, such as Z or +01:00, "
            "or send a date alone"
        )
    return moment


def resolve_due(value: datetime | date | None, timezone: str) -> datetime | None:
    """Return ``value`` in UTC; a date alone becomes 23:59:59 that day in ``timezone``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    local = datetime.combine(value, END_OF_DAY, tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC)


def check_duration(text: str) -> str:
    """Return ``text`` upper-cased if it is an ISO 8601 duration, else raise ValueError."""
    normalized = text.strip().upper()
    if not DURATION.fullmatch(normalized):
        raise ValueError(
            f"invalid duration {text!r}: use ISO 8601, such as PT15M, PT1H30M, P1D or P1W"
        )
    return normalized


def check_rule(text: str) -> str:
    """Return ``text`` normalized if it is an RFC 5545 RRULE that yields at least one date."""
    rule = text.strip()
    if rule.upper().startswith("RRULE:"):
        rule = rule[len("RRULE:") :]
    rule = rule.upper()
    if not rule:
        raise ValueError("the recurrence rule is empty: use an RRULE such as FREQ=WEEKLY;BYDAY=MO")
    if "DTSTART" in rule or "\n" in rule:
        raise ValueError(
            "the recurrence rule must be a single RRULE without DTSTART: the task's due_at "
            "is the series' start"
        )

    # Aware, like every due date: RFC 5545 then requires UNTIL in UTC, which dateutil checks.
    start = datetime(2000, 1, 1, tzinfo=UTC)
    try:
        parsed = rrulestr(rule, dtstart=start)
    except (ValueError, TypeError) as error:
        raise ValueError(f"invalid recurrence rule {rule!r}: {error}") from None
    if not isinstance(parsed, rrule):
        raise ValueError(f"invalid recurrence rule {rule!r}: expected one RRULE")
    if re.search(r"(^|;)COUNT=0+(;|$)", rule):
        raise ValueError(f"the recurrence rule {rule!r} has COUNT=0: use a COUNT of 1 or more")
    if re.search(r"(^|;)COUNT=", rule) and re.search(r"(^|;)UNTIL=", rule):
        raise ValueError(
            f"the recurrence rule {rule!r} has both COUNT and UNTIL, which RFC 5545 "
            "(section 3.3.10) does not allow: keep one of them"
        )
    if re.search(r"(^|;)FREQ=(MINUTELY|SECONDLY)(;|$)", rule):
        raise ValueError(
            f"the recurrence rule {rule!r} repeats more often than hourly: tasks support "
            "FREQ=HOURLY, DAILY, WEEKLY, MONTHLY or YEARLY"
        )

    # A rule that no date satisfies makes dateutil search up to the year 9999, one period at
    # a time: seconds of CPU for a daily rule. Its yearly form visits each year once and has
    # a date whenever the original has one, so it is the probe.
    # NOTE: the converse can fail for BYSETPOS beyond the days one month contains (the 6th Monday
    # of each month), which the probe accepts.
    probe = parsed.replace(freq=YEARLY, interval=1, count=None, until=None)
    if probe.after(start, inc=True) is None:
        raise ValueError(f"the recurrence rule {rule!r} never produces a date")
    return rule


def rule_until(rule: str) -> datetime | None:
    """Return the UNTIL of a rule that :func:`check_rule` accepted, in UTC, or None."""
    match = re.search(r"(?:^|;)UNTIL=(\d{8})(?:T(\d{6})Z)?(?:;|$)", rule)
    if match is None:
        return None
    day, clock = match.group(1), match.group(2) or "235959"
    return datetime.strptime(day + clock, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
