"""Worktree isolation with a temporary git repository: a run works in its own worktree on a
cnp/ branch, the main checkout is untouched, a worktree with changes is kept and one without is
removed, a directory that is not a repository is refused at create time, and `cnp worktree
list|clean` tidy what was kept."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli_runner import cnp
from night_pilot import worktree as wt
from night_pilot.errors import InvalidInput

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database

GIT_ID = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *GIT_ID, *args], check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "app").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("hello\n")
    (root / "app" / "main.py").write_text("print('hi')\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


def branches(repo: Path) -> list[str]:
    return git(repo, "branch", "--format=%(refname:short)").split()


def worktrees(repo: Path) -> list[str]:
    return [line[9:] for line in git(repo, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ")]


# -- the module ---------------------------------------------------------------------------------


def test_find_repo(repo: Path, tmp_path: Path) -> None:
    found = wt.find_repo(repo / "app")
    assert found.root == repo and found.subdir == "app"
    assert found.head == git(repo, "rev-parse", "HEAD").strip()
    (tmp_path / "plain").mkdir()
    with pytest.raises(InvalidInput, match="is not inside a git repository"):
        wt.find_repo(tmp_path / "plain")
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    with pytest.raises(InvalidInput, match="has no commit to branch from"):
        wt.find_repo(empty)


def test_branch_names() -> None:
    when = datetime(2026, 11, 28, 3, 0, 5, tzinfo=UTC)
    assert (wt.branch_name(3, "Nightly review: API!", when)
            == "cnp/3-nightly-review-api/20261128T030005Z")
    assert wt.branch_name(None, None, when) == "cnp/execute/20261128T030005Z"
    assert wt.branch_name(7, "日本", when) == "cnp/7-job/20261128T030005Z"
    for name in (wt.branch_name(3, "a..b", when), wt.branch_name(3, "x" * 200, when)):
        assert subprocess.run(["git", "check-ref-format", f"refs/heads/{name}"]).returncode == 0


def test_create_keep_and_remove(repo: Path, tmp_path: Path) -> None:
    when = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    root = tmp_path / "trees"
    tree = wt.create(repo / "app", root, job_id=3, job_name="nightly", when=when, run_id=1)
    assert tree.branch == "cnp/3-nightly/20261128T030000Z"
    assert Path(tree.path).is_relative_to(root)
    assert tree.cwd == str(Path(tree.path) / "app")  # the same subdirectory as the job's
    assert (Path(tree.cwd) / "main.py").exists()
    assert tree.base == git(repo, "rev-parse", "HEAD").strip()
    assert tree.branch in branches(repo)
    # Nothing changed: removed, branch and all, and the empty directories above it.
    state, left = wt.finish(tree)
    assert (state, left.any) == ("removed", False)
    assert not Path(tree.path).exists() and tree.branch not in branches(repo)
    assert worktrees(repo) == [str(repo)]
    assert list(root.iterdir()) == []

    # The same second again: the name is free again; a clash gets the run id.
    again = wt.create(repo, root, job_id=3, job_name="nightly", when=when, run_id=2)
    clash = wt.create(repo, root, job_id=3, job_name="nightly", when=when, run_id=3)
    assert clash.branch == again.branch + "-3" and clash.path != again.path

    (Path(again.path) / "new.txt").write_text("x")
    (Path(again.path) / "README.md").write_text("changed\n")
    state, left = wt.finish(again)
    assert state == "kept"
    assert left.untracked == ["new.txt"] and left.changed == ["README.md"]
    assert left.summary() == "1 changed file(s), 1 untracked file(s)"

    (Path(clash.path) / "c.txt").write_text("c")
    git(Path(clash.path), "add", "c.txt")
    git(Path(clash.path), "commit", "-q", "-m", "by the run")
    state, left = wt.finish(clash)
    assert state == "kept" and left.commits == 1 and not left.changed and not left.untracked


def test_remove_only_touches_what_cnp_made(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "mine"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(other))
    with pytest.raises(wt.GitError, match="not a cnp/ branch"):
        wt.remove(repo, str(other), "feature")
    stray = tmp_path / "stray"
    stray.mkdir()
    with pytest.raises(wt.GitError, match="not a worktree of"):
        wt.remove(repo, str(stray), "cnp/1-x/20260101T000000Z")
    assert other.exists() and stray.exists()


# -- jobs and runs --------------------------------------------------------------------------


def _prompt(content: str) -> int:
    res = cnp("prompt", "create", "t", "--stdin", "--format", "json", input=content)
    assert res.exit_code == 0, res.stderr
    return int(res.json["id"])


def test_a_directory_that_is_not_a_repository_is_refused_at_create(tmp_path: Path) -> None:
    pid = _prompt("echo hi")
    res = cnp("job", "create", str(pid), "@daily", "--worktree", "--work-dir", str(tmp_path),
              "--format", "json")
    assert res.exit_code == 2
    assert res.error["message"] == f"--worktree: {tmp_path} is not inside a git repository"
    assert cnp("job", "list", "--format", "json").json["jobs"] == []
    adhoc = cnp("execute", "--prompt", "echo hi", "--executor", "shell", "--worktree",
                "--work-dir", str(tmp_path), "--format", "json")
    assert adhoc.exit_code == 2 and "not inside a git repository" in adhoc.error["message"]


def test_a_run_that_writes_is_kept_and_the_main_tree_is_untouched(repo: Path,
                                                                 cnp_home: Path) -> None:
    pid = _prompt("echo night > night.txt && pwd")
    job = cnp("job", "create", str(pid), "@yearly", "--name", "Nightly", "--worktree",
              "--executor", "shell", "--work-dir", str(repo / "app"), "--format", "json")
    assert job.exit_code == 0, job.stderr
    assert job.json["worktree"] is True
    run = cnp("job", "trigger", str(job.json["id"]), "--wait", "--format", "json").json
    assert run["status"] == "completed", run["reason"]
    path = Path(run["worktree_path"])
    assert run["result"] == str(path / "app")  # ran in the worktree's copy of app/
    assert (path / "app" / "night.txt").read_text() == "night\n"
    assert not (repo / "app" / "night.txt").exists()
    assert git(repo, "status", "--porcelain") == ""
    assert run["worktree_branch"].startswith(f"cnp/{job.json['id']}-nightly/")
    assert run["worktree_branch"] in branches(repo)
    assert run["worktree_state"] == "kept"
    assert run["worktree_base"] == git(repo, "rev-parse", "HEAD").strip()
    assert path.is_relative_to(cnp_home / "worktrees")
    [audit] = cnp("audit", "--action", "run", "--format", "json").json["entries"]
    assert audit["details"]["worktree"]["branch"] == run["worktree_branch"]
    assert audit["details"]["cwd"] == str(path / "app")

    listed = cnp("worktree", "list", "--format", "json").json["worktrees"]
    assert [(w["run_id"], w["state"], w["changes"]["untracked"]) for w in listed] == [
        (run["id"], "kept", ["app/night.txt"])]


def test_a_run_that_changes_nothing_leaves_no_worktree(repo: Path) -> None:
    res = cnp("execute", "--prompt", "cat README.md", "--executor", "shell", "--worktree",
              "--work-dir", str(repo), "--format", "json")
    assert res.exit_code == 0, res.stderr
    run = res.json
    assert run["worktree_state"] == "removed"
    assert not Path(run["worktree_path"]).exists()
    assert branches(repo) == ["main"] and worktrees(repo) == [str(repo)]
    assert cnp("worktree", "list", "--format", "json").json["worktrees"] == []
    assert len(cnp("worktree", "list", "--all", "--format", "json").json["worktrees"]) == 1


def test_a_failed_run_is_cleaned_up_the_same_way(repo: Path) -> None:
    res = cnp("execute", "--prompt", "exit 4", "--executor", "shell", "--worktree",
              "--retries", "0", "--work-dir", str(repo), "--format", "json")
    assert res.exit_code == 1
    assert res.json["worktree_state"] == "removed" and branches(repo) == ["main"]


def test_worktree_clean(repo: Path) -> None:
    def run(script: str) -> dict[str, object]:
        res = cnp("execute", "--prompt", script, "--executor", "shell", "--worktree",
                  "--work-dir", str(repo), "--format", "json")
        assert res.exit_code == 0, res.stderr
        data: dict[str, object] = res.json
        return data

    emptied = run("echo x > scratch.txt")
    dirty = run("echo y > keep.txt")
    committed = run("echo z > z.txt && git add z.txt && git -c user.name=t "
                    "-c user.email=t@t commit -q -m z")
    Path(str(emptied["worktree_path"]), "scratch.txt").unlink()  # the user took it away

    dry = cnp("worktree", "clean", "--dry-run", "--format", "json").json
    assert {w["run_id"]: w["action"] for w in dry["worktrees"]} == {
        emptied["id"]: "would remove", dirty["id"]: "kept", committed["id"]: "kept"}
    assert Path(str(emptied["worktree_path"])).exists()

    cleaned = cnp("worktree", "clean", "--format", "json").json["worktrees"]
    assert {w["run_id"]: w["action"] for w in cleaned} == {
        emptied["id"]: "removed", dirty["id"]: "kept", committed["id"]: "kept"}
    assert not Path(str(emptied["worktree_path"])).exists()
    assert emptied["worktree_branch"] not in branches(repo)

    forced = cnp("worktree", "clean", "--force", "--format", "json").json["worktrees"]
    assert {w["run_id"]: w["action"] for w in forced} == {
        dirty["id"]: "removed", committed["id"]: "removed"}
    # The commit survives on its branch; the uncommitted file went with --force.
    assert committed["worktree_branch"] in branches(repo)
    assert dirty["worktree_branch"] not in branches(repo)
    assert worktrees(repo) == [str(repo)]
    assert cnp("worktree", "list", "--format", "json").json["worktrees"] == []
    removals = cnp("audit", "--action", "worktree_remove", "--format", "json").json["entries"]
    assert len(removals) == 3


def test_a_worktree_deleted_by_hand_is_forgotten(repo: Path) -> None:
    res = cnp("execute", "--prompt", "touch a", "--executor", "shell", "--worktree",
              "--work-dir", str(repo), "--format", "json").json
    subprocess.run(["rm", "-rf", res["worktree_path"]], check=True)
    [gone] = cnp("worktree", "list", "--format", "json").json["worktrees"]
    assert gone["exists"] is False
    [cleaned] = cnp("worktree", "clean", "--format", "json").json["worktrees"]
    assert (cleaned["action"], cleaned["why"]) == ("removed", "already gone from disk")
    assert worktrees(repo) == [str(repo)] and branches(repo) == ["main"]
