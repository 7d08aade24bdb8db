"""The command layer (cli/app.py): commands declared with decorators, parsed with argparse.

A small tree of its own is built here so that each rule is seen alone; the last tests go
through `cnp` itself.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cli_runner import cnp
from night_pilot.cli.app import (
    Choice,
    Env,
    Exit,
    FloatRange,
    Group,
    IntRange,
    Parser,
    UsageError,
    argument,
    option,
    pass_env,
)

calls: list[tuple[str, dict[str, Any]]] = []


def _root() -> None:
    """A root."""


root = Group("t", _root, None, invoke_without_command=True)


@root.group(invoke_without_command=True)
@option("--since", type=int)
def report(since: int | None) -> None:
    """Reports.

    The default report when none is named.
    """
    calls.append(("report", {"since": since}))


@report.command("daily")
@option("--since", type=int)
def daily(since: int | None) -> None:
    """One line a day."""
    calls.append(("daily", {"since": since}))


@root.group()
def thing() -> None:
    """Things: a subcommand is required."""


@thing.command("make")
@argument("name")
@argument("extra", required=False)
@option("--web/--no-web", default=False, show_default=True, help="Serve too.")
@option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@option("--retries", type=IntRange(0, 5), default=2, show_default=True, help="Up to 5.")
@option("--days", type=FloatRange(min=0, min_open=True), help="More than 0.")
@option("--mode", type=Choice(["a", "b"]), default="a", help="100% a or b.")
@option("-n", "count", type=int, default=1)
@pass_env
def make(env: Env, **values: Any) -> None:
    """Make a thing."""
    calls.append(("make", {"env": env, **values}))


def run(*argv: str) -> tuple[str, dict[str, Any]]:
    calls.clear()
    parser = Parser(prog="t")
    root.build(parser, frozenset(argv))
    namespace = parser.parse_args(list(argv))
    namespace.cnp_command.call(Env(), namespace)
    [call] = calls
    return call


def test_parameters_arrive_as_declared_with_their_defaults() -> None:
    name, values = run("thing", "make", "box")
    assert name == "make" and isinstance(values.pop("env"), Env)
    assert values == {"name": "box", "extra": None, "web": False, "tags": (), "retries": 2,
                      "days": None, "mode": "a", "count": 1}
    _, values = run("thing", "make", "box", "more", "--web", "--tag", "x", "--tag", "y",
                    "--retries", "5", "--days", "0.5", "--mode", "b", "-n", "7")
    assert values["extra"] == "more" and values["web"] is True and values["tags"] == ("x", "y")
    assert (values["retries"], values["days"], values["mode"], values["count"]) == (5, 0.5, "b", 7)
    assert run("thing", "make", "box", "--web", "--no-web")[1]["web"] is False


def test_a_group_option_holds_for_its_subcommand_unless_given_again() -> None:
    assert run("report") == ("report", {"since": None})
    assert run("report", "--since", "3") == ("report", {"since": 3})
    assert run("report", "--since", "3", "daily") == ("daily", {"since": 3})
    assert run("report", "--since", "3", "daily", "--since", "4") == ("daily", {"since": 4})
    assert run("report", "daily") == ("daily", {"since": None})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("thing", "make", "box", "--retries", "6"), "argument --retries: 6 is not in the range "
                                                     "0<=x<=5"),
        (("thing", "make", "box", "--retries", "two"), "'two' is not a valid integer"),
        (("thing", "make", "box", "--days", "0"), "0 is not in the range 0<x"),
        (("thing", "make", "box", "--mode", "c"), "invalid choice: 'c'"),
        (("thing", "make"), "the following arguments are required: NAME"),
        (("thing",), "the following arguments are required: COMMAND"),
        (("thing", "make", "box", "--wbe"), "unrecognized arguments: --wbe"),
        (("thing", "make", "box", "--we"), "unrecognized arguments: --we"),  # no abbreviations
        (("nothing",), "invalid choice: 'nothing'"),
    ],
)
def test_bad_command_lines_are_usage_errors(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(UsageError) as raised:
        run(*argv)
    assert message in raised.value.message
    assert raised.value.exit_code == 2 and raised.value.usage.startswith("usage: t")


def test_help_is_printed_and_ends_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exit) as done:
        run("thing", "make", "--help")
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "Make a thing." in text and "The opposite of --web." in text
    assert "Serve too. (default: no)" in text and "Up to 5. (default: 2)" in text
    assert "100% a or b." in text
    with pytest.raises(Exit):
        run("report", "--help")
    text = capsys.readouterr().out
    assert "Reports.\n\nThe default report when none is named." in text and "daily" in text


def test_only_the_subcommands_named_get_their_parameters() -> None:
    parser = Parser(prog="t")
    root.build(parser, frozenset(["thing"]))
    with pytest.raises(UsageError, match="unrecognized arguments: box"):
        parser.parse_args(["thing", "make", "box"])


def test_without_every_only_the_subcommands_named_are_listed() -> None:
    parser = Parser(prog="t")
    root.build(parser, frozenset(["thing", "make"]), every=False)
    assert parser.parse_args(["thing", "make", "box"]).name == "box"
    parser = Parser(prog="t")
    root.build(parser, frozenset(["thing"]), every=False)
    with pytest.raises(UsageError, match="invalid choice: 'make'"):
        parser.parse_args(["thing", "make", "box"])


def test_a_command_line_error_lists_every_command() -> None:
    """Parsers list only the commands named; a mistake is reported with all of them."""
    wrong = cnp("job", "lsit")
    assert wrong.exit_code == 2
    assert "invalid choice: 'lsit' (choose from 'create', 'delete', 'list', 'next', 'pause', " \
        "'resume', 'show', 'trigger')" in wrong.stderr
    assert cnp("job", "list", "--bogus").stderr.startswith("usage: cnp job list [-h] [--all]")


def test_the_console_command_line() -> None:
    bare = cnp()
    assert bare.exit_code == 2 and "usage: cnp" in bare.stderr and "job" in bare.stderr
    helped = cnp("job", "--help")
    assert helped.exit_code == 0 and "List jobs with their next run" in helped.stdout
    listed = cnp("job", "list", "--help")
    assert listed.exit_code == 0 and "--all" in listed.stdout
    assert cnp("--version").stdout.startswith("cnp ")
    wrong = cnp("--format", "json", "nosuch")
    assert wrong.exit_code == 2 and wrong.stdout == ""
    assert json.loads(wrong.stderr) == {
        "error": "usage", "message": wrong.error["message"]}
    assert "invalid choice: 'nosuch'" in wrong.error["message"]
    abbreviated = cnp("--form", "json", "job", "list")
    assert abbreviated.exit_code == 2 and "--form" in abbreviated.stderr
    pretty = cnp("job", "list", "--format", "xml")
    assert pretty.exit_code == 2
    assert pretty.stderr.startswith("usage: cnp job list")
    assert "Error: argument --format: invalid choice: 'xml'" in pretty.stderr
