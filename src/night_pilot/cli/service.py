"""`cnp service install|uninstall|status`: run the daemon under systemd (user) or launchd."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from .app import Env, cli, common, echo, pass_env
from .output import emit, fields

if TYPE_CHECKING:
    from ..service import ServiceSpec


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


def _spec(env: Env, include_token: bool = False, *, web: bool | None = None,
          carry: tuple[str, ...] = ()) -> ServiceSpec:
    """What to install (or compare with what is installed: without `web`, whether the
    installed service serves the dashboard is read from it)."""
    from ..service import build_spec, installed_with_web, platform_kind

    def build(with_web: bool) -> ServiceSpec:
        return build_spec(platform_kind(), os.environ, executable=sys.executable, db=env.db,
                          include_token=include_token, web=with_web, carry=carry)

    spec = build(bool(web))
    if web is None and installed_with_web(spec):
        spec = build(True)
    return spec


def _notices(data: dict[str, Any]) -> None:
    for notice in data.get("notices", []):
        echo(f"Note: {notice}")


def _manual(data: dict[str, Any], what: str) -> None:
    reason = _first_line(data.get("manager_error")) or "the service manager did not answer"
    echo(f"Could not {what} ({reason}). Run by hand:")
    for step in data["manual_steps"]:
        echo(f"  {step}")


@cli.group("service")
def service() -> None:
    """Run `cnp daemon` as a systemd user service (macOS: a launchd agent).

    Secrets go only into the environment file in the data directory (mode 0600): install
    creates it once and afterwards changes it only when asked to (--include-token).
    """


@service.command("install")
@click.option("--print", "dry_run", is_flag=True,
              help="Show the unit and the environment file (secrets masked); write nothing.")
@click.option("--include-token", is_flag=True,
              help="Copy CLAUDE_CODE_OAUTH_TOKEN / ANTHROPIC_API_KEY (and a database URL with "
              "a password) from this shell into the environment file.")
@click.option("--web", is_flag=True,
              help="Serve the dashboard too: the service runs `cnp daemon --web` (on "
              "127.0.0.1:8765; `cnp web link` prints a login link).")
@click.option("--env", "carry", multiple=True, metavar="NAME",
              help="Copy this variable of the shell into the environment file (repeatable), "
              "e.g. --env ANTHROPIC_BASE_URL. Install names those the service would not see.")
@common
@pass_env
def install(env: Env, dry_run: bool, include_token: bool, web: bool,
            carry: tuple[str, ...]) -> None:
    """Write the unit and the environment file, then enable and start the service.

    Example: cnp service install --web --env HTTPS_PROXY
    """
    from .. import service as svc

    spec = _spec(env, include_token, web=web, carry=carry)
    uid = os.getuid()
    if dry_run:
        data = svc.preview(spec, os.environ, include_token=include_token, uid=uid)

        def pretty_preview() -> None:
            state = ("installed, unchanged" if data["unit_current"] else
                     "installed, would be replaced" if data["unit_installed"] else "new")
            echo(f"# {data['unit_path']} ({state})")
            echo(data["unit"], nl=False)
            echo(f"\n# {data['env_file']} (mode 0600; would {data['env_file_action']})")
            echo(data["env_file_contents"], nl=False)
            echo("\n# then: " + "; ".join(data["then_run"]))
            _notices(data)

        emit(env.fmt, data, pretty_preview)
        return

    data = svc.install(spec, os.environ, include_token=include_token, uid=uid)

    def pretty() -> None:
        verb = "Wrote" if data["unit_changed"] else "Unchanged"
        echo(f"{verb} {data['unit_path']}")
        echo(f"  runs: {' '.join(data['command'])}")
        env_verb = {"created": "Created (mode 0600)", "kept": "Kept as it was",
                    "updated": "Updated the credentials in"}[data["env_file_action"]]
        echo(f"{env_verb} {data['env_file']}")
        if data["carried"]:
            echo(f"  carried over from this shell: {', '.join(data['carried'])}")
        if data["started"]:
            echo("The service is enabled and running."
                 + (" For a login link to its dashboard: cnp web link" if data["web"] else ""))
        else:
            _manual(data, "start the service")
        _notices(data)

    emit(env.fmt, data, pretty)


@service.command("uninstall")
@common
@pass_env
def uninstall(env: Env) -> None:
    """Stop and disable the service and remove its unit; the environment file is kept."""
    from .. import service as svc

    data = svc.uninstall(_spec(env), os.environ, uid=os.getuid())

    def pretty() -> None:
        if not data["was_installed"]:
            echo(f"Not installed ({data['unit_path']} does not exist).")
        else:
            echo(f"Removed {data['unit_path']}")
            if data["stopped"]:
                echo("The service is stopped and disabled.")
            else:
                _manual(data, "stop the service")
        if data["env_file_kept"]:
            echo(f"Kept {data['env_file']} (it may hold credentials; delete it yourself "
                 "if you no longer need it).")

    emit(env.fmt, data, pretty)


@service.command("status")
@common
@pass_env
def status(env: Env) -> None:
    """Whether the service is installed, up to date with this cnp, and running."""
    from .. import service as svc

    data = svc.status(_spec(env), os.environ, uid=os.getuid())

    def pretty() -> None:
        current = data["current"]
        pairs: list[tuple[str, Any]] = [
            ("platform", data["platform"]),
            ("unit", data["unit_path"]),
            ("installed", data["installed"]),
            ("up to date", "-" if current is None else
             "yes" if current else "no (stale: run `cnp service install`)"),
            ("env file", data["env_file"] + ("" if data["env_file_exists"] else " (missing)")),
            ("env file mode", data["env_file_mode"]),
            ("env file sets", data["env_file_sets"]),
            ("active", data["active"] if data["active"] is not None else
             f"unknown ({_first_line(data['manager_error'])})"),
        ]
        if data["platform"] == "systemd":
            pairs += [("enabled", data["enabled"]), ("linger", data.get("linger"))]
        else:
            pairs += [("pid", data["pid"])]
        fields(pairs)
        if data["diff"]:
            echo("")
            for line in data["diff"]:
                echo(line)

    emit(env.fmt, data, pretty)
