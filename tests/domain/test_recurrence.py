"""Tests of recurrence rules on local wall time, next occurrences and presets."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskora.server.domain.recurrence import (
    Occurrence,
    find_next_occurrence,
    next_occurrence,
    preset_to_rule,
    upcoming,
)

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
ADELAIDE = ZoneInfo("Australia/Adelaide")
SECOND = timedelta(seconds=1)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def just_before(moment: datetime) -> datetime:
    """Return one second before ``moment``, in UTC.

    Aware arithmetic in a ZoneInfo zone works on wall time, so 03:00 minus one second on a
    day that skips 02:00 to 03:00 would give a wall time in the gap.
    """
    return moment.astimezone(UTC) - SECOND


def local_series(rule: str, start: datetime, count: int) -> list[datetime]:
    """List up to ``count`` dates of the series from ``start``, as naive local wall times."""
    zone = start.tzinfo
    assert isinstance(zone, ZoneInfo)
    dates = upcoming(rule, start, zone.key, just_before(start), count)
    return [moment.astimezone(zone).replace(tzinfo=None) for moment in dates]


def days(year: int, month: int, *month_days: int, hour: int = 9) -> list[datetime]:
    return [datetime(year, month, day, hour) for day in month_days]


# ---------------------------------------------------------------------------------------------
# RFC 5545 section 3.8.5.3 examples, all at 09:00 America/New_York
# ---------------------------------------------------------------------------------------------

# (name, DTSTART, RRULE, how many dates to request, the dates the RFC lists)
RFC_EXAMPLES = [
    (
        "daily for 10 occurrences",
        (1997, 9, 2),
        "FREQ=DAILY;COUNT=10",
        20,
        days(1997, 9, *range(2, 12)),
    ),
    (
        "every 10 days, 5 occurrences",
        (1997, 9, 2),
        "FREQ=DAILY;INTERVAL=10;COUNT=5",
        20,
        days(1997, 9, 2, 12, 22) + days(1997, 10, 2, 12),
    ),
    (
        "every other day, across the change to EST",
        (1997, 9, 2),
        "FREQ=DAILY;INTERVAL=2",
        32,
        days(1997, 9, *range(2, 31, 2)) + days(1997, 10, *range(2, 31, 2)) + days(1997, 11, 1, 3),
    ),
    (
        "every day in January for 3 years, yearly form",
        (1998, 1, 1),
        "FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA",
        200,
        days(1998, 1, *range(1, 32)) + days(1999, 1, *range(1, 32)) + days(2000, 1, *range(1, 32)),
    ),
    (
        "every day in January for 3 years, daily form",
        (1998, 1, 1),
        "FREQ=DAILY;UNTIL=20000131T140000Z;BYMONTH=1",
        200,
        days(1998, 1, *range(1, 32)) + days(1999, 1, *range(1, 32)) + days(2000, 1, *range(1, 32)),
    ),
    (
        "weekly for 10 occurrences",
        (1997, 9, 2),
        "FREQ=WEEKLY;COUNT=10",
        20,
        days(1997, 9, 2, 9, 16, 23, 30) + days(1997, 10, 7, 14, 21, 28) + days(1997, 11, 4),
    ),
    (
        "weekly until December 24, 1997",
        (1997, 9, 2),
        "FREQ=WEEKLY;UNTIL=19971224T000000Z",
        30,
        days(1997, 9, 2, 9, 16, 23, 30)
        + days(1997, 10, 7, 14, 21, 28)
        + days(1997, 11, 4, 11, 18, 25)
        + days(1997, 12, 2, 9, 16, 23),
    ),
    (
        "every other week",
        (1997, 9, 2),
        "FREQ=WEEKLY;INTERVAL=2;WKST=SU",
        12,
        days(1997, 9, 2, 16, 30)
        + days(1997, 10, 14, 28)
        + days(1997, 11, 11, 25)
        + days(1997, 12, 9, 23)
        + days(1998, 1, 6, 20)
        + days(1998, 2, 3),
    ),
    (
        "weekly on Tuesday and Thursday for five weeks, UNTIL form",
        (1997, 9, 2),
        "FREQ=WEEKLY;UNTIL=19971007T000000Z;WKST=SU;BYDAY=TU,TH",
        20,
        days(1997, 9, 2, 4, 9, 11, 16, 18, 23, 25, 30) + days(1997, 10, 2),
    ),
    (
        "weekly on Tuesday and Thursday for five weeks, COUNT form",
        (1997, 9, 2),
        "FREQ=WEEKLY;COUNT=10;WKST=SU;BYDAY=TU,TH",
        20,
        days(1997, 9, 2, 4, 9, 11, 16, 18, 23, 25, 30) + days(1997, 10, 2),
    ),
    (
        "every other week on MO,WE,FR until December 24, 1997",
        (1997, 9, 1),
        "FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR",
        40,
        days(1997, 9, 1, 3, 5, 15, 17, 19, 29)
        + days(1997, 10, 1, 3, 13, 15, 17, 27, 29, 31)
        + days(1997, 11, 10, 12, 14, 24, 26, 28)
        + days(1997, 12, 8, 10, 12, 22),
    ),
    (
        "every other week on Tuesday and Thursday, for 8 occurrences",
        (1997, 9, 2),
        "FREQ=WEEKLY;INTERVAL=2;COUNT=8;WKST=SU;BYDAY=TU,TH",
        20,
        days(1997, 9, 2, 4, 16, 18, 30) + days(1997, 10, 2, 14, 16),
    ),
    (
        "monthly on the first Friday for 10 occurrences",
        (1997, 9, 5),
        "FREQ=MONTHLY;COUNT=10;BYDAY=1FR",
        20,
        days(1997, 9, 5)
        + days(1997, 10, 3)
        + days(1997, 11, 7)
        + days(1997, 12, 5)
        + days(1998, 1, 2)
        + days(1998, 2, 6)
        + days(1998, 3, 6)
        + days(1998, 4, 3)
        + days(1998, 5, 1)
        + days(1998, 6, 5),
    ),
    (
        "monthly on the first Friday until December 24, 1997",
        (1997, 9, 5),
        "FREQ=MONTHLY;UNTIL=19971224T000000Z;BYDAY=1FR",
        20,
        days(1997, 9, 5) + days(1997, 10, 3) + days(1997, 11, 7) + days(1997, 12, 5),
    ),
    (
        "every other month on the first and last Sunday for 10 occurrences",
        (1997, 9, 7),
        "FREQ=MONTHLY;INTERVAL=2;COUNT=10;BYDAY=1SU,-1SU",
        20,
        days(1997, 9, 7, 28)
        + days(1997, 11, 2, 30)
        + days(1998, 1, 4, 25)
        + days(1998, 3, 1, 29)
        + days(1998, 5, 3, 31),
    ),
    (
        "monthly on the second-to-last Monday for 6 months",
        (1997, 9, 22),
        "FREQ=MONTHLY;COUNT=6;BYDAY=-2MO",
        20,
        days(1997, 9, 22)
        + days(1997, 10, 20)
        + days(1997, 11, 17)
        + days(1997, 12, 22)
        + days(1998, 1, 19)
        + days(1998, 2, 16),
    ),
    (
        "monthly on the third-to-the-last day",
        (1997, 9, 28),
        "FREQ=MONTHLY;BYMONTHDAY=-3",
        6,
        days(1997, 9, 28)
        + days(1997, 10, 29)
        + days(1997, 11, 28)
        + days(1997, 12, 29)
        + days(1998, 1, 29)
        + days(1998, 2, 26),
    ),
    (
        "monthly on the 2nd and 15th for 10 occurrences",
        (1997, 9, 2),
        "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15",
        20,
        days(1997, 9, 2, 15)
        + days(1997, 10, 2, 15)
        + days(1997, 11, 2, 15)
        + days(1997, 12, 2, 15)
        + days(1998, 1, 2, 15),
    ),
    (
        "monthly on the first and last day for 10 occurrences",
        (1997, 9, 30),
        "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=1,-1",
        20,
        days(1997, 9, 30)
        + days(1997, 10, 1, 31)
        + days(1997, 11, 1, 30)
        + days(1997, 12, 1, 31)
        + days(1998, 1, 1, 31)
        + days(1998, 2, 1),
    ),
    (
        "every 18 months on the 10th to 15th for 10 occurrences",
        (1997, 9, 10),
        "FREQ=MONTHLY;INTERVAL=18;COUNT=10;BYMONTHDAY=10,11,12,13,14,15",
        20,
        days(1997, 9, 10, 11, 12, 13, 14, 15) + days(1999, 3, 10, 11, 12, 13),
    ),
    (
        "every Tuesday, every other month",
        (1997, 9, 2),
        "FREQ=MONTHLY;INTERVAL=2;BYDAY=TU",
        18,
        days(1997, 9, 2, 9, 16, 23, 30)
        + days(1997, 11, 4, 11, 18, 25)
        + days(1998, 1, 6, 13, 20, 27)
        + days(1998, 3, 3, 10, 17, 24, 31),
    ),
    (
        "yearly in June and July for 10 occurrences",
        (1997, 6, 10),
        "FREQ=YEARLY;COUNT=10;BYMONTH=6,7",
        20,
        [datetime(year, month, 10, 9) for year in range(1997, 2002) for month in (6, 7)],
    ),
    (
        "every other year in January, February and March for 10 occurrences",
        (1997, 3, 10),
        "FREQ=YEARLY;INTERVAL=2;COUNT=10;BYMONTH=1,2,3",
        20,
        days(1997, 3, 10)
        + [datetime(year, month, 10, 9) for year in (1999, 2001, 2003) for month in (1, 2, 3)],
    ),
    (
        "every third year on the 1st, 100th and 200th day for 10 occurrences",
        (1997, 1, 1),
        "FREQ=YEARLY;INTERVAL=3;COUNT=10;BYYEARDAY=1,100,200",
        20,
        days(1997, 1, 1)
        + days(1997, 4, 10)
        + days(1997, 7, 19)
        + days(2000, 1, 1)
        + days(2000, 4, 9)
        + days(2000, 7, 18)
        + days(2003, 1, 1)
        + days(2003, 4, 10)
        + days(2003, 7, 19)
        + days(2006, 1, 1),
    ),
    (
        "every 20th Monday of the year",
        (1997, 5, 19),
        "FREQ=YEARLY;BYDAY=20MO",
        3,
        days(1997, 5, 19) + days(1998, 5, 18) + days(1999, 5, 17),
    ),
    (
        "Monday of week number 20",
        (1997, 5, 12),
        "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
        3,
        days(1997, 5, 12) + days(1998, 5, 11) + days(1999, 5, 17),
    ),
    (
        "every Thursday in March",
        (1997, 3, 13),
        "FREQ=YEARLY;BYMONTH=3;BYDAY=TH",
        11,
        days(1997, 3, 13, 20, 27) + days(1998, 3, 5, 12, 19, 26) + days(1999, 3, 4, 11, 18, 25),
    ),
    (
        "the first Saturday that follows the first Sunday of the month",
        (1997, 9, 13),
        "FREQ=MONTHLY;BYDAY=SA;BYMONTHDAY=7,8,9,10,11,12,13",
        10,
        days(1997, 9, 13)
        + days(1997, 10, 11)
        + days(1997, 11, 8)
        + days(1997, 12, 13)
        + days(1998, 1, 10)
        + days(1998, 2, 7)
        + days(1998, 3, 7)
        + days(1998, 4, 11)
        + days(1998, 5, 9)
        + days(1998, 6, 13),
    ),
    (
        "U.S. Presidential Election day",
        (1996, 11, 5),
        "FREQ=YEARLY;INTERVAL=4;BYMONTH=11;BYDAY=TU;BYMONTHDAY=2,3,4,5,6,7,8",
        3,
        days(1996, 11, 5) + days(2000, 11, 7) + days(2004, 11, 2),
    ),
    (
        "the third instance of Tuesday, Wednesday or Thursday for 3 months",
        (1997, 9, 4),
        "FREQ=MONTHLY;COUNT=3;BYDAY=TU,WE,TH;BYSETPOS=3",
        10,
        days(1997, 9, 4) + days(1997, 10, 7) + days(1997, 11, 6),
    ),
    (
        "the second-to-last weekday of the month",
        (1997, 9, 29),
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-2",
        7,
        days(1997, 9, 29)
        + days(1997, 10, 30)
        + days(1997, 11, 27)
        + days(1997, 12, 30)
        + days(1998, 1, 29)
        + days(1998, 2, 26)
        + days(1998, 3, 30),
    ),
    (
        "WKST=MO decides which days an every-other-week rule generates",
        (1997, 8, 5),
        "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=MO",
        10,
        days(1997, 8, 5, 10, 19, 24),
    ),
    (
        "WKST=SU decides which days an every-other-week rule generates",
        (1997, 8, 5),
        "FREQ=WEEKLY;INTERVAL=2;COUNT=4;BYDAY=TU,SU;WKST=SU",
        10,
        days(1997, 8, 5, 17, 19, 31),
    ),
    (
        "an invalid date such as February 30 is ignored",
        (2007, 1, 15),
        "FREQ=MONTHLY;BYMONTHDAY=15,30;COUNT=5",
        10,
        days(2007, 1, 15, 30) + days(2007, 2, 15) + days(2007, 3, 15, 30),
    ),
]


@pytest.mark.parametrize(
    ("dtstart", "rule", "requested", "expected"),
    [example[1:] for example in RFC_EXAMPLES],
    ids=[example[0] for example in RFC_EXAMPLES],
)
def test_rfc5545_examples(
    dtstart: tuple[int, int, int], rule: str, requested: int, expected: list[datetime]
) -> None:
    start = datetime(*dtstart, 9, tzinfo=NEW_YORK)
    assert local_series(rule, start, requested) == expected


def test_rfc5545_daily_until_keeps_local_time() -> None:
    start = datetime(1997, 9, 2, 9, tzinfo=NEW_YORK)
    dates = upcoming("FREQ=DAILY;UNTIL=19971224T000000Z", start, "America/New_York", start, 200)

    # September 3 to December 23: the RFC lists 2 September to 23 December, and the start
    # itself is not after ``after``.
    assert len(dates) == 112
    assert dates[0] == utc(1997, 9, 3, 13)
    assert dates[-1] == utc(1997, 12, 23, 14)
    assert utc(1997, 10, 25, 13) in dates  # 09:00 EDT
    assert utc(1997, 10, 26, 14) in dates  # 09:00 EST


def test_rfc5545_last_work_day_of_month() -> None:
    # The BYSETPOS example in RFC 5545 section 3.3.10: the last work day of the month.
    start = datetime(1997, 9, 30, 9, tzinfo=NEW_YORK)
    rule = "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"

    assert local_series(rule, start, 6) == (
        days(1997, 9, 30)
        + days(1997, 10, 31)
        + days(1997, 11, 28)
        + days(1997, 12, 31)
        + days(1998, 1, 30)
        + days(1998, 2, 27)
    )


def test_series_start_counts_when_rule_does_not_match() -> None:
    # RFC 5545 section 3.3.10: DTSTART always counts as the first occurrence. Its example of
    # Friday the 13th removes 2 September 1997 with EXDATE, which a task series cannot do.
    start = datetime(1997, 9, 2, 9, tzinfo=NEW_YORK)

    assert local_series("FREQ=MONTHLY;BYDAY=FR;BYMONTHDAY=13", start, 6) == (
        days(1997, 9, 2)
        + days(1998, 2, 13)
        + days(1998, 3, 13)
        + days(1998, 11, 13)
        + days(1999, 8, 13)
        + days(2000, 10, 13)
    )
    assert local_series("FREQ=WEEKLY;BYDAY=MO;COUNT=3", start, 10) == days(1997, 9, 2, 8, 15)


# ---------------------------------------------------------------------------------------------
# Daylight saving changes and offsets that are not whole hours
# ---------------------------------------------------------------------------------------------


def test_berlin_daily_keeps_nine_across_both_changes() -> None:
    spring = upcoming(
        "FREQ=DAILY",
        datetime(2026, 3, 28, 9, tzinfo=BERLIN),
        "Europe/Berlin",
        utc(2026, 3, 27),
        3,
    )
    autumn = upcoming(
        "FREQ=DAILY",
        datetime(2026, 10, 24, 9, tzinfo=BERLIN),
        "Europe/Berlin",
        utc(2026, 10, 23),
        3,
    )

    assert spring == [utc(2026, 3, 28, 8), utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)]
    assert autumn == [utc(2026, 10, 24, 7), utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)]


def test_berlin_gap_moves_forward_by_gap() -> None:
    # Berlin skips from 02:00 to 03:00 on 29 March 2026, so 02:30 that day becomes 03:30 CEST.
    start = datetime(2026, 3, 28, 2, 30, tzinfo=BERLIN)
    dates = upcoming("FREQ=DAILY", start, "Europe/Berlin", just_before(start), 3)

    assert dates == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
    assert dates[1].astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 30)


def test_berlin_repeated_hour_takes_first() -> None:
    # Berlin repeats 02:00 to 03:00 on 25 October 2026, and 02:30 means the first, CEST.
    start = datetime(2026, 10, 24, 2, 30, tzinfo=BERLIN)
    dates = upcoming("FREQ=DAILY", start, "Europe/Berlin", just_before(start), 3)

    assert dates == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_new_york_gap_and_repeated_hour() -> None:
    # New York skips 02:00 to 03:00 on 8 March 2026 and repeats 01:00 to 02:00 on 1 November.
    gap_start = datetime(2026, 3, 7, 2, 30, tzinfo=NEW_YORK)
    repeat_start = datetime(2026, 10, 31, 1, 30, tzinfo=NEW_YORK)

    gap = upcoming("FREQ=DAILY", gap_start, "America/New_York", just_before(gap_start), 3)
    repeat = upcoming("FREQ=DAILY", repeat_start, "America/New_York", just_before(repeat_start), 3)

    assert gap == [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 6, 30)]
    assert repeat == [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]


def test_new_york_weekly_across_spring_change() -> None:
    start = datetime(2026, 3, 2, 9, tzinfo=NEW_YORK)
    dates = upcoming("FREQ=WEEKLY;BYDAY=MO", start, "America/New_York", just_before(start), 3)

    assert dates == [utc(2026, 3, 2, 14), utc(2026, 3, 9, 13), utc(2026, 3, 16, 13)]


def test_adelaide_half_hour_offset() -> None:
    # Adelaide is UTC+09:30 in standard time and UTC+10:30 in daylight time. Daylight time
    # ends at 03:00 on 5 April 2026 and starts again at 02:00 on 4 October 2026.
    october = datetime(2026, 10, 3, 9, tzinfo=ADELAIDE)
    april = datetime(2026, 4, 4, 9, tzinfo=ADELAIDE)
    gap = datetime(2026, 10, 3, 2, 15, tzinfo=ADELAIDE)

    assert upcoming("FREQ=DAILY", october, "Australia/Adelaide", just_before(october), 2) == [
        utc(2026, 10, 2, 23, 30),
        utc(2026, 10, 3, 22, 30),
    ]
    assert upcoming("FREQ=DAILY", april, "Australia/Adelaide", just_before(april), 2) == [
        utc(2026, 4, 3, 22, 30),
        utc(2026, 4, 4, 23, 30),
    ]
    assert upcoming("FREQ=DAILY", gap, "Australia/Adelaide", just_before(gap), 2) == [
        utc(2026, 10, 2, 16, 45),
        utc(2026, 10, 3, 16, 45),  # 03:15 ACDT, because 02:15 does not exist that day
    ]


def test_several_times_a_day_across_gap_is_increasing() -> None:
    start = datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)
    rule = "FREQ=DAILY;BYHOUR=1,2,3,4;BYMINUTE=30"
    dates = upcoming(rule, start, "Europe/Berlin", just_before(start), 5)

    # 02:30 does not exist on 29 March, so it becomes 03:30, the same instant as the real
    # 03:30, and is listed once.
    assert [moment.astimezone(BERLIN).strftime("%d %H:%M%z") for moment in dates] == [
        "29 01:30+0100",
        "29 03:30+0200",
        "29 04:30+0200",
        "30 01:30+0200",
        "30 02:30+0200",
    ]


# ---------------------------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------------------------

PRESET_CASES = [
    ("daily", datetime(2026, 5, 4), "FREQ=DAILY"),
    ("Daily", datetime(2026, 5, 4), "FREQ=DAILY"),
    ("weekdays", datetime(2026, 5, 4), "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
    ("every weekday", datetime(2026, 5, 4), "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
    ("weekly", datetime(2026, 5, 6), "FREQ=WEEKLY;BYDAY=WE"),
    ("every week", datetime(2026, 5, 6), "FREQ=WEEKLY;BYDAY=WE"),
    ("every 2 weeks", datetime(2026, 5, 6), "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE"),
    ("every other week", datetime(2026, 5, 6), "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE"),
    ("every day", datetime(2026, 5, 4), "FREQ=DAILY"),
    ("every 3 days", datetime(2026, 5, 4), "FREQ=DAILY;INTERVAL=3"),
    ("every  1  days", datetime(2026, 5, 4), "FREQ=DAILY"),
    ("every month", datetime(2026, 5, 4), "FREQ=MONTHLY;BYMONTHDAY=4"),
    ("every 6 months", datetime(2026, 5, 4), "FREQ=MONTHLY;INTERVAL=6;BYMONTHDAY=4"),
    ("every year", datetime(2026, 5, 4), "FREQ=YEARLY;BYMONTH=5;BYMONTHDAY=4"),
    ("every 2 years", datetime(2026, 5, 4), "FREQ=YEARLY;INTERVAL=2;BYMONTH=5;BYMONTHDAY=4"),
    ("weekly on mon,wed", datetime(2026, 5, 4), "FREQ=WEEKLY;BYDAY=MO,WE"),
    ("weekly on Wednesday, Monday", datetime(2026, 5, 4), "FREQ=WEEKLY;BYDAY=MO,WE"),
    ("weekly on tue and thurs", datetime(2026, 5, 4), "FREQ=WEEKLY;BYDAY=TU,TH"),
    ("every 2 weeks on fri", datetime(2026, 5, 4), "FREQ=WEEKLY;INTERVAL=2;BYDAY=FR"),
    ("every monday", datetime(2026, 5, 6), "FREQ=WEEKLY;BYDAY=MO"),
    ("every sat, sun", datetime(2026, 5, 6), "FREQ=WEEKLY;BYDAY=SA,SU"),
    ("monthly", datetime(2026, 5, 15), "FREQ=MONTHLY;BYMONTHDAY=15"),
    ("monthly", datetime(2026, 1, 29), "FREQ=MONTHLY;BYMONTHDAY=28,29;BYSETPOS=-1"),
    ("monthly", datetime(2026, 1, 30), "FREQ=MONTHLY;BYMONTHDAY=28,29,30;BYSETPOS=-1"),
    ("monthly", datetime(2026, 1, 31), "FREQ=MONTHLY;BYMONTHDAY=-1"),
    ("monthly on the 15th", datetime(2026, 5, 4), "FREQ=MONTHLY;BYMONTHDAY=15"),
    ("monthly on the 1st", datetime(2026, 5, 4), "FREQ=MONTHLY;BYMONTHDAY=1"),
    ("monthly on day 15", datetime(2026, 5, 4), "FREQ=MONTHLY;BYMONTHDAY=15"),
    ("monthly on day 31", datetime(2026, 5, 4), "FREQ=MONTHLY;BYMONTHDAY=-1"),
    ("monthly on the 30th", datetime(2026, 5, 4), "FREQ=MONTHLY;BYMONTHDAY=28,29,30;BYSETPOS=-1"),
    ("monthly on the last day", datetime(2026, 5, 4), "FREQ=MONTHLY;BYMONTHDAY=-1"),
    ("monthly on the last friday", datetime(2026, 5, 4), "FREQ=MONTHLY;BYDAY=-1FR"),
    ("monthly on the first monday", datetime(2026, 5, 4), "FREQ=MONTHLY;BYDAY=1MO"),
    ("every 3rd friday", datetime(2026, 5, 4), "FREQ=MONTHLY;BYDAY=3FR"),
    ("every last sunday", datetime(2026, 5, 4), "FREQ=MONTHLY;BYDAY=-1SU"),
    ("yearly", datetime(2026, 12, 24), "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=24"),
    ("yearly", datetime(2024, 2, 29), "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=28,29;BYSETPOS=-1"),
    ("annually", datetime(2026, 12, 24), "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=24"),
    ("FREQ=weekly;byday=mo", datetime(2026, 5, 4), "FREQ=WEEKLY;BYDAY=MO"),
    ("RRULE:FREQ=MONTHLY", datetime(2026, 5, 4), "FREQ=MONTHLY"),
]


@pytest.mark.parametrize(("text", "due_local", "expected"), PRESET_CASES)
def test_preset_to_rule(text: str, due_local: datetime, expected: str) -> None:
    assert preset_to_rule(text, due_local) == expected


@pytest.mark.parametrize(
    "text",
    ["", "fortnightly", "weekly on funday", "every 6th friday", "monthly on the", "hourly"],
)
def test_preset_unknown_lists_forms(text: str) -> None:
    with pytest.raises(ValueError, match="weekly on mon,wed") as error:
        preset_to_rule(text, datetime(2026, 5, 4))

    assert repr(text) in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("every 0 days", "1 or more"),
        ("monthly on day 32", "1 to 31"),
        ("monthly on the 0th", "1 to 31"),
        ("FREQ=SOMETIMES", "invalid recurrence rule"),
    ],
)
def test_preset_invalid_values(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        preset_to_rule(text, datetime(2026, 5, 4))


def test_monthly_day_31_across_february_and_april() -> None:
    start = datetime(2024, 1, 31, 9, tzinfo=BERLIN)
    rule = preset_to_rule("monthly", start)

    assert local_series(rule, start, 5) == [
        datetime(2024, 1, 31, 9),
        datetime(2024, 2, 29, 9),
        datetime(2024, 3, 31, 9),
        datetime(2024, 4, 30, 9),
        datetime(2024, 5, 31, 9),
    ]


def test_monthly_day_30_in_leap_and_common_year() -> None:
    leap_start = datetime(2024, 1, 30, 9, tzinfo=BERLIN)
    common_start = datetime(2023, 1, 30, 9, tzinfo=BERLIN)
    rule = preset_to_rule("monthly on the 30th", leap_start)

    assert local_series(rule, leap_start, 4) == days(2024, 1, 30) + days(2024, 2, 29) + days(
        2024, 3, 30
    ) + days(2024, 4, 30)
    assert local_series(rule, common_start, 4) == days(2023, 1, 30) + days(2023, 2, 28) + days(
        2023, 3, 30
    ) + days(2023, 4, 30)


def test_monthly_day_29_in_leap_and_common_year() -> None:
    rule = preset_to_rule("monthly on day 29", datetime(2023, 1, 29))

    assert local_series(rule, datetime(2023, 1, 29, 9, tzinfo=BERLIN), 4) == (
        days(2023, 1, 29) + days(2023, 2, 28) + days(2023, 3, 29) + days(2023, 4, 29)
    )
    assert local_series(rule, datetime(2024, 1, 29, 9, tzinfo=BERLIN), 2) == (
        days(2024, 1, 29) + days(2024, 2, 29)
    )


def test_every_two_months_on_31st() -> None:
    start = datetime(2023, 12, 31, 9, tzinfo=BERLIN)
    rule = preset_to_rule("every 2 months", start)

    assert local_series(rule, start, 4) == (
        days(2023, 12, 31) + days(2024, 2, 29) + days(2024, 4, 30) + days(2024, 6, 30)
    )


def test_yearly_on_29_february() -> None:
    start = datetime(2024, 2, 29, 9, tzinfo=BERLIN)
    rule = preset_to_rule("yearly", start)

    assert local_series(rule, start, 5) == [
        datetime(2024, 2, 29, 9),
        datetime(2025, 2, 28, 9),
        datetime(2026, 2, 28, 9),
        datetime(2027, 2, 28, 9),
        datetime(2028, 2, 29, 9),
    ]


def test_raw_rule_skips_missing_days() -> None:
    # RFC 5545 section 3.3.10: a date a month lacks, such as 31 April, is ignored.
    start = datetime(2024, 1, 31, 9, tzinfo=BERLIN)

    assert local_series("FREQ=MONTHLY", start, 4) == (
        days(2024, 1, 31) + days(2024, 3, 31) + days(2024, 5, 31) + days(2024, 7, 31)
    )


def test_nth_weekday_presets() -> None:
    start = datetime(2026, 1, 16, 9, tzinfo=BERLIN)

    assert local_series(preset_to_rule("every 3rd friday", start), start, 3) == (
        days(2026, 1, 16) + days(2026, 2, 20) + days(2026, 3, 20)
    )
    assert local_series(preset_to_rule("monthly on the last friday", start), start, 3) == (
        days(2026, 1, 16) + days(2026, 1, 30) + days(2026, 2, 27)
    )


# ---------------------------------------------------------------------------------------------
# Next occurrence
# ---------------------------------------------------------------------------------------------


def test_due_anchor_on_time() -> None:
    start = datetime(2026, 5, 1, 9, tzinfo=BERLIN)
    found = find_next_occurrence(
        "FREQ=DAILY",
        "due",
        series_start=start,
        previous_due=utc(2026, 5, 4, 7),
        completed_at=utc(2026, 5, 4, 6),
        timezone="Europe/Berlin",
        now=utc(2026, 5, 4, 6),
        occurrence=4,
    )

    assert found == Occurrence(due_at=utc(2026, 5, 5, 7), number=5)


def test_due_anchor_late_completion_skips_to_after_now() -> None:
    # Weekly on Monday from 5 January 2026, completed on Wednesday 18 March: the ten Mondays
    # in between are skipped, and the next task is due on Monday 23 March.
    start = datetime(2026, 1, 5, 9, tzinfo=BERLIN)
    now = utc(2026, 3, 18, 12)
    found = find_next_occurrence(
        "FREQ=WEEKLY;BYDAY=MO",
        "due",
        series_start=start,
        previous_due=start,
        completed_at=now,
        timezone="Europe/Berlin",
        now=now,
        occurrence=1,
    )

    assert found == Occurrence(due_at=utc(2026, 3, 23, 8), number=12)


def test_due_anchor_after_many_missed_days() -> None:
    start = datetime(2026, 1, 1, 9, tzinfo=BERLIN)
    now = utc(2026, 7, 1, 12)  # 14:00 CEST, after that day's 09:00

    due = next_occurrence(
        "FREQ=DAILY",
        "due",
        series_start=start,
        previous_due=start,
        completed_at=now,
        timezone="Europe/Berlin",
        now=now,
        occurrence=1,
    )

    assert due == utc(2026, 7, 2, 7)


def test_due_anchor_date_equal_to_now_is_skipped() -> None:
    start = datetime(2026, 5, 1, 9, tzinfo=BERLIN)
    found = find_next_occurrence(
        "FREQ=DAILY",
        "due",
        series_start=start,
        previous_due=utc(2026, 5, 1, 7),
        completed_at=utc(2026, 5, 2, 7),
        timezone="Europe/Berlin",
        now=utc(2026, 5, 2, 7),
        occurrence=1,
    )

    assert found == Occurrence(due_at=utc(2026, 5, 3, 7), number=3)


def test_due_anchor_keeps_series_alignment() -> None:
    # Every other day from 1 May: the series start fixes the even days, whatever the
    # previous task's due date was moved to.
    start = datetime(2026, 5, 1, 9, tzinfo=BERLIN)
    found = find_next_occurrence(
        "FREQ=DAILY;INTERVAL=2",
        "due",
        series_start=start,
        previous_due=utc(2026, 5, 4, 7),
        completed_at=utc(2026, 5, 4, 6),
        timezone="Europe/Berlin",
        now=utc(2026, 5, 4, 6),
        occurrence=2,
    )

    assert found == Occurrence(due_at=utc(2026, 5, 5, 7), number=3)


def test_completion_anchor_counts_from_completion_day() -> None:
    start = datetime(2026, 5, 1, 9, tzinfo=BERLIN)
    evening = utc(2026, 5, 6, 16)  # 18:00 CEST
    morning = utc(2026, 5, 6, 6)  # 08:00 CEST, before the usual 09:00

    for completed_at in (evening, morning):
        found = find_next_occurrence(
            "FREQ=DAILY;INTERVAL=3",
            "completion",
            series_start=start,
            previous_due=utc(2026, 5, 1, 7),
            completed_at=completed_at,
            timezone="Europe/Berlin",
            now=completed_at,
            occurrence=1,
        )
        assert found == Occurrence(due_at=utc(2026, 5, 9, 7), number=2)


def test_completion_anchor_hourly_counts_from_completion_minute() -> None:
    start = datetime(2026, 12, 4, 20, 30, tzinfo=BERLIN)
    completed_at = utc(2026, 12, 4, 21, 14, 42)  # 22:14:42 CET, 1 h 44 min after due

    found = find_next_occurrence(
        "FREQ=HOURLY;INTERVAL=6",
        "completion",
        series_start=start,
        previous_due=start,
        completed_at=completed_at,
        timezone="Europe/Berlin",
        now=completed_at,
        occurrence=1,
    )

    assert found == Occurrence(due_at=utc(2026, 12, 5, 3, 14), number=2)


def test_completion_anchor_across_spring_change() -> None:
    start = datetime(2026, 3, 1, 9, tzinfo=BERLIN)
    completed_at = utc(2026, 3, 27, 15)

    due = next_occurrence(
        "FREQ=DAILY;INTERVAL=3",
        "completion",
        series_start=start,
        previous_due=start,
        completed_at=completed_at,
        timezone="Europe/Berlin",
        now=completed_at,
        occurrence=1,
    )

    assert due == utc(2026, 3, 30, 7)  # 09:00 CEST


def test_completion_anchor_weekly_on_monday() -> None:
    start = datetime(2026, 5, 4, 9, tzinfo=BERLIN)  # a Monday
    completed_at = utc(2026, 5, 13, 10)  # Wednesday

    due = next_occurrence(
        "FREQ=WEEKLY;BYDAY=MO",
        "completion",
        series_start=start,
        previous_due=start,
        completed_at=completed_at,
        timezone="Europe/Berlin",
        now=completed_at,
        occurrence=1,
    )

    assert due == utc(2026, 5, 18, 7)


def test_completion_anchor_skips_to_after_now() -> None:
    # Completed on 1 May but reported on 20 May: dates up to now are skipped and counted.
    start = datetime(2026, 5, 1, 9, tzinfo=BERLIN)
    found = find_next_occurrence(
        "FREQ=WEEKLY",
        "completion",
        series_start=start,
        previous_due=start,
        completed_at=utc(2026, 5, 1, 12),
        timezone="Europe/Berlin",
        now=utc(2026, 5, 20, 12),
        occurrence=1,
    )

    assert found == Occurrence(due_at=utc(2026, 5, 22, 7), number=4)


def test_count_ends_series() -> None:
    start = datetime(2026, 5, 1, 9, tzinfo=BERLIN)
    arguments: dict[str, Any] = {
        "series_start": start,
        "completed_at": utc(2026, 5, 2, 6),
        "timezone": "Europe/Berlin",
        "now": utc(2026, 5, 2, 6),
    }

    assert next_occurrence(
        "FREQ=DAILY;COUNT=3", "due", previous_due=utc(2026, 5, 2, 7), occurrence=2, **arguments
    ) == utc(2026, 5, 3, 7)
    assert (
        next_occurrence(
            "FREQ=DAILY;COUNT=3",
            "due",
            previous_due=utc(2026, 5, 3, 7),
            occurrence=3,
            **arguments,
        )
        is None
    )
    assert (
        next_occurrence(
            "FREQ=DAILY;COUNT=2",
            "completion",
            previous_due=utc(2026, 5, 2, 7),
            occurrence=2,
            **arguments,
        )
        is None
    )
    assert (
        next_occurrence("FREQ=DAILY;COUNT=1", "due", previous_due=start, occurrence=1, **arguments)
        is None
    )


def test_count_ends_series_when_late_completion_skips() -> None:
    # COUNT=5 from 1 May: a completion on 10 May would need the 11th date, past the end.
    start = datetime(2026, 5, 1, 9, tzinfo=BERLIN)

    due = next_occurrence(
        "FREQ=DAILY;COUNT=5",
        "due",
        series_start=start,
        previous_due=start,
        completed_at=utc(2026, 5, 10, 12),
        timezone="Europe/Berlin",
        now=utc(2026, 5, 10, 12),
        occurrence=1,
    )

    assert due is None


def test_until_ends_series_inclusive() -> None:
    start = datetime(2026, 5, 1, 9, tzinfo=BERLIN)
    arguments: dict[str, Any] = {
        "series_start": start,
        "timezone": "Europe/Berlin",
        "occurrence": 2,
    }
    until_rule = "FREQ=DAILY;UNTIL=20260503T070000Z"  # 09:00 CEST on 3 May

    assert next_occurrence(
        until_rule,
        "due",
        previous_due=utc(2026, 5, 2, 7),
        completed_at=utc(2026, 5, 2, 8),
        now=utc(2026, 5, 2, 8),
        **arguments,
    ) == utc(2026, 5, 3, 7)
    assert (
        next_occurrence(
            until_rule,
            "due",
            previous_due=utc(2026, 5, 3, 7),
            completed_at=utc(2026, 5, 3, 8),
            now=utc(2026, 5, 3, 8),
            **arguments,
        )
        is None
    )
    assert (
        next_occurrence(
            until_rule,
            "completion",
            previous_due=utc(2026, 5, 2, 7),
            completed_at=utc(2026, 5, 3, 8),
            now=utc(2026, 5, 3, 8),
            **arguments,
        )
        is None
    )


def test_upcoming_lists_next_five() -> None:
    start = datetime(2026, 5, 4, 9, tzinfo=BERLIN)
    rule = preset_to_rule("weekly on mon,wed", start)

    assert upcoming(rule, start, "Europe/Berlin", start) == [
        utc(2026, 5, 6, 7),
        utc(2026, 5, 11, 7),
        utc(2026, 5, 13, 7),
        utc(2026, 5, 18, 7),
        utc(2026, 5, 20, 7),
    ]
    assert upcoming(rule, start, "Europe/Berlin", start, count=0) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"anchor": "start"}, "invalid recurrence anchor"),
        ({"occurrence": 0}, "occurrence must be 1 or more"),
        ({"now": datetime(2026, 5, 2, 9)}, "now must be an aware datetime"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"rule": "FREQ=DAILY;DTSTART=20260101T000000Z"}, "without DTSTART"),
    ],
)
def test_next_occurrence_rejects_invalid_input(changes: dict[str, object], message: str) -> None:
    arguments: dict[str, Any] = {
        "rule": "FREQ=DAILY",
        "anchor": "due",
        "series_start": utc(2026, 5, 1, 7),
        "previous_due": utc(2026, 5, 1, 7),
        "completed_at": utc(2026, 5, 1, 8),
        "timezone": "Europe/Berlin",
        "now": utc(2026, 5, 1, 8),
        "occurrence": 1,
    }
    arguments.update(changes)

    with pytest.raises(ValueError, match=message):
        next_occurrence(**arguments)


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Adelaide", "Asia/Kolkata", "UTC"]
# Rules without BYHOUR, BYMINUTE or BYSECOND, so every date keeps the start's time of day.
RULES = [
    "FREQ=DAILY",
    "FREQ=DAILY;INTERVAL=3",
    "FREQ=WEEKLY",
    "FREQ=WEEKLY;BYDAY=MO,WE,FR",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU",
    "FREQ=MONTHLY;BYMONTHDAY=-1",
    "FREQ=MONTHLY;BYMONTHDAY=28,29,30;BYSETPOS=-1",
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=28,29;BYSETPOS=-1",
    "FREQ=YEARLY",
]
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def series_starts(draw: st.DrawFn) -> datetime:
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    return draw(
        st.datetimes(
            min_value=datetime(2020, 1, 1),
            max_value=datetime(2030, 12, 31),
            timezones=st.just(zone),
            allow_imaginary=False,
        )
    )


def wall_exists(wall: datetime, zone: ZoneInfo) -> bool:
    moment = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    return moment.astimezone(zone).replace(tzinfo=None) == wall


@PROPERTY_SETTINGS
@given(start=series_starts(), rule=st.sampled_from(RULES))
def test_upcoming_strictly_increasing_and_keeps_time(start: datetime, rule: str) -> None:
    zone = start.tzinfo
    assert isinstance(zone, ZoneInfo)
    dates = upcoming(rule, start, zone.key, just_before(start), 12)
    start_wall = start.replace(tzinfo=None)

    # Compared in UTC, because with Python 3.11 an aware time in a repeated hour compares
    # unequal to every time in another zone.
    assert dates[0] == start.astimezone(UTC)
    for earlier, later in itertools.pairwise(dates):
        assert earlier < later
    for moment in dates[1:]:
        wall = moment.astimezone(zone).replace(tzinfo=None)
        expected = datetime.combine(wall.date(), start_wall.time())
        if wall_exists(expected, zone):
            assert wall == expected
        else:
            # A time in a spring-forward gap moves forward by the gap, one hour in these zones.
            assert wall == expected + timedelta(hours=1)


@PROPERTY_SETTINGS
@given(
    start=series_starts(),
    rule=st.sampled_from(RULES),
    anchor=st.sampled_from(["due", "completion"]),
    steps=st.lists(st.integers(min_value=0, max_value=90 * 24), min_size=1, max_size=4),
)
def test_next_occurrence_after_due_and_now(
    start: datetime, rule: str, anchor: str, steps: list[int]
) -> None:
    zone = start.tzinfo
    assert isinstance(zone, ZoneInfo)
    previous_due = start.astimezone(UTC)
    occurrence = 1
    for hours_late in steps:
        now = previous_due + timedelta(hours=hours_late)
        found = find_next_occurrence(
            rule,
            anchor,
            series_start=start,
            previous_due=previous_due,
            completed_at=now,
            timezone=zone.key,
            now=now,
            occurrence=occurrence,
        )
        assert found is not None
        assert found.due_at > previous_due
        assert found.due_at > now
        assert found.number > occurrence
        previous_due, occurrence = found.due_at, found.number


@PROPERTY_SETTINGS
@given(start=series_starts(), rule=st.sampled_from(RULES))
def test_on_time_completions_follow_upcoming(start: datetime, rule: str) -> None:
    zone = start.tzinfo
    assert isinstance(zone, ZoneInfo)
    expected = upcoming(rule, start, zone.key, start, 5)
    previous_due = start.astimezone(UTC)
    occurrence = 1
    for due in expected:
        found = find_next_occurrence(
            rule,
            "due",
            series_start=start,
            previous_due=previous_due,
            completed_at=previous_due,
            timezone=zone.key,
            now=previous_due,
            occurrence=occurrence,
        )
        assert found == Occurrence(due_at=due, number=occurrence + 1)
        previous_due, occurrence = found.due_at, found.number


@PROPERTY_SETTINGS
@given(
    start=series_starts(),
    rule=st.sampled_from(RULES),
    count=st.integers(min_value=1, max_value=8),
    hours_late=st.integers(min_value=0, max_value=60 * 24),
)
def test_count_respected(start: datetime, rule: str, count: int, hours_late: int) -> None:
    zone = start.tzinfo
    assert isinstance(zone, ZoneInfo)
    counted = f"{rule};COUNT={count}"

    assert len(upcoming(counted, start, zone.key, just_before(start), count + 5)) == count

    previous_due = start.astimezone(UTC)
    occurrence = 1
    while True:
        now = previous_due + timedelta(hours=hours_late)
        found = find_next_occurrence(
            counted,
            "due",
            series_start=start,
            previous_due=previous_due,
            completed_at=now,
            timezone=zone.key,
            now=now,
            occurrence=occurrence,
        )
        if found is None:
            break
        assert found.number <= count
        previous_due, occurrence = found.due_at, found.number
    assert occurrence <= count


@PROPERTY_SETTINGS
@given(
    start=series_starts(),
    rule=st.sampled_from(RULES),
    days_until=st.integers(min_value=0, max_value=400),
    anchor=st.sampled_from(["due", "completion"]),
)
def test_until_respected(start: datetime, rule: str, days_until: int, anchor: str) -> None:
    zone = start.tzinfo
    assert isinstance(zone, ZoneInfo)
    until = start.astimezone(UTC) + timedelta(days=days_until)
    bounded = f"{rule};UNTIL={until:%Y%m%dT%H%M%SZ}"

    dates = upcoming(bounded, start, zone.key, start, 50)
    assert all(moment <= until for moment in dates)

    now = start.astimezone(UTC) + timedelta(days=days_until // 2)
    due = next_occurrence(
        bounded,
        anchor,
        series_start=start,
        previous_due=start,
        completed_at=now,
        timezone=zone.key,
        now=now,
        occurrence=1,
    )
    assert due is None or due <= until
