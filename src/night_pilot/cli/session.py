"""`cnp session list|show`: runs grouped by Claude session, with their tokens and cost.

A session is what `claude` reports as `session_id`; a run that resumed it (`execute --resume`,
a `--continue-session` job, a usage-limit resume) reports the same id, so one session collects
every run that continued the conversation."""

from __future__ import annotations

from typing import Any

import click

from ..errors import InvalidInput, NotFound
from .app import Env, cli, common, echo, pass_env
from .output import emit, fields, iso, table


def _cost(value: float | None) -> str | None:
    return f"${value:.4f}" if value is not None else None


def _tokens(d: dict[str, Any]) -> str:
    return (f"{d['input_tokens']} in / {d['output_tokens']} out / cache "
            f"{d['cache_creation_tokens']}+{d['cache_read_tokens']}")


@cli.group("session")
def session() -> None:
    """Claude sessions: the runs that share a conversation."""


@session.command("list")
@click.option("--job", "job_id", type=int, help="Only sessions with a run of this job.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True)
@common
@pass_env
def session_list(env: Env, job_id: int | None, limit: int) -> None:
    """List sessions, most recently active first."""
    rows = env.store().sessions.recent(job_id=job_id, limit=limit)
    data = {"sessions": [{**r, "first_at": iso(r["first_at"]), "last_at": iso(r["last_at"])}
                         for r in rows]}
    emit(env.fmt, data, lambda: table(
        ["session", "runs", "jobs", "last active", "last status", "turns", "tokens in",
         "tokens out", "cache", "cost"],
        [(r["session_id"], r["runs"], ",".join(map(str, r["job_ids"])) or "-",
          r["last_at"].strftime("%Y-%m-%d %H:%M:%S") if r["last_at"] else None,
          r["last_status"], r["turns"], r["input_tokens"], r["output_tokens"],
          f"{r['cache_creation_tokens']}+{r['cache_read_tokens']}", _cost(r["cost_usd"]))
         for r in rows]))


def _resolve(env: Env, given: str) -> str:
    store = env.store()
    matches = store.sessions.ids_like(given)
    if given in matches:
        return given
    if not matches:
        raise NotFound(f"no run reported session {given}")
    if len(matches) > 1:
        raise InvalidInput(f"session {given} is ambiguous: {', '.join(matches)}",
                           hint="give more of the id")
    return matches[0]


@session.command("show")
@click.argument("session_id", help="A Claude session id, or a unique prefix of one.")
@common
@pass_env
def session_show(env: Env, session_id: str) -> None:
    """Show a session's runs in order, with totals (a unique prefix of the id will do)."""
    sid = _resolve(env, session_id)
    store = env.store()
    runs = store.sessions.runs(sid)
    total: dict[str, Any] = {
        "input_tokens": sum(r.input_tokens or 0 for r in runs),
        "output_tokens": sum(r.output_tokens or 0 for r in runs),
        "cache_creation_tokens": sum(r.cache_creation_tokens or 0 for r in runs),
        "cache_read_tokens": sum(r.cache_read_tokens or 0 for r in runs),
    }
    costs = [r.total_cost_usd for r in runs if r.total_cost_usd is not None]
    total["cost_usd"] = sum(costs) if costs else None
    items = [{
        "run_id": r.id, "job_id": r.job_id, "job_name": r.job_name,
        "attempt": r.attempt, "trigger": str(r.trigger), "status": str(r.status),
        "started_at": iso(r.started_at), "finished_at": iso(r.finished_at),
        "resumed": r.settings.resume_session_id == sid, "num_turns": r.num_turns,
        "tokens": {"input": r.input_tokens, "output": r.output_tokens,
                   "cache_creation": r.cache_creation_tokens, "cache_read": r.cache_read_tokens},
        "total_cost_usd": r.total_cost_usd, "reason": r.reason,
    } for r in runs]
    data = {"session_id": sid, "runs": items, "totals": total,
            "job_ids": sorted({r.job_id for r in runs if r.job_id is not None})}

    def pretty() -> None:
        fields([("session", sid), ("runs", len(runs)),
                ("jobs", ", ".join(map(str, data["job_ids"])) or None),
                ("tokens", _tokens(total)), ("cost", _cost(total["cost_usd"]))])
        echo("")
        table(["run", "job", "try", "started", "status", "how", "tokens in", "tokens out",
               "cost", "reason"],
              [(r.id, r.job_name or ("-" if r.job_id is None else r.job_id), r.attempt,
                r.started_at.strftime("%Y-%m-%d %H:%M:%S") if r.started_at else None, r.status,
                "resumed" if r.settings.resume_session_id == sid else "started",
                r.input_tokens, r.output_tokens, _cost(r.total_cost_usd), r.reason)
               for r in runs])

    emit(env.fmt, data, pretty)
