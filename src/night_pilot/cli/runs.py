"""`cnp execute`, `cnp job trigger`, `cnp runs`, `cnp run show|cancel|list` and
`cnp daemon`: starting runs and reading what they did."""

from __future__ import annotations

import copy
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from click.exceptions import Exit

from .. import catalog
from ..models import TERMINAL_STATUSES, Run, RunStatus
from .app import ALIASES, Env, cli, common, echo, pass_env
from .jobs import run_options
from .output import emit, fields, run_dict, table, when


def _now() -> datetime:
    return datetime.now(UTC)


def run_in_foreground(env: Env, run: Run, *, retry_base_s: float | None = None
                      ) -> Run:
    """Execute a pending run in this process, following its retries to the final outcome."""
    from ..daemons import instance_id
    from ..runner import Runner, RunnerConfig
    from ..runs import run_to_end

    store = env.store()
    host = socket.gethostname()
    config = RunnerConfig()
    if retry_base_s is not None:
        config.retry_base_s = retry_base_s
    done = run_to_end(store, Runner(store, instance_id(host), _now, config), run, host=host,
                      on_retry=_tell_retry if env.fmt != "json" else None)
    _deliver_notifications(env)
    return done


def _tell_retry(failed: Run, follow: Run, wait_s: float) -> None:
    """On stderr, beside the readable result: why an attempt failed and how long until the
    next one."""
    click.echo(f"attempt {failed.attempt} (run {failed.id}) failed: {failed.reason}", err=True)
    click.echo(f"attempt {follow.attempt} (run {follow.id}) starts in {_seconds(wait_s)}",
               err=True)


def _seconds(s: float) -> str:
    whole = round(s)
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


def _deliver_notifications(env: Env) -> None:
    """Without a daemon nobody else delivers what this run produced: do it before exiting."""
    from ..notify import deliver

    deliver(env.store(), _now())


def wait_for(env: Env, run: Run, poll: float = 0.25) -> Run:
    """Wait for a daemon to finish a run (and any retries it schedules)."""
    from ..runs import next_attempt

    store = env.store()
    while True:
        current = store.runs.get(run.id)
        if current.status in TERMINAL_STATUSES:
            follow = next_attempt(store, current) if current.status == RunStatus.FAILED else None
            if follow is None:
                return current
            run = follow
        time.sleep(poll)


def _render_result(e: Run, retries: tuple[int, str] | None = None) -> None:
    fields([
        ("run", e.id), ("status", e.status), ("reason", e.reason),
        *([("API retries", retries[1])] if retries else []),
        ("session", e.session_id), ("model", e.model),
        ("tokens", f"in {e.input_tokens or 0} / out {e.output_tokens or 0} / cache "
                   f"{e.cache_creation_tokens or 0}+{e.cache_read_tokens or 0}"),
        ("cost", f"${e.total_cost_usd:.6f}" if e.total_cost_usd is not None else None),
        ("duration", f"{e.duration_ms} ms" if e.duration_ms is not None else None),
        ("permission denials", len(e.permission_denials or [])),
        ("risk", e.risk_level),
        *([("resumed session", e.settings.resume_session_id)]
          if e.settings.resume_session_id else []),
        *([("worktree", f"{e.worktree_branch} at {e.worktree_path} ({e.worktree_state})")]
          if e.worktree_branch else []),
        *([("file references", ", ".join(f"@{r['ref']} {r['status']}" for r in e.file_refs))]
          if e.file_refs else []),
    ])
    if e.result_text:
        echo("")
        echo(e.result_text)


def run_data(e: Run, retries: tuple[int, str] | None = None) -> dict[str, Any]:
    """A run as JSON: the shared shape plus what the integration recorded at spawn, and the
    CLI's own API retries (`retries`: their count and note)."""
    return {**run_dict(e), "api_retries": retries[0] if retries else 0,
            "api_retry": retries[1] if retries else None,
            "resume_session_id": e.settings.resume_session_id,
            "worktree": e.settings.worktree, "worktree_branch": e.worktree_branch,
            "worktree_path": e.worktree_path, "worktree_base": e.worktree_base,
            "worktree_state": e.worktree_state, "rendered": e.rendered,
            "file_refs": e.file_refs, "risk_level": e.risk_level}


