"""What the CLI tells a person where they would otherwise stall: warnings before a start that
cannot succeed (no `claude`, no credential), the daemon's start-up summary, and the next
command to run after `init`, an empty listing, a run left waiting, and the like.

Pretty output only: JSON documents carry the same facts as fields (`next_steps`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .app import Env, echo
from .output import local_time

if TYPE_CHECKING:
    from ..models import Run
    from ..store import Store

FIRST_STEPS = (
    'cnp prompt create "Nightly review" "Review yesterday\'s commits."',
    'cnp job create PROMPT_ID "0 3 * * *"',
    "cnp daemon",
)


def preflight_warnings() -> list[str]:
    """Why Claude runs started from this shell would fail (`health.preflight`)."""
    from ..health import preflight

    return preflight(os.environ)


def warn_preflight(env: Env) -> list[str]:
    """Print the preflight warnings on stderr, one line each; return them."""
    problems = preflight_warnings()
    if env.fmt != "json":
        for problem in problems:
            echo(f"Warning: {problem}", err=True)
    return problems


def next_steps(env: Env, steps: Sequence[str], lead: str = "Next") -> None:
    """The commands to run next, on stdout after the command's own output (pretty only)."""
    if env.fmt == "json" or not steps:
        return
    if len(steps) == 1:
        echo(f"{lead}: {steps[0]}")
        return
    echo(f"{lead}:")
    for step in steps:
        echo(f"  {step}")


def relative(delta: timedelta) -> str:
    """A duration ahead as people say it: "in 13h", "in 2d 4h", "in 45m", "in 20s"."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "now"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"in {days}d {hours}h" if hours else f"in {days}d"
    if hours:
        return f"in {hours}h {minutes}m" if minutes and hours < 10 else f"in {hours}h"
    if minutes:
        return f"in {minutes}m"
    return f"in {secs}s"


def daemon_summary(store: Store, now: datetime, limit: int = 10) -> list[str]:
    """The daemon's start-up summary: how many jobs are enabled and, by name, when each fires
    next (relative, and the time in the job's zone), soonest first."""
    jobs = store.jobs.all()
    enabled = [j for j in jobs if j.enabled]
    paused = len(jobs) - len(enabled)
    if not enabled:
        return [f"No jobs enabled ({paused} paused): nothing will fire. Create one with "
                "`cnp job create PROMPT_ID \"0 3 * * *\"`" if paused else
                "No jobs yet: nothing will fire. Create one with "
                "`cnp job create PROMPT_ID \"0 3 * * *\"` (a prompt first: `cnp prompt create`)"]
    lines = [f"{len(enabled)} job{'s' if len(enabled) != 1 else ''} enabled"
             + (f" ({paused} paused)" if paused else "") + ":"]
    far = datetime.max.replace(tzinfo=now.tzinfo)
    ordered = sorted(enabled, key=lambda j: j.next_run_at or far)
    width = min(max(len(j.name) for j in ordered[:limit]), 40)
    for j in ordered[:limit]:
        if j.next_run_at is None:
            when = "no further fire times"
        else:
            when = (f"next {relative(j.next_run_at - now)} "
                    f"({local_time(j.next_run_at, j.timezone)})")
        lines.append(f"  {j.name[:width].ljust(width)}  {when}")
    if len(ordered) > limit:
        lines.append(f"  … and {len(ordered) - limit} more (`cnp job list`)")
    return lines


def deferred_rerun(store: Store, run: Run) -> Run | None:
    """The attempt a finished run left waiting for a usage limit to reset, if any."""
    from ..models import RunStatus

    follow = store.runs.next_attempt_of(run.id)
    return follow if follow is not None and follow.status == RunStatus.DEFERRED else None


def deferred_steps(follow: Run, zone: str | None = None) -> list[str]:
    """What to know about a deferred rerun: when it starts, who starts it, how to drop it."""
    when = follow.retry_at or follow.scheduled_for
    shown = (local_time(when, zone) if zone else
             when.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"))
    return [f"run {follow.id} reruns it after the usage limit resets, at {shown}, "
            "started by a running daemon (`cnp daemon`); to drop it: "
            f"`cnp run cancel {follow.id}`"]
