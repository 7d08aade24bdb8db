"""The domain: prompts, jobs, runs, and the named policies that govern them.

Plain dataclasses and enums with no I/O. Storage turns rows into these; services decide with
them; edges render them. Times are timezone-aware datetimes in UTC.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum as _StrEnum
from typing import Any


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


@dataclass(frozen=True)
class ClaudeOptions:
    """The `claude` CLI options a job passes through (DESIGN §5)."""

    model: str | None = None
    allowed_tools: tuple[str, ...] = ()
    disallowed_tools: tuple[str, ...] = ()
    permission_mode: str | None = None
    max_turns: int | None = None
    max_budget_usd: float | None = None
    append_system_prompt: str | None = None
    mcp_config: str | None = None
    add_dirs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The options that are set, JSON-ready (lists for the tuples)."""
        # Plain attribute access: dataclasses.asdict deep-copies and costs ~70 µs a call,
        # which `cnp job list` pays once per job.
        data: dict[str, Any] = {}
        for name in _OPTION_FIELDS:
            value = getattr(self, name)
            if value is None or value == ():
                continue
            data[name] = list(value) if isinstance(value, tuple) else value
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> ClaudeOptions:
        return _options_from_json(text or "")


_OPTION_FIELDS = tuple(ClaudeOptions.__dataclass_fields__)


@functools.lru_cache(maxsize=256)
def _options_from_json(text: str) -> ClaudeOptions:
    # Cached: options are immutable and most jobs share a handful of distinct values.
    data: dict[str, Any] = json.loads(text) if text else {}
    for key in ("allowed_tools", "disallowed_tools", "add_dirs"):
        if key in data:
            data[key] = tuple(data[key])
    return ClaudeOptions(**data)


@dataclass
class Prompt:
    title: str
    content: str
    tags: list[str] = field(default_factory=list)
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class Job:
    """A prompt bound to a schedule and the way to run it."""

    prompt_id: int | None
    name: str
    timezone: str
    cron_expr: str | None = None  # normalized; None for a one-shot job
    run_at: datetime | None = None  # the one-shot time (UTC)
    description: str = ""
    enabled: bool = True
    next_run_at: datetime | None = None
    work_dir: str | None = None
    executor: ExecutorKind = ExecutorKind.CLAUDE
    options: ClaudeOptions = field(default_factory=ClaudeOptions)
    timeout_s: int = 3600
    idle_timeout_s: int = 600
    retries: int = 2
    misfire: MisfirePolicy = MisfirePolicy.LATEST
    misfire_grace_s: int = 6 * 3600
    overlap: OverlapPolicy = OverlapPolicy.SKIP
    on_interrupt: InterruptPolicy = InterruptPolicy.RETRY_UNSTARTED
    on_limit: OnLimit = OnLimit.RERUN
    worktree: bool = False  # each run in a fresh git worktree (docs/integration.md)
    continue_session: bool = False  # each run resumes the previous run's session
    template_vars: dict[str, str] = field(default_factory=dict)  # the prompt's {{variables}}
    risk_level: str = "low"  # as reviewed when the job was saved (risk.py)
    risk_accepted: bool = False  # saved with --i-understand-the-risk
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    # Read-only summaries filled in by listings.
    last_status: str | None = None
    last_run_at: datetime | None = None

    @property
    def schedule_text(self) -> str:
        return schedule_text(self.cron_expr, self.run_at.isoformat() if self.run_at else None)


def schedule_text(cron_expr: str | None, run_at: str | None) -> str:
    """A job's schedule in one line: its cron expression, or `@at` and its one-shot time
    (ISO 8601 text)."""
    if cron_expr is not None:
        return cron_expr
    return f"@at {run_at or '?'}"
