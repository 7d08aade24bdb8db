"""The command line's own rules (cli/app.py, cli/__init__.py): shared options before or after
the command, group options holding for their subcommands, command-line mistakes as usage
errors, commands' modules imported only when used, and shell completion."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli_runner import cnp
from night_pilot.cli.app import ALIASES, COMMANDS

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database


def run_cnp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`cnp ARGS` as a program (`python -m night_pilot`), with extra environment variables."""
    return subprocess.run([sys.executable, "-m", "night_pilot", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=60)


def test_the_shared_options_are_accepted_before_and_after_the_command() -> None:
    assert cnp("--format", "json", "job", "list").json == {"jobs": []}
    assert cnp("job", "list", "--format", "json").json == {"jobs": []}
    # Given again after the command, the later one holds.
    assert cnp("--format", "json", "job", "list", "--format", "pretty").stdout.startswith("ID")


def test_a_group_option_holds_for_its_subcommand_unless_given_again() -> None:
    late = cnp("usage", "--since", "20260102", "--until", "20260101", "daily",
               "--format", "json")
    assert late.exit_code == 2
    assert late.error == {"error": "usage",
                          "message": "--since 2026-01-02 is after --until 2026-01-01"}
    fixed = cnp("usage", "--since", "20260102", "--until", "20260101", "daily",
                "--since", "20260101", "--format", "json")
    assert fixed.exit_code == 0 and fixed.json["report"] == "daily"
    assert cnp("usage", "--format", "json").json["report"] == "daily"  # the group's own report
    assert cnp("cooldown", "--format", "json", "clear").json == {"cleared": 0}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("job", "next", "1", "-n", "0"), "Invalid value for '-n': 0 is not in the range "
                                          "1<=x<=1000."),
        (("job", "show", "two"), "Invalid value for 'JOB_ID': 'two' is not a valid integer."),
        (("job", "list", "--format", "xml"), "Invalid value for '--format': 'xml' is not one "
                                             "of 'pretty', 'json'."),
        (("job", "show"), "Missing argument 'JOB_ID'."),
        (("job",), "Missing command."),
        (("job", "list", "--bogus"), "No such option '--bogus'."),
        # Options are never abbreviated.
        (("job", "list", "--al"), "No such option '--al'. (Did you mean one of: '--all', "
                                  "'--help'?)"),
        (("nosuch",), "No such command 'nosuch'."),
        (("job", "lsit"), "No such command 'lsit'. Did you mean 'list'?"),
    ],
)
def test_bad_command_lines_are_usage_errors(argv: tuple[str, ...], message: str) -> None:
    """Exit 2; the usage line of the command and the message, or under --format json the
    message alone as the one JSON error document."""
    pretty = cnp(*argv)
    assert pretty.exit_code == 2 and pretty.stdout == ""
    usage, error = pretty.stderr.splitlines()
    assert usage.startswith("Usage: cnp") and error == f"Error: {message}"
    as_json = cnp("--format", "json", *argv)
    assert as_json.exit_code == 2 and as_json.stdout == ""
    assert as_json.error == {"error": "usage", "message": message}


def test_a_flag_pair_writes_one_parameter() -> None:
    """`--cooldown-check/--no-cooldown-check`: one parameter, its default unless given, and the
    later of the two holds."""
    from night_pilot.cli.runs import execute

    def parsed(*args: str) -> bool:
        with execute.make_context("execute", list(args)) as ctx:
            return bool(ctx.params["cooldown_check"])

    assert parsed() is True
    assert parsed("--no-cooldown-check") is False
    assert parsed("--no-cooldown-check", "--cooldown-check") is True
    assert parsed("--cooldown-check", "--no-cooldown-check") is False


def test_help_is_printed_and_ends_the_command() -> None:
    helped = cnp("job", "--help")
    assert helped.exit_code == 0 and "List jobs with their next run" in helped.stdout
    listed = cnp("job", "list", "-h")
    assert listed.exit_code == 0 and "--all" in listed.stdout and "Include deleted" in listed.stdout
    shown = cnp("job", "create", "--help").stdout
    assert "[default: 2]" in shown and "--misfire [skip|latest|all]" in shown
    report = cnp("usage", "--help").stdout
    assert "Tokens and cost per day (default)" in report and "blocks" in report


