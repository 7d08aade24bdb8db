"""Cron schedules: the next fire times, what is rejected and why, and the DST rules.

Semantics pinned here:
- 5 fields; 6 fields read seconds first (`sec min hour dom mon dow`); the @ macros.
- Every job is evaluated in its own IANA zone; fire times come back in UTC, strictly increasing
  and strictly after `after`.
- Debian cron's DST rules. A fixed-time job (minute and hour fields not starting with `*`) fires
  once in a repeated autumn hour (the first pass) and at the transition when its time falls in
  a spring gap. A job with a wildcard minute or hour fires by elapsed real time: at every instant
  whose local time matches, so in both passes of a repeated hour and never in a gap.

Every expected instant below was worked out by hand from the zone's offsets; the transition
dates (tzdata, 2026) are:

    Europe/Berlin        spring 03-29 02:00 -> 03:00   autumn 10-25 03:00 -> 02:00
    America/New_York     spring 03-08 02:00 -> 03:00   autumn 11-01 02:00 -> 01:00
    America/Santiago     spring 09-06 00:00 -> 01:00   autumn 04-05 00:00 -> 04-04 23:00
    Australia/Lord_Howe  spring 10-04 02:00 -> 02:30   autumn 04-05 02:00 -> 01:30
"""

from __future__ import annotations

import calendar
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from night_pilot.cron import (
    CronSchedule,
    OneShot,
    normalize_cron,
    parse_at,
    parse_cron,
    validate_timezone,
)
from night_pilot.errors import InvalidCron, InvalidInput

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
SANTIAGO = "America/Santiago"
LORD_HOWE = "Australia/Lord_Howe"
DST_ZONES = [BERLIN, NEW_YORK, SANTIAGO, LORD_HOWE]


