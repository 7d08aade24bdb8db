"""Git worktree isolation: each run of a `--worktree` job works in a fresh worktree on its own
branch, `cnp/<job>/<timestamp>`, made from the HEAD of the working directory's repository, so
the run cannot disturb the checkout the user works in.

After the run the worktree is removed if the run left nothing behind (no change to tracked
files, no untracked file, no new commit), and kept otherwise, for the user to review and merge.
`cnp worktree list|clean` show and tidy what was kept.

Git is called as a subprocess with argument lists (never a shell), with a fixed locale and no
terminal prompts.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import CnpError, InvalidInput

BRANCH_PREFIX = "cnp/"
GIT_TIMEOUT_S = 120


class GitError(CnpError):
    """A git command failed; the message carries what git said."""

    kind = "git"


def _git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR")}
    env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "LANG": "C"})
    return env


def git(args: list[str], cwd: str | Path, *, check: bool = True
        ) -> subprocess.CompletedProcess[str]:
    """Run `git -C cwd ARGS…`; raises GitError (with git's message) if it fails and `check`."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(cwd), *args], capture_output=True, text=True,
            timeout=GIT_TIMEOUT_S, env=_git_env(), stdin=subprocess.DEVNULL, check=False,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed (needed for --worktree)") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {' '.join(args)} took longer than {GIT_TIMEOUT_S}s") from exc
    if check and proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip().splitlines()
        raise GitError(f"git {' '.join(args[:3])} failed in {cwd}: "
                       + (said[-1] if said else f"exit {proc.returncode}"))
    return proc


@dataclass(frozen=True)
class Repo:
    root: Path  # the top of the working tree
    head: str  # the commit HEAD points at
    subdir: str  # the working directory relative to root ("" at the top)


def find_repo(work_dir: str | Path) -> Repo:
    """The repository a working directory belongs to; InvalidInput if there is none to branch
    from (not a repository, or no commit yet)."""
    where = Path(work_dir)
    top = git(["rev-parse", "--show-toplevel"], where, check=False)
    if top.returncode != 0:
        raise InvalidInput(
            f"--worktree: {where} is not inside a git repository",
            hint="run `git init` and commit there, or drop --worktree")
    root = Path(top.stdout.strip())
    head = git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], where, check=False)
    if head.returncode != 0:
        raise InvalidInput(f"--worktree: the repository {root} has no commit to branch from",
                           hint="make a first commit")
    subdir = os.path.relpath(os.path.realpath(where), os.path.realpath(root))
    return Repo(root, head.stdout.strip(), "" if subdir == "." else subdir)


def slug(text: str, limit: int = 40) -> str:
    """A branch-name-safe version of a job name: lower case, words joined by '-'."""
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:limit].rstrip("-") or "job"


def branch_name(job_id: int | None, job_name: str | None, when: datetime) -> str:
    """`cnp/<id>-<name>/<UTC timestamp>`, or `cnp/execute/<timestamp>` for an ad-hoc run."""
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    job = f"{job_id}-{slug(job_name or '')}" if job_id is not None else "execute"
    return f"{BRANCH_PREFIX}{job}/{stamp}"


@dataclass(frozen=True)
class Worktree:
    repo: str  # the main repository's top directory
    branch: str
    path: str  # the worktree's top directory
    base: str  # the commit it was made from
    cwd: str  # where the run works: the same subdirectory as the job's working directory

    def to_dict(self) -> dict[str, str]:
        return {"repo": self.repo, "branch": self.branch, "path": self.path, "base": self.base,
                "cwd": self.cwd}


def _branch_exists(repo: Path, branch: str) -> bool:
    return git(["show-ref", "--verify", "--quiet", f"refs/heads/{branch}"], repo,
               check=False).returncode == 0


