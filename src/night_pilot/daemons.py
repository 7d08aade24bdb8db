"""Facts about daemons, for whoever needs them (the CLI, the web, health, the daemon itself):
which daemons are alive, and how a daemon instance is named and recognized as gone."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

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
