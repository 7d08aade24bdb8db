"""The domain: prompts, jobs, runs, and the named policies that govern them.

Plain dataclasses and enums (defined in `enums`) with no I/O. Storage turns rows into these;
services decide with them; edges render them. Times are timezone-aware datetimes in UTC.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .enums import (  # re-exported: the domain is models and enums together
    PERMISSION_MODES as PERMISSION_MODES,
    TERMINAL_STATUSES as TERMINAL_STATUSES,
    ExecutorKind as ExecutorKind,
    InterruptPolicy as InterruptPolicy,
    MisfirePolicy as MisfirePolicy,
    OnLimit as OnLimit,
    OverlapPolicy as OverlapPolicy,
    RunStatus as RunStatus,
    StrEnum as StrEnum,
    Trigger as Trigger,
)


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
    cron_expr: str | None = None  # normalized; None for a one-shot job, @spare (below)
    run_at: datetime | None = None  # the one-shot time (UTC)
    description: str = ""
    enabled: bool = True
    next_run_at: datetime | None = None
    work_dir: str | None = None
    executor: ExecutorKind = ExecutorKind.CLAUDE
    options: ClaudeOptions = field(default_factory=ClaudeOptions)
    timeout_s: int = 3600
    idle_timeout_s: int = 600
    max_output_bytes: int | None = None  # stored output cap; None: the daemon's
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
    quota_ceiling: float | None = None  # percent of the five-hour window; None: the daemon's
    weekly_ceiling: float | None = None  # percent of the seven-day window; None: the daemon's
    spare_window_s: int | None = None  # set: runs on spare capacity (`--when spare`), no time
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    # Read-only summaries filled in by listings.
    last_status: str | None = None
    last_run_at: datetime | None = None

    @property
    def schedule_text(self) -> str:
        return schedule_text(self.cron_expr, self.run_at.isoformat() if self.run_at else None,
                             self.spare_window_s)


def schedule_text(cron_expr: str | None, run_at: str | None,
                  spare_window_s: int | None = None) -> str:
    """A job's schedule in one line: its cron expression, `@at` and its one-shot time (ISO 8601
    text), or `@spare` and its lead time."""
    if spare_window_s is not None:
        minutes, rest = divmod(spare_window_s, 60)
        return f"@spare {minutes}m" if rest == 0 else f"@spare {spare_window_s}s"
    if cron_expr is not None:
        return cron_expr
    return f"@at {run_at or '?'}"
