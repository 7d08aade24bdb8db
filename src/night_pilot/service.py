"""Running the daemon under the user's service manager: a systemd user unit, or a launchd agent.

Rendering is pure: `build_spec` turns explicit inputs (environment, interpreter path, home) into a
`ServiceSpec`, and `render_*` turn a spec into file contents. The I/O — writing the files, asking
`systemctl`/`launchctl`, reading back what is installed — lives in small functions below them.

Secrets never go into the unit or the plist (those are readable by others). They live only in the
environment file `<data dir>/service.env`, created with mode 0600 and never overwritten; the
installer writes a credential into it only when asked (`include_token`).
"""

from __future__ import annotations

import difflib
import math
import os
import plistlib
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .config import APP_NAME, data_dir, redact_url, resolve_db
from .errors import CnpError

Kind = Literal["systemd", "launchd"]

UNIT_NAME = f"{APP_NAME}.service"
LAUNCHD_LABEL = "com.claude-night-pilot.daemon"
PLIST_NAME = f"{LAUNCHD_LABEL}.plist"
ENV_FILENAME = "service.env"

# What the service runs after the `cnp` executable. Extend it here (e.g. with `--web`); the stop
# timeout follows a `--shutdown-grace` given in it.
DAEMON_ARGS: tuple[str, ...] = ("daemon",)
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
FALLBACK_PATH = "/usr/local/bin:/usr/bin:/bin"
LINGER_DIR = Path("/var/lib/systemd/linger")
COMMAND_TIMEOUT_S = 30.0


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

    @property
    def argv(self) -> tuple[str, ...]:
        return (*self.command, *DAEMON_ARGS)

    @property
    def stop_timeout_s(self) -> int:
        return stop_timeout_s(self.shutdown_grace_s)


# -- inputs -------------------------------------------------------------------------------------


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
               home: Path | None = None) -> ServiceSpec:
    """What would be installed for the user whose environment is `environ`.

    The unit pins the data directory (so the service and this shell agree on the database and
    on where the environment file is) and passes `--db`/`CNP_DB` on as `CNP_DB`. A database URL
    with a password is a secret: it goes into the environment file instead.
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
    return ServiceSpec(
        kind=kind,
        command=cnp_command(executable, environ.get("PATH")),
        unit_path=unit_path(kind, environ, home),
        env_file=directory / ENV_FILENAME,
        data_dir=directory,
        home=home,
        environment=environment,
        env_file_values=env_values,
        shutdown_grace_s=shutdown_grace(DAEMON_ARGS),
    )


# -- rendering ----------------------------------------------------------------------------------

_SYSTEMD_BARE = re.compile(r"[A-Za-z0-9_@+=:,./-]+")


def _no_newline(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise CnpError(f"cannot put a value with a line break into a service file: {value!r}")
    return value


def systemd_quote(arg: str) -> str:
    """One ExecStart= word: `%` specifiers and `$` expansion escaped, quoted when needed."""
    _no_newline(arg)
    if _SYSTEMD_BARE.fullmatch(arg):
        return arg
    escaped = (arg.replace("\\", "\\\\").replace('"', '\\"')
               .replace("%", "%%").replace("$", "$$"))
    return f'"{escaped}"'


def systemd_environment(name: str, value: str) -> str:
    """An `Environment=` line (specifiers are expanded there, `$` is not)."""
    assignment = f"{name}={_no_newline(value)}"
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
        "EnvironmentFile=" + _no_newline(str(spec.env_file)).replace("%", "%%"),
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


def render_unit(spec: ServiceSpec) -> bytes:
    if spec.kind == "launchd":
        return render_launchd_plist(spec)
    return render_systemd_unit(spec).encode()


def env_quote(value: str) -> str:
    """A double-quoted value that systemd's EnvironmentFile= and /bin/sh read alike."""
    _no_newline(value)
    return '"' + re.sub(r'([\\"$`])', r"\\\1", value) + '"'