def utc(text: str) -> datetime:
    """An instant written as ISO text in UTC: utc('2026-03-29T01:00')."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def utcs(*texts: str) -> list[datetime]:
    return [utc(t) for t in texts]


# --- 1. next fire times -------------------------------------------------------------------------

NEXT_TIMES = [
    # expression, zone, after, expected fire times (UTC)
    pytest.param(
        "*/15 * * * *", "UTC", "2026-01-01T00:07",
        utcs("2026-01-01T00:15", "2026-01-01T00:30", "2026-01-01T00:45", "2026-01-01T01:00"),
        id="step-minutes",
    ),
    pytest.param(
        "0 * * * *", "UTC", "2026-01-01T05:00",
        utcs("2026-01-01T06:00", "2026-01-01T07:00"),
        id="after-is-a-fire-time-strictly-after",
    ),
    pytest.param(
        "0 * * * *", "UTC", "2026-01-01T04:59:59.999",
        utcs("2026-01-01T05:00", "2026-01-01T06:00"),
        id="after-with-microseconds",
    ),
    pytest.param(
        "10-50/20 8-10 * * *", "UTC", "2026-03-03T08:30",
        utcs("2026-03-03T08:50", "2026-03-03T09:10", "2026-03-03T09:30", "2026-03-03T09:50",
             "2026-03-03T10:10"),
        id="range-with-step",
    ),
    pytest.param(
        # 2026-01-02 is a Friday; 09:00 CET is 08:00 UTC.
        "0 9 * * 1-5", BERLIN, "2026-01-02T12:00",
        utcs("2026-01-05T08:00", "2026-01-06T08:00", "2026-01-07T08:00"),
        id="weekdays-in-berlin-winter",
    ),
    pytest.param(
        # after is 2026-06-30 20:00 EDT, past that day's 18:30.
        "30 18 * * *", NEW_YORK, "2026-07-01T00:00",
        utcs("2026-07-01T22:30", "2026-07-02T22:30"),
        id="new-york-summer",
    ),
    pytest.param(
        "0 0 1 * *", "UTC", "2026-01-15T00:00",
        utcs("2026-02-01T00:00", "2026-03-01T00:00", "2026-04-01T00:00"),
        id="first-of-month",
    ),
    pytest.param(
        # Neither day field starts with '*': the 13th OR a Friday (2026-02-13 is both).
        "0 0 13 * 5", "UTC", "2026-02-01T00:00",
        utcs("2026-02-06T00:00", "2026-02-13T00:00", "2026-02-20T00:00", "2026-02-27T00:00",
             "2026-03-06T00:00", "2026-03-13T00:00"),
        id="day-of-month-or-day-of-week",
    ),
    pytest.param(
        # day-of-week starts with '*': the 1st AND a Sunday (Feb and Mar 2026, then Nov).
        "0 0 1 * */7", "UTC", "2026-01-01T00:00",
        utcs("2026-02-01T00:00", "2026-03-01T00:00", "2026-11-01T00:00"),
        id="day-of-month-and-day-of-week",
    ),
    pytest.param(
        "0 0 * * 7", "UTC", "2026-01-01T00:00",
        utcs("2026-01-04T00:00", "2026-01-11T00:00"),
        id="seven-is-sunday",
    ),
    pytest.param(
        "0 12 * * sun,Wed", "UTC", "2026-01-01T00:00",
        utcs("2026-01-04T12:00", "2026-01-07T12:00", "2026-01-11T12:00"),
        id="day-names-any-case",
    ),
    pytest.param(
        "0 0 29 2 *", "UTC", "2026-01-01T00:00",
        utcs("2028-02-29T00:00", "2032-02-29T00:00"),
        id="leap-day",
    ),
    pytest.param(
        # 06:00 in Lord Howe: +10:30 in July (standard time), +11:00 in January (DST).
        "0 6 1 JAN,JUL *", LORD_HOWE, "2026-01-01T00:00",
        utcs("2026-06-30T19:30", "2026-12-31T19:00"),
        id="month-names-half-hour-zone",
    ),
    # 6 fields: seconds first.
    pytest.param(
        "*/20 * * * * *", "UTC", "2026-01-01T00:00:05",
        utcs("2026-01-01T00:00:20", "2026-01-01T00:00:40", "2026-01-01T00:01:00"),
        id="six-every-20-seconds",
    ),
    pytest.param(
        "30 15 10 * * *", BERLIN, "2026-01-01T00:00",
        utcs("2026-01-01T09:15:30", "2026-01-02T09:15:30"),
        id="six-fixed-time-berlin",
    ),
    pytest.param(
        "0 0 12 * * SAT", "UTC", "2026-01-01T00:00",
        utcs("2026-01-03T12:00", "2026-01-10T12:00"),
        id="six-saturday-noon",
    ),
    pytest.param(
        "5,10 0 0 1 1 *", "UTC", "2026-06-01T00:00",
        utcs("2027-01-01T00:00:05", "2027-01-01T00:00:10", "2028-01-01T00:00:05"),
        id="six-second-list-new-year",
    ),
    pytest.param(
        "0-2 0 * * * *", "UTC", "2026-01-01T00:00:01",
        utcs("2026-01-01T00:00:02", "2026-01-01T01:00:00", "2026-01-01T01:00:01"),
        id="six-second-range-hourly",
    ),
    # Macros. 2026-01-01 is a Thursday.
    pytest.param(
        "@hourly", "UTC", "2026-01-01T00:00",
        utcs("2026-01-01T01:00", "2026-01-01T02:00", "2026-01-01T03:00"),
        id="macro-hourly",
    ),
    pytest.param(
        "@daily", "UTC", "2026-01-01T00:00",
        utcs("2026-01-02T00:00", "2026-01-03T00:00"),
        id="macro-daily",
    ),
    pytest.param(
        "@midnight", "UTC", "2026-01-01T00:00",
        utcs("2026-01-02T00:00", "2026-01-03T00:00"),
        id="macro-midnight",
    ),
    pytest.param(
        "@weekly", "UTC", "2026-01-01T00:00",
        utcs("2026-01-04T00:00", "2026-01-11T00:00"),
        id="macro-weekly-sunday",
    ),
    pytest.param(
        "@monthly", "UTC", "2026-01-01T00:00",
        utcs("2026-02-01T00:00", "2026-03-01T00:00"),
        id="macro-monthly",
    ),
    pytest.param(
        "@yearly", "UTC", "2026-01-01T00:00",
        utcs("2027-01-01T00:00", "2028-01-01T00:00"),
        id="macro-yearly",
    ),
    pytest.param(
        "@annually", "UTC", "2026-01-01T00:00",
        utcs("2027-01-01T00:00", "2028-01-01T00:00"),
        id="macro-annually",
    ),
    pytest.param(
        "@Daily", NEW_YORK, "2026-01-01T00:00",
        utcs("2026-01-01T05:00", "2026-01-02T05:00"),
        id="macro-daily-new-york-any-case",
    ),
]


@pytest.mark.parametrize(("expr", "zone", "after", "expected"), NEXT_TIMES)
def test_next_fire_times(expr: str, zone: str, after: str, expected: list[datetime]) -> None:
    schedule = parse_cron(expr, zone)
    assert schedule.next_times(utc(after), len(expected)) == expected
    assert schedule.next_after(utc(after)) == expected[0]


@pytest.mark.parametrize(
    ("expr", "normalized"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("  0\t9  * *\n mon-fri ", "0 9 * * MON-FRI"),
        ("15 30 2 * * *", "15 30 2 * * *"),
        # A stepped range of one value is that value (cronsim alone would read `5-5/2` as
        # "5 and every 2nd up to the maximum").
        ("5-5/2,10-20/5 * * * *", "5,10-20/5 * * * *"),
        ("0 0 * * sun-sun/3", "0 0 * * SUN"),
    ],
)
def test_normalize(expr: str, normalized: str) -> None:
    assert normalize_cron(expr) == normalized


def test_count_and_timezone_arguments() -> None:
    schedule = parse_cron("* * * * *", "UTC")
    assert schedule.next_times(utc("2026-01-01T00:00"), 0) == []
    assert len(schedule.next_times(utc("2026-01-01T00:00"), 500)) == 500
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.next_times(datetime(2026, 1, 1), 1)
    # `after` may carry any offset; only the instant matters.
    berlin_after = utc("2026-01-01T00:07").astimezone(ZoneInfo(BERLIN))
    assert schedule.next_after(berlin_after) == utc("2026-01-01T00:08")


def test_rare_dates_and_the_end_of_the_calendar() -> None:
    # 5th Sunday of February: only when Feb 1 is a Sunday in a leap year (2032, then 2060).
    schedule = parse_cron("0 0 * 2 0#5", "UTC")
    assert schedule.next_times(utc("2026-01-01T00:00"), 2) == utcs(
        "2032-02-29T00:00", "2060-02-29T00:00"
    )
    # Python's calendar ends with 9999: there is no next fire, rather than an error.
    for expr, after in [
        ("@yearly", "9999-06-01T00:00"),
        ("0 0 0 1 1 *", "9999-06-01T00:00"),
        ("* * * * *", "9999-12-31T23:59"),
    ]:
        for zone in ["UTC", LORD_HOWE]:
            late = parse_cron(expr, zone)
            assert late.next_after(utc(after)) is None
            assert late.next_times(utc(after), 3) == []


# --- 2. invalid expressions ---------------------------------------------------------------------

INVALID = [
    # expression, field named by the error, words the message must contain
    pytest.param("60 * * * * *", "second", ["second", "60", "out of range 0-59"], id="second"),
    pytest.param("60 * * * *", "minute", ["minute", "60", "out of range 0-59"], id="minute"),
    pytest.param("0 24 * * *", "hour", ["hour", "24", "out of range 0-23"], id="hour"),
    pytest.param("0 0 0 * *", "day-of-month", ["day-of-month", "out of range 1-31"], id="dom-0"),
    pytest.param("0 0 32 * *", "day-of-month", ["day-of-month", "32", "out of range 1-31"],
                 id="dom-32"),
    pytest.param("0 0 1 13 *", "month", ["month", "13", "out of range 1-12"], id="month-13"),
    pytest.param("0 0 1 0 *", "month", ["month", "out of range 1-12"], id="month-0"),
    pytest.param("0 0 * * 8", "day-of-week", ["day-of-week", "8", "out of range 0-7"],
                 id="dow-8"),
    pytest.param("0 0 0-25 * * *", "hour", ["hour", "25", "out of range"], id="six-hour-range"),
    pytest.param("x * * * *", "minute", ["minute", "X", "not a number"], id="token-minute"),
    pytest.param("0 0 * foo *", "month", ["month", "FOO", "not a number", "JAN"],
                 id="token-month"),
    pytest.param("0 0 * * funday", "day-of-week", ["day-of-week", "FUNDAY", "not a number"],
                 id="token-dow"),
    pytest.param("0 0 * * FRIL", "day-of-week", ["day-of-week", "FRIL", "not a number"],
                 id="token-dow-name-last"),
    pytest.param("² * * * *", "minute", ["minute", "²", "not a number"], id="token-superscript"),
    pytest.param("1.5 * * * *", "minute", ["minute", "1.5", "not a number"], id="token-decimal"),
    pytest.param("0 17-9 * * *", "hour", ["hour", "17-9", "runs backwards"], id="backwards"),
    pytest.param("0 0 * NOV-FEB *", "month", ["month", "NOV-FEB", "runs backwards"],
                 id="backwards-names"),
    pytest.param("*/0 * * * *", "minute", ["minute", "step", "'0'", "positive"], id="zero-step"),
    pytest.param("0 0 1-5/0 * *", "day-of-month", ["day-of-month", "step", "positive"],
                 id="zero-step-range"),
    pytest.param("0 0 * * */x", "day-of-week", ["day-of-week", "step", "positive"],
                 id="bad-step"),
    pytest.param("*/61 * * * *", "minute", ["minute", "step 61", "larger", "0-59"],
                 id="step-too-large"),
    pytest.param("1,,2 * * * *", "minute", ["minute", "empty list item"], id="empty-list-item"),
    pytest.param("0 0 30 2 *", "day-of-month", ["day-of-month", "day 30", "no month"],
                 id="feb-30"),
    pytest.param("0 0 31 4,6,9,11 *", "day-of-month", ["day-of-month", "day 31", "no month"],
                 id="31st-of-short-months"),
    pytest.param("0 0 0 31 FEB */2", "day-of-month", ["day-of-month", "day 31", "no month"],
                 id="six-feb-31-and-weekday"),
]


@pytest.mark.parametrize(("expr", "field", "words"), INVALID)
def test_invalid_field_named_with_reason(expr: str, field: str, words: list[str]) -> None:
    with pytest.raises(InvalidCron) as caught:
        parse_cron(expr, "UTC")
    error = caught.value
    assert error.field == field
    assert error.message.startswith(f"{field} field ")
    for word in words:
        assert word in error.message
    assert error.to_dict()["field"] == field
    assert error.exit_code == 2


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        pytest.param("* * *", ["5 fields", "6 with seconds first", "has 3"], id="3-fields"),
        pytest.param("0 0 * *", ["5 fields", "has 4"], id="4-fields"),
        pytest.param("0 0 0 * * * 2026", ["5 fields", "has 7"], id="7-fields"),
        pytest.param("", ["empty"], id="empty"),
        pytest.param(" \t\n", ["empty"], id="blank"),
        pytest.param("@fortnightly", ["unknown cron macro", "@fortnightly"], id="unknown-macro"),
        pytest.param("@reboot", ["unknown cron macro", "@reboot"], id="reboot-macro"),
    ],
)
def test_invalid_shape(expr: str, words: list[str]) -> None:
    with pytest.raises(InvalidCron) as caught:
        parse_cron(expr, "UTC")
    assert caught.value.field is None
    for word in words:
        assert word in caught.value.message


def test_unknown_macro_lists_the_known_ones() -> None:
    with pytest.raises(InvalidCron) as caught:
        normalize_cron("@fortnightly")
    hint = caught.value.hint or ""
    for macro in ("@hourly", "@daily", "@weekly", "@monthly", "@yearly"):
        assert macro in hint


@pytest.mark.parametrize(
    ("expr", "rewrite"),
    [
        ("30 2 * * * 15", "15 30 2 * * *"),
        ("0 12 * * 1 45", "45 0 12 * * 1"),
    ],
)
def test_seconds_last_gets_a_seconds_first_hint(expr: str, rewrite: str) -> None:
    with pytest.raises(InvalidCron) as caught:
        parse_cron(expr, "UTC")
    assert caught.value.field == "day-of-week"
    hint = caught.value.hint or ""
    assert "seconds first" in hint
    assert repr(rewrite) in hint
    assert caught.value.to_dict()["hint"] == hint


def test_no_seconds_hint_when_rotating_does_not_help() -> None:
    with pytest.raises(InvalidCron) as caught:
        parse_cron("0 0 0 * * 99", "UTC")  # 99 is no second either
    assert caught.value.field == "day-of-week"
    assert caught.value.hint is None


@pytest.mark.parametrize("zone", ["Mars/Olympus", "Europe", "utc", "../../etc/passwd", ""])
def test_unknown_time_zone(zone: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_cron("0 0 * * *", zone)
    assert type(caught.value) is InvalidInput
    assert repr(zone) in caught.value.message
    assert "time zone" in caught.value.message
    assert "IANA" in (caught.value.hint or "")


def test_known_time_zones() -> None:
    for zone in [*DST_ZONES, "UTC", "Asia/Kolkata"]:
        assert validate_timezone(zone) == zone
        assert parse_cron("@daily", zone).timezone == zone


# --- 3. daylight saving time --------------------------------------------------------------------

# A fixed-time job whose time is inside each zone's repeated or skipped hour, run over the day
# before, the transition day and the day after.
FIXED_TIME_DST = [
    # zone, minute, hour, after, expected fire times (UTC)
    pytest.param(
        # 02:30 CEST (+2) on the day before and on 10-25 (first pass only), then 02:30 CET (+1).
        BERLIN, 30, 2, "2026-10-24T00:00",
        utcs("2026-10-24T00:30", "2026-10-25T00:30", "2026-10-26T01:30"),
        id="berlin-autumn-once",
    ),
    pytest.param(
        # 02:30 CET; 03-29 02:30 does not exist: fires at 03:00 CEST; then 02:30 CEST.
        BERLIN, 30, 2, "2026-03-28T00:00",
        utcs("2026-03-28T01:30", "2026-03-29T01:00", "2026-03-30T00:30"),
        id="berlin-spring-at-transition",
    ),
    pytest.param(
        # 01:30 EDT (-4) twice, the second time on 11-01 in the first pass; then 01:30 EST.
        NEW_YORK, 30, 1, "2026-10-31T00:00",
        utcs("2026-10-31T05:30", "2026-11-01T05:30", "2026-11-02T06:30"),
        id="new-york-autumn-once",
    ),
    pytest.param(
        # 02:30 EST (-5); 03-08 at 03:00 EDT (-4); then 02:30 EDT.
        NEW_YORK, 30, 2, "2026-03-07T00:00",
        utcs("2026-03-07T07:30", "2026-03-08T07:00", "2026-03-09T06:30"),
        id="new-york-spring-at-transition",
    ),
    pytest.param(
        # Santiago repeats 23:00-24:00 on Saturday 04-04: 23:30 -03 on 04-03 (after is 09:00
        # local) and on 04-04 (first pass), then 23:30 -04.
        SANTIAGO, 30, 23, "2026-04-03T12:00",
        utcs("2026-04-04T02:30", "2026-04-05T02:30", "2026-04-06T03:30"),
        id="santiago-autumn-once",
    ),
    pytest.param(
        # Santiago skips 00:00-01:00 on Sunday 09-06: 00:30 -04, then 01:00 -03, then 00:30 -03.
        SANTIAGO, 30, 0, "2026-09-05T00:00",
        utcs("2026-09-05T04:30", "2026-09-06T04:00", "2026-09-07T03:30"),
        id="santiago-spring-at-transition",
    ),
    pytest.param(
        # Lord Howe repeats 01:30-02:00 on 04-05: 01:45 +11 (first pass), then +10:30.
        LORD_HOWE, 45, 1, "2026-04-03T00:00",
        utcs("2026-04-03T14:45", "2026-04-04T14:45", "2026-04-05T15:15"),
        id="lord-howe-autumn-once",
    ),
    pytest.param(
        # Lord Howe skips 02:00-02:30 on 10-04: 02:15 +10:30, then 02:30 +11, then 02:15 +11.
        LORD_HOWE, 15, 2, "2026-10-02T00:00",
        utcs("2026-10-02T15:45", "2026-10-03T15:30", "2026-10-04T15:15"),
        id="lord-howe-spring-at-transition",
    ),
    pytest.param(
        # The same rules the next year (Berlin 2027: 03-28 and 10-31).
        BERLIN, 30, 2, "2027-10-30T00:00",
        utcs("2027-10-30T00:30", "2027-10-31T00:30", "2027-11-01T01:30"),
        id="berlin-2027-autumn-once",
    ),
    pytest.param(
        BERLIN, 30, 2, "2027-03-27T00:00",
        utcs("2027-03-27T01:30", "2027-03-28T01:00", "2027-03-29T00:30"),
        id="berlin-2027-spring-at-transition",
    ),
]


@pytest.mark.parametrize(("zone", "minute", "hour", "after", "expected"), FIXED_TIME_DST)
def test_fixed_time_job_across_dst(
    zone: str, minute: int, hour: int, after: str, expected: list[datetime]
) -> None:
    assert parse_cron(f"{minute} {hour} * * *", zone).next_times(utc(after), 3) == expected


@pytest.mark.parametrize(("zone", "minute", "hour", "after", "expected"), FIXED_TIME_DST)
def test_six_field_fixed_time_job_follows_the_same_rules(
    zone: str, minute: int, hour: int, after: str, expected: list[datetime]
) -> None:
    assert parse_cron(f"0 {minute} {hour} * * *", zone).next_times(utc(after), 3) == expected
    # With a seconds field the seconds are kept, also on the minute moved to the transition.
    with_seconds = parse_cron(f"15 {minute} {hour} * * *", zone).next_times(utc(after), 3)
    assert with_seconds == [fire + timedelta(seconds=15) for fire in expected]


def test_fixed_time_job_does_not_fire_again_in_the_second_pass() -> None:
    # after = 02:10 CET on 10-25, the second pass through 02:xx; 02:30 already ran (as CEST).
    schedule = parse_cron("30 2 * * *", BERLIN)
    assert schedule.next_after(utc("2026-10-25T01:10")) == utc("2026-10-26T01:30")
    six = parse_cron("0 30 2 * * *", BERLIN)
    assert six.next_after(utc("2026-10-25T01:10")) == utc("2026-10-26T01:30")


def test_fixed_time_jobs_in_the_gap_fire_once_at_the_transition() -> None:
    schedule = parse_cron("0,30,45 2 * * *", BERLIN)
    assert schedule.next_times(utc("2026-03-29T00:00"), 2) == utcs(
        "2026-03-29T01:00", "2026-03-30T00:00"
    )
    assert schedule.next_after(utc("2026-03-29T01:00")) == utc("2026-03-30T00:00")


def test_six_field_seconds_after_the_transition_minute_started() -> None:
    # 02:30:20 and 02:30:40 fall in the gap: they fire at 03:00:20 and 03:00:40 CEST, and
    # asking at 03:00:10 (01:00:10 UTC) must still find them.
    schedule = parse_cron("20,40 30 2 * * *", BERLIN)
    assert schedule.next_times(utc("2026-03-29T01:00:10"), 3) == utcs(
        "2026-03-29T01:00:20", "2026-03-29T01:00:40", "2026-03-30T00:30:20"
    )


def fires_per_local_day(expr: str, zone: str, day: date) -> int:
    tz = ZoneInfo(zone)
    start = datetime(day.year, day.month, day.day, tzinfo=tz) - timedelta(hours=1)
    fires = parse_cron(expr, zone).next_times(start.astimezone(UTC), 200)
    return Counter(fire.astimezone(tz).date() for fire in fires)[day]


WILDCARD_COUNTS = [
    # zone, local date, expression, fires on that local date
    (BERLIN, date(2026, 10, 25), "0 * * * *", 25),
    (BERLIN, date(2026, 3, 29), "0 * * * *", 23),
    (BERLIN, date(2026, 10, 25), "*/30 * * * *", 50),
    (BERLIN, date(2026, 3, 29), "*/30 * * * *", 46),
    (BERLIN, date(2026, 10, 25), "*/15 2 * * *", 8),  # 02:00-02:45 in CEST, then in CET
    (BERLIN, date(2026, 3, 29), "*/15 2 * * *", 0),  # 02:xx does not exist that day
    (NEW_YORK, date(2026, 11, 1), "0 * * * *", 25),
    (NEW_YORK, date(2026, 3, 8), "0 * * * *", 23),
    (SANTIAGO, date(2026, 4, 4), "0 * * * *", 25),
    (SANTIAGO, date(2026, 9, 6), "0 * * * *", 23),
    (SANTIAGO, date(2026, 4, 4), "59 * * * *", 25),
    # Lord Howe shifts by 30 minutes: only :30-:59 repeats (autumn) or is skipped from
    # 02:00 (spring).
    (LORD_HOWE, date(2026, 4, 5), "0 * * * *", 24),
    (LORD_HOWE, date(2026, 4, 5), "30 * * * *", 25),
    (LORD_HOWE, date(2026, 4, 5), "*/30 * * * *", 49),
    (LORD_HOWE, date(2026, 10, 4), "0 * * * *", 23),
    (LORD_HOWE, date(2026, 10, 4), "30 * * * *", 24),
    (LORD_HOWE, date(2026, 10, 4), "*/30 * * * *", 47),
    (LORD_HOWE, date(2026, 4, 5), "0 */3 * * *", 8),
    (LORD_HOWE, date(2026, 10, 4), "0 */3 * * *", 8),
]


@pytest.mark.parametrize(("zone", "day", "expr", "count"), WILDCARD_COUNTS)
def test_wildcard_job_fires_by_elapsed_time(zone: str, day: date, expr: str, count: int) -> None:
    assert fires_per_local_day(expr, zone, day) == count
    assert fires_per_local_day(f"0 {expr}", zone, day) == count  # 6 fields, seconds first


@pytest.mark.parametrize(
    ("zone", "after", "expected"),
    [
        # The hour repeated in the autumn fires in both offsets.
        (BERLIN, "2026-10-24T23:30",
         utcs("2026-10-25T00:00", "2026-10-25T01:00", "2026-10-25T02:00")),  # 02 CEST, 02 CET, 03
        (NEW_YORK, "2026-11-01T04:30",
         utcs("2026-11-01T05:00", "2026-11-01T06:00", "2026-11-01T07:00")),  # 01 EDT, 01 EST, 02
        (SANTIAGO, "2026-04-05T01:30",
         utcs("2026-04-05T02:00", "2026-04-05T03:00", "2026-04-05T04:00")),  # 23 -03, 23 -04, 00
        # The skipped hour does not fire; the transition itself is the next full hour.
        (BERLIN, "2026-03-29T00:30", utcs("2026-03-29T01:00", "2026-03-29T02:00")),  # 03, 04 CEST
        (SANTIAGO, "2026-09-06T03:30", utcs("2026-09-06T04:00", "2026-09-06T05:00")),  # 01, 02
        # Lord Howe: 01:00 +10:30 is 14:30 UTC, the next full hour is 03:00 +11 (16:00 UTC).
        (LORD_HOWE, "2026-10-03T14:00", utcs("2026-10-03T14:30", "2026-10-03T16:00")),
    ],
)
def test_hourly_job_around_transitions(zone: str, after: str, expected: list[datetime]) -> None:
    assert parse_cron("@hourly", zone).next_times(utc(after), len(expected)) == expected


def test_wildcard_hour_skips_a_midnight_that_does_not_exist() -> None:
    # Sunday 2026-09-06 has no 00:00 in Santiago; 00:00/12:00 then fires at noon only.
    schedule = parse_cron("0 */12 * * 0", SANTIAGO)
    assert schedule.next_times(utc("2026-09-05T12:00"), 2) == utcs(
        "2026-09-06T15:00", "2026-09-13T03:00"
    )


def test_wildcard_seconds_in_the_repeated_hour() -> None:
    # Every 20 s during 02:xx in Berlin: the last seconds of the first pass (CEST), then the
    # second pass (CET) from 02:00:00 again.
    schedule = parse_cron("*/20 * 2 * * *", BERLIN)
    assert schedule.next_times(utc("2026-10-25T00:59:30"), 4) == utcs(
        "2026-10-25T00:59:40", "2026-10-25T01:00:00", "2026-10-25T01:00:20", "2026-10-25T01:00:40"
    )


# --- 4. property: fire times match the expression ----------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    name: str
    low: int
    high: int


SECOND = FieldSpec("second", 0, 59)
MINUTE = FieldSpec("minute", 0, 59)
HOUR = FieldSpec("hour", 0, 23)
DOM = FieldSpec("day-of-month", 1, 31)
MONTH = FieldSpec("month", 1, 12)
DOW = FieldSpec("day-of-week", 0, 7)


@st.composite
def field_item(draw: st.DrawFn, spec: FieldSpec) -> tuple[str, set[int]]:
    """One list item of a field: its text and the values it selects (computed here)."""
    every = set(range(spec.low, spec.high + 1))
    kind = draw(st.sampled_from(["star", "number", "range", "star-step", "range-step"]))
    value = st.integers(spec.low, spec.high)
    step = st.integers(1, spec.high - spec.low + 1)
    if kind == "star":
        return "*", every
    if kind == "number":
        n = draw(value)
        return str(n), {n}
    if kind == "star-step":
        s = draw(step)
        return f"*/{s}", set(range(spec.low, spec.high + 1, s))
    a, b = sorted((draw(value), draw(value)))
    if kind == "range":
        return f"{a}-{b}", set(range(a, b + 1))
    s = draw(step)
    return f"{a}-{b}/{s}", set(range(a, b + 1, s))


@st.composite
def field(draw: st.DrawFn, spec: FieldSpec) -> tuple[str, set[int]]:
    items = draw(st.lists(field_item(spec), min_size=1, max_size=3))
    return ",".join(text for text, _ in items), set().union(*(values for _, values in items))


@dataclass(frozen=True)
class Expression:
    text: str
    seconds: set[int]
    minutes: set[int]
    hours: set[int]
    days: set[int]
    months: set[int]
    weekdays: set[int]  # 0 = Sunday
    days_and: bool  # Debian cron: AND the day fields when one starts with '*', else OR
    fixed_time: bool  # minute and hour fields do not start with '*'

    def matches_day(self, day: date) -> bool:
        dom = day.day in self.days
        dow = day.isoweekday() % 7 in self.weekdays
        return dom and dow if self.days_and else dom or dow

    def matches_minute(self, wall: datetime) -> bool:
        return (
            wall.minute in self.minutes
            and wall.hour in self.hours
            and wall.month in self.months
            and self.matches_day(wall.date())
        )


def often_every(spec: FieldSpec) -> st.SearchStrategy[tuple[str, set[int]]]:
    """`*` half the time (so fires are frequent enough to meet a transition), else any field."""
    every = ("*", set(range(spec.low, spec.high + 1)))
    return st.one_of(st.just(every), field(spec))


@st.composite
def expressions(draw: st.DrawFn) -> Expression:
    six = draw(st.booleans())
    second = draw(st.one_of(field_item(SECOND), field(SECOND))) if six else ("0", {0})
    minute = draw(field(MINUTE))
    hour = draw(
        st.one_of(
            often_every(HOUR),
            st.integers(1, 8).map(lambda s: (f"*/{s}", set(range(0, 24, s)))),
        )
    )
    dom, month, dow = draw(often_every(DOM)), draw(often_every(MONTH)), draw(often_every(DOW))
    parts = [second, minute, hour, dom, month, dow] if six else [minute, hour, dom, month, dow]
    return Expression(
        text=" ".join(text for text, _ in parts),
        seconds=second[1],
        minutes=minute[1],
        hours=hour[1],
        days=dom[1],
        months=month[1],
        weekdays={d % 7 for d in dow[1]},
        days_and=dom[0].startswith("*") or dow[0].startswith("*"),
        fixed_time=not (minute[0].startswith("*") or hour[0].startswith("*")),
    )


TRANSITIONS = [  # 2026-2027, (zone, UTC instant): start near them often
    (zone, utc(text))
    for zone, texts in [
        (BERLIN, ["2026-03-29T01:00", "2026-10-25T01:00", "2027-03-28T01:00", "2027-10-31T01:00"]),
        (NEW_YORK, ["2026-03-08T07:00", "2026-11-01T06:00", "2027-03-14T07:00",
                    "2027-11-07T06:00"]),
        (SANTIAGO, ["2026-04-05T03:00", "2026-09-06T04:00", "2027-04-04T03:00",
                    "2027-09-05T04:00"]),
        (LORD_HOWE, ["2026-04-04T15:00", "2026-10-03T15:30", "2027-04-03T15:00",
                     "2027-10-02T15:30"]),
    ]
    for text in texts
]

scenarios = st.one_of(
    # Any of the zones (and UTC) at any instant over five years ...
    st.tuples(
        st.sampled_from([*DST_ZONES, "UTC"]),
        st.datetimes(datetime(2025, 1, 1), datetime(2029, 12, 31)).map(
            lambda d: d.replace(tzinfo=UTC)
        ),
    ),
    # ... or shortly before (up to 3 h) or after (up to 1 h) one of that zone's transitions.
    st.builds(
        lambda transition, seconds: (transition[0], transition[1] + timedelta(seconds=seconds)),
        st.sampled_from(TRANSITIONS),
        st.integers(-3 * 3600, 3600),
    ),
)


def offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta(0)


def naive(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def spring_gap_at(zone: ZoneInfo, instant: datetime) -> timedelta:
    """How far the wall clock jumped forward exactly at `instant` (zero if it did not)."""
    return max(offset(zone, instant) - offset(zone, instant - timedelta(seconds=1)), timedelta(0))


def moved_from_gap(expr: Expression, zone: ZoneInfo, transition: datetime) -> bool:
    """Does some minute in the spring gap ending at `transition` match (minute precision)?"""
    gap = spring_gap_at(zone, transition)
    wall = naive(transition, zone)
    minutes = range(int(gap.total_seconds()) // 60)
    return any(expr.matches_minute(wall - gap + timedelta(minutes=m)) for m in minutes)


def expected_fires(
    expr: Expression, zone: ZoneInfo, after: datetime, end: datetime
) -> list[datetime]:
    """Brute force, minute by minute of real time: the fire times in (after, end]."""
    found: set[datetime] = set()
    minute = after.replace(second=0, microsecond=0)
    while minute <= end:
        local = minute.astimezone(zone)
        if expr.fixed_time:
            due = (expr.matches_minute(local.replace(tzinfo=None)) and local.fold == 0) or (
                spring_gap_at(zone, minute) > timedelta(0) and moved_from_gap(expr, zone, minute)
            )
        else:
            due = expr.matches_minute(local.replace(tzinfo=None))
        if due:
            found.update(minute + timedelta(seconds=s) for s in expr.seconds)
        minute += timedelta(minutes=1)
    return sorted(t for t in found if after < t <= end)


LONGEST_MONTH = {month: calendar.monthrange(2024, month)[1] for month in range(1, 13)}  # leap


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=expressions(), scenario=scenarios)
def test_fire_times_match_the_expression(expr: Expression, scenario: tuple[str, datetime]) -> None:
    zone_name, after = scenario
    try:
        schedule = parse_cron(expr.text, zone_name)
    except InvalidCron as error:
        # Only a day-of-month no selected month has (ANDed with the weekday) is rejected.
        assert error.field == "day-of-month"
        assert expr.days_and
        assert min(expr.days) > max(LONGEST_MONTH[m] for m in expr.months)
        return
    zone = ZoneInfo(zone_name)
    fires = schedule.next_times(after, 30)
    assert fires, "every accepted expression fires within 50 years"
    assert all(fire.tzinfo is UTC for fire in fires)
    assert fires[0] > after
    assert all(a < b for a, b in pairwise(fires))

    for fire in fires:
        local = fire.astimezone(zone)
        assert local.second in expr.seconds
        assert local.microsecond == 0
        minute = fire.replace(second=0)
        if expr.matches_minute(local.replace(tzinfo=None)):
            if expr.fixed_time:
                assert local.fold == 0, f"{fire} is the second pass of a repeated hour"
        else:
            # Only a fixed-time job moved out of a spring gap fires at a non-matching time.
            assert expr.fixed_time, f"{local} does not match {expr.text!r}"
            assert spring_gap_at(zone, minute) > timedelta(0), f"{local} is no transition"
            assert moved_from_gap(expr, zone, minute)

    # None missing: all the brute force finds up to the last fire (at most a day ahead).
    end = min(fires[-1], after + timedelta(days=1))
    assert [f for f in fires if f <= end] == expected_fires(expr, zone, after, end)


# --- 5. one-shot times and descriptions ---------------------------------------------------------

NOW = utc("2026-06-01T12:00")


@pytest.mark.parametrize(
    ("text", "zone", "at"),
    [
        # No offset: read in the job's zone (CET in December, CEST in July).
        ("2026-12-01T03:00", BERLIN, "2026-12-01T02:00"),
        ("2026-07-01 03:00", BERLIN, "2026-07-01T01:00"),
        ("2026-12-01T03:00", NEW_YORK, "2026-12-01T08:00"),
        ("2026-12-01T03:00", LORD_HOWE, "2026-11-30T16:00"),
        ("2026-12-01", "UTC", "2026-12-01T00:00"),
        # An explicit offset wins over the zone.
        ("2026-12-01T03:00+05:00", BERLIN, "2026-11-30T22:00"),
        ("2026-12-01T03:00Z", NEW_YORK, "2026-12-01T03:00"),
        ("  2026-06-01T12:00:01+00:00 ", "UTC", "2026-06-01T12:00:01"),
    ],
)
def test_parse_at(text: str, zone: str, at: str) -> None:
    shot = parse_at(text, zone, now=NOW)
    assert shot == OneShot(utc(at), zone)
    assert shot.at.tzinfo is UTC


@pytest.mark.parametrize(
    "text", ["2026-06-01T12:00Z", "2026-06-01T13:59+02:00", "2026-06-01T08:00", "2020-01-01"]
)
def test_parse_at_rejects_the_past(text: str) -> None:
    with pytest.raises(InvalidInput, match="in the past"):
        parse_at(text, NEW_YORK, now=NOW)


@pytest.mark.parametrize("text", ["tomorrow", "2026-13-01T00:00", "", "03:00"])
def test_parse_at_rejects_non_iso(text: str) -> None:
    with pytest.raises(InvalidInput, match="ISO 8601") as caught:
        parse_at(text, "UTC", now=NOW)
    assert "2026-12-01T03:00" in (caught.value.hint or "")


def test_parse_at_unknown_zone() -> None:
    with pytest.raises(InvalidInput, match="Mars/Olympus"):
        parse_at("2026-12-01T03:00", "Mars/Olympus", now=NOW)


def test_one_shot_fires_once() -> None:
    shot = OneShot(utc("2026-12-01T02:00"), BERLIN)
    assert shot.next_after(NOW) == utc("2026-12-01T02:00")
    assert shot.next_times(NOW, 5) == utcs("2026-12-01T02:00")
    assert shot.next_times(NOW, 0) == []
    assert shot.next_after(utc("2026-12-01T02:00")) is None
    assert shot.next_times(utc("2027-01-01T00:00"), 3) == []
    assert shot.describe() == "Once, at 2026-12-01 03:00:00 CET (Europe/Berlin)"


@pytest.mark.parametrize(
    ("expr", "zone", "text"),
    [
        ("0 9 * * 1-5", BERLIN, "At 09:00 on Monday through Friday (Europe/Berlin)"),
        ("*/15 * * * *", "UTC", "Every 15th minute of every hour (UTC)"),
        ("30 2 * * *", NEW_YORK, "At 02:30 every day (America/New_York)"),
        ("@hourly", "UTC", "At the start of every hour (UTC)"),
        ("@weekly", "UTC", "At 00:00 on Sunday (UTC)"),
        ("@monthly", "UTC", "At 00:00 on the first day of every month (UTC)"),
        ("@yearly", LORD_HOWE, "At 00:00 on January 1 (Australia/Lord_Howe)"),
        ("15 30 2 * * *", "UTC", "At 02:30:15 every day (UTC)"),
        ("*/10 * * * * *", "UTC", "Every 10th second of every minute (UTC)"),
    ],
)
def test_describe(expr: str, zone: str, text: str) -> None:
    assert parse_cron(expr, zone).describe() == text


def test_schedule_is_a_plain_value() -> None:
    assert parse_cron(" @DAILY ", BERLIN) == CronSchedule("0 0 * * *", BERLIN)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=expressions(), scenario=scenarios)
def test_the_previous_fire_time_agrees_with_the_next_ones(
    expr: Expression, scenario: tuple[str, datetime]
) -> None:
    """Catching up after a long gap asks for the last fire time before now: it must be one
    that `next_times` produces, with no fire time between it and now."""
    zone_name, when = scenario
    try:
        schedule = parse_cron(expr.text, zone_name)
    except InvalidCron:
        return
    previous = schedule.previous_at_or_before(when)
    if previous is None:
        return
    assert previous <= when
    following = schedule.next_after(previous)
    assert following is None or following > when
    assert schedule.next_after(previous - timedelta(microseconds=1)) == previous
