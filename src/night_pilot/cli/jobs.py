"""`cnp job …`: create, list, show, pause, resume, delete jobs and print their fire times."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from ..enums import ExecutorKind, InterruptPolicy, MisfirePolicy, OnLimit, OverlapPolicy
from ..errors import InvalidInput
from ..shapes import job_dicts
from .app import Env, Group, cli, common, echo, pass_env
from .output import emit, fields, iso, job_dict, local_time, run_dict, table, when

if TYPE_CHECKING:
    from ..catalog import Review
    from ..models import Job



def clock() -> datetime:
    """The time listings are relative to (tests set it)."""
    return datetime.now(UTC)

def run_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options that say how a prompt runs; shared by `job create` and `execute`."""
    options = [
        click.option("--work-dir", metavar="DIR", help="Working directory (default: here)."),
        click.option("--model", help="Claude model name or alias."),
        click.option("--allowed-tools", metavar="LIST", help="Tools granted without asking."),
        click.option("--disallowed-tools", metavar="LIST", help="Tools always denied."),
        click.option("--permission-mode", help="Claude permission mode (e.g. acceptEdits)."),
        click.option("--max-turns", type=int, help="Stop after this many agent turns."),
        click.option("--max-budget-usd", type=float, help="Stop after spending this much."),
        click.option("--append-system-prompt", metavar="TEXT", help="Extra system prompt."),
        click.option("--mcp-config", metavar="FILE|JSON", help="MCP servers to load."),
        click.option("--add-dir", "add_dirs", multiple=True, metavar="DIR",
                     help="Another directory Claude may access (repeatable)."),
        click.option("--timeout", metavar="DURATION", help="Hard time limit (default 1h)."),
        click.option("--idle-timeout", metavar="DURATION",
                     help="Kill the run after this long without output (default 10m)."),
        click.option("--max-output", metavar="SIZE",
                     help="Store at most this much of a run's output, e.g. 64M (default: the "
                     "daemon's --max-output); the rest is read for the result, not stored."),
        click.option("--retries", type=int, default=2, show_default=True,
                     help="Extra attempts after a transient failure."),
        click.option("--executor", type=click.Choice(ExecutorKind.values()), default="claude",
                     show_default=True, help="Run the prompt with claude, or as a shell script."),
        click.option("--on-limit", type=click.Choice(OnLimit.values()), default="rerun",
                     show_default=True, help="After a usage limit: run again, or resume."),
        click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
                     help="A value for the prompt's {{NAME}} placeholder (repeatable)."),
        click.option("--worktree", is_flag=True,
                     help="Run in a fresh git worktree on a cnp/ branch; kept if it changed "
                     "anything."),
        click.option("--i-understand-the-risk", "i_understand_the_risk", is_flag=True,
                     help="Accept a critical risk level (see the dry run for why)."),
    ]
    for declare in reversed(options):
        fn = declare(fn)
    return fn


def quota_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The ceilings of a job (`job create`, and any command that edits a job)."""
    fn = click.option(
        "--weekly-ceiling", metavar="PCT",
        help="Hold runs back while the seven-day window is at or above PCT percent "
        "(default: the daemon's --weekly-ceiling).")(fn)
    return click.option(
        "--quota-ceiling", metavar="PCT",
        help="Hold runs back while the five-hour window is at or above PCT percent, until it "
        "resets (default: the daemon's --quota-ceiling).")(fn)


class JobGroup(Group):
    """`cnp job`: `edit` lives in a module of its own, imported when it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, "edit"})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "edit" and cmd_name not in self.commands:
            from . import job_edit  # noqa: F401  (adds the command to this group)
        return super().get_command(ctx, cmd_name)


@cli.group(cls=JobGroup)
def job() -> None:
    """Jobs: a prompt on a schedule."""


@job.command("create")
@click.argument("prompt_id", type=int, help="The prompt the job runs (see `cnp prompt list`).")
@click.argument("cron", required=False,
              help="When it fires: 5 cron fields, 6 with seconds first, or @daily, @hourly, …")
