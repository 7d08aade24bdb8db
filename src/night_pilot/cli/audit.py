"""`cnp audit`: the audit log, newest first: who created, changed or deleted what, and for every
run the prompt's SHA-256, the argv (secrets redacted), the risk level and what triggered it."""

from __future__ import annotations

import hashlib
from typing import Any

import click
from click.exceptions import Exit

from .app import Env, cli, common, pass_env
from .output import emit, iso, table


def _summary(entry: dict[str, Any]) -> str:
    d = entry["details"]
    if entry["entity"] == "execution" and entry["action"] in ("run", "refuse"):
        job = f"job {d['job_id']}" if d.get("job_id") is not None else "execute"
        parts = [f"{job} attempt {d.get('attempt')}"]
        top = [t["trigger"] for t in d.get("risk_triggers", [])
               if t["level"] == d.get("risk_level")]
        if top:
            parts.append("triggers: " + "; ".join(top))
        if d.get("worktree"):
            parts.append(f"worktree {d['worktree']['branch']}")
        if d.get("resume_session_id"):
            parts.append(f"resumes {d['resume_session_id']}")
        if entry["action"] == "refuse":
            parts.append(str(d.get("reason")))
        return ", ".join(parts)
    return ", ".join(f"{k}={v}" for k, v in d.items() if not isinstance(v, (dict, list)))


@cli.command("audit")
@click.option("--job", "job_id", type=int, help="Only this job and its runs.")
@click.option("--run", "--execution", "run_id", type=int, help="Only this run.")
@click.option("--action", help="Only entries of this action (run, refuse, create, …).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--verify", is_flag=True,
              help="Check each run's recorded SHA-256 against the prompt text stored with it.")
@common
@pass_env
def audit(env: Env, job_id: int | None, run_id: int | None, action: str | None,
          limit: int, verify: bool) -> None:
    """Show the audit log, newest first."""
    store = env.store()
    entries = store.audit.log(job_id=job_id, run_id=run_id, action=action,
                              limit=limit)
    rows = []
    mismatches = 0
    for e in entries:
        sha = e["details"].get("prompt_sha256")
        item = {**e, "at": iso(e["at"])}
        if verify and sha and e["entity"] == "execution":
            text = store.runs.prompt_text(e["entity_id"])
            same = text is not None and hashlib.sha256(text.encode()).hexdigest() == sha
            item["verified"] = same
            mismatches += not same
        rows.append(item)

    def pretty() -> None:
        headers = ["id", "at", "actor", "action", "entity", "risk", "prompt sha256", "details"]
        if verify:
            headers.insert(7, "verified")
        body = []
        for r in rows:
            d = r["details"]
            sha = d.get("prompt_sha256")
            row = [r["id"], e_time(r["at"]), r["actor"], r["action"],
                   f"{r['entity']} {r['entity_id'] if r['entity_id'] is not None else ''}".strip(),
                   d.get("risk_level"), sha[:16] if sha else None, _summary(r)]
            if verify:
                checked = r.get("verified")
                row.insert(7, None if checked is None else "ok" if checked else "MISMATCH")
            body.append(row)
        table(headers, body)

    emit(env.fmt, {"entries": rows, **({"mismatches": mismatches} if verify else {})}, pretty)
    if mismatches:
        raise Exit(1)


def e_time(value: str | None) -> str | None:
    return value[:19].replace("T", " ") if value else None
