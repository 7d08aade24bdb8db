"""What a service installation is made of: the `ServiceSpec` that `build_spec` derives from
explicit inputs (environment, interpreter path, home), and the names, paths and limits the
systemd unit and the launchd agent share.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..config import APP_NAME, data_dir, redact_url, resolve_db
from ..errors import CnpError

Kind = Literal["systemd", "launchd"]

UNIT_NAME = f"{APP_NAME}.service"
LAUNCHD_LABEL = "com.claude-night-pilot.daemon"
PLIST_NAME = f"{LAUNCHD_LABEL}.plist"
ENV_FILENAME = "service.env"

# What the service runs after the `cnp` executable (`--web` adds the dashboard: WEB_ARGS); the
# stop timeout follows a `--shutdown-grace` given in it.
DAEMON_ARGS: tuple[str, ...] = ("daemon",)
WEB_ARGS: tuple[str, ...] = ("--web",)
# `cnp daemon --shutdown-grace` when not given (a test keeps the two equal).
DEFAULT_SHUTDOWN_GRACE_S = 30.0
# After the grace period the daemon still stops what is left (SIGTERM, 5 s, SIGKILL), joins its
# workers and records each run as interrupted; this is the time allowed for that before the
# service manager kills everything.
STOP_MARGIN_S = 30.0
RESTART_SEC = 10
# Exit status of a usage error or invalid input: restarting cannot fix it.
NO_RESTART_STATUS = 2

# Credentials the installing shell may hold: reported, copied only on request.
TOKEN_VARS = ("CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY")
# Settings that change which `claude` runs or where it keeps its login: passed on when set.
PASSTHROUGH_VARS = ("CNP_CLAUDE_BIN", "CLAUDE_CONFIG_DIR")
# Variables of the installing shell that change what `claude` does (provider, model, proxy…):
# named when the service would not have them, carried over with `--env NAME`.
CLAUDE_VAR_PREFIXES = ("ANTHROPIC_", "CLAUDE_CODE_", "CLAUDE_")
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy",
              "https_proxy", "no_proxy", "all_proxy")
FALLBACK_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class ServiceSpec:
    """Everything the service files are rendered from."""

    kind: Kind
    command: tuple[str, ...]  # the absolute `cnp` invocation, before DAEMON_ARGS
    unit_path: Path
    env_file: Path
    data_dir: Path
    home: Path
    environment: Mapping[str, str]  # not secret: goes into the unit / plist
    env_file_values: Mapping[str, str]  # written into a new environment file (PATH, secrets)
    shutdown_grace_s: float = DEFAULT_SHUTDOWN_GRACE_S
    daemon_args: tuple[str, ...] = DAEMON_ARGS
    # Variables of the installing shell asked to be carried into the environment file.
    carried: tuple[str, ...] = ()

    @property
    def argv(self) -> tuple[str, ...]:
        return (*self.command, *self.daemon_args)

    @property
    def web(self) -> bool:
        return all(a in self.daemon_args for a in WEB_ARGS)

    @property
    def stop_timeout_s(self) -> int:
        return stop_timeout_s(self.shutdown_grace_s)


def platform_kind(platform: str | None = None) -> Kind:
    """launchd on macOS, systemd on other Unix systems."""
    platform = sys.platform if platform is None else platform
    if platform == "darwin":
        return "launchd"
    if platform.startswith(("win", "cygwin", "msys")):
        raise CnpError(f"running cnp as a service is not supported on {platform}",
                       hint="start `cnp daemon` from the Task Scheduler instead")
    return "systemd"


def cnp_command(executable: str, path: str | None) -> tuple[str, ...]:
    """The absolute command that runs this installation's `cnp`.

    The console script beside the interpreter first (the same installation that is running
    now), then `cnp` on `path`, else `<interpreter> -m night_pilot`.
    """
    if executable:
        beside = Path(executable).parent / "cnp"
        if beside.is_file() and os.access(beside, os.X_OK):
            return (str(beside.absolute()),)
    found = shutil.which("cnp", path=path)
    if found:
        return (str(Path(found).absolute()),)
    if not executable:
        raise CnpError("cannot tell which Python runs cnp (sys.executable is empty)",
                       hint="install cnp with pip so that its `cnp` script exists")
    return (str(Path(executable).absolute()), "-m", "night_pilot")


def shutdown_grace(args: Sequence[str]) -> float:
    """The `--shutdown-grace` that `args` give the daemon (its default when absent)."""
    for i, arg in enumerate(args):
        if arg == "--shutdown-grace" and i + 1 < len(args):
            return float(args[i + 1])
        if arg.startswith("--shutdown-grace="):
            return float(arg.split("=", 1)[1])
    return DEFAULT_SHUTDOWN_GRACE_S


def stop_timeout_s(grace_s: float) -> int:
    """Seconds the service manager waits after SIGTERM before it kills everything."""
    return math.ceil(grace_s + STOP_MARGIN_S)


def config_home(environ: Mapping[str, str], home: Path) -> Path:
    value = environ.get("XDG_CONFIG_HOME", "")
    # The XDG spec says a relative value is to be ignored.
    return Path(value) if value and os.path.isabs(value) else home / ".config"


def unit_path(kind: Kind, environ: Mapping[str, str], home: Path) -> Path:
    if kind == "launchd":
        return home / "Library" / "LaunchAgents" / PLIST_NAME
    return config_home(environ, home) / "systemd" / "user" / UNIT_NAME


def home_dir(environ: Mapping[str, str]) -> Path:
    home = environ.get("HOME")
    return Path(home) if home else Path.home()


def service_path(path: str) -> str:
    """The shell's PATH for the service: absolute entries only (a relative one would depend on
    the service's working directory), each once, in order."""
    entries = [p for p in path.split(os.pathsep) if os.path.isabs(p)]
    return os.pathsep.join(dict.fromkeys(entries)) or FALLBACK_PATH


