"""Durations (`90s`, `30m`, `2h`) and sizes (`64M`, `512K`) as job options spell them: parsing
them into seconds and bytes, and spelling a size back.
"""

from __future__ import annotations

import re

from ..errors import InvalidInput

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$", re.IGNORECASE)
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def format_duration(seconds: int) -> str:
    """A duration as an option spells it, in the largest unit it is a whole number of: 1800
    is `30m`, 5400 `90m`, 21600 `6h`, 45 `45s`."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_duration(text: str | int, option: str) -> int:
    """Seconds from `90`, `90s`, `30m`, `2h` or `1d`."""
    if isinstance(text, int):
        seconds = text
    else:
        match = _DURATION.match(text)
        if not match:
            raise InvalidInput(f"{option} {text!r} is not a duration (e.g. 90, 90s, 30m, 2h)")
        seconds = round(float(match.group(1)) * _UNITS[(match.group(2) or "").lower() or None])
    if seconds <= 0:
        raise InvalidInput(f"{option} must be longer than zero seconds")
    return seconds


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
# A run's stored output may be capped as low as this (the cap must leave room for a few lines).
MIN_OUTPUT_CAP = 1 << 10


def parse_size(text: str | int, option: str) -> int:
    """Bytes from `1048576`, `512K`, `64M`, `64MB`, `64MiB` or `1G` (powers of 1024)."""
    if isinstance(text, int):
        size = text
    else:
        match = _SIZE.match(text)
        if not match or (match.group(3) and match.group(3).lower() == "ib"
                         and not match.group(2)):
            raise InvalidInput(f"{option} {text!r} is not a size (e.g. 64M, 512K, 1G)")
        size = round(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    if size < MIN_OUTPUT_CAP:
        raise InvalidInput(f"{option} must be at least 1K")
    return size


def format_size(size: int) -> str:
    """Bytes as the shortest exact spelling `parse_size` reads back (64M, 1536K), else with
    one decimal (1.5G) when not exact."""
    for unit, factor in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= factor:
            whole, rest = divmod(size, factor)
            return f"{whole}{unit}" if not rest else f"{size / factor:.1f}{unit}"
    return f"{size}B"


def output_cap(text: str | None) -> int | None:
    return None if text is None or text == "" else parse_size(text, "--max-output")
