"""When a job fires: cron expressions, one-shot times and time zones.

Owns parsing, validation (with the offending field and the reason named), the next fire times
after a given instant, and a plain-English description. `cronsim` does the calendar arithmetic,
including Debian cron's DST rules; this module never reads the clock.
"""

from __future__ import annotations

import functools
import heapq
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from .errors import InvalidCron, InvalidInput

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# (name, lowest, highest, symbolic names) for each field of the 6-field, seconds-first form.
_FIELDS: list[tuple[str, int, int, tuple[str, ...]]] = [
    ("second", 0, 59, ()),
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12,
     ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day-of-week", 0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
]
_DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


@dataclass(frozen=True)
class CronSchedule:
    """A validated cron expression (normalized) evaluated in an IANA time zone."""

    expr: str
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after `after` (UTC), or None if there is none."""
        times = self.next_times(after, 1)
        return times[0] if times else None

    def next_times(self, after: datetime, count: int) -> list[datetime]:
        """Up to `count` fire times strictly after `after`, in UTC, strictly increasing."""
        if after.tzinfo is None:
            raise ValueError("after must be timezone-aware")
        result: list[datetime] = []
        if count <= 0:
            return result
        last = after
        try:
            for local in self._local_fires(after):
                fire = local.astimezone(UTC)
                # Fixed-time jobs are evaluated on the local wall clock; starting inside a
                # repeated autumn hour that can hand back an instant we have already passed.
                if fire <= last:
                    continue
                result.append(fire)
                last = fire
                if len(result) >= count:
                    break
        except OverflowError:  # past the end of the calendar (year 9999): nothing later
            pass
        return result

    def _local_fires(self, after: datetime) -> Iterator[datetime]:
        parts = self.expr.split(" ")
        zone = self.zone
        if parts[-4].startswith("*") or parts[-5].startswith("*"):
            # Wildcard minute or hour: fire at every real instant whose local time matches,
            # so both passes of a repeated hour fire and a skipped hour does not.
            yield from _elapsed_fires(self.expr, zone, after)
            return
        local_after = after.astimezone(zone)
        if len(parts) == 5:
            # Fixed time: cronsim applies Debian cron's DST rules (once in the repeated
            # hour, at the transition when the time falls in the spring gap).
            yield from _cronsim_iter(self.expr, local_after)
            return
        # A fixed-time 6-field job: cronsim applies those rules to 5-field expressions only,
        # so find the minutes with the 5-field form and add the seconds field to each.
        # A minute moved to a spring transition that happened less than a minute before
        # `after` still has seconds to come; start the search before the gap to find it.
        gap = _utcoffset(zone, after) - _utcoffset(zone, after - timedelta(minutes=1))
        start = local_after.replace(second=0, microsecond=0) - timedelta(seconds=1)
        if gap > timedelta(0):
            start -= gap
        seconds = _seconds_of(parts[0])
        for minute in _cronsim_iter(" ".join(parts[1:]), start):
            for sec in seconds:
                yield minute + timedelta(seconds=sec)

    def previous_at_or_before(self, when: datetime) -> datetime | None:
        """The last fire time not after `when` (for catching up after a long gap).

        cronsim's reverse walk finds the neighbourhood; the answer itself comes from the same
        forward evaluation as `next_times`, so both agree about DST days.
        """
        sim = CronSim(self.expr, (when + timedelta(seconds=1)).astimezone(self.zone),
                      reverse=True)
        approx = next(_drain(sim), None)
        if approx is None:
            return None
        # The answer is the last forward fire time in a window that ends at `when` and
        # starts a little before `approx`; the window widens until it holds one, far enough
        # to cover a DST shift between the reverse and forward views.
        floor = min(approx.astimezone(UTC), when)
        margin = timedelta(seconds=1)
        while True:
            last = self._last_fire_between(floor - margin, when)
            if last is not None or margin >= _PREVIOUS_REACH:
                return last
            margin = min(margin * 16, _PREVIOUS_REACH)

    def _last_fire_between(self, start: datetime, end: datetime) -> datetime | None:
        """The last fire time after `start` and not after `end`, or None."""
        last = None
        while True:
            batch = self.next_times(start, 64)
            for fire in batch:
                if fire > end:
                    return last
                last = fire
            if len(batch) < 64:
                return last
            start = batch[-1]

    def describe(self) -> str:
        text = CronSim(self.expr, datetime(2000, 1, 1, tzinfo=UTC)).explain()
        return f"{text} ({self.timezone})"


@dataclass(frozen=True)
class OneShot:
    """A job that fires once, at `at` (UTC)."""

    at: datetime
    timezone: str

    def next_after(self, after: datetime) -> datetime | None:
        return self.at if self.at > after else None

    def previous_at_or_before(self, when: datetime) -> datetime | None:
        return self.at if self.at <= when else None

    def next_times(self, after: datetime, count: int) -> list[datetime]:
        nxt = self.next_after(after)
        return [nxt] if nxt is not None and count > 0 else []

    def describe(self) -> str:
        local = self.at.astimezone(ZoneInfo(self.timezone))
        return f"Once, at {local.strftime('%Y-%m-%d %H:%M:%S %Z')} ({self.timezone})"


# How far before cronsim's reverse answer the forward search for a previous fire time looks.
_PREVIOUS_REACH = timedelta(hours=3)

# What a spare-capacity job stores as its schedule expression.
SPARE_EXPR = "@spare"


@dataclass(frozen=True)
class WhenSpare:
    """A job with no fire time of its own: it runs on spare capacity, when the five-hour window
    resets within `lead_s` (the daemon decides, from the windows it knows: scheduler.py)."""

    expr = SPARE_EXPR

    lead_s: int
    timezone: str

    def next_after(self, after: datetime) -> datetime | None:
        return None

    def previous_at_or_before(self, when: datetime) -> datetime | None:
        return None

    def next_times(self, after: datetime, count: int) -> list[datetime]:
        return []

    def describe(self) -> str:
        return (f"On spare capacity: within {_minutes(self.lead_s)} before the five-hour "
                "window resets, while it is below the job's ceiling")


def _minutes(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


Schedule = CronSchedule | OneShot | WhenSpare


def _cronsim_iter(expr: str, start: datetime) -> Iterator[datetime]:
    return _drain(CronSim(expr, start))


def _drain(sim: CronSim) -> Iterator[datetime]:
    while True:
        try:
            yield next(sim)
        except StopIteration:  # cronsim gives up after 50 years without a match
            return


def _utcoffset(zone: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta(0)


def _elapsed_fires(expr: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Every instant after `after` whose wall-clock time in `zone` matches, in time order.

    cronsim walks the (naive) wall clock; each matching wall time is then mapped to the real
    instants that show it: none in a spring gap, two in a repeated autumn hour. (cronsim's own
    zone-aware stepping moves whole hours in UTC, which skips matches in zones that shift by
    30 minutes and fires at the shifted hour when a gap starts at midnight.)
    """
    local_after = after.astimezone(zone)
    # A repeated hour ahead means later instants can show earlier wall times.
    rewind = _utcoffset(zone, after) - _utcoffset(zone, after + timedelta(days=1))
    start = local_after.replace(tzinfo=None, microsecond=0) - max(rewind, timedelta(0))
    pending: list[datetime] = []
    for wall in _cronsim_iter(expr, start - timedelta(seconds=1)):
        first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
        for instant in sorted({first, second}):
            if instant > after and instant.astimezone(zone).replace(tzinfo=None) == wall:
                heapq.heappush(pending, instant)
        # No later wall time maps to an instant before this one.
        bound = min(first, second)
        while pending and pending[0] <= bound:
            yield heapq.heappop(pending)
    while pending:
        yield heapq.heappop(pending)


