"""Fault injection for crash tests: `CNP_FAULT=<point>` makes the process kill itself with
SIGKILL when it reaches that point, exactly as a power cut or OOM kill would;
`CNP_FAULT=<point>:<n>` the n-th time it gets there.

Points: after_claim, after_spawn, mid_run (after a run's first batch of output is stored),
event_batch (inside the transaction that stores a batch, before it commits),
before_final_commit. Unset in normal use.
"""

from __future__ import annotations

import os
import signal
import threading

_POINT, _, _NTH = (os.environ.get("CNP_FAULT") or "").partition(":")
_REMAINING = [int(_NTH) if _NTH.isdigit() and int(_NTH) > 0 else 1]
_LOCK = threading.Lock()


def crash_point(name: str) -> None:
    if name != _POINT:
        return
    with _LOCK:
        _REMAINING[0] -= 1
        if _REMAINING[0] > 0:
            return
    os.kill(os.getpid(), signal.SIGKILL)
