"""Run `cnp` in-process for tests and parse what it printed."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass
from typing import Any

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
    """Invoke the CLI exactly as the console script does, with stdin, stdout and stderr
    replaced by in-memory streams (text over bytes, as a pipe gives: `sys.stdin.buffer`
    works), and return its exit code and what it printed."""
    data = input.encode() if isinstance(input, str) else (input or b"")
    streams = {
        "stdin": io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"),
        "stdout": io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="\n"),
        "stderr": io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="\n"),
    }
    saved = {name: getattr(sys, name) for name in streams}
    for name, stream in streams.items():
        setattr(sys, name, stream)
    try:
        code = main(list(args))
    finally:
        for name, stream in saved.items():
            setattr(sys, name, stream)
    printed = []
    for name in ("stdout", "stderr"):
        stream = streams[name]
        stream.flush()
        printed.append(stream.buffer.getvalue().decode("utf-8"))  # type: ignore[attr-defined]
    return Result(code, printed[0], printed[1])
