"""Prompts and jobs as the user defines them: validation, defaults and the first fire time.

A service: it checks input, builds domain objects and hands them to the store. It never reads
the clock (callers pass `now`) and never renders output.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import filerefs, templates
from .cron import OneShot, Schedule, parse_at, parse_cron, system_timezone, validate_timezone
from .errors import InvalidInput
from .models import (
    PERMISSION_MODES,
    ClaudeOptions,
    ExecutorKind,
    InterruptPolicy,
    Job,
    MisfirePolicy,
    OnLimit,
    OverlapPolicy,
    Prompt,
)
from .risk import RiskReport, assess, refuse_critical
from .store import Store
from .tracing import trace

if TYPE_CHECKING:
    from .execution import RunSettings

EXPORT_FORMAT = "claude-night-pilot/prompts"
EXPORT_VERSION = 1


# -- prompts -----------------------------------------------------------------------------------


def check_content(content: str, source: str = "the prompt") -> str:
    if not content.strip():
        raise InvalidInput(f"{source} is empty", hint="a prompt needs some non-whitespace text")
    return content


def decode_prompt_bytes(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{source} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            hint="save the prompt as UTF-8",
        ) from exc


def read_prompt_file(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read prompt file {path}: {exc.strerror or exc}") from exc
    return check_content(decode_prompt_bytes(data, f"prompt file {path}"), f"prompt file {path}")


def parse_tags(text: str | None) -> list[str]:
    if not text:
        return []
    tags: list[str] = []
    for raw in text.split(","):
        tag = raw.strip()
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def make_prompt(title: str, content: str, tags: list[str]) -> Prompt:
    if not title.strip():
        raise InvalidInput("the prompt title is empty")
    return Prompt(title=title.strip(), content=check_content(content), tags=tags)


def create_prompt(store: Store, prompt: Prompt, now: datetime) -> Prompt:
    [prompt_id] = store.insert_prompts([prompt], now)
    return store.get_prompt(prompt_id)


def edit_prompt(
    store: Store,
    prompt_id: int,
    now: datetime,
    *,
    title: str | None = None,
    content: str | None = None,
    tags: list[str] | None = None,
) -> Prompt:
    current = store.get_prompt(prompt_id)
    updated = make_prompt(
        title if title is not None else current.title,
        content if content is not None else current.content,
        tags if tags is not None else current.tags,
    )
    return store.update_prompt(replace(updated, id=prompt_id), now)


def export_prompts(store: Store) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "prompts": [
            {"id": p.id, "title": p.title, "content": p.content, "tags": p.tags}
            for p in store.list_prompts()
        ],
    }


def parse_prompt_export(text: str, source: str) -> list[Prompt]:
    """Read an export document; every prompt is checked before anything is stored."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{source} is not JSON: {exc}") from exc
    items = doc.get("prompts") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise InvalidInput(f"{source}: expected a list of prompts or {{\"prompts\": [...]}}")
    prompts = []
    for index, item in enumerate(items):
        where = f"{source}: prompt #{index + 1}"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} is not an object")
        title, content, tags = item.get("title"), item.get("content"), item.get("tags", [])
        if not isinstance(title, str) or not isinstance(content, str):
            raise InvalidInput(f"{where} needs string fields 'title' and 'content'")
        if isinstance(tags, str):
            tags = parse_tags(tags)
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InvalidInput(f"{where}: 'tags' must be a list of strings")
        try:
            prompts.append(make_prompt(title, content, tags))
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc.message}") from exc
    return prompts


# -- jobs --------------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$", re.IGNORECASE)
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | int, option: str) -> int:
    """Seconds from `90`, `90s`, `30m`, `2h` or `1d`."""
    if isinstance(text, int):
        seconds = text
    else:
        match = _DURATION.match(text)
        if not match:
            raise InvalidInput(f"{option} {text!r} is not a duration (e.g. 90, 90s, 30m, 2h)")
        seconds = round(float(match.group(1)) * _UNITS[(match.group(2) or "").lower() or None])
    if seconds <= 0:
        raise InvalidInput(f"{option} must be longer than zero seconds")
    return seconds


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
# A run's stored output may be capped as low as this (the cap must leave room for a few lines).
MIN_OUTPUT_CAP = 1 << 10


