"""RRULE validation: what RFC 5545 forbids is rejected with a message naming the part."""

from __future__ import annotations

import pytest

from taskora.server.domain.rules import check_reminder_offset, check_rule


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            "FREQ=MONTHLY;BYDAY=9FR",
            "BYDAY=9FR asks for weekday number 9, but a month has at most 5; "
            "use 1 to 5 or -1 to -5",
        ),
        (
            "FREQ=YEARLY;BYMONTH=2;BYDAY=6MO",
            "BYDAY=6MO asks for weekday number 6, but a month has at most 5",
        ),
        (
            "FREQ=YEARLY;BYDAY=54MO",
            "BYDAY=54MO asks for weekday number 54, but a year has at most 53",
        ),
        ("FREQ=DAILY;INTERVAL=-1", "INTERVAL=-1 must be a whole number of 1 or more"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be 1 or more"),
        ("FREQ=DAILY;COUNT=x", "COUNT=X must be a whole number of 1 or more"),
        (
            "FREQ=WEEKLY;BYDAY=2MO",
            "BYDAY=2MO has a position, which RFC 5545 allows only with FREQ=MONTHLY or "
            "YEARLY; write BYDAY=MO",
        ),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ is given twice"),
        ("FREQ=MONTHLY;BYSETPOS=1", "BYSETPOS picks among the dates of another BY part"),
        ("FREQ=DAILY;UNTIL=20261208", "UNTIL=20261208 must be a UTC date and time such as"),
        (
            "FREQ=MONTHLY;BYMONTHDAY=0",
            "BYMONTHDAY value '0' is out of range; use 1 to 31 or -31 to -1",
        ),
        ("FREQ=DAILY;BYHOUR=24", "BYHOUR value '24' is out of range; use 0 to 23"),
        ("FREQ=DAILY;BYDAY=XX", "BYDAY value 'XX' is not a weekday such as MO, 3FR or -1SU"),
        ("FREQ=DAILY;FOO=1", "unknown part 'FOO'"),
        ("INTERVAL=2", "FREQ is required, such as FREQ=DAILY"),
        ("FREQ=FORTNIGHTLY", "FREQ=FORTNIGHTLY is not a frequency"),
        ("FREQ=DAILY;INTERVAL", "'INTERVAL' is not NAME=VALUE"),
        (
            "FREQ=HOURLY;BYSECOND=0,1,2",
            "BYSECOND with several values repeats more often than hourly",
        ),
        (
            "FREQ=DAILY;BYHOUR=9;BYMINUTE=0,30",
            "BYMINUTE with several values repeats more often than hourly",
        ),
        (
            "FREQ=WEEKLY;BYMONTHDAY=3",
            "RFC 5545 does not allow BYMONTHDAY with FREQ=WEEKLY; use it with "
            "FREQ=DAILY, HOURLY, MONTHLY or YEARLY",
        ),
        (
            "FREQ=DAILY;BYYEARDAY=5",
            "RFC 5545 does not allow BYYEARDAY with FREQ=DAILY; use it with FREQ=HOURLY or YEARLY",
        ),
        (
            "FREQ=MONTHLY;BYWEEKNO=3",
            "RFC 5545 does not allow BYWEEKNO with FREQ=MONTHLY; use it with FREQ=YEARLY",
        ),
        ("FREQ=WEEKLY;WKST=XX", "WKST=XX is not a weekday; use MO, TU, WE, TH, FR, SA, SU"),
        (
            "FREQ=MONTHLY;BYDAY=0MO",
            "BYDAY=0MO has position 0; positions count from 1 (the first) or -1 (the last), "
            "so write 1MO or -1MO",
        ),
    ],
)
def test_rfc_violation_names_part(rule: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_rule(rule)
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"invalid recurrence rule {rule.upper()!r}: ")


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=MONTHLY;BYDAY=-1FR",
        "FREQ=MONTHLY;BYDAY=3FR",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "FREQ=YEARLY;BYDAY=20MO",
        "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
        "FREQ=MONTHLY;BYMONTHDAY=-1",
        "FREQ=DAILY;UNTIL=20271231T235959Z",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;WKST=SU",
        "FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",
        "FREQ=DAILY;BYHOUR=9,17;BYMINUTE=30",
    ],
)
def test_valid_rules_are_accepted_unchanged(rule: str) -> None:
    assert check_rule(rule) == rule


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        ("P366D", "reminder offset 'P366D' is longer than 365 days"),
        ("P1Y", "reminder offset 'P1Y' is longer than 365 days"),
        ("P12M", "reminder offset 'P12M' is longer than 365 days"),
        ("PT15S", "reminder offset 'PT15S' has seconds: reminders are set in whole minutes"),
    ],
)
def test_reminder_offset_limits(offset: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_reminder_offset(offset)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("offset", ["P365D", "PT1H30M", "P2W", "p1d"])
def test_reminder_offset_accepted(offset: str) -> None:
    assert check_reminder_offset(offset) == offset.upper()