def _outcome(env: Env, e: Run) -> None:
    from ..runs import api_retry_notes
    from .guide import deferred_rerun, deferred_steps, next_steps

    retries = api_retry_notes(env.store(), {e.id: e.status}).get(e.id)
    data = run_data(e, retries)
    follow = deferred_rerun(env.store(), e)
    steps = deferred_steps(follow) if follow is not None else []
    if steps:
        data["next_steps"] = steps

    def pretty() -> None:
        _render_result(e, retries)
        next_steps(env, steps, lead="\nNote")

    emit(env.fmt, data, pretty)
    if e.status != RunStatus.COMPLETED:
        raise Exit(1)


@cli.command("execute")
@click.option("--prompt", "prompt_text", metavar="TEXT", help="The prompt text.")
@click.option("--file", "file", metavar="F", help="Read the prompt from a UTF-8 file.")
@click.option("--stdin", is_flag=True, help="Read the prompt from standard input.")
@click.option("--mode", type=click.Choice(["sync", "async"]), default="sync", show_default=True,
              help="sync: run here and print the result; async: leave it to the daemon.")
@click.option("--cooldown-check/--no-cooldown-check", default=True, show_default=True,
              help="Refuse to start while a usage limit is in force.")
@click.option("--force", is_flag=True, help="Start even while a usage limit is in force.")
@click.option("--resume", "resume", metavar="SESSION",
              help="Continue this Claude session (see `cnp session list`).")
@run_options
@common
@pass_env
def execute(env: Env, /, prompt_text: str | None, file: str | None, stdin: bool, mode: str,
            cooldown_check: bool, force: bool, resume: str | None, add_dirs: tuple[str, ...],
            **opts: Any) -> None:
    """Run a prompt once, now, recorded like any job run."""
    from .. import runs
    from .jobs import warn
    from .prompts import _content

    text = _content(prompt_text, file, stdin)
    if cooldown_check and not force and opts.get("executor", "claude") == "claude":
        runs.refuse_during_cooldown(
            env.store(), _now(),
            hint="wait for the reset, or pass --force to try anyway (it may spend quota)")
    spec = catalog.JobSpec(prompt_id=0, cron="@daily", add_dirs=list(add_dirs), **opts)
    settings = catalog.adhoc_settings(spec, Path.cwd(), prompt_text=text,
                                      resume_session_id=resume)
    run, review = runs.create_adhoc(env.store(), settings, _now())
    warn(env, review.warnings)
    if mode == "async":
        emit(env.fmt, run_data(run),
             lambda: echo(f"Queued run {run.id}; a running daemon will start it"))
        return
    _outcome(env, run_in_foreground(env, run))


_LIST_OPTIONS = [
    click.option("--job", "job_id", type=int, help="Only runs of this job."),
    click.option("--status", type=click.Choice(RunStatus.values()),
                 help="Only runs in this state."),
    click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True,
                 help="At most this many runs."),
    click.option("--wide", is_flag=True, help="Show every cell whole (reasons are not cut)."),
]


def _list_command(fn: Any) -> Any:
    """The options of a run listing, and the shared ones."""
    fn = common(pass_env(fn))
    for declare in reversed(_LIST_OPTIONS):
        fn = declare(fn)
    return fn


def _list_runs(env: Env, job_id: int | None, status: str | None, limit: int,
               wide: bool) -> None:
    from ..runs import api_retry_notes

    runs = env.store().runs.recent(job_id=job_id, status=status, limit=limit)
    retries = api_retry_notes(env.store(), {r.id: r.status for r in runs})
    now = _now()
    emit(env.fmt, {"runs": [run_data(r, retries.get(r.id)) for r in runs]}, lambda: table(
        ["id", "job", "status", "try", "scheduled", "duration", "tokens", "cost", "reason"],
        [(r.id, r.job_name or ("-" if r.job_id is None else r.job_id), r.status, r.attempt,
          when(r.scheduled_for, None, now),
          f"{r.duration_ms / 1000:.1f}s" if r.duration_ms is not None else None,
          (r.input_tokens or 0) + (r.output_tokens or 0) if r.input_tokens is not None else None,
          f"${r.total_cost_usd:.4f}" if r.total_cost_usd is not None else None,
          "; ".join(p for p in (r.reason, retries.get(r.id, (0, ""))[1]) if p) or None)
         for r in runs], wide=wide, last_width=72))


