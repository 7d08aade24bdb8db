"""How the CLI speaks: one JSON document on stdout, or a readable rendering; errors on stderr.

Also the JSON shapes of the domain objects, shared by every command that prints them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from ..errors import CnpError

if TYPE_CHECKING:
    from ..execution import Execution
    from ..models import Job, Prompt


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def prompt_dict(p: Prompt) -> dict[str, Any]:
    return {
        "id": p.id,
        "title": p.title,
        "content": p.content,
        "tags": p.tags,
        "created_at": iso(p.created_at),
        "updated_at": iso(p.updated_at),
    }


def job_dict(job: Job, description: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": job.id,
        "name": job.name,
        "description": job.description,
        "prompt_id": job.prompt_id,
        "cron_expr": job.cron_expr,
        "run_at": iso(job.run_at),
        "timezone": job.timezone,
        "enabled": job.enabled,
        "next_run_at": iso(job.next_run_at),
        "last_status": job.last_status,
        "last_run_at": iso(job.last_run_at),
        "work_dir": job.work_dir,
        "executor": str(job.executor),
        "options": job.options.to_dict(),
        "timeout_s": job.timeout_s,
        "idle_timeout_s": job.idle_timeout_s,
        "retries": job.retries,
        "misfire": str(job.misfire),
        "misfire_grace_s": job.misfire_grace_s,
        "overlap": str(job.overlap),
        "on_interrupt": str(job.on_interrupt),
        "on_limit": str(job.on_limit),
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
        "deleted_at": iso(job.deleted_at),
    }
    if description is not None:
        data["schedule_description"] = description
    return data


def local_time(value: datetime | None, zone: str) -> str:
    if value is None:
        return "-"
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def emit(fmt: str, data: Any, pretty: Callable[[], None] | None = None) -> None:
    """Print `data` as one JSON document, or call `pretty` to render it for people."""
    if fmt == "json" or pretty is None:
        # Indented for a person at a terminal; compact (and several times faster to encode)
        # when another program reads it.
        indent = 2 if sys.stdout.isatty() else None
        click.echo(json.dumps(data, indent=indent, ensure_ascii=False, default=str))
    else:
        pretty()


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table; cells are cut to keep one row per line."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, v in enumerate(row):
            widths[i] = min(max(widths[i], len(v)), 48)
    line = "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))
    click.echo(line.rstrip())
    for row in cells:
        parts = [_fit(v, w).ljust(w) for v, w in zip(row, widths, strict=True)]
        click.echo("  ".join(parts).rstrip())
    if not rows:
        click.echo("(none)")


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        click.echo(f"{key.ljust(width)}  {_cell(value)}")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "-"
    return str(value).replace("\n", " ")


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def report_error(exc: CnpError | click.ClickException, fmt: str) -> int:
    if isinstance(exc, CnpError):
        code, data = exc.exit_code, exc.to_dict()
    else:
        code = exc.exit_code
        data = {"error": "usage", "message": exc.format_message()}
    if fmt == "json":
        click.echo(json.dumps(data, ensure_ascii=False), err=True)
    else:
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            click.echo(exc.ctx.get_usage(), err=True)
        click.echo(f"Error: {data['message']}", err=True)
        for cause in data.get("cause", []):  # type: ignore[attr-defined]
            click.echo(f"  caused by: {cause}", err=True)
        if data.get("hint"):
            click.echo(f"Hint: {data['hint']}", err=True)
    return code


def requested_format(argv: Sequence[str]) -> str:
    """The --format asked for, read from argv so that parse errors can honour it too."""
    for i, arg in enumerate(argv):
        if arg == "--format" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--format="):
            return arg.split("=", 1)[1]
    return "pretty"


def stdin_text() -> bytes:
    return sys.stdin.buffer.read()


def execution_dict(e: Execution) -> dict[str, Any]:
    return {
        "id": e.id,
        "execution_id": e.id,
        "job_id": e.job_id,
        "job_name": e.job_name,
        "status": str(e.status),
        "reason": e.reason,
        "trigger": str(e.trigger),
        "attempt": e.attempt,
        "max_attempts": e.settings.max_attempts,
        "executor": str(e.settings.executor),
        "scheduled_for": iso(e.scheduled_for),
        "created_at": iso(e.created_at),
        "started_at": iso(e.started_at),
        "finished_at": iso(e.finished_at),
        "retry_at": iso(e.retry_at),
        "work_dir": e.settings.work_dir,
        "claimed_by": e.claimed_by,
        "pid": e.pid,
        "exit_code": e.exit_code,
        "session_id": e.session_id,
        "model": e.model,
        "num_turns": e.num_turns,
        "duration_ms": e.duration_ms,
        "duration_api_ms": e.duration_api_ms,
        "total_cost_usd": e.total_cost_usd,
        "tokens": {
            "input": e.input_tokens,
            "output": e.output_tokens,
            "cache_creation": e.cache_creation_tokens,
            "cache_read": e.cache_read_tokens,
        },
        "permission_denials": e.permission_denials,
        "terminal_reason": e.terminal_reason,
        "limit_kind": e.limit_kind,
        "limit_reset_at": iso(e.limit_reset_at),
        "api_error_status": e.api_error_status,
        "result": e.result_text,
        "stderr_tail": e.stderr_tail,
        "prompt_sha256": e.prompt_sha256,
        "argv": e.argv,
    }
