"""Process groups for runs: spawn each run as the leader of its own group, tie it to the
daemon's life, and find and kill a group left behind by a daemon that died.

Linux only where noted (/proc, prctl); elsewhere the functions degrade to doing less.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def _pdeathsig_setter() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def set_pdeathsig() -> None:
        # Runs in the child between fork and exec: if the thread that spawned us dies (the
        # daemon was killed), the kernel sends SIGKILL, so no run outlives its owner.
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return set_pdeathsig


PREEXEC = _pdeathsig_setter()


def start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses; fields follow the last ')'.
    fields = data.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 else None


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid` (Linux /proc)."""
    members: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return members
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                data = fh.read().decode()
        except OSError:
            continue
        fields = data.rsplit(")", 1)[1].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(entry))
    return members


def kill_orphaned_group(pid: int, recorded_start: str | None) -> list[int]:
    """Kill what is left of a run's process group after its daemon died; return the pids.

    The group is ours only if its leader is the process we recorded (same start time) or the
    leader is gone and members remain (they cannot have joined the group later).
    """
    leader_start = start_time(pid)
    if leader_start is not None and recorded_start is not None and leader_start != recorded_start:
        return []  # the pid now belongs to an unrelated process
    members = group_members(pid)
    if members:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            return []
    return members


def signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
