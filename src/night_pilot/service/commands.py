"""Running one command against the service manager (`systemctl`, `launchctl`) and keeping
what it answered.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .spec import Kind

COMMAND_TIMEOUT_S = 30.0


@dataclass
class Step:
    """One command run against the service manager."""

    command: list[str]
    returncode: int | None
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.command, "ok": self.ok, "returncode": self.returncode,
                "output": self.output}


def run_command(argv: Sequence[str], timeout: float = COMMAND_TIMEOUT_S) -> Step:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Step(list(argv), None, str(exc))
    output = "\n".join(s.strip() for s in (proc.stdout, proc.stderr) if s.strip())
    return Step(list(argv), proc.returncode, output)


def manager_tool(kind: Kind, environ: Mapping[str, str]) -> str | None:
    """The absolute path of `systemctl` or `launchctl` on the PATH, if there is one."""
    name = "launchctl" if kind == "launchd" else "systemctl"
    return shutil.which(name, path=environ.get("PATH") or None)
