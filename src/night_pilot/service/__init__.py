"""Running the daemon under the user's service manager: a systemd user unit, or a launchd agent.

Rendering is pure: `build_spec` (in `spec`) turns explicit inputs (environment, interpreter path,
home) into a `ServiceSpec`, and `systemd`, `launchd` and `envfile` turn a spec into file
contents. The I/O — writing the files (`files`, `envfile`), asking `systemctl`/`launchctl`
(`commands`, `manager`), reading back what is installed — lives in small functions beside them;
`operations` composes them into install, preview, uninstall and status.

Secrets never go into the unit or the plist (those are readable by others). They live only in the
environment file `<data dir>/service.env`, created with mode 0600 and never overwritten; the
installer writes a credential into it only when asked (`include_token`).
"""

from .envfile import (
    claude_warnings,
    ensure_env_file,
    mask_env_text,
    parse_env_text,
    render_env_file,
    update_env_text,
)
from .files import installed_with_web, render_unit, write_unit
from .launchd import render_launchd_plist
from .manager import start_service, stop_service
from .operations import install, preview, status, uninstall
from .spec import (
    DAEMON_ARGS,
    DEFAULT_SHUTDOWN_GRACE_S,
    ENV_FILENAME,
    LAUNCHD_LABEL,
    PLIST_NAME,
    TOKEN_VARS,
    UNIT_NAME,
    Kind,
    ServiceSpec,
    build_spec,
    cnp_command,
    platform_kind,
    shutdown_grace,
    stop_timeout_s,
)
from .systemd import render_systemd_unit

__all__ = [
    "DAEMON_ARGS",
    "DEFAULT_SHUTDOWN_GRACE_S",
    "ENV_FILENAME",
    "LAUNCHD_LABEL",
    "PLIST_NAME",
    "TOKEN_VARS",
    "UNIT_NAME",
    "Kind",
    "ServiceSpec",
    "build_spec",
    "claude_warnings",
    "cnp_command",
    "ensure_env_file",
    "install",
    "installed_with_web",
    "mask_env_text",
    "parse_env_text",
    "platform_kind",
    "preview",
    "render_env_file",
    "render_launchd_plist",
    "render_systemd_unit",
    "render_unit",
    "shutdown_grace",
    "start_service",
    "status",
    "stop_service",
    "stop_timeout_s",
    "uninstall",
    "update_env_text",
    "write_unit",
]