def test_the_console_command_line() -> None:
    bare = cnp()
    assert bare.exit_code == 2 and bare.stdout == ""
    assert bare.stderr.startswith("Usage: cnp") and "job" in bare.stderr
    assert cnp("--version").stdout == "cnp 0.1.0\n"
    wrong = cnp("--format", "json", "nosuch")
    assert json.loads(wrong.stderr) == {"error": "usage", "message": "No such command 'nosuch'."}
    listed = cnp("--help").stdout.split("Commands:\n", 1)[1].splitlines()
    shown = sorted(set(COMMANDS) - ALIASES.keys())
    assert [line.split()[0] for line in listed] == shown  # every command once


def test_only_the_named_commands_module_is_imported() -> None:
    code = ("import sys; from night_pilot.cli import main; main(['job', 'list', '--format',"
            " 'json']); print(sorted(m for m in sys.modules if m.startswith('night_pilot.cli.')),"
            " file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=os.environ)
    assert out.stderr.strip().splitlines()[-1] == (
        "['night_pilot.cli.app', 'night_pilot.cli.jobs', 'night_pilot.cli.output']")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_completion_script_is_clicks_own(shell: str) -> None:
    printed = cnp("completion", shell)
    assert printed.exit_code == 0
    assert printed.stdout == run_cnp(env={"_CNP_COMPLETE": f"{shell}_source"}).stdout
    assert "_CNP_COMPLETE" in printed.stdout and f"{shell}_complete" in printed.stdout


@pytest.mark.parametrize(("shell", "cword", "expected"), [
    ("bash", "1", "plain,job\n"),
    ("zsh", "1", "plain\njob\nJobs: a prompt on a schedule.\n"),
    ("fish", "jo", "plain,job\tJobs: a prompt on a schedule.\n"),
])
def test_completing_a_partial_command(shell: str, cword: str, expected: str) -> None:
    done = run_cnp(env={"_CNP_COMPLETE": f"{shell}_complete", "COMP_WORDS": "cnp jo",
                        "COMP_CWORD": cword})
    assert done.returncode == 0 and done.stdout == expected


def test_completing_a_subcommand_and_an_options_choices() -> None:
    def complete(words: str, cword: int) -> str:
        return run_cnp(env={"_CNP_COMPLETE": "bash_complete", "COMP_WORDS": words,
                            "COMP_CWORD": str(cword)}).stdout

    assert complete("cnp job l", 2) == "plain,list\n"
    assert complete("cnp job list --format ", 4) == "plain,pretty\nplain,json\n"
    assert cnp("completion", "tcsh").exit_code == 2


def test_the_command_reference_names_every_command() -> None:
    """docs/architecture.md's table of commands, and `cnp --help`, list exactly `COMMANDS`."""
    doc = (Path(__file__).parents[1] / "docs" / "architecture.md").read_text()
    table = doc.split("`cnp --help` lists every command", 1)[1].split("\n\n")[1]
    named = {name for row in table.splitlines()[2:]
             for name in re.findall(r"`([a-z]+)`", row.split("|")[1])}
    assert named == set(COMMANDS)
    listed = cnp("--help").stdout.split("Commands:\n", 1)[1]
    assert [line.split()[0] for line in listed.splitlines()] == sorted(
        set(COMMANDS) - ALIASES.keys())


def test_the_older_names_of_the_run_commands_are_the_same_commands() -> None:
    run = cnp("execute", "--executor", "shell", "--prompt", "true", "--format", "json").json
    listed = cnp("runs", "--format", "json").json
    assert cnp("executions", "--format", "json").json == listed
    assert cnp("run", "list", "--format", "json").json == listed
    assert cnp("execution", "list", "--format", "json").json == listed
    assert [r["id"] for r in listed["runs"]] == [run["id"]]
    shown = cnp("run", "show", str(run["id"]), "--format", "json").json
    assert cnp("execution", "show", str(run["id"]), "--format", "json").json == shown


def test_what_a_run_printed_is_shown_as_recorded() -> None:
    """Escape sequences in a run's result reach a pipe unchanged (click.echo would drop them)."""
    shown = cnp("execute", "--executor", "shell", "--prompt", r"printf '\033[31mred\033[0m\n'")
    assert shown.exit_code == 0 and shown.stdout.endswith("\n\x1b[31mred\x1b[0m\n")