@click.option("--name", help="Job name (default: the prompt's title).")
@click.option("--description", default="", help="What the job is for.")
@click.option("--tz", "timezone", metavar="ZONE", help="IANA time zone (default: the system's).")
@click.option("--at", metavar="DATETIME", help="Run once at this ISO 8601 time instead of cron.")
@run_options
@click.option("--misfire", type=click.Choice(MisfirePolicy.values()), default="latest",
              show_default=True, help="Fire times missed while no daemon ran.")
@click.option("--misfire-grace", metavar="DURATION",
              help="How late a missed run may still start (default 6h).")
@click.option("--overlap", type=click.Choice(OverlapPolicy.values()), default="skip",
              show_default=True, help="When the previous run is still going.")
@click.option("--on-interrupt", type=click.Choice(InterruptPolicy.values()),
              default="retry-unstarted", show_default=True,
              help="Retry a run whose daemon vanished?")
@click.option("--continue-session", is_flag=True,
              help="Each run resumes the session of the job's previous run.")
@quota_options
@click.option("--when", type=click.Choice(["spare"]),
              help="No fixed time: run on spare capacity, shortly before the five-hour window "
              "resets while it is below the ceiling (docs/quota.md).")
@click.option("--spare-window", metavar="DURATION",
              help="With --when spare: how long before the reset a run may start (default 45m).")
@click.option("--dry-run", is_flag=True,
              help="Validate and show (rendered prompt, risk, fire times); write nothing.")
@click.option("--no-register", is_flag=True, help="Store the job paused.")
@common
@pass_env
def job_create(env: Env, /, prompt_id: int, cron: str | None, dry_run: bool, no_register: bool,
               add_dirs: tuple[str, ...], **opts: Any) -> None:
    """Schedule PROMPT_ID with a CRON expression (5 fields, 6 with seconds first, or @daily)."""
    from pathlib import Path

    from .. import catalog

    spec = catalog.JobSpec(prompt_id=prompt_id, cron=cron, add_dirs=list(add_dirs),
                           enabled=not no_register, **opts)
    now = datetime.now(UTC)
    store = env.store()
    prompt = store.prompts.get(prompt_id)
    if dry_run:
        built = catalog.build_job(spec, prompt, now, Path.cwd())
        review = catalog.review_job(built, prompt.content, now)
        schedule = catalog.schedule_of(built)
        times = schedule.next_times(now, 5)
        shown = job_data(built, schedule.describe())
        data = {"dry_run": True, "job": shown, "next_fire_times": [iso(t) for t in times],
                **review.to_dict()}

        def pretty() -> None:
            echo("Dry run: nothing was stored.")
            _show(shown)
            echo("next fire times:")
            for t in times:
                echo(f"  {local_time(t, built.timezone)}")
            show_review(review)

        emit(env.fmt, data, pretty)
        return
    created = catalog.create_job(store, spec, now, Path.cwd())
    review = catalog.review_job(created, prompt.content, now)
    description = catalog.schedule_of(created).describe()
    state = "paused (--no-register)" if not created.enabled else (
        "no fixed time" if created.spare_window_s is not None
        else "next run " + local_time(created.next_run_at, created.timezone))
    data = {**job_data(created, description), "risk": review.risk.to_dict(),
            "warnings": review.warnings}

    def pretty_created() -> None:
        echo(f"Created job {created.id}: {description}; {state}")
        echo(f"Risk: {review.risk.summary()}")

    emit(env.fmt, data, pretty_created)
    warn(env, review.warnings)


def job_data(job: Job, description: str | None = None) -> dict[str, Any]:
    """A job as JSON: the shared shape plus the integration settings (docs/integration.md)."""
    return job_dict(job, description, settings=True)


def warn(env: Env, notes: list[str]) -> None:
    """Warnings on stderr (pretty output only: JSON output carries them in the document)."""
    if env.fmt != "json":
        for note in notes:
            echo(f"Warning: {note}", err=True)


def show_review(review: Review) -> None:
    """The dry-run view of a prompt: its risk with every trigger, its references, as sent."""
    echo(f"risk: {review.risk.level}")
    for f in review.risk.findings:
        echo(f"  {f.level:<8} {f.trigger}: {f.why}")
    if review.refs.refs:
        echo("file references:")
        for r in review.refs.refs:
            extra = f" ({r.detail})" if r.detail else ""
            echo(f"  @{r.ref}: {r.status}{extra}")
    for note in review.template_warnings:
        echo(f"warning: {note}")
    echo("rendered prompt:" if review.templated else "prompt:")
    for line in review.rendered.splitlines() or [""]:
        echo(f"  {line}")