@cli.command("runs")
@_list_command
def runs_(env: Env, job_id: int | None, status: str | None, limit: int, wide: bool) -> None:
    """List runs, newest first (also `cnp run list`)."""
    _list_runs(env, job_id, status, limit, wide)


@cli.group("run")
def run_group() -> None:
    """One run: show it, or cancel it; `cnp run list` lists them."""


@run_group.command("list")
@_list_command
def run_list(env: Env, job_id: int | None, status: str | None, limit: int,
             wide: bool) -> None:
    """List runs, newest first."""
    _list_runs(env, job_id, status, limit, wide)


@run_group.command("show")
@click.argument("run_id", type=int, help="The run's id (see `cnp runs`).")
@click.option("--events", is_flag=True, help="Include every line the run printed.")
@click.option("--follow", is_flag=True,
              help="Print the run's lines as they are stored, until it ends (with --format json: "
              "one JSON object per line, then the run).")
@common
@pass_env
def run_show(env: Env, run_id: int, events: bool, follow: bool) -> None:
    """Show a run: status, tokens, cost, session, result (and its events)."""
    store = env.store()
    if follow:
        _follow(env, run_id)
        return
    from ..runs import api_retry_notes

    e = store.runs.get(run_id)
    retries = api_retry_notes(store, {e.id: e.status}).get(e.id)
    data = run_data(e, retries)
    lines = store.events.read(run_id) if events else []
    if events:
        data["events"] = lines

    def pretty() -> None:
        _render_result(e, retries)
        for line in lines:
            echo(_event_line(line))

    emit(env.fmt, data, pretty)


def _event_line(row: dict[str, Any]) -> str:
    return f"[{row['seq']:>4} {row['stream']}] {row['line']}"


FOLLOW_POLL_S = 0.25


def _follow(env: Env, run_id: int) -> None:
    """Print a run's stored lines as they arrive, then the run. The run's state is read
    before its lines: once it has ended, its last lines are already stored (they commit with
    the outcome), so one more read gets them all."""
    import json

    store = env.store()
    after = -1
    while True:
        e = store.runs.get(run_id)
        rows = store.events.read(run_id, after)
        for row in rows:
            echo(json.dumps(row) if env.fmt == "json" else _event_line(row))
        if rows:
            after = rows[-1]["seq"]
        if e.status.is_terminal:
            break
        time.sleep(FOLLOW_POLL_S)
    if env.fmt == "json":
        echo(json.dumps(run_data(e)))
    else:
        echo("")
        _render_result(e)


@run_group.command("cancel")
@click.argument("run_id", type=int, help="The run's id (see `cnp runs`).")
@common
@pass_env
def run_cancel(env: Env, run_id: int) -> None:
    """Cancel a run: at once if it has not started, else its daemon stops it."""
    from ..runs import cancel, stop_requested

    status = cancel(env.store(), run_id, _now())
    data = {"id": run_id, "status": str(status),
            "cancel_requested": stop_requested(status)}
    emit(env.fmt, data, lambda: echo(
        f"Cancelled run {run_id}" if status == RunStatus.CANCELLED
        else f"Asked the daemon to stop run {run_id} ({status})"))


@cli.command("daemon")
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Runs at once.")
@click.option("--prefetch", type=click.IntRange(0, 100_000), default=None,
              help="Due runs claimed to wait for a free slot (queued), beyond the running "
              "ones. Default: 10000 on SQLite (the one daemon takes a whole burst), 32 on "
              "PostgreSQL (daemons share a backlog).")
@click.option("--lease", "lease_s", type=click.FloatRange(1, 3600), default=30.0,
              show_default=True, help="Seconds a claim lasts without a heartbeat.")
@click.option("--shutdown-grace", "grace_s", type=click.FloatRange(0, 86400), default=30.0,
              show_default=True, help="On SIGTERM, seconds to let running runs finish.")
