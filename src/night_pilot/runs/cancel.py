"""Ending runs from outside: a cancel request (from the CLI or the web), and the retention
that deletes old finished runs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import CnpError
from ..models import TERMINAL_STATUSES, RunStatus

if TYPE_CHECKING:
    from ..store import Store


def cancel(store: Store, run_id: int, now: datetime) -> RunStatus:
    """Cancel a run: at once if it has not started, else its owner is asked to stop it.
    Returns its status after the request; a run that already ended otherwise is an error."""
    status = store.runs.request_cancel(run_id, now)
    if status in TERMINAL_STATUSES and status != RunStatus.CANCELLED:
        raise CnpError(f"execution {run_id} already ended ({status})")
    return status


def stop_requested(status: RunStatus) -> bool:
    """Whether a cancel left the run to its owner to stop (it was claimed or running)."""
    return status in (RunStatus.QUEUED, RunStatus.RUNNING)


def prune(store: Store, before: datetime) -> dict[str, int]:
    """Delete finished runs (and their events) that ended before `before`."""
    return store.runs.prune(before)
