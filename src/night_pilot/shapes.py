"""The JSON shapes of prompts, jobs and runs, shared by `cnp --format json` and the web API so a
script can move between them. Nothing here carries a secret: inline MCP configurations are
shown with their `env` and `headers` values and any secret-named value masked, in a run's argv
too. No I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Job, Prompt, Run


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
    """A job's `claude` options (`ClaudeOptions`) as shown: the ones set, by name."""
    return _shown_options(job_options.to_dict())


def _shown_options(data: dict[str, Any]) -> dict[str, Any]:
    # In name order, as they are stored (`ClaudeOptions.to_json`), so that a listing can show
    # the stored text's options without building a `ClaudeOptions` (`job_dicts`).
    shown = dict(sorted(data.items()))
    if "mcp_config" in shown:
        shown["mcp_config"] = mask_mcp_config(shown["mcp_config"])
    return shown


# The job shape, in order. Each key is a `Job` attribute and a stored column of the same name;
# its kind says how the value is written: "value" as it is, "time" as ISO 8601 text (`iso`),
# "enum" as the member's text, "flag" as a boolean, "options" as `options_dict`, "object" as a
# JSON object. `job_dict` fills the shape from a `Job`, `job_dicts` from stored rows.
JOB_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "value"), ("name", "value"), ("description", "value"), ("prompt_id", "value"),
    ("cron_expr", "value"), ("run_at", "time"), ("timezone", "value"), ("enabled", "flag"),
    ("next_run_at", "time"), ("last_status", "value"), ("last_run_at", "time"),
    ("work_dir", "value"), ("executor", "enum"), ("options", "options"),
    ("timeout_s", "value"), ("idle_timeout_s", "value"), ("max_output_bytes", "value"),
    ("retries", "value"),
    ("misfire", "enum"), ("misfire_grace_s", "value"), ("overlap", "enum"),
    ("on_interrupt", "enum"), ("on_limit", "enum"), ("quota_ceiling", "value"),
    ("weekly_ceiling", "value"), ("spare_window_s", "value"), ("created_at", "time"),
    ("updated_at", "time"), ("deleted_at", "time"),
)
# What `cnp job …` shows besides (after the schedule's description, if any): the integration
# settings (docs/integration.md).
JOB_SETTINGS: tuple[tuple[str, str], ...] = (
    ("worktree", "flag"), ("continue_session", "flag"), ("template_vars", "object"),
    ("risk_level", "value"), ("risk_accepted", "flag"),
)

# How a `Job`'s attribute of each kind is written (None: as it is).
_FROM_JOB: dict[str, Callable[[Any], Any] | None] = {
    "value": None, "flag": None, "object": None, "time": iso, "enum": str,
    "options": options_dict,
}


def job_dict(job: Job, description: str | None = None, *,
             settings: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, kind in JOB_FIELDS:
        convert = _FROM_JOB[kind]
        data[key] = getattr(job, key) if convert is None else convert(getattr(job, key))
    if description is not None:
        data["schedule_description"] = description
    if settings:
        for key, kind in JOB_SETTINGS:
            convert = _FROM_JOB[kind]
            data[key] = getattr(job, key) if convert is None else convert(getattr(job, key))
    return data


def iso_text(text: str | None) -> str | None:
    """`iso` of the instant an ISO 8601 text names (`iso(datetime.fromisoformat(text))`).

    Times are stored as fixed-width UTC text (`2026-11-28T03:00:00.000000Z`); text of that
    shape is rewritten by slicing, ten times cheaper than parsing and `isoformat` (which leaves
    out a zero fraction), and is trusted to be a valid time, as the store wrote it. Any other
    form is parsed.
    """
    if text is None:
        return None
    if len(text) == 27 and text[26] == "Z" and text[10] == "T" and text[19] == ".":
        return (text[:19] if text[20:26] == "000000" else text[:26]) + "+00:00"
    return iso(datetime.fromisoformat(text))


def _json_object(text: str | None) -> Any:
    return json.loads(text) if text and text != "{}" else {}


def job_dicts(columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
              settings: bool = False) -> list[dict[str, Any]]:
    """`job_dict` of each job as stored (`store.jobs.rows`: column names, then one tuple of stored
    values per job), without building a `Job`: `cnp job list` shows a thousand of them.

    Stored values: times as ISO 8601 text, flags as 0/1, options (`ClaudeOptions.to_json`:
    the options set) and objects as JSON text, enum members as their text (the schema admits
    no other). Jobs with the same options share one `options` dict: read it, do not change it.
    """
    masked: dict[str | None, dict[str, Any]] = {}

    def options(text: str | None) -> dict[str, Any]:
        data = masked.get(text)
        if data is None:
            data = masked[text] = _shown_options(json.loads(text) if text else {})
        return data

    from_row: dict[str, Callable[[Any], Any] | None] = {
        "value": None, "enum": None, "time": iso_text, "flag": bool, "object": _json_object,
        "options": options,
    }
    at = {name: i for i, name in enumerate(columns)}
    plan = [(key, at[key], from_row[kind])
            for key, kind in (JOB_FIELDS + JOB_SETTINGS if settings else JOB_FIELDS)]
    listed = []
    for row in rows:
        data: dict[str, Any] = {}
        for key, i, convert in plan:
            data[key] = row[i] if convert is None else convert(row[i])
        listed.append(data)
    return listed


def cooldown_dict(active: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    """The usage limit in force (`store.cooldowns.active(now)`, None if none), at `now`."""
    if active is None:
        return {"active": False, "kind": None, "reset_at": None, "detected_at": None,
                "source_execution_id": None, "seconds_left": 0, "message": None}
    return {
        "active": True,
        "kind": active["kind"],
        "reset_at": iso(active["reset_at"]),
        "detected_at": iso(active["detected_at"]),
        "source_execution_id": active["source_execution_id"],
        "seconds_left": max(0, int((active["reset_at"] - now).total_seconds())),
        "message": active["message"],
    }


def run_dict(e: Run) -> dict[str, Any]:
    return {
        "id": e.id,
        "run_id": e.id,
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
        "output": {
            "max_bytes": e.settings.max_output_bytes,
            "truncated": e.output_dropped_bytes is not None,
            "dropped_lines": e.output_dropped_lines,
            "dropped_bytes": e.output_dropped_bytes,
        },
        "prompt_sha256": e.prompt_sha256,
        "argv": mask_argv(e.argv),
        "quota": {
            "five_hour": {"utilization": e.quota_5h_utilization,
                          "resets_at": iso(e.quota_5h_resets_at)},
            "seven_day": {"utilization": e.quota_7d_utilization,
                          "resets_at": iso(e.quota_7d_resets_at)},
            "seen_at": iso(e.quota_seen_at),
            "basis": e.quota_basis,
        },
    }
