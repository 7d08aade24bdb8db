"""Fault injection for crash tests: `CNP_FAULT=<point>` makes the process kill itself with
SIGKILL when it reaches that point, exactly as a power cut or OOM kill would.

Points: after_claim, after_spawn, mid_run, before_final_commit. Unset in normal use.
"""

from __future__ import annotations

import os
import signal

_POINT = os.environ.get("CNP_FAULT") or None


def crash_point(name: str) -> None:
    if name == _POINT:
        os.kill(os.getpid(), signal.SIGKILL)
