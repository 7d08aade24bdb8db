"""Creating runs: the rows of fire times the scheduler planned, a manual trigger of a job, an
ad-hoc prompt (`cnp execute`, `POST /api/execute`, `cnp batch`), and the follow-up attempts
that finishing and reaping decide on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import CnpError, CooldownActive
from ..models import OverlapPolicy, Run, RunSettings, RunStatus, Trigger
from ..tracing import trace

if TYPE_CHECKING:
    from ..catalog import Review
    from ..store import Store

OVERLAP_SKIPPED = "skipped: the previous run was still active (overlap skip)"


@dataclass(frozen=True)
class PlannedRun:
    """A fire time the scheduler decided about: it runs (PENDING), or it is MISSED or SKIPPED
    with the reason."""

    scheduled_for: datetime
    status: RunStatus
    reason: str | None = None


def create_scheduled(store: Store, job_id: int, planned: Sequence[PlannedRun],
                     settings: RunSettings, now: datetime, *, prompt_id: int | None,
                     ) -> list[int]:
    """The rows of a job's planned fire times, in the caller's transaction (the one that
    advances the job's `next_run_at`). Returns their ids, in order."""
    return [store.runs.insert(
        job_id=job_id, scheduled_for=p.scheduled_for, trigger=Trigger.SCHEDULE,
        status=p.status, reason=p.reason, settings=settings, now=now, prompt_id=prompt_id,
    ) for p in planned]


def trigger_job(store: Store, job_id: int, now: datetime) -> Run:
    """A manual run of a job, now: recorded like a scheduled one (overlap policy included)."""
    with store.write():
        job = store.jobs.get(job_id)
        busy = bool(store.runs.active([job_id], now)[job_id])
        status, reason = RunStatus.PENDING, None
        if busy and job.overlap == OverlapPolicy.SKIP:
            status = RunStatus.SKIPPED
            reason = OVERLAP_SKIPPED
        run_id = store.runs.insert(
            job_id=job_id, scheduled_for=now, trigger=Trigger.MANUAL, status=status,
            reason=reason, settings=RunSettings.of_job(job), now=now, prompt_id=job.prompt_id,
        )
    trace("trigger", job_id=job_id, run_id=run_id, attempt=1, manual=True)
    return store.runs.get(run_id)


def refuse_during_cooldown(store: Store, now: datetime, *, hint: str) -> None:
    """An ad-hoc Claude run is not started while a usage limit is in force (unless its caller
    was told to; `hint` says how)."""
    active = store.cooldowns.active(now)
    if active is not None:
        raise CooldownActive(
            f"a usage limit ({active['kind']}) is in force until "
            f"{active['reset_at']:%Y-%m-%d %H:%M:%S} UTC; not starting", hint=hint)


def review_adhoc(text: str, settings: RunSettings, now: datetime) -> Review:
    """The review every ad-hoc prompt passes before it is recorded: its template rendered (a
    variable without a value is refused), its @references checked, critical risk refused
    unless it was accepted. Returns the review (its warnings are the caller's to show)."""
    from ..catalog import review_adhoc as review
    from ..risk import refuse_critical

    found = review(text, settings, now)
    refuse_critical(found.risk, settings.risk_accepted)
    return found


def create_adhoc(store: Store, settings: RunSettings, now: datetime,
                 ) -> tuple[Run, Review]:
    """An ad-hoc run of the prompt in `settings`, reviewed (`review_adhoc`) and recorded
    pending: what `cnp execute` and `POST /api/execute` both do. Returns the run and its
    review."""
    if settings.prompt_text is None:
        raise CnpError("an ad-hoc run needs the text of its prompt")
    found = review_adhoc(settings.prompt_text, settings, now)
    run_id = store.runs.insert(job_id=None, scheduled_for=now, trigger=Trigger.EXECUTE,
                              status=RunStatus.PENDING, settings=settings, now=now)
    return store.runs.get(run_id), found


def create_batch_item(store: Store, settings: RunSettings, now: datetime, *,
                      prompt_id: int | None) -> int:
    """One item of a batch, pending, in the caller's transaction (which claims it too)."""
    return store.runs.insert(job_id=None, scheduled_for=now, trigger=Trigger.EXECUTE,
                            status=RunStatus.PENDING, now=now, prompt_id=prompt_id,
                            settings=settings)


def create_follow_up(store: Store, run: Run, status: RunStatus, now: datetime, *,
                     reason: str, settings: RunSettings | None = None,
                     retry_at: datetime | None = None) -> int:
    """The next attempt of `run` (a retry, a deferral past a usage limit), in the caller's
    transaction."""
    return store.runs.insert(
        job_id=run.job_id, scheduled_for=run.scheduled_for, trigger=Trigger.RETRY,
        status=status, settings=settings or run.settings, now=now, attempt=run.attempt + 1,
        prompt_id=run.prompt_id, retry_at=retry_at, reason=reason, retry_of=run.id,
    )