def build_spec(kind: Kind, environ: Mapping[str, str], *, executable: str,
               db: str | None = None, include_token: bool = False,
               home: Path | None = None, web: bool = False,
               carry: Sequence[str] = ()) -> ServiceSpec:
    """What would be installed for the user whose environment is `environ`.

    The unit pins the data directory (so the service and this shell agree on the database and
    on where the environment file is) and passes `--db`/`CNP_DB` on as `CNP_DB`. A database URL
    with a password is a secret: it goes into the environment file instead. With `web` the
    service runs the dashboard too (`cnp daemon --web`); each variable named in `carry` goes
    into the environment file with its value in `environ`.
    """
    home = home_dir(environ) if home is None else home
    directory = data_dir(environ)
    environment: dict[str, str] = {"CNP_HOME": str(directory)}
    env_values: dict[str, str] = {"PATH": service_path(environ.get("PATH", ""))}
    if db or environ.get("CNP_DB"):
        location = resolve_db(db, environ)
        if location.url is not None:
            target = env_values if redact_url(location.url) != location.url else environment
            target["CNP_DB"] = location.url
        else:
            environment["CNP_DB"] = str(location.path)
    for name in PASSTHROUGH_VARS:
        if environ.get(name):
            environment[name] = environ[name]
    if include_token:
        for name in TOKEN_VARS:
            if environ.get(name):
                env_values[name] = environ[name]
    for name in carry:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise CnpError(f"--env {name!r} is not a variable name")
        if name in ("PATH", "CNP_HOME"):
            raise CnpError(f"--env {name}: the service sets {name} itself",
                           hint=f"edit {directory / ENV_FILENAME} to change it")
        if name not in environ:
            raise CnpError(f"--env {name}: {name} is not set in this shell")
        env_values[name] = no_newline(environ[name])
    args = (*DAEMON_ARGS, *WEB_ARGS) if web else DAEMON_ARGS
    return ServiceSpec(
        kind=kind,
        command=cnp_command(executable, environ.get("PATH")),
        unit_path=unit_path(kind, environ, home),
        env_file=directory / ENV_FILENAME,
        data_dir=directory,
        home=home,
        environment=environment,
        env_file_values=env_values,
        shutdown_grace_s=shutdown_grace(args),
        daemon_args=args,
        carried=tuple(dict.fromkeys(carry)),
    )


def no_newline(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise CnpError(f"cannot put a value with a line break into a service file: {value!r}")
    return value
