"""The systemd user unit: rendering it (ExecStart= and Environment= quoting), asking the user
manager for its state, and whether lingering keeps it running after logout.
"""

from __future__ import annotations

import re
from pathlib import Path

from .commands import run_command
from .spec import NO_RESTART_STATUS, RESTART_SEC, UNIT_NAME, ServiceSpec, no_newline

_SYSTEMD_BARE = re.compile(r"[A-Za-z0-9_@+=:,./-]+")


def systemd_quote(arg: str) -> str:
    """One ExecStart= word: `%` specifiers and `$` expansion escaped, quoted when needed."""
    no_newline(arg)
    if _SYSTEMD_BARE.fullmatch(arg):
        return arg
    escaped = (arg.replace("\\", "\\\\").replace('"', '\\"')
               .replace("%", "%%").replace("$", "$$"))
    return f'"{escaped}"'


def systemd_environment(name: str, value: str) -> str:
    """An `Environment=` line (specifiers are expanded there, `$` is not)."""
    assignment = f"{name}={no_newline(value)}"
    if _SYSTEMD_BARE.fullmatch(assignment):
        return f"Environment={assignment}"
    escaped = assignment.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'Environment="{escaped}"'


def render_systemd_unit(spec: ServiceSpec) -> str:
    env_lines = [systemd_environment(k, v) for k, v in spec.environment.items()]
    env_lines.append(systemd_environment("PYTHONUNBUFFERED", "1"))
    grace = f"{spec.shutdown_grace_s:g}"
    lines = [
        "# Written by `cnp service install`; run it again to update this file.",
        "[Unit]",
        "Description=Claude Night Pilot scheduler daemon",
        "",
        "[Service]",
        "Type=exec",
        "ExecStart=" + " ".join(systemd_quote(a) for a in spec.argv),
        *env_lines,
        # Variables there (PATH, credentials) override the Environment= lines above.
        "EnvironmentFile=" + no_newline(str(spec.env_file)).replace("%", "%%"),
        "Restart=on-failure",
        f"RestartSec={RESTART_SEC}",
        f"RestartPreventExitStatus={NO_RESTART_STATUS}",
        f"# SIGTERM goes to the daemon alone: it stops claiming, gives running runs {grace} s",
        "# (--shutdown-grace), then stops them and records them as interrupted. Whatever is left",
        "# when TimeoutStopSec runs out is killed, the whole control group.",
        "KillMode=mixed",
        f"TimeoutStopSec={spec.stop_timeout_s}",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


SYSTEMD_STATES = {"active", "inactive", "failed", "activating", "deactivating", "reloading",
                  "maintenance", "refreshing"}


def systemd_state(tool: str) -> tuple[str | None, str | None, str | None]:
    """(is-active, is-enabled, error) from the user manager; states are None when unknown."""
    active = run_command([tool, "--user", "is-active", UNIT_NAME])
    word = active.output.splitlines()[0].strip() if active.output else ""
    if word not in SYSTEMD_STATES:
        return None, None, active.output or "systemctl gave no answer"
    enabled = run_command([tool, "--user", "is-enabled", UNIT_NAME])
    answer = enabled.output.splitlines()[0].strip() if enabled.output else ""
    return word, answer or None, None


LINGER_DIR = Path("/var/lib/systemd/linger")


def linger_enabled(user: str | None, linger_dir: Path = LINGER_DIR) -> bool | None:
    """Whether systemd keeps this user's services running after logout (None: unknown)."""
    if user is None or not linger_dir.is_dir():
        return None
    return (linger_dir / user).exists()


def current_user() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