@functools.lru_cache(maxsize=256)
def _seconds_of(field: str) -> tuple[int, ...]:
    """The seconds a seconds field selects, in order (cached: every fire time of a 6-field
    job asks again)."""
    base = datetime(2000, 1, 1, tzinfo=UTC)
    found = []
    for fire in _cronsim_iter(f"{field} * * * * *", base - timedelta(seconds=1)):
        if fire.minute != 0:
            break
        found.append(fire.second)
    return tuple(found)


def system_timezone(env: dict[str, str] | None = None) -> str:
    """The IANA name of the machine's zone: `$TZ`, else /etc/localtime's target, else UTC."""
    env = dict(os.environ) if env is None else env
    tz = env.get("TZ", "").lstrip(":")
    if tz and _is_zone(tz):
        return tz
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:
        target = ""
    marker = "zoneinfo/"
    if marker in target:
        name = target.split(marker, 1)[1]
        if _is_zone(name):
            return name
    try:
        name = Path("/etc/timezone").read_text().strip()
        if _is_zone(name):
            return name
    except OSError:
        pass
    return "UTC"


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def validate_timezone(name: str | None) -> str:
    """An IANA zone name, checked; None means the system's zone."""
    if name is None:
        return system_timezone()
    if not name or not _is_zone(name):
        raise InvalidInput(
            f"unknown time zone {name!r}",
            hint="use an IANA name such as Europe/Berlin, America/New_York or UTC",
        )
    return name


