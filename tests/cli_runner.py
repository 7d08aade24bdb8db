"""Run `cnp` in-process for tests and parse what it printed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner

from night_pilot.cli import main


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error(self) -> Any:
        return json.loads(self.stderr)


def cnp(*args: str, input: str | bytes | None = None) -> Result:
    """Invoke the CLI exactly as the console script does, capturing stdout and stderr."""
    runner = CliRunner()
    outcome: dict[str, int] = {}

    def entry() -> None:
        outcome["code"] = main(list(args))

    import click

    holder = click.command()(entry)
    res = runner.invoke(holder, [], input=input, catch_exceptions=False)
    return Result(outcome.get("code", res.exit_code), res.stdout, res.stderr)
