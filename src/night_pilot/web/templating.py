"""Jinja filters: times in the dashboard's zone, relative times, numbers, money, durations."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment

from .charts import money, short_number


def _parse(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def relative(value: Any, now: datetime | None = None) -> str:
    when = _parse(value)
    if when is None:
        return "-"
    now = now or datetime.now(UTC)
    seconds = int((when - now).total_seconds())
    ahead = seconds >= 0
    seconds = abs(seconds)
    if seconds < 60:
        text = f"{seconds}s"
    elif seconds < 3600:
        text = f"{seconds // 60}m"
    elif seconds < 86400:
        text = f"{seconds // 3600}h {seconds % 3600 // 60}m"
    else:
        text = f"{seconds // 86400}d {seconds % 86400 // 3600}h"
    return f"in {text}" if ahead else f"{text} ago"


def install_filters(env: Environment, zone: ZoneInfo) -> None:
    def local(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        when = _parse(value)
        return when.astimezone(zone).strftime(fmt) if when else "-"

    def in_zone(value: Any, name: str | None, fmt: str = "%Y-%m-%d %H:%M:%S %Z") -> str:
        when = _parse(value)
        if when is None:
            return "-"
        try:
            return when.astimezone(ZoneInfo(name or str(zone))).strftime(fmt)
        except (ValueError, KeyError):
            return when.astimezone(zone).strftime(fmt)

    def number(value: Any) -> str:
        return "-" if value is None else f"{int(value):,}"

    def usd(value: Any) -> str:
        return "-" if value is None else money(float(value))

    def ms(value: Any) -> str:
        if value is None:
            return "-"
        seconds = float(value) / 1000
        if seconds < 60:
            return f"{seconds:.1f}s"
        return f"{int(seconds // 60)}m {int(seconds % 60)}s"

    def seconds(value: Any) -> str:
        if value is None:
            return "-"
        s = int(value)
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if s >= size and s % size == 0:
                return f"{s // size}{unit}"
        return f"{s}s"

    def compact_json(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, default=str)

    env.filters.update(compact_json=compact_json, local=local, in_zone=in_zone,
                       relative=relative, number=number, usd=usd, ms=ms, short=short_number,
                       seconds=seconds)
    env.globals["zone_name"] = str(zone)
