"""Runs as data: the settings a run executes with, its row in `job_executions`, and what the
runner learned. Kept apart from `models` so that commands that never touch runs (such as
`cnp job list`) do not pay for building these classes at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .models import ClaudeOptions, ExecutorKind, Job, OnLimit, RunStatus, Trigger

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
class Execution:
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
    retry_at: datetime | None = None  # set by the runner when it schedules another attempt
    limit_kind: str | None = None  # a usage limit stopped the run: which one
    limit_reset_at: datetime | None = None  # …and when it resets (None: unknown)
    worktree_state: str | None = None  # after the run: its worktree was kept or removed
    output_dropped_lines: int | None = None  # printed past the output cap: read, not stored
    output_dropped_bytes: int | None = None
    # The subscription windows the stream reported (quota.Window), and whose they are.
    quota_windows: list[Any] = field(default_factory=list)
    quota_account: str | None = None
