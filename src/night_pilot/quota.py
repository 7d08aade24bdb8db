"""The subscription windows: how full the five-hour and seven-day windows of a Claude plan are,
as the CLI's `rate_limit_event` reported them, and what the scheduler does because of it.

A figure is about one window: once that window's reset has passed it says nothing more (the
window started again, empty as far as we know). A job's ceiling (percent of a window) holds
its runs back while the last known utilization is at or above it; a spare-capacity job runs
only in the lead time before the five-hour window resets, while it is below its ceiling.
Every function takes `now`; nothing here reads the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

FIVE_HOUR = "five_hour"
SEVEN_DAY = "seven_day"
WINDOWS = (FIVE_HOUR, SEVEN_DAY)
LABELS = {FIVE_HOUR: "five-hour", SEVEN_DAY: "seven-day"}
# Every reason of a run held back by a ceiling says this (the dashboard marks such runs).
CEILING_MARK = "quota ceiling"
# A spare-capacity job may start this long before the five-hour reset unless it says.
DEFAULT_SPARE_WINDOW = timedelta(minutes=45)
# The ceiling of a spare-capacity job without one of its own or the daemon's: any headroom.
SPARE_DEFAULT_CEILING = 100.0


@dataclass(frozen=True)
class Window:
    """The last known figures of one window."""

    name: str
    utilization: float | None  # 0-1
    resets_at: datetime | None
    seen_at: datetime
    status: str | None = None

    def current(self, now: datetime) -> bool:
        """Whether the figure is still about the window in force (its reset is ahead)."""
        return self.resets_at is None or self.resets_at > now

    def percent(self) -> str:
        return "unknown" if self.utilization is None else f"{self.utilization * 100:.0f}%"

    def to_dict(self) -> dict[str, Any]:
        return {"utilization": self.utilization, "resets_at": _iso(self.resets_at),
                "seen_at": _iso(self.seen_at)}


def windows_of(reported: Mapping[str, Mapping[str, float | None]], seen_at: datetime,
               status: str | None = None) -> list[Window]:
    """The windows a run's stream reported (`StreamSummary.rate_limit_windows`), known ones
    first, as seen at `seen_at`."""
    found = []
    for name in sorted(reported, key=lambda n: (n not in WINDOWS, n)):
        figures = reported[name]
        resets = figures.get("resets_at")
        found.append(Window(
            name, figures.get("utilization"),
            datetime.fromtimestamp(resets, UTC) if resets is not None else None,
            seen_at, status))
    return found


def account_of(env: Mapping[str, str]) -> str:
    """The account a process with this environment runs Claude as: its credential source
    (`health.credential_source`: an environment variable's name, or the login's file), never
    the credential itself."""
    from .health import credential_source

    home = Path(env.get("CLAUDE_CONFIG_DIR") or Path(env.get("HOME", "~")) / ".claude")
    return credential_source(env, home.expanduser()) or "unknown"


@dataclass(frozen=True)
class Ceilings:
    """Percent of each window at which runs are held back (None: no ceiling)."""

    five_hour: float | None = None
    seven_day: float | None = None
    own: frozenset[str] = frozenset()  # the windows whose ceiling is the job's own

    def over(self, job_five: float | None, job_seven: float | None) -> Ceilings:
        """A job's own ceilings, else these defaults."""
        own = frozenset(n for n, v in ((FIVE_HOUR, job_five), (SEVEN_DAY, job_seven))
                        if v is not None)
        return Ceilings(job_five if job_five is not None else self.five_hour,
                        job_seven if job_seven is not None else self.seven_day, own)

    def whose(self, window: str) -> str:
        return "job's" if window in self.own else "daemon's"

    def of(self, window: str) -> float | None:
        return self.five_hour if window == FIVE_HOUR else self.seven_day


@dataclass(frozen=True)
class Hold:
    """A run held back by a ceiling: the window over it, and until when."""

    window: Window
    ceiling: float
    until: datetime
    reason: str


def hold(windows: Mapping[str, Window], ceilings: Ceilings, now: datetime, *,
         margin: timedelta = timedelta(0)) -> Hold | None:
    """Whether a run under these ceilings may start now: None, or the hold until the later
    reset (plus `margin`, as after a usage limit) of the windows at or above their ceiling."""
    found: Hold | None = None
    for name in WINDOWS:
        ceiling = ceilings.of(name)
        window = windows.get(name)
        if ceiling is None or window is None or window.utilization is None:
            continue
        if window.resets_at is None or not window.current(now):
            continue
        if window.utilization * 100 < ceiling - 1e-9:
            continue
        until = window.resets_at + margin
        if found is None or until > found.until:
            found = Hold(window, ceiling, until, (
                f"deferred: the {LABELS[name]} window is at {window.percent()}, at or above "
                f"the {ceilings.whose(name)} {LABELS[name]} {CEILING_MARK} of {ceiling:g}%, "
                f"until it resets at {window.resets_at:%Y-%m-%d %H:%M:%S} UTC"))
    return found


def spare_opening(windows: Mapping[str, Window], ceiling: float, lead: timedelta,
                  now: datetime) -> Window | None:
    """The five-hour window, if a spare-capacity job may start now: it resets within `lead`
    and its utilization is below `ceiling` (capacity that would expire unused)."""
    window = windows.get(FIVE_HOUR)
    if window is None or window.utilization is None or window.resets_at is None:
        return None
    if not now < window.resets_at <= now + lead:
        return None
    if window.utilization * 100 >= ceiling - 1e-9:
        return None
    return window


def basis(window: Window, ceiling: float, now: datetime) -> dict[str, Any]:
    """What a spare-capacity run records about the window that let it start."""
    assert window.resets_at is not None
    return {"window": window.name, "utilization": window.utilization,
            "resets_at": _iso(window.resets_at), "seen_at": _iso(window.seen_at),
            "ceiling": ceiling, "decided_at": _iso(now)}


def parse_percent(text: str | float | None, option: str) -> float | None:
    """A ceiling as given (`80`, `80%`, `0.8` is read as 0.8 %): a percent from 0 to 100."""
    from .errors import InvalidInput

    if text is None or text == "":
        return None
    raw = str(text).strip().rstrip("%").strip()
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{option} must be a percentage such as 80 or 80%, not {text!r}"
                           ) from None
    if not 0 <= value <= 100:
        raise InvalidInput(f"{option} must be between 0 and 100 (percent), not {text!r}")
    return value


def age(seen_at: datetime, now: datetime) -> str:
    """How old a figure is, in words."""
    seconds = max(0, int((now - seen_at).total_seconds()))
    if seconds < 90:
        return f"{seconds}s ago"
    if seconds < 5400:
        return f"{seconds // 60}m ago"
    if seconds < 172800:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def countdown(until: datetime | None, now: datetime) -> str:
    """How long until `until`, in words ("passed" once it has)."""
    if until is None:
        return "unknown"
    seconds = int((until - now).total_seconds())
    if seconds <= 0:
        return "passed"
    hours, rest = divmod(seconds, 3600)
    days, hours = divmod(hours, 24)
    if days:
        return f"in {days}d {hours}h"
    if hours:
        return f"in {hours}h {rest // 60:02d}m"
    return f"in {rest // 60}m {rest % 60:02d}s"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
