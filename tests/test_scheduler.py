"""Scheduling decisions with an injected clock: misfires after a suspend, clock steps, overlap,
claims with fencing tokens, and reaping runs whose owner vanished."""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from night_pilot.catalog import JobSpec, build_job, make_prompt, pause_job, schedule_of
from night_pilot.config import resolve_db
from night_pilot.models import Job, RunResult, RunStatus
from night_pilot.runs import claim_runs, reap, trigger_job
from night_pilot.scheduler import MAX_FIRES_PER_PASS, materialize_due, materialize_some, plan_fires
from night_pilot.store import Store

T0 = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


@pytest.fixture
def store(backend: str, store: Store) -> Store:
    """Every test here runs on SQLite and on PostgreSQL, with prompt 1 to schedule."""
    store.prompts.insert_many([make_prompt("p", "do the thing", [])], T0)
    return store


def add_job(store: Store, cron: str, now: datetime = T0, **spec: object) -> Job:
    job = build_job(JobSpec(prompt_id=1, cron=cron, timezone="UTC", **spec),  # type: ignore[arg-type]
                    store.prompts.get(1), now, Path.cwd())
    return store.jobs.get(store.jobs.insert(job, now))


def statuses(store: Store, job_id: int) -> list[str]:
    return [str(r.status) for r in reversed(store.runs.recent(job_id=job_id, limit=10_000))]


# -- misfire policies after a suspend -----------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("latest", ["missed"] * 7 + ["pending"]),
        ("skip", ["missed"] * 8),
        ("all", ["pending"] * 8),
    ],
)
def test_an_eight_hour_suspend(store: Store, policy: str, expected: list[str]) -> None:
    job = add_job(store, "0 * * * *", misfire=policy, misfire_grace="12h")
    assert job.next_run_at == T0 + timedelta(hours=1)
    wake = T0 + timedelta(hours=8, minutes=30)  # asleep from 00:00 to 08:30
    materialize_due(store, wake)
    assert statuses(store, job.id or 0) == expected
    runs = list(reversed(store.runs.recent(job_id=job.id)))
    assert [r.scheduled_for.hour for r in runs] == list(range(1, 9))
    assert all(r.reason for r in runs if r.status == RunStatus.MISSED)
    assert store.jobs.get(job.id or 0).next_run_at == T0 + timedelta(hours=9)


def test_fires_older_than_the_grace_window_are_missed_with_the_reason(store: Store) -> None:
    job = add_job(store, "0 * * * *", misfire="all", misfire_grace="2h")
    materialize_due(store, T0 + timedelta(hours=5, minutes=1))
    runs = list(reversed(store.runs.recent(job_id=job.id)))
    assert [str(r.status) for r in runs] == ["missed", "missed", "missed", "pending", "pending"]
    assert "beyond the 2h grace window" in (runs[0].reason or "")


def test_an_on_time_fire_runs_whatever_the_policy(store: Store) -> None:
    for policy in ("skip", "latest", "all"):
        add_job(store, "*/5 * * * *", misfire=policy)
    created = materialize_due(store, T0 + timedelta(minutes=5, milliseconds=3))
    assert len(created) == 3


def test_materializing_twice_creates_nothing_new(store: Store) -> None:
    job = add_job(store, "* * * * *")
    now = T0 + timedelta(minutes=1)
    assert len(materialize_due(store, now)) == 1
    assert materialize_due(store, now) == []
    assert materialize_due(store, now + timedelta(seconds=30)) == []
    assert len(store.runs.recent(job_id=job.id)) == 1


def test_the_clock_stepping_back_runs_nothing_twice(store: Store) -> None:
    job = add_job(store, "*/10 * * * *", overlap="queue")
    for minutes in (10, 20, 30):
        materialize_due(store, T0 + timedelta(minutes=minutes))
    before = statuses(store, job.id or 0)
    # The clock is set back an hour, then runs forward again over the same times.
    for minutes in range(-30, 31, 5):
        materialize_due(store, T0 + timedelta(minutes=minutes))
    assert statuses(store, job.id or 0) == before == ["pending", "pending", "pending"]
    seen = [(r.scheduled_for, r.attempt) for r in store.runs.recent(job_id=job.id)]
    assert len(seen) == len(set(seen))


