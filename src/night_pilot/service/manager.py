"""Starting, stopping and reloading the service through its manager: systemctl for the systemd
unit, launchctl for the launchd agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .commands import COMMAND_TIMEOUT_S, Step, manager_tool, run_command
from .launchd import launchd_state
from .spec import LAUNCHD_LABEL, UNIT_NAME, ServiceSpec
from .systemd import systemd_state


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


def reload_manager(spec: ServiceSpec, environ: Mapping[str, str]) -> Step | None:
    tool = manager_tool(spec.kind, environ)
    if spec.kind != "systemd" or tool is None:
        return None
    return run_command([tool, "--user", "daemon-reload"])
