"""`cnp init`, `cnp status` and `cnp health`: the database, the daemon, and what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from click.exceptions import Exit

from ..config import resolve_db
from .app import Env, cli, common, echo, pass_env
from .output import emit, fields, table, when


@cli.command()
@common
@pass_env
def init(env: Env) -> None:
    """Create the database (or migrate an existing one) and say where it is."""
    from .guide import FIRST_STEPS, next_steps, warn_preflight

    location = resolve_db(env.db)
    existed = location.path.exists() if location.path is not None else True
    store = env.store()
    counts = store.counts()
    steps = list(FIRST_STEPS if not counts["prompts"] else
                 FIRST_STEPS[1:] if not counts["jobs"] else ["cnp daemon", "cnp status"])
    data = {
        "database": location.display(),
        "created": not existed,
        "schema_version": store.schema_version(),
        "warnings": warn_preflight(env),
        "next_steps": steps,
    }

    def pretty() -> None:
        verb = "Created" if data["created"] else "Using existing"
        echo(f"{verb} database {data['database']} (schema version {data['schema_version']})")
        next_steps(env, steps)

    emit(env.fmt, data, pretty)


@cli.command()
@common
@pass_env
def status(env: Env) -> None:
    """One screen: the database, the daemon, any usage limit, recent failures, today's usage."""
    from ..daemons import daemon_alive
    from ..health import status_report

    store = env.store()
    now = datetime.now(UTC)
    local_midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0,
                                                         microsecond=0)
    data = status_report(store, now, database=resolve_db(env.db).display(),
                         daemon=daemon_alive(store, now), since=local_midnight.astimezone(UTC))
    today = data["today"]

    def pretty() -> None:
        counts = data["counts"]
        d = data["daemon"]
        c = data["cooldown"]
        cost = today["cost_usd"]
        fields([
            ("database", f"{data['database']} (schema {data['schema_version']})"),
            ("jobs", f"{counts['jobs']} ({counts['jobs_enabled']} enabled), "
                     f"{counts['prompts']} prompts, {counts['runs']} runs"),
            ("daemon", f"pid {d['pid']} on {d['host']}" if d else "not running"),
            ("usage limit", f"{c['kind']} until {when(c['reset_at'], None, now)}"
                            if c else "none"),
            ("next run", when(data["next_run_at"], None, now)),
            ("today", f"{today['runs']} runs, {today['input_tokens']} in / "
                      f"{today['output_tokens']} out tokens, "
                      + (f"${cost:.4f}" if cost is not None else "cost unknown")),
        ])
        if data["running"]:
            echo("\nrunning:")
            table(["id", "job", "started", "API retries"],
                  [(r["id"], r["job_name"] or "-", when(r["started_at"], None, now),
                    r["api_retry"])
                   for r in data["running"]])
        if data["last_failures"]:
            echo("\nrecent failures:")
            table(["id", "job", "finished", "reason"],
                  [(f["id"], f["job_name"] or "-", when(f["finished_at"], None, now),
                    "; ".join(p for p in (f["reason"], f["api_retry"]) if p))
                   for f in data["last_failures"]])

    emit(env.fmt, data, pretty)


@cli.command()
@click.option("--fast", is_flag=True,
              help="Only cheap checks, from cached facts (no subprocess, no integrity scan).")
@common
@pass_env
def health(env: Env, fast: bool) -> None:
    """Check the database, the Claude CLI, the daemon, usage limits and disk; exit 1 if unwell."""
    from .. import health as health_mod

    report = health_mod.check(resolve_db(env.db), datetime.now(UTC), fast=fast)
    data = report.to_dict()

    def pretty() -> None:
        for c in report.checks:
            mark = "ok" if c.ok else ("WARN" if c.severity == "warning" else "FAIL")
            echo(f"{mark:>4}  {c.name:<16} {c.summary}")
        echo("")
        echo("healthy" if report.healthy else "UNHEALTHY: " + "; ".join(report.problems))

    emit(env.fmt, data, pretty)
    if not report.healthy:
        raise Exit(1)