def parse_size(text: str | int, option: str) -> int:
    """Bytes from `1048576`, `512K`, `64M`, `64MB`, `64MiB` or `1G` (powers of 1024)."""
    if isinstance(text, int):
        size = text
    else:
        match = _SIZE.match(text)
        if not match or (match.group(3) and match.group(3).lower() == "ib"
                         and not match.group(2)):
            raise InvalidInput(f"{option} {text!r} is not a size (e.g. 64M, 512K, 1G)")
        size = round(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    if size < MIN_OUTPUT_CAP:
        raise InvalidInput(f"{option} must be at least 1K")
    return size


def format_size(size: int) -> str:
    """Bytes as the shortest exact spelling `parse_size` reads back (64M, 1536K), else with
    one decimal (1.5G) when not exact."""
    for unit, factor in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= factor:
            whole, rest = divmod(size, factor)
            return f"{whole}{unit}" if not rest else f"{size / factor:.1f}{unit}"
    return f"{size}B"


def _output_cap(text: str | None) -> int | None:
    return None if text is None or text == "" else parse_size(text, "--max-output")


def split_list(text: str | None) -> tuple[str, ...]:
    """Tool lists as the CLI takes them: comma- or space-separated, parentheses kept whole."""
    if not text:
        return ()
    items, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch in ", " and depth == 0:
            if current.strip():
                items.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        items.append(current.strip())
    return tuple(items)


@dataclass
class JobSpec:
    """What `job create` was asked for, before validation."""

    prompt_id: int
    cron: str | None = None
    at: str | None = None
    name: str | None = None
    description: str = ""
    timezone: str | None = None
    work_dir: str | None = None
    executor: str = "claude"
    model: str | None = None
    allowed_tools: str | None = None
    disallowed_tools: str | None = None
    permission_mode: str | None = None
    max_turns: int | None = None
    max_budget_usd: float | None = None
    append_system_prompt: str | None = None
    mcp_config: str | None = None
    add_dirs: list[str] = field(default_factory=list)
    timeout: str | None = None
    idle_timeout: str | None = None
    max_output: str | None = None  # None: the daemon's cap
    retries: int = 2
    misfire: str = "latest"
    misfire_grace: str | None = None
    overlap: str = "skip"
    on_interrupt: str = "retry-unstarted"
    on_limit: str = "rerun"
    enabled: bool = True
    worktree: bool = False
    continue_session: bool = False
    variables: list[str] | tuple[str, ...] = ()  # --var NAME=VALUE, as given
    i_understand_the_risk: bool = False


def validate_claude_options(
    *,
    model: str | None = None,
    allowed_tools: str | None = None,
    disallowed_tools: str | None = None,
    permission_mode: str | None = None,
    max_turns: int | None = None,
    max_budget_usd: float | None = None,
    append_system_prompt: str | None = None,
    mcp_config: str | None = None,
    add_dirs: list[str] | None = None,
) -> ClaudeOptions:
    if model is not None and not model.strip():
        raise InvalidInput("--model is empty")
    if permission_mode is not None and permission_mode not in PERMISSION_MODES:
        raise InvalidInput(
            f"--permission-mode {permission_mode!r} is not one of {', '.join(PERMISSION_MODES)}"
        )
    if max_turns is not None and max_turns < 1:
        raise InvalidInput("--max-turns must be at least 1")
    if max_budget_usd is not None and not max_budget_usd > 0:
        raise InvalidInput("--max-budget-usd must be more than 0")
    if mcp_config is not None:
        mcp_config = _check_mcp_config(mcp_config)
    dirs = []
    for d in add_dirs or []:
        p = Path(d).expanduser()
        if not _is_dir(p, f"--add-dir {d}"):
            raise InvalidInput(f"--add-dir {d}: no such directory")
        dirs.append(str(p.absolute()))
    return ClaudeOptions(
        model=model.strip() if model else None,
        allowed_tools=split_list(allowed_tools),
        disallowed_tools=split_list(disallowed_tools),
        permission_mode=permission_mode,
        max_turns=max_turns,
        max_budget_usd=max_budget_usd,
        append_system_prompt=append_system_prompt or None,
        mcp_config=mcp_config,
        add_dirs=tuple(dirs),
    )


def _check_mcp_config(value: str) -> str:
    if value.lstrip().startswith("{"):
        try:
            json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"--mcp-config is neither a file nor valid JSON: {exc}") from exc
        return value
    path = Path(value).expanduser()
    try:
        is_file = path.is_file()
    except OSError as exc:  # a name too long for the file system, say
        raise InvalidInput(f"--mcp-config {value}: {exc.strerror or exc}") from exc
    if not is_file:
        raise InvalidInput(f"--mcp-config {value}: no such file")
    return str(path.absolute())


