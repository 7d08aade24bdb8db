"""Where things live: the one function that finds the database, and the data directory.

Every command, the daemon and the web server call `resolve_db`; nothing else builds a database
path. Precedence: `--db` → `CNP_DB` → `claude-night-pilot.db` in the data directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


APP_NAME = "claude-night-pilot"
DB_FILENAME = "claude-night-pilot.db"
# The Rust tool sometimes wrote this name. We never create it; health reports it and
# `cnp migrate legacy` imports it.
LEGACY_DB_FILENAME = "claude-pilot.db"

# Every command resolves the database, and most need nothing else from the file system:
# paths are handled here as text (`path_text`), and `pathlib` (~8 ms to import, with the
# `urllib.parse` and `ipaddress` it pulls in) is imported only when a `Path` is asked for.


def path_text(value: str | os.PathLike[str]) -> str:
    """`str(Path(value))`, without importing pathlib: empty and `.` parts and trailing slashes
    dropped, `..` kept (POSIX spelling)."""
    text = os.fspath(value)
    if os.sep != "/":  # not POSIX: let pathlib decide
        from pathlib import Path

        return str(Path(text))
    parts = [p for p in text.split("/") if p and p != "."]
    if not text.startswith("/"):
        root = ""
    elif text.startswith("//") and not text.startswith("///"):
        root = "//"  # POSIX leaves the meaning of exactly two leading slashes open; so does Path
    else:
        root = "/"
    return root + "/".join(parts) or "."


def absolute_text(value: str) -> str:
    """`str(Path(value).expanduser().absolute())`, without importing pathlib."""
    text = path_text(value)
    if text.startswith("~"):  # Path expands only a leading `~` or `~user` part
        first, sep, rest = text.partition("/")
        home = os.path.expanduser(first)
        if home.startswith("~"):
            raise RuntimeError("Could not determine home directory.")
        text = path_text(home + sep + rest)
    if not text.startswith("/"):
        text = path_text(os.path.join(os.getcwd(), text))
    return text


class DbLocation:
    """Either an SQLite file (`path`) or a PostgreSQL URL (`url`). Immutable.

    The file is kept as text (`file`, what SQLite opens); `path` is the same file as a `Path`,
    made on first use.
    """

    __slots__ = ("_file", "_path", "_url")

    def __init__(self, path: str | Path | None = None, url: str | None = None) -> None:
        self._file = None if path is None else path_text(path)
        # A Path given is kept; one for text is made when asked for.
        self._path = None if isinstance(path, str) else path
        self._url = url

    @property
    def url(self) -> str | None:
        return self._url

    @property
    def file(self) -> str | None:
        """The file as text: `str(path)`."""
        return self._file

    @property
    def path(self) -> Path | None:
        if self._path is None and self._file is not None:
            from pathlib import Path

            self._path = Path(self._file)
        return self._path

    @property
    def is_postgres(self) -> bool:
        return self.url is not None

    def display(self) -> str:
        if self.url is not None:
            return redact_url(self.url)
        return str(self._file)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DbLocation) or other.__class__ is not self.__class__:
            return NotImplemented
        return (self.path, self.url) == (other.path, other.url)

    def __hash__(self) -> int:
        return hash((self.path, self.url))

    def __repr__(self) -> str:
        return f"DbLocation(path={self.path!r}, url={self.url!r})"


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$CNP_HOME` if set, else the platform's per-user data directory."""
    from pathlib import Path

    return Path(data_dir_text(env))


def data_dir_text(env: Mapping[str, str] | None = None) -> str:
    """`data_dir` as text (`str(data_dir(env))`): `$CNP_HOME` of `env` (default: the process's
    environment) if set, else platformdirs' per-user data directory for this process (on Linux
    `$XDG_DATA_HOME/claude-night-pilot`, by default `~/.local/share/claude-night-pilot`)."""
    env = os.environ if env is None else env
    home = env.get("CNP_HOME")
    if home:
        return absolute_text(home)
    import platformdirs

    return path_text(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def resolve_db(cli_value: str | None = None, env: Mapping[str, str] | None = None) -> DbLocation:
    """The one answer to "which database?" for every command and the daemon."""
    env = os.environ if env is None else env
    raw = cli_value or env.get("CNP_DB") or None
    if raw is None:
        return DbLocation(path=os.path.join(data_dir_text(env), DB_FILENAME))
    if raw.startswith(("postgresql://", "postgres://")):
        return DbLocation(url=raw)
    return DbLocation(path=absolute_text(raw))


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
    from pathlib import Path

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
