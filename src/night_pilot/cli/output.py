"""How the CLI speaks: one JSON document on stdout, or a readable rendering; errors on stderr.

Also the JSON shapes of the domain objects, shared by every command that prints them.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

import click

from ..errors import CnpError
from ..shapes import (
    iso as iso,
    job_dict as job_dict,
    prompt_dict as prompt_dict,
    run_dict as run_dict,
)
from .app import echo


def local_time(value: datetime | str | None, zone: str) -> str:
    """An instant (or its ISO 8601 text) as the wall-clock time in `zone`."""
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(_zone(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def when(value: datetime | str | None, zone: str | None, now: datetime) -> str:
    """An instant as every listing shows it: the wall-clock time in `zone` (default: the
    user's), with the zone, and how far from `now` ("in 13h", "2h ago")."""
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return f"{local_time(value, zone or user_zone())} ({relative(value - now)})"


def relative(delta: timedelta) -> str:
    """A time difference in its largest whole unit: "in 13h", "2h ago", "now"."""
    seconds = int(delta.total_seconds())
    size = abs(seconds)
    if size < 1:
        return "now"
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if size >= span * (2 if unit != "s" else 1):
            text = f"{size // span}{unit}"
            break
    return f"in {text}" if seconds > 0 else f"{text} ago"


@functools.cache
def user_zone() -> str:
    """The user's zone: `$TZ`, else the machine's."""
    from ..cron import system_timezone

    return system_timezone()


@functools.cache
def _zone(name: str) -> tzinfo:
    # ZoneInfo keeps only the last 8 zones alive; a listing that cycles through more would
    # read and parse a zone file for almost every row.
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def emit(fmt: str, data: Any, pretty: Callable[[], None] | None = None) -> None:
    """Print `data` as one JSON document, or call `pretty` to render it for people."""
    if fmt == "json" or pretty is None:
        # Indented for a person at a terminal; compact (and several times faster to encode)
        # when another program reads it.
        indent = 2 if sys.stdout.isatty() else None
        echo(json.dumps(data, indent=indent, ensure_ascii=False, default=str))
    else:
        pretty()


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, wide: bool = False,
          last_width: int = 48) -> None:
    """A plain aligned table; cells are cut to keep one row per line (not with `wide`). The
    last column may be `last_width` wide and is cut in the middle, keeping a time it names."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    limits = [48] * (len(headers) - 1) + [last_width]
    for row in cells:
        for i, v in enumerate(row):
            widths[i] = max(widths[i], len(v)) if wide else min(max(widths[i], len(v)), limits[i])
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    last = len(headers) - 1
    for row in cells:
        parts = [(_fit_middle(v, w) if i == last else _fit(v, w)).ljust(w)
                 for i, (v, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
    if not rows:
        lines.append("(none)")
    echo("\n".join(lines))  # one write (and flush), not one per row


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        echo(f"{key.ljust(width)}  {_cell(value)}")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "-"
    return str(value).replace("\n", " ")


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


_TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?::\d\d)?(?: [A-Z][A-Za-z0-9+\-]{1,5})?")


def _fit_middle(text: str, width: int) -> str:
    """Cut the middle out: the start and the end stay, and so does the first time named
    (a reset time) if it fits."""
    if len(text) <= width:
        return text
    head = max(1, width * 2 // 3)
    found = _TIME.search(text)
    if found is not None and head < found.end() <= width - 8:
        head = found.end()
    tail = width - head - 1
    return text[:head] + "…" + (text[-tail:] if tail > 0 else "")


def report_error(exc: CnpError | click.ClickException, fmt: str) -> int:
    """Say what went wrong on stderr (one JSON document if `fmt` is json); the exit code.
    A command-line mistake is of kind "usage", exit 2, with the command's usage line first."""
    if isinstance(exc, CnpError):
        code, data = exc.exit_code, exc.to_dict()
    else:
        code, data = exc.exit_code, {"error": "usage", "message": exc.format_message()}
    if fmt == "json":
        echo(json.dumps(data, ensure_ascii=False), err=True)
    else:
        if isinstance(exc, click.UsageError) and exc.ctx is not None:  # how to use the command
            echo(exc.ctx.get_usage(), err=True)
        echo(f"Error: {data['message']}", err=True)
        for cause in data.get("cause", []):  # type: ignore[attr-defined]
            echo(f"  caused by: {cause}", err=True)
        if data.get("hint"):
            echo(f"Hint: {data['hint']}", err=True)
    return code


def requested_format(argv: Sequence[str]) -> str:
    """The --format asked for, read from argv so that parse errors can honour it too."""
    for i, arg in enumerate(argv):
        if arg == "--format" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--format="):
            return arg.split("=", 1)[1]
    return "pretty"


def stdin_text() -> bytes:
    return sys.stdin.buffer.read()
