"""Parsing of the times that ``taskora tasks`` options accept (``--due``, ``--due-before`` ...).

Nothing here reads the clock or the machine's time zone. The current time and the time
zone are parameters, so tests can pin them. The zone may be a function instead, which is
called only for the forms that need a zone, so a caller can fetch it from the server only
then. Those forms are "+3d" and "+2w", today, tomorrow and weekday names, and a date and
time without an offset. "+4h", "+30m" and timestamps with an offset need no zone, and
neither does a date alone when it is kept as a date.
"""

from __future__ import annotations

import calendar
import functools
import logging
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

END_OF_DAY = time(23, 59, 59)

# English month names, fixed so that messages do not follow the machine's locale.
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Shorter prefixes than three letters would make "t" and "s" ambiguous.
MIN_WEEKDAY_PREFIX = 3

ACCEPTED_FORMS = (
    "today, tomorrow, or a weekday (fri, friday: the next one after today), each meaning "
    "23:59:59 that day unless a time follows (tomorrow 9:00, fri 17:00); "
    "+30m, +4h, +3d or +2w from now; "
    "a date alone, meaning 23:59:59 that day (2026-12-24); "
    "a date and time (2026-12-24 17:00 or 2026-12-24T17:00); "
    "or an RFC 3339 timestamp with offset (2026-12-24T17:00:00+01:00, 2026-12-24T16:00:00Z)"
)

_RELATIVE = re.compile(r"\+(?P<amount>\d{1,6})(?P<unit>[mhdw])")
_CLOCK = re.compile(r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?")
# A date and time whose hour has one digit, which datetime.fromisoformat does not read.
_ONE_DIGIT_HOUR = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2}[T ])(?P<hour>\d:)", re.IGNORECASE)
# The shape of the dates and times that datetime.fromisoformat reads, used only to explain
# why one of them failed. The offset is left loose, because only the fields before it are
# checked.
_ISO_SHAPE = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[T ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,]\d+)?)?"
    r"(?:Z|[+-][\d:]+)?)?",
    re.IGNORECASE,
)

ZoneSource: TypeAlias = tzinfo | Callable[[], tzinfo]
"""A time zone, or a function that returns one when a value needs it."""

logger = logging.getLogger(__name__)


class InvalidTime(ValueError):
    """A value that none of the accepted forms matches."""


class OutOfRangeTime(InvalidTime):
    """A value in an accepted form that names a date or time of day that does not exist.

    ``kind`` is "date" or "time", and the message names the field and its range, such as
    "day 30 is out of range for February 2026, which has 28 days".
    """

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


def parse_due(value: str, *, now: datetime, zone: ZoneSource) -> datetime | date:
    """Parse one of the :data:`ACCEPTED_FORMS` into an aware datetime or a whole day.

    A date alone, and today, tomorrow or a weekday without a time, return a
    :class:`~datetime.date`, which the API reads as 23:59:59 that day in the task's time
    zone. Every other form returns an aware datetime.

    ``now`` must be aware. Today, tomorrow and weekdays are days in ``zone``, and a weekday
    name means its next occurrence strictly after today, so "fri" on a Friday is a week
    later. Days counted by ``+3d`` and ``+2w`` are calendar days in ``zone``, so "+1d"
    keeps the wall-clock time across a DST change, while ``+4h`` and ``+30m`` count elapsed
    time and keep the offset of ``now``. A function given as ``zone`` is called at most
    once, and only for a form that needs a zone. A malformed time of day ("fri 9") is
    reported before that call. Raise :class:`InvalidTime` for anything else.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    get_zone = _zone_getter(zone)
    text = " ".join(value.split()).lower()
    if not text:
        raise InvalidTime("empty value")

    relative = _RELATIVE.fullmatch(text)
    if relative:
        return _add_relative(now, int(relative["amount"]), relative["unit"], get_zone)

    keyword, _, rest = text.partition(" ")
    if _is_day_name(keyword):
        # The time of day is checked first, so a typo is reported without a zone lookup.
        clock = _parse_clock(rest) if rest else None
        day = _named_day(keyword, now.astimezone(get_zone()).date())
        if clock is None:
            return day
        return _localize(datetime.combine(day, clock), get_zone())

    return _parse_iso(value.strip(), get_zone)


def parse_when(value: str, *, now: datetime, zone: ZoneSource) -> datetime:
    """Parse one of the :data:`ACCEPTED_FORMS` into an aware datetime.

    It works like :func:`parse_due`, except that a whole day becomes 23:59:59 that day in
    ``zone``.
    """
    get_zone = _zone_getter(zone)
    parsed = parse_due(value, now=now, zone=get_zone)
    # datetime is a subclass of date, so the check must name datetime.
    if isinstance(parsed, datetime):
        return parsed
    return _localize(datetime.combine(parsed, END_OF_DAY), get_zone())


def format_rfc3339(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 with its offset, dropping microseconds."""
    return moment.replace(microsecond=0).isoformat()


