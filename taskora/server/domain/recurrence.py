"""Due dates of repeating tasks: RFC 5545 rules evaluated on local wall time, and presets.

A series is the chain of tasks that one recurrence rule creates. Its first task's due date is
the series start, which plays the part of RFC 5545's DTSTART. Rules are evaluated by
``dateutil.rrule`` on naive local wall times in the task's IANA time zone, so that "FREQ=DAILY"
at 09:00 Europe/Berlin stays at 09:00 local on both sides of a daylight saving change. The
functions that compute dates take and return aware datetimes, and none reads the clock.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from taskora.server.domain.rules import check_rule, check_timezone

ANCHOR_DUE = "due"
ANCHOR_COMPLETION = "completion"
UPCOMING_DEFAULT_COUNT = 5


@dataclass(frozen=True)
class Occurrence:
    """One date of a series: its due date in UTC and its 1-based number in the series."""

    due_at: datetime
    number: int


@dataclass(frozen=True)
class _SeriesRule:
    """A checked rule split into its date pattern and the two parts that end a series."""

    pattern: str
    count: int | None
    until: datetime | None


# ---------------------------------------------------------------------------------------------
# Evaluation of a rule on local wall time
# ---------------------------------------------------------------------------------------------


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got the naive {value.isoformat()}")


# Cached: a check evaluates thousands of tasks that share a handful of rules.
@lru_cache(maxsize=1024)
def _parse_series_rule(rule: str) -> _SeriesRule:
    """Check ``rule`` and take COUNT and UNTIL out of it.

    COUNT and UNTIL are applied here, not by dateutil, for two reasons. dateutil 4.0.0 raises
    ValueError for a UTC UNTIL when DTSTART is naive (verified by running it), and DTSTART is
    naive wall time here. And COUNT must count the series start, which RFC 5545 section 3.3.10
    states always counts as the first occurrence even when the rule does not match it, while
    dateutil counts only the dates that match.
    """
    normalized = check_rule(rule)
    pattern_parts: list[str] = []
    count: int | None = None
    until: datetime | None = None
    for part in normalized.split(";"):
        name, _, value = part.partition("=")
        if name == "COUNT":
            count = int(value)
        elif name == "UNTIL":
            # check_rule accepts only the UTC form, such as 19971224T000000Z: RFC 5545 section
            # 3.3.10 requires it when DTSTART has a time zone, and dateutil enforces that.
            until = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        else:
            pattern_parts.append(part)
    return _SeriesRule(pattern=";".join(pattern_parts), count=count, until=until)


def _wall_time(moment: datetime, zone: ZoneInfo) -> datetime:
    """Return the naive local wall time of the aware ``moment`` in ``zone``."""
    return moment.astimezone(zone).replace(tzinfo=None)


def _wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """Convert a naive local wall time in ``zone`` to an aware UTC datetime.

    RFC 5545 sections 3.3.5 and 3.3.10 define how to read a wall time that a daylight saving
    change skips or repeats. A skipped time uses the UTC offset from before the gap, so it
    moves forward by the gap. A repeated time means its first occurrence. zoneinfo gives both
    with fold=0, as checked with Python 3.11: in Europe/Berlin, 2026-03-29 02:30 becomes
    01:30 UTC (03:30 CEST), and 2026-10-25 02:30 becomes 00:30 UTC (02:30 CEST).
    """
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _rule_dates(pattern: str, start_wall: datetime, zone: ZoneInfo) -> Iterator[datetime]:
    """Yield the UTC dates that ``pattern`` generates from ``start_wall``, strictly increasing.

    Wall times map to UTC in order except inside a spring-forward gap: 02:30 moves to 03:30,
    which is the same instant as a real 03:30 and later than a real 03:10. Only rules with
    several times a day can produce both, so a date waits in a heap until the rule's wall time
    passes the date's real wall time, after which no later wall time can map before it. Equal
    instants are yielded once.
    """
    generator = rrulestr(pattern, dtstart=start_wall)
    if not isinstance(generator, rrule):
        # ValueError, like every other invalid rule that check_rule reports.
        raise ValueError(f"invalid recurrence rule {pattern!r}: expected one RRULE")  # noqa: TRY004

    pending: list[datetime] = []
    last: datetime | None = None
    for whole_second in generator:
        # dateutil 4.0.0 drops the microseconds of DTSTART (seen by running it), and RRULE
        # has no part for them, so each date gets the start's back to keep its time of day.
        wall = whole_second.replace(microsecond=start_wall.microsecond)
        heapq.heappush(pending, _wall_to_utc(wall, zone))
        while pending and _wall_time(pending[0], zone) < wall:
            moment = heapq.heappop(pending)
            if last is None or moment > last:
                last = moment
                yield moment
    while pending:
        moment = heapq.heappop(pending)
        if last is None or moment > last:
            last = moment
            yield moment


def _series_occurrences(
    series: _SeriesRule, series_start: datetime, zone: ZoneInfo
) -> Iterator[Occurrence]:
    """Yield every occurrence of a series, numbered from the series start as number 1.

    The series ends at COUNT occurrences or after UNTIL, which is inclusive and compared in
    UTC as RFC 5545 section 3.3.10 defines it. The series start is always yielded, because its
    task exists even when the rule does not match it.
    """
    # NOTE: the walk starts at series_start so that COUNT and INTERVAL keep their alignment.
    # Its cost grows with the number of dates since then. An hourly rule, the most frequent
    # that check_rule accepts, walks about 88,000 dates in ten years.
    first = series_start.astimezone(UTC)
    yield Occurrence(due_at=first, number=1)

    number = 1
    for moment in _rule_dates(series.pattern, _wall_time(series_start, zone), zone):
        if moment <= first:
            continue
        number += 1
        if _ends_series(series, moment, number):
            return
        yield Occurrence(due_at=moment, number=number)


def _ends_series(series: _SeriesRule, moment: datetime, number: int) -> bool:
    """Tell whether occurrence ``number`` at ``moment`` lies past COUNT or UNTIL."""
    if series.count is not None and number > series.count:
        return True
    return series.until is not None and moment > series.until


# ---------------------------------------------------------------------------------------------
# Next occurrence and upcoming dates
# ---------------------------------------------------------------------------------------------


def find_next_occurrence(
    rule: str,
    anchor: str,
    *,
    series_start: datetime,
    previous_due: datetime,
    completed_at: datetime,
    timezone: str,
    now: datetime,
    occurrence: int,
) -> Occurrence | None:
    """Compute the task that follows a completed one, or None when the series has ended.

    ``occurrence`` is the number of the completed task, the series start being number 1.
    The result is always strictly after ``now``: when the completion comes late, the dates
    that already passed are skipped, only one task is created, and the skipped dates still
    count toward COUNT because they passed.

    With the ``due`` anchor the next date follows ``previous_due`` on the series that starts
    at ``series_start``. With the ``completion`` anchor the rule starts again on the local
    date of ``completed_at``, at the series' local time of day, and the next date is the
    first one after that restart and after ``completed_at``. So FREQ=DAILY;INTERVAL=3 means
    three days after the completion date, at the usual time. An hourly rule restarts at
    the completion's minute instead, so FREQ=HOURLY;INTERVAL=6 means six hours after it.
    """
    for name, value in (
        ("series_start", series_start),
        ("previous_due", previous_due),
        ("completed_at", completed_at),
        ("now", now),
    ):
        _require_aware(name, value)
    if occurrence < 1:
        raise ValueError(f"occurrence must be 1 or more, got {occurrence}")
    zone = ZoneInfo(check_timezone(timezone))
    series = _parse_series_rule(rule)

    if anchor == ANCHOR_DUE:
        return _next_after_due(series, series_start, previous_due, now, occurrence, zone)
    if anchor == ANCHOR_COMPLETION:
        return _next_after_completion(series, series_start, completed_at, now, occurrence, zone)
    raise ValueError(
        f"invalid recurrence anchor {anchor!r}: use {ANCHOR_DUE!r} or {ANCHOR_COMPLETION!r}"
    )


def next_occurrence(
    rule: str,
    anchor: str,
    *,
    series_start: datetime,
    previous_due: datetime,
    completed_at: datetime,
    timezone: str,
    now: datetime,
    occurrence: int,
) -> datetime | None:
    """Return the UTC due date of the task after a completed one, or None at the series' end.

    The arguments are those of :func:`find_next_occurrence`, which also returns the number
    of the new task.
    """
    found = find_next_occurrence(
        rule,
        anchor,
        series_start=series_start,
        previous_due=previous_due,
        completed_at=completed_at,
        timezone=timezone,
        now=now,
        occurrence=occurrence,
    )
    return None if found is None else found.due_at


def _next_after_due(
    series: _SeriesRule,
    series_start: datetime,
    previous_due: datetime,
    now: datetime,
    occurrence: int,
    zone: ZoneInfo,
) -> Occurrence | None:
    threshold = max(previous_due, now)
    for found in _series_occurrences(series, series_start, zone):
        if found.due_at <= threshold:
            continue
        # The number comes from the series, so passed dates count. A due date moved by hand
        # can leave the completed task's number ahead of that, and numbers never go back.
        number = max(found.number, occurrence + 1)
        if _ends_series(series, found.due_at, number):
            return None
        return Occurrence(due_at=found.due_at, number=number)
    return None


def _next_after_completion(
    series: _SeriesRule,
    series_start: datetime,
    completed_at: datetime,
    now: datetime,
    occurrence: int,
    zone: ZoneInfo,
) -> Occurrence | None:
    if re.search(r"(^|;)FREQ=HOURLY(;|$)", series.pattern):
        # An hourly rule counts its hours from the completion itself, to the minute.
        restart_wall = _wall_time(completed_at, zone).replace(second=0, microsecond=0)
    else:
        time_of_day = _wall_time(series_start, zone).time()
        restart_wall = datetime.combine(_wall_time(completed_at, zone).date(), time_of_day)

    # The restart is the completed task's place, so the next task comes after it. It also
    # comes after the completion itself when that was later in the day than the usual time.
    base = max(_wall_to_utc(restart_wall, zone), completed_at)
    threshold = max(base, now)
    number = occurrence
    for moment in _rule_dates(series.pattern, restart_wall, zone):
        if moment <= base:
            continue
        number += 1
        if _ends_series(series, moment, number):
            return None
        if moment > threshold:
            return Occurrence(due_at=moment, number=number)
    return None


def upcoming(
    rule: str,
    series_start: datetime,
    timezone: str,
    after: datetime,
    count: int = UPCOMING_DEFAULT_COUNT,
) -> list[datetime]:
    """Return the next ``count`` UTC dates of the series strictly after ``after``.

    The list is shorter when COUNT or UNTIL ends the series first. The series start is the
    first date, so an ``after`` before it lists the series start too.
    """
    _require_aware("series_start", series_start)
    _require_aware("after", after)
    if count < 0:
        raise ValueError(f"count must be 0 or more, got {count}")
    zone = ZoneInfo(check_timezone(timezone))
    series = _parse_series_rule(rule)

    dates: list[datetime] = []
    if count == 0:
        return dates
    for found in _series_occurrences(series, series_start, zone):
        if found.due_at > after:
            dates.append(found.due_at)
            if len(dates) == count:
                break
    return dates


# ---------------------------------------------------------------------------------------------
# Presets: what people type, turned into RRULEs
# ---------------------------------------------------------------------------------------------

WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WEEKDAY_NAMES = {
    "mo": "MO", "mon": "MO", "monday": "MO",
    "tu": "TU", "tue": "TU", "tues": "TU", "tuesday": "TU",
    "we": "WE", "wed": "WE", "wednesday": "WE",
    "th": "TH", "thu": "TH", "thur": "TH", "thurs": "TH", "thursday": "TH",
    "fr": "FR", "fri": "FR", "friday": "FR",
    "sa": "SA", "sat": "SA", "saturday": "SA",
    "su": "SU", "sun": "SU", "sunday": "SU",
}  # fmt: skip
ORDINALS = {
    "1st": 1, "first": 1,
    "2nd": 2, "second": 2,
    "3rd": 3, "third": 3,
    "4th": 4, "fourth": 4,
    "5th": 5, "fifth": 5,
    "last": -1,
}  # fmt: skip
UNIT_FREQUENCIES = {"day": "DAILY", "week": "WEEKLY", "month": "MONTHLY", "year": "YEARLY"}

PRESET_FORMS = (
    "daily",
    "weekdays",
    "weekly",
    "monthly",
    "yearly",
    "every day|week|month|year",
    "every N days|weeks|months|years",
    "every other day|week|month|year",
    "weekly on mon,wed",
    "every monday",
    "monthly on the 15th",
    "monthly on day 15",
    "monthly on the last day",
    "monthly on the last friday",
    "every 3rd friday",
    "an RRULE such as FREQ=WEEKLY;BYDAY=MO",
)

_EVERY_UNIT = re.compile(r"^every (?:(?P<interval>\d+) )?(?P<unit>day|week|month|year)s?$")
_WEEKLY_ON = re.compile(r"^(?:weekly|every (?:(?P<interval>\d+) )?weeks?) on (?P<days>.+)$")
_MONTHLY_ON = re.compile(r"^(?:monthly|every (?:(?P<interval>\d+) )?months?) on (?P<what>.+)$")
_DAY_OF_MONTH = re.compile(r"^(?:the )?(?:day (?P<plain>\d+)|(?P<ordinal>\d+)(?:st|nd|rd|th))$")
_NTH_WEEKDAY = re.compile(r"^(?:the )?(?P<ordinal>[a-z0-9]+) (?P<weekday>[a-z]+)$")
_EVERY_NTH_WEEKDAY = re.compile(r"^every (?P<ordinal>[a-z0-9]+) (?P<weekday>[a-z]+)$")
_EVERY_WEEKDAYS = re.compile(r"^every (?P<days>[a-z, ]+)$")


def preset_to_rule(text: str, due_local: datetime) -> str:
    """Convert a preset such as "weekly on mon,wed" into a normalized RRULE.

    ``due_local`` is the first due date in the task's time zone. The presets that name no day
    take it from there: "weekly" and "every N weeks" keep its weekday, "monthly" and "every N
    months" its day of the month, "yearly" and "every N years" its month and day. A day 29, 30
    or 31 falls on the last day of shorter months, and 29 February on 28 February in other
    years. Text that starts with FREQ= or RRULE: is taken as an RRULE and follows RFC 5545
    exactly, so there a day that a month lacks is skipped. Unknown text raises ValueError.
    """
    normalized = " ".join(text.strip().lower().split())
    normalized = (
        normalized.replace(" ,", ",").replace(", ", ",").replace("every other ", "every 2 ")
    )
    if re.match(r"^(rrule:)?freq=", normalized):
        return check_rule(text)

    parts = _preset_parts(normalized, due_local)
    if parts is None:
        raise ValueError(f"unknown recurrence {text!r}: use one of " + "; ".join(PRESET_FORMS))
    return check_rule(";".join(parts))


def _preset_parts(text: str, due_local: datetime) -> list[str] | None:
    """Return the RRULE parts for the normalized preset ``text``, or None if it is unknown."""
    simple = {
        "daily": ["FREQ=DAILY"],
        "weekdays": ["FREQ=WEEKLY", "BYDAY=MO,TU,WE,TH,FR"],
        "every weekday": ["FREQ=WEEKLY", "BYDAY=MO,TU,WE,TH,FR"],
        "weekly": _unit_parts("week", 1, due_local),
        "monthly": _unit_parts("month", 1, due_local),
        "yearly": _unit_parts("year", 1, due_local),
        "annually": _unit_parts("year", 1, due_local),
    }
    if text in simple:
        return simple[text]

    if match := _EVERY_UNIT.fullmatch(text):
        interval = _interval(match.group("interval"))
        return _unit_parts(match.group("unit"), interval, due_local)

    if match := _WEEKLY_ON.fullmatch(text):
        days = _weekday_list(match.group("days"))
        if days is None:
            return None
        return _with_interval("WEEKLY", _interval(match.group("interval"))) + [f"BYDAY={days}"]

    if match := _MONTHLY_ON.fullmatch(text):
        parts = _monthly_on_parts(match.group("what"))
        if parts is None:
            return None
        return _with_interval("MONTHLY", _interval(match.group("interval"))) + parts

    if match := _EVERY_NTH_WEEKDAY.fullmatch(text):
        nth = _nth_weekday(match.group("ordinal"), match.group("weekday"))
        if nth is not None:
            return ["FREQ=MONTHLY", f"BYDAY={nth}"]

    if match := _EVERY_WEEKDAYS.fullmatch(text):
        days = _weekday_list(match.group("days"))
        if days is not None:
            return ["FREQ=WEEKLY", f"BYDAY={days}"]
    return None


def _interval(text: str | None) -> int:
    if text is None:
        return 1
    interval = int(text)
    if interval < 1:
        raise ValueError(f"the repeat interval must be 1 or more, got {interval}")
    return interval


def _with_interval(frequency: str, interval: int) -> list[str]:
    parts = [f"FREQ={frequency}"]
    if interval > 1:
        parts.append(f"INTERVAL={interval}")
    return parts


def _unit_parts(unit: str, interval: int, due_local: datetime) -> list[str]:
    """Return the parts of "every N <unit>", keeping the due date's weekday or day."""
    parts = _with_interval(UNIT_FREQUENCIES[unit], interval)
    if unit == "week":
        parts.append(f"BYDAY={WEEKDAY_CODES[due_local.weekday()]}")
    elif unit == "month":
        parts.extend(_month_day_parts(due_local.day))
    elif unit == "year":
        parts.extend(_year_day_parts(due_local.month, due_local.day))
    return parts


