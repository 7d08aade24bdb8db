"""Running a run to its end in this process: what `cnp execute`, `cnp job trigger --wait`
(without a daemon) and `cnp batch` do."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from ..models import RunStatus
from .claim import claim_one
from .finish import next_attempt

if TYPE_CHECKING:
    from ..models import Run
    from ..runner import Runner, StopSignal
    from ..store import Store


def run_to_end(store: Store, runner: Runner, run: Run, *, host: str,
               cancel: StopSignal | None = None,
               on_retry: Callable[[Run, Run, float], None] | None = None
               ) -> Run:
    """Execute a pending run in this process and follow its retries to the final outcome.

    Returns the last attempt as recorded. If `cancel` is set while a retry waits, the retry is
    cancelled too. A run another process claimed first is left to it; a run this runner has
    already claimed (`batch` inserts and claims in one step) is executed as it is.
    Before each wait for a retry, `on_retry` is told the failed attempt, the next one and the
    seconds until it starts.
    """
    lease = timedelta(seconds=runner.config.lease_s)
    while True:
        claimed: Run | None = run
        if not (run.status == RunStatus.QUEUED and run.claimed_by == runner.instance):
            claimed = claim_one(store, run.id, runner.clock(), instance=runner.instance,
                                host=host, lease=lease)
        if claimed is None:
            return store.runs.get(run.id)  # somebody else took it (a daemon started meanwhile)
        runner.run(claimed, cancel)
        done = store.runs.get(run.id)
        follow = next_attempt(store, done) if done.status == RunStatus.FAILED else None
        if follow is None or follow.status != RunStatus.RETRY_WAIT:
            return done
        wait = max(0.0, (follow.retry_at - runner.clock()).total_seconds()
                   if follow.retry_at is not None else 0.0)
        if on_retry is not None:
            on_retry(done, follow, wait)
        if cancel is not None:
            if cancel.wait(wait):
                store.runs.request_cancel(follow.id, runner.clock())
                return store.runs.get(follow.id)
        else:
            time.sleep(wait)
        run = follow
