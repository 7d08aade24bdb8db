"""Reading the values the legacy tool stored: times (RFC 3339, naive, or epoch in any unit),
tags, token usage in its several shapes, ids and text of loosely typed columns, and cron
expressions in the dialect it accepted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..cron import normalize_cron
from ..errors import InvalidCron

# A legacy epoch at or above this many units is read as milliseconds (then µs, ns): 1e11 seconds
# is the year 5138, 1e11 milliseconds is March 1973.
_EPOCH_LIMIT = 1e11
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_legacy_time(value: Any, zone: ZoneInfo) -> datetime | None:
    """An instant from what the old tool stored: RFC 3339 text (with an offset or Z), naive
    text (read in `zone`), or epoch seconds (milliseconds and finer when implausibly large).
    None or blank → None; anything else raises ValueError naming the value."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, (int, float)):
        return _from_epoch(float(value), value)
    text = str(value).strip()
    if not text:
        return None
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return _from_epoch(float(text), value)
    if text.upper().endswith(" UTC"):
        text = text[:-4] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def _from_epoch(number: float, original: Any) -> datetime:
    if not math.isfinite(number):
        raise ValueError(f"{original!r} is not a time")
    while abs(number) >= _EPOCH_LIMIT:
        number /= 1000
    try:
        return _EPOCH + timedelta(seconds=number)
    except OverflowError:
        raise ValueError(f"{original!r} is not a time") from None


def parse_legacy_tags(value: Any) -> list[str]:
    """Tags stored as a JSON array or as comma-separated text; trimmed, deduplicated.
    A comma inside one JSON tag splits it (ours are stored comma-separated)."""
    if value is None:
        return []
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    items: list[Any] = [text]
    if text.strip().startswith("["):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError:
            loaded = None
        if isinstance(loaded, list):
            items = loaded
    tags: list[str] = []
    for item in items:
        if item is None:
            continue
        for part in str(item).split(","):
            tag = part.strip()
            if tag and tag not in tags:
                tags.append(tag)
    return tags


@dataclass(frozen=True)
class Tokens:
    input: int | None = None
    output: int | None = None
    cache_creation: int | None = None
    cache_read: int | None = None
    note: str = ""


_TOKEN_KEYS = {
    "input": ("input_tokens", "input", "prompt_tokens"),
    "output": ("output_tokens", "output", "completion_tokens"),
    "cache_creation": ("cache_creation_input_tokens", "cache_creation_tokens", "cache_creation"),
    "cache_read": ("cache_read_input_tokens", "cache_read_tokens", "cache_read"),
}
TOTAL_NOTE = "token_usage {} is a total with no split; stored as input tokens"


def parse_token_usage(value: Any) -> Tokens:
    """`token_usage`: a total (an int, or a number in text) or a JSON object of counts.
    A total has no input/output split; it is kept as input tokens, so totals add up."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return Tokens()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return Tokens(note=f"token_usage {value!r} not understood; not imported")
    if isinstance(value, dict) and isinstance(value.get("usage"), dict):
        value = value["usage"]
    total = _count(value)
    if total is not None:
        return Tokens(input=total, note=TOTAL_NOTE.format(total))
    if isinstance(value, dict):
        counts = {name: _first_count(value, keys) for name, keys in _TOKEN_KEYS.items()}
        if any(v is not None for v in counts.values()):
            return Tokens(input=counts["input"], output=counts["output"],
                          cache_creation=counts["cache_creation"],
                          cache_read=counts["cache_read"])
        for key in ("total_tokens", "total"):
            total = _count(value.get(key))
            if total is not None:
                return Tokens(input=total, note=TOTAL_NOTE.format(total))
    return Tokens(note=f"token_usage {json.dumps(value)[:80]} not understood; not imported")


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _first_count(data: Mapping[str, Any], keys: Iterable[str]) -> int | None:
    for key in keys:
        count = _count(data.get(key))
        if count is not None:
            return count
    return None


def prepare_cron(text: str) -> tuple[str, list[str]]:
    """The legacy cron in our dialect, with what was changed: a 7th (year) field of `*` is
    dropped and Quartz's `?` (no specific value) becomes `*`. Everything else is kept as is
    and left to our cron module to validate (6 fields are seconds first in both tools)."""
    parts = text.split()
    notes = []
    if len(parts) == 7 and parts[6] in ("*", "?"):
        parts = parts[:6]
        notes.append("the year field '*' was dropped")
    if len(parts) in (5, 6) and "?" in parts:
        parts = ["*" if p == "?" else p for p in parts]
        notes.append("'?' was read as '*'")
    return " ".join(parts), notes


def cron_matches(legacy: str | None, ours: str | None) -> bool:
    if legacy is None or ours is None:
        return legacy is None and ours is None
    if " ".join(legacy.split()) == ours:
        return True
    try:
        return normalize_cron(prepare_cron(legacy)[0]) == ours
    except InvalidCron:
        return False


def as_legacy_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
