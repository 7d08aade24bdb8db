"""Claiming runs: a lease and a fencing token for the daemon (or process) that will execute
them, with the usage-limit deferral and the overlap policy applied at the claim; handing
claims back when a daemon stops, and taking back runs materialized ahead."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..misfire import ago, kept
from ..models import Claim, ExecutorKind, MisfirePolicy, OverlapPolicy, Run, RunStatus
from ..tracing import trace
from .create import OVERLAP_SKIPPED

if TYPE_CHECKING:
    from ..quota import Ceilings, Hold
    from ..store import Store


def cooldown_until(store: Store, now: datetime, margin: timedelta) -> datetime | None:
    """While a usage limit is in force (its reset plus the margin is ahead), when it ends."""
    active = store.cooldowns.active(now - margin)
    if active is None:
        return None
    end: datetime = active["reset_at"] + margin
    return end


def claim_runs(store: Store, now: datetime, *, instance: str, host: str, slots: int,
               lease: timedelta, cooldown_margin: timedelta = timedelta(seconds=60),
               hand_over: Callable[[Claim], None] | None = None,
               ceilings: Ceilings | None = None, account: str | None = None) -> list[Claim]:
    """Claim up to `slots` runs that may start now, oldest first, in one transaction.

    A run waits (stays pending) while another run of its job is queued or running, unless the
    job allows overlap. During a usage-limit cooldown, Claude runs are deferred until it ends
    (shell runs go on): nothing spends quota to find out whether the limit is still there.
    A Claude run whose job's ceiling (else `ceilings`, the daemon's) is reached by the last
    known utilization of `account`'s windows (None: the account seen last) is deferred the same
    way, to that window's reset (`_hold_at_ceilings`).

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
        candidates = store.claims.claimable(now, limit=slots * 4 + 16)
        missed: list[tuple[int, int, str]] = []
        if until is not None:
            deferred = [c for c in candidates if c.executor == ExecutorKind.CLAUDE]
            for run in deferred:
                store.runs.defer(run.id, until, "deferred: a usage limit is in force until "
                                f"{until:%Y-%m-%d %H:%M:%S} UTC")
                trace("deferred", job_id=run.job_id, run_id=run.id, attempt=run.attempt,
                      start=until.isoformat())
            candidates = [c for c in candidates if c.executor != ExecutorKind.CLAUDE]
        else:
            # Any of these may be a fire time a limit deferred (the query says which).
            waking = {c.job_id for c in candidates if c.job_id is not None and c.attempt == 1}
            missed = deferred_misfires(store, waking, now)
            gone = {run_id for _, run_id, _ in missed}
            candidates = [c for c in candidates if c.id not in gone]
        candidates, ceiling_held = _hold_at_ceilings(store, candidates, now, cooldown_margin,
                                                     ceilings, account)
        overlap = store.jobs.overlaps({c.job_id for c in candidates if c.job_id is not None})
        exclusive = sorted(j for j, o in overlap.items() if o != OverlapPolicy.ALLOW)
        # Whether such a job already has a run going is decided by one daemon at a time; a
        # job another daemon is deciding about right now is left for the next pass.
        held = store.lock_jobs(exclusive)
        active = store.runs.active(held, now)
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
            store.runs.set_status(run.id, RunStatus.SKIPPED, OVERLAP_SKIPPED, now)
        tokens = store.claims.next_tokens(len(claimed))
        store.claims.claim_many(
            [(run.id, token) for run, token in zip(claimed, tokens, strict=True)],
            instance, host, now, now + lease)
        for run, token in zip(claimed, tokens, strict=True):
            run.fencing_token = token
    if hand_over is not None:
        for run in claimed:
            hand_over(run)
    for run, why in ceiling_held:
        trace("deferred", job_id=run.job_id, run_id=run.id, attempt=run.attempt,
              start=why.until.isoformat(), reason=why.reason)
    for run in skipped:
        trace("skipped", job_id=run.job_id, run_id=run.id, attempt=run.attempt,
              reason=OVERLAP_SKIPPED)
    for job_id, run_id, reason in missed:
        trace("missed", job_id=job_id, run_id=run_id, attempt=1, reason=reason)
    for run in claimed:
        trace("claim", job_id=run.job_id, run_id=run.id, attempt=run.attempt,
              token=run.fencing_token, instance=instance)
    return claimed


