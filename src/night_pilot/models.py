"""The domain: prompts, jobs, runs (the settings a run executes with, its row, what the runner
learned), and the named policies that govern them.

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
    """The `claude` CLI options a job passes through to `claude -p`."""

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


ACTIVE_STATUSES = frozenset(
    {RunStatus.PENDING, RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.RETRY_WAIT,
     RunStatus.DEFERRED}
)


@dataclass
class RunSettings:
    """How one run executes: copied from its job when materialized, so later edits to the job
    never change a run that is already due."""

    executor: ExecutorKind = ExecutorKind.CLAUDE
    work_dir: str | None = None
    options: ClaudeOptions = field(default_factory=ClaudeOptions)
    timeout_s: int = 3600
    idle_timeout_s: int = 600
    max_output_bytes: int | None = None  # stored output cap; None: the runner's default
    max_attempts: int = 3
    prompt_text: str | None = None  # set for ad-hoc runs; job runs read their prompt at spawn
    resume_session_id: str | None = None  # set at spawn too when continue_session found one
    on_limit: OnLimit = OnLimit.RERUN
    worktree: bool = False  # run in a fresh git worktree of work_dir's repository
    continue_session: bool = False  # resume the job's previous session (found at spawn)
    template_vars: dict[str, str] = field(default_factory=dict)
    risk_accepted: bool = False  # critical risk was acknowledged (--i-understand-the-risk)

    @classmethod
    def of_job(cls, job: Job) -> RunSettings:
        return cls(
            executor=job.executor,
            work_dir=job.work_dir,
            options=job.options,
            timeout_s=job.timeout_s,
            idle_timeout_s=job.idle_timeout_s,
            max_output_bytes=job.max_output_bytes,
            max_attempts=job.retries + 1,
            on_limit=job.on_limit,
            worktree=job.worktree,
            continue_session=job.continue_session,
            template_vars=dict(job.template_vars),
            risk_accepted=job.risk_accepted,
        )


@dataclass(slots=True)
class Claim:
    """What claiming a run needs to know of it, and the fencing token it was claimed with: a
    burst's candidates are read as these, and each worker reads its whole run once it has it
    (`store.runs.get`)."""

    id: int
    job_id: int | None
    attempt: int
    executor: ExecutorKind
    ahead: bool  # written ahead of its fire time, never claimed (`store.schedule.ahead_sql`)
    fencing_token: int | None = None


@dataclass
class Run:
    """One run attempt: a row of `job_executions`."""

    id: int
    job_id: int | None
    scheduled_for: datetime
    attempt: int
    trigger: Trigger
    status: RunStatus
    created_at: datetime
    settings: RunSettings
    reason: str | None = None
    prompt_id: int | None = None
    prompt_sha256: str | None = None
    claimed_by: str | None = None
    fencing_token: int | None = None
    retry_of: int | None = None  # the attempt this one continues
    lease_expires_at: datetime | None = None
    heartbeat_at: datetime | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    retry_at: datetime | None = None
    pid: int | None = None
    host: str | None = None
    process_start: str | None = None
    cancel_requested_at: datetime | None = None
    exit_code: int | None = None
    argv: list[str] | None = None
    session_id: str | None = None
    model: str | None = None
    num_turns: int | None = None
    duration_ms: int | None = None
    duration_api_ms: int | None = None
    total_cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_tokens: int | None = None
    cache_read_tokens: int | None = None
    permission_denials: list[dict[str, Any]] | None = None
    terminal_reason: str | None = None
    api_error_status: int | None = None
    result_text: str | None = None
    stderr_tail: str | None = None
    limit_kind: str | None = None
    limit_reset_at: datetime | None = None
    job_name: str | None = None
    worktree_branch: str | None = None
    worktree_path: str | None = None
    worktree_base: str | None = None  # the commit the worktree was made from
    worktree_state: str | None = None  # active, kept (it left changes) or removed
    rendered: bool | None = None  # whether the prompt had template placeholders
    file_refs: list[dict[str, Any]] | None = None  # @references as checked at spawn
    risk_level: str | None = None  # as reviewed at spawn
    output_dropped_lines: int | None = None  # printed past the output cap: read, not stored
    output_dropped_bytes: int | None = None
    quota_5h_utilization: float | None = None  # the windows as the run's stream last gave them
    quota_5h_resets_at: datetime | None = None
    quota_7d_utilization: float | None = None
    quota_7d_resets_at: datetime | None = None
    quota_seen_at: datetime | None = None
    quota_basis: dict[str, Any] | None = None  # a spare-capacity run: the window it started on


@dataclass
class RunResult:
    """What the runner learned, written to the run's row in the final transaction."""

    status: RunStatus
    reason: str | None = None
    exit_code: int | None = None
    session_id: str | None = None
    model: str | None = None
    num_turns: int | None = None
    duration_ms: int | None = None
    duration_api_ms: int | None = None
    total_cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_tokens: int | None = None
    cache_read_tokens: int | None = None
    permission_denials: list[dict[str, Any]] | None = None
    terminal_reason: str | None = None
    api_error_status: int | None = None
    result_text: str | None = None
    stderr_tail: str | None = None
    transient: bool = False  # another attempt may succeed
    permanent: str | None = None  # why another attempt would fail the same way
    retry_at: datetime | None = None  # set by the runner when it schedules another attempt
    limit_kind: str | None = None  # a usage limit stopped the run: which one
    limit_reset_at: datetime | None = None  # …and when it resets (None: unknown)
    worktree_state: str | None = None  # after the run: its worktree was kept or removed
    output_dropped_lines: int | None = None  # printed past the output cap: read, not stored
    output_dropped_bytes: int | None = None
    # The subscription windows the stream reported (quota.Window), and whose they are.
    quota_windows: list[Any] = field(default_factory=list)
    quota_account: str | None = None