def load_zone(name: str) -> ZoneInfo:
    """Return the IANA time zone ``name``, raising :class:`InvalidTime` if it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # ValueError covers keys that are not zone names at all, such as absolute paths.
        raise InvalidTime(f"unknown time zone {name!r}") from None


def parse_option(
    value: str, option: str, *, now: datetime, zone: ZoneSource, keep_dates: bool = False
) -> str:
    """Parse a command-line time for ``option`` into the text the API accepts.

    With ``keep_dates`` a whole day is returned as ``YYYY-MM-DD``, which ``due_at``
    accepts. Every other result is RFC 3339 with an offset, which the ``due_before`` and
    ``due_after`` filters require. Raise :class:`typer.BadParameter` naming the value and
    either the field that is out of range (day 30 of February) or the accepted forms.
    """
    try:
        if keep_dates:
            parsed = parse_due(value, now=now, zone=zone)
        else:
            parsed = parse_when(value, now=now, zone=zone)
    except OutOfRangeTime as error:
        raise typer.BadParameter(
            f"{value!r} is not a valid {error.kind}: {error}.", param_hint=f"'{option}'"
        ) from None
    except (InvalidTime, OverflowError):
        raise typer.BadParameter(
            f"{value!r} is not a valid time. Use {ACCEPTED_FORMS}.", param_hint=f"'{option}'"
        ) from None
    if isinstance(parsed, datetime):
        return format_rfc3339(parsed)
    return parsed.isoformat()


def _zone_getter(zone: ZoneSource) -> Callable[[], tzinfo]:
    """Return a function that returns ``zone``, calling a zone function only once."""
    if isinstance(zone, tzinfo):
        return lambda: zone
    return functools.cache(zone)


def _localize(wall_clock: datetime, zone: tzinfo) -> datetime:
    """Attach ``zone`` to a naive wall-clock time.

    A time skipped by a DST change, such as 02:30 on the spring-forward day, comes back as
    the real instant it names after the clocks moved (03:30 at the new offset). A time
    that occurs twice takes its first occurrence.
    """
    attached = wall_clock.replace(tzinfo=zone, fold=0)
    moment = attached.astimezone(UTC).astimezone(zone)
    if moment.replace(tzinfo=None) != wall_clock:
        # A repeating task keeps the time of day it starts with, so warn about the time used.
        logger.warning(
            "%s does not exist in %s: the clocks move forward that day, so %s is used",
            wall_clock.strftime("%Y-%m-%d %H:%M"),
            zone,
            moment.strftime("%H:%M %Z"),
        )
    return moment


def _add_relative(
    now: datetime, amount: int, unit: str, get_zone: Callable[[], tzinfo]
) -> datetime:
    if unit in ("m", "h"):
        delta = timedelta(minutes=amount) if unit == "m" else timedelta(hours=amount)
        return now + delta
    days = amount * 7 if unit == "w" else amount
    zone = get_zone()
    wall_clock = now.astimezone(zone).replace(tzinfo=None) + timedelta(days=days)
    return _localize(wall_clock, zone)


def _is_day_name(word: str) -> bool:
    if word in ("today", "tomorrow"):
        return True
    return len(word) >= MIN_WEEKDAY_PREFIX and any(name.startswith(word) for name in WEEKDAYS)


def _named_day(word: str, today: date) -> date:
    """Return the day that ``word``, accepted by :func:`_is_day_name`, names after ``today``."""
    if word == "today":
        return today
    if word == "tomorrow":
        return today + timedelta(days=1)
    weekday = next(index for index, name in enumerate(WEEKDAYS) if name.startswith(word))
    days_ahead = (weekday - today.weekday()) % 7 or 7
    return today + timedelta(days=days_ahead)


def _parse_clock(text: str) -> time:
    match = _CLOCK.fullmatch(text)
    if not match:
        raise InvalidTime(f"invalid time of day {text!r}")
    _check_clock_ranges(match)
    return time(int(match["hour"]), int(match["minute"]), int(match["second"] or 0))


def _parse_iso(text: str, get_zone: Callable[[], tzinfo]) -> datetime | date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass

    # A one-digit hour, as in "2026-12-24 9:00", the way "tomorrow 9:00" accepts it.
    text = _ONE_DIGIT_HOUR.sub(r"\g<date>0\g<hour>", text)

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        shape = _ISO_SHAPE.fullmatch(text)
        if shape:
            # The form is right, so name the field that is out of range, if one is.
            _check_date_ranges(shape)
            if shape["hour"] is not None:
                _check_clock_ranges(shape)
        raise InvalidTime(f"invalid date or time {text!r}") from None
    if moment.tzinfo is None:
        return _localize(moment, get_zone())
    return moment


def _check_date_ranges(match: re.Match[str]) -> None:
    """Raise :class:`OutOfRangeTime` if the year, month or day of ``match`` does not exist."""
    year, month, day = int(match["year"]), int(match["month"]), int(match["day"])
    if year < 1:
        raise OutOfRangeTime("date", f"year {year} is out of range (1 to 9999)")
    if not 1 <= month <= 12:
        raise OutOfRangeTime("date", f"month {month} is out of range (1 to 12)")
    days_in_month = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days_in_month:
        raise OutOfRangeTime(
            "date",
            f"day {day} is out of range for {MONTH_NAMES[month - 1]} {year}, "
            f"which has {days_in_month} days",
        )


def _check_clock_ranges(match: re.Match[str]) -> None:
    """Raise :class:`OutOfRangeTime` if the hour, minute or second of ``match`` does not exist."""
    fields = (("hour", 23), ("minute", 59), ("second", 59))
    for name, maximum in fields:
        if match[name] is not None and int(match[name]) > maximum:
            raise OutOfRangeTime(
                "time", f"{name} {int(match[name])} is out of range (0 to {maximum})"
            )


# --- reminder offsets -----------------------------------------------------------------

# The maximum reminder offset the CLI sends. For this limit a month counts as 31 days and a
# year as 366, their maximum lengths, so P1Y and P12M exceed it while P365D does not.
MAX_REMINDER_OFFSET = timedelta(days=365)

REMINDER_FORMS = (
    "minutes, hours, days and weeks, alone or combined from largest to smallest unit "
    "(15m, 2h, 1h30m, 2d12h, 1w) or an ISO 8601 duration (PT15M, P1DT12H)"
)

# The units of a shorthand offset, largest first. Each may appear once, in this order.
_OFFSET_UNITS = ("w", "d", "h", "m")
_OFFSET_TERM = re.compile(r"(?P<amount>\d+)\s*(?P<unit>[a-z]+)")
_ISO_DURATION = re.compile(
    r"P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?"
)


class InvalidOffset(ValueError):
    """A reminder offset that is malformed, uses seconds or exceeds the maximum."""


def parse_reminder_offset(value: str) -> str:
    """Turn a reminder offset such as ``1h30m`` or ``PT90M`` into an ISO 8601 duration.

    Shorthand terms combine from the largest unit to the smallest (``1w2d``, ``2d12h``,
    ``1h30m``), each unit once. Weeks combined with days become days (``1w2d`` is ``P9D``).
    Seconds are rejected in both forms, because a reminder is about minutes at the finest,
    and so is any offset over :data:`MAX_REMINDER_OFFSET`. Raise :class:`InvalidOffset`
    naming the value.
    """
    text = "".join(value.split())
    if not text:
        raise InvalidOffset(f"the reminder offset is empty. Use {REMINDER_FORMS}.")
    if text[0] in "pP":
        amounts = _iso_amounts(value, text.upper())
    else:
        amounts = _shorthand_amounts(value, text.lower())

    if amounts.get("seconds"):
        raise _seconds_error(value)
    longest = timedelta(
        days=amounts.get("years", 0) * 366
        + amounts.get("months", 0) * 31
        + amounts.get("weeks", 0) * 7
        + amounts.get("days", 0),
        hours=amounts.get("hours", 0),
        minutes=amounts.get("minutes", 0),
    )
    if longest > MAX_REMINDER_OFFSET:
        raise InvalidOffset(
            f"{value!r} is longer than {MAX_REMINDER_OFFSET.days} days, the longest reminder "
            "offset. Use a shorter one, such as 52w or 365d."
        )
    return _format_duration(amounts)


def _seconds_error(value: str) -> InvalidOffset:
    return InvalidOffset(
        f"{value!r} uses seconds, which reminder offsets do not accept. Round it to minutes "
        "or longer, such as 2m or 1h30m."
    )


def _iso_amounts(value: str, text: str) -> dict[str, int]:
    amounts = iso_duration_amounts(text)
    if amounts is None:
        raise InvalidOffset(f"{value!r} is not a reminder offset. Use {REMINDER_FORMS}.")
    return amounts


def _shorthand_amounts(value: str, text: str) -> dict[str, int]:
    """Return the amount of each unit of a shorthand offset such as ``2d12h``."""
    names = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
    amounts: dict[str, int] = {}
    position = 0
    previous_rank = -1
    for term in _OFFSET_TERM.finditer(text):
        if term.start() != position:
            break
        unit = term["unit"]
        if unit in ("s", "sec", "secs", "second", "seconds"):
            raise _seconds_error(value)
        if unit not in _OFFSET_UNITS:
            raise InvalidOffset(
                f"{unit!r} in {value!r} is not a unit of reminder offsets. Use m (minutes), "
                "h (hours), d (days) or w (weeks), such as 1h30m."
            )
        rank = _OFFSET_UNITS.index(unit)
        if rank <= previous_rank:
            raise InvalidOffset(
                f"{value!r} repeats a unit or puts a smaller one first. Write each unit once, "
                "from weeks to minutes, such as 1w2d or 2h30m."
            )
        previous_rank = rank
        amounts[names[unit]] = int(term["amount"])
        position = term.end()
    if position != len(text) or not amounts:
        raise InvalidOffset(f"{value!r} is not a reminder offset. Use {REMINDER_FORMS}.")
    return amounts


def _format_duration(amounts: dict[str, int]) -> str:
    """Format amounts by unit name as an ISO 8601 duration, dropping zero terms."""
    weeks, days = amounts.get("weeks", 0), amounts.get("days", 0)
    if weeks and days:
        weeks, days = 0, weeks * 7 + days
    date_part = "".join(
        f"{amount}{letter}"
        for amount, letter in (
            (amounts.get("years", 0), "Y"),
            (amounts.get("months", 0), "M"),
            (weeks, "W"),
            (days, "D"),
        )
        if amount
    )
    time_part = "".join(
        f"{amount}{letter}"
        for amount, letter in ((amounts.get("hours", 0), "H"), (amounts.get("minutes", 0), "M"))
        if amount
    )
    if not date_part and not time_part:
        return "PT0M"
    return f"P{date_part}" + (f"T{time_part}" if time_part else "")


def iso_duration_amounts(text: str) -> dict[str, int] | None:
    """Return the amount of each unit of an ISO 8601 duration, or None if it is not one."""
    match = _ISO_DURATION.fullmatch(text.strip().upper())
    if match is None:
        return None
    return {name: int(amount or 0) for name, amount in match.groupdict().items()}