def create(work_dir: str | Path, root_dir: str | Path, *, job_id: int | None,
           job_name: str | None, when: datetime, run_id: int) -> Worktree:
    """A new worktree of `work_dir`'s repository under `root_dir`, on a new branch at HEAD."""
    repo = find_repo(work_dir)
    branch = branch_name(job_id, job_name, when)
    if _branch_exists(repo.root, branch):
        branch = f"{branch}-{run_id}"
    digest = hashlib.sha256(str(repo.root).encode()).hexdigest()[:8]
    path = Path(root_dir) / f"{slug(repo.root.name)}-{digest}" / branch[len(BRANCH_PREFIX):]
    if path.exists():
        path = path.with_name(f"{path.name}-{run_id}")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    git(["worktree", "add", "--quiet", "-b", branch, str(path), repo.head], repo.root)
    cwd = path / repo.subdir if repo.subdir else path
    return Worktree(str(repo.root), branch, str(path), repo.head, str(cwd))


@dataclass
class Changes:
    """What a run left in its worktree."""

    changed: list[str] = field(default_factory=list)  # tracked files modified, added, deleted
    untracked: list[str] = field(default_factory=list)
    commits: int = 0  # commits on the branch (or HEAD) that the base does not have

    @property
    def any(self) -> bool:
        return bool(self.changed or self.untracked or self.commits)

    def summary(self) -> str:
        if not self.any:
            return "no changes"
        parts = []
        if self.commits:
            parts.append(f"{self.commits} new commit(s)")
        if self.changed:
            parts.append(f"{len(self.changed)} changed file(s)")
        if self.untracked:
            parts.append(f"{len(self.untracked)} untracked file(s)")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"changed": self.changed, "untracked": self.untracked, "commits": self.commits}


def changes(path: str | Path, base: str, branch: str) -> Changes:
    found = Changes()
    status = git(["status", "--porcelain=v1", "--untracked-files=all"], path)
    for line in status.stdout.splitlines():
        if not line.strip():
            continue
        code, name = line[:2], line[3:]
        (found.untracked if code == "??" else found.changed).append(name)
    counts = []
    for tip in (branch, "HEAD"):
        out = git(["rev-list", "--count", f"{base}..{tip}"], path, check=False)
        if out.returncode == 0 and out.stdout.strip().isdigit():
            counts.append(int(out.stdout.strip()))
    found.commits = max(counts, default=0)
    return found


def _registered(repo: str | Path, path: str) -> bool:
    out = git(["worktree", "list", "--porcelain"], repo, check=False)
    real = os.path.realpath(path)
    return any(line.startswith("worktree ") and os.path.realpath(line[9:]) == real
               for line in out.stdout.splitlines())


def remove(repo: str | Path, path: str, branch: str, *, delete_branch: bool = True) -> None:
    """Remove a worktree we made (and its branch). Refuses anything that is not a `cnp/`
    branch's registered worktree, so it can never delete a directory it did not create."""
    if not branch.startswith(BRANCH_PREFIX):
        raise GitError(f"refusing to remove {path}: branch {branch} is not a cnp/ branch")
    if os.path.exists(path):
        if not _registered(repo, path):
            raise GitError(f"refusing to remove {path}: not a worktree of {repo}")
        git(["worktree", "remove", "--force", "--force", path], repo)
    # The job's and the repository's directories above it go too once they are empty.
    for parent in list(Path(path).parents)[:2]:
        try:
            parent.rmdir()
        except OSError:
            break
    git(["worktree", "prune"], repo, check=False)
    if delete_branch and _branch_exists(Path(repo), branch):
        git(["branch", "-D", branch], repo)


def finish(tree: Worktree) -> tuple[str, Changes]:
    """Apply the clean-up policy after a run: ("removed", …) when the run left nothing,
    ("kept", what it left) otherwise."""
    if not os.path.isdir(tree.path):
        return "removed", Changes()
    left = changes(tree.path, tree.base, tree.branch)
    if left.any:
        return "kept", left
    remove(tree.repo, tree.path, tree.branch)
    return "removed", left
