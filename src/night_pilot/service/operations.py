"""The service commands: install, preview (what install would do), uninstall and status, the
same for the systemd unit and the launchd agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .commands import manager_tool
from .envfile import (
    claude_warnings,
    ensure_env_file,
    env_file_mode,
    mask_env_text,
    needs_update,
    parse_env_text,
    read_env_file,
    read_env_text,
    render_env_file,
    token_notices,
    unseen_notice,
    unseen_vars,
    update_env_text,
)
from .files import (
    is_current,
    manual_steps,
    read_installed,
    remove_unit,
    render_unit,
    unit_diff,
    write_unit,
)
from .launchd import launchd_state
from .manager import ManagerResult, reload_manager, start_service, stop_service
from .spec import LAUNCHD_LABEL, UNIT_NAME, ServiceSpec
from .systemd import current_user, linger_enabled, render_systemd_unit, systemd_state


def install(spec: ServiceSpec, environ: Mapping[str, str], *, include_token: bool,
            uid: int) -> dict[str, Any]:
    """Write the unit and the environment file, then load and start the service if the service
    manager can be reached. Only a failure to write raises."""
    changed = write_unit(spec)
    update = _env_update(spec, include_token) or None
    action = ensure_env_file(spec, update)
    env_values = read_env_file(spec)
    unseen = unseen_vars(spec, environ, env_values)
    notices = token_notices(spec, environ, env_values) + unseen_notice(spec, unseen) + \
        claude_warnings(spec, (env_values or {}).get("PATH", ""))
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
        "web": spec.web,
        "env_file": str(spec.env_file),
        "env_file_action": action,
        "carried": list(spec.carried),
        "unseen_variables": unseen,
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
    update = _env_update(spec, include_token)
    if existing is None:
        action, text = "create", render_env_file(spec)
    elif update and needs_update(existing, update):
        action, text = "update", update_env_text(existing, update)
    else:
        action, text = "keep", existing
    env_values = parse_env_text(text)
    unseen = unseen_vars(spec, environ, env_values)
    return {
        "platform": spec.kind,
        "unit_path": str(spec.unit_path),
        "unit": render_unit(spec).decode(),
        "unit_installed": installed is not None,
        "unit_current": installed is not None and is_current(spec, installed),
        "command": list(spec.argv),
        "web": spec.web,
        "env_file": str(spec.env_file),
        "env_file_action": action,
        "env_file_contents": mask_env_text(text, hide=spec.carried),
        "carried": list(spec.carried),
        "unseen_variables": unseen,
        "then_run": manual_steps(spec, uid),
        "notices": token_notices(spec, environ, env_values) + unseen_notice(spec, unseen)
        + claude_warnings(spec, env_values.get("PATH", "")),
    }


def _env_update(spec: ServiceSpec, include_token: bool) -> dict[str, str]:
    """What an install sets in an existing environment file: the credentials with
    `include_token`, and the variables carried over with `--env`."""
    return {k: v for k, v in spec.env_file_values.items()
            if k != "PATH" and (include_token or k in spec.carried)}


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