def test_a_clock_jump_of_two_hundred_years_does_not_hang(store: Store) -> None:
    job = add_job(store, "* * * * * *")  # every second: billions of fire times in 200 years
    future = T0.replace(year=2226)
    started = time.monotonic()
    materialize_due(store, future)
    assert time.monotonic() - started < 10
    runs = store.runs.recent(job_id=job.id, limit=10_000)
    # The first fire times are listed as missed, the last of them says the rest were too,
    # and the fire time due now is pending.
    assert Counter(str(r.status) for r in runs) == {"missed": MAX_FIRES_PER_PASS, "pending": 1}
    [summary] = [r for r in runs if "not listed one by one" in (r.reason or "")]
    assert summary.scheduled_for == T0 + timedelta(seconds=MAX_FIRES_PER_PASS)
    assert store.jobs.get(job.id or 0).next_run_at == future + timedelta(seconds=1)


def test_a_one_shot_job_fires_once(store: Store) -> None:
    job = build_job(JobSpec(prompt_id=1, at="2026-11-28T00:00:30", timezone="UTC"),
                    store.prompts.get(1), T0, Path.cwd())
    job_id = store.jobs.insert(job, T0)
    assert len(materialize_due(store, T0 + timedelta(seconds=31))) == 1
    assert store.jobs.get(job_id).next_run_at is None
    assert materialize_due(store, T0 + timedelta(days=1)) == []


def test_plan_is_bounded_and_increasing() -> None:
    job = Job(prompt_id=1, name="j", timezone="UTC", cron_expr="* * * * * *",
              next_run_at=T0 + timedelta(seconds=1))
    plan = plan_fires(job, schedule_of(job), T0 + timedelta(days=3), busy=False)
    times = [r.scheduled_for for r in plan.runs]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert len(times) == MAX_FIRES_PER_PASS + 1


# -- overlap and claims -------------------------------------------------------------------------


def test_overlap_skip_records_a_skipped_run(store: Store) -> None:
    job = add_job(store, "* * * * *", overlap="skip")
    materialize_due(store, T0 + timedelta(minutes=1))
    [first] = claim_runs(store, T0 + timedelta(minutes=1), instance="a", host="h", slots=2,
                         lease=LEASE)
    materialize_due(store, T0 + timedelta(minutes=2))
    runs = store.runs.recent(job_id=job.id)
    assert [str(r.status) for r in runs] == ["skipped", "queued"]
    assert "still active" in (runs[0].reason or "")
    assert first.id == runs[1].id


def test_overlap_queue_waits_and_allow_runs_together(store: Store) -> None:
    queued = add_job(store, "* * * * *", overlap="queue")
    allowed = add_job(store, "* * * * *", overlap="allow")
    for minute in (1, 2):
        now = T0 + timedelta(minutes=minute)
        materialize_due(store, now)
        claim_runs(store, now, instance="a", host="h", slots=10, lease=LEASE)
    assert statuses(store, queued.id or 0) == ["queued", "pending"]
    assert statuses(store, allowed.id or 0) == ["queued", "queued"]


def test_claims_respect_the_free_slots_and_number_each_claim(store: Store) -> None:
    for _ in range(5):
        add_job(store, "* * * * *")
    now = T0 + timedelta(minutes=1)
    materialize_due(store, now)
    first = claim_runs(store, now, instance="a", host="h", slots=2, lease=LEASE)
    second = claim_runs(store, now, instance="b", host="h", slots=2, lease=LEASE)
    assert len(first) == len(second) == 2
    tokens = [r.fencing_token for r in first + second]
    assert tokens == sorted(tokens) and len(set(tokens)) == 4
    assert not {r.id for r in first} & {r.id for r in second}