def _month_day_parts(day: int) -> list[str]:
    """Return the parts for a day of the month that falls back to the last day of short months.

    With BYSETPOS=-1 the rule takes the last of the listed days that the month has, so
    28,29,30 gives the 30th, or 28 or 29 February. Checked with dateutil 4.0.0: day 30 from
    2024-01-30 gives 2024-02-29, 2024-03-30 and 2024-04-30, and in 2025 it gives 2025-02-28.
    """
    if not 1 <= day <= 31:
        raise ValueError(f"the day of the month must be 1 to 31, got {day}")
    if day <= 28:
        return [f"BYMONTHDAY={day}"]
    if day == 31:
        return ["BYMONTHDAY=-1"]
    days = ",".join(str(candidate) for candidate in range(28, day + 1))
    return [f"BYMONTHDAY={days}", "BYSETPOS=-1"]


def _year_day_parts(month: int, day: int) -> list[str]:
    # 29 February takes the last of 28 and 29 February, so other years get 28 February.
    # Checked with dateutil 4.0.0 from 2024-02-29: 2025-02-28, ..., 2028-02-29.
    if (month, day) == (2, 29):
        return ["BYMONTH=2", "BYMONTHDAY=28,29", "BYSETPOS=-1"]
    return [f"BYMONTH={month}", f"BYMONTHDAY={day}"]


