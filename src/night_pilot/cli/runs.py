"""`cnp execute`, `cnp job trigger`, `cnp executions`, `cnp execution show|cancel` and
`cnp daemon`: starting runs and reading what they did."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from .. import catalog
from ..errors import CnpError, InvalidInput
from ..execution import Execution, RunSettings
from ..models import TERMINAL_STATUSES, RunStatus, Trigger
from .app import Env, cli, common, pass_env
from .jobs import run_options
from .output import emit, execution_dict, fields, table


def _now() -> datetime:
    return datetime.now(UTC)


def run_in_foreground(env: Env, run: Execution, *, retry_base_s: float | None = None
                      ) -> Execution:
    """Execute a pending run in this process, following its retries to the final outcome."""
    from ..daemon import instance_id
    from ..runner import Runner, RunnerConfig
    from ..scheduler import claim_one, next_attempt

    store = env.store()
    host = socket.gethostname()
    instance = instance_id(host)
    config = RunnerConfig()
    if retry_base_s is not None:
        config.retry_base_s = retry_base_s
    runner = Runner(store, instance, _now, config)
    while True:
        claimed = claim_one(store, run.id, _now(), instance=instance, host=host,
                            lease=timedelta(seconds=config.lease_s))
        if claimed is None:
            return store.get_run(run.id)  # somebody else took it (a daemon started meanwhile)
        runner.run(claimed)
        done = store.get_run(run.id)
        follow = next_attempt(store, done) if done.status == RunStatus.FAILED else None
        if follow is None or follow.status != RunStatus.RETRY_WAIT:
            _deliver_notifications(env)
            return done
        if follow.retry_at is not None:
            time.sleep(max(0.0, (follow.retry_at - _now()).total_seconds()))
        run = follow


def _deliver_notifications(env: Env) -> None:
    """Without a daemon nobody else delivers what this run produced: do it before exiting."""
    from ..notify import deliver

    deliver(env.store(), _now())


def wait_for(env: Env, run: Execution, poll: float = 0.25) -> Execution:
    """Wait for a daemon to finish a run (and any retries it schedules)."""
    from ..scheduler import next_attempt

    store = env.store()
    while True:
        current = store.get_run(run.id)
        if current.status in TERMINAL_STATUSES:
            follow = next_attempt(store, current) if current.status == RunStatus.FAILED else None
            if follow is None:
                return current
            run = follow
        time.sleep(poll)


def _render_result(e: Execution) -> None:
    fields([
        ("execution", e.id), ("status", e.status), ("reason", e.reason),
        ("session", e.session_id), ("model", e.model),
        ("tokens", f"in {e.input_tokens or 0} / out {e.output_tokens or 0} / cache "
                   f"{e.cache_creation_tokens or 0}+{e.cache_read_tokens or 0}"),
        ("cost", f"${e.total_cost_usd:.6f}" if e.total_cost_usd is not None else None),
        ("duration", f"{e.duration_ms} ms" if e.duration_ms is not None else None),
        ("permission denials", len(e.permission_denials or [])),
    ])
    if e.result_text:
        click.echo("")
        click.echo(e.result_text)


def _outcome(env: Env, e: Execution) -> None:
    emit(env.fmt, execution_dict(e), lambda: _render_result(e))
    if e.status != RunStatus.COMPLETED:
        raise click.exceptions.Exit(1)


@cli.command("execute")
@click.option("--prompt", "prompt_text", metavar="TEXT", help="The prompt text.")
@click.option("--file", "file", metavar="F", help="Read the prompt from a UTF-8 file.")
@click.option("--stdin", is_flag=True, help="Read the prompt from standard input.")
@click.option("--mode", type=click.Choice(["sync", "async"]), default="sync", show_default=True,
              help="sync: run here and print the result; async: leave it to the daemon.")
@click.option("--cooldown-check/--no-cooldown-check", default=True, show_default=True,
              help="Refuse to start while a usage limit is in force.")
@click.option("--force", is_flag=True, help="Start even while a usage limit is in force.")
@run_options
@common
@pass_env
def execute(env: Env, /, prompt_text: str | None, file: str | None, stdin: bool, mode: str,
            cooldown_check: bool, force: bool, add_dirs: tuple[str, ...], **opts: Any) -> None:
    """Run a prompt once, now, recorded like any job run."""
    from .prompts import _content

    text = _content(prompt_text, file, stdin)
    if cooldown_check and not force and opts.get("executor", "claude") == "claude":
        active = env.store().active_cooldown(_now())
        if active is not None:
            raise CnpError(
                f"a usage limit ({active['kind']}) is in force until "
                f"{active['reset_at']:%Y-%m-%d %H:%M:%S} UTC; not starting",
                hint="wait for the reset, or pass --force to try anyway (it may spend quota)",
            )
    spec = catalog.JobSpec(prompt_id=0, cron="@daily", add_dirs=list(add_dirs), **opts)
    if spec.retries < 0 or spec.retries > 20:
        raise InvalidInput("--retries must be between 0 and 20")
    options = catalog.validate_claude_options(
        model=spec.model, allowed_tools=spec.allowed_tools,
        disallowed_tools=spec.disallowed_tools, permission_mode=spec.permission_mode,
        max_turns=spec.max_turns, max_budget_usd=spec.max_budget_usd,
        append_system_prompt=spec.append_system_prompt, mcp_config=spec.mcp_config,
        add_dirs=spec.add_dirs,
    )
    from ..models import ExecutorKind

    settings = RunSettings(
        executor=ExecutorKind(spec.executor),
        work_dir=catalog.check_work_dir(spec.work_dir, Path.cwd()),
        options=options,
        timeout_s=catalog.parse_duration(spec.timeout or "1h", "--timeout"),
        idle_timeout_s=catalog.parse_duration(spec.idle_timeout or "10m", "--idle-timeout"),
        max_attempts=spec.retries + 1,
        prompt_text=text,
    )
    store = env.store()
    now = _now()
    run_id = store.insert_run(job_id=None, scheduled_for=now, trigger=Trigger.EXECUTE,
                              status=RunStatus.PENDING, settings=settings, now=now)
    run = store.get_run(run_id)
    if mode == "async":
        emit(env.fmt, execution_dict(run),
             lambda: click.echo(f"Queued execution {run_id}; a running daemon will start it"))
        return
    _outcome(env, run_in_foreground(env, run))


@cli.command("executions")
@click.option("--job", "job_id", type=int, help="Only runs of this job.")
@click.option("--status", type=click.Choice(RunStatus.values()), help="Only runs in this state.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True)
@common
@pass_env
def executions(env: Env, job_id: int | None, status: str | None, limit: int) -> None:
    """List runs, newest first."""
    runs = env.store().list_runs(job_id=job_id, status=status, limit=limit)
    emit(env.fmt, {"executions": [execution_dict(r) for r in runs]}, lambda: table(
        ["id", "job", "status", "try", "scheduled", "duration", "tokens", "cost", "reason"],
        [(r.id, r.job_name or ("-" if r.job_id is None else r.job_id), r.status, r.attempt,
          r.scheduled_for.strftime("%m-%d %H:%M:%S"),
          f"{r.duration_ms / 1000:.1f}s" if r.duration_ms is not None else None,
          (r.input_tokens or 0) + (r.output_tokens or 0) if r.input_tokens is not None else None,
          f"${r.total_cost_usd:.4f}" if r.total_cost_usd is not None else None, r.reason)
         for r in runs]))


@cli.group("execution")
def execution() -> None:
    """One run: show it, or cancel it."""


@execution.command("show")
@click.argument("execution_id", type=int)
@click.option("--events", is_flag=True, help="Include every line the run printed.")
@common
@pass_env
def execution_show(env: Env, execution_id: int, events: bool) -> None:
    """Show a run: status, tokens, cost, session, result (and its events)."""
    store = env.store()
    e = store.get_run(execution_id)
    data = execution_dict(e)
    lines = store.run_events(execution_id) if events else []
    if events:
        data["events"] = lines

    def pretty() -> None:
        _render_result(e)
        for line in lines:
            click.echo(f"[{line['seq']:>4} {line['stream']}] {line['line']}")

    emit(env.fmt, data, pretty)


@execution.command("cancel")
@click.argument("execution_id", type=int)
@common
@pass_env
def execution_cancel(env: Env, execution_id: int) -> None:
    """Cancel a run: at once if it has not started, else its daemon stops it."""
    store = env.store()
    status = store.request_cancel(execution_id, _now())
    if status in TERMINAL_STATUSES and status != RunStatus.CANCELLED:
        raise CnpError(f"execution {execution_id} already ended ({status})")
    data = {"id": execution_id, "status": str(status),
            "cancel_requested": status in (RunStatus.QUEUED, RunStatus.RUNNING)}
    emit(env.fmt, data, lambda: click.echo(
        f"Cancelled execution {execution_id}" if status == RunStatus.CANCELLED
        else f"Asked the daemon to stop execution {execution_id} ({status})"))


@cli.command("daemon")
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Runs at once.")
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
@click.option("--standby/--no-standby", default=True, show_default=True,
              help="If another daemon owns the database, wait to take over (or exit).")
@common
@pass_env
def daemon(env: Env, concurrency: int, lease_s: float, grace_s: float, retry_base_s: float,
           margin_s: float, standby: bool) -> None:
    """Run the scheduler: fire due jobs and record every run, until SIGTERM or Ctrl-C."""
    import os

    from ..config import data_dir, resolve_db
    from ..daemon import Daemon, DaemonConfig
    from ..runner import RunnerConfig

    home = data_dir()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    env.configure_logging("info", file=str(home / "daemon.log"))
    offset = float(os.environ.get("CNP_CLOCK_OFFSET", "0") or 0)
    config = DaemonConfig(
        concurrency=concurrency, lease_s=lease_s, shutdown_grace_s=grace_s, standby=standby,
        clock_offset_s=offset, cooldown_margin_s=margin_s,
        runner=RunnerConfig(lease_s=lease_s, retry_base_s=retry_base_s,
                            cooldown_margin_s=margin_s),
    )
    code = Daemon(resolve_db(env.db), config).run()
    if code:
        raise click.exceptions.Exit(code)
