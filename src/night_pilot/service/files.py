"""The installed unit file (systemd unit or launchd plist): rendering it for the platform,
reading, comparing, writing atomically and removing it, and the commands that load it by hand.
"""

from __future__ import annotations

import difflib
import os
import plistlib
from pathlib import Path

from ..errors import CnpError
from .launchd import render_launchd_plist
from .spec import UNIT_NAME, ServiceSpec
from .systemd import render_systemd_unit


def render_unit(spec: ServiceSpec) -> bytes:
    if spec.kind == "launchd":
        return render_launchd_plist(spec)
    return render_systemd_unit(spec).encode()


def unit_diff(installed: str, rendered: str, path: Path) -> list[str]:
    return [line.rstrip("\n") for line in difflib.unified_diff(
        installed.splitlines(), rendered.splitlines(),
        f"{path} (installed)", f"{path} (now)", lineterm="")]


def manual_steps(spec: ServiceSpec, uid: int) -> list[str]:
    """The commands that load and start the installed service by hand."""
    if spec.kind == "launchd":
        return [f"launchctl bootstrap gui/{uid} {spec.unit_path}"]
    return ["systemctl --user daemon-reload", f"systemctl --user enable --now {UNIT_NAME}"]


def write_atomic(path: Path, data: bytes, mode: int) -> None:
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


def installed_with_web(spec: ServiceSpec) -> bool:
    """Whether the installed unit (or plist) runs the daemon with the dashboard."""
    installed = read_installed(spec)
    if installed is None:
        return False
    if spec.kind == "launchd":
        try:
            args = plistlib.loads(installed).get("ProgramArguments", [])
        except Exception:
            return False
        return "--web" in args
    return any(line.startswith("ExecStart=") and " --web" in line
               for line in installed.decode(errors="replace").splitlines())


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
        write_atomic(spec.unit_path, data, 0o644)
    except OSError as exc:
        raise CnpError(f"cannot write {spec.unit_path}: {exc.strerror or exc}") from exc
    return old != data


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