def check_work_dir(work_dir: str | None, default: Path) -> str:
    path = Path(work_dir).expanduser() if work_dir else default
    if not _is_dir(path, f"working directory {path}"):
        raise InvalidInput(f"working directory {path} does not exist or is not a directory")
    return str(path.absolute())


def _is_dir(path: Path, what: str) -> bool:
    """Path.is_dir, with the errors it does not swallow (a name too long for the file system,
    permission denied on a parent) turned into bad input naming `what`."""
    try:
        return path.is_dir()
    except OSError as exc:
        raise InvalidInput(f"{what}: {exc.strerror or exc}") from exc


def build_job(spec: JobSpec, prompt: Prompt, now: datetime, cwd: Path) -> Job:
    """A validated job with its first `next_run_at`, ready to store (nothing is written)."""
    if spec.cron and spec.at:
        raise InvalidInput("give either a cron expression or --at, not both")
    if not spec.cron and not spec.at:
        raise InvalidInput("a job needs a cron expression or --at DATETIME")
    timezone = validate_timezone(spec.timezone)
    schedule: Schedule
    if spec.at:
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
        max_output_bytes=_output_cap(spec.max_output),
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
    )
    review = review_job(job, prompt.content, now)
    refuse_critical(review.risk, job.risk_accepted)
    job.risk_level = review.risk.level
    job.next_run_at = schedule.next_after(now) if job.enabled else None
    return job


def check_integration(spec: JobSpec, work_dir: str) -> None:
    """The worktree and session options, checked against the executor and the directory."""
    if spec.continue_session and spec.executor != ExecutorKind.CLAUDE:
        raise InvalidInput("--continue-session needs the claude executor")
    if spec.worktree:
        from .worktree import find_repo

        find_repo(work_dir)  # a directory that is not a repository is refused now, not at 3 am


# -- reviewing a prompt before it runs (docs/integration.md) -----------------------------------


@dataclass
class Review:
    """A prompt as it would run: rendered, its @file references checked, its risk assessed."""

    rendered: str
    templated: bool
    risk: RiskReport
    refs: filerefs.RefReport
    template_warnings: list[str]

    @property
    def warnings(self) -> list[str]:
        return self.template_warnings + self.refs.warnings()

    def to_dict(self) -> dict[str, Any]:
        return {"rendered_prompt": self.rendered, "templated": self.templated,
                "risk": self.risk.to_dict(), "file_refs": self.refs.to_list(),
                "warnings": self.warnings}


def review_prompt(content: str, *, builtins: dict[str, str], variables: dict[str, str],
                  options: ClaudeOptions, work_dir: str | None, executor: str) -> Review:
    """Render the template (a variable without a value is an error), refuse @references that
    leave the working directory, warn about missing ones, and assess the risk. Critical risk
    is the caller's to refuse (`risk.refuse_critical`): it depends on what was acknowledged."""
    parsed = templates.parse(content)
    rendered = templates.render(parsed, {**builtins, **variables})
    warnings = templates.warnings(parsed, variables)
    base = work_dir or str(Path.cwd())
    refs = filerefs.check(rendered.text, base)
    refs.refuse_escapes()
    report = assess(options=options, work_dir=work_dir, prompt=rendered.text, executor=executor)
    return Review(rendered.text, rendered.templated, report, refs, warnings)


