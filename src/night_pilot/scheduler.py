"""The scheduler: decides what runs when, and writes the run rows that say so.

It materializes due fire times into runs (applying the misfire and overlap policies), claims
runs for a daemon with a lease and a fencing token, and reaps runs whose owner vanished. Every
decision takes `now` as an argument; nothing here reads the clock or starts a process.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import notify
from .catalog import schedule_of
from .cron import Schedule
from .errors import CnpError, NotFound
from .execution import Claim, Execution, RunSettings
from .models import (
    ExecutorKind,
    InterruptPolicy,
    Job,
    MisfirePolicy,
    OverlapPolicy,
    RunStatus,
    Trigger,
)
from .procs import kill_orphaned_group
from .store import Store
from .tracing import trace

# A fire time this close behind the clock is on time, whatever the misfire policy says.
ON_TIME_SLACK = timedelta(seconds=60)
# At most this many fire times of one job are examined per pass; a longer gap (a clock jump of
# years, a per-second job after a week asleep) is summarized on the last listed row.
MAX_FIRES_PER_PASS = 1000
# Under misfire `all`, at most this many late runs are started for one gap.
MAX_CATCHUP_RUNS = 100
# At most this many fire times of one job are materialized ahead per pass (the rest wait for
# the next pass).
MAX_AHEAD_PER_PASS = 100


OVERLAP_SKIPPED = "skipped: the previous run was still active (overlap skip)"


@dataclass(frozen=True)
class PlannedRun:
    scheduled_for: datetime
    status: RunStatus  # PENDING, MISSED or SKIPPED
    reason: str | None = None


@dataclass(frozen=True)
class Plan:
    runs: list[PlannedRun]
    next_run_at: datetime | None


def plan_fires(job: Job, schedule: Schedule, now: datetime, *, busy: bool) -> Plan:
    """What to do with a job whose `next_run_at` has come: which fire times run, which are
    missed (and why), and when it fires next. `busy`: the job has a run still active."""
    assert job.next_run_at is not None and job.next_run_at <= now
    fires: list[datetime] = []
    t: datetime | None = job.next_run_at
    while t is not None and t <= now and len(fires) < MAX_FIRES_PER_PASS:
        fires.append(t)
        t = schedule.next_after(t)
    overflow_note = None
    if t is not None and t <= now:
        # More fire times than we list: jump to the last one before now.
        last = schedule.previous_at_or_before(now)
        overflow_note = (f"further fire times up to {last.isoformat() if last else now} "
                         "were missed and not listed one by one")
        if last is not None and last > fires[-1]:
            fires.append(last)

    grace = timedelta(seconds=job.misfire_grace_s)
    in_grace = [f for f in fires if now - f <= grace]
    on_time = [f for f in fires if now - f <= ON_TIME_SLACK]
    if job.misfire == MisfirePolicy.SKIP:
        to_run = on_time[-1:]
        late_reason = "missed: the daemon was not running at this time (misfire policy skip)"
    elif job.misfire == MisfirePolicy.LATEST:
        to_run = in_grace[-1:]
        late_reason = ("missed: coalesced into the latest due run (misfire policy latest)"
                       if to_run else "")
    else:
        to_run = in_grace[-MAX_CATCHUP_RUNS:]
        late_reason = f"missed: more than {MAX_CATCHUP_RUNS} late runs (misfire policy all)"
    runs = []
    for f in fires:
        if f in to_run:
            if busy and job.overlap == OverlapPolicy.SKIP:
                runs.append(PlannedRun(f, RunStatus.SKIPPED,
                                       OVERLAP_SKIPPED))
            else:
                # Catch-up runs of one gap queue behind each other rather than skip.
                runs.append(PlannedRun(f, RunStatus.PENDING))
            continue
        if now - f > grace:
            reason = (f"missed: {_ago(now - f)} late, beyond the {_ago(grace)} grace window")
        else:
            reason = late_reason
        runs.append(PlannedRun(f, RunStatus.MISSED, reason))
    if overflow_note and runs:
        last_missed = max((i for i, r in enumerate(runs) if r.status == RunStatus.MISSED),
                          default=None)
        if last_missed is not None:
            r = runs[last_missed]
            note = f"{r.reason}; {overflow_note}"
            runs[last_missed] = PlannedRun(r.scheduled_for, r.status, note)
    return Plan(runs, schedule.next_after(now))


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


# Due jobs are materialized a batch to a transaction: each job's rows and the advance of its
# next_run_at still commit together, and a burst of thousands costs a few commits, not
# thousands. The batch is the store's: SQLite has one writer, so big batches cost nothing;
# on PostgreSQL small ones let several daemons share a burst (each batch's jobs stay locked
# until it commits, and claims skip locked jobs).


def materialize_due(store: Store, now: datetime) -> list[int]:
    """Turn every due fire time into run rows and advance each job's `next_run_at` in the same
    transaction (so a crash leaves either both or neither). Returns the new pending ids."""
    created, _ = materialize_some(store, now, batches=None)
    return created


def materialize_some(store: Store, now: datetime, *, batches: int | None,
                     lookahead: timedelta = timedelta(0)) -> tuple[list[int], bool]:
    """`materialize_due`, at most `batches` transactions of it (None: all). Returns the new
    pending ids and whether due jobs are left. The daemon bounds a pass with it, so that a
    burst of thousands of due jobs never keeps it from claiming and heartbeating for long.

    With a `lookahead`, fire times up to `now + lookahead` are materialized too, as pending
    runs that become claimable when their time comes: the work of writing a burst's runs is
    done before it is due, and claiming is all that is left at the due time. Such a run is
    taken back if its job is edited, paused or deleted before it is due
    (`store.core.withdraw_ahead`), and if no daemon was looking when it came due
    (`Store.take_back_ahead`); its overlap policy is applied when it is claimed.
    """
    created: list[int] = []
    done = 0
    until = now + lookahead
    while True:
        made: list[tuple[int, int, PlannedRun]] = []
        with store.write():
            # Listed inside the transaction: on PostgreSQL the listed jobs stay locked until
            # it commits, and another daemon's pass skips them.
            due = store.due_job_ids(until, limit=store.materialize_batch)
            jobs = store.jobs_by_id(due)
            busy = store.active_runs(due, now)
            try:
                with store.savepoint():  # the whole batch at once: the common case
                    for job in jobs:
                        made += _materialize_job(store, job, now, until,
                                                 bool(busy[job.id or 0]))
            except CnpError:
                # Some job is broken (say, a cron expression edited by hand into nonsense).
                # Redo the batch job by job: the broken ones are paused with the reason, the
                # others still fire.
                made = []
                for job in jobs:
                    try:
                        with store.savepoint():
                            made += _materialize_job(store, job, now, until,
                                                     bool(busy[job.id or 0]))
                    except CnpError as exc:
                        assert job.id is not None
                        store.set_job_enabled(job.id, False, None, now)
                        trace("materialize_failed", level=logging.ERROR, job_id=job.id,
                              error=exc.message)
        for job_id, run_id, planned in made:  # traced once committed
            if planned.status == RunStatus.PENDING:
                created.append(run_id)
                trace("trigger", job_id=job_id, execution_id=run_id, attempt=1,
                      scheduled_for=planned.scheduled_for.isoformat())
            else:
                trace(str(planned.status), job_id=job_id, execution_id=run_id, attempt=1,
                      reason=planned.reason)
        done += 1
        if len(due) < store.materialize_batch:
            return created, False
        if batches is not None and done >= batches:
            return created, True


def _materialize_job(store: Store, job: Job, now: datetime, until: datetime, busy: bool,
                     ) -> list[tuple[int, int, PlannedRun]]:
    if not job.enabled or job.next_run_at is None or job.next_run_at > until:
        return []  # changed since it was listed
    assert job.id is not None
    job_id = job.id
    schedule = schedule_of(job)
    if job.next_run_at <= now:
        plan = plan_fires(job, schedule, now, busy=busy)
    else:
        plan = Plan([], job.next_run_at)
    ahead = 0
    while plan.next_run_at is not None and plan.next_run_at <= until \
            and ahead < MAX_AHEAD_PER_PASS:
        plan.runs.append(PlannedRun(plan.next_run_at, RunStatus.PENDING))
        plan = Plan(plan.runs, schedule.next_after(plan.next_run_at))
        ahead += 1
    settings = RunSettings.of_job(job)
    missed = [p for p in plan.runs if p.status == RunStatus.MISSED]
    if missed:
        notify.enqueue(
            store, "missed", now, job_id=job_id, execution_id=None,
            title=f"[cnp] {job.name}: {len(missed)} run(s) missed",
            body=f"Job {job.name} (id {job_id}) missed {len(missed)} fire time(s) between "
                 f"{missed[0].scheduled_for:%Y-%m-%d %H:%M:%S} and "
                 f"{missed[-1].scheduled_for:%Y-%m-%d %H:%M:%S} UTC: {missed[-1].reason}",
        )
    made = []
    for planned in plan.runs:
        run_id = store.insert_run(
            job_id=job_id, scheduled_for=planned.scheduled_for, trigger=Trigger.SCHEDULE,
            status=planned.status, reason=planned.reason, settings=settings, now=now,
            prompt_id=job.prompt_id,
        )
        made.append((job_id, run_id, planned))
    store.advance_job(job_id, job.next_run_at, plan.next_run_at, now)
    return made


def trigger_job(store: Store, job_id: int, now: datetime) -> Execution:
    """A manual run of a job, now: recorded like a scheduled one (overlap policy included)."""
    with store.write():
        job = store.get_job(job_id)
        busy = bool(store.active_runs([job_id], now)[job_id])
        status, reason = RunStatus.PENDING, None
        if busy and job.overlap == OverlapPolicy.SKIP:
            status = RunStatus.SKIPPED
            reason = OVERLAP_SKIPPED
        run_id = store.insert_run(
            job_id=job_id, scheduled_for=now, trigger=Trigger.MANUAL, status=status,
            reason=reason, settings=RunSettings.of_job(job), now=now, prompt_id=job.prompt_id,
        )
    trace("trigger", job_id=job_id, execution_id=run_id, attempt=1, manual=True)
    return store.get_run(run_id)


def cooldown_until(store: Store, now: datetime, margin: timedelta) -> datetime | None:
    """While a usage limit is in force (its reset plus the margin is ahead), when it ends."""
    active = store.active_cooldown(now - margin)
    if active is None:
        return None
    end: datetime = active["reset_at"] + margin
    return end


def claim_runs(store: Store, now: datetime, *, instance: str, host: str, slots: int,
               lease: timedelta, cooldown_margin: timedelta = timedelta(seconds=60),
               hand_over: Callable[[Claim], None] | None = None) -> list[Claim]:
    """Claim up to `slots` runs that may start now, oldest first, in one transaction.

    A run waits (stays pending) while another run of its job is queued or running, unless the
    job allows overlap. During a usage-limit cooldown, Claude runs are deferred until it ends
    (shell runs go on): nothing spends quota to find out whether the limit is still there.

    Once the claim has committed, each run is given to `hand_over` (the daemon's workers)
    before the claims are traced: a burst's runs are not kept waiting for a thousand lines of
    log.
    """
    if slots <= 0:
        return []
    claimed: list[Claim] = []
    skipped: list[Claim] = []
    with store.write():
        until = cooldown_until(store, now, cooldown_margin)
        candidates = store.claimable_runs(now, limit=slots * 4 + 16)
        if until is not None:
            for run in [c for c in candidates if c.executor == ExecutorKind.CLAUDE]:
                store.defer_run(run.id, until, "deferred: a usage limit is in force until "
                                f"{until:%Y-%m-%d %H:%M:%S} UTC")
                trace("deferred", job_id=run.job_id, execution_id=run.id, attempt=run.attempt,
                      start=until.isoformat())
            candidates = [c for c in candidates if c.executor != ExecutorKind.CLAUDE]
        overlap = store.job_overlaps({c.job_id for c in candidates if c.job_id is not None})
        exclusive = sorted(j for j, o in overlap.items() if o != OverlapPolicy.ALLOW)
        # Whether such a job already has a run going is decided by one daemon at a time; a
        # job another daemon is deciding about right now is left for the next pass.
        held = store.lock_jobs(exclusive)
        active = store.active_runs(held, now)
        running = {job_id: any(s in (RunStatus.QUEUED, RunStatus.RUNNING) for _, s in runs)
                   for job_id, runs in active.items()}
        for run in candidates:
            if len(claimed) >= slots:
                break
            if run.job_id is not None and overlap.get(run.job_id) != OverlapPolicy.ALLOW:
                if run.job_id not in held:
                    continue
                if overlap[run.job_id] == OverlapPolicy.SKIP and run.ahead and (
                        running[run.job_id] or any(s != RunStatus.PENDING
                                                   for _, s in active[run.job_id])):
                    # Materialized ahead, so not judged when it was written: it is now.
                    skipped.append(run)
                    continue
                if running[run.job_id]:
                    continue
                running[run.job_id] = True
            claimed.append(run)
        for run in skipped:
            store.set_run_status(run.id, RunStatus.SKIPPED, OVERLAP_SKIPPED, now)
        tokens = store.next_fencing_tokens(len(claimed))
        store.claim_many([(run.id, token) for run, token in zip(claimed, tokens, strict=True)],
                         instance, host, now, now + lease)
        for run, token in zip(claimed, tokens, strict=True):
            run.fencing_token = token
    if hand_over is not None:
        for run in claimed:
            hand_over(run)
    for run in skipped:
        trace("skipped", job_id=run.job_id, execution_id=run.id, attempt=run.attempt,
              reason=OVERLAP_SKIPPED)
    for run in claimed:
        trace("claim", job_id=run.job_id, execution_id=run.id, attempt=run.attempt,
              token=run.fencing_token, instance=instance)
    return claimed


def reap(store: Store, now: datetime, *, host: str, orphans: list[Execution] | None = None,
         ) -> list[Execution]:
    """Turn runs whose lease expired (or the given orphans) into `interrupted`, kill what is
    left of their processes on this host, and retry them per the job's interrupt policy."""
    victims = {r.id: r for r in store.expired_runs(now)}
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
            if not store.interrupt_run(run.id, run.fencing_token, reason, now,
                                       lease_expired_at=expired):
                continue
            # Decide on the row as it is now, not as listed: its owner may have started it
            # in between, and a started run must not be rerun behind the policy's back.
            run = store.get_run(run.id)
            retry = _retry_after_interrupt(store, run)
            if not retry:
                notify.run_finished(store, run, RunStatus.INTERRUPTED, reason, now)
            if retry:
                store.insert_run(
                    job_id=run.job_id, scheduled_for=run.scheduled_for, trigger=Trigger.RETRY,
                    status=RunStatus.PENDING, settings=run.settings, now=now,
                    attempt=run.attempt + 1, prompt_id=run.prompt_id,
                    reason=f"retry of execution {run.id} after interruption", retry_of=run.id,
                )
        killed: list[int] = []
        if run.pid and run.host == host:
            killed = kill_orphaned_group(run.pid, run.process_start)
        trace("interrupted", job_id=run.job_id, execution_id=run.id, attempt=run.attempt,
              owner=owner, retried=retry, killed_pids=killed)
        reaped.append(run)
    return reaped


# An interrupted run is retried at most this many times, whatever the policy.
MAX_INTERRUPT_ATTEMPTS = 5


def _retry_after_interrupt(store: Store, run: Execution) -> bool:
    if run.attempt >= MAX_INTERRUPT_ATTEMPTS:
        return False
    policy = InterruptPolicy.RETRY_UNSTARTED
    if run.job_id is not None:
        with contextlib.suppress(NotFound):
            policy = store.get_job(run.job_id, include_deleted=True).on_interrupt
    if policy == InterruptPolicy.ALWAYS:
        return True
    if policy == InterruptPolicy.NEVER:
        return False
    return run.started_at is None  # never reached running: no side effects yet


def claim_one(store: Store, run_id: int, now: datetime, *, instance: str, host: str,
              lease: timedelta) -> Execution | None:
    """Claim one specific run for in-process execution (`execute`, `job trigger --wait`)."""
    with store.write():
        token = store.next_fencing_token()
        if not store.claim_run(run_id, instance, host, token, now, now + lease):
            return None
    run = store.get_run(run_id)
    trace("claim", job_id=run.job_id, execution_id=run.id, attempt=run.attempt, token=token,
          instance=instance)
    return run


def next_attempt(store: Store, run: Execution) -> Execution | None:
    """The attempt that continues `run` (a retry or a deferral), if one was scheduled."""
    return store.next_attempt_of(run.id)