@job.command("list")
@click.option("--all", "include_deleted", is_flag=True, help="Include deleted jobs.")
@common
@pass_env
def job_list(env: Env, include_deleted: bool) -> None:
    """List jobs with their next run and last status."""
    # From stored rows straight to the JSON shape: no Job objects for a thousand jobs.
    jobs = job_dicts(*env.store().jobs.rows(include_deleted=include_deleted), settings=True)

    def pretty() -> None:
        from ..models import schedule_text

        now = clock()
        table(
            ["id", "name", "schedule", "tz", "enabled", "next run", "last"],
            [
                (j["id"], j["name"],
                 schedule_text(j["cron_expr"], j["run_at"], j["spare_window_s"]), j["timezone"],
                 "deleted" if j["deleted_at"] else j["enabled"],
                 when(j["next_run_at"], j["timezone"], now), j["last_status"])
                for j in jobs
            ],
        )
        if not jobs:
            from .guide import next_steps

            next_steps(env, ['cnp job create PROMPT_ID "0 3 * * *" (see `cnp prompt list`; '
                             'a prompt first: `cnp prompt create TITLE TEXT`)'],
                       lead="No jobs yet. Create one")

    emit(env.fmt, {"jobs": jobs}, pretty)


def _output_cap(size: int | None) -> str:
    if size is None:
        return "up to the daemon's --max-output"
    from ..catalog import format_size

    return f"up to {format_size(size)}"


def _ceiling(value: float | None, option: str) -> str:
    return f"{value:g}%" if value is not None else f"the daemon's {option}"


def _show(data: dict[str, Any]) -> None:
    from datetime import UTC, datetime

    from ..catalog import format_duration as spelled
    from ..models import schedule_text

    opts = data["options"]
    fields(
        [
            ("id", data["id"]),
            ("name", data["name"]),
            ("description", data["description"] or None),
            ("prompt", data["prompt_id"]),
            ("schedule", schedule_text(data["cron_expr"], data["run_at"],
                                       data.get("spare_window_s"))
             if data["cron_expr"] else f"once at {data['run_at']}"),
            ("meaning", data.get("schedule_description")),
            ("time zone", data["timezone"]),
            ("enabled", data["enabled"]),
            ("next run", when(data["next_run_at"], data["timezone"], datetime.now(UTC))),
            ("last status", data["last_status"]),
            ("work dir", data["work_dir"]),
            ("executor", data["executor"]),
            ("claude options", ", ".join(f"{k}={v}" for k, v in opts.items()) or None),
            ("timeout", f"{spelled(data['timeout_s'])} (idle "
                        f"{spelled(data['idle_timeout_s'])})"),
            ("stored output", _output_cap(data["max_output_bytes"])),
            ("retries", data["retries"]),
            ("misfire", f"{data['misfire']} (grace {spelled(data['misfire_grace_s'])})"),
            ("overlap", data["overlap"]),
            ("on interrupt", data["on_interrupt"]),
            ("on limit", data["on_limit"]),
            ("worktree", data.get("worktree")),
            ("continue session", data.get("continue_session")),
            ("variables", ", ".join(f"{k}={v}" for k, v in data.get("template_vars", {}).items())
             or None),
            ("risk", f"{data.get('risk_level')}"
                     + (" (accepted)" if data.get("risk_accepted") else "")),
            ("quota ceiling", _ceiling(data.get("quota_ceiling"), "--quota-ceiling")),
            ("weekly ceiling", _ceiling(data.get("weekly_ceiling"), "--weekly-ceiling")),
        ]
        + ([("deleted", data["deleted_at"])] if data.get("deleted_at") else [])
    )


@job.command("show")
@click.argument("job_id", type=int, help="The job's id (see `cnp job list`).")
@common
@pass_env
def job_show(env: Env, job_id: int) -> None:
    """Show a job, with its schedule in plain English."""
    from .. import catalog

    j = env.store().jobs.get(job_id, include_deleted=True)
    data = job_data(j, catalog.describe_job(j))
    emit(env.fmt, data, lambda: _show(data))


