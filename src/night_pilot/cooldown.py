"""Usage limits: recognizing that Claude refused a run because a plan limit was reached, when
the limit resets, and what that means for the runs that follow.

Detection is structured first (the CLI's rate_limit_event, an assistant `error: rate_limit`, a
result with `api_error_status: 429`), then the texts the CLI has printed over its history. Every
function takes `now` and the local zone; nothing here reads the clock or spends quota.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .claude_stream import StreamSummary

# When a limit is reported without a reset time we wait this long rather than probe for it.
UNKNOWN_RESET_WAIT = timedelta(hours=1)


@dataclass(frozen=True)
class UsageLimit:
    kind: str  # session (5-hour), weekly, weekly_opus, weekly_sonnet, extra_usage, org_spend, …
    reset_at: datetime | None  # UTC; None when no reset time could be read
    message: str
    source: str  # rate_limit_event | assistant_error | api_429 | text

    def wait_until(self, now: datetime) -> datetime:
        return self.reset_at if self.reset_at is not None else now + UNKNOWN_RESET_WAIT


_EVENT_KINDS = {
    "five_hour": "session",
    "seven_day": "weekly",
    "seven_day_opus": "weekly_opus",
    "seven_day_sonnet": "weekly_sonnet",
    "overage": "extra_usage",
}

NOT_A_USAGE_LIMIT = re.compile(r"not your usage limit", re.IGNORECASE)
_LIMIT_TEXT = re.compile(
    r"usage limit reached|limit reached|hit your (?:[\w-]+ )*limit|out of extra usage|"
    r"spend limit|usage limit",
    re.IGNORECASE,
)


def detect(summary: StreamSummary, now: datetime, local_zone: str) -> UsageLimit | None:
    """The usage limit a finished run hit, if any. A server-side 429 that is "not your usage
    limit" is not one: it is a transient failure to retry."""
    text = summary.result_text or summary.last_assistant_text or ""
    if NOT_A_USAGE_LIMIT.search(text):
        return None
    for info in summary.rate_limit_rejections:
        resets = info.get("resetsAt")
        reset_at = (datetime.fromtimestamp(resets, UTC)
                    if isinstance(resets, (int, float)) else None)
        kind = _EVENT_KINDS.get(str(info.get("rateLimitType")), str(info.get("rateLimitType")))
        if reset_at is None:
            reset_at = parse_reset(text, now, local_zone)
        return UsageLimit(kind or kind_from_text(text), reset_at, text or "usage limit reached",
                          "rate_limit_event")
    if "rate_limit" in summary.assistant_errors:
        return UsageLimit(kind_from_text(text), parse_reset(text, now, local_zone), text,
                          "assistant_error")
    if summary.api_error_status == 429 and _LIMIT_TEXT.search(text):
        return UsageLimit(kind_from_text(text), parse_reset(text, now, local_zone), text,
                          "api_429")
    if summary.is_error and _LIMIT_TEXT.search(text):
        return UsageLimit(kind_from_text(text), parse_reset(text, now, local_zone), text, "text")
    return None


def kind_from_text(text: str) -> str:
    t = text.lower()
    if "extra usage" in t:
        return "extra_usage"
    if "spend limit" in t or "organization" in t:
        return "org_spend"
    if "weekly" in t or "7-day" in t:
        if "opus" in t:
            return "weekly_opus"
        if "sonnet" in t:
            return "weekly_sonnet"
        return "weekly"
    if "opus limit" in t:
        return "weekly_opus"
    return "session"


_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_WEEKDAYS = {d: i for i, d in enumerate(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])}

_EPOCH = re.compile(r"\|\s*(\d{9,11})\b")
_RESET = re.compile(
    r"reset(?:s)?(?:\s+at)?\s+"
    r"(?:(?P<weekday>mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+(?:at\s+)?)?"
    r"(?:(?P<month>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+"
    r"(?P<day>\d{1,2})(?:st|nd|rd|th)?(?:,?\s*(?P<year>\d{4}))?,?\s+(?:at\s+)?)?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s*(?P<ampm>am|pm)?"
    r"(?:\s*\((?P<zone>[^)]+)\))?",
    re.IGNORECASE,
)


def parse_reset(text: str, now: datetime, local_zone: str) -> datetime | None:
    """When the limit named in `text` resets, in UTC.

    The time is read in the zone the text names (else `local_zone`). With no date and no
    weekday it is today's, rolled to tomorrow only if it is not in the future.
    """
    epoch = _EPOCH.search(text)
    if epoch:
        return datetime.fromtimestamp(int(epoch.group(1)), UTC)
    match = _RESET.search(text)
    if not match:
        return None
    zone = _zone(match.group("zone"), local_zone)
    hour = int(match.group("hour"))
    minute = int(match.group("minute") or 0)
    ampm = (match.group("ampm") or "").lower()
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    local_now = now.astimezone(zone)
    if match.group("month"):
        month = _MONTHS[match.group("month")[:3].lower()]
        day = int(match.group("day"))
        year = int(match.group("year") or local_now.year)
        try:
            candidate = _at(date(year, month, day), hour, minute, zone)
        except ValueError:
            return None
        # "resets Oct 31" read in November means next year's Oct 31: a reset lies ahead.
        if not match.group("year") and candidate < now - timedelta(days=1):
            candidate = _at(date(year + 1, month, day), hour, minute, zone)
        return candidate
    if match.group("weekday"):
        target = _WEEKDAYS[match.group("weekday")[:3].lower()]
        ahead = (target - local_now.weekday()) % 7
        candidate = _at(local_now.date() + timedelta(days=ahead), hour, minute, zone)
        if candidate <= now:
            candidate = _at(local_now.date() + timedelta(days=ahead + 7), hour, minute, zone)
        return candidate
    candidate = _at(local_now.date(), hour, minute, zone)
    if candidate <= now:
        candidate = _at(local_now.date() + timedelta(days=1), hour, minute, zone)
    return candidate


def _at(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    # A wall time that does not exist (spring gap) resolves forward, one that exists twice
    # (autumn) to its first occurrence: zoneinfo's fold=0 does both.
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    return local.astimezone(UTC)


def _zone(name: str | None, local_zone: str) -> ZoneInfo:
    if name:
        cleaned = name.strip()
        if cleaned.upper() in ("UTC", "GMT", "Z"):
            return ZoneInfo("UTC")
        try:
            return ZoneInfo(cleaned)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(local_zone)