def test_a_stale_owner_cannot_record_a_result(store: Store) -> None:
    add_job(store, "* * * * *")
    now = T0 + timedelta(minutes=1)
    materialize_due(store, now)
    [run] = claim_runs(store, now, instance="a", host="h", slots=1, lease=LEASE)
    assert run.fencing_token is not None
    reap(store, now + timedelta(minutes=5), host="h")  # a's lease ran out: reaped
    done = RunResult(RunStatus.COMPLETED)
    assert not store.claims.finish(run.id, "a", run.fencing_token, done, now)
    assert store.runs.get(run.id).status == RunStatus.INTERRUPTED


# -- reaping ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "started", "retried"),
    [
        ("retry-unstarted", False, True),
        ("retry-unstarted", True, False),
        ("always", True, True),
        ("never", False, False),
    ],
)
def test_reaping_follows_the_interrupt_policy(
    store: Store, policy: str, started: bool, retried: bool
) -> None:
    job = add_job(store, "* * * * *", on_interrupt=policy)
    now = T0 + timedelta(minutes=1)
    materialize_due(store, now)
    [run] = claim_runs(store, now, instance="gone", host="elsewhere", slots=1, lease=LEASE)
    assert run.fencing_token is not None
    if started:
        assert store.claims.mark_running(run.id, "gone", run.fencing_token, now, pid=999_999,
                                  process_start=None, argv=["x"], prompt_text=None,
                                  prompt_sha256=None)
    assert reap(store, now + timedelta(seconds=10), host="h") == []  # lease still valid
    reap(store, now + timedelta(seconds=31), host="h")
    runs = list(reversed(store.runs.recent(job_id=job.id)))
    assert runs[0].status == RunStatus.INTERRUPTED
    assert "stopped heartbeating" in (runs[0].reason or "")
    assert [(r.attempt, str(r.status)) for r in runs[1:]] == ([(2, "pending")] if retried else [])


