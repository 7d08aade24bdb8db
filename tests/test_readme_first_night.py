"""The README's "A first night", run as written: every command of its block, in order, as a
subprocess with a fresh data directory and the stand-in `claude`, each exiting 0 and printing
what its comment says. Only what cannot run in a test is replaced: `~/src/app` is a temporary
directory, and `cnp daemon` gets SIGTERM, as Ctrl-C would, once it says it has started."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import STANDIN_CLAUDE

README = Path(__file__).resolve().parent.parent / "README.md"


def first_night_commands() -> list[tuple[str, str]]:
    """(command, its comment) for each command of the bash block under "## A first night",
    continuation lines joined."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## A first night\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "no bash block under 'A first night'"
    joined = block.group(1).replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        command, _, comment = line.partition("  # ")
        commands.append((" ".join(command.split()), comment.strip()))
    return commands


def _init(out: str, home: Path) -> None:  # "creates the database, says where"
    assert str(home / "claude-night-pilot.db") in out


def _prompt(out: str, home: Path) -> None:
    assert out.strip() == "Created prompt 1"


def _job_create(out: str, home: Path) -> None:
    assert out.startswith("Created job 1: At 03:00 every day (Europe/Berlin); next run ")


def _job_show(out: str, home: Path) -> None:
    # "At 03:00 every day (Europe/Berlin)", next run, options
    assert "At 03:00 every day (Europe/Berlin)" in out
    assert re.search(r"^next run +\d{4}-\d\d-\d\d 03:00:00 CES?T \(in ", out, re.M), out
    assert "Bash(git log *)" in out
    assert re.search(r"^timeout +30m ", out, re.M), out  # as given


def _job_next(out: str, home: Path) -> None:  # the next five fire times
    fires = re.findall(r"^  \d{4}-\d\d-\d\d 03:00:00 CES?T ", out, re.M)
    assert len(fires) == 5, out


def _trigger(out: str, home: Path) -> None:  # one run now: prints the result
    assert re.search(r"^status +completed$", out, re.M), out
    assert out.rstrip().endswith("done")  # the stand-in's result text


def _job_edit(out: str, home: Path) -> None:  # what an edit would change
    assert "0 3 * * *" in out and "30 2 * * *" in out and "dry run" in out.lower()


def _daemon(out: str, home: Path) -> None:  # fires it at 03:00 (leave it running)
    assert "daemon_start" in out and "daemon_stop" in out


def _executions(out: str, home: Path) -> None:  # in the morning: what happened
    [header, row] = out.strip().splitlines()
    assert header.split()[:3] == ["ID", "JOB", "STATUS"]
    assert row.split()[:5] == ["1", "Nightly", "review", "completed", "1"]


def _show_events(out: str, home: Path) -> None:  # one run in full, every line printed
    assert re.search(r"^run +1$", out, re.M)
    lines = re.findall(r"^\[ +\d+ stdout\] (.*)$", out, re.M)
    assert '"subtype": "init"' in lines[0] and '"type": "result"' in lines[-1]


EXPECTED: dict[str, Callable[[str, Path], None]] = {
    "cnp init": _init,
    "cnp prompt create": _prompt,
    "cnp job create": _job_create,
    "cnp job show": _job_show,
    "cnp job next": _job_next,
    "cnp job trigger": _trigger,
    "cnp daemon": _daemon,
    "cnp job edit": _job_edit,
    "cnp runs": _executions,
    "cnp run show": _show_events,
}


def _check(command: str) -> Callable[[str, Path], None]:
    matches = [k for k in EXPECTED if command == k or command.startswith(k + " ")]
    assert matches, f"the README runs {command!r}: say here what it should print"
    return EXPECTED[max(matches, key=len)]


@pytest.mark.slow  # a server or daemon process of its own
def test_the_first_night_runs_as_the_readme_says(tmp_path: Path) -> None:
    home = tmp_path / "cnp"
    app = tmp_path / "src" / "app"
    app.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CNP_", "STANDIN_"))}
    env.update({"CNP_HOME": str(home), "CNP_CLAUDE_BIN": str(STANDIN_CLAUDE),
                "TZ": "Europe/Berlin"})
    commands = first_night_commands()
    assert commands[0][0].split()[:2] == ["cnp", "init"]
    for command, comment in commands:
        check = _check(command)
        argv = shlex.split(command.replace("~/src/app", str(app)))
        assert argv[0] == "cnp", command
        argv = [sys.executable, "-m", "night_pilot", *argv[1:]]
        if argv[3:4] == ["daemon"]:
            daemon = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True)
            assert daemon.stdout is not None
            started = []  # up to the line that says the daemon is running
            while not started or "daemon_start" not in started[-1]:
                line = daemon.stdout.readline()
                assert line, f"{command} ended before it started:\n{''.join(started)}"
                started.append(line)
            daemon.send_signal(signal.SIGTERM)  # Ctrl-C's polite twin
            rest, _ = daemon.communicate(timeout=30)
            out = "".join(started) + rest
            code = daemon.returncode
        else:
            done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True,
                                  timeout=120)
            code, out = done.returncode, done.stdout
            assert "Traceback" not in done.stderr, done.stderr
        assert code == 0, f"{command} ({comment}) exited {code}:\n{out}"
        check(out, home)
