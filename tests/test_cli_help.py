"""Every command's --help: an example that parses as the command it shows, and help text
for every positional argument."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

import click
import pytest

from cli_runner import cnp
from night_pilot.cli.app import cli
from night_pilot.cli.examples import EXAMPLES

pytestmark = pytest.mark.usefixtures("initialized")  # not about creating a database


def commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    ctx = click.Context(group, info_name=" ".join(("cnp", *path)))
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        assert sub is not None, name
        yield (*path, name)
        if isinstance(sub, click.Group):
            yield from commands(sub, (*path, name))


ALL: list[tuple[str, ...]] = [(), *commands(cli)]


def resolve(path: tuple[str, ...]) -> click.Command:
    cmd: click.Command = cli
    for name in path:
        assert isinstance(cmd, click.Group)
        found = cmd.get_command(click.Context(cmd), name)
        assert found is not None
        cmd = found
    return cmd


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "cnp")
def test_every_command_has_an_example_and_explains_its_arguments(path: tuple[str, ...]) -> None:
    out = cnp(*path, "--help")
    assert out.exit_code == 0, out.stderr
    assert re.search(r"^  Examples?:$", out.stdout, re.M), (
        f"`cnp {' '.join(path)} --help` shows no example")
    section = re.split(r"^  Examples?:$", out.stdout, flags=re.M)[1]
    assert f"cnp {' '.join(path)}".strip() in section
    for param in resolve(path).params:
        if isinstance(param, click.Argument):
            assert param.help, f"{' '.join(path)}: argument {param.name} has no help"
            assert param.help in " ".join(out.stdout.split()) or param.help.split()[0] in \
                out.stdout


def test_every_example_is_of_a_command_and_parses() -> None:
    known = {" ".join(p) for p in ALL}
    assert set(EXAMPLES) <= known, set(EXAMPLES) - known
    for path, lines in EXAMPLES.items():
        for line in lines:
            words = shlex.split(line)
            if words[0] != "cnp":
                continue  # shown as another program runs it (claude mcp add …, eval …)
            args = [w for w in words[1:] if w != "&&"]
            assert " ".join(args).startswith(path), (path, line)
            # --help is eager: it stops after parsing, so unknown options still fail here.
            out = cnp(*args[: len(args)], "--help") if "&&" not in words else cnp("--help")
            assert out.exit_code == 0, (line, out.stderr)
