"""The misfire policy: of a job's fire times that could not run when they came (no daemon was
looking, or a usage limit was in force), which run late. Pure; the scheduler applies it after
an outage, `runs` to the fire times a usage limit deferred."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from .models import MisfirePolicy

# A fire time this close behind the clock is on time, whatever the misfire policy says.
ON_TIME_SLACK = timedelta(seconds=60)
# Under misfire `all`, at most this many late runs are started for one gap.
MAX_CATCHUP_RUNS = 100


def kept(fires: Sequence[datetime], at: datetime, policy: MisfirePolicy,
         grace: timedelta) -> list[datetime]:
    """Of `fires` (in order), those that run if started at `at`: `skip` only an on-time one,
    `latest` the last within the grace window, `all` every one within it (up to
    MAX_CATCHUP_RUNS, the latest)."""
    if policy == MisfirePolicy.SKIP:
        return [f for f in fires if at - f <= ON_TIME_SLACK][-1:]
    in_grace = [f for f in fires if at - f <= grace]
    if policy == MisfirePolicy.LATEST:
        return in_grace[-1:]
    return in_grace[-MAX_CATCHUP_RUNS:]


def ago(delta: timedelta) -> str:
    """A lateness in the largest whole unit: 90s, 5m, 3h, 2d."""
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
