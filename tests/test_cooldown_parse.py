"""Reading usage-limit messages: every text form the CLI has printed, the zone rules, rollover
at midnight, dates, weekdays, DST days, and the 429 that is not a usage limit."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from night_pilot.claude_stream import StreamSummary
from night_pilot.cooldown import detect, kind_from_text, parse_reset

REFERENCE = Path(__file__).resolve().parent / "data" / "claude-cli-2.1.328"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "now", "local", "expected"),
    [
        # The epoch sentinel of the oldest CLIs.
        ("Claude AI usage limit reached|1754298000", utc(2025, 8, 4, 5), "UTC",
         utc(2025, 8, 4, 9)),
        # "reset at 12am", no zone: local time; midnight is tomorrow's.
        ("Claude Max usage limit reached. Your limit will reset at 12am", utc(2026, 11, 28, 15),
         "Europe/Berlin", utc(2026, 11, 28, 23)),
        # "∙ resets 3am" read in the local zone, still ahead today.
        ("5-hour limit reached ∙ resets 3am", utc(2026, 11, 28, 0, 30), "America/New_York",
         utc(2026, 11, 28, 8)),
        # Midnight rollover: seen at 23:00, "resets 2:30am" means tomorrow.
        ("You've hit your 5-hour limit · resets 2:30am", utc(2026, 11, 28, 23), "UTC",
         utc(2026, 11, 29, 2, 30)),
        # A named zone different from the local one wins.
        ("You've hit your 5-hour limit · resets 4:24am (UTC)", utc(2026, 11, 28, 1),
         "Asia/Tokyo", utc(2026, 11, 28, 4, 24)),
        ("You've hit your limit · resets 4pm (Asia/Kuala_Lumpur)", utc(2026, 11, 28, 1),
         "Europe/Berlin", utc(2026, 11, 28, 8)),
        # The time is not in the future: roll to the next day in the named zone.
        ("You've hit your limit · resets 4pm (Asia/Kuala_Lumpur)", utc(2026, 11, 28, 9),
         "UTC", utc(2026, 11, 29, 8)),
        # Dates, with and without "at"; a date already passed this year is next year's.
        ("Opus weekly limit reached ∙ resets Oct 31, 9am", utc(2026, 10, 28, 12), "UTC",
         utc(2026, 10, 31, 9)),
        ("Opus weekly limit reached ∙ resets Oct 31, 9am", utc(2026, 11, 28, 12), "UTC",
         utc(2027, 10, 31, 9)),
        ("resets Apr 23 at 4pm (America/Recife)", utc(2026, 4, 20), "UTC", utc(2026, 4, 23, 19)),
        ("You've hit your weekly limit · resets Sep 21, 10am (Europe/Berlin)",
         utc(2026, 9, 17), "UTC", utc(2026, 9, 21, 8)),
        ("You've hit your session limit · resets 11:59pm (America/Los_Angeles)",
         utc(2026, 11, 28, 12), "UTC", utc(2026, 11, 29, 7, 59)),
        ("You're out of extra usage · resets Dec 1, 12am (UTC)", utc(2026, 11, 28), "Asia/Tokyo",
         utc(2026, 12, 1)),
        # Weekdays: the next such day (today if the time is still ahead).
        ("You've hit your weekly limit · resets Mon 9am (UTC)", utc(2026, 11, 28, 12), "UTC",
         utc(2026, 11, 30, 9)),
        ("You've hit your weekly limit · resets Saturday 9pm (UTC)", utc(2026, 11, 28, 12),
         "UTC", utc(2026, 11, 28, 21)),
        # DST days: 2:30 does not exist in Berlin on 2026-03-29 (read before the jump), and
        # exists twice on 2026-10-25 (the first one).
        ("resets 2:30am (Europe/Berlin)", utc(2026, 3, 28, 23, 30), "UTC", utc(2026, 3, 29, 1, 30)),
        ("resets 2:30am (Europe/Berlin)", utc(2026, 10, 24, 23), "UTC", utc(2026, 10, 25, 0, 30)),
        # 24-hour clock.
        ("Your limit will reset at 16:00 (Europe/Berlin)", utc(2026, 7, 1, 9), "UTC",
         utc(2026, 7, 1, 14)),
    ],
)
def test_reset_times(text: str, now: datetime, local: str, expected: datetime) -> None:
    assert parse_reset(text, now, local) == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("You've hit your 5-hour limit · resets 4:24am (UTC)", "session"),
        ("You've hit your session limit · resets 3pm", "session"),
        ("You've hit your weekly limit · resets Sep 21, 10am", "weekly"),
        ("Opus weekly limit reached ∙ resets Oct 31, 9am", "weekly_opus"),
        ("You've hit your Opus limit · resets Mon 9am", "weekly_opus"),
        ("You're out of extra usage · resets Dec 1", "extra_usage"),
        ("Your organization has reached its monthly spend limit", "org_spend"),
    ],
)
def test_kinds(text: str, kind: str) -> None:
    assert kind_from_text(text) == kind


def test_no_time_in_the_text() -> None:
    assert parse_reset("usage limit reached", utc(2026, 1, 1), "UTC") is None


def summary_of(lines: list[dict[str, object]]) -> StreamSummary:
    s = StreamSummary()
    for line in lines:
        s.feed(json.dumps(line))
    return s


def test_detects_the_reference_stream_of_the_real_cli() -> None:
    lines = [json.loads(line) for line in
             (REFERENCE / "usage-limit-5h.jsonl").read_text().splitlines()]
    limit = detect(summary_of(lines), utc(2026, 11, 28, 4, 31), "UTC")
    assert limit is not None
    assert (limit.kind, limit.source) == ("session", "rate_limit_event")
    assert limit.reset_at == datetime.fromtimestamp(1795843899, UTC)


def test_a_server_side_429_is_not_a_usage_limit() -> None:
    result = {"type": "result", "subtype": "success", "is_error": True, "api_error_status": 429,
              "result": "API Error: Server is temporarily limiting requests (not your usage "
                        "limit) · Rate limited"}
    s = summary_of([result])
    assert detect(s, utc(2026, 1, 1), "UTC") is None
    assert s.transient


def test_text_only_detection_with_a_429() -> None:
    result = {"type": "result", "subtype": "success", "is_error": True, "api_error_status": 429,
              "result": "Claude AI usage limit reached|1795843899"}
    limit = detect(summary_of([result]), utc(2026, 11, 28), "UTC")
    assert limit is not None and limit.source == "api_429"
    assert limit.reset_at == datetime.fromtimestamp(1795843899, UTC)


def test_an_assistant_rate_limit_error_without_an_event() -> None:
    lines = [
        {"type": "assistant", "error": "rate_limit", "message": {"content": [
            {"type": "text", "text": "You've hit your limit · resets 4pm (UTC)"}]}},
        {"type": "result", "is_error": True, "result": "You've hit your limit · resets 4pm (UTC)"},
    ]
    limit = detect(summary_of(lines), utc(2026, 11, 28, 10), "Asia/Tokyo")
    assert limit is not None and limit.source == "assistant_error"
    assert limit.reset_at == utc(2026, 11, 28, 16)


def test_a_successful_run_has_no_limit() -> None:
    lines = [json.loads(line) for line in
             (REFERENCE / "text-answer.jsonl").read_text().splitlines()]
    assert detect(summary_of(lines), utc(2026, 11, 28), "UTC") is None
