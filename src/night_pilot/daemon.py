"""The daemon: one long-lived process that reads the clock and drives the scheduler and the
runner. An edge: it owns threads, signals and the single-daemon lock; what runs when is
`scheduler`'s, every change to a run `runs`'s, execution `runner`'s.

Loop: claim due runs into free worker slots → reap → materialize fire times up to a few
seconds ahead → sleep until the next due time (at most one second, so jobs created from the
CLI are seen within a second).
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Protocol

from . import __version__, notify, runs
from .config import DbLocation
from .daemons import AnotherDaemon, DaemonLock, active_daemons, instance_id, owner_is_dead
from .errors import CnpError
from .faults import crash_point
from .models import Claim, Run, RunStatus
from .quota import Ceilings, account_of
from .runner import Runner, RunnerConfig, StopSignal
from .scheduler import materialize_some, materialize_spare
from .store import Store, open_store
from .tracing import log, trace


class RunnerLike(Protocol):
    def run(self, run: Run, cancel: StopSignal | None = None) -> object: ...


# How workers get their runner; benchmarks pass one that executes nothing.
RunnerFactory = Callable[[Store, str, Callable[[], datetime], RunnerConfig], RunnerLike]

DAEMON_HEARTBEAT_EVERY = 5.0
# Due jobs materialized per pass of the loop, at most (rounded to the store's batches).
MATERIALIZE_PER_PASS = 1000


def default_prefetch(location: DbLocation) -> int:
    """How many claimed runs a daemon holds waiting for a slot, by default. On SQLite it is
    the only daemon: it takes a whole burst of due runs at once (each queued behind the
    running ones, its lease kept alive). On PostgreSQL a few dozen, so that other daemons
    share a large backlog."""
    return 32 if location.is_postgres else 10_000


@dataclass
class DaemonConfig:
    concurrency: int = 2
    # Claimed runs waiting for a slot (status queued), beyond the running ones; None: the
    # backend's default (`default_prefetch`).
    prefetch: int | None = None
    lease_s: float = 30.0
    shutdown_grace_s: float = 30.0
    max_sleep_s: float = 1.0
    # Fire times this close ahead are materialized into pending runs before they are due, so
    # that at the due time only the claim is left to do (a burst of thousands of jobs due in
    # the same second is written in the seconds before it).
    lookahead_s: float = 5.0
    standby: bool = True
    clock_offset_s: float = 0.0  # for tests of skewed hosts; never set in normal use
    # Finished runs (and their events) older than this many days are deleted by the hourly
    # maintenance; None keeps every run forever.
    retain_days: float | None = None
    maintenance_every_s: float = 3600.0
    cooldown_margin_s: float = 60.0  # no Claude run starts before a limit's reset plus this
    # How often what is new in Claude Code's transcripts is read into the usage ledger, on a
    # thread of its own (the first time shortly after the start); None: never.
    usage_import_every_s: float | None = 600.0
    usage_import_first_s: float = 10.0
    # The ceilings (percent of the five-hour and seven-day windows) of jobs without their own.
    quota_ceiling: float | None = None
    weekly_ceiling: float | None = None
    runner: RunnerConfig = field(default_factory=RunnerConfig)


class Daemon:
    def __init__(self, location: DbLocation, config: DaemonConfig | None = None,
                 runner_factory: RunnerFactory = Runner) -> None:
        self.location = location
        self.config = config or DaemonConfig()
        self.runner_factory = runner_factory
        self.host = socket.gethostname()
        self.instance = instance_id(self.host)
        self.wake = threading.Event()
        self.stopping = threading.Event()
        # Set while the loop sleeps. Scheduling comes before recording output: while a pass
        # materializes and claims, runners wait (a bounded time) before taking more of their
        # process's output, so that a few runs printing at full speed cannot starve the loop
        # of the interpreter and the database (the processes wait on their pipes meanwhile).
        self.idle = threading.Event()
        self.idle.set()
        self.work: queue.Queue[Claim | None] = queue.Queue()
        self.busy = 0
        self.busy_lock = threading.Lock()
        self.stops: dict[int, StopSignal] = {}
        self.workers: list[threading.Thread] = []
        self.store: Store | None = None
        self.lock: DaemonLock | None = None
        # Database clock minus ours (PostgreSQL): re-measured every pass, so that runners'
        # timestamps read like the scheduler's.
        self.db_offset = timedelta(0)
        self.prefetch = (self.config.prefetch if self.config.prefetch is not None
                         else default_prefetch(location))

    @property
    def ceilings(self) -> Ceilings:
        return Ceilings(self.config.quota_ceiling, self.config.weekly_ceiling)

    @cached_property
    def account(self) -> str:
        """The account our runs use Claude as (their environment's credential source)."""
        return account_of(self.config.runner.env if self.config.runner.env is not None
                          else os.environ)

    def local_now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.config.clock_offset_s)

    def now(self) -> datetime:
        """The only clock read in the project's scheduling path: ours, or on a database with
        a clock of its own (PostgreSQL) the database's, as last measured."""
        return self.local_now() + self.db_offset

    def sync_clock(self, store: Store) -> datetime:
        """Now, for one pass of the loop. On PostgreSQL it is the server's clock, read now:
        every daemon decides what is due and whose lease has run out by the same clock, so
        hosts whose clocks disagree cannot run a job early, late or twice."""
        before = self.local_now()
        db_now = store.db_now()
        if db_now is None:
            return before
        after = self.local_now()
        self.db_offset = db_now - (before + (after - before) / 2)
        return db_now

    # -- lifecycle --------------------------------------------------------------------------

    def run(self) -> int:
        with self._stopped_by_signals():
            return self._run()

    def _run(self) -> int:
        self.store = open_store(self.location)
        if not self._acquire_lock():
            return 0
        store = self.store
        store.daemons.register(self.instance, self.host, os.getpid(), __version__, "active",
                              self.now())
        store.quota.set_daemon_ceilings(self.instance, self.ceilings)
        trace("daemon_start", instance=self.instance, db=self.location.display(),
              concurrency=self.config.concurrency)
        self._reap_orphans()
        self._take_back_ahead(store, self.now(), due=True)
        for n in range(self.config.concurrency):
            t = threading.Thread(target=self._worker, name=f"runner-{n}", daemon=True)
            t.start()
            self.workers.append(t)
        threading.Thread(target=self._notifier, name="notifier", daemon=True).start()
        if self.config.usage_import_every_s is not None:
            threading.Thread(target=self._usage_importer, name="usage-import",
                             daemon=True).start()
        if self.location.is_postgres:
            threading.Thread(target=self._listen, name="listener", daemon=True).start()
        try:
            self._loop(store)
        finally:
            self._shutdown(store)
        return 0

    def _acquire_lock(self) -> bool:
        if self.location.path is None:
            return True  # PostgreSQL: any number of daemons share the work
        self.lock = DaemonLock(self.location.path)
        if self.lock.try_acquire():
            return True
        holder = self.lock.holder()
        if not self.config.standby:
            raise AnotherDaemon(
                f"another daemon ({holder}) already runs on {self.location.display()}",
                hint="stop it first, or start this one with --standby to take over when it stops",
            )
        trace("daemon_standby", instance=self.instance, holder=holder)
        assert self.store is not None
        self.store.daemons.register(self.instance, self.host, os.getpid(), __version__,
                                   "standby", self.now())
        while not self.stopping.is_set():
            self.wake.wait(1.0)
            self.wake.clear()
            if self.lock.try_acquire():
                trace("daemon_takeover", instance=self.instance, previous=holder)
                return True
            self.store.daemons.heartbeat(self.instance, self.now())
        self.store.daemons.stopped(self.instance, self.now())
        return False

    @contextlib.contextmanager
    def _stopped_by_signals(self) -> Iterator[None]:
        """SIGTERM and SIGINT stop the daemon while it runs; afterwards the process's handlers
        are as they were. The handler takes no lock: setting an Event from a handler deadlocks
        if the interrupted thread holds that Event's lock. The signal arrives as a byte on a
        socket instead, and a thread of its own sets the flags."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        ours, theirs = socket.socketpair()
        theirs.setblocking(False)
        wakeup_fd = signal.set_wakeup_fd(theirs.fileno(), warn_on_full_buffer=False)
        for signum in handlers:
            signal.signal(signum, lambda _signum, _frame: None)

        def on_signal() -> None:
            with ours:
                ours.recv(1)  # a signal's byte, or nothing once `theirs` is closed
            self.stopping.set()
            self.wake.set()

        threading.Thread(target=on_signal, name="signals", daemon=True).start()
        try:
            yield
        finally:
            signal.set_wakeup_fd(wakeup_fd)
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
            theirs.close()

    def _reap_orphans(self) -> None:
        """Runs claimed by a daemon of this host that no longer exists are reaped at once
        rather than after their lease runs out."""
        assert self.store is not None
        orphans = [r for r in self.store.claims.owned_by_others(self.instance)
                   if r.claimed_by and owner_is_dead(r.claimed_by, self.host)]
        if orphans:
            runs.reap(self.store, self.now(), host=self.host, orphans=orphans)

    def _take_back_ahead(self, store: Store, now: datetime, *, due: bool) -> None:
        """Runs materialized ahead go back to their jobs: with `due`, those that came due while
        no daemon was looking (for the misfire policy to judge), else those still to come (we
        are stopping: the jobs show their true next run, and the next daemon writes them
        anew). While another daemon is alive (PostgreSQL) they are its business."""
        if any(d["instance_id"] != self.instance for d in active_daemons(store, now)):
            return
        runs.take_back_ahead(store, now, due=due)

    # -- the loop ---------------------------------------------------------------------------

    def _loop(self, store: Store) -> None:
        lease = timedelta(seconds=self.config.lease_s)
        margin = timedelta(seconds=self.config.cooldown_margin_s)
        lookahead = timedelta(seconds=self.config.lookahead_s)
        in_cooldown: datetime | None = None
        last_wall, last_mono = self.sync_clock(store), time.monotonic()
        next_heartbeat = next_renewal = 0.0
        next_maintenance = time.monotonic() + 60.0  # not in the rush of a start
        while not self.stopping.is_set():
            self.idle.clear()  # a pass: the runners hold back their output (see `idle`)
            now, mono = self.sync_clock(store), time.monotonic()
            if self._notice_jumps(now - last_wall, mono - last_mono):
                self._take_back_ahead(store, now, due=True)
            last_wall, last_mono = now, mono
            # Claim first: runs materialized ahead are waiting for exactly this moment.
            self._claim(store, now, lease, margin)
            runs.reap(store, now, host=self.host)
            # At most about a thousand due jobs per pass: a larger burst is worked off over
            # several passes, each of which also claims and renews the leases it holds. After
            # each batch, what has come due meanwhile is claimed: materializing the next
            # burst never holds up the one that is due.
            if materialize_spare(store, now, account=self.account, ceilings=self.ceilings):
                self._claim(store, self.now(), lease, margin)
            for _ in range(max(1, MATERIALIZE_PER_PASS // store.materialize_batch)):
                created, behind = materialize_some(store, now, batches=1, lookahead=lookahead)
                if created:
                    self._claim(store, self.now(), lease, margin)
                if not behind:
                    break
            until = runs.cooldown_until(store, now, margin)
            if in_cooldown is not None and until is None:
                trace("cooldown_end", ended=in_cooldown.isoformat())
            in_cooldown = until
            with self.busy_lock:
                holding = self.busy
            if holding and mono >= next_renewal:
                # Runs waiting in our queue hold leases too; keep them alive (a third of the
                # lease ahead of its end: a thousand queued runs are not rewritten each pass).
                runs.renew_claims(store, self.instance, now, lease)
                next_renewal = mono + self.config.lease_s / 3
            if mono >= next_heartbeat:
                store.daemons.heartbeat(self.instance, now)
                next_heartbeat = mono + DAEMON_HEARTBEAT_EVERY
            if mono >= next_maintenance:
                self.maintain(store, now)
                next_maintenance = mono + self.config.maintenance_every_s
            if not behind:
                self._sleep(store, now)

    def _claim(self, store: Store, now: datetime, lease: timedelta, margin: timedelta) -> None:
        """Claim due runs into the free worker slots and hand them to the workers."""
        with self.busy_lock:
            free = self.config.concurrency + self.prefetch - self.busy
        if free <= 0:
            return
        runs.claim_runs(store, now, instance=self.instance, host=self.host, slots=free,
                   lease=lease, cooldown_margin=margin, hand_over=self._hand_over,
                   ceilings=self.ceilings, account=self.account)

    def _hand_over(self, run: Claim) -> None:
        """Give a claimed run to the workers."""
        crash_point("after_claim")
        with self.busy_lock:
            self.busy += 1
        self.work.put(run)

    def maintain(self, store: Store, now: datetime) -> dict[str, int] | None:
        """Delete finished runs past the retention period. On PostgreSQL an advisory lock
        lets one daemon at a time do it (None: another holds it, or no retention is set)."""
        if self.config.retain_days is None:
            return None
        if not store.try_lock("maintenance"):
            trace("maintenance_skipped", reason="another daemon is doing it")
            return None
        try:
            before = now - timedelta(days=self.config.retain_days)
            pruned = runs.prune(store, before)
        finally:
            store.unlock("maintenance")
        trace("maintenance", before=before.isoformat(), **pruned)
        return pruned

    def _sleep(self, store: Store, now: datetime) -> None:
        """Sleep until the next due time, at most max_sleep_s, waking early when a slot frees
        or a signal arrives. Re-reading the wall clock every second is what makes a suspend or
        a clock step show up promptly."""
        wait = self.config.max_sleep_s
        self.idle.set()
        due = store.schedule.next_wakeup(now, lookahead=timedelta(seconds=self.config.lookahead_s))
        if due is not None:
            # Measured from the clock as it is now, not as it was when the pass began.
            wait = max(0.0, min(wait, (due - self.now()).total_seconds()))
        self.wake.wait(wait)
        self.wake.clear()

    def _notice_jumps(self, wall: timedelta, mono: float) -> bool:
        """True after a suspend or a forward step of the clock.

        CLOCK_MONOTONIC stops while the machine sleeps; the wall clock does not. A wall delta
        far beyond the monotonic one is a suspend or a forward step; less is a backward step.
        Scheduling needs little special: due fire times go through the misfire policy, and
        next_run_at only ever moves forward; runs materialized ahead that came due while we
        slept are taken back for the misfire policy to judge."""
        drift = wall.total_seconds() - mono
        if drift > 5:
            trace("clock_jump", direction="forward_or_suspend", seconds=round(drift, 1))
            return True
        if drift < -5:
            trace("clock_jump", direction="backward", seconds=round(-drift, 1))
        return False

    # -- workers ----------------------------------------------------------------------------

    def _worker(self) -> None:
        # Each worker thread lives as long as the daemon: the runs it spawns carry a
        # parent-death signal tied to this thread.
        store = open_store(self.location)
        config = replace(self.config.runner, scheduler_idle=self.idle)
        runner = self.runner_factory(store, self.instance, self.now, config)
        while True:
            claim = self.work.get()
            if claim is None:
                break
            stop = StopSignal()
            self.stops[claim.id] = stop
            try:
                runner.run(store.runs.get(claim.id), stop)  # the run as claimed
            except Exception as exc:  # a bug must not take the daemon down or lose the run
                log.exception("runner failed on run %s", claim.id)
                self._record_internal_error(store, claim, exc)
            finally:
                self.stops.pop(claim.id, None)
                with self.busy_lock:
                    self.busy -= 1
                self.wake.set()
        store.close()

    def _listen(self) -> None:
        """PostgreSQL: wake the loop as soon as another process changes a job or asks for a
        run (LISTEN/NOTIFY), instead of at the next one-second look."""
        assert self.store is not None
        while not self.stopping.is_set():
            try:
                listener = self.store.listener()  # type: ignore[union-attr]
            except CnpError as exc:
                log.warning("cannot listen for changes (retrying): %s", exc.message)
                self.stopping.wait(5.0)
                continue
            try:
                while not self.stopping.is_set():
                    if listener.wait(1.0):
                        self.wake.set()
            except Exception:
                log.warning("the change listener lost its connection; reconnecting",
                            exc_info=True)
            finally:
                listener.close()

    def _notifier(self) -> None:
        """Deliver the notification outbox, off the scheduling path: a slow or failing
        notifier never delays a run."""
        store = open_store(self.location)
        try:
            while not self.stopping.wait(1.0):
                try:
                    notify.deliver(store, self.now())
                except Exception:
                    log.exception("notification delivery failed")
            notify.deliver(store, self.now())  # what the shutdown itself produced
        finally:
            store.close()

    def _usage_importer(self) -> None:
        """Read what is new in Claude Code's transcripts into the usage ledger now and then,
        on a connection of its own: `cnp usage` and the dashboard find it current, and no
        claim waits for it (it writes in batches of its own transactions)."""
        from .usage import default_roots, import_transcripts

        every = self.config.usage_import_every_s
        assert every is not None
        store = open_store(self.location)
        try:
            delay = min(self.config.usage_import_first_s, every)
            while not self.stopping.wait(delay):
                delay = every
                try:
                    report = import_transcripts(store, default_roots(), self.now())
                except Exception:
                    log.exception("importing Claude Code's usage failed")
                    continue
                if report.entries_added or report.errors:
                    trace("usage_import", roots=report.roots, added=report.entries_added,
                          bytes_read=report.bytes_read, errors=len(report.errors))
        finally:
            store.close()

    def _record_internal_error(self, store: Store, run: Claim, exc: Exception) -> None:
        assert run.fencing_token is not None
        try:
            runs.fail_internal(store, run.id, self.instance, run.fencing_token, exc, self.now())
        except Exception:
            log.exception("could not record the failure of run %s", run.id)

    # -- shutdown ---------------------------------------------------------------------------

    def _shutdown(self, store: Store) -> None:
        """Stop claiming, hand back unstarted claims, give running runs the grace period, then
        stop them and record why."""
        trace("daemon_stopping", instance=self.instance, running=self.busy)
        # Claimed runs no worker has picked up yet go back to pending for the next daemon.
        while True:
            try:
                item = self.work.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                with self.busy_lock:
                    self.busy -= 1
        released = runs.release_claims(store, self.instance, self.now())
        self._take_back_ahead(store, self.now(), due=False)
        deadline = time.monotonic() + self.config.shutdown_grace_s
        while time.monotonic() < deadline:
            with self.busy_lock:
                if self.busy <= 0:
                    break
            time.sleep(0.1)
        for stop in list(self.stops.values()):
            stop.stop(RunStatus.INTERRUPTED,
                      f"interrupted: the daemon stopped ({self.config.shutdown_grace_s:g}s "
                      "grace period elapsed)")
        for _ in self.workers:
            self.work.put(None)
        for t in self.workers:
            t.join(timeout=self.config.runner.kill_grace_s + 10)
        store.daemons.stopped(self.instance, self.now())
        trace("daemon_stop", instance=self.instance, released=released)
        if self.lock is not None:
            self.lock.release()
        store.close()


__all__ = ["Daemon", "DaemonConfig"]
