"""Editing a job: the changes asked for applied to its current definition and validated as
`job create` validates (`build_job`), for `cnp job edit`, `PATCH /api/jobs/{id}` and the
dashboard's form alike; and what the edit changed, field by field.

Changes are named as `JobSpec`'s fields and given as the CLI takes them (durations and sizes
as text, tool lists comma-separated). An empty text clears an optional field; None for a
policy means its default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..models import Job, Prompt
from ..store import Store
from .jobs import build_job, schedule_of
from .options import JobSpec

# What an edit may change: every field of `job create` besides the flags.
EDITABLE = frozenset({
    "prompt_id", "cron", "at", "name", "description", "timezone", "work_dir", "executor",
    "model", "allowed_tools", "disallowed_tools", "permission_mode", "max_turns",
    "max_budget_usd", "append_system_prompt", "mcp_config", "add_dirs", "timeout",
    "idle_timeout", "max_output", "retries", "misfire", "misfire_grace", "overlap",
    "on_interrupt", "on_limit", "quota_ceiling", "weekly_ceiling", "when", "spare_window",
})
# Optional text: an empty value clears it.
_TEXT = ("name", "timezone", "work_dir", "model", "permission_mode", "append_system_prompt",
         "mcp_config", "quota_ceiling", "weekly_ceiling", "spare_window")
# Policies: None means the default.
_DEFAULTED = ("executor", "retries", "misfire", "overlap", "on_interrupt", "on_limit")


def spec_of_job(job: Job) -> JobSpec:
    """The spec that would build `job` again: the starting point of an edit."""
    o = job.options
    assert job.prompt_id is not None
    return JobSpec(
        prompt_id=job.prompt_id, cron=job.cron_expr if job.spare_window_s is None else None,
        at=job.run_at.isoformat() if job.run_at else None, name=job.name,
        description=job.description, timezone=job.timezone, work_dir=job.work_dir,
        executor=str(job.executor), model=o.model,
        allowed_tools=",".join(o.allowed_tools) or None,
        disallowed_tools=",".join(o.disallowed_tools) or None,
        permission_mode=o.permission_mode, max_turns=o.max_turns,
        max_budget_usd=o.max_budget_usd, append_system_prompt=o.append_system_prompt,
        mcp_config=o.mcp_config, add_dirs=list(o.add_dirs), timeout=str(job.timeout_s),
        idle_timeout=str(job.idle_timeout_s),
        max_output=str(job.max_output_bytes) if job.max_output_bytes is not None else None,
        retries=job.retries, misfire=str(job.misfire),
        misfire_grace=str(job.misfire_grace_s), overlap=str(job.overlap),
        on_interrupt=str(job.on_interrupt), on_limit=str(job.on_limit), enabled=job.enabled,
        quota_ceiling=job.quota_ceiling, weekly_ceiling=job.weekly_ceiling,
        when="spare" if job.spare_window_s is not None else None,
        spare_window=str(job.spare_window_s) if job.spare_window_s is not None else None,
    )


def apply_changes(spec: JobSpec, changes: Mapping[str, Any]) -> None:
    """Set the fields named in `changes` on `spec` (the schedule and prompt excepted: see
    `edit_job`)."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise InvalidInput(f"a job has no field {', '.join(sorted(unknown))}")
    for name, value in changes.items():
        if name in ("prompt_id", "cron", "at"):
            continue
        if name == "add_dirs":
            spec.add_dirs = list(value or [])
        elif name == "description":
            spec.description = value or ""
        elif value is None and name in _DEFAULTED:
            continue
        elif name in _TEXT:
            setattr(spec, name, value if value != "" else None)
        else:
            setattr(spec, name, value)