def parse_cron(expr: str, timezone: str | None = None) -> CronSchedule:
    """Validate and normalize `expr`; raise InvalidCron naming the field and the reason."""
    zone = validate_timezone(timezone)
    normalized = normalize_cron(expr)
    return CronSchedule(normalized, zone)


@functools.lru_cache(maxsize=1024)
def normalize_cron(expr: str) -> str:
    """The expression in canonical form, or InvalidCron (cached: the daemon parses each due
    job's expression on every fire, and many jobs share one)."""
    text = " ".join(expr.split())
    if not text:
        raise InvalidCron("the cron expression is empty")
    if text.startswith("@"):
        macro = MACROS.get(text.lower())
        if macro is None:
            raise InvalidCron(
                f"unknown cron macro {text!r}",
                hint="known macros: " + ", ".join(sorted(set(MACROS))),
            )
        return macro
    parts = text.upper().split(" ")
    if len(parts) not in (5, 6):
        raise InvalidCron(
            f"a cron expression has 5 fields (min hour dom mon dow) or 6 with seconds first "
            f"(sec min hour dom mon dow); {text!r} has {len(parts)}"
        )
    fields = _FIELDS if len(parts) == 6 else _FIELDS[1:]
    for part, spec in zip(parts, fields, strict=True):
        reason = _field_problem(part, spec)
        if reason is not None:
            raise InvalidCron(
                f"{spec[0]} field {part!r}: {reason}",
                field=spec[0],
                hint=_seconds_last_hint(parts) if len(parts) == 6 else None,
            )
    parts = [_collapse_one_value_ranges(p, s) for p, s in zip(parts, fields, strict=True)]
    _check_day_exists(parts[-3], parts[-2], parts[-1])
    normalized = " ".join(parts)
    try:
        CronSim(normalized, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:  # our checks should have caught it; keep cronsim's word final
        raise InvalidCron(f"invalid cron expression {text!r}: {exc}") from exc
    return normalized


def _field_problem(part: str, spec: tuple[str, int, int, tuple[str, ...]]) -> str | None:
    name, low, high, names = spec
    for item in part.split(","):
        if not item:
            return "empty list item"
        body, slash, step = item.partition("/")
        if slash:
            if not _is_number(step) or int(step) == 0:
                return f"step {step!r} must be a positive whole number"
            if int(step) > high - low + 1 and body in ("*", ""):
                return f"step {step} is larger than the field's range {low}-{high}"
        if body == "*":
            continue
        if name == "day-of-month" and body in ("L", "LW"):
            continue
        if name == "day-of-week" and re.fullmatch(r"([0-7]|[A-Z]{3})#[1-5]|[0-7]L", body):
            body = body.split("#")[0].removesuffix("L")
        start, dash, end = body.partition("-")
        bounds = [start, end] if dash else [start]
        values = []
        for token in bounds:
            value = _field_value(token, low, high, names)
            if isinstance(value, str):
                return value
            values.append(value)
        if dash and values[0] > values[1]:
            return f"range {body!r} runs backwards"
    return None


def _collapse_one_value_ranges(part: str, spec: tuple[str, int, int, tuple[str, ...]]) -> str:
    """Rewrite a stepped one-value range such as `5-5/2` as `5`.

    cronsim reads any stepped term with a single value as `start/step`, i.e. up to the
    field's maximum (`5-5/2` would select 5 and 7); in cron the range bounds the values.
    """
    _, low, high, names = spec
    items = []
    for item in part.split(","):
        body, slash, _ = item.partition("/")
        start, dash, end = body.partition("-")
        if slash and dash and _field_value(start, low, high, names) == _field_value(
            end, low, high, names
        ):
            item = start
        items.append(item)
    return ",".join(items)


def _field_value(token: str, low: int, high: int, names: tuple[str, ...]) -> int | str:
    if token in names:
        return names.index(token) + (1 if len(names) == 12 else 0)
    if not _is_number(token):
        allowed = f"{low}-{high}" + (f" or a name ({names[0]}, {names[1]}, …)" if names else "")
        return f"{token!r} is not a number ({allowed})"
    value = int(token)
    if not low <= value <= high:
        return f"{value} is out of range {low}-{high}"
    return value


def _is_number(token: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts '²', which int() and cronsim reject."""
    return token.isascii() and token.isdigit()


def _check_day_exists(dom: str, month: str, dow: str) -> None:
    # Debian cron ANDs day-of-month with day-of-week only when one of them starts with "*";
    # then a day-of-month no listed month has can never fire.
    if not (dom.startswith("*") or dow.startswith("*")) or dom.startswith("*"):
        return
    days = [int(v) for v in re.findall(r"[0-9]+", dom.split("/")[0])]
    if not days:
        return
    months = _expand_months(month)
    if min(days) > max(_DAYS_IN_MONTH[m - 1] for m in months):
        raise InvalidCron(
            f"day-of-month field {dom!r}: no month in {month!r} has day {min(days)}",
            field="day-of-month",
        )


def _expand_months(month: str) -> list[int]:
    names = _FIELDS[4][3]
    result: set[int] = set()
    for item in month.split(","):
        body, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            lo, hi = 1, 12
        else:
            start, dash, end = body.partition("-")
            lo = names.index(start) + 1 if start in names else int(start)
            hi = (names.index(end) + 1 if end in names else int(end)) if dash else (
                12 if step_text else lo
            )
        result.update(range(lo, hi + 1, step))
    return sorted(result)


def _seconds_last_hint(parts: list[str]) -> str | None:
    rotated = [parts[-1], *parts[:-1]]
    fields = _FIELDS
    if all(_field_problem(p, s) is None for p, s in zip(rotated, fields, strict=True)):
        return (
            "6-field expressions are read seconds first (sec min hour dom mon dow); "
            f"if the last field was meant as seconds, write {' '.join(rotated)!r}"
        )
    return None


def parse_at(text: str, timezone: str | None, *, now: datetime) -> OneShot:
    """A one-shot time: ISO 8601; a time without an offset is read in `timezone`."""
    zone_name = validate_timezone(timezone)
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(
            f"--at {text!r} is not an ISO 8601 date-time",
            hint="for example 2026-12-01T03:00 or '2026-12-01 03:00+01:00'",
        ) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone_name))
    at = value.astimezone(UTC)
    if at <= now:
        raise InvalidInput(f"--at {text!r} is in the past (now is {now.isoformat()})")
    return OneShot(at, zone_name)
