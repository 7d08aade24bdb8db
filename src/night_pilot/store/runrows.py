"""Rows of `job_executions` (the runs) as the code reads them: the columns, the SELECT the
readers share, and the conversion of a row to an `Execution`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..models import ClaudeOptions, ExecutorKind, OnLimit, RunStatus, Trigger
from .timefmt import from_db

if TYPE_CHECKING:
    from ..models import Run

_TIME_COLUMNS = (
    "scheduled_for", "created_at", "lease_expires_at", "heartbeat_at", "queued_at", "started_at",
    "finished_at", "retry_at", "cancel_requested_at", "limit_reset_at",
    "quota_5h_resets_at", "quota_7d_resets_at", "quota_seen_at",
)
_PLAIN_COLUMNS = (
    "id", "job_id", "attempt", "reason", "prompt_id", "prompt_sha256", "claimed_by",
    "fencing_token", "retry_of", "pid", "host", "process_start", "exit_code", "session_id", "model",
    "num_turns", "duration_ms", "duration_api_ms", "total_cost_usd", "input_tokens",
    "output_tokens", "cache_creation_tokens", "cache_read_tokens", "terminal_reason",
    "api_error_status", "result_text", "stderr_tail", "limit_kind", "worktree_branch",
    "worktree_path", "worktree_base", "worktree_state", "risk_level", "output_dropped_lines",
    "output_dropped_bytes", "quota_5h_utilization", "quota_7d_utilization",
)
RUN_SELECT = (
    "SELECT e.*, j.name AS job_name FROM job_executions e LEFT JOIN jobs j ON j.id = e.job_id"
)



def run_filter(job_id: int | None, status: str | None) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause (with its arguments) that selects runs by job and status."""
    where: list[str] = []
    args: list[Any] = []
    if job_id is not None:
        where.append("e.job_id = ?")
        args.append(job_id)
    if status is not None:
        where.append("e.status = ?")
        args.append(status)
    return (" WHERE " + " AND ".join(where) if where else ""), tuple(args)


def to_run(row: Any) -> Run:
    from ..models import Run, RunSettings  # not needed by job-only commands

    values: dict[str, Any] = {k: row[k] for k in _PLAIN_COLUMNS}
    for key in _TIME_COLUMNS:
        values[key] = from_db(row[key])
    return Run(
        trigger=Trigger(row["trigger"]),
        status=RunStatus(row["status"]),
        argv=json.loads(row["argv"]) if row["argv"] else None,
        permission_denials=json.loads(row["permission_denials"])
        if row["permission_denials"] else None,
        job_name=row["job_name"],
        rendered=bool(row["rendered"]) if row["rendered"] is not None else None,
        file_refs=json.loads(row["file_refs"]) if row["file_refs"] else None,
        quota_basis=json.loads(row["quota_basis"]) if row["quota_basis"] else None,
        settings=RunSettings(
            executor=ExecutorKind(row["executor"]),
            work_dir=row["work_dir"],
            options=ClaudeOptions.from_json(row["options"]),
            timeout_s=row["timeout_s"],
            idle_timeout_s=row["idle_timeout_s"],
            max_output_bytes=row["max_output_bytes"],
            max_attempts=row["max_attempts"],
            prompt_text=row["prompt_text"],
            resume_session_id=row["resume_session_id"],
            on_limit=OnLimit(row["on_limit"]),
            worktree=bool(row["worktree"]),
            continue_session=bool(row["continue_session"]),
            template_vars=json.loads(row["template_vars"]) if row["template_vars"] else {},
            risk_accepted=bool(row["risk_accepted"]),
        ),
        **values,
    )
