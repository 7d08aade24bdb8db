"""The JSON shapes of prompts, jobs and runs, shared by `cnp --format json` and the web API so a
script can move between them. Nothing here carries a secret: inline MCP configurations are
shown with their `env` and `headers` values and any secret-named value masked, in a run's argv
too. No I/O.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .execution import Execution
    from .models import Job, Prompt

MASK = "***"
_SECRET_NAME = re.compile(r"(?i)(token|secret|passw|api[_-]?key|auth|credential|cookie)")


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def mask_mcp_config(value: str | None) -> str | None:
    """An MCP configuration safe to show: a file path as is; inline JSON with secret values
    masked (everything under `env` and `headers`, and any secret-looking key)."""
    if value is None or not value.lstrip().startswith("{"):
        return value
    try:
        doc = json.loads(value)
    except json.JSONDecodeError:
        return MASK
    return json.dumps(_mask(doc, False), sort_keys=True)


def _mask(node: Any, secret: bool) -> Any:
    if isinstance(node, dict):
        return {k: _mask(v, secret or k in ("env", "headers") or bool(_SECRET_NAME.search(k)))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_mask(v, secret) for v in node]
    if secret and node is not None:
        return MASK
    return node


def mask_argv(argv: list[str] | None) -> list[str] | None:
    if argv is None:
        return None
    out = list(argv)
    for i, arg in enumerate(out[:-1]):
        if arg == "--mcp-config":
            out[i + 1] = mask_mcp_config(out[i + 1]) or ""
    return out


def prompt_dict(p: Prompt) -> dict[str, Any]:
    return {
        "id": p.id,
        "title": p.title,
        "content": p.content,
        "tags": p.tags,
        "created_at": iso(p.created_at),
        "updated_at": iso(p.updated_at),
    }


def options_dict(job_options: Any) -> dict[str, Any]:
    data: dict[str, Any] = job_options.to_dict()
    if "mcp_config" in data:
        data["mcp_config"] = mask_mcp_config(data["mcp_config"])
    return data


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
        "options": options_dict(job.options),
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
        "retry_of": e.retry_of,
        "cancel_requested_at": iso(e.cancel_requested_at),
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
        "argv": mask_argv(e.argv),
    }
