"""`cnp worktree list|clean`: the git worktrees runs were given, and tidying up the ones kept.

A run's worktree is removed right after the run when it left no changes; the ones listed here
were kept because the run changed something (or are still in use). `clean` removes those that
no longer hold anything; `--force` removes them all, keeping any branch with commits."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click
from click.exceptions import Exit

from ..errors import CnpError
from .app import Env, cli, common, pass_env
from .output import emit, table

if TYPE_CHECKING:
    from ..models import Run


@cli.group("worktree")
def worktree() -> None:
    """Git worktrees made for runs (job create --worktree)."""


def _entry(run: Run, *, inspect: bool) -> dict[str, Any]:
    from .. import worktree as wt

    data: dict[str, Any] = {
        "run_id": run.id, "job_id": run.job_id, "job_name": run.job_name,
        "status": str(run.status), "branch": run.worktree_branch, "path": run.worktree_path,
        "base": run.worktree_base, "state": run.worktree_state,
        "exists": bool(run.worktree_path and os.path.isdir(run.worktree_path)),
        "changes": None,
    }
    if inspect and data["exists"] and run.worktree_base and run.worktree_branch:
        try:
            data["changes"] = wt.changes(run.worktree_path or "", run.worktree_base,
                                         run.worktree_branch).to_dict()
        except CnpError as exc:
            data["error"] = exc.message
    return data


def _describe(changes: dict[str, Any] | None) -> str:
    from .. import worktree as wt

    if changes is None:
        return "-"
    return wt.Changes(**changes).summary()


@worktree.command("list")
@click.option("--job", "job_id", type=int, help="Only this job's runs.")
@click.option("--all", "include_removed", is_flag=True, help="Include removed worktrees.")
@common
@pass_env
def worktree_list(env: Env, job_id: int | None, include_removed: bool) -> None:
    """List run worktrees still on disk (kept or in use), newest first, with what they hold."""
    states = ("active", "kept", "removed") if include_removed else ("active", "kept")
    runs = env.store().runs.with_worktree(job_id=job_id, states=states)
    items = [_entry(r, inspect=r.worktree_state != "removed") for r in runs]
    emit(env.fmt, {"worktrees": items}, lambda: table(
        ["run", "job", "state", "branch", "path", "holds"],
        [(i["run_id"], i["job_name"] or ("-" if i["job_id"] is None else i["job_id"]),
          i["state"] if i["exists"] or i["state"] == "removed" else f"{i['state']} (gone)",
          i["branch"], i["path"], _describe(i["changes"])) for i in items]))


def _clean_one(env: Env, run: Run, force: bool, dry_run: bool) -> dict[str, Any]:
    from .. import worktree as wt
    from ..models import TERMINAL_STATUSES

    entry = _entry(run, inspect=True)
    path, branch = run.worktree_path or "", run.worktree_branch or ""

    def outcome(action: str, why: str) -> dict[str, Any]:
        return {**entry, "action": action, "why": why}

    if run.status not in TERMINAL_STATUSES:
        return outcome("skipped", f"the run is {run.status}")
    if "error" in entry:
        return outcome("skipped", entry["error"])
    changes = wt.Changes(**entry["changes"]) if entry["changes"] else wt.Changes()
    if entry["exists"] and changes.any and not force:
        return outcome("kept", f"holds {changes.summary()} (--force removes it)")
    keep_branch = changes.commits > 0
    why = "no changes" if not changes.any else f"forced: dropped {changes.summary()}"
    if not entry["exists"]:
        why = "already gone from disk"
    if keep_branch:
        why += f"; branch {branch} kept ({changes.commits} commit(s))"
    if dry_run:
        return outcome("would remove", why)
    try:
        repo = wt.find_repo(run.settings.work_dir or "").root
        wt.remove(repo, path, branch, delete_branch=not keep_branch)
    except CnpError as exc:
        return outcome("failed", exc.message)
    env.store().runs.worktree_cleaned(run.id, datetime.now(UTC), {
        "job_id": run.job_id, "branch": branch, "path": path, "reason": why,
        "branch_kept": keep_branch})
    return outcome("removed", why)


@worktree.command("clean")
@click.option("--job", "job_id", type=int, help="Only this job's runs.")
@click.option("--force", is_flag=True,
              help="Remove worktrees that hold changes too (uncommitted work is lost; "
              "branches with commits are kept).")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@common
@pass_env
def worktree_clean(env: Env, job_id: int | None, force: bool, dry_run: bool) -> None:
    """Remove kept worktrees that no longer hold changes (all of them with --force)."""
    runs = env.store().runs.with_worktree(job_id=job_id)
    results = [_clean_one(env, r, force, dry_run) for r in runs]
    failed = [r for r in results if r["action"] == "failed"]
    emit(env.fmt, {"dry_run": dry_run, "worktrees": results}, lambda: table(
        ["run", "branch", "action", "why"],
        [(r["run_id"], r["branch"], r["action"], r["why"]) for r in results]))
    if failed:
        raise Exit(1)
