"""The scheduler: decides what runs when.

It plans each due job's fire times (applying the misfire and overlap policies) and has `runs`
materialize them, advancing the job's next fire time in the same transaction. Claiming,
reaping and everything else that changes a run is `runs`'s. Every decision takes `now` as an
argument; nothing here reads the clock or starts a process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import notify, quota, runs
from .catalog import schedule_of
from .cron import Schedule
from .errors import CnpError
from .misfire import MAX_CATCHUP_RUNS, ago, kept
from .models import Job, MisfirePolicy, OverlapPolicy, RunSettings, RunStatus
from .runs import OVERLAP_SKIPPED, PlannedRun
from .store import Store
from .tracing import trace

# At most this many fire times of one job are examined per pass; a longer gap (a clock jump of
# years, a per-second job after a week asleep) is summarized on the last listed row.
MAX_FIRES_PER_PASS = 1000
# At most this many fire times of one job are materialized ahead per pass (the rest wait for
# the next pass).
MAX_AHEAD_PER_PASS = 100


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
    to_run = kept(fires, now, job.misfire, grace)
    if job.misfire == MisfirePolicy.SKIP:
        late_reason = "missed: the daemon was not running at this time (misfire policy skip)"
    elif job.misfire == MisfirePolicy.LATEST:
        late_reason = ("missed: coalesced into the latest due run (misfire policy latest)"
                       if to_run else "")
    else:
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
            reason = (f"missed: {ago(now - f)} late, beyond the {ago(grace)} grace window")
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
    (`store.schedule.withdraw_ahead`), and if no daemon was looking when it came due
    (`runs.take_back_ahead`); its overlap policy is applied when it is claimed.
    """
    created: list[int] = []
    done = 0
    until = now + lookahead
    while True:
        made: list[tuple[int, int, PlannedRun]] = []
        with store.write():
            # Listed inside the transaction: on PostgreSQL the listed jobs stay locked until
            # it commits, and another daemon's pass skips them.
            due = store.schedule.due_job_ids(until, limit=store.materialize_batch)
            jobs = store.jobs.by_id(due)
            busy = store.runs.active(due, now)
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
                        store.jobs.set_enabled(job.id, False, None, now)
                        trace("materialize_failed", level=logging.ERROR, job_id=job.id,
                              error=exc.message)
        for job_id, run_id, planned in made:  # traced once committed
            if planned.status == RunStatus.PENDING:
                created.append(run_id)
                trace("trigger", job_id=job_id, run_id=run_id, attempt=1,
                      scheduled_for=planned.scheduled_for.isoformat())
            else:
                trace(str(planned.status), job_id=job_id, run_id=run_id, attempt=1,
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
            store, "missed", now, job_id=job_id, run_id=None,
            title=f"[cnp] {job.name}: {len(missed)} run(s) missed",
            body=f"Job {job.name} (id {job_id}) missed {len(missed)} fire time(s) between "
                 f"{missed[0].scheduled_for:%Y-%m-%d %H:%M:%S} and "
                 f"{missed[-1].scheduled_for:%Y-%m-%d %H:%M:%S} UTC: {missed[-1].reason}",
        )
    ids = runs.create_scheduled(store, job_id, plan.runs, settings, now, prompt_id=job.prompt_id)
    made = [(job_id, run_id, planned) for run_id, planned in zip(ids, plan.runs, strict=True)]
    store.schedule.advance(job_id, job.next_run_at, plan.next_run_at, now)
    return made


def materialize_spare(store: Store, now: datetime, *, account: str | None = None,
                      ceilings: quota.Ceilings | None = None) -> list[int]:
    """A run for each spare-capacity job (`--when spare`) whose moment has come: the five-hour
    window of `account` (None: the account seen last) resets within the job's lead time and
    is below its ceiling (the job's, else `ceilings`', else any headroom at all). At most one
    run per job and window; each records the window state that let it start. Returns the new
    pending ids."""
    windows = store.quota.latest(account)
    five = windows.get(quota.FIVE_HOUR)
    if five is None or five.resets_at is None or not five.current(now):
        return []
    default = ceilings.five_hour if ceilings is not None else None
    created: list[int] = []
    for job_id, lead_s, own in store.quota.spare_jobs():
        ceiling = own if own is not None else (
            default if default is not None else quota.SPARE_DEFAULT_CEILING)
        lead = timedelta(seconds=lead_s)
        window = quota.spare_opening(windows, ceiling, lead, now)
        if window is None or window.resets_at is None:
            continue
        with store.write():
            if job_id not in store.lock_jobs([job_id]):
                continue  # another daemon is deciding about it
            last = store.quota.last_spare_run(job_id)
            if last is not None and last >= window.resets_at - lead:
                continue  # this window has had its run
            job = store.jobs.get(job_id)
            if store.runs.active([job_id], now)[job_id] and job.overlap == OverlapPolicy.SKIP:
                continue
            [run_id] = runs.create_scheduled(
                store, job_id, [PlannedRun(now, RunStatus.PENDING)], RunSettings.of_job(job),
                now, prompt_id=job.prompt_id)
            store.quota.set_basis(run_id, quota.basis(window, ceiling, now))
        created.append(run_id)
        trace("trigger", job_id=job_id, run_id=run_id, attempt=1, spare=True,
              utilization=window.utilization, resets_at=window.resets_at.isoformat())
    return created