def _weekday_list(text: str) -> str | None:
    """Return BYDAY codes, such as MO,WE, for "mon,wed" or "monday and wednesday"."""
    names = [name for name in re.split(r"[ ,]+|\band\b", text) if name]
    codes: list[str] = []
    for name in names:
        code = WEEKDAY_NAMES.get(name)
        if code is None:
            return None
        if code not in codes:
            codes.append(code)
    if not codes:
        return None
    return ",".join(sorted(codes, key=WEEKDAY_CODES.index))


def _monthly_on_parts(text: str) -> list[str] | None:
    """Return the parts after "monthly on", such as the 15th or the last friday."""
    if text in ("the last day", "last day"):
        return ["BYMONTHDAY=-1"]
    if match := _DAY_OF_MONTH.fullmatch(text):
        day = int(match.group("plain") or match.group("ordinal"))
        if not 1 <= day <= 31:
            raise ValueError(f"the day of the month must be 1 to 31, got {day}")
        return _month_day_parts(day)
    if match := _NTH_WEEKDAY.fullmatch(text):
        nth = _nth_weekday(match.group("ordinal"), match.group("weekday"))
        if nth is not None:
            return [f"BYDAY={nth}"]
    return None


def _nth_weekday(ordinal: str, weekday: str) -> str | None:
    """Return a BYDAY value such as 3FR or -1FR, or None if either word is unknown."""
    position = ORDINALS.get(ordinal)
    code = WEEKDAY_NAMES.get(weekday)
    if position is None or code is None:
        return None
    return f"{position}{code}"


__all__ = [
    "ANCHOR_COMPLETION",
    "ANCHOR_DUE",
    "PRESET_FORMS",
    "Occurrence",
    "find_next_occurrence",
    "next_occurrence",
    "preset_to_rule",
    "upcoming",
]
