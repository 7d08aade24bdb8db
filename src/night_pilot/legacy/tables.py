"""The mapping tables for legacy statuses: what each schedule status and each run status of
the legacy tool becomes here. They are the whole contract: a status not listed is imported in
the safe state and reported, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from ..models import RunStatus


class JobState(Enum):
    ENABLED = "enabled"  # fires on its schedule from now on
    PAUSED = "paused"  # stored disabled; `cnp job resume` starts it
    DONE = "done"  # a finished one-shot (or finished schedule): disabled, nothing to fire


# Legacy `schedules.status`, lower-cased and trimmed → what our job becomes.
SCHEDULE_STATUS: dict[str, JobState] = {
    "active": JobState.ENABLED,
    "enabled": JobState.ENABLED,
    "pending": JobState.ENABLED,
    "scheduled": JobState.ENABLED,
    "running": JobState.ENABLED,  # it was firing when the old tool stopped
    "paused": JobState.PAUSED,
    "inactive": JobState.PAUSED,
    "disabled": JobState.PAUSED,
    "stopped": JobState.PAUSED,
    "suspended": JobState.PAUSED,
    "failed": JobState.PAUSED,  # the old tool gave up on it: resume by hand
    "error": JobState.PAUSED,
    "cancelled": JobState.PAUSED,
    "canceled": JobState.PAUSED,
    "completed": JobState.DONE,
    "complete": JobState.DONE,
    "done": JobState.DONE,
    "finished": JobState.DONE,
}
# Shown in the report when a status is not in the table above.
UNKNOWN_SCHEDULE_STATE = JobState.PAUSED


@dataclass(frozen=True)
class RunMapping:
    status: RunStatus
    started: bool  # did the process run (started_at is set)?
    note: str = ""


_STILL_RUNNING = "still running when the old tool stopped; its outcome was never recorded"
_NEVER_RAN = "still pending in the old tool; it never ran"

# Legacy `execution_results.status`, lower-cased and trimmed → our run status. Every imported
# run is terminal: nothing the import writes can ever be claimed or executed by a daemon.
RESULT_STATUS: dict[str, RunMapping] = {
    "completed": RunMapping(RunStatus.COMPLETED, True),
    "complete": RunMapping(RunStatus.COMPLETED, True),
    "success": RunMapping(RunStatus.COMPLETED, True),
    "succeeded": RunMapping(RunStatus.COMPLETED, True),
    "successful": RunMapping(RunStatus.COMPLETED, True),
    "done": RunMapping(RunStatus.COMPLETED, True),
    "ok": RunMapping(RunStatus.COMPLETED, True),
    "failed": RunMapping(RunStatus.FAILED, True),
    "failure": RunMapping(RunStatus.FAILED, True),
    "error": RunMapping(RunStatus.FAILED, True),
    "errored": RunMapping(RunStatus.FAILED, True),
    "timeout": RunMapping(RunStatus.FAILED, True, "timed out"),
    "timed_out": RunMapping(RunStatus.FAILED, True, "timed out"),
    "timedout": RunMapping(RunStatus.FAILED, True, "timed out"),
    "cancelled": RunMapping(RunStatus.CANCELLED, False),
    "canceled": RunMapping(RunStatus.CANCELLED, False),
    "aborted": RunMapping(RunStatus.CANCELLED, False),
    "killed": RunMapping(RunStatus.CANCELLED, True),
    "skipped": RunMapping(RunStatus.SKIPPED, False),
    "missed": RunMapping(RunStatus.MISSED, False),
    "running": RunMapping(RunStatus.INTERRUPTED, True, _STILL_RUNNING),
    "in_progress": RunMapping(RunStatus.INTERRUPTED, True, _STILL_RUNNING),
    "started": RunMapping(RunStatus.INTERRUPTED, True, _STILL_RUNNING),
    "pending": RunMapping(RunStatus.MISSED, False, _NEVER_RAN),
    "queued": RunMapping(RunStatus.MISSED, False, _NEVER_RAN),
    "scheduled": RunMapping(RunStatus.MISSED, False, _NEVER_RAN),
}
UNKNOWN_RESULT = RunMapping(RunStatus.INTERRUPTED, False, "unknown legacy status: outcome unknown")


def schedule_state(raw: Any) -> JobState | None:
    """The job state for a legacy schedule status, or None when the status is not known."""
    return SCHEDULE_STATUS.get(str(raw).strip().lower()) if raw is not None else None


def result_mapping(raw: Any) -> RunMapping | None:
    """The run status for a legacy result status, or None when the status is not known."""
    return RESULT_STATUS.get(str(raw).strip().lower()) if raw is not None else None