def deferred_misfires(store: Store, job_ids: set[int], now: datetime
                      ) -> list[tuple[int, int, str]]:
    """The fire times of these jobs that a usage limit deferred, due again now, judged by each
    job's misfire policy as if they had all come due now (as after an outage): those it does
    not run are marked missed, saying so. Returns (job_id, run_id, reason) of each."""
    fires = store.runs.deferred_fires(job_ids, now)
    if not fires:
        return []
    ids = sorted({f[1] for f in fires})
    jobs = {j.id: j for j in store.jobs.by_id(ids)}
    missed = []
    for job_id in ids:
        job = jobs.get(job_id)
        if job is None:
            continue  # deleted meanwhile: its runs are not the policy's to judge
        mine = [(run_id, at, until) for run_id, j, at, until in fires if j == job_id]
        grace = timedelta(seconds=job.misfire_grace_s)
        keep = set(kept([at for _, at, _ in mine], now, job.misfire, grace))
        latest = max((run_id for run_id, at, _ in mine if at in keep), default=None)
        for run_id, at, until in mine:
            if at in keep:
                continue
            limit = f"a usage limit was in force until {until:%Y-%m-%d %H:%M:%S} UTC"
            if job.misfire == MisfirePolicy.SKIP:
                reason = f"missed: {limit} (misfire policy skip)"
            elif now - at > grace:
                reason = (f"missed: {limit}, {ago(now - at)} late, beyond the {ago(grace)} "
                          "grace window")
            elif job.misfire == MisfirePolicy.LATEST and latest is not None:
                reason = (f"missed: {limit}; coalesced into run {latest}, the latest deferred "
                          "one (misfire policy latest)")
            else:
                reason = f"missed: {limit}; too many late runs (misfire policy all)"
            if store.runs.set_status(run_id, RunStatus.MISSED, reason, now,
                                     from_statuses=(RunStatus.DEFERRED,)):
                missed.append((job_id, run_id, reason))
    return missed


def _hold_at_ceilings(store: Store, candidates: list[Claim], now: datetime,
                      margin: timedelta, defaults: Ceilings | None, account: str | None,
                      ) -> tuple[list[Claim], list[tuple[Claim, Hold]]]:
    """Defer the Claude runs whose ceiling the last known utilization has reached, to the
    window's reset plus the margin, as a usage limit defers. Under a misfire policy other than
    `all`, a job's earlier runs held back by a ceiling are coalesced into the latest one (they
    become missed). Returns the candidates left and the runs held back."""
    from .. import quota

    windows = store.quota.latest(account)
    if not any(w.utilization is not None and w.current(now) for w in windows.values()):
        return candidates, []  # nothing known about the windows in force: nothing to hold
    claude = [c for c in candidates if c.executor == ExecutorKind.CLAUDE]
    limits = store.quota.job_limits([c.job_id for c in claude if c.job_id is not None])
    defaults = defaults or quota.Ceilings()
    kept_runs: list[Claim] = []
    held: list[tuple[Claim, Hold]] = []
    for run in candidates:
        if run.executor != ExecutorKind.CLAUDE:
            kept_runs.append(run)
            continue
        five, seven, misfire = limits.get(run.job_id or 0, (None, None, MisfirePolicy.ALL))
        why = quota.hold(windows, defaults.over(five, seven), now, margin=margin)
        if why is None:
            kept_runs.append(run)
            continue
        store.runs.defer(run.id, why.until, why.reason)
        held.append((run, why))
        if run.job_id is not None and misfire != MisfirePolicy.ALL:
            for earlier in store.quota.held_runs(run.job_id, run.id):
                store.runs.set_status(
                    earlier, RunStatus.MISSED,
                    f"missed: coalesced into run {run.id}, held back by the "
                    f"{quota.CEILING_MARK} (misfire policy {misfire})", now,
                    from_statuses=(RunStatus.DEFERRED,))
    return kept_runs, held


def claim_one(store: Store, run_id: int, now: datetime, *, instance: str, host: str,
              lease: timedelta) -> Run | None:
    """Claim one specific run for in-process execution (`execute`, `job trigger --wait`)."""
    with store.write():
        token = store.claims.next_token()
        if not store.claims.claim(run_id, instance, host, token, now, now + lease):
            return None
    run = store.runs.get(run_id)
    trace("claim", job_id=run.job_id, run_id=run.id, attempt=run.attempt, token=token,
          instance=instance)
    return run


def renew_claims(store: Store, instance: str, now: datetime, lease: timedelta) -> None:
    """Keep the leases of a daemon's claimed runs alive (those waiting for a slot too)."""
    store.claims.heartbeat_all(instance, now, now + lease)


def release_claims(store: Store, instance: str, now: datetime) -> int:
    """A stopping daemon's claims that no worker started go back to pending for the next."""
    return store.claims.release(instance, now)


def take_back_ahead(store: Store, now: datetime, *, due: bool) -> dict[int, datetime]:
    """Runs materialized ahead go back to their jobs (`store.schedule.take_back_ahead`): with `due`,
    those that came due while no daemon was looking, else those still to come. Returns each
    job's restored next fire time."""
    taken = store.schedule.take_back_ahead(now, due=due)
    if taken:
        trace("taken_back", jobs=len(taken), due=due,
              earliest=min(taken.values()).isoformat())
    return taken
