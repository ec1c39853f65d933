"""Parsing of the times that ``taskora tasks`` options accept (``--due``, ``--due-before`` ...).

Every function here is pure: the current time and the time zone are parameters, so tests
can pin them. Wall-clock forms ("tomorrow 9:00", "2026-12-24") are read in the zone given,
or in the machine's local time zone when it is ``None``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

END_OF_DAY = time(23, 59, 59)

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


class InvalidTime(ValueError):
    """A value that none of the accepted forms matches."""


def parse_when(value: str, *, now: datetime, zone: tzinfo | None = None) -> datetime:
    """Parse one of the :data:`ACCEPTED_FORMS` into an aware datetime.

    ``now`` must be aware. Days counted by ``+3d`` and ``+2w`` are calendar days in
    ``zone``, so "+1d" keeps the wall-clock time across a DST change, while ``+4h`` and
    ``+30m`` count elapsed time. A weekday name means its next occurrence strictly after
    today, so "fri" on a Friday is a week later. Raise :class:`InvalidTime` for anything
    else.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    text = " ".join(value.split()).lower()
    if not text:
        raise InvalidTime("empty value")

    relative = _RELATIVE.fullmatch(text)
    if relative:
        return _add_relative(now, int(relative["amount"]), relative["unit"], zone)

    keyword, _, rest = text.partition(" ")
    day = _named_day(keyword, _local(now, zone).date())
    if day is not None:
        clock = _parse_clock(rest) if rest else END_OF_DAY
        return _localize(datetime.combine(day, clock), zone)

    return _parse_iso(value.strip(), zone)


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
    value: str, option: str, *, now: datetime | None = None, zone: tzinfo | None = None
) -> str:
    """Parse a command-line time for ``option`` and return it as RFC 3339 with offset.

    Raise :class:`typer.BadParameter` naming the value and listing the accepted forms.
    """
    current = now or datetime.now(timezone.utc)
    try:
        return format_rfc3339(parse_when(value, now=current, zone=zone))
    except (InvalidTime, OverflowError):
        raise typer.BadParameter(
            f"{value!r} is not a valid time. Use {ACCEPTED_FORMS}.", param_hint=f"'{option}'"
        ) from None


def _local(moment: datetime, zone: tzinfo | None) -> datetime:
    return moment.astimezone(zone) if zone is not None else moment.astimezone()


def _localize(wall_clock: datetime, zone: tzinfo | None) -> datetime:
    """Attach ``zone`` (or the local zone) to a naive wall-clock time.

    A time skipped by a DST change, such as 02:30 on the spring-forward day, comes back as
    the real instant it names after the clocks moved (03:30 at the new offset). A time
    that occurs twice takes its first occurrence.
    """
    if zone is None:
        # astimezone() on a naive datetime reads it as local time, using the C library's
        # rules for the TZ variable or /etc/localtime.
        return wall_clock.astimezone()
    attached = wall_clock.replace(tzinfo=zone, fold=0)
    return attached.astimezone(timezone.utc).astimezone(zone)


def _add_relative(now: datetime, amount: int, unit: str, zone: tzinfo | None) -> datetime:
    if unit in ("m", "h"):
        delta = timedelta(minutes=amount) if unit == "m" else timedelta(hours=amount)
        return _local(now + delta, zone)
    days = amount * 7 if unit == "w" else amount
    wall_clock = _local(now, zone).replace(tzinfo=None) + timedelta(days=days)
    return _localize(wall_clock, zone)


def _named_day(word: str, today: date) -> date | None:
    """Return the day that ``word`` names relative to ``today``, or ``None``."""
    if word == "today":
        return today
    if word == "tomorrow":
        return today + timedelta(days=1)
    if len(word) < MIN_WEEKDAY_PREFIX:
        return None
    for weekday, name in enumerate(WEEKDAYS):
        if name.startswith(word):
            days_ahead = (weekday - today.weekday()) % 7 or 7
            return today + timedelta(days=days_ahead)
    return None


def _parse_clock(text: str) -> time:
    match = _CLOCK.fullmatch(text)
    if not match:
        raise InvalidTime(f"invalid time of day {text!r}")
    try:
        return time(int(match["hour"]), int(match["minute"]), int(match["second"] or 0))
    except ValueError:
        raise InvalidTime(f"invalid time of day {text!r}") from None


def _parse_iso(text: str, zone: tzinfo | None) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return _localize(datetime.combine(day, END_OF_DAY), zone)

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidTime(f"invalid date or time {text!r}") from None
    if moment.tzinfo is None:
        return _localize(moment, zone)
    return moment
