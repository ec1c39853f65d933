"""Validation of time zones, due dates, RFC 5545 rules and ISO 8601 durations."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from functools import cache
from itertools import islice
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


# The maximum reminder offset: 365 days of 24 hours.
MAX_REMINDER_SECONDS = 365 * 86400


def check_reminder_offset(text: str) -> str:
    """Return ``text`` normalized if it is an ISO 8601 duration of whole minutes and at most
    365 days."""
    normalized = check_duration(text)
    match = DURATION.fullmatch(normalized)
    assert match is not None
    amounts = {name: int(value or 0) for name, value in match.groupdict().items()}
    # Months count as 31 days and years as 366, the longest they can be.
    seconds = (
        (amounts["years"] * 366 + amounts["months"] * 31 + amounts["weeks"] * 7 + amounts["days"])
        * 86400
        + amounts["hours"] * 3600
        + amounts["minutes"] * 60
        + amounts["seconds"]
    )
    if amounts["seconds"]:
        raise ValueError(
            f"reminder offset {text!r} has seconds: reminders are set in whole minutes, "
            "such as PT15M"
        )
    if seconds > MAX_REMINDER_SECONDS:
        raise ValueError(
            f"reminder offset {text!r} is longer than 365 days (a month counts as 31 days and "
            "a year as 366): use at most P365D, such as P1D or P2W"
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

    _check_rule_parts(rule)

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
    try:
        # The first dates, produced once, so a rule that dateutil can parse but not expand
        # fails here and not when the task is completed.
        list(islice(parsed, 3))
    except (ValueError, IndexError, OverflowError) as error:
        raise ValueError(f"invalid recurrence rule {rule!r}: {error}") from None
    return rule


RULE_PARTS = frozenset(
    {
        "FREQ", "UNTIL", "COUNT", "INTERVAL", "BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY",
        "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH", "BYSETPOS", "WKST",
    }
)  # fmt: skip
FREQUENCIES = frozenset({"SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
WEEKDAY = re.compile(r"^(?P<ordinal>[+-]?\d{1,2})?(?P<day>MO|TU|WE|TH|FR|SA|SU)$")
# The allowed values of each numeric list part (RFC 5545 section 3.3.10), and whether it
# takes negative values counted from the end.
NUMBER_RANGES = {
    "BYSECOND": (0, 60, False),
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYMONTH": (1, 12, False),
    "BYSETPOS": (1, 366, True),
}
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# The parts that RFC 5545 section 3.3.10 forbids with some frequencies, and the frequencies
# each is allowed with.
RESTRICTED_PARTS = {
    "BYMONTHDAY": frozenset({"SECONDLY", "MINUTELY", "HOURLY", "DAILY", "MONTHLY", "YEARLY"}),
    "BYYEARDAY": frozenset({"SECONDLY", "MINUTELY", "HOURLY", "YEARLY"}),
    "BYWEEKNO": frozenset({"YEARLY"}),
}
UNTIL_FORM = re.compile(r"^\d{8}T\d{6}Z$")


def _check_rule_parts(rule: str) -> None:
    """Reject what RFC 5545 section 3.3.10 forbids and dateutil lets through or crashes on.

    dateutil ignores a repeated part, an ordinal on BYDAY in a weekly rule and a lone
    BYSETPOS. It accepts a ninth Friday or a negative INTERVAL, then fails while producing
    dates. So each case is checked here, with a message that names the part.
    """
    parts: dict[str, str] = {}
    for part in rule.split(";"):
        name, equals, value = part.partition("=")
        if not equals or not name or not value:
            raise ValueError(
                f"invalid recurrence rule {rule!r}: {part!r} is not NAME=VALUE, such as FREQ=WEEKLY"
            )
        if name not in RULE_PARTS:
            raise ValueError(
                f"invalid recurrence rule {rule!r}: unknown part {name!r}; RFC 5545 defines "
                + ", ".join(sorted(RULE_PARTS))
            )
        if name in parts:
            raise ValueError(f"invalid recurrence rule {rule!r}: {name} is given twice")
        parts[name] = value

    freq = parts.get("FREQ")
    if freq is None:
        raise ValueError(f"invalid recurrence rule {rule!r}: FREQ is required, such as FREQ=DAILY")
    if freq not in FREQUENCIES:
        raise ValueError(
            f"invalid recurrence rule {rule!r}: FREQ={freq} is not a frequency; use HOURLY, "
            "DAILY, WEEKLY, MONTHLY or YEARLY"
        )
    for name in ("INTERVAL", "COUNT"):
        if name in parts and not parts[name].isdigit():
            raise ValueError(
                f"invalid recurrence rule {rule!r}: {name}={parts[name]} must be a whole "
                "number of 1 or more"
            )
    if parts.get("INTERVAL", "1").lstrip("0") == "":
        raise ValueError(f"invalid recurrence rule {rule!r}: INTERVAL must be 1 or more")
    if "UNTIL" in parts and not UNTIL_FORM.fullmatch(parts["UNTIL"]):
        raise ValueError(
            f"invalid recurrence rule {rule!r}: UNTIL={parts['UNTIL']} must be a UTC date and "
            "time such as 20261208T235959Z, because due dates are moments in time"
        )

    for name, (low, high, signed) in NUMBER_RANGES.items():
        for item in parts.get(name, "").split(",") if name in parts else ():
            number = int(item) if re.fullmatch(r"[+-]?\d{1,3}", item) else None
            if number is None or not (
                low <= number <= high or (signed and -high <= number <= -low)
            ):
                allowed = f"{low} to {high}" + (f" or -{high} to -{low}" if signed else "")
                raise ValueError(
                    f"invalid recurrence rule {rule!r}: {name} value {item!r} is out of range; "
                    f"use {allowed}"
                )

    for item in parts.get("BYDAY", "").split(",") if "BYDAY" in parts else ():
        match = WEEKDAY.fullmatch(item)
        if match is None:
            raise ValueError(
                f"invalid recurrence rule {rule!r}: BYDAY value {item!r} is not a weekday such "
                "as MO, 3FR or -1SU"
            )
        ordinal = match.group("ordinal")
        if ordinal is None:
            continue
        if freq not in ("MONTHLY", "YEARLY"):
            raise ValueError(
                f"invalid recurrence rule {rule!r}: BYDAY={item} has a position, which RFC 5545 "
                f"allows only with FREQ=MONTHLY or YEARLY; write BYDAY={match.group('day')}"
            )
        limit = 5 if freq == "MONTHLY" or "BYMONTH" in parts else 53
        if int(ordinal) == 0:
            raise ValueError(
                f"invalid recurrence rule {rule!r}: BYDAY={item} has position 0; positions "
                f"count from 1 (the first) or -1 (the last), so write 1{match.group('day')} "
                f"or -1{match.group('day')}"
            )
        if not 1 <= abs(int(ordinal)) <= limit:
            raise ValueError(
                f"invalid recurrence rule {rule!r}: BYDAY={item} asks for weekday number "
                f"{int(ordinal)}, but a {'month' if limit == 5 else 'year'} has at most "
                f"{limit}; use 1 to {limit} or -1 to -{limit}"
            )

    for name in ("BYMINUTE", "BYSECOND"):
        if "," in parts.get(name, ""):
            raise ValueError(
                f"invalid recurrence rule {rule!r}: {name} with several values repeats more "
                "often than hourly, which tasks do not support; give one value"
            )
    for name, allowed_with in RESTRICTED_PARTS.items():
        if name in parts and freq not in allowed_with:
            # Only the frequencies that tasks support are suggested.
            usable = sorted(allowed_with - {"SECONDLY", "MINUTELY"})
            choices = (
                usable[0] if len(usable) == 1 else ", ".join(usable[:-1]) + " or " + usable[-1]
            )
            raise ValueError(
                f"invalid recurrence rule {rule!r}: RFC 5545 does not allow {name} with "
                f"FREQ={freq}; use it with FREQ={choices}"
            )
    if "WKST" in parts and parts["WKST"] not in WEEKDAYS:
        raise ValueError(
            f"invalid recurrence rule {rule!r}: WKST={parts['WKST']} is not a weekday; use "
            + ", ".join(WEEKDAYS)
        )

    if "BYSETPOS" in parts and not any(
        name.startswith("BY") and name != "BYSETPOS" for name in parts
    ):
        raise ValueError(
            f"invalid recurrence rule {rule!r}: BYSETPOS picks among the dates of another BY "
            "part, such as BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1, and there is none"
        )


def rule_until(rule: str) -> datetime | None:
    """Return the UNTIL of a rule that :func:`check_rule` accepted, in UTC, or None."""
    match = re.search(r"(?:^|;)UNTIL=(\d{8})(?:T(\d{6})Z)?(?:;|$)", rule)
    if match is None:
        return None
    day, clock = match.group(1), match.group(2) or "235959"
    return datetime.strptime(day + clock, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