def review_job(job: Job, content: str, now: datetime) -> Review:
    builtins = templates.builtin_values(now, job.timezone, job_name=job.name, job_id=job.id,
                                        previous_status=None)
    return review_prompt(content, builtins=builtins, variables=job.template_vars,
                         options=job.options, work_dir=job.work_dir, executor=job.executor)


def adhoc_settings(spec: JobSpec, cwd: Path, *, prompt_text: str | None,
                   resume_session_id: str | None = None) -> RunSettings:
    """How an ad-hoc run (`execute`, `batch`) executes, from the same options a job takes."""
    from .execution import RunSettings

    if spec.retries < 0 or spec.retries > 20:
        raise InvalidInput("--retries must be between 0 and 20")
    options = validate_claude_options(
        model=spec.model, allowed_tools=spec.allowed_tools,
        disallowed_tools=spec.disallowed_tools, permission_mode=spec.permission_mode,
        max_turns=spec.max_turns, max_budget_usd=spec.max_budget_usd,
        append_system_prompt=spec.append_system_prompt, mcp_config=spec.mcp_config,
        add_dirs=spec.add_dirs,
    )
    if resume_session_id is not None:
        resume_session_id = resume_session_id.strip()
        if not resume_session_id or resume_session_id.startswith("-") or any(
                c.isspace() for c in resume_session_id):
            raise InvalidInput(f"--resume {resume_session_id!r} is not a session id")
        if spec.executor != ExecutorKind.CLAUDE:
            raise InvalidInput("--resume needs the claude executor")
    work_dir = check_work_dir(spec.work_dir, cwd)
    check_integration(spec, work_dir)
    return RunSettings(
        executor=ExecutorKind(spec.executor),
        work_dir=work_dir,
        options=options,
        timeout_s=parse_duration(spec.timeout or "1h", "--timeout"),
        idle_timeout_s=parse_duration(spec.idle_timeout or "10m", "--idle-timeout"),
        max_output_bytes=_output_cap(spec.max_output),
        max_attempts=spec.retries + 1,
        prompt_text=prompt_text,
        resume_session_id=resume_session_id,
        on_limit=OnLimit(spec.on_limit),
        worktree=spec.worktree,
        template_vars=templates.parse_vars(spec.variables),
        risk_accepted=spec.i_understand_the_risk,
    )


def review_adhoc(content: str, settings: RunSettings, now: datetime,
                 zone: str | None = None) -> Review:
    """`review_prompt` for a run not tied to a job (built-ins: job_name `execute`)."""
    builtins = templates.builtin_values(now, zone or system_timezone(), job_name=None,
                                        job_id=None, previous_status=None)
    return review_prompt(content, builtins=builtins, variables=settings.template_vars,
                         options=settings.options, work_dir=settings.work_dir,
                         executor=settings.executor)


def schedule_of(job: Job) -> Schedule:
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
    prompt = store.get_prompt(spec.prompt_id)
    job = build_job(spec, prompt, now, cwd)
    job_id = store.insert_job(job, now)
    trace("register", job_id=job_id, schedule=job.schedule_text, timezone=job.timezone,
          enabled=job.enabled, next_run_at=job.next_run_at.isoformat() if job.next_run_at else None)
    return store.get_job(job_id)


def pause_job(store: Store, job_id: int, now: datetime) -> Job:
    store.get_job(job_id)
    store.set_job_enabled(job_id, False, None, now)
    return store.get_job(job_id)


def resume_job(store: Store, job_id: int, now: datetime) -> Job:
    """Enable a job; its next run is the first fire time after now (past ones are not owed)."""
    job = store.get_job(job_id)
    store.set_job_enabled(job_id, True, schedule_of(job).next_after(now), now)
    return store.get_job(job_id)
