"""Request bodies of the JSON API (pydantic), shared with the HTML forms.

Bounds here only keep input within what the database can hold (no 64-bit overflow, no
infinities); the rules themselves are the CLI's, applied by `catalog` (a bad cron expression,
zone, duration or directory is refused there, naming the field).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import catalog
from ..errors import InvalidInput
from ..models import Job

MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
ShortText = Annotated[str, Field(max_length=1000)]
LongText = Annotated[str, Field(max_length=4 * 1024 * 1024)]
# A duration as the CLI takes it ("90", "90s", "30m", "2h", "1d") or whole seconds.
Duration = Annotated[str, Field(max_length=40)] | Annotated[int, Field(ge=1, le=10**9)]
# A size as the CLI takes it ("64M", "512K", "1G") or whole bytes.
Size = Annotated[str, Field(max_length=40)] | Annotated[int, Field(ge=1, le=2**62)]
ToolList = Annotated[str, Field(max_length=10000)] | list[Annotated[str, Field(max_length=1000)]]

Executor = Literal["claude", "shell"]
Misfire = Literal["skip", "latest", "all"]
Overlap = Literal["skip", "queue", "allow"]
OnInterrupt = Literal["retry-unstarted", "always", "never"]
OnLimitPolicy = Literal["rerun", "resume"]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromptCreate(Body):
    title: ShortText
    content: LongText
    tags: ToolList = Field(default_factory=list, description="A list, or 'a,b' as the CLI takes")


class PromptUpdate(Body):
    title: ShortText | None = None
    content: LongText | None = None
    tags: ToolList | None = None


def tags_of(value: str | list[str] | None) -> list[str] | None:
    if value is None:
        return None
    return catalog.parse_tags(value if isinstance(value, str) else ",".join(value))


class JobFields(Body):
    """Everything `cnp job create` takes besides the prompt and the flags."""

    cron: ShortText | None = Field(None, description="5 fields, 6 with seconds first, or @daily")
    at: ShortText | None = Field(None, description="ISO 8601 date-time of a one-shot job")
    name: ShortText | None = None
    description: LongText | None = None
    timezone: ShortText | None = Field(None, description="IANA zone; default: the system's")
    work_dir: ShortText | None = Field(None, description="default: the server's directory")
    executor: Executor | None = None
    model: ShortText | None = None
    allowed_tools: ToolList | None = None
    disallowed_tools: ToolList | None = None
    permission_mode: ShortText | None = None
    max_turns: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    max_budget_usd: Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)] | None = None
    append_system_prompt: LongText | None = None
    mcp_config: LongText | None = None
    add_dirs: list[ShortText] | None = None
    timeout: Duration | None = None
    idle_timeout: Duration | None = None
    max_output: Size | None = Field(None, description="stored output cap, e.g. 64M; "
                                    "null: the daemon's")
    retries: Annotated[int, Field(ge=0, le=20)] | None = None
    misfire: Misfire | None = None
    misfire_grace: Duration | None = None
    overlap: Overlap | None = None
    on_interrupt: OnInterrupt | None = None
    on_limit: OnLimitPolicy | None = None
    quota_ceiling: Percent | None = Field(None, description="hold runs back while the "
                                          "five-hour window is at or above this percent; "
                                          "null: the daemon's --quota-ceiling")
    weekly_ceiling: Percent | None = Field(None, description="the same for the seven-day "
                                           "window; null: the daemon's --weekly-ceiling")
    when: Literal["spare"] | None = Field(None, description="spare: no fixed time, runs on "
                                          "spare capacity before the five-hour reset")
    spare_window: Duration | None = Field(None, description="with when=spare: how long "
                                          "before the reset a run may start (default 45m)")


class JobCreate(JobFields):
    prompt_id: Id
    enabled: bool = Field(True, description="false: store it paused (--no-register)")
    dry_run: bool = Field(False, description="validate and show, store nothing")


class JobUpdate(JobFields):
    """Only the fields given change. Setting `cron` turns a one-shot job into a cron job and
    `at` the other way round. Pausing and resuming have their own endpoints."""

    prompt_id: Id | None = None


def _tools(value: str | list[str] | None) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else ",".join(value)


def _duration(value: str | int | None) -> str | None:
    return None if value is None else str(value)


_SPEC_TEXT = ("name", "timezone", "work_dir", "model", "permission_mode",
              "append_system_prompt", "mcp_config")


def spec_of_create(body: JobCreate) -> catalog.JobSpec:
    spec = catalog.JobSpec(prompt_id=body.prompt_id, cron=body.cron, at=body.at,
                           enabled=body.enabled)
    _apply(spec, body, body.model_fields_set | {"cron", "at"})
    return spec


def _apply(spec: catalog.JobSpec, body: JobFields, given: set[str]) -> None:
    for name in given:
        value = getattr(body, name)
        if name in ("prompt_id", "enabled", "dry_run", "cron", "at"):
            continue
        if name in ("allowed_tools", "disallowed_tools"):
            setattr(spec, name, _tools(value))
        elif name in ("timeout", "idle_timeout", "misfire_grace", "max_output",
                      "spare_window"):
            setattr(spec, name, _duration(value))
        elif name == "add_dirs":
            spec.add_dirs = list(value or [])
        elif name == "description":
            spec.description = value or ""
        elif value is None and name in ("executor", "retries", "misfire", "overlap",
                                        "on_interrupt", "on_limit"):
            continue  # null means "the default" for these
        elif name in _SPEC_TEXT:
            setattr(spec, name, value if value != "" else None)
        else:
            setattr(spec, name, value)


def spec_of_job(job: Job) -> catalog.JobSpec:
    """The spec that would build `job` again: the starting point of an edit."""
    o = job.options
    assert job.prompt_id is not None
    return catalog.JobSpec(
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


def edited_job(current: Job, body: JobUpdate, prompt_of: Any, now: datetime,
               cwd: Path) -> tuple[Job, bool]:
    """The job as `body` changes it, validated by catalog.build_job (the CLI's rules), and
    whether its schedule (expression, one-shot time or zone) changed."""
    given = body.model_fields_set
    spec = spec_of_job(current)
    if "cron" in given and body.cron:
        spec.cron, spec.at = body.cron, None
    elif "at" in given and body.at:
        spec.cron, spec.at = None, body.at
    if ("cron" in given and body.cron) or ("at" in given and body.at):
        spec.when = spec.spare_window = None  # a fixed time replaces spare capacity
    elif "when" in given and body.when == "spare":
        spec.cron = spec.at = None
    if "cron" in given and body.cron and "at" in given and body.at:
        raise InvalidInput("give either a cron expression or an 'at' time, not both")
    if "prompt_id" in given and body.prompt_id is not None:
        spec.prompt_id = body.prompt_id
    _apply(spec, body, given - {"prompt_id"})
    if spec.mcp_config is not None and spec.mcp_config == mask_placeholder(current):
        spec.mcp_config = current.options.mcp_config  # the masked value came back unchanged
    build_now = now
    unchanged_at = spec.at is not None and current.run_at is not None and \
        spec.at == current.run_at.isoformat() and spec.timezone == current.timezone
    if unchanged_at and current.run_at is not None and current.run_at <= now:
        # A one-shot time that already passed is kept as it is; only the rest is checked.
        build_now = current.run_at - timedelta(seconds=1)
    job = catalog.build_job(spec, prompt_of(spec.prompt_id), build_now, cwd)
    if build_now is not now:
        job.next_run_at = None
    changed = (job.cron_expr, job.run_at, job.timezone, job.spare_window_s) != (
        current.cron_expr, current.run_at, current.timezone, current.spare_window_s)
    if changed and job.enabled:
        job.next_run_at = catalog.schedule_of(job).next_after(now)
    return job, changed


def mask_placeholder(job: Job) -> str | None:
    from .serialize import mask_mcp_config

    return mask_mcp_config(job.options.mcp_config)


class CronCheck(Body):
    cron: ShortText | None = None
    at: ShortText | None = None
    timezone: ShortText | None = None
    count: Annotated[int, Field(ge=1, le=100)] = 5
