"""@file references: what counts as one, resolving files, directories and globs, refusing every
way out of the working directory (.., absolute, ~, symlinks), warning about missing ones at
create time and recording them on the run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli_runner import cnp
from night_pilot.errors import InvalidInput
from night_pilot.filerefs import check, parse, resolve

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database


@pytest.fixture
def work(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "docs").mkdir()
    for name in ("README.md", "a.py", "b.py", "Makefile", "src/pkg/x.py", "docs/a b.md"):
        (root / name).write_text("x")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("s")
    return root


def test_what_counts_as_a_reference(work: Path) -> None:
    prompt = ("Read @README.md, @src/ and @*.py. Also @Makefile (@docs/a.md) and "
              '@"docs/a b.md". Not: me@example.com, @dataclass, @alice, email@x.py, '
              "`@README.md` twice.")
    assert parse(prompt, str(work)) == [
        "README.md", "src/", "*.py", "Makefile", "docs/a.md", "docs/a b.md"]
    # Without a directory to look in, a bare name is not taken for a file.
    assert parse("@Makefile @x.txt", None) == ["x.txt"]


@pytest.mark.parametrize(("ref", "status", "kind"), [
    ("README.md", "ok", "file"),
    ("src/", "ok", "dir"),
    ("src", "ok", "dir"),
    ("src/pkg/x.py", "ok", "file"),
    ("./README.md", "ok", "file"),
    ("src/../README.md", "ok", "file"),
    ("docs/a b.md", "ok", "file"),
    ("missing.md", "missing", "unknown"),
    ("README.md/", "missing", "file"),
    ("*.py", "ok", "glob"),
    ("**/*.py", "ok", "glob"),
    ("*.rs", "missing", "glob"),
])
def test_resolving_inside(work: Path, ref: str, status: str, kind: str) -> None:
    found = resolve(ref, str(work))
    assert (found.status, found.kind) == (status, kind), found


def test_glob_counts(work: Path) -> None:
    assert resolve("*.py", str(work)).matches == 2
    assert resolve("**/*.py", str(work)).matches == 3


@pytest.mark.parametrize(("ref", "detail"), [
    ("../outside/secret.txt", "climbs out with .."),
    ("..", "climbs out with .."),
    ("src/../../outside", "climbs out with .."),
    ("../*", "climbs out with .."),
    ("/etc/passwd", "an absolute path"),
    ("~/.ssh/id_rsa", "a home-directory path"),
    ("~", "a home-directory path"),
])
def test_escapes_are_refused(work: Path, ref: str, detail: str) -> None:
    found = resolve(ref, str(work))
    assert (found.status, found.detail) == ("escapes", detail)


def test_symlinks_out_are_escapes_and_symlinks_within_are_fine(work: Path) -> None:
    outside = work.parent / "outside"
    (work / "link.txt").symlink_to(outside / "secret.txt")
    (work / "linkdir").symlink_to(outside)
    (work / "src" / "up").symlink_to("../..")  # a directory link that climbs out
    (work / "dangling").symlink_to(outside / "nothing-here")
    (work / "inside").symlink_to("src/pkg/x.py")
    for ref in ("link.txt", "linkdir/secret.txt", "linkdir/", "src/up/outside/secret.txt",
                "dangling"):
        found = resolve(ref, str(work))
        assert found.status == "escapes", (ref, found)
        assert "a symlink leads to" in found.detail
    glob_out = resolve("link*", str(work))
    assert glob_out.status == "escapes" and "a symlink to" in glob_out.detail
    assert resolve("inside", str(work)).status == "ok"


def test_a_symlinked_working_directory_is_fine(work: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(work)
    assert resolve("README.md", str(alias)).status == "ok"
    assert resolve("*.py", str(alias)).matches == 2


def test_the_report(work: Path) -> None:
    report = check("See @README.md @nope.md and @../outside/secret.txt", str(work))
    assert [r.ref for r in report.missing] == ["nope.md"]
    assert [r.ref for r in report.escaping] == ["../outside/secret.txt"]
    assert report.warnings() == ["@nope.md: no such file or directory"]
    assert report.to_list()[0] == {"ref": "README.md", "status": "ok", "kind": "file"}
    with pytest.raises(InvalidInput, match=r"@../outside/secret.txt \(climbs out with ..\)"):
        report.refuse_escapes()
    check("@README.md", str(work)).refuse_escapes()  # nothing to refuse


# -- at create time and at spawn ------------------------------------------------------------


def _prompt(content: str) -> int:
    res = cnp("prompt", "create", "t", "--stdin", "--format", "json", input=content)
    assert res.exit_code == 0, res.stderr
    return int(res.json["id"])


def test_job_create_warns_about_missing_references(work: Path) -> None:
    pid = _prompt("Summarize @README.md and @CHANGES.md")
    res = cnp("job", "create", str(pid), "@daily", "--work-dir", str(work), "--format", "json")
    assert res.exit_code == 0, res.stderr
    assert res.json["warnings"] == ["@CHANGES.md: no such file or directory"]
    pretty = cnp("job", "create", str(pid), "@daily", "--work-dir", str(work))
    assert pretty.exit_code == 0
    assert "Warning: @CHANGES.md: no such file or directory" in pretty.stderr
    dry = cnp("job", "create", str(pid), "@daily", "--work-dir", str(work), "--dry-run",
              "--format", "json").json
    assert dry["file_refs"] == [
        {"ref": "README.md", "status": "ok", "kind": "file"},
        {"ref": "CHANGES.md", "status": "missing", "kind": "unknown",
         "detail": "no such file or directory"}]


def test_job_create_refuses_a_reference_outside(work: Path) -> None:
    pid = _prompt("Compare with @../outside/secret.txt")
    res = cnp("job", "create", str(pid), "@daily", "--work-dir", str(work), "--format", "json")
    assert res.exit_code == 2
    assert "outside the working directory" in res.error["message"]
    assert cnp("job", "list", "--format", "json").json["jobs"] == []


def test_references_are_checked_after_rendering(work: Path) -> None:
    pid = _prompt("Read @{{file}}")
    res = cnp("job", "create", str(pid), "@daily", "--work-dir", str(work), "--var",
              "file=/etc/passwd", "--format", "json")
    assert res.exit_code == 2 and "an absolute path" in res.error["message"]


def test_a_run_records_its_references(work: Path) -> None:
    res = cnp("execute", "--executor", "shell", "--work-dir", str(work), "--prompt",
              "cat README.md # @README.md @gone.txt @*.py", "--format", "json")
    assert res.exit_code == 0, res.stderr
    assert res.json["file_refs"] == [
        {"ref": "README.md", "status": "ok", "kind": "file"},
        {"ref": "gone.txt", "status": "missing", "kind": "unknown",
         "detail": "no such file or directory"},
        {"ref": "*.py", "status": "ok", "kind": "glob", "matches": 2}]
    shown = cnp("run", "show", str(res.json["id"]))
    assert "@README.md ok, @gone.txt missing, @*.py ok" in shown.stdout


def test_a_link_planted_after_create_is_refused_at_spawn(work: Path) -> None:
    pid = _prompt("cat notes.txt # @notes.txt")
    (work / "notes.txt").write_text("mine")
    job = cnp("job", "create", str(pid), "@yearly", "--executor", "shell", "--work-dir",
              str(work), "--format", "json").json
    (work / "notes.txt").unlink()
    os.symlink(work.parent / "outside" / "secret.txt", work / "notes.txt")
    res = cnp("job", "trigger", str(job["id"]), "--wait", "--format", "json")
    assert res.exit_code == 1
    assert res.json["status"] == "failed" and res.json["pid"] is None
    assert res.json["reason"].startswith("refused: file reference outside the working "
                                         "directory: @notes.txt (a symlink leads to")
    [entry] = cnp("audit", "--action", "refuse", "--format", "json").json["entries"]
    assert entry["details"]["file_refs"][0]["status"] == "escapes"