@job.command("pause")
@click.argument("job_id", type=int, help="The job's id (see `cnp job list`).")
@common
@pass_env
def job_pause(env: Env, job_id: int) -> None:
    """Stop a job from firing until it is resumed."""
    from .. import catalog

    j = catalog.pause_job(env.store(), job_id, datetime.now(UTC))
    emit(env.fmt, job_dict(j), lambda: echo(f"Paused job {job_id}"))


@job.command("resume")
@click.argument("job_id", type=int, help="The job's id (see `cnp job list`).")
@common
@pass_env
def job_resume(env: Env, job_id: int) -> None:
    """Let a paused job fire again, from its next fire time on."""
    from .. import catalog

    j = catalog.resume_job(env.store(), job_id, datetime.now(UTC))
    emit(env.fmt, job_dict(j), lambda: echo(
        f"Resumed job {job_id}; next run {local_time(j.next_run_at, j.timezone)}"))


@job.command("delete")
@click.argument("job_id", type=int, help="The job's id (see `cnp job list`).")
@common
@pass_env
def job_delete(env: Env, job_id: int) -> None:
    """Delete a job; its run history stays readable."""
    env.store().jobs.delete(job_id, datetime.now(UTC))
    emit(env.fmt, {"id": job_id, "deleted": True}, lambda: echo(f"Deleted job {job_id}"))


@job.command("next")
@click.argument("job_id", type=int, help="The job's id (see `cnp job list`).")
@click.option("-n", "count", type=click.IntRange(1, 1000), default=5, show_default=True)
@click.option("--after", metavar="ISO-DATETIME",
              help="Start from this time (default: now); without an offset, in the job's zone.")
@common
@pass_env
def job_next(env: Env, job_id: int, count: int, after: str | None) -> None:
    """Print the next N fire times of a job."""
    from zoneinfo import ZoneInfo

    from .. import catalog

    j = env.store().jobs.get(job_id, include_deleted=True)
    start = datetime.now(UTC)
    if after:
        try:
            start = datetime.fromisoformat(after)
        except ValueError as exc:
            raise InvalidInput(f"--after {after!r} is not an ISO 8601 date-time") from exc
        if start.tzinfo is None:
            start = start.replace(tzinfo=ZoneInfo(j.timezone))
    schedule = catalog.schedule_of(j)
    times = schedule.next_times(start, count)
    data = {"id": j.id, "timezone": j.timezone, "description": schedule.describe(),
            "after": iso(start), "next_fire_times": [iso(t) for t in times]}

    def pretty() -> None:
        echo(data["description"])
        for t in times:
            echo(f"  {local_time(t, j.timezone)}   ({t.strftime('%Y-%m-%d %H:%M:%S')} UTC)")
        if not times:
            echo("  (no further fire times)")

    emit(env.fmt, data, pretty)


@job.command("trigger")
@click.argument("job_id", type=int, help="The job's id (see `cnp job list`).")
@click.option("--wait", is_flag=True,
              help="Wait for the outcome (runs here when no daemon is running).")
@common
@pass_env
def job_trigger(env: Env, job_id: int, wait: bool) -> None:
    """Run a job now, recorded like a scheduled run."""
    from ..daemons import daemon_alive
    from ..models import RunStatus
    from ..runs import trigger_job
    from .runs import _now, _outcome, run_in_foreground, wait_for

    store = env.store()
    run = trigger_job(store, job_id, _now())
    if run.status == RunStatus.SKIPPED or not wait:
        from .guide import next_steps

        running = daemon_alive(store, _now()) is not None
        steps = [] if running or run.status == RunStatus.SKIPPED else [
            "`cnp daemon` (or `cnp service install`) to have a daemon start it, or run it "
            f"here and wait: `cnp job trigger {job_id} --wait`"]
        data = {**run_dict(run), "daemon_running": running}
        if steps:
            data["next_steps"] = steps

        def pretty() -> None:
            echo(f"Run {run.id}: {run.status}" + (f" ({run.reason})" if run.reason else ""))
            next_steps(env, steps, lead="No daemon is running, so nothing starts it yet. Next")

        emit(env.fmt, data, pretty)
        return
    done = wait_for(env, run) if daemon_alive(store, _now()) else run_in_foreground(env, run)
    _outcome(env, done)