@click.option("--retry-base-delay", "retry_base_s", type=click.FloatRange(0, 86400),
              default=30.0, show_default=True,
              help="First retry delay after a transient failure (doubles each attempt).")
@click.option("--cooldown-margin", "margin_s", type=click.FloatRange(0, 86400), default=60.0,
              show_default=True,
              help="After a usage limit resets, wait this many more seconds before Claude runs.")
@click.option("--quota-ceiling", metavar="PCT",
              help="Hold back a job's Claude runs while the five-hour window is at or above "
              "PCT percent, until it resets (for jobs without their own --quota-ceiling).")
@click.option("--weekly-ceiling", metavar="PCT",
              help="The same for the seven-day window (jobs without their own "
              "--weekly-ceiling).")
@click.option("--standby/--no-standby", default=True, show_default=True,
              help="If another daemon owns the database, wait to take over (or exit).")
@click.option("--retain-days", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Delete finished runs (and their events) older than this many days, "
              "hourly. Default: keep every run.")
@click.option("--max-output", "max_output", metavar="SIZE", default="64M", show_default=True,
              help="Store at most this much of each run's output (a job's --max-output wins); "
              "the rest is still read for the result and usage.")
@click.option("--usage-import-every", "usage_import_s", type=click.FloatRange(0, 86400),
              default=600.0, show_default=True,
              help="Seconds between reads of what is new in Claude Code's transcripts into "
              "the usage ledger, in the background (0: never).")
@click.option("--web/--no-web", default=False, show_default=True,
              help="Also serve the web dashboard and JSON API (as `cnp serve` does).")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --web: address.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="With --web: port (0: any free port).")
@common
@pass_env
def daemon(env: Env, concurrency: int, prefetch: int | None, lease_s: float, grace_s: float,
           retry_base_s: float, margin_s: float, quota_ceiling: str | None,
           weekly_ceiling: str | None, standby: bool, retain_days: float | None,
           max_output: str, usage_import_s: float, web: bool, host: str, port: int) -> None:
    """Run the scheduler: fire due jobs and record every run, until SIGTERM or Ctrl-C."""
    import os

    from ..config import data_dir, resolve_db
    from ..daemon import Daemon, DaemonConfig
    from ..quota import parse_percent
    from ..runner import RunnerConfig

    max_output_bytes = catalog.parse_size(max_output, "--max-output")
    ceilings = (parse_percent(quota_ceiling, "--quota-ceiling"),
                parse_percent(weekly_ceiling, "--weekly-ceiling"))
    home = data_dir()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    env.configure_logging("info", file=str(home / "daemon.log"))
    offset = float(os.environ.get("CNP_CLOCK_OFFSET", "0") or 0)
    config = DaemonConfig(
        concurrency=concurrency, prefetch=prefetch, lease_s=lease_s, shutdown_grace_s=grace_s,
        standby=standby,
        clock_offset_s=offset, cooldown_margin_s=margin_s, retain_days=retain_days,
        usage_import_every_s=usage_import_s or None,
        quota_ceiling=ceilings[0], weekly_ceiling=ceilings[1],
        runner=RunnerConfig(lease_s=lease_s, retry_base_s=retry_base_s,
                            cooldown_margin_s=margin_s, max_output_bytes=max_output_bytes),
    )
    from .guide import daemon_summary, warn_preflight

    warn_preflight(env)
    if env.fmt != "json":
        echo("\n".join(daemon_summary(env.store(), _now())))
    env.close()
    server = None
    if web:  # on a background thread; SIGTERM stops the daemon loop, then the server
        import sys

        from ..web.server import WebServer

        server = WebServer(resolve_db(env.db), host, port).start()
        server.announce(sys.stdout)
    try:
        code = Daemon(resolve_db(env.db), config).run()
    finally:
        if server is not None:
            server.stop()
    if code:
        raise Exit(code)


# The older names of the same commands, kept for scripts; not listed in `cnp --help`.
for _alias, _name in ALIASES.items():
    _hidden = copy.copy(cli.commands[_name])
    _hidden.hidden = True
    cli.add_command(_hidden, _alias)