def test_reaping_decides_on_the_run_as_it_is_not_as_it_was_listed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between listing expired leases and interrupting one, its owner may heartbeat (then it
    is not reaped) or start the run (then retry-unstarted must not rerun it)."""
    job = add_job(store, "* * * * *", overlap="allow")
    now = T0 + timedelta(minutes=1)
    materialize_due(store, now)
    trigger_job(store, job.id or 0, now + timedelta(seconds=1))
    first, second = claim_runs(store, now, instance="busy", host="h", slots=2, lease=LEASE)
    late = now + timedelta(seconds=31)
    listed = store.claims.expired(late)
    assert {r.id for r in listed} == {first.id, second.id}
    assert first.fencing_token is not None and second.fencing_token is not None
    # The owner, still alive, renews the first lease and starts the second run.
    assert store.claims.heartbeat(first.id, "busy", first.fencing_token, late,
                               late + LEASE)
    assert store.claims.mark_running(second.id, "busy", second.fencing_token, late, pid=999_999,
                              process_start=None, argv=["x"], prompt_text=None,
                              prompt_sha256=None)
    monkeypatch.setattr(store.claims, "expired", lambda _now: listed)
    reaped = reap(store, late, host="elsewhere")
    assert [r.id for r in reaped] == [second.id]
    assert store.runs.get(first.id).status == RunStatus.QUEUED
    assert store.runs.get(second.id).status == RunStatus.INTERRUPTED
    assert store.runs.next_attempt_of(second.id) is None  # it had started: no rerun


def test_a_pass_materializes_a_bounded_number_of_batches(store: Store) -> None:
    batch = store.materialize_batch
    jobs = [add_job(store, "0 * * * *") for _ in range(2 * batch + 5)]
    now = T0 + timedelta(hours=1)
    first, more = materialize_some(store, now, batches=1)
    assert len(first) == batch and more
    rest, more = materialize_some(store, now, batches=None)
    assert len(rest) == batch + 5 and not more
    assert sorted(first + rest) == sorted(r.id for j in jobs
                                          for r in store.runs.recent(job_id=j.id))
    assert materialize_some(store, now, batches=1) == ([], False)


def test_a_manual_trigger_is_recorded_like_a_scheduled_run(store: Store) -> None:
    job = add_job(store, "@yearly")
    run = trigger_job(store, job.id or 0, T0)
    assert (run.status, str(run.trigger), run.job_id) == (RunStatus.PENDING, "manual", job.id)
    [claimed] = claim_runs(store, T0, instance="a", host="h", slots=1, lease=LEASE)
    assert claimed.id == run.id
    again = trigger_job(store, job.id or 0, T0 + timedelta(seconds=1))
    assert again.status == RunStatus.SKIPPED  # overlap skip: the first is still queued


def test_a_broken_job_is_paused_and_the_others_still_fire(store: Store) -> None:
    broken = add_job(store, "* * * * *")
    healthy = add_job(store, "* * * * *")
    store.db.execute("UPDATE jobs SET cron_expr = '99 * * * *' WHERE id = ?", (broken.id,))
    created = materialize_due(store, T0 + timedelta(minutes=1))
    assert [store.runs.get(i).job_id for i in created] == [healthy.id]
    assert store.jobs.get(broken.id or 0).enabled is False
    assert store.runs.recent(job_id=broken.id) == []


# -- fire times materialized ahead (the daemon's lookahead) ----------------------------------

AHEAD = timedelta(seconds=5)
MINUTE = T0 + timedelta(minutes=1)


def test_fire_times_ahead_are_written_early_and_claimable_only_when_due(store: Store) -> None:
    job = add_job(store, "* * * * *")
    [run_id] = materialize_some(store, MINUTE - timedelta(seconds=3), batches=None,
                                lookahead=AHEAD)[0]
    run = store.runs.get(run_id)
    assert (run.status, run.scheduled_for) == (RunStatus.PENDING, MINUTE)
    assert store.jobs.get(job.id or 0).next_run_at == MINUTE  # what the job shows: its next run
    assert store.jobs.get(job.id or 0).last_status is None  # a run to come is not its last
    assert store.schedule.next_wakeup(MINUTE - timedelta(seconds=3), lookahead=AHEAD) == MINUTE
    assert claim_runs(store, MINUTE - timedelta(milliseconds=1), instance="a", host="h",
                      slots=4, lease=LEASE) == []
    [claimed] = claim_runs(store, MINUTE, instance="a", host="h", slots=4, lease=LEASE)
    assert claimed.id == run_id
    # Written once: the next pass, on time or late, adds nothing for that minute.
    assert materialize_some(store, MINUTE + timedelta(seconds=1), batches=None,
                            lookahead=AHEAD)[0] == []
    assert [r.scheduled_for for r in store.runs.recent(job_id=job.id)] == [MINUTE]


def test_editing_pausing_or_deleting_a_job_takes_its_runs_ahead_back(store: Store) -> None:
    early = MINUTE - timedelta(seconds=3)
    edited, paused, deleted = (add_job(store, "* * * * *") for _ in range(3))
    materialize_some(store, early, batches=None, lookahead=AHEAD)
    assert all(len(store.runs.recent(job_id=j.id)) == 1 for j in (edited, paused, deleted))

    # An edit that keeps the schedule keeps the fire time; the run comes back written anew.
    spec = JobSpec(prompt_id=1, cron="* * * * *", timezone="UTC", timeout="7m")
    changed = build_job(spec, store.prompts.get(1), early, Path.cwd())
    store.jobs.update(edited.id or 0, changed, early, reschedule=False)
    assert store.runs.recent(job_id=edited.id) == []
    assert store.jobs.get(edited.id or 0).next_run_at == MINUTE
    pause_job(store, paused.id or 0, early)
    store.jobs.delete(deleted.id or 0, early)
    assert store.runs.recent(job_id=paused.id) == store.runs.recent(job_id=deleted.id) == []

    [again] = materialize_some(store, early, batches=None, lookahead=AHEAD)[0]
    assert store.runs.get(again).settings.timeout_s == 7 * 60
    assert [c.id for c in claim_runs(store, MINUTE, instance="a", host="h", slots=9,
                                     lease=LEASE)] == [again]


def test_runs_ahead_that_came_due_unseen_are_judged_by_the_misfire_policy(store: Store) -> None:
    """The machine sleeps just after the daemon wrote the 01:00 run ahead; on waking the
    daemon takes it back, and the eight-hour gap is judged as if it had not been written."""
    job = add_job(store, "0 * * * *", misfire="latest", misfire_grace="12h")
    materialize_some(store, T0 + timedelta(minutes=59, seconds=58), batches=None,
                     lookahead=AHEAD)
    assert statuses(store, job.id or 0) == ["pending"]
    wake = T0 + timedelta(hours=8, minutes=30)
    assert store.schedule.take_back_ahead(wake, due=True) == {job.id: T0 + timedelta(hours=1)}
    materialize_some(store, wake, batches=None, lookahead=AHEAD)
    assert statuses(store, job.id or 0) == ["missed"] * 7 + ["pending"]
    runs = list(reversed(store.runs.recent(job_id=job.id)))
    assert [r.scheduled_for.hour for r in runs] == list(range(1, 9))


def test_a_run_ahead_is_judged_by_the_overlap_policy_when_it_comes_due(store: Store) -> None:
    skip = add_job(store, "* * * * *")  # overlap skip is the default
    queue = add_job(store, "* * * * *", overlap="queue")
    materialize_due(store, MINUTE)
    assert len(claim_runs(store, MINUTE, instance="a", host="h", slots=9, lease=LEASE)) == 2
    two = MINUTE + timedelta(minutes=1)
    materialize_some(store, two - timedelta(seconds=2), batches=None, lookahead=AHEAD)
    # Written while the first runs were going, as pending: the decision waits for 00:02.
    assert statuses(store, skip.id or 0) == statuses(store, queue.id or 0) == [
        "queued", "pending"]
    assert claim_runs(store, two, instance="a", host="h", slots=9, lease=LEASE) == []
    assert statuses(store, skip.id or 0) == ["queued", "skipped"]
    assert statuses(store, queue.id or 0) == ["queued", "pending"]


def test_the_daemon_takes_back_overdue_runs_only_when_no_other_daemon_was_looking(
    store: Store,
) -> None:
    from night_pilot.daemon import Daemon

    add_job(store, "* * * * *")
    materialize_some(store, MINUTE - timedelta(seconds=2), batches=None, lookahead=AHEAD)
    later = MINUTE + timedelta(minutes=5)
    daemon = Daemon(resolve_db())
    store.daemons.register("other:1:x", "other", 1, "0", "active", later)
    daemon._take_back_ahead(store, later, due=True)
    assert [str(r.status) for r in store.runs.recent()] == ["pending"]  # the other one has it
    store.daemons.stopped("other:1:x", later)
    daemon._take_back_ahead(store, later, due=True)
    assert store.runs.recent() == []
    assert store.jobs.all()[0].next_run_at == MINUTE  # for the misfire policy to judge


def test_the_daemon_owns_sigterm_only_while_it_runs() -> None:
    import signal

    from night_pilot.daemon import Daemon

    daemon = Daemon(resolve_db())
    before = signal.getsignal(signal.SIGTERM)
    with daemon._stopped_by_signals():
        assert signal.getsignal(signal.SIGTERM) is not before
        os.kill(os.getpid(), signal.SIGTERM)
        assert daemon.stopping.wait(5)
    assert signal.getsignal(signal.SIGTERM) is before
    assert signal.set_wakeup_fd(-1) == -1  # no wakeup fd left behind


def test_a_run_written_ahead_does_not_make_a_manual_trigger_skip(store: Store) -> None:
    job = add_job(store, "* * * * *")  # overlap skip
    early = MINUTE - timedelta(seconds=3)
    materialize_some(store, early, batches=None, lookahead=AHEAD)
    manual = trigger_job(store, job.id or 0, early)
    assert manual.status == RunStatus.PENDING  # nothing of the job is going yet
