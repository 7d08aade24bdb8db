"""Facts about daemons, for whoever needs them (the CLI, the web, health, the daemon itself):
which daemons are alive, how a daemon instance is named and recognized as gone, and the lock
that keeps one daemon per SQLite file."""

from __future__ import annotations

import fcntl
import os
import socket
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING

from .errors import CnpError

if TYPE_CHECKING:
    from .store import Store

# A daemon whose heartbeat is older than this is presumed gone (health, `trigger --wait`).
DAEMON_STALE_AFTER = timedelta(seconds=15)


def instance_id(host: str | None = None, pid: int | None = None) -> str:
    """A name for this process's claims, unique across hosts and restarts."""
    return f"{host or socket.gethostname()}:{pid or os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(instance: str, host: str) -> bool:
    """True when `instance` names a process on this host that no longer exists."""
    parts = instance.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def active_daemons(store: Store, now: datetime) -> list[dict[str, object]]:
    """The rows of active (not standby) daemons that heartbeated recently, freshest first."""
    return [row for row in store.daemons.live() if row["role"] == "active"
            and now - datetime.fromisoformat(str(row["heartbeat_at"])) < DAEMON_STALE_AFTER]


def daemon_alive(store: Store, now: datetime) -> dict[str, object] | None:
    """The freshest live daemon row, or None if no daemon has heartbeated recently."""
    return next(iter(active_daemons(store, now)), None)


class AnotherDaemon(CnpError):
    kind = "daemon_running"


class DaemonLock:
    """One daemon per SQLite file: an exclusive flock beside the database. The kernel drops it
    when the process dies, so a crash never leaves a stale lock."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".daemon.lock")
        self._fh: IO[str] | None = None

    def try_acquire(self) -> bool:
        fh = open(self.path, "a+")  # noqa: SIM115  (held for the daemon's lifetime)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(f"{socket.gethostname()} {os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
