"""Setting `cnp mcp` up for Claude Code: the `.mcp.json` entry that starts it, and the skill
(`SKILL.md`, shipped in this package) that tells Claude when to use it, copied where Claude
Code looks for skills: `<project>/.claude/skills/night-pilot/SKILL.md`, or the same under the
user's home for every project. No MCP SDK here.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import Conflict, InvalidInput

SERVER_NAME = "night-pilot"
SKILL_NAME = "night-pilot"
SKILL_SOURCE = Path(__file__).with_name("SKILL.md")


def cnp_command() -> list[str]:
    """How to start this installation's `cnp`, as an absolute command: the console script
    next to this Python, else the one on PATH, else this Python running the package."""
    beside = Path(sys.executable).parent / "cnp"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside.absolute())]
    found = shutil.which("cnp")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "night_pilot"]


def server_config(db: str | None, env: Mapping[str, str]) -> dict[str, Any]:
    """A project's `.mcp.json` document that starts `cnp mcp` on this database: `--db` when
    given, and the CNP_HOME / CNP_DB of `env` when set."""
    from ..config import resolve_db

    command, *lead = cnp_command()
    args = [*lead, "mcp"]
    if db:
        location = resolve_db(db, env)
        args += ["--db", location.url or str(location.file)]
    entry: dict[str, Any] = {"type": "stdio", "command": command, "args": args}
    settings = {k: env[k] for k in ("CNP_HOME", "CNP_DB") if env.get(k)}
    if settings.get("CNP_HOME"):
        from ..config import absolute_text

        settings["CNP_HOME"] = absolute_text(settings["CNP_HOME"])
    if settings:
        entry["env"] = settings
    return {"mcpServers": {SERVER_NAME: entry}}


def skill_target(project: Path | None, home: Path | None) -> Path:
    """Where the skill goes: a project's `.claude/skills/`, or (project None) the user's."""
    base = project if project is not None else home
    if base is None:
        raise InvalidInput("no home directory to install the skill in")
    return base.expanduser().absolute() / ".claude" / "skills" / SKILL_NAME / "SKILL.md"


def install_skill(target: Path, *, force: bool = False) -> str:
    """Copy the skill to `target`: "installed", "updated" (with `force`) or "unchanged"; a
    different file already there is left alone unless `force`."""
    text = SKILL_SOURCE.read_text(encoding="utf-8")
    try:
        current: str | None = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {target}: {exc}") from exc
    if current == text:
        return "unchanged"
    if current is not None and not force:
        raise Conflict(f"{target} exists and differs from cnp's skill; left alone",
                       hint="pass --force to replace it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.tmp")
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, target)
    except OSError as exc:
        raise InvalidInput(f"cannot write {target}: {exc.strerror or exc}") from exc
    return "installed" if current is None else "updated"
