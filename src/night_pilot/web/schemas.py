"""Request bodies of the JSON API (pydantic), shared with the HTML forms.

Bounds here only keep input within what the database can hold (no 64-bit overflow, no
infinities); the rules themselves are the CLI's, applied by `catalog` (a bad cron expression,
zone, duration or directory is refused there, naming the field).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import catalog
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


def spec_of_create(body: JobCreate) -> catalog.JobSpec:
    spec = catalog.JobSpec(prompt_id=body.prompt_id, cron=body.cron, at=body.at,
                           enabled=body.enabled)
    catalog.apply_changes(spec, _changes(body, body.model_fields_set - {"enabled", "dry_run"}))
    return spec


def _changes(body: JobFields, given: set[str]) -> dict[str, Any]:
    """The fields given in `body`, as the CLI takes them (catalog's edit changes)."""
    changes: dict[str, Any] = {}
    for name in given:
        value = getattr(body, name)
        if name in ("allowed_tools", "disallowed_tools"):
            value = _tools(value)
        elif name in ("timeout", "idle_timeout", "misfire_grace", "max_output",
                      "spare_window"):
            value = _duration(value)
        changes[name] = value
    return changes


def edited_job(current: Job, body: JobUpdate, prompt_of: Any, now: datetime,
               cwd: Path) -> tuple[Job, bool]:
    """The job as `body` changes it, validated by catalog.build_job (the CLI's rules), and
    whether its schedule (expression, one-shot time or zone) changed."""
    changes = _changes(body, body.model_fields_set)
    if changes.get("mcp_config") is not None and \
            changes["mcp_config"] == mask_placeholder(current):
        changes["mcp_config"] = current.options.mcp_config  # the masked value came back
    return catalog.edit_job(current, changes, prompt_of, now, cwd)


def mask_placeholder(job: Job) -> str | None:
    from .serialize import mask_mcp_config

    return mask_mcp_config(job.options.mcp_config)


class CronCheck(Body):
    cron: ShortText | None = None
    at: ShortText | None = None
    timezone: ShortText | None = None
    count: Annotated[int, Field(ge=1, le=100)] = 5
