"""The options of a job or an ad-hoc run, checked: what `job create`, `execute` and `batch` were
asked for (`JobSpec`), the Claude options, the working directory, the worktree and session
options, and the settings an ad-hoc run executes with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .. import templates
from ..errors import InvalidInput
from ..models import PERMISSION_MODES, ClaudeOptions, ExecutorKind, OnLimit
from .units import output_cap, parse_duration

if TYPE_CHECKING:
    from ..models import RunSettings


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
    quota_ceiling: str | float | None = None  # percent of the five-hour window, as given
    weekly_ceiling: str | float | None = None  # percent of the seven-day window, as given
    when: str | None = None  # "spare": no fire time, runs on spare capacity
    spare_window: str | None = None  # lead time before the five-hour reset (default 45m)


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


def check_integration(spec: JobSpec, work_dir: str) -> None:
    """The worktree and session options, checked against the executor and the directory."""
    if spec.continue_session and spec.executor != ExecutorKind.CLAUDE:
        raise InvalidInput("--continue-session needs the claude executor")
    if spec.worktree:
        from ..worktree import find_repo

        find_repo(work_dir)  # a directory that is not a repository is refused now, not at 3 am


def adhoc_settings(spec: JobSpec, cwd: Path, *, prompt_text: str | None,
                   resume_session_id: str | None = None) -> RunSettings:
    """How an ad-hoc run (`execute`, `batch`) executes, from the same options a job takes."""
    from ..models import RunSettings

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
        max_output_bytes=output_cap(spec.max_output),
        max_attempts=spec.retries + 1,
        prompt_text=prompt_text,
        resume_session_id=resume_session_id,
        on_limit=OnLimit(spec.on_limit),
        worktree=spec.worktree,
        template_vars=templates.parse_vars(spec.variables),
        risk_accepted=spec.i_understand_the_risk,
    )
