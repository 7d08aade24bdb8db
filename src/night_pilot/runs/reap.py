"""Reaping: runs whose owner vanished (its lease expired, or its daemon is known dead) become
`interrupted`, what is left of their processes on this host is killed, and they are retried
per the job's interrupt policy."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import TYPE_CHECKING

from .. import notify
from ..errors import NotFound
from ..models import InterruptPolicy, Run, RunStatus
from ..procs import kill_orphaned_group
from ..tracing import trace
from .create import create_follow_up

if TYPE_CHECKING:
    from ..store import Store

# An interrupted run is retried at most this many times, whatever the policy.
MAX_INTERRUPT_ATTEMPTS = 5


def reap(store: Store, now: datetime, *, host: str, orphans: list[Run] | None = None,
         ) -> list[Run]:
    """Turn runs whose lease expired (or the given orphans) into `interrupted`, kill what is
    left of their processes on this host, and retry them per the job's interrupt policy."""
    victims = {r.id: r for r in store.claims.expired(now)}
    orphan_ids = {r.id for r in orphans or []}
    for r in orphans or []:
        victims.setdefault(r.id, r)
    reaped = []
    for run in victims.values():
        owner = run.claimed_by or "unknown"
        reason = f"interrupted: its daemon ({owner}) stopped heartbeating"
        with store.write():
            # Conditional on the lease still being over: the owner may have heartbeated
            # since we listed it (an orphan's owner is known dead; no condition).
            expired = None if run.id in orphan_ids else now
            if not store.claims.interrupt(run.id, run.fencing_token, reason, now,
                                       lease_expired_at=expired):
                continue
            # Decide on the row as it is now, not as listed: its owner may have started it
            # in between, and a started run must not be rerun behind the policy's back.
            run = store.runs.get(run.id)
            retry = _retry_after_interrupt(store, run)
            if not retry:
                notify.run_finished(store, run, RunStatus.INTERRUPTED, reason, now)
            if retry:
                create_follow_up(store, run, RunStatus.PENDING, now,
                                 reason=f"retry of execution {run.id} after interruption")
        killed: list[int] = []
        if run.pid and run.host == host:
            killed = kill_orphaned_group(run.pid, run.process_start)
        trace("interrupted", job_id=run.job_id, run_id=run.id, attempt=run.attempt,
              owner=owner, retried=retry, killed_pids=killed)
        reaped.append(run)
    return reaped


def _retry_after_interrupt(store: Store, run: Run) -> bool:
    if run.attempt >= MAX_INTERRUPT_ATTEMPTS:
        return False
    policy = InterruptPolicy.RETRY_UNSTARTED
    if run.job_id is not None:
        with contextlib.suppress(NotFound):
            policy = store.jobs.get(run.job_id, include_deleted=True).on_interrupt
    if policy == InterruptPolicy.ALWAYS:
        return True
    if policy == InterruptPolicy.NEVER:
        return False
    return run.started_at is None  # never reached running: no side effects yet
