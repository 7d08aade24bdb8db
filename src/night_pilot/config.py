"""Where things live: the one function that finds the database, and the data directory.

Every command, the daemon and the web server call `resolve_db`; nothing else builds a database
path. Precedence: `--db` → `CNP_DB` → `claude-night-pilot.db` in the data directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "claude-night-pilot"
DB_FILENAME = "claude-night-pilot.db"
# The Rust tool sometimes wrote this name. We never create it; health reports it and
# `cnp migrate legacy` imports it.
LEGACY_DB_FILENAME = "claude-pilot.db"


@dataclass(frozen=True)
class DbLocation:
    """Either an SQLite file (`path`) or a PostgreSQL URL (`url`)."""

    path: Path | None = None
    url: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.url is not None

    def display(self) -> str:
        if self.url is not None:
            return redact_url(self.url)
        return str(self.path)


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$CNP_HOME` if set, else the platform's per-user data directory."""
    env = os.environ if env is None else env
    home = env.get("CNP_HOME")
    if home:
        return Path(home).expanduser().absolute()
    # platformdirs costs tens of milliseconds to import; only the default path needs it.
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def resolve_db(cli_value: str | None = None, env: Mapping[str, str] | None = None) -> DbLocation:
    """The one answer to "which database?" for every command and the daemon."""
    env = os.environ if env is None else env
    raw = cli_value or env.get("CNP_DB") or None
    if raw is None:
        return DbLocation(path=data_dir(env) / DB_FILENAME)
    if raw.startswith(("postgresql://", "postgres://")):
        return DbLocation(url=raw)
    return DbLocation(path=Path(raw).expanduser().absolute())


def redact_url(url: str) -> str:
    """A URL with any password replaced, safe to print."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def find_claude(setting: str | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The absolute path of the `claude` executable: a setting, then `CNP_CLAUDE_BIN`, then PATH.

    Under a service manager PATH is often short; the error says exactly what was searched.
    """
    import shutil

    from .errors import CnpError

    env = os.environ if env is None else env
    searched = []
    for label, value in (("setting", setting), ("CNP_CLAUDE_BIN", env.get("CNP_CLAUDE_BIN"))):
        if not value:
            searched.append(f"{label} (not set)")
            continue
        found = shutil.which(value, path=env.get("PATH", "")) if os.sep not in value else value
        if found and os.path.isfile(found) and os.access(found, os.X_OK):
            return Path(found).absolute()
        searched.append(f"{label}={value} (not an executable file)")
    path = env.get("PATH", "")
    found = shutil.which("claude", path=path)
    if found:
        return Path(found).absolute()
    searched.append(f"PATH={path or '(empty)'}")
    raise CnpError(
        "the claude CLI was not found; searched " + "; ".join(searched),
        hint="install it (npm install -g @anthropic-ai/claude-code) or set CNP_CLAUDE_BIN",
    )
