"""The command line's edges: "did you mean" at every level, `cnp execution list` beside
`cnp executions`, the shared options at every level, a closed pipe, psycopg missing for
`migrate copy`, and the kind of a cooldown refusal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cli_runner import cnp
from night_pilot.config import resolve_db
from night_pilot.store import open_store

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database


@pytest.mark.parametrize(("args", "suggestion"), [
    (("jbo", "list"), "Did you mean 'job'?"),
    (("rnus",), "Did you mean 'runs'?"),
    (("job", "lsit"), "Did you mean 'list'?"),
    (("prompt", "craete"), "Did you mean 'create'?"),
    (("run", "shwo"), "Did you mean 'show'?"),
    (("cooldown", "claer"), "Did you mean 'clear'?"),
])
def test_a_mistyped_command_gets_a_suggestion(args: tuple[str, ...], suggestion: str) -> None:
    out = cnp(*args)
    assert out.exit_code == 2
    assert suggestion in out.stderr


def test_run_list_is_runs() -> None:
    for _ in range(3):
        cnp("execute", "--prompt", "echo hi", "--executor", "shell", "--format", "json")
    for args in (("--limit", "2", "--format", "json"), ("--status", "completed"), ("--wide",)):
        assert cnp("run", "list", *args).stdout == cnp("runs", *args).stdout
        assert cnp("execution", "list", *args).stdout == cnp("runs", *args).stdout
    assert len(cnp("run", "list", "--limit", "2", "--format", "json").json["runs"]) == 2
    assert "Usage: cnp run list" in cnp("run", "list", "--help").stdout


@pytest.mark.parametrize("args", [
    ("--format", "json", "job", "list"),
    ("job", "--format", "json", "list"),
    ("job", "list", "--format", "json"),
    ("--format=json", "prompt", "list"),
    ("prompt", "--format", "json", "list"),
    ("run", "--format", "json", "list"),
    ("job", "--log-level", "debug", "--log-format", "json", "list", "--format", "json"),
])
def test_the_shared_options_are_accepted_at_every_level(args: tuple[str, ...]) -> None:
    out = cnp(*args)
    assert out.exit_code == 0, out.stderr
    json.loads(out.stdout)


def test_db_is_accepted_at_every_level(tmp_path: Path) -> None:
    db = str(tmp_path / "other.db")
    assert cnp("prompt", "--db", db, "create", "t", "hello").exit_code == 0
    assert [p["title"] for p in cnp("--db", db, "prompt", "list", "--format", "json")
            .json["prompts"]] == ["t"]
    assert cnp("prompt", "list", "--format", "json").json["prompts"] == []


def _cnp_proc(*args: str, **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "night_pilot", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            **kwargs)  # type: ignore[call-overload]


def test_a_closed_pipe_ends_quietly_with_141(cnp_home: Path) -> None:
    lines = "\n".join(f"echo line {i} {'x' * 60}" for i in range(3000))
    run = cnp("execute", "--prompt", lines, "--executor", "shell", "--format", "json").json
    # A real pipe into `head`: the reader stops after its lines, long before the 200 KB of
    # events (more than a pipe holds) are written.
    shell = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m night_pilot run show {run['id']} --events | head -3"
         + '; echo "status=${PIPESTATUS[0]}" >&2'],
        capture_output=True, text=True, timeout=60, env={**os.environ})
    assert shell.stderr.strip().splitlines() == ["status=141"], shell.stderr
    assert len(shell.stdout.splitlines()) == 3
    # A reader gone before anything is written: the first write breaks the pipe.
    for args in (("run", "show", str(run["id"]), "--events"), ("runs", "--wide")):
        proc = _cnp_proc(*args)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 141, args
        assert err == "", args


BLOCK_PSYCOPG = """
import sys

class _NoPsycopg:
    def find_spec(self, name, path=None, target=None):
        if name == "psycopg" or name.startswith("psycopg."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoPsycopg())
"""


def test_migrate_copy_without_psycopg_says_what_db_says(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_PSYCOPG)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cnp("init")
    url = "postgresql://cnp:secret@127.0.0.1:1/cnp"
    outs = []
    for args in (("--db", url, "job", "list"), ("migrate", "copy", "--to", url)):
        proc = subprocess.run([sys.executable, "-m", "night_pilot", *args, "--format", "json"],
                              capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 1, proc.stderr
        outs.append(json.loads(proc.stderr))
    for out in outs:
        assert out["message"] == ("postgresql://cnp:***@127.0.0.1:1/cnp is a PostgreSQL "
                                  "database, but psycopg is not installed")
        assert out["hint"] == "pip install 'claude-night-pilot[postgres]'"
        assert out["error"] == "storage"


def test_a_cooldown_refusal_has_its_own_kind() -> None:
    store = open_store(resolve_db(None))
    now = datetime.now(UTC)
    store.cooldowns.insert(kind="session", reset_at=now + timedelta(hours=2), detected_at=now,
                           source_execution_id=None, message="limit")
    out = cnp("execute", "--prompt", "hi", "--format", "json")
    assert out.exit_code == 1
    assert out.error["error"] == "cooldown"
    assert "is in force until" in out.error["message"]


def test_durations_are_echoed_as_given_and_times_carry_their_zone(tmp_path: Path) -> None:
    import re

    cnp("prompt", "create", "p", "hello")
    made = cnp("job", "create", "1", "0 3 * * *", "--tz", "Europe/Berlin", "--work-dir",
               str(tmp_path), "--timeout", "30m", "--idle-timeout", "90s",
               "--misfire-grace", "2h")
    assert made.exit_code == 0, made.stderr
    shown = cnp("job", "show", "1").stdout
    assert re.search(r"^timeout +30m \(idle 90s\)$", shown, re.M), shown
    assert re.search(r"^misfire +latest \(grace 2h\)$", shown, re.M), shown
    assert re.search(r"^next run +\d{4}-\d\d-\d\d 03:00:00 CES?T \(in \d+[smhd]\)$", shown,
                     re.M), shown
    cnp("execute", "--prompt", "echo hi", "--executor", "shell")
    listed = cnp("runs").stdout.splitlines()[1]
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z][A-Za-z0-9+-]+ \((\d+s ago|now)\)",
                     listed), listed


def test_a_cut_reason_keeps_the_reset_time(capsys: pytest.CaptureFixture[str]) -> None:
    from night_pilot.cli.output import table

    reason = ("usage limit reached (session), resets 2026-12-05 03:00:00 UTC: Claude AI usage "
              "limit reached|1795843899; continues as execution 12")
    table(["id", "reason"], [(1, reason)], last_width=72)
    cut = capsys.readouterr().out.splitlines()[1]
    assert "resets 2026-12-05 03:00:00 UTC" in cut and "…" in cut
    assert cut.endswith("continues as execution 12"[-5:])
    assert len(cut) == len("ID  ") + 72
    table(["id", "reason"], [(1, reason)], wide=True)
    assert capsys.readouterr().out.splitlines()[1].endswith(reason)
