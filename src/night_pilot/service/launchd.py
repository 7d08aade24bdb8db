"""The launchd agent: its property list (which reads the environment file through the shell)
and its state in the user's GUI domain.
"""

from __future__ import annotations

import plistlib
import re
from typing import Any

from ..config import APP_NAME
from .commands import run_command
from .spec import LAUNCHD_LABEL, RESTART_SEC, ServiceSpec

# The agent reads the environment file through the shell, as systemd's EnvironmentFile= would.
_LAUNCHD_SCRIPT = 'set -a && . "$1" && set +a && shift && exec "$@"'


def launchd_plist(spec: ServiceSpec) -> dict[str, Any]:
    return {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": ["/bin/sh", "-c", _LAUNCHD_SCRIPT, f"{APP_NAME}-service",
                             str(spec.env_file), *spec.argv],
        "EnvironmentVariables": dict(spec.environment) | {"PYTHONUNBUFFERED": "1"},
        "WorkingDirectory": str(spec.home),
        "RunAtLoad": True,
        # Restarted when it exits with an error or a signal; a clean stop stays stopped.
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": RESTART_SEC,
        # launchd's SIGTERM-to-SIGKILL wait (20 s by default) must outlast the shutdown grace.
        "ExitTimeOut": spec.stop_timeout_s,
        "StandardOutPath": str(spec.data_dir / "service.out.log"),
        "StandardErrorPath": str(spec.data_dir / "service.err.log"),
    }


def render_launchd_plist(spec: ServiceSpec) -> bytes:
    return plistlib.dumps(launchd_plist(spec), sort_keys=True)


def launchd_state(tool: str, uid: int) -> tuple[bool, str | None, int | None]:
    """(loaded, state, pid) of the agent in the user's GUI domain."""
    step = run_command([tool, "print", f"gui/{uid}/{LAUNCHD_LABEL}"])
    if not step.ok:
        return False, None, None
    state = re.search(r"^\s*state = (\S+)", step.output, re.MULTILINE)
    pid = re.search(r"^\s*pid = (\d+)", step.output, re.MULTILINE)
    return True, state.group(1) if state else None, int(pid.group(1)) if pid else None