def render_env_file(spec: ServiceSpec) -> str:
    values = dict(spec.env_file_values)
    lines = [
        "# Environment of the Claude Night Pilot service, read when it starts. Created by",
        "# `cnp service install`; later installs leave it alone (except that --include-token",
        "# sets the credential lines). Keep it private (mode 0600).",
        '# One KEY="value" per line; systemd and /bin/sh both read it.',
        "",
        "# PATH of the shell that installed the service, so that `claude` and `node` are found.",
        f"PATH={env_quote(values.pop('PATH'))}",
    ]
    if "CNP_DB" in values:
        lines += ["", "# The database (its URL holds a password, so it is kept here).",
                  f"CNP_DB={env_quote(values.pop('CNP_DB'))}"]
    lines += ["", "# Credentials for unattended runs: a token from `claude setup-token`, or an",
              "# API key. Without one, `claude` uses the login stored in ~/.claude."]
    for name in TOKEN_VARS:
        if name in values:
            lines.append(f"{name}={env_quote(values.pop(name))}")
        else:
            lines.append(f"# {name}=")
    lines += [f"{k}={env_quote(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


_ASSIGNMENT = re.compile(r"\s*(#\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)")


def parse_env_text(text: str) -> dict[str, str]:
    """The variables an environment file sets (commented lines excluded), unquoted."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        m = _ASSIGNMENT.fullmatch(line)
        if m is None or m.group(1) is not None:
            continue
        raw = m.group(3).strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif len(raw) >= 2 and raw[0] == raw[-1] == "'":
            raw = raw[1:-1]
        values[m.group(2)] = raw
    return values


SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD", re.IGNORECASE)


def mask_env_text(text: str) -> str:
    """The environment file as safe to print: secret values and URL passwords hidden."""
    out = []
    for line in text.splitlines():
        m = _ASSIGNMENT.fullmatch(line)
        if m is not None and m.group(1) is None:
            name, value = m.group(2), parse_env_text(line).get(m.group(2), "")
            if value and SECRET_NAME.search(name):
                line = f'{name}="***"'
            elif value and redact_url(value) != value:
                line = f"{name}={env_quote(redact_url(value))}"
        out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def update_env_text(text: str, values: Mapping[str, str]) -> str:
    """`text` with each variable in `values` set: its line (or commented placeholder) replaced,
    else appended. Everything else stays as the user left it."""
    lines = text.splitlines()
    for name, value in values.items():
        new = f"{name}={env_quote(value)}"
        active = [i for i, ln in enumerate(lines)
                  if (m := _ASSIGNMENT.fullmatch(ln)) and m.group(2) == name and not m.group(1)]
        placeholder = [i for i, ln in enumerate(lines)
                       if (m := _ASSIGNMENT.fullmatch(ln)) and m.group(2) == name and m.group(1)]
        if active or placeholder:
            lines[(active or placeholder)[0]] = new
        else:
            lines.append(new)
    return "\n".join(lines) + "\n"


def needs_update(text: str, values: Mapping[str, str]) -> bool:
    current = parse_env_text(text)
    return any(current.get(k) != v for k, v in values.items())


def unit_diff(installed: str, rendered: str, path: Path) -> list[str]:
    return [line.rstrip("\n") for line in difflib.unified_diff(
        installed.splitlines(), rendered.splitlines(),
        f"{path} (installed)", f"{path} (now)", lineterm="")]


def manual_steps(spec: ServiceSpec, uid: int) -> list[str]:
    """The commands that load and start the installed service by hand."""
    if spec.kind == "launchd":
        return [f"launchctl bootstrap gui/{uid} {spec.unit_path}"]
    return ["systemctl --user daemon-reload", f"systemctl --user enable --now {UNIT_NAME}"]


# -- files --------------------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.fchmod(fd, mode)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_installed(spec: ServiceSpec) -> bytes | None:
    try:
        return spec.unit_path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise CnpError(f"cannot read {spec.unit_path}: {exc.strerror or exc}") from exc


def is_current(spec: ServiceSpec, installed: bytes) -> bool:
    """Whether an installed unit or plist says what would be rendered now."""
    rendered = render_unit(spec)
    if spec.kind == "launchd":
        try:
            return bool(plistlib.loads(installed) == plistlib.loads(rendered))
        except Exception:
            return False
    return installed == rendered


def write_unit(spec: ServiceSpec) -> bool:
    """Write the unit (or plist); True when its contents changed."""
    data = render_unit(spec)
    old = read_installed(spec)
    try:
        spec.unit_path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(spec.unit_path, data, 0o644)
    except OSError as exc:
        raise CnpError(f"cannot write {spec.unit_path}: {exc.strerror or exc}") from exc
    return old != data


EnvAction = Literal["created", "kept", "updated"]


def ensure_env_file(spec: ServiceSpec, update: Mapping[str, str] | None = None) -> EnvAction:
    """Create the environment file (mode 0600) if missing; an existing one is kept, except that
    the variables in `update` are set in it."""
    try:
        spec.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(spec.env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if not update:
                return "kept"
            text = spec.env_file.read_text()
            if not needs_update(text, update):
                return "kept"
            _write_atomic(spec.env_file, update_env_text(text, update).encode(), 0o600)
            return "updated"
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, render_env_file(spec).encode())
        finally:
            os.close(fd)
        return "created"
    except OSError as exc:
        raise CnpError(f"cannot write {spec.env_file}: {exc.strerror or exc}") from exc


def read_env_file(spec: ServiceSpec) -> dict[str, str] | None:
    text = read_env_text(spec)
    return None if text is None else parse_env_text(text)


def read_env_text(spec: ServiceSpec) -> str | None:
    try:
        return spec.env_file.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise CnpError(f"cannot read {spec.env_file}: {exc}") from exc


def env_file_mode(spec: ServiceSpec) -> int | None:
    try:
        return spec.env_file.stat().st_mode & 0o777
    except FileNotFoundError:
        return None


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


def claude_warnings(spec: ServiceSpec, path: str) -> list[str]:
    """What would keep the service, with `path` as its PATH, from finding `claude` (and the
    `node` it may need)."""
    from .config import find_claude

    lookup = {"PATH": path, "CNP_CLAUDE_BIN": spec.environment.get("CNP_CLAUDE_BIN", "")}
    try:
        claude = find_claude(env=lookup)
    except CnpError:
        return [f"`claude` is not on the PATH in {spec.env_file}"
                + (" and CNP_CLAUDE_BIN does not name it" if lookup["CNP_CLAUDE_BIN"] else "")
                + ": the service's Claude runs will fail until it is (install it, or edit PATH "
                "there)"]
    try:
        with claude.open("rb") as fh:
            first = fh.readline(200)
    except OSError:
        return []
    if first.startswith(b"#!") and b"node" in first and not shutil.which("node", path=path):
        return [f"{claude} runs on node, which is not on the PATH in {spec.env_file}"]
    return []


def token_notices(spec: ServiceSpec, environ: Mapping[str, str],
                  env_values: Mapping[str, str] | None) -> list[str]:
    """Credentials set in this shell that the service will not have."""
    notices = []
    defined = env_values or {}
    for name in TOKEN_VARS:
        if environ.get(name) and not defined.get(name):
            notices.append(
                f"{name} is set in this shell but not in {spec.env_file}: the service will not "
                f"have it. Add it there, or run `cnp service install --include-token`.")
    if "CNP_DB" in spec.env_file_values and defined.get("CNP_DB") != spec.env_file_values[
            "CNP_DB"]:
        notices.append(f"the database URL holds a password, so it is not in the unit: set "
                       f"CNP_DB in {spec.env_file} (--include-token writes it there)")
    return notices


# -- the service manager ------------------------------------------------------------------------


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


def launchd_state(tool: str, uid: int) -> tuple[bool, str | None, int | None]:
    """(loaded, state, pid) of the agent in the user's GUI domain."""
    step = run_command([tool, "print", f"gui/{uid}/{LAUNCHD_LABEL}"])
    if not step.ok:
        return False, None, None
    state = re.search(r"^\s*state = (\S+)", step.output, re.MULTILINE)
    pid = re.search(r"^\s*pid = (\d+)", step.output, re.MULTILINE)
    return True, state.group(1) if state else None, int(pid.group(1)) if pid else None


@dataclass
class ManagerResult:
    """What the service manager was asked and whether the service is running now."""

    tool: str | None
    steps: list[Step] = field(default_factory=list)
    started: bool = False
    error: str | None = None
    notices: list[str] = field(default_factory=list)


def start_service(spec: ServiceSpec, environ: Mapping[str, str], *, changed: bool,
                  uid: int) -> ManagerResult:
    """Load the installed unit and start it; a running one is left running (its runs too)."""
    tool = manager_tool(spec.kind, environ)
    result = ManagerResult(tool)
    if tool is None:
        result.error = f"{'launchctl' if spec.kind == 'launchd' else 'systemctl'} not found"
        return result
    if spec.kind == "launchd":
        loaded, _state, _pid = launchd_state(tool, uid)
        if loaded:
            result.started = True
            if changed:
                result.notices.append(
                    "the agent was already loaded and still runs the old definition; to apply "
                    f"it (running jobs get the shutdown grace): launchctl bootout gui/{uid}/"
                    f"{LAUNCHD_LABEL} && launchctl bootstrap gui/{uid} {spec.unit_path}")
            return result
        steps = [[tool, "enable", f"gui/{uid}/{LAUNCHD_LABEL}"],
                 [tool, "bootstrap", f"gui/{uid}", str(spec.unit_path)]]
    else:
        reload = run_command([tool, "--user", "daemon-reload"])
        result.steps.append(reload)
        if not reload.ok:
            result.error = reload.output or "systemctl --user daemon-reload failed"
            return result
        was_active, _enabled, _err = systemd_state(tool)
        if was_active == "active" and changed:
            result.notices.append(
                "the service was already running and keeps its old settings until restarted "
                f"(running jobs get the shutdown grace): systemctl --user restart {UNIT_NAME}")
        steps = [[tool, "--user", "enable", "--now", UNIT_NAME]]
    for argv in steps:
        step = run_command(argv)
        result.steps.append(step)
        if not step.ok:
            result.error = step.output or f"{' '.join(argv)} failed"
            return result
    result.started = True
    return result


def stop_service(spec: ServiceSpec, environ: Mapping[str, str], *, uid: int) -> ManagerResult:
    """Stop and disable the service, before its file is removed."""
    tool = manager_tool(spec.kind, environ)
    result = ManagerResult(tool)
    if tool is None:
        result.error = f"{'launchctl' if spec.kind == 'launchd' else 'systemctl'} not found"
        return result
    if spec.kind == "launchd":
        loaded, _state, _pid = launchd_state(tool, uid)
        if not loaded:
            result.started = False
            return result
        argv = [tool, "bootout", f"gui/{uid}/{LAUNCHD_LABEL}"]
    else:
        argv = [tool, "--user", "disable", "--now", UNIT_NAME]
    step = run_command(argv, timeout=COMMAND_TIMEOUT_S + spec.stop_timeout_s)
    result.steps.append(step)
    if not step.ok:
        result.error = step.output or f"{' '.join(argv)} failed"
    return result


def remove_unit(spec: ServiceSpec) -> bool:
    """Delete the unit (and systemd's enablement link to it); False if it was not there."""
    if spec.kind == "systemd":
        link = spec.unit_path.parent / "default.target.wants" / UNIT_NAME
        if link.is_symlink():
            link.unlink()
    try:
        spec.unit_path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise CnpError(f"cannot remove {spec.unit_path}: {exc.strerror or exc}") from exc
    return True


def reload_manager(spec: ServiceSpec, environ: Mapping[str, str]) -> Step | None:
    tool = manager_tool(spec.kind, environ)
    if spec.kind != "systemd" or tool is None:
        return None
    return run_command([tool, "--user", "daemon-reload"])


# -- the three operations ----------------------------------------------------------------------


def install(spec: ServiceSpec, environ: Mapping[str, str], *, include_token: bool,
            uid: int) -> dict[str, Any]:
    """Write the unit and the environment file, then load and start the service if the service
    manager can be reached. Only a failure to write raises."""
    changed = write_unit(spec)
    update = ({k: v for k, v in spec.env_file_values.items() if k != "PATH"}
              if include_token else None)
    action = ensure_env_file(spec, update)
    env_values = read_env_file(spec)
    notices = token_notices(spec, environ, env_values) + claude_warnings(
        spec, (env_values or {}).get("PATH", ""))
    mode = env_file_mode(spec)
    if mode is not None and mode & 0o077:
        notices.append(f"{spec.env_file} is readable by others (mode {mode:04o}): "
                       f"chmod 600 {spec.env_file}")
    manager = start_service(spec, environ, changed=changed, uid=uid)
    notices += manager.notices
    manual = [] if manager.started else manual_steps(spec, uid)
    if spec.kind == "systemd" and linger_enabled(current_user()) is False:
        notices.append("systemd stops your services when you log out; to keep the daemon "
                       "running: loginctl enable-linger")
    return {
        "platform": spec.kind,
        "unit_path": str(spec.unit_path),
        "unit_changed": changed,
        "command": list(spec.argv),
        "env_file": str(spec.env_file),
        "env_file_action": action,
        "started": manager.started,
        "manager": manager.tool,
        "manager_error": manager.error,
        "steps": [s.to_dict() for s in manager.steps],
        "manual_steps": manual,
        "notices": notices,
    }


def preview(spec: ServiceSpec, environ: Mapping[str, str], *, include_token: bool,
            uid: int) -> dict[str, Any]:
    """What `install` would write and run, secrets masked; touches nothing."""
    installed = read_installed(spec)
    existing = read_env_text(spec)
    update = ({k: v for k, v in spec.env_file_values.items() if k != "PATH"}
              if include_token else {})
    if existing is None:
        action, text = "create", render_env_file(spec)
    elif update and needs_update(existing, update):
        action, text = "update", update_env_text(existing, update)
    else:
        action, text = "keep", existing
    env_values = parse_env_text(text)
    return {
        "platform": spec.kind,
        "unit_path": str(spec.unit_path),
        "unit": render_unit(spec).decode(),
        "unit_installed": installed is not None,
        "unit_current": installed is not None and is_current(spec, installed),
        "command": list(spec.argv),
        "env_file": str(spec.env_file),
        "env_file_action": action,
        "env_file_contents": mask_env_text(text),
        "then_run": manual_steps(spec, uid),
        "notices": token_notices(spec, environ, env_values)
        + claude_warnings(spec, env_values.get("PATH", "")),
    }


def uninstall(spec: ServiceSpec, environ: Mapping[str, str], *, uid: int) -> dict[str, Any]:
    """Stop and disable the service, remove its file; the environment file stays."""
    installed = spec.unit_path.exists()
    manager = (stop_service(spec, environ, uid=uid) if installed
               else ManagerResult(manager_tool(spec.kind, environ)))
    removed = remove_unit(spec)
    steps = list(manager.steps)
    if removed:
        reload = reload_manager(spec, environ)
        if reload is not None:
            steps.append(reload)
    stopped = installed and manager.error is None and manager.tool is not None
    manual: list[str] = []
    if installed and not stopped:
        manual = ([f"launchctl bootout gui/{uid}/{LAUNCHD_LABEL}"] if spec.kind == "launchd"
                  else [f"systemctl --user stop {UNIT_NAME}", "systemctl --user daemon-reload"])
    return {
        "platform": spec.kind,
        "unit_path": str(spec.unit_path),
        "was_installed": installed,
        "removed": removed,
        "stopped": stopped,
        "manager": manager.tool,
        "manager_error": manager.error,
        "steps": [s.to_dict() for s in steps],
        "manual_steps": manual,
        "env_file": str(spec.env_file),
        "env_file_kept": spec.env_file.exists(),
    }


def status(spec: ServiceSpec, environ: Mapping[str, str], *, uid: int) -> dict[str, Any]:
    """Whether the service is installed, current and running; never any secret."""
    installed = read_installed(spec)
    current = installed is not None and is_current(spec, installed)
    diff: list[str] = []
    if installed is not None and not current and spec.kind == "systemd":
        diff = unit_diff(installed.decode(errors="replace"), render_systemd_unit(spec),
                         spec.unit_path)
    env_values = read_env_file(spec)
    mode = env_file_mode(spec)
    data: dict[str, Any] = {
        "platform": spec.kind,
        "unit_path": str(spec.unit_path),
        "installed": installed is not None,
        "current": current if installed is not None else None,
        "diff": diff,
        "command": list(spec.argv),
        "env_file": str(spec.env_file),
        "env_file_exists": env_values is not None,
        "env_file_mode": f"{mode:04o}" if mode is not None else None,
        # Names only: values may be secrets.
        "env_file_sets": sorted(k for k, v in (env_values or {}).items() if v),
        "manager": None,
        "manager_error": None,
        "active": None,
        "enabled": None,
        "pid": None,
    }
    tool = manager_tool(spec.kind, environ)
    data["manager"] = tool
    if tool is None:
        data["manager_error"] = ("launchctl" if spec.kind == "launchd" else "systemctl") + \
            " not found"
    elif spec.kind == "launchd":
        loaded, state, pid = launchd_state(tool, uid)
        data.update(enabled=loaded, active=state if loaded else "not loaded", pid=pid)
    else:
        active, enabled, error = systemd_state(tool)
        data.update(active=active, enabled=enabled, manager_error=error)
    if spec.kind == "systemd":
        data["linger"] = linger_enabled(current_user())
    return data


__all__ = [
    "DAEMON_ARGS",
    "DEFAULT_SHUTDOWN_GRACE_S",
    "ENV_FILENAME",
    "LAUNCHD_LABEL",
    "UNIT_NAME",
    "ServiceSpec",
    "build_spec",
    "cnp_command",
    "ensure_env_file",
    "install",
    "platform_kind",
    "preview",
    "render_env_file",
    "render_launchd_plist",
    "render_systemd_unit",
    "render_unit",
    "start_service",
    "status",
    "stop_service",
    "uninstall",
    "write_unit",
]
