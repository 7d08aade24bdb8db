"""Jobs as the user defines them: built from a validated spec with their first fire time,
stored, paused and resumed, and their schedule read back.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from .. import templates
from ..cron import (
    OneShot,
    Schedule,
    WhenSpare,
    parse_at,
    parse_cron,
    validate_timezone,
)
from ..errors import InvalidInput
from ..models import (
    ExecutorKind,
    InterruptPolicy,
    Job,
    MisfirePolicy,
    OnLimit,
    OverlapPolicy,
    Prompt,
)
from ..quota import parse_percent
from ..risk import refuse_critical
from ..store import Store
from ..tracing import trace
from .options import JobSpec, check_integration, check_work_dir, validate_claude_options
from .review import review_job
from .units import output_cap, parse_duration


def build_job(spec: JobSpec, prompt: Prompt, now: datetime, cwd: Path) -> Job:
    """A validated job with its first `next_run_at`, ready to store (nothing is written)."""
    spare = spec.when == "spare"
    if spec.when not in (None, "", "spare"):
        raise InvalidInput(f"--when must be spare, not {spec.when!r}")
    if spec.cron and spec.at:
        raise InvalidInput("give either a cron expression or --at, not both")
    if spare and (spec.cron or spec.at):
        raise InvalidInput("a --when spare job has no cron expression or --at time")
    if not spec.cron and not spec.at and not spare:
        raise InvalidInput("a job needs a cron expression or --at DATETIME (or --when spare)")
    if spec.spare_window and not spare:
        raise InvalidInput("--spare-window is for --when spare jobs")
    timezone = validate_timezone(spec.timezone)
    schedule: Schedule
    if spare:
        schedule = WhenSpare(parse_duration(spec.spare_window or "45m", "--spare-window"),
                             timezone)
    elif spec.at:
        schedule = parse_at(spec.at, timezone, now=now)
    else:
        assert spec.cron is not None
        schedule = parse_cron(spec.cron, timezone)
    if spec.retries < 0 or spec.retries > 20:
        raise InvalidInput("--retries must be between 0 and 20")
    options = validate_claude_options(
        model=spec.model,
        allowed_tools=spec.allowed_tools,
        disallowed_tools=spec.disallowed_tools,
        permission_mode=spec.permission_mode,
        max_turns=spec.max_turns,
        max_budget_usd=spec.max_budget_usd,
        append_system_prompt=spec.append_system_prompt,
        mcp_config=spec.mcp_config,
        add_dirs=spec.add_dirs,
    )
    name = (spec.name or prompt.title).strip()
    if not name:
        raise InvalidInput("the job name is empty")
    work_dir = check_work_dir(spec.work_dir, cwd)
    check_integration(spec, work_dir)
    job = Job(
        prompt_id=prompt.id,
        name=name,
        description=spec.description,
        timezone=timezone,
        cron_expr=schedule.expr if not isinstance(schedule, OneShot) else None,
        run_at=schedule.at if isinstance(schedule, OneShot) else None,
        enabled=spec.enabled,
        work_dir=work_dir,
        executor=ExecutorKind(spec.executor),
        options=options,
        timeout_s=parse_duration(spec.timeout or "1h", "--timeout"),
        idle_timeout_s=parse_duration(spec.idle_timeout or "10m", "--idle-timeout"),
        max_output_bytes=output_cap(spec.max_output),
        retries=spec.retries,
        misfire=MisfirePolicy(spec.misfire),
        misfire_grace_s=parse_duration(spec.misfire_grace or "6h", "--misfire-grace"),
        overlap=OverlapPolicy(spec.overlap),
        on_interrupt=InterruptPolicy(spec.on_interrupt),
        on_limit=OnLimit(spec.on_limit),
        worktree=spec.worktree,
        continue_session=spec.continue_session,
        template_vars=templates.parse_vars(spec.variables),
        risk_accepted=spec.i_understand_the_risk,
        quota_ceiling=parse_percent(spec.quota_ceiling, "--quota-ceiling"),
        weekly_ceiling=parse_percent(spec.weekly_ceiling, "--weekly-ceiling"),
        spare_window_s=schedule.lead_s if isinstance(schedule, WhenSpare) else None,
    )
    review = review_job(job, prompt.content, now)
    refuse_critical(review.risk, job.risk_accepted)
    job.risk_level = review.risk.level
    job.next_run_at = schedule.next_after(now) if job.enabled else None
    return job


def schedule_of(job: Job) -> Schedule:
    if job.spare_window_s is not None:
        return WhenSpare(job.spare_window_s, job.timezone)
    if job.cron_expr is not None:
        return parse_cron(job.cron_expr, job.timezone)
    assert job.run_at is not None
    return OneShot(job.run_at, job.timezone)


def describe_job(job: Job) -> str:
    """The plain-English schedule, or why it cannot be read (a job imported with a bad one)."""
    try:
        return schedule_of(job).describe()
    except InvalidInput as exc:
        return f"invalid schedule: {exc.message}"


def create_job(store: Store, spec: JobSpec, now: datetime, cwd: Path) -> Job:
    prompt = store.prompts.get(spec.prompt_id)
    job = build_job(spec, prompt, now, cwd)
    job_id = store.jobs.insert(job, now)
    trace("register", job_id=job_id, schedule=job.schedule_text, timezone=job.timezone,
          enabled=job.enabled, next_run_at=job.next_run_at.isoformat() if job.next_run_at else None)
    return store.jobs.get(job_id)


def pause_job(store: Store, job_id: int, now: datetime) -> Job:
    store.jobs.get(job_id)
    store.jobs.set_enabled(job_id, False, None, now)
    return store.jobs.get(job_id)


def resume_job(store: Store, job_id: int, now: datetime) -> Job:
    """Enable a job; its next run is the first fire time after now (past ones are not owed)."""
    job = store.jobs.get(job_id)
    store.jobs.set_enabled(job_id, True, schedule_of(job).next_after(now), now)
    return store.jobs.get(job_id)