def edit_job(current: Job, changes: Mapping[str, Any], prompt_of: Callable[[int], Prompt],
             now: datetime, cwd: Path) -> tuple[Job, bool]:
    """The job as `changes` change it, validated by `build_job` (the rules of `job create`),
    and whether its schedule (expression, one-shot time or zone) changed. Giving `cron` makes
    a one-shot job a cron job, and `at` the other way round."""
    spec = spec_of_job(current)
    cron, at = changes.get("cron"), changes.get("at")
    if cron and at:
        raise InvalidInput("give either a cron expression or an 'at' time, not both")
    if cron:
        spec.cron, spec.at = cron, None
    elif at:
        spec.cron, spec.at = None, at
    if cron or at:
        spec.when = spec.spare_window = None  # a fixed time replaces spare capacity
    elif changes.get("when") == "spare":
        spec.cron = spec.at = None
    if changes.get("prompt_id") is not None:
        spec.prompt_id = changes["prompt_id"]
    apply_changes(spec, changes)
    build_now = now
    unchanged_at = spec.at is not None and current.run_at is not None and \
        spec.at == current.run_at.isoformat() and spec.timezone == current.timezone
    if unchanged_at and current.run_at is not None and current.run_at <= now:
        # A one-shot time that already passed is kept as it is; only the rest is checked.
        build_now = current.run_at - timedelta(seconds=1)
    job = build_job(spec, prompt_of(spec.prompt_id), build_now, cwd)
    if build_now is not now:
        job.next_run_at = None
    rescheduled = (job.cron_expr, job.run_at, job.timezone, job.spare_window_s) != (
        current.cron_expr, current.run_at, current.timezone, current.spare_window_s)
    if rescheduled and job.enabled:
        job.next_run_at = schedule_of(job).next_after(now)
    return job, rescheduled


@dataclass
class JobEdit:
    """An edit of a job: before, after, and what changed (field, old value, new value)."""

    before: Job
    after: Job
    rescheduled: bool
    changes: list[tuple[str, Any, Any]]
    stored: bool


def update_job(store: Store, job_id: int, changes: Mapping[str, Any], now: datetime,
               cwd: Path, *, actor: str, dry_run: bool = False) -> JobEdit:
    """Edit a live job and store it (unless `dry_run`). Fire times to come stay as they were
    unless the schedule or zone changed (`store.jobs.update`)."""
    current = store.jobs.get(job_id)
    job, rescheduled = edit_job(current, changes, store.prompts.get, now, cwd)
    if dry_run:  # the stored job as the update would leave it
        after = replace(current, **{f: getattr(job, f) for f in _STORED},
                        next_run_at=job.next_run_at if rescheduled else current.next_run_at)
    else:
        store.jobs.update(job_id, job, now, reschedule=rescheduled, actor=actor)
        after = store.jobs.get(job_id)
    return JobEdit(current, after, rescheduled, job_changes(current, after), not dry_run)


# What `store.jobs.update` writes of an edited job (besides its next run).
_STORED = ("prompt_id", "name", "description", "cron_expr", "run_at", "timezone", "work_dir",
           "executor", "options", "timeout_s", "idle_timeout_s", "max_output_bytes", "retries",
           "misfire", "misfire_grace_s", "overlap", "on_interrupt", "on_limit",
           "quota_ceiling", "weekly_ceiling", "spare_window_s")


def job_changes(before: Job, after: Job) -> list[tuple[str, Any, Any]]:
    """The fields of a job's definition that differ between two versions of it."""
    def fields(job: Job) -> dict[str, Any]:
        return {
            "prompt": job.prompt_id, "name": job.name, "description": job.description,
            "cron": job.cron_expr, "at": job.run_at, "timezone": job.timezone,
            "work_dir": job.work_dir, "executor": str(job.executor),
            **{f"options.{k}": v for k, v in job.options.to_dict().items()},
            "timeout_s": job.timeout_s, "idle_timeout_s": job.idle_timeout_s,
            "max_output_bytes": job.max_output_bytes, "retries": job.retries,
            "misfire": str(job.misfire), "misfire_grace_s": job.misfire_grace_s,
            "overlap": str(job.overlap), "on_interrupt": str(job.on_interrupt),
            "on_limit": str(job.on_limit), "quota_ceiling": job.quota_ceiling,
            "weekly_ceiling": job.weekly_ceiling, "spare_window_s": job.spare_window_s,
            "next_run_at": job.next_run_at,
        }

    old, new = fields(before), fields(after)
    return [(k, old.get(k), new.get(k)) for k in dict.fromkeys([*old, *new])
            if old.get(k) != new.get(k)]
