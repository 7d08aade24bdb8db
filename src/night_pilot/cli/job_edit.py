"""`cnp job edit ID [options]`: change a job's schedule, zone, prompt, options and policies,
validated as `job create` is (through the same `catalog.edit_job` as the web API)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from ..enums import ExecutorKind, InterruptPolicy, MisfirePolicy, OnLimit, OverlapPolicy
from ..errors import InvalidInput
from .app import Env, common, echo, pass_env
from .jobs import job, job_data
from .output import emit, iso, local_time

# Option → the edit's change of the same name (catalog.edits.EDITABLE).
_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--cron", {"metavar": "EXPR", "help": "New cron expression (a one-shot job becomes a "
                                           "cron job)."}),
    ("--at", {"metavar": "DATETIME", "help": "Run once at this ISO 8601 time instead."}),
    ("--tz", {"dest": "timezone", "metavar": "ZONE", "help": "IANA time zone."}),
    ("--prompt", {"dest": "prompt_id", "type": int, "metavar": "PROMPT_ID",
                  "help": "Send this prompt instead."}),
    ("--name", {"help": "New name."}),
    ("--description", {"help": "New description."}),
    ("--work-dir", {"metavar": "DIR", "help": "Working directory."}),
    ("--executor", {"type": click.Choice(ExecutorKind.values()), "help": "claude or shell."}),
    ("--model", {"help": "Claude model name or alias."}),
    ("--allowed-tools", {"metavar": "LIST", "help": "Tools granted without asking."}),
    ("--disallowed-tools", {"metavar": "LIST", "help": "Tools always denied."}),
    ("--permission-mode", {"help": "Claude permission mode (e.g. acceptEdits)."}),
    ("--max-turns", {"type": click.IntRange(1), "help": "Stop after this many agent turns."}),
    ("--max-budget-usd", {"type": click.FloatRange(min=0, min_open=True),
                          "help": "Stop after spending this much."}),
    ("--append-system-prompt", {"metavar": "TEXT", "help": "Extra system prompt."}),
    ("--mcp-config", {"metavar": "FILE|JSON", "help": "MCP servers to load."}),
    ("--add-dir", {"dest": "add_dirs", "multiple": True, "metavar": "DIR",
                   "help": "Another directory Claude may access (repeatable; replaces the "
                   "list)."}),
    ("--timeout", {"metavar": "DURATION", "help": "Hard time limit, e.g. 30m."}),
    ("--idle-timeout", {"metavar": "DURATION", "help": "Kill after this long without output."}),
    ("--max-output", {"metavar": "SIZE", "help": "Store at most this much output, e.g. 64M."}),
    ("--retries", {"type": click.IntRange(0, 20),
                   "help": "Extra attempts after a transient failure."}),
    ("--misfire", {"type": click.Choice(MisfirePolicy.values()),
                   "help": "Fire times missed while no daemon ran."}),
    ("--misfire-grace", {"metavar": "DURATION", "help": "How late a missed run may start."}),
    ("--overlap", {"type": click.Choice(OverlapPolicy.values()),
                   "help": "When the previous run is still going."}),
    ("--on-interrupt", {"type": click.Choice(InterruptPolicy.values()),
                        "help": "Retry a run whose daemon vanished?"}),
    ("--on-limit", {"type": click.Choice(OnLimit.values()),
                    "help": "After a usage limit: run again, or resume."}),
    ("--quota-ceiling", {"metavar": "PCT", "help": "Hold runs back while the five-hour window "
                         "is at or above PCT percent (\"\": the daemon's)."}),
    ("--weekly-ceiling", {"metavar": "PCT", "help": "The same for the seven-day window."}),
    ("--when", {"type": click.Choice(["spare"]),
                "help": "spare: no fixed time, run on spare capacity before the five-hour "
                "reset (--cron or --at makes it a timed job again)."}),
    ("--spare-window", {"metavar": "DURATION",
                        "help": "With --when spare: how long before the reset a run may "
                        "start."}),
]
# Shown as "(changed)", never by value: an MCP configuration may hold secrets.
_SECRET = ("options.mcp_config",)


def _declare(fn: Any) -> Any:
    for flag, settings in reversed(_OPTIONS):
        settings = dict(settings)
        dest = settings.pop("dest", flag[2:].replace("-", "_"))
        fn = click.option(flag, dest, default=None, **settings)(fn)
    return fn


@job.command("edit")
@click.argument("job_id", type=int, help="The job's id (see `cnp job list`).")
@_declare
@click.option("--dry-run", is_flag=True, help="Validate and show what would change; store "
              "nothing.")
@common
@pass_env
def job_edit(env: Env, /, job_id: int, dry_run: bool, **given: Any) -> None:
    """Change JOB_ID: only the options given, validated as `job create` validates them.

    An empty value clears an optional setting (`--model ""`); the fire times to come stay as
    they were unless the schedule or the zone changes.

    Example: cnp job edit 3 --cron "30 2 * * *" --tz Europe/Berlin --timeout 45m
    """
    from pathlib import Path

    from .. import catalog

    changes = {k: v for k, v in given.items() if v is not None and v != ()}
    if not changes:
        raise InvalidInput("nothing to change: give at least one option (see "
                           "`cnp job edit --help`)")
    now = datetime.now(UTC)
    edit = catalog.update_job(env.store(), job_id, changes, now, Path.cwd(), actor="cli",
                              dry_run=dry_run)
    after = edit.after
    shown = [(name, "(changed)" if name in _SECRET else old,
              "(changed)" if name in _SECRET else new) for name, old, new in edit.changes]
    data = {"dry_run": dry_run, "stored": edit.stored, "rescheduled": edit.rescheduled,
            "changes": [{"field": n, "old": _json(o), "new": _json(v)} for n, o, v in shown],
            "job": job_data(after, catalog.describe_job(after))}

    def pretty() -> None:
        verb = "Would change" if dry_run else "Changed"
        if not shown:
            echo(f"Job {job_id} is already so; nothing changed.")
            return
        echo(f"{verb} job {job_id} ({after.name}):")
        width = max(len(n) for n, _, _ in shown)
        for name, old, new in shown:
            echo(f"  {name.ljust(width)}  {_text(old, edit.before.timezone)} -> "
                 f"{_text(new, after.timezone)}")
        if dry_run:
            echo("Dry run: nothing was stored.")

    emit(env.fmt, data, pretty)


def _json(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


def _text(value: Any, zone: str) -> str:
    if value is None or value == "" or value == []:
        return "-"
    if isinstance(value, datetime):
        return local_time(value, zone)
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)
