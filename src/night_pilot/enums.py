"""The domain's named values: run statuses, the policies a job is run by, what triggered a
run, the permission modes Claude accepts. Plain `StrEnum`s stored and shown as their text.

`models` re-exports them with its dataclasses: the domain is the two together. What needs only
the named values (the command line's choices, the store's queries) imports them from here.
"""

from __future__ import annotations

from enum import StrEnum as _StrEnum


class StrEnum(_StrEnum):
    @classmethod
    def values(cls) -> list[str]:
        return [m.value for m in cls]


class RunStatus(StrEnum):
    """Where one run attempt stands. Terminal states never change again."""

    PENDING = "pending"  # materialized, waiting for a daemon to claim it
    QUEUED = "queued"  # claimed by a daemon, waiting for a free slot
    RUNNING = "running"  # the process has been spawned
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RETRY_WAIT = "retry_wait"  # failed transiently; a new attempt is due at `retry_at`
    DEFERRED = "deferred"  # due during a usage-limit cooldown; starts after the reset
    MISSED = "missed"  # never executed (daemon down, asleep, outside the grace window)
    SKIPPED = "skipped"  # not executed because the job was still running (overlap policy)
    INTERRUPTED = "interrupted"  # its owner vanished (lease expired) or the daemon stopped it

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        RunStatus.COMPLETED,
        RunStatus.FAILED,
        RunStatus.CANCELLED,
        RunStatus.MISSED,
        RunStatus.SKIPPED,
        RunStatus.INTERRUPTED,
    }
)


class MisfirePolicy(StrEnum):
    """What to do with fire times that passed while no daemon could run them."""

    SKIP = "skip"  # record them all as missed; run nothing until the next future time
    LATEST = "latest"  # run once for the most recent one (coalesced); the rest are missed
    ALL = "all"  # run each one (bounded by the grace window and a cap), oldest first


class OverlapPolicy(StrEnum):
    """What to do when a job is due while its previous run is still going."""

    SKIP = "skip"  # record the new run as skipped
    QUEUE = "queue"  # start it after the previous run ends
    ALLOW = "allow"  # run both at once (still within the global concurrency limit)


class InterruptPolicy(StrEnum):
    """Whether a run whose owner vanished is attempted again."""

    RETRY_UNSTARTED = "retry-unstarted"  # only if no process was started: no side effects yet
    ALWAYS = "always"
    NEVER = "never"


class ExecutorKind(StrEnum):
    CLAUDE = "claude"  # the prompt goes to `claude -p` on stdin
    SHELL = "shell"  # the prompt is a shell script run by /bin/sh


class OnLimit(StrEnum):
    """How a run stopped by a usage limit continues after the reset."""

    RERUN = "rerun"  # start the prompt again from scratch
    RESUME = "resume"  # resume the interrupted session with a continue prompt


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"  # `cnp job trigger`
    EXECUTE = "execute"  # `cnp execute`, not tied to a job
    RETRY = "retry"


PERMISSION_MODES = ("default", "acceptEdits", "auto", "bypassPermissions", "manual", "dontAsk",
                    "plan")
