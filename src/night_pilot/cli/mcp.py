"""`cnp mcp` (the MCP server for Claude Code, `--print-config`, `install`) and
`cnp import claude-code`: parse, call the `mcp` package and the `claude_tasks` service, render."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .app import Env, cli, common, echo, pass_env
from .output import emit, iso, local_time

if TYPE_CHECKING:
    from ..claude_tasks import ImportPlan


@cli.group("mcp", invoke_without_command=True)
@click.option("--print-config", is_flag=True,
        help="Print the .mcp.json document that starts this server (with this --db), and exit.")
@common
@pass_env
def mcp(env: Env, print_config: bool) -> None:
    """Serve cnp's tools to Claude Code over stdio (Model Context Protocol).

    Register it with `claude mcp add night-pilot -- cnp mcp`, or put the output of
    --print-config in a project's .mcp.json.
    """
    if print_config:
        from ..mcp.setup import server_config

        emit("json", server_config(env.db, os.environ))
        return
    try:
        from ..mcp.server import serve
    except ImportError as exc:
        from ..errors import CnpError

        raise CnpError("cnp mcp needs the MCP SDK (the Python package mcp), which is not "
                       f"installed here: {exc}",
                       hint="pip install 'claude-night-pilot[mcp]'") from exc
    serve(env.store(), Path.cwd())


@mcp.command("install")
@click.option("--user", is_flag=True, help="Install for every project (~/.claude/skills/).")
@click.option("--project", metavar="DIR", type=click.Path(exists=True, file_okay=False),
        help="The project to install in (default: here).")
@click.option("--force", is_flag=True, help="Replace a different skill file of the same name.")
@common
@pass_env
def mcp_install(env: Env, user: bool, project: str | None, force: bool) -> None:
    """Copy the night-pilot skill (when Claude should use these tools) into .claude/skills/."""
    from ..errors import InvalidInput
    from ..mcp.setup import install_skill, skill_target

    if user and project:
        raise InvalidInput("give either --user or --project, not both")
    target = skill_target(None if user else Path(project or "."), Path.home())
    state = install_skill(target, force=force)
    emit(env.fmt, {"skill": str(target), "state": state},
         lambda: echo(f"Skill {state}: {target}"))


@cli.group("import")
def import_() -> None:
    """Import schedules kept by other tools as jobs."""


@import_.command("claude-code")
@click.argument("project_dir", required=False,
              help="The project whose .claude/scheduled_tasks.json is read (default: here).")
@click.option("--dry-run", is_flag=True, help="Show what would be created; write nothing.")
@click.option("--remove", is_flag=True,
        help="Delete the imported tasks from the file, so that Claude Code sessions stop "
        "firing them.")
@click.option("--skip-invalid", is_flag=True,
        help="Import the valid tasks when some are malformed (default: import nothing).")
@common
@pass_env
def import_claude_code(env: Env, project_dir: str | None, dry_run: bool, remove: bool,
                       skip_invalid: bool) -> None:
    """Create a job for each durable task of PROJECT_DIR/.claude/scheduled_tasks.json.

    A recurring task keeps its cron, in the system time zone; a one-shot task runs once at
    its next fire time. Tasks imported before are skipped. If any entry is malformed, each is
    reported and nothing is imported (exit 2), unless --skip-invalid.
    """
    from .. import claude_tasks

    now = datetime.now(UTC)
    store = env.store()
    plan = claude_tasks.plan_import(store, Path(project_dir or "."), now)
    refused = claude_tasks.refusal(plan, skip_invalid)
    created = [] if dry_run or refused else claude_tasks.import_tasks(
        store, plan, now, partial=skip_invalid)
    removable = set(plan.already) | {item.task.id for item in plan.planned}
    removed = 0
    if remove and not dry_run and not refused:
        removed = claude_tasks.remove_tasks(plan.file, removable)
    if dry_run and remove:
        removed = len(removable)
    data = _import_data(plan, dry_run, created, removed)
    emit(env.fmt, data, lambda: _import_pretty(data, plan))
    if refused is not None:
        raise refused


def _import_data(plan: ImportPlan, dry_run: bool, created: list[Any], removed: int
                 ) -> dict[str, Any]:
    from ..shapes import job_dict

    return {
        "project": str(plan.project), "file": str(plan.file), "dry_run": dry_run,
        "created": [{"task_id": task.id, "job": job_dict(job)} for task, job in created],
        "would_create": [{"task_id": item.task.id, "recurring": item.task.recurring,
                          "permanent": item.task.permanent, **item.draft.to_dict()}
                         for item in plan.planned] if dry_run else [],
        "already_imported": [{"task_id": t, "job_id": j} for t, j in plan.already.items()],
        "problems": [p.to_dict() for p in plan.problems],
        ("would_remove" if dry_run else "removed"): removed,
    }


def _import_pretty(data: dict[str, Any], plan: ImportPlan) -> None:
    if data["dry_run"]:
        echo(f"Dry run: nothing was written. From {plan.file}:")
        for item in plan.planned:
            job = item.draft.job
            nxt = item.draft.next_fire_times[0] if item.draft.next_fire_times else None
            echo(f"  would create: task {item.task.id}: {item.draft.description}; next "
                 f"{local_time(iso(nxt), job.timezone)}; risk {item.draft.review.risk.level}")
        if data["would_remove"]:
            echo(f"  would remove {data['would_remove']} task(s) from the file")
    for entry in data["created"]:
        job = entry["job"]
        echo(f"Created job {job['id']} from task {entry['task_id']}: {job['name']}; next run "
             f"{local_time(job['next_run_at'], job['timezone'])}")
    for entry in data["already_imported"]:
        echo(f"Already imported: task {entry['task_id']} (job {entry['job_id']})")
    if not data["dry_run"] and not data["created"] and not data["problems"]:
        echo("Nothing new to import.")
    if data.get("removed"):
        echo(f"Removed {data['removed']} task(s) from {plan.file}")
    for problem in plan.problems:
        echo(f"Problem: {problem}", err=True)
