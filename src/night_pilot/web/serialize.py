"""JSON shapes of prompts, jobs and runs as the API and the pages share them: the shared shapes
of `night_pilot.shapes` (the same as `cnp … --format json`) plus the API's own listings.
"""

from __future__ import annotations

from typing import Any

from ..shapes import (
    MASK as MASK,
    cooldown_dict as cooldown_dict,
    iso as iso,
    job_dict as job_dict,
    mask_argv as mask_argv,
    mask_mcp_config as mask_mcp_config,
    options_dict as options_dict,
    prompt_dict as prompt_dict,
    run_dict as run_dict,
)


def run_row_dict(r: dict[str, Any]) -> dict[str, Any]:
    """A listed run (store.runs.page and friends) in the API's field names."""
    return {
        "id": r["id"],
        "job_id": r["job_id"],
        "job_name": r["job_name"],
        "status": r["status"],
        "reason": r["reason"],
        "trigger": r["trigger"],
        "attempt": r["attempt"],
        "executor": r["executor"],
        "scheduled_for": iso(r["scheduled_for"]),
        "created_at": iso(r["created_at"]),
        "started_at": iso(r["started_at"]),
        "finished_at": iso(r["finished_at"]),
        "retry_at": iso(r["retry_at"]),
        "duration_ms": r["duration_ms"],
        "model": r["model"],
        "total_cost_usd": r["total_cost_usd"],
        "tokens": {
            "input": r["input_tokens"],
            "output": r["output_tokens"],
            "cache_creation": r["cache_creation_tokens"],
            "cache_read": r["cache_read_tokens"],
        },
        "limit_kind": r["limit_kind"],
    }
